//! Retry pacing for the consumer loop. Every retry in Prism (this loop, the
//! Elasticsearch sink's start-up, the producer's start-up) uses `backon`'s
//! exponential back-off: steps double from a base up to a cap, and each
//! wait is the step plus a random part of it (`backon`'s jitter, so between
//! one and two steps) to keep restarted workers from retrying in lockstep.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};

/// The one shape of back-off Prism uses: from `base`, doubling, steps capped
/// at `max`, jittered, never giving up by itself.
pub fn exponential(base: Duration, max: Duration) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(base)
        .with_max_delay(max)
        .with_jitter()
        .without_max_times()
}

/// A back-off the loop steps through by hand (it retries between polls,
/// not around one future), with a count of retries since the last success.
#[derive(Debug)]
pub struct Backoff {
    builder: ExponentialBuilder,
    steps: ExponentialBackoff,
    attempts: u32,
    max: Duration,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        let builder = exponential(base, max);
        Self {
            steps: builder.build(),
            builder,
            attempts: 0,
            max,
        }
    }

    /// The wait before the next retry.
    pub fn next_delay(&mut self) -> Duration {
        self.attempts = self.attempts.saturating_add(1);
        self.steps.next().unwrap_or(self.max)
    }

    /// How many retries since the last success.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub fn reset(&mut self) {
        self.steps = self.builder.build();
        self.attempts = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_doubles_up_to_the_cap_with_at_most_one_step_of_jitter() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let first = b.next_delay();
        assert!(first >= Duration::from_millis(100) && first < Duration::from_millis(200));
        for _ in 0..20 {
            assert!(b.next_delay() < Duration::from_secs(4));
        }
        let late = b.next_delay();
        assert!(late >= Duration::from_secs(2), "{late:?}");
        assert_eq!(b.attempts(), 22);
        b.reset();
        assert_eq!(b.attempts(), 0);
        assert!(b.next_delay() < Duration::from_millis(200));
    }
}
