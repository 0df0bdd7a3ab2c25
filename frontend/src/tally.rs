//! How many presses of each colour this browser has delivered.

use std::collections::BTreeMap;

use prism_event::Color;

pub const STORAGE_KEY: &str = "prism.tally.v1";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    counts: BTreeMap<Color, u32>,
}

impl Tally {
    pub fn add(&mut self, color: Color) {
        *self.counts.entry(color).or_default() += 1;
    }

    pub fn get(&self, color: Color) -> u32 {
        self.counts.get(&color).copied().unwrap_or(0)
    }

    pub fn total(&self) -> u32 {
        self.counts.values().sum()
    }

    pub fn load(storage: Option<&web_sys::Storage>) -> Self {
        let saved = storage.and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
        let counts = saved
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default();
        Self { counts }
    }

    pub fn save(&self, storage: Option<&web_sys::Storage>) {
        if let (Some(storage), Ok(json)) = (storage, serde_json::to_string(&self.counts)) {
            let _ = storage.set_item(STORAGE_KEY, &json);
        }
    }
}
