//! `kms-audit scan` findings end to end through the binary: every output format against its
//! golden file, SARIF validated against the SARIF 2.1.0 schema, `--fail-on` exit codes,
//! waivers (live and expired), rule settings from `--config` and `--param`, and the event
//! filters.
//!
//! The golden files in tests/golden/ come from a fixed trail
//! (tests/fixtures/findings/trail/) and fixed rules (tests/fixtures/findings/rules/), so the
//! bundled pack can grow without touching them. After an intended output change, regenerate
//! them with `UPDATE_GOLDEN=1 cargo test --release --test suite scan_findings::` and review the diff.

use std::path::Path;

use crate::common::{assert_golden, repo_root};
use serde_json::Value;

const TRAIL: &str = "tests/fixtures/findings/trail/findings-trail.json";
const RULES: &str = "tests/fixtures/findings/rules";
const WAIVERS: &str = "tests/fixtures/findings/waivers.yml";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `kms-audit scan TRAIL --no-cache --no-bundled-rules --rules RULES` plus `args`, from
/// the crate root so that paths in the output are relative and stable.
fn scan(args: &[&str]) -> Run {
    let output = assert_cmd::cargo::cargo_bin_cmd!("kms-audit")
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .args([
            "scan",
            TRAIL,
            "--no-cache",
            "--no-bundled-rules",
            "--rules",
            RULES,
        ])
        .args(args)
        .output()
        .expect("runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn ok(args: &[&str]) -> String {
    let run = scan(args);
    assert_eq!(
        run.code, 0,
        "args {args:?}\nstdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run.stdout
}

fn json(args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&ok(&all)).expect("JSON output")
}

/// `(rule_id, resource)` of every open finding.
fn open(report: &Value) -> Vec<(String, String)> {
    report["findings"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap_or_default().to_owned(),
                f["resource"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn golden(name: &str, actual: &str) {
    // Evidence names source files by their full path: the checkout's own location is
    // replaced so that the golden files hold in any clone.
    let actual = actual.replace(&format!("{}/", repo_root().display()), "");
    assert_golden(&format!("tests/golden/{name}"), &actual, "scan_findings::");
}

#[test]
fn each_format_matches_its_golden_file() {
    for (format, file) in [
        ("json", "findings.json"),
        ("jsonl", "findings.jsonl"),
        ("csv", "findings.csv"),
        ("sarif", "findings.sarif"),
        ("junit", "findings.junit.xml"),
    ] {
        let out = ok(&["--waivers", WAIVERS, "--format", format]);
        golden(file, &out);
    }
}

#[test]
fn sarif_is_valid_against_the_schema() {
    let schema_path = repo_root().join("tests/fixtures/schemas/sarif-schema-2.1.0.json");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(schema_path).expect("schema")).expect("json");
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    for args in [
        &["--waivers", WAIVERS, "--format", "sarif"][..],
        &["--format", "sarif"][..],
        &["--format", "sarif", "--since", "2030-01-01"][..],
    ] {
        let sarif: Value = serde_json::from_str(&ok(args)).expect("json");
        let errors: Vec<String> = validator
            .iter_errors(&sarif)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{args:?}: {errors:#?}");
        let run = &sarif["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        let lc = rules.iter().find(|r| r["id"] == "TEST.LC.1").expect("rule");
        assert_eq!(lc["defaultConfiguration"]["level"], "error");
        assert!(lc["help"]["text"]
            .as_str()
            .unwrap_or_default()
            .contains("cancel-key-deletion"));
        for result in run["results"].as_array().expect("results") {
            assert!(result["partialFingerprints"]["kmsAuditFindingId/v1"].is_string());
        }
    }
}

#[test]
fn finding_ids_are_stable_across_runs() {
    let ids = |v: &Value| -> Vec<String> {
        v["findings"]["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let first = json(&[]);
    let second = json(&["--max-evidence", "1"]);
    assert_eq!(ids(&first), ids(&second));
    assert!(!ids(&first).is_empty());
}

#[test]
fn table_groups_findings_by_severity_and_shows_waived_ones() {
    let out = ok(&["--waivers", WAIVERS]);
    let critical = out.find("CRITICAL (").expect(&out);
    let high = out.find("HIGH (").expect(&out);
    let medium = out.find("MEDIUM (").expect(&out);
    let low = out.find("LOW (").expect(&out);
    let waived = out.find("WAIVED (1)").expect(&out);
    assert!(
        critical < high && high < medium && medium < low && low < waived,
        "{out}"
    );
    assert!(out.contains("KMS.WAIVER.EXPIRED"), "{out}");
    assert!(out.contains("platform-security@example.com"), "{out}");
}

#[test]
fn fail_on_sets_the_exit_code() {
    // Open findings: critical, high, medium, low.
    assert_eq!(scan(&["--fail-on", "critical"]).code, 1);
    assert_eq!(scan(&["--fail-on", "info"]).code, 1);
    // Only low findings after the filter: below medium passes, low fails.
    let filtered = ["--account", "444455556666", "--since", "2024-05-04"];
    assert_eq!(
        scan(&[&filtered[..], &["--fail-on", "medium"]].concat()).code,
        0
    );
    assert_eq!(
        scan(&[&filtered[..], &["--fail-on", "low"]].concat()).code,
        1
    );
    assert_eq!(scan(&["--fail-on", "HIGH", "--format", "sarif"]).code, 1);
    // Usage and input errors exit 2.
    let bad = scan(&["--fail-on", "severe"]);
    assert_eq!(bad.code, 2, "{}", bad.stderr);
    assert!(bad.stderr.contains("severe"), "{}", bad.stderr);
    assert_eq!(scan(&["--since", "yesterday"]).code, 2);
    assert_eq!(scan(&["--format", "xml"]).code, 2);
    let missing = scan(&["--waivers", "tests/fixtures/findings/no-such-file.yml"]);
    assert_eq!(missing.code, 2);
    assert!(
        missing.stderr.contains("no-such-file.yml"),
        "{}",
        missing.stderr
    );
}

#[test]
fn waivers_waive_live_and_report_expired() {
    let report = json(&["--waivers", WAIVERS]);
    let waived = report["findings"]["waived"].as_array().expect("waived");
    assert_eq!(waived.len(), 1);
    assert_eq!(waived[0]["rule_id"], "TEST.LC.1");
    assert_eq!(
        waived[0]["waiver"]["owner"],
        "platform-security@example.com"
    );
    assert_eq!(waived[0]["waiver"]["expires"], "2999-12-31");
    let open = open(&report);
    assert_eq!(
        open.iter().filter(|(r, _)| r == "TEST.LC.1").count(),
        1,
        "{open:?}"
    );
    // The expired waiver waives nothing and is reported, low.
    assert!(open.iter().any(|(r, _)| r == "TEST.GR.1"), "{open:?}");
    let expired: Vec<&Value> = report["findings"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter(|f| f["rule_id"] == "KMS.WAIVER.EXPIRED")
        .collect();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["severity"], "low");
    assert_eq!(expired[0]["count"], 1);

    // The unwaived deletion still fails --fail-on critical; waiving both passes it.
    assert_eq!(
        scan(&["--waivers", WAIVERS, "--fail-on", "critical"]).code,
        1
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let all = dir.path().join("all.yml");
    std::fs::write(
        &all,
        "- { rule: TEST.LC.1, resource: '*:key/1111aaaa-*', reason: r, owner: o, expires: '2999-01-01' }\n",
    )
    .expect("write");
    let all = all.to_str().expect("utf-8");
    assert_eq!(scan(&["--waivers", all, "--fail-on", "critical"]).code, 0);
    assert_eq!(scan(&["--waivers", all, "--fail-on", "high"]).code, 1);
}

#[test]
fn waiver_parse_errors_name_file_line_and_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("w.yml");
    std::fs::write(
        &file,
        "- rule: TEST.LC.1\n  reason: r\n  owner: o\n  expires: 31/12/2030\n",
    )
    .expect("write");
    let run = scan(&["--waivers", file.to_str().expect("utf-8")]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("w.yml:4:3: [0].expires: `31/12/2030` is not a date"),
        "{}",
        run.stderr
    );
}

#[test]
fn config_and_params_change_the_findings() {
    let base = open(&json(&[]));
    assert!(base.iter().any(|(r, _)| r == "TEST.LP.1"), "{base:?}");
    assert_eq!(base.iter().filter(|(r, _)| r == "TEST.LC.1").count(), 2);

    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("kms-audit.yml");
    std::fs::write(
        &config,
        "rules:\n  TEST.LP.1:\n    enabled: false\n  TEST.LC.1:\n    params:\n      exempt_principals: ['arn:aws:iam::111122223333:user/ops,admin']\n",
    )
    .expect("write");
    let config = config.to_str().expect("utf-8");
    let changed = open(&json(&["--config", config]));
    assert!(
        !changed.iter().any(|(r, _)| r == "TEST.LP.1"),
        "{changed:?}"
    );
    assert!(
        !changed.iter().any(|(r, _)| r == "TEST.LC.1"),
        "{changed:?}"
    );

    // --param comes after --config: an empty list brings the findings back.
    let back = open(&json(&[
        "--config",
        config,
        "--param",
        "TEST.LC.1.exempt_principals=",
    ]));
    assert_eq!(back.iter().filter(|(r, _)| r == "TEST.LC.1").count(), 2);

    // Unknown rules and parameters are usage errors naming them.
    let run = scan(&["--param", "TEST.NOPE.1.x=1"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("TEST.NOPE.1"), "{}", run.stderr);
    let run = scan(&["--param", "TEST.LC.1.max_age_days=180"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("max_age_days"), "{}", run.stderr);
    std::fs::write(
        dir.path().join("bad.yml"),
        "rules:\n  TEST.LC.1:\n    params:\n      nope: 1\n",
    )
    .expect("write");
    let bad = dir.path().join("bad.yml");
    let run = scan(&["--config", bad.to_str().expect("utf-8")]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("bad.yml:4:7"), "{}", run.stderr);
    assert!(run.stderr.contains("nope"), "{}", run.stderr);
}

#[test]
fn filters_change_the_set_of_findings() {
    let all = open(&json(&[]));
    let account = open(&json(&["--account", "444455556666"]));
    assert!(!account.is_empty());
    assert!(account.len() < all.len());
    assert!(
        account.iter().all(|(_, k)| k.contains(":444455556666:")),
        "{account:?}"
    );

    let region = open(&json(&["--region", "us-east-1"]));
    assert!(
        region.iter().all(|(_, k)| k.contains(":us-east-1:")),
        "{region:?}"
    );
    assert!(!region.is_empty());

    let both = open(&json(&["--region", "us-east-1", "--region", "eu-west-1"]));
    assert_eq!(both.len(), all.len());

    // 2024-05-01 only: the two deletions.
    let day = json(&["--since", "2024-05-01", "--until", "2024-05-01"]);
    let rules: Vec<String> = open(&day).into_iter().map(|(r, _)| r).collect();
    assert_eq!(rules, ["TEST.LC.1", "TEST.LC.1"]);
    assert_eq!(day["findings"]["events_evaluated"], 2);
    let later = open(&json(&["--since", "2024-05-02T11:00:30Z"]));
    assert!(!later.iter().any(|(r, _)| r == "TEST.LC.1"), "{later:?}");
}

#[test]
fn bundled_pack_runs_by_default() {
    let output = assert_cmd::cargo::cargo_bin_cmd!("kms-audit")
        .current_dir(repo_root())
        .args(["scan", TRAIL, "--no-cache", "--format", "json"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(0));
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    let rules = report["findings"]["rules"].as_array().expect("rules");
    assert!(rules.iter().any(|r| r["id"] == "KMS.LP.1"));
    // The root Decrypt calls fire the bundled root-use rule.
    assert!(open(&report).iter().any(|(r, _)| r == "KMS.LP.1"));
    let _ = Path::new(TRAIL);
}
