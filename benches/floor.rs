//! The crypto floor of a run beside its CPU time:
//!
//! ```sh
//! cargo bench --bench floor -- scenarios/bench/bench-small.toml [--decrypt needed]
//! ```
//!
//! Measures the unit cost of each public-key operation on this machine (Ed25519 sign and
//! verify, HPKE seal and open, X25519 key derivation), simulates every mode of the scenario
//! on this thread, and prints per mode the operations the run counted, the floor (each count
//! times its unit cost: what the run must spend whatever the simulator does around it) and the
//! run's CPU time, and then the analysis' CPU time. Symmetric cryptography (AEAD, hashing,
//! key schedules) is left out of the floor: it is small beside these.

use std::path::PathBuf;
use std::time::Instant;

use mimimi_sim::crypto::ops::CryptoOps;
use mimimi_sim::crypto::{hpke_open, hpke_seal_seeded, signature_keys_from_seed, HpkeKeys};
use mimimi_sim::output::{self, ModeResult};
use mimimi_sim::scenario;
use mimimi_sim::world::{Decrypt, World};
use openmls_rust_crypto::RustCrypto;
use openmls_traits::crypto::OpenMlsCrypto;
use openmls_traits::signatures::Signer;
use openmls_traits::types::SignatureScheme;

/// This process's CPU time (user and system) in seconds, from /proc (Linux); wall time where
/// /proc is missing.
fn cpu_seconds(wall: Instant) -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces), 1-based: utime 14, stime 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    match (fields.get(11), fields.get(12)) {
        (Some(u), Some(s)) => {
            let ticks: f64 = u.parse::<f64>().unwrap_or(0.0) + s.parse::<f64>().unwrap_or(0.0);
            ticks / 100.0
        }
        _ => wall.elapsed().as_secs_f64(),
    }
}

/// Mean seconds per call of `f` over `n` calls.
fn unit(n: u32, mut f: impl FnMut()) -> f64 {
    f();
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed().as_secs_f64() / f64::from(n)
}

/// Unit costs in seconds, in the order of [`ops`].
fn unit_costs() -> [f64; 5] {
    let signer = signature_keys_from_seed([7; 32]);
    let payload = vec![0x5a; 256];
    let signature = signer.sign(&payload).expect("signs");
    let crypto = RustCrypto::default();
    let keys = HpkeKeys::derive(&[9; 32]).expect("derives");
    let sealed = hpke_seal_seeded([3; 32], &keys.public, b"info", b"", &payload).expect("seals");
    let n = 400;
    [
        unit(n, || {
            signer.sign(&payload).expect("signs");
        }),
        unit(n, || {
            crypto
                .verify_signature(
                    SignatureScheme::ED25519,
                    &payload,
                    signer.public(),
                    &signature,
                )
                .expect("verifies");
        }),
        unit(n, || {
            hpke_seal_seeded([3; 32], &keys.public, b"info", b"", &payload).expect("seals");
        }),
        unit(n, || {
            hpke_open(&sealed, &keys.private, b"info", b"").expect("opens");
        }),
        unit(n, || {
            HpkeKeys::derive(&[9; 32]).expect("derives");
        }),
    ]
}

/// The counts of `o`, named, in the order of [`unit_costs`].
fn ops(o: &CryptoOps) -> [(&'static str, u64); 5] {
    [
        ("Ed25519 sign", o.signatures),
        ("Ed25519 verify", o.verifications),
        ("HPKE seal", o.hpke_seals),
        ("HPKE open", o.hpke_opens),
        ("X25519 key derivation", o.hpke_key_derivations),
    ]
}

fn main() {
    let mut path = PathBuf::from("scenarios/bench/bench-small.toml");
    let mut decrypt = Decrypt::All;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--bench" => {}
            "--decrypt" => {
                decrypt = match args.next().as_deref() {
                    Some("needed") => Decrypt::Needed,
                    Some("all") => Decrypt::All,
                    other => panic!("--decrypt all|needed, got {other:?}"),
                }
            }
            other => path = PathBuf::from(other),
        }
    }
    let s = scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let units = unit_costs();
    println!("unit costs on this machine:");
    for ((name, _), u) in ops(&CryptoOps::default()).iter().zip(units) {
        println!("  {name:<22} {:>8.1} us", u * 1e6);
    }
    let wall = Instant::now();
    let mut results = vec![];
    for mode in &s.modes {
        let before = cpu_seconds(wall);
        let out = World::new(&s, mode, s.seed, 0)
            .decrypting(decrypt)
            .run(|_| {})
            .expect("the scenario runs");
        let cpu = cpu_seconds(wall) - before;
        let counts = ops(&out.stats.crypto);
        let floor: f64 = counts
            .iter()
            .zip(units)
            .map(|((_, n), u)| *n as f64 * u)
            .sum();
        println!(
            "{} mode {}: {} MLS operations; run {cpu:.1} s CPU, crypto floor {floor:.1} s ({:.2}x the floor)",
            path.display(),
            mode.name,
            out.stats.mls_operations,
            cpu / floor.max(1e-9)
        );
        for ((name, n), u) in counts.iter().zip(units) {
            println!(
                "  {name:<22} {n:>10} x {:>6.1} us = {:>7.2} s",
                u * 1e6,
                *n as f64 * u
            );
        }
        results.push(ModeResult::new(mode, out));
    }
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let run = tmp.path().join("run");
    output::write_files(&run, &output::run_files(&s, s.seed, 0, &results)).expect("written");
    let before = cpu_seconds(wall);
    output::write_reports(&run).expect("analysed");
    println!(
        "analysis and reports: {:.1} s CPU",
        cpu_seconds(wall) - before
    );
}
