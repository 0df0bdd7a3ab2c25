use leptos::prelude::*;
use prism_event::Color;

use crate::i18n::Lang;

/// The seven rainbow buttons. Pressing one sends at once; they are disabled
/// until the name is acceptable.
#[component]
pub fn ColorPicker(
    lang: Lang,
    #[prop(into)] enabled: Signal<bool>,
    selected: RwSignal<Option<Color>>,
    on_press: Callback<Color>,
) -> impl IntoView {
    view! {
        <p class="hint" id="pick-color">{lang.pick_color()}</p>
        <div class="colors" role="group" aria-labelledby="pick-color">
            {Color::ALL
                .into_iter()
                .map(|color| {
                    view! {
                        <button
                            type="button"
                            class="color"
                            data-testid=format!("color-{}", color.as_str())
                            aria-pressed=move || if selected.get() == Some(color) { "true" } else { "false" }
                            disabled=move || !enabled.get()
                            on:click=move |_| on_press.run(color)
                        >
                            <span class="swatch" aria-hidden="true" style:background=super::swatch(color)></span>
                            {lang.color_name(color)}
                        </button>
                    }
                })
                .collect_view()}
        </div>
    }
}
