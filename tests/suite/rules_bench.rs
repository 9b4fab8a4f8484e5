//! Rule evaluation over a real lake: timing (ignored by default) and the checks that the
//! shortcuts taken for speed change no result.
//!
//! ```sh
//! gen-trail --out /tmp/trail --events 500000
//! kms-audit ingest /tmp/trail --lake /tmp/lake
//! KMS_AUDIT_BENCH_LAKE=/tmp/lake cargo test --release --test suite rules_bench:: -- --ignored --nocapture
//! ```
//!
//! The shortcuts: the views' loader folds away the cryptographic calls the views do not need
//! one by one (`rules::views::events::load`, compared with `load_all`), and window rules
//! select from one shared, time-sorted read of the lake (compared with each rule evaluated
//! alone, which reads the lake itself).

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::common::repo_root;
use kms_audit::ingest::lake::Lake;
use kms_audit::ingest::{ingest, IngestOptions, Silent};
use kms_audit::rules::model::{Kind, Rule};
use kms_audit::rules::views::inventory::Inventory;
use kms_audit::rules::views::{events, View, Views};
use kms_audit::rules::{evaluate, load_bundled, load_paths, scan_parts, EvalOptions};
use kms_audit::trail::discover::discover;

/// Ingests `input` (a file or directory) into a lake under `dir`; returns its part files.
fn lake_of(input: &Path, dir: &Path) -> Vec<PathBuf> {
    let discovery = discover(&[input.to_path_buf()]).expect("discover");
    let mut lake = Lake::open(&dir.join("lake")).expect("lake");
    ingest(&discovery, &mut lake, &IngestOptions::default(), &Silent).expect("ingest");
    lake.part_paths()
}

/// Asserts that the views built by `Views::build` (folded loader) are those built from every
/// KMS event, evidence included; returns how many events each path loaded.
fn assert_folded_views_are_full_views(
    parts: &[PathBuf],
    inventory: Option<&Inventory>,
) -> (usize, usize) {
    let scan = || scan_parts(parts).expect("scan");
    let (all, as_of) = events::load_all(scan()).expect("load all");
    let (folded, folded_as_of) = events::load(scan(), inventory).expect("load");
    assert_eq!(as_of, folded_as_of);
    let full = Views::from_events(&all, as_of, inventory);
    let fast = Views::build(scan(), inventory).expect("views");
    assert_eq!(full.as_of, fast.as_of);
    for view in View::ALL {
        let (a, b) = (full.table(view), fast.table(view));
        assert_eq!(a.rows.len(), b.rows.len(), "view {view}: rows");
        for (row, (x, y)) in a.rows.iter().zip(&b.rows).enumerate() {
            assert_eq!(x, y, "view {view}, row {row}");
            for key in &x.evidence {
                assert_eq!(
                    full.evidence.get(key),
                    fast.evidence.get(key),
                    "view {view}: evidence {key}"
                );
            }
        }
    }
    (all.len(), folded.len())
}

/// Asserts that evaluating `rules` together gives each window rule, and the match rules, the
/// findings and matches they give alone (reading the lake themselves).
fn assert_window_rules_alone_agree(rules: &[&Rule], parts: &[PathBuf]) {
    let options = EvalOptions::default();
    let together = evaluate(rules, scan_parts(parts).expect("scan"), &options).expect("evaluate");
    for rule in rules
        .iter()
        .filter(|r| matches!(r.kind, Kind::Threshold | Kind::Baseline | Kind::Correlation))
    {
        let alone = evaluate(&[*rule], scan_parts(parts).expect("scan"), &options).expect("alone");
        let mine = |outcome: &kms_audit::rules::eval::MatchOutcome| {
            let findings: Vec<_> = outcome
                .findings
                .iter()
                .filter(|f| f.rule_id == rule.id)
                .cloned()
                .collect();
            let matched: Vec<_> = outcome
                .matched
                .iter()
                .filter(|(id, _)| *id == rule.id)
                .cloned()
                .collect();
            (findings, matched)
        };
        assert_eq!(mine(&together), mine(&alone), "rule {}", rule.id);
    }
    // The match rules alone read the lake themselves.
    let matching: Vec<&Rule> = rules
        .iter()
        .copied()
        .filter(|r| r.kind == Kind::Match)
        .collect();
    let alone = evaluate(&matching, scan_parts(parts).expect("scan"), &options).expect("alone");
    let ids: Vec<&str> = matching.iter().map(|r| r.id.as_str()).collect();
    let of_match = |outcome: &kms_audit::rules::eval::MatchOutcome| {
        let findings: Vec<_> = outcome
            .findings
            .iter()
            .filter(|f| ids.contains(&f.rule_id.as_str()))
            .cloned()
            .collect();
        let matched: Vec<_> = outcome
            .matched
            .iter()
            .filter(|(id, _)| ids.contains(&id.as_str()))
            .cloned()
            .collect();
        (findings, matched)
    };
    assert_eq!(of_match(&together), of_match(&alone), "match rules");
}

#[test]
fn the_shortcuts_change_no_result_on_the_sample_trail() {
    let sample = repo_root().join("sample-logs");
    if !sample.exists() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let parts = lake_of(&sample, dir.path());
    let (all, folded) = assert_folded_views_are_full_views(&parts, None);
    assert!(
        folded < all,
        "the sample trail has calls to fold ({folded} of {all} kept)"
    );
    let pack = load_bundled();
    let rules: Vec<&Rule> = pack.rules.iter().collect();
    assert_window_rules_alone_agree(&rules, &parts);
}

#[test]
fn folded_views_are_full_views_with_an_inventory() {
    let fixtures = repo_root().join("tests/fixtures/inventory");
    let dir = tempfile::tempdir().expect("tempdir");
    let parts = lake_of(&fixtures.join("trail.json"), dir.path());
    let inventory = Inventory::read(&fixtures.join("inventory.json")).expect("inventory");
    assert_folded_views_are_full_views(&parts, Some(&inventory));
}

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

#[test]
#[ignore = "needs a lake: set KMS_AUDIT_BENCH_LAKE"]
fn the_shortcuts_change_no_result_over_a_lake() {
    let Some(dir) = std::env::var_os("KMS_AUDIT_BENCH_LAKE") else {
        eprintln!("KMS_AUDIT_BENCH_LAKE is not set");
        return;
    };
    let parts = Lake::open(Path::new(&dir)).expect("lake").part_paths();
    let (all, folded) = assert_folded_views_are_full_views(&parts, None);
    eprintln!("views: the same from {folded} events as from all {all}");
    let pack = load_bundled();
    let rules: Vec<&Rule> = pack.rules.iter().collect();
    assert_window_rules_alone_agree(&rules, &parts);
}
