use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A favourite colour: the seven colours of the rainbow, 빨주노초파남보.
///
/// A closed set, so an enum: anything else is rejected at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Color {
    Red,
    Orange,
    Yellow,
    Green,
    Blue,
    Indigo,
    Violet,
}

impl Color {
    /// Every colour, in rainbow order.
    pub const ALL: [Color; 7] = [
        Color::Red,
        Color::Orange,
        Color::Yellow,
        Color::Green,
        Color::Blue,
        Color::Indigo,
        Color::Violet,
    ];

    /// The wire name, as it appears in JSON, topics and indices.
    pub fn as_str(self) -> &'static str {
        match self {
            Color::Red => "red",
            Color::Orange => "orange",
            Color::Yellow => "yellow",
            Color::Green => "green",
            Color::Blue => "blue",
            Color::Indigo => "indigo",
            Color::Violet => "violet",
        }
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names none of the seven colours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownColor(pub String);

impl fmt::Display for UnknownColor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown colour `{}`", self.0)
    }
}

impl std::error::Error for UnknownColor {}

impl FromStr for Color {
    type Err = UnknownColor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Color::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownColor(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_colour_round_trips_through_its_wire_name() {
        for color in Color::ALL {
            let json = serde_json::to_string(&color).unwrap();
            assert_eq!(json, format!("\"{}\"", color.as_str()));
            assert_eq!(serde_json::from_str::<Color>(&json).unwrap(), color);
            assert_eq!(color.as_str().parse::<Color>().unwrap(), color);
        }
    }

    #[test]
    fn it_rejects_a_colour_outside_the_rainbow() {
        assert!(serde_json::from_str::<Color>("\"pink\"").is_err());
        assert!(serde_json::from_str::<Color>("\"Red\"").is_err());
        assert_eq!("pink".parse::<Color>(), Err(UnknownColor("pink".into())));
    }
}
