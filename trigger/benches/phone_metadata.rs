//! What a new instance pays for the phone metadata, in one process:
//! decoding it (what `bootstrap` does before its first `next`), then the
//! first number of each region, which compiles that region's patterns, and
//! the same number again, with nothing left to compile.
//! Run: `cargo bench -p pumpguard-trigger --bench phone_metadata`.
//!
//! Each figure can only be taken once per process (the metadata and the
//! patterns are kept once built), so the bench runs itself `RUNS` times as
//! child processes and prints the median and the worst of each.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use pumpguard_engine::phone;

const RUNS: usize = 15;

/// One number per region: allowed, blocked, Caribbean, crown dependency.
const NUMBERS: [&str; 8] = [
    "+14155552671",
    "+447911123456",
    "+4915123456789",
    "+33612345678",
    "+353861234567",
    "+18762101234",
    "+2348031234567",
    "+447624123456",
];

fn one_run() -> Vec<Duration> {
    let t = Instant::now();
    phone::warm_up();
    let mut out = vec![t.elapsed()];
    for n in NUMBERS {
        let t = Instant::now();
        let first = phone::classify(n).unwrap();
        out.push(t.elapsed());
        let t = Instant::now();
        let again = phone::classify(n).unwrap();
        out.push(t.elapsed());
        assert_eq!(first, again);
    }
    out
}

fn main() {
    if std::env::var_os("PUMPGUARD_METADATA_CHILD").is_some() {
        let line: Vec<String> = one_run().iter().map(|d| d.as_nanos().to_string()).collect();
        println!("{}", line.join(" "));
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let runs: Vec<Vec<u128>> = (0..RUNS)
        .map(|_| {
            let o = Command::new(&exe)
                .env("PUMPGUARD_METADATA_CHILD", "1")
                .output()
                .unwrap();
            assert!(o.status.success());
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(|x| x.parse().unwrap())
                .collect()
        })
        .collect();
    let stat = |i: usize| {
        let mut v: Vec<u128> = runs.iter().map(|r| r[i]).collect();
        v.sort_unstable();
        let ms = |ns: u128| ns as f64 / 1e6;
        format!(
            "{:>8.3} ms median {:>8.3} ms worst",
            ms(v[v.len() / 2]),
            ms(v[v.len() - 1])
        )
    };
    println!(
        "phone metadata {} ({}), {RUNS} processes",
        phone::METADATA_VERSION,
        phone::PHONE_LIBRARY
    );
    println!("  decode the metadata            {}", stat(0));
    for (k, n) in NUMBERS.iter().enumerate() {
        let region = phone::classify(n)
            .ok()
            .and_then(|i| i.country)
            .map_or_else(|| "--".to_string(), |c| c.to_string());
        println!("  first number of {region}, compiles {}", stat(1 + 2 * k));
        println!("  the same number again          {}", stat(2 + 2 * k));
    }
}
