//! The budget of request-body bytes held in memory: all clients together,
//! and each client's share of it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::limit::{ClientKey, lock};

/// Bytes of request bodies held in memory, across all requests, and how
/// much of that one client may hold.
pub struct BodyBudget {
    limit: usize,
    per_client: usize,
    held: AtomicUsize,
    by_client: Mutex<HashMap<ClientKey, usize>>,
}

/// Bytes taken from a [`BodyBudget`] for one body, given back on drop.
pub struct Held {
    budget: Arc<BodyBudget>,
    client: Option<ClientKey>,
    bytes: usize,
}

/// Why a body could not grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overdrawn {
    /// Every client's bodies together fill the budget.
    Full,
    /// This client's bodies fill its share.
    ClientShare,
}

impl BodyBudget {
    /// At most `limit` bytes in all, `per_client` of them for one client.
    pub fn new(limit: usize, per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            per_client,
            held: AtomicUsize::new(0),
            by_client: Mutex::default(),
        })
    }

    /// An empty holding for a body of `client`, to grow as it arrives.
    pub fn start(self: &Arc<Self>, client: Option<ClientKey>) -> Held {
        Held {
            budget: self.clone(),
            client,
            bytes: 0,
        }
    }

    pub fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

impl Held {
    /// Takes `bytes` more, or nothing when the budget or the client's
    /// share cannot hold them.
    pub fn grow(&mut self, bytes: usize) -> Result<(), Overdrawn> {
        let before = self.budget.held.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > self.budget.limit {
            self.budget.held.fetch_sub(bytes, Ordering::Relaxed);
            return Err(Overdrawn::Full);
        }
        if let Some(client) = self.client {
            let mut by_client = lock(&self.budget.by_client);
            let mine = by_client.entry(client).or_default();
            if *mine + bytes > self.budget.per_client {
                if *mine == 0 {
                    by_client.remove(&client);
                }
                self.budget.held.fetch_sub(bytes, Ordering::Relaxed);
                return Err(Overdrawn::ClientShare);
            }
            *mine += bytes;
        }
        self.bytes += bytes;
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.bytes, Ordering::Relaxed);
        if let Some(client) = self.client
            && self.bytes > 0
        {
            let mut by_client = lock(&self.budget.by_client);
            if let Some(mine) = by_client.get_mut(&client) {
                *mine -= self.bytes.min(*mine);
                if *mine == 0 {
                    by_client.remove(&client);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> Option<ClientKey> {
        Some(ClientKey::of(s.parse().unwrap()))
    }

    #[test]
    fn the_body_budget_is_shared_and_given_back() {
        let budget = BodyBudget::new(100, 100);
        let mut a = budget.start(None);
        let mut b = budget.start(None);
        assert_eq!(a.grow(60), Ok(()));
        assert_eq!(b.grow(50), Err(Overdrawn::Full));
        assert_eq!(b.grow(40), Ok(()));
        assert_eq!(budget.held(), 100);
        drop(a);
        assert_eq!(b.grow(50), Ok(()));
        drop(b);
        assert_eq!(budget.held(), 0);
    }

    #[test]
    fn one_client_holds_at_most_its_share_of_the_body_budget() {
        let budget = BodyBudget::new(100, 30);
        let (flood, user) = (key("203.0.113.9"), key("198.51.100.1"));
        let mut first = budget.start(flood);
        let mut second = budget.start(flood);
        assert_eq!(first.grow(20), Ok(()));
        assert_eq!(second.grow(20), Err(Overdrawn::ClientShare));
        assert_eq!(second.grow(10), Ok(()));
        let mut other = budget.start(user);
        assert_eq!(other.grow(30), Ok(()));
        drop(first);
        assert_eq!(second.grow(20), Ok(()));
        drop((second, other));
        assert_eq!(budget.held(), 0);
        assert!(lock(&budget.by_client).is_empty());
    }
}
