//! The event ids this server accepted recently, so that a retry of an event
//! already in Kafka (the page did not see the 202: a dropped response, a
//! reload mid-flight) is acknowledged without being produced again.
//!
//! Bounded twice: at most `entries` ids, none older than `max_age`. Under a
//! heavy load the window shrinks to the last `entries` ids; at the page's own
//! pace it covers `max_age`. Each server knows only what it accepted itself.
//!
//! No client holds more than its share of the ids: beyond it, its own
//! oldest ids are forgotten first, so one client sending many ids cannot
//! push out everyone else's.
//!
//! Sharded by the id's random low bits, so concurrent requests rarely share
//! a lock; the bounds are kept per shard.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::limit::ClientKey;

const SHARDS: usize = 16;

pub struct RecentIds {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    per_client_per_shard: usize,
    max_age: Duration,
}

#[derive(Default)]
struct Shard {
    accepted: HashMap<Uuid, Instant>,
    /// Insertion order, oldest first, for eviction.
    order: VecDeque<(Instant, Uuid, Option<ClientKey>)>,
    /// Each client's entries of `order`, oldest first.
    by_client: HashMap<ClientKey, VecDeque<(Instant, Uuid)>>,
}

impl RecentIds {
    /// Remembers up to `entries` ids for `max_age` each, at most
    /// `per_client` of them from one client; `entries == 0` remembers
    /// nothing.
    pub fn new(entries: usize, per_client: usize, max_age: Duration) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: entries.div_ceil(SHARDS),
            per_client_per_shard: per_client.div_ceil(SHARDS).max(1),
            max_age,
        }
    }

    /// Whether `id` was accepted less than `max_age` before `now`.
    pub fn contains(&self, id: &Uuid, now: Instant) -> bool {
        self.shard(id)
            .accepted
            .get(id)
            .is_some_and(|at| now.saturating_duration_since(*at) < self.max_age)
    }

    /// Remembers `id` as accepted from `client` at `now`, forgetting the
    /// oldest ids beyond the bounds: the client's own first when it is over
    /// its share.
    pub fn insert(&self, id: Uuid, client: Option<ClientKey>, now: Instant) {
        if self.per_shard == 0 {
            return;
        }
        let mut guard = self.shard(&id);
        let shard = &mut *guard;
        shard.accepted.insert(id, now);
        shard.order.push_back((now, id, client));
        if let Some(client) = client {
            let own = shard.by_client.entry(client).or_default();
            own.push_back((now, id));
            while own.len() > self.per_client_per_shard {
                if let Some((at, oldest)) = own.pop_front() {
                    forget(&mut shard.accepted, oldest, at);
                }
            }
        }
        while let Some(&(at, oldest, owner)) = shard.order.front() {
            let live = shard.accepted.get(&oldest) == Some(&at);
            let expired = now.saturating_duration_since(at) >= self.max_age;
            if live && shard.accepted.len() <= self.per_shard && !expired {
                break;
            }
            shard.order.pop_front();
            forget(&mut shard.accepted, oldest, at);
            // The client's list is in the same order: this entry is its
            // first unless the client's bound took it already.
            if let Some(owner) = owner
                && let Some(own) = shard.by_client.get_mut(&owner)
            {
                if own.front() == Some(&(at, oldest)) {
                    own.pop_front();
                }
                if own.is_empty() {
                    shard.by_client.remove(&owner);
                }
            }
        }
        // Entries a client's bound forgot stay in `order` behind live ones;
        // sweep them once they are as many as the live ones.
        if shard.order.len() > 2 * self.per_shard {
            let Shard {
                accepted, order, ..
            } = shard;
            order.retain(|(at, id, _)| accepted.get(id) == Some(at));
        }
    }

    /// Ids remembered now.
    pub fn len(&self) -> usize {
        (0..SHARDS)
            .map(|i| lock(&self.shards[i]).accepted.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shard(&self, id: &Uuid) -> MutexGuard<'_, Shard> {
        // UUIDv7 keeps its random bits at the end; any id spreads well enough.
        lock(&self.shards[(id.as_u128() as usize) % SHARDS])
    }
}

/// Forgets `id` unless it was accepted again since `at` (a later entry
/// follows).
fn forget(accepted: &mut HashMap<Uuid, Instant>, id: Uuid, at: Instant) {
    if accepted.get(&id) == Some(&at) {
        accepted.remove(&id);
    }
}

fn lock(m: &Mutex<Shard>) -> MutexGuard<'_, Shard> {
    // A panic mid-insert leaves at worst an id remembered twice.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[test]
    fn an_accepted_id_is_known_until_it_is_too_old() {
        let recent = RecentIds::new(1_000, 1_000, Duration::from_secs(600));
        let t0 = Instant::now();
        assert!(!recent.contains(&id(16), t0));
        recent.insert(id(16), None, t0);
        assert!(recent.contains(&id(16), t0 + Duration::from_secs(599)));
        assert!(!recent.contains(&id(16), t0 + Duration::from_secs(600)));
        // A later insert into the same shard sweeps it out.
        recent.insert(id(32), None, t0 + Duration::from_secs(601));
        assert_eq!(recent.len(), 1);
    }

    #[test]
    fn the_oldest_ids_go_first_beyond_the_bound() {
        let recent = RecentIds::new(16 * 10, 16 * 10, Duration::from_secs(600));
        let t0 = Instant::now();
        // 20 ids in one shard (multiples of 16): the first 10 are forgotten.
        for n in 0..20 {
            recent.insert(id(n * 16), None, t0 + Duration::from_millis(n as u64));
        }
        let now = t0 + Duration::from_secs(1);
        assert!((0..10).all(|n| !recent.contains(&id(n * 16), now)));
        assert!((10..20).all(|n| recent.contains(&id(n * 16), now)));
        assert_eq!(recent.len(), 10);
    }

    #[test]
    fn an_id_accepted_again_is_kept_from_its_last_acceptance() {
        let recent = RecentIds::new(16 * 10, 16 * 10, Duration::from_secs(10));
        let t0 = Instant::now();
        recent.insert(id(16), None, t0);
        recent.insert(id(16), None, t0 + Duration::from_secs(8));
        // The first entry expires; the second still counts.
        recent.insert(id(32), None, t0 + Duration::from_secs(11));
        assert!(recent.contains(&id(16), t0 + Duration::from_secs(12)));
    }

    #[test]
    fn one_client_cannot_push_out_anothers_ids() {
        let recent = RecentIds::new(16 * 100, 16 * 10, Duration::from_secs(600));
        let t0 = Instant::now();
        let (browser, flood) = (client("192.0.2.1"), client("198.51.100.7"));
        recent.insert(id(16), browser, t0);
        // 50 ids of one shard from the flooding client: only its last 10
        // stay, and the browser's id is still known.
        for n in 1..=50 {
            recent.insert(id(16 * (100 + n)), flood, t0);
        }
        assert!(recent.contains(&id(16), t0));
        assert!((1..=40).all(|n| !recent.contains(&id(16 * (100 + n)), t0)));
        assert!((41..=50).all(|n| recent.contains(&id(16 * (100 + n)), t0)));
        assert_eq!(recent.len(), 11);
    }

    fn client(s: &str) -> Option<ClientKey> {
        Some(ClientKey::of(s.parse().unwrap()))
    }

    #[test]
    fn no_entries_remembers_nothing() {
        let recent = RecentIds::new(0, 0, Duration::from_secs(600));
        recent.insert(id(1), None, Instant::now());
        assert!(!recent.contains(&id(1), Instant::now()));
        assert!(recent.is_empty());
    }
}
