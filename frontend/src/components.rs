//! The page's parts, one file each.

mod color_picker;
mod name_field;
mod status_line;
mod tally_view;

pub use color_picker::ColorPicker;
pub use name_field::NameField;
pub use status_line::StatusLine;
pub use tally_view::TallyView;

use prism_event::Color;

/// The CSS colour of a colour's swatch.
pub fn swatch(color: Color) -> &'static str {
    match color {
        Color::Red => "#e53935",
        Color::Orange => "#fb8c00",
        Color::Yellow => "#fdd835",
        Color::Green => "#43a047",
        Color::Blue => "#1e88e5",
        Color::Indigo => "#3949ab",
        Color::Violet => "#8e24aa",
    }
}
