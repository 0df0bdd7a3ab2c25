//! Prism's page: a person types a name and presses a favourite colour; the
//! event, with what the browser reports about itself, goes to
//! `prism-server`. Leptos, client-side rendered, built by Trunk.

pub mod api;
pub mod browser;
pub mod components;
pub mod i18n;
pub mod lock;
pub mod outbox;
pub mod sender;
pub mod status;
pub mod tally;

use leptos::prelude::*;
use prism_event::{Color, validate_name};

use crate::components::{ColorPicker, NameField, StatusLine, TallyView};
use crate::i18n::Lang;
use crate::sender::Sender;

#[component]
pub fn App() -> impl IntoView {
    let lang = Lang::detect(&browser::language());
    let name = RwSignal::new(String::new());
    let selected = RwSignal::new(None::<Color>);
    let sender = Sender::restore();

    sender.send_queued();
    let online = window_event_listener(leptos::ev::online, move |_| sender.retry_now());
    let storage = window_event_listener(leptos::ev::storage, move |e| {
        sender.on_storage(e.key(), e.new_value())
    });
    on_cleanup(move || {
        online.remove();
        storage.remove();
    });

    let valid = Signal::derive(move || validate_name(&name.get()).is_ok());
    let on_press = Callback::new(move |color: Color| {
        selected.set(Some(color));
        sender.press(&name.get_untracked(), color);
    });

    view! {
        <main lang=lang.code()>
            <h1>{lang.title()}</h1>
            <NameField name lang />
            <ColorPicker lang enabled=valid selected on_press />
            <StatusLine lang status=sender.status dropped=sender.dropped />
            <TallyView lang tally=sender.tally />
        </main>
    }
}
