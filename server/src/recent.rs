//! The event ids this server accepted recently, so that a retry of an event
//! already in Kafka (the page did not see the 202: a dropped response, a
//! reload mid-flight) is acknowledged without being produced again.
//!
//! Bounded twice: at most `entries` ids, none older than `max_age`. Under a
//! heavy load the window shrinks to the last `entries` ids; at the page's own
//! pace it covers `max_age`. Each server knows only what it accepted itself.
//!
//! Sharded by the id's random low bits, so concurrent requests rarely share
//! a lock.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use uuid::Uuid;

const SHARDS: usize = 16;

pub struct RecentIds {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
    max_age: Duration,
}

#[derive(Default)]
struct Shard {
    accepted: HashMap<Uuid, Instant>,
    /// Insertion order, oldest first, for eviction.
    order: VecDeque<(Instant, Uuid)>,
}

impl RecentIds {
    /// Remembers up to `entries` ids for `max_age` each; `entries == 0`
    /// remembers nothing.
    pub fn new(entries: usize, max_age: Duration) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            per_shard: entries.div_ceil(SHARDS),
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

    /// Remembers `id` as accepted at `now`, forgetting the oldest ids beyond
    /// the bounds.
    pub fn insert(&self, id: Uuid, now: Instant) {
        if self.per_shard == 0 {
            return;
        }
        let mut shard = self.shard(&id);
        shard.accepted.insert(id, now);
        shard.order.push_back((now, id));
        while let Some(&(at, oldest)) = shard.order.front() {
            let expired = now.saturating_duration_since(at) >= self.max_age;
            if shard.order.len() <= self.per_shard && !expired {
                break;
            }
            shard.order.pop_front();
            // Only if not accepted again since (a later entry follows).
            if shard.accepted.get(&oldest) == Some(&at) {
                shard.accepted.remove(&oldest);
            }
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
        let recent = RecentIds::new(1_000, Duration::from_secs(600));
        let t0 = Instant::now();
        assert!(!recent.contains(&id(16), t0));
        recent.insert(id(16), t0);
        assert!(recent.contains(&id(16), t0 + Duration::from_secs(599)));
        assert!(!recent.contains(&id(16), t0 + Duration::from_secs(600)));
        // A later insert into the same shard sweeps it out.
        recent.insert(id(32), t0 + Duration::from_secs(601));
        assert_eq!(recent.len(), 1);
    }

    #[test]
    fn the_oldest_ids_go_first_beyond_the_bound() {
        let recent = RecentIds::new(16 * 10, Duration::from_secs(600));
        let t0 = Instant::now();
        // 20 ids in one shard (multiples of 16): the first 10 are forgotten.
        for n in 0..20 {
            recent.insert(id(n * 16), t0 + Duration::from_millis(n as u64));
        }
        let now = t0 + Duration::from_secs(1);
        assert!((0..10).all(|n| !recent.contains(&id(n * 16), now)));
        assert!((10..20).all(|n| recent.contains(&id(n * 16), now)));
        assert_eq!(recent.len(), 10);
    }

    #[test]
    fn an_id_accepted_again_is_kept_from_its_last_acceptance() {
        let recent = RecentIds::new(16 * 10, Duration::from_secs(10));
        let t0 = Instant::now();
        recent.insert(id(16), t0);
        recent.insert(id(16), t0 + Duration::from_secs(8));
        // The first entry expires; the second still counts.
        recent.insert(id(32), t0 + Duration::from_secs(11));
        assert!(recent.contains(&id(16), t0 + Duration::from_secs(12)));
    }

    #[test]
    fn no_entries_remembers_nothing() {
        let recent = RecentIds::new(0, Duration::from_secs(600));
        recent.insert(id(1), Instant::now());
        assert!(!recent.contains(&id(1), Instant::now()));
        assert!(recent.is_empty());
    }
}
