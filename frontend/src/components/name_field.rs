use leptos::prelude::*;
use prism_event::validate_name;

use crate::i18n::Lang;

/// The name input with its label and an inline message once the person has
/// typed (or left the field) and the name is not acceptable.
#[component]
pub fn NameField(name: RwSignal<String>, lang: Lang) -> impl IntoView {
    let touched = RwSignal::new(false);
    let error = Memo::new(move |_| validate_name(&name.get()).err());
    let message = move || {
        error
            .get()
            .filter(|_| touched.get())
            .map(|e| lang.name_error(e))
            .unwrap_or_default()
    };
    view! {
        <label for="name">{lang.name_label()}</label>
        <input
            type="text"
            id="name"
            data-testid="name"
            autocomplete="name"
            placeholder=lang.name_placeholder()
            aria-describedby="name-message"
            aria-invalid=move || if touched.get() && error.get().is_some() { "true" } else { "false" }
            prop:value=move || name.get()
            on:input=move |ev| {
                touched.set(true);
                name.set(event_target_value(&ev));
            }
            on:blur=move |_| touched.set(true)
        />
        <p class="field-message" id="name-message" data-testid="name-message">
            {message}
        </p>
    }
}
