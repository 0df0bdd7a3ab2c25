//! One flusher across the browser's tabs.
//!
//! The Web Locks API (`navigator.locks`) grants a named lock to one tab at
//! a time, queues the others' requests, and releases it when its holder's
//! task ends or the tab goes away. Where it is missing (older browsers, and
//! pages served over plain HTTP from another host: it needs a secure
//! context), a lease in `localStorage` stands in: written with an expiry,
//! renewed while held, taken over once expired. A holder checks the lease
//! is still its own before every request and stops once it is not, so two
//! tabs overlap by at most the one request the old holder had in flight;
//! the producer answers a repeat of an `event_id` it has already put in
//! Kafka without a second record (a repeat that arrives while the first is
//! still being produced can make one).

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use js_sys::{Function, Reflect};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::{future_to_promise, spawn_local};

use crate::browser;

const NAME: &str = "prism.outbox";
pub const LEASE_KEY: &str = "prism.outbox.lease";
/// Longer than a request's timeout, so a lease held through one never
/// expires under its holder.
const LEASE: Duration = Duration::from_secs(15);

/// Proof that this tab is the flusher; keep it fresh while working.
pub struct Held {
    /// This tab's lease token, when held through the fallback.
    lease: Option<String>,
}

impl Held {
    /// Renews the fallback lease (nothing to do under a Web Lock); false
    /// once another tab has taken it over (this tab's timers were held back
    /// past its expiry), and this tab must stop sending.
    pub fn keep(&self) -> bool {
        let (Some(token), Some(storage)) = (&self.lease, browser::storage()) else {
            return true;
        };
        if lease_holder(&storage).as_deref() != Some(token.as_str()) {
            return false;
        }
        write_lease(token);
        true
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let (Some(token), Some(storage)) = (&self.lease, browser::storage())
            && lease_holder(&storage).as_deref() == Some(token.as_str())
        {
            let _ = storage.remove_item(LEASE_KEY);
        }
    }
}

/// Runs `task` once this tab holds the browser-wide flush lock, waiting
/// behind any other tab that holds it.
pub fn exclusive<F, T>(task: T)
where
    T: FnOnce(Held) -> F + 'static,
    F: Future<Output = ()> + 'static,
{
    // Shared with the lock's callback, so a refused request can still run
    // the task under the fallback.
    let task = Rc::new(RefCell::new(Some(task)));
    if let Some((locks, request)) = web_lock_request() {
        let granted = Rc::clone(&task);
        let callback = Closure::once_into_js(move |_lock: JsValue| {
            let task = granted.borrow_mut().take();
            future_to_promise(async move {
                if let Some(task) = task {
                    task(Held { lease: None }).await;
                }
                Ok(JsValue::UNDEFINED)
            })
        });
        match request.call2(&locks, &JsValue::from_str(NAME), &callback) {
            // Refusals mostly come as a rejected promise (a sandboxed frame,
            // a document no longer active): the lease takes over then.
            Ok(promise) => {
                let refused = Rc::clone(&task);
                let on_refusal = Closure::once_into_js(move |e: JsValue| {
                    web_sys::console::warn_2(&"Web Locks refused; using a lease".into(), &e);
                    under_lease(&refused);
                });
                let catch = Reflect::get(&promise, &JsValue::from_str("catch"))
                    .ok()
                    .and_then(|f| f.dyn_into::<Function>().ok());
                if let Some(catch) = catch {
                    let _ = catch.call1(&promise, &on_refusal);
                }
                return;
            }
            Err(e) => web_sys::console::warn_2(&"Web Locks refused; using a lease".into(), &e),
        }
    }
    under_lease(&task);
}

/// Runs the task, unless the lock already ran it, under the fallback lease.
fn under_lease<F, T>(task: &RefCell<Option<T>>)
where
    T: FnOnce(Held) -> F + 'static,
    F: Future<Output = ()> + 'static,
{
    let task = task.borrow_mut().take();
    if let Some(task) = task {
        spawn_local(async move { task(lease().await).await });
    }
}

/// `navigator.locks` and its `request` method, where the browser has them.
fn web_lock_request() -> Option<(JsValue, Function)> {
    let navigator: JsValue = web_sys::window()?.navigator().into();
    let locks = Reflect::get(&navigator, &JsValue::from_str("locks")).ok()?;
    if locks.is_undefined() || locks.is_null() {
        return None;
    }
    let request = Reflect::get(&locks, &JsValue::from_str("request"))
        .ok()?
        .dyn_into::<Function>()
        .ok()?;
    Some((locks, request))
}

/// Takes the fallback lease, waiting while another tab's is fresh (what
/// [`exclusive`] does where Web Locks are missing).
pub async fn lease() -> Held {
    let Some(storage) = browser::storage() else {
        // Nothing is shared with other tabs: this tab is alone.
        return Held { lease: None };
    };
    let token = uuid::Uuid::now_v7().to_string();
    loop {
        let free = match storage.get_item(LEASE_KEY).ok().flatten() {
            None => true,
            Some(lease) => expiry(&lease).is_none_or(|until| until < now_ms()),
        };
        if free {
            write_lease(&token);
            // Another tab may have written in the same moment: the last
            // write wins, and both read it back after a pause.
            gloo_timers::future::sleep(Duration::from_millis(50)).await;
            if lease_holder(&storage).as_deref() == Some(token.as_str()) {
                return Held { lease: Some(token) };
            }
        }
        gloo_timers::future::sleep(LEASE / 3).await;
    }
}

fn write_lease(token: &str) {
    if let Some(storage) = browser::storage() {
        let until = now_ms() + LEASE.as_millis() as u64;
        let _ = storage.set_item(LEASE_KEY, &format!("{token} {until}"));
    }
}

fn lease_holder(storage: &web_sys::Storage) -> Option<String> {
    let lease = storage.get_item(LEASE_KEY).ok().flatten()?;
    lease.split(' ').next().map(str::to_owned)
}

/// When a lease expires, in milliseconds since the epoch (integers: float
/// formatting would cost the page kilobytes).
fn expiry(lease: &str) -> Option<u64> {
    lease.split(' ').nth(1)?.parse().ok()
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
