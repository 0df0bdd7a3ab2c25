//! Memory of the recently-accepted-ids set at its bound: inserts N random
//! ids (default 100 000, the `PRISM_DEDUPE_ENTRIES` default) and prints the
//! growth of the process's resident set.
//!
//! `cargo run --profile release-native -p prism-server --example recent_memory -- [N]`

use std::time::{Duration, Instant};

use prism_server::limit::ClientKey;
use prism_server::recent::RecentIds;

fn rss_kb() -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .ok_or("no VmRSS in /proc/self/status")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .ok_or("no VmRSS value")?
        .parse()?)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 100_000,
    };
    let before = rss_kb()?;
    // Each client's share as by default (5 %); ids from 1 000 clients.
    let recent = RecentIds::new(n, n / 20, Duration::from_secs(600));
    let now = Instant::now();
    // Twice the bound, so every shard is full and evicting.
    for i in 0..2 * n {
        let client =
            ClientKey::of(std::net::Ipv4Addr::from(0x0a00_0000 + (i % 1_000) as u32).into());
        recent.insert(uuid::Uuid::now_v7(), Some(client), now);
    }
    let after = rss_kb()?;
    println!(
        "entries={} rss_growth_kb={} bytes_per_entry={:.0}",
        recent.len(),
        after - before,
        (after - before) as f64 * 1024.0 / recent.len() as f64
    );
    Ok(())
}
