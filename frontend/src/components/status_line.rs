use leptos::prelude::*;

use crate::i18n::Lang;
use crate::status::Status;

/// What happened to the last press, announced politely to screen readers,
/// plus a note when the retry queue had to drop old clicks.
#[component]
pub fn StatusLine(
    lang: Lang,
    #[prop(into)] status: Signal<Status>,
    #[prop(into)] dropped: Signal<usize>,
) -> impl IntoView {
    view! {
        <p class=move || status.with(Status::class) role="status" aria-live="polite" data-testid="status">
            {move || status.with(|s| lang.status(s))}
        </p>
        <Show when=move || { dropped.get() > 0 }>
            <p class="note" data-testid="dropped-note">{move || lang.dropped_note(dropped.get())}</p>
        </Show>
    }
}
