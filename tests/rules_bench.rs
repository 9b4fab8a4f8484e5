//! Timing of the one-pass match evaluation over a real lake (ignored by default):
//!
//! ```sh
//! gen-trail --out /tmp/trail --events 500000
//! kms-audit ingest /tmp/trail --lake /tmp/lake
//! KMS_AUDIT_BENCH_LAKE=/tmp/lake cargo test --release --test rules_bench -- --ignored --nocapture
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use kms_audit::ingest::lake::Lake;
use kms_audit::rules::model::Rule;
use kms_audit::rules::{evaluate, load_bundled, load_paths, scan_parts, EvalOptions};

#[test]
#[ignore = "needs a lake: set KMS_AUDIT_BENCH_LAKE"]
fn one_pass_over_a_lake() {
    let Some(dir) = std::env::var_os("KMS_AUDIT_BENCH_LAKE") else {
        eprintln!("KMS_AUDIT_BENCH_LAKE is not set");
        return;
    };
    let lake = Lake::open(Path::new(&dir)).expect("lake");
    let parts: Vec<PathBuf> = lake.part_paths();
    let pack = load_bundled();
    let sigma = load_paths(&[Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sigma")]);
    let rules: Vec<&Rule> = pack.rules.iter().chain(sigma.rules.iter()).collect();
    for (label, set) in [
        ("bundled pack", &rules[..pack.rules.len()]),
        ("pack + Sigma fixtures", &rules[..]),
    ] {
        let start = Instant::now();
        let outcome = evaluate(
            set,
            scan_parts(&parts).expect("scan"),
            &EvalOptions::default(),
        )
        .expect("evaluate");
        let matched: u64 = outcome.matched.iter().map(|(_, n)| n).sum();
        eprintln!(
            "{label}: {} rules, {} findings, {matched} matching events in {:.2?}",
            set.len(),
            outcome.findings.len(),
            start.elapsed()
        );
    }
}
