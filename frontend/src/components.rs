//! The page's parts, one file each.

mod color_picker;
mod name_field;
mod status_line;
mod tally_view;

pub use color_picker::ColorPicker;
pub use name_field::NameField;
pub use status_line::StatusLine;
pub use tally_view::TallyView;
