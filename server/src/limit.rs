//! What one client may take of the server: events per second (a token
//! bucket, so a batch weighs its events), a share of the producer queue, and
//! open connections. A client is an address: the TCP peer, or the proxy's
//! `X-Forwarded-For` entry when that is trusted; IPv6 clients are their /64,
//! the smallest block one host is given.
//!
//! Every table here is bounded: buckets live in a cache of at most
//! `clients` entries (a forgotten client starts with a full bucket), and a
//! connection count exists only while the client has a connection open.
//! (The bytes of bodies a client holds are counted in [`crate::body`].)

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// The key a client is counted under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ClientKey(IpAddr);

impl ClientKey {
    pub fn of(address: IpAddr) -> Self {
        Self(match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => {
                    let s = v6.segments();
                    IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
                }
            },
            v4 => v4,
        })
    }
}

/// The per-client rules; a zero turns that rule off.
#[derive(Debug, Clone, Copy)]
pub struct ClientLimits {
    /// Events a client may send per second, sustained.
    pub events_per_s: f64,
    /// Events a client may send at once (the bucket's size).
    pub burst: f64,
    /// Events of one client waiting for Kafka's acknowledgement, at most.
    pub max_in_flight: usize,
}

/// Why a client's request is refused for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over its rate: retry after this many seconds.
    Rate { retry_after_s: u32 },
    /// Over its share of the producer queue.
    QueueShare,
}

pub struct ClientLimiter {
    limits: ClientLimits,
    clients: quick_cache::sync::Cache<ClientKey, Arc<ClientState>>,
}

struct ClientState {
    bucket: Mutex<Bucket>,
    in_flight: AtomicUsize,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Events admitted for one client, waiting for Kafka; dropping it gives
/// them back to the client's share.
pub struct Admitted {
    state: Option<Arc<ClientState>>,
    events: usize,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        if let Some(state) = &self.state {
            state.in_flight.fetch_sub(self.events, Ordering::Relaxed);
        }
    }
}

impl ClientLimiter {
    /// Remembers at most `clients` clients.
    pub fn new(limits: ClientLimits, clients: usize) -> Self {
        Self {
            limits,
            clients: quick_cache::sync::Cache::new(clients.max(1)),
        }
    }

    /// Whether the client has room for at least one event now, without
    /// taking it: lets a request be refused before its body is read.
    pub fn has_room(&self, client: Option<ClientKey>, now: Instant) -> Result<(), Refusal> {
        let Some(state) = self.state(client) else {
            return Ok(());
        };
        if self.limits.events_per_s > 0.0 {
            let bucket = lock(&state.bucket);
            let tokens = self.refilled(&bucket, now);
            if tokens < 1.0 {
                return Err(self.rate_refusal(1.0 - tokens));
            }
        }
        if self.limits.max_in_flight > 0
            && state.in_flight.load(Ordering::Relaxed) >= self.limits.max_in_flight
        {
            return Err(Refusal::QueueShare);
        }
        Ok(())
    }

    /// Takes `events` from the client's bucket and share, or refuses them
    /// all: a batch is admitted whole or not at all.
    pub fn admit(
        &self,
        client: Option<ClientKey>,
        events: usize,
        now: Instant,
    ) -> Result<Admitted, Refusal> {
        let Some(state) = self.state(client) else {
            return Ok(Admitted {
                state: None,
                events,
            });
        };
        if self.limits.max_in_flight > 0 {
            let before = state.in_flight.fetch_add(events, Ordering::Relaxed);
            if before + events > self.limits.max_in_flight {
                state.in_flight.fetch_sub(events, Ordering::Relaxed);
                return Err(Refusal::QueueShare);
            }
        }
        let admitted = Admitted {
            state: Some(state.clone()),
            events: if self.limits.max_in_flight > 0 {
                events
            } else {
                0
            },
        };
        if self.limits.events_per_s > 0.0 {
            let mut bucket = lock(&state.bucket);
            let tokens = self.refilled(&bucket, now);
            let wanted = events as f64;
            if tokens < wanted {
                // Keep what has refilled; take nothing.
                *bucket = Bucket { tokens, at: now };
                return Err(self.rate_refusal(wanted - tokens));
            }
            *bucket = Bucket {
                tokens: tokens - wanted,
                at: now,
            };
        }
        Ok(admitted)
    }

    fn state(&self, client: Option<ClientKey>) -> Option<Arc<ClientState>> {
        let off = self.limits.events_per_s <= 0.0 && self.limits.max_in_flight == 0;
        let client = client.filter(|_| !off)?;
        let burst = self.limits.burst;
        self.clients
            .get_or_insert_with(&client, || {
                Ok::<_, std::convert::Infallible>(Arc::new(ClientState {
                    bucket: Mutex::new(Bucket {
                        tokens: burst,
                        at: Instant::now(),
                    }),
                    in_flight: AtomicUsize::new(0),
                }))
            })
            .ok()
    }

    fn refilled(&self, bucket: &Bucket, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        (bucket.tokens + elapsed * self.limits.events_per_s).min(self.limits.burst)
    }

    fn rate_refusal(&self, missing: f64) -> Refusal {
        let wait = (missing / self.limits.events_per_s).ceil().max(1.0);
        Refusal::Rate {
            retry_after_s: wait.min(f64::from(u32::MAX)) as u32,
        }
    }
}

/// Open connections per client, counted from accept to close.
pub struct ConnectionCounts {
    per_client: usize,
    open: Mutex<HashMap<ClientKey, usize>>,
}

/// One open connection, counted while it lives (kept in the connection's
/// data); `over` when the client already had its share open.
pub struct ConnectionSlot {
    counts: Arc<ConnectionCounts>,
    client: ClientKey,
    pub over: bool,
}

impl ConnectionCounts {
    /// At most `per_client` connections per client; 0 counts nothing.
    pub fn new(per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            per_client,
            open: Mutex::default(),
        })
    }

    /// Counts a new connection from `peer`.
    pub fn open(self: &Arc<Self>, peer: IpAddr) -> Option<ConnectionSlot> {
        if self.per_client == 0 {
            return None;
        }
        let client = ClientKey::of(peer);
        let mut open = lock(&self.open);
        let n = open.entry(client).or_default();
        *n += 1;
        Some(ConnectionSlot {
            counts: self.clone(),
            client,
            over: *n > self.per_client,
        })
    }

    /// Connections open now, all clients.
    pub fn total(&self) -> usize {
        lock(&self.open).values().sum()
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut open = lock(&self.counts.open);
        if let Some(n) = open.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.client);
            }
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its value whole.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn key(s: &str) -> Option<ClientKey> {
        Some(ClientKey::of(s.parse().unwrap()))
    }

    fn limiter(events_per_s: f64, burst: f64, max_in_flight: usize) -> ClientLimiter {
        ClientLimiter::new(
            ClientLimits {
                events_per_s,
                burst,
                max_in_flight,
            },
            100,
        )
    }

    #[test]
    fn a_batch_weighs_its_events_and_the_bucket_refills_at_the_rate() {
        let limiter = limiter(10.0, 100.0, 0);
        let t0 = Instant::now();
        let a = key("192.0.2.1");
        assert!(limiter.admit(a, 100, t0).is_ok());
        // Empty: 30 events are 3 s away.
        assert_eq!(
            limiter.admit(a, 30, t0).err(),
            Some(Refusal::Rate { retry_after_s: 3 })
        );
        assert!(limiter.has_room(a, t0).is_err());
        // 2 s later 20 have come back: 20 pass, the 21st does not.
        let t2 = t0 + Duration::from_secs(2);
        assert!(limiter.admit(a, 20, t2).is_ok());
        assert!(limiter.admit(a, 1, t2).is_err());
        // Another client is not affected.
        assert!(limiter.admit(key("192.0.2.2"), 100, t2).is_ok());
    }

    #[test]
    fn a_refused_batch_takes_nothing() {
        let limiter = limiter(1.0, 10.0, 0);
        let t0 = Instant::now();
        let a = key("192.0.2.1");
        assert!(limiter.admit(a, 11, t0).is_err());
        assert!(limiter.admit(a, 10, t0).is_ok());
    }

    #[test]
    fn a_client_holds_at_most_its_share_of_the_queue() {
        let limiter = limiter(0.0, 0.0, 10);
        let t0 = Instant::now();
        let a = key("192.0.2.1");
        let first = limiter.admit(a, 8, t0).unwrap();
        assert_eq!(limiter.admit(a, 3, t0).err(), Some(Refusal::QueueShare));
        let second = limiter.admit(a, 2, t0).unwrap();
        assert_eq!(limiter.has_room(a, t0), Err(Refusal::QueueShare));
        drop(first);
        assert!(limiter.admit(a, 8, t0).is_ok());
        drop(second);
    }

    #[test]
    fn ipv6_clients_are_their_slash_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(key("2001:db8:1:2:aaaa::1"), key("2001:db8:1:2:bbbb::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
        assert_eq!(key("::ffff:192.0.2.1"), key("192.0.2.1"));
    }

    #[test]
    fn rules_set_to_zero_are_off() {
        let limiter = limiter(0.0, 0.0, 0);
        let a = key("192.0.2.1");
        for _ in 0..1_000 {
            assert!(limiter.admit(a, 500, Instant::now()).is_ok());
        }
    }

    #[test]
    fn connections_over_a_clients_share_are_marked_and_counted_until_closed() {
        let counts = ConnectionCounts::new(2);
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        let a = counts.open(peer).unwrap();
        let b = counts.open(peer).unwrap();
        let c = counts.open(peer).unwrap();
        assert!(!a.over && !b.over && c.over);
        assert!(!counts.open("192.0.2.2".parse().unwrap()).unwrap().over);
        drop(c);
        drop(b);
        assert!(!counts.open(peer).unwrap().over);
        drop(a);
        assert_eq!(counts.total(), 0);
    }
}
