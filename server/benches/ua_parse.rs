//! User-agent parse cost: uncached (every rule tried) and cached (a hit).
//! Run with `cargo bench -p prism-server --bench ua_parse` (the README's
//! benchmark script does). Prints µs per parse; not a pass/fail test.

use std::hint::black_box;
use std::time::Instant;

use prism_server::ua::UaParser;

const AGENTS: &[&str] = &[
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; SM-S918N) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.6723.102 Mobile Safari/537.36",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "curl/8.5.0",
    "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
];

fn per_call_us(iterations: usize, mut f: impl FnMut(usize)) -> f64 {
    let started = Instant::now();
    for i in 0..iterations {
        f(i);
    }
    started.elapsed().as_secs_f64() * 1e6 / iterations as f64
}

fn main() {
    let started = Instant::now();
    let parser = UaParser::new(AGENTS.len() * 2).expect("uap-core rules compile");
    println!(
        "rules compiled in {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    let rounds = 2_000;
    let n = rounds * AGENTS.len();
    // Warm up once so the first-touch cost of the regex engines is excluded.
    for ua in AGENTS {
        black_box(parser.parse_uncached(ua));
    }
    let uncached = per_call_us(n, |i| {
        black_box(parser.parse_uncached(AGENTS[i % AGENTS.len()]));
    });
    let cached = per_call_us(n * 10, |i| {
        black_box(parser.parse(AGENTS[i % AGENTS.len()]));
    });
    println!(
        "ua_parse uncached: {uncached:.2} us/parse over {n} parses of {} agents",
        AGENTS.len()
    );
    println!("ua_parse cached:   {cached:.3} us/parse (cache hit)");
}
