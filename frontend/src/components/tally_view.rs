use leptos::prelude::*;
use prism_event::Color;

use crate::i18n::Lang;
use crate::tally::Tally;

/// How many presses of each colour this browser delivered.
#[component]
pub fn TallyView(lang: Lang, #[prop(into)] tally: Signal<Tally>) -> impl IntoView {
    view! {
        <section class="tally" data-testid="tally">
            <h2>{lang.tally_title()} " (" {move || tally.with(Tally::total)} ")"</h2>
            <ul>
                {Color::ALL
                    .into_iter()
                    .map(|color| {
                        view! {
                            <li data-testid=format!("tally-{}", color.as_str())>
                                <span class="swatch" aria-hidden="true" style:background=super::swatch(color)></span>
                                {lang.color_name(color)} " " {move || tally.with(|t| t.get(color))}
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        </section>
    }
}
