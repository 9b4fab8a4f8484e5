//! `kms-audit report` end to end through the binary: every format against its golden file,
//! each of the five statuses, threshold and log-coverage enforcement (with the bundled PCI
//! DSS and FedRAMP catalogs too), gaps and missing events making evidence insufficient, the
//! comparison with the previous report, incremental ingestion with `--lake`, and the
//! example reports in reports/ being current.
//!
//! The golden files in tests/golden/report/ come from a fixed trail
//! (tests/fixtures/report/trail/), fixed rules (tests/fixtures/report/rules/) and a fixed
//! catalog (tests/fixtures/report/catalog.yml), with the report date fixed by
//! KMS_AUDIT_REPORT_DATE, so the bundled pack can change without touching them. After an
//! intended output change, regenerate them with
//! `UPDATE_GOLDEN=1 cargo test --release --locked --test suite report::` and review the diff. The
//! example reports in reports/ (from sample-logs/) are refreshed with
//! `UPDATE_REPORTS=1 cargo test --release --locked --test suite report::example_reports`.

use std::path::Path;

use crate::common::{assert_golden, repo_root};
use serde_json::Value;

const TRAIL: &str = "tests/fixtures/report/trail";
const EXTRA: &str = "tests/fixtures/report/trail-extra";
const RULES: &str = "tests/fixtures/report/rules";
const CATALOG: &str = "tests/fixtures/report/catalog.yml";
const WAIVERS: &str = "tests/fixtures/report/waivers.yml";
const FRAMEWORK: &str = "acme-key-standard";
const DATE: &str = "2024-05-10";

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `kms-audit report` with `args` from the crate root (so paths in the output are
/// relative), the report date fixed to `date`.
fn run(date: &str, args: &[&str]) -> Run {
    let output = assert_cmd::cargo::cargo_bin_cmd!("kms-audit")
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .env("KMS_AUDIT_REPORT_DATE", date)
        .arg("report")
        .args(args)
        .output()
        .expect("runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn ok(date: &str, args: &[&str]) -> Run {
    let result = run(date, args);
    assert_eq!(
        result.code, 0,
        "args {args:?}\nstdout:\n{}\nstderr:\n{}",
        result.stdout, result.stderr
    );
    result
}

/// The fixture catalog and rules, then `args`.
fn fixture_args<'a>(out: &'a str, args: &[&'a str]) -> Vec<&'a str> {
    let mut all = vec![
        "--framework",
        FRAMEWORK,
        "--catalog",
        CATALOG,
        "--no-bundled-rules",
        "--rules",
        RULES,
        "--out",
        out,
    ];
    all.extend_from_slice(args);
    all
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("JSON report")
}

/// The fixture report of `date` under `out`, after running with `args`.
fn fixture_report(out: &Path, date: &str, args: &[&str]) -> Value {
    let shown = out.display().to_string();
    ok(date, &fixture_args(&shown, args));
    read_json(&out.join(FRAMEWORK).join(format!("{date}.json")))
}

fn requirement<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["requirements"]
        .as_array()
        .expect("requirements")
        .iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("requirement {id}"))
}

fn status(report: &Value, id: &str) -> String {
    requirement(report, id)["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn reason(report: &Value, id: &str) -> String {
    requirement(report, id)["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn golden(name: &str, actual: &str) {
    assert_golden(&format!("tests/golden/report/{name}"), actual, "report::");
}

#[test]
fn each_format_matches_its_golden_file() {
    let out = tempfile::tempdir().expect("tempdir");
    let shown = out.path().display().to_string();
    let result = ok(
        DATE,
        &fixture_args(
            &shown,
            &["--waivers", WAIVERS, TRAIL, "--format", "md,json,csv"],
        ),
    );
    for ext in ["md", "json", "csv"] {
        let path = out.path().join(FRAMEWORK).join(format!("{DATE}.{ext}"));
        let text = std::fs::read_to_string(&path).expect("report written");
        assert!(
            !text.contains(&repo_root().display().to_string()),
            "{ext}: the checkout's path leaks into the report"
        );
        golden(&format!("{FRAMEWORK}.{ext}"), &text);
        assert!(
            result.stdout.contains(&format!("{DATE}.{ext}")),
            "{}",
            result.stdout
        );
    }
    assert!(
        result.stdout.contains("acme-key-standard: score 50.0 %"),
        "{}",
        result.stdout
    );
}

#[test]
fn every_status_is_reached_with_its_reason() {
    let out = tempfile::tempdir().expect("tempdir");
    let report = fixture_report(out.path(), DATE, &["--waivers", WAIVERS, TRAIL]);
    // An open finding.
    assert_eq!(status(&report, "K.1"), "not-satisfied");
    assert!(reason(&report, "K.1").contains("1 open finding (1 high) of TEST.REP.1"));
    // Its only finding is waived: satisfied, and the waived finding is listed.
    assert_eq!(status(&report, "K.2"), "satisfied");
    assert_eq!(
        requirement(&report, "K.2")["waived_findings"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert!(reason(&report, "K.2").contains("1 finding accepted by waivers"));
    // Rules that evaluated and found nothing, thresholds met.
    assert_eq!(status(&report, "K.3"), "satisfied");
    assert!(reason(&report, "K.3").contains("TEST.REP.4 `max_age_days` is 365 (≤ 365 required)"));
    assert_eq!(status(&report, "K.4"), "satisfied");
    // The only rule reads digests, and there are none.
    assert_eq!(status(&report, "L.2"), "insufficient-evidence");
    assert!(reason(&report, "L.2").contains(
        "none of its rules could evaluate: TEST.REP.7 (no CloudTrail digest files were read)"
    ));
    assert_eq!(requirement(&report, "L.2")["rules"][0]["evaluated"], false);
    // Straight from the catalog.
    assert_eq!(status(&report, "K.5"), "manual");
    assert_eq!(
        reason(&report, "K.5"),
        "Examine the signed acknowledgements."
    );
    assert_eq!(status(&report, "L.3"), "not-applicable");
    assert_eq!(reason(&report, "L.3"), "No HSM of our own.");
    // Nothing omitted, and the score counts satisfied over satisfied + not-satisfied +
    // insufficient-evidence: 3 / (3 + 2 + 1).
    assert_eq!(report["requirements"].as_array().map(Vec::len), Some(8));
    assert_eq!(report["summary"]["score"], 50.0);
    assert_eq!(report["summary"]["requirements"]["total"], 8);
    // The expired waiver waives nothing and says so.
    let waivers = report["waivers"].as_array().expect("waivers");
    assert_eq!(waivers.len(), 2);
    assert_eq!(waivers[1]["expired"], true);
    assert_eq!(waivers[1]["owner"], "carol@example.com");
}

#[test]
fn a_looser_setting_or_short_logs_force_not_satisfied() {
    let out = tempfile::tempdir().expect("tempdir");
    let report = fixture_report(
        out.path(),
        DATE,
        &[TRAIL, "--param", "TEST.REP.4.max_age_days=400"],
    );
    assert_eq!(status(&report, "K.3"), "not-satisfied");
    assert!(
        reason(&report, "K.3").contains(
            "TEST.REP.4 `max_age_days` is set to 400, looser than the framework's ≤ 365 (The one-year cryptoperiod.)"
        ),
        "{}",
        reason(&report, "K.3")
    );
    let violated = &requirement(&report, "K.3")["thresholds_violated"][0];
    assert_eq!(violated["value"], 400);
    assert_eq!(violated["met"], false);
    // Five days of logs where 30 are needed.
    assert_eq!(status(&report, "L.1"), "not-satisfied");
    assert!(reason(&report, "L.1").contains(
        "The logs read cover 5 days (2024-05-01 to 2024-05-05); the framework needs ≥ 30 days."
    ));
    // A tighter setting is fine.
    let report = fixture_report(
        out.path(),
        DATE,
        &[TRAIL, "--param", "TEST.REP.4.max_age_days=90"],
    );
    assert_eq!(status(&report, "K.3"), "satisfied");
}

#[test]
fn bundled_catalogs_enforce_the_cryptoperiod_and_log_retention() {
    let out = tempfile::tempdir().expect("tempdir");
    let shown = out.path().display().to_string();
    let args = |extra: &[&'static str]| -> Vec<String> {
        let mut all: Vec<String> = [
            "--framework",
            "pci-dss-4.0.1",
            "--framework",
            "fedramp-rev5-moderate",
            "--format",
            "json",
            "--out",
            &shown,
            TRAIL,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        all.extend(extra.iter().map(|s| (*s).to_owned()));
        all
    };
    let read =
        |framework: &str| read_json(&out.path().join(framework).join(format!("{DATE}.json")));
    let plain = args(&[]);
    ok(DATE, &plain.iter().map(String::as_str).collect::<Vec<_>>());
    let pci = read("pci-dss-4.0.1");
    assert_eq!(
        status(&pci, "3.7.4"),
        "satisfied",
        "{}",
        reason(&pci, "3.7.4")
    );
    // Logs covering 5 days: PCI DSS 10.5.1 wants 365, FedRAMP AU-11 wants 90.
    assert_eq!(status(&pci, "10.5.1"), "not-satisfied");
    assert!(reason(&pci, "10.5.1").contains("the framework needs ≥ 365 days"));
    let fedramp = read("fedramp-rev5-moderate");
    assert_eq!(status(&fedramp, "au-11"), "not-satisfied");
    assert!(reason(&fedramp, "au-11").contains("the framework needs ≥ 90 days"));

    let loose = args(&["--param", "KMS.ROT.1.max_age_days=400"]);
    ok(DATE, &loose.iter().map(String::as_str).collect::<Vec<_>>());
    let pci = read("pci-dss-4.0.1");
    assert_eq!(status(&pci, "3.7.4"), "not-satisfied");
    assert!(
        reason(&pci, "3.7.4")
            .contains("KMS.ROT.1 `max_age_days` is set to 400, looser than the framework's ≤ 365"),
        "{}",
        reason(&pci, "3.7.4")
    );
    assert_eq!(status(&pci, "3.7.5"), "not-satisfied");
    let thresholds = pci["scope"]["thresholds"].as_array().expect("thresholds");
    assert!(thresholds
        .iter()
        .any(|t| t["rule"] == "KMS.ROT.1" && t["value"] == 400 && t["met"] == false));
}

/// Hourly KMS events from 2026-01-01 for `days` days, except during `hole` (day offsets,
/// start inclusive, end exclusive).
fn hourly_trail(days: u32, hole: std::ops::Range<u32>) -> String {
    let mut records = Vec::new();
    for day in 0..days {
        if hole.contains(&day) {
            continue;
        }
        for hour in 0..24 {
            let n = day * 24 + hour;
            let date = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("date")
                + chrono::Days::new(u64::from(day));
            records.push(serde_json::json!({
                "eventVersion": "1.08",
                "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/App/s1"},
                "eventTime": format!("{}T{hour:02}:10:00Z", date.format("%Y-%m-%d")),
                "eventSource": "kms.amazonaws.com",
                "eventName": "Decrypt",
                "awsRegion": "us-east-1",
                "eventID": format!("9a900000-0000-4000-8000-{n:012}"),
                "recipientAccountId": "111122223333",
                "resources": [{"type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-east-1:111122223333:key/k1"}]
            }));
        }
    }
    serde_json::json!({ "Records": records }).to_string()
}

#[test]
fn a_gap_in_the_logs_makes_evidence_insufficient_unless_waived() {
    let logs = tempfile::tempdir().expect("tempdir");
    let trail = logs.path().join("gap.json");
    std::fs::write(&trail, hourly_trail(8, 3..5)).expect("write");
    let trail = trail.display().to_string();
    let out = tempfile::tempdir().expect("tempdir");
    let report = fixture_report(out.path(), "2026-01-10", &[&trail]);
    let gaps = report["log_coverage"]["gaps"].as_array().expect("gaps");
    assert_eq!(gaps.len(), 1, "{gaps:#?}");
    assert_eq!(gaps[0]["account"], "111122223333");
    assert_eq!(gaps[0]["hours"], 49);
    // The gap rule's own requirement fails; the others cannot be shown.
    assert_eq!(status(&report, "L.1"), "not-satisfied");
    for id in ["K.1", "K.2", "K.3", "K.4"] {
        assert_eq!(status(&report, id), "insufficient-evidence", "{id}");
        assert!(
            reason(&report, id).contains("a gap in the logs, 111122223333/us-east-1@2026-01-03T23:10:00Z (TEST.REP.6 finding"),
            "{id}: {}",
            reason(&report, id)
        );
    }
    // Someone vouches for the quiet period: no longer a gap.
    let waivers = logs.path().join("waivers.yml");
    std::fs::write(
        &waivers,
        "- rule: TEST.REP.6\n  reason: Maintenance window (CHG-9).\n  owner: ops@example.com\n  expires: 2030-01-01\n",
    )
    .expect("write");
    let waivers = waivers.display().to_string();
    let report = fixture_report(out.path(), "2026-01-10", &[&trail, "--waivers", &waivers]);
    assert_eq!(
        status(&report, "K.4"),
        "satisfied",
        "{}",
        reason(&report, "K.4")
    );
    assert_eq!(report["log_coverage"]["gaps"][0]["waived"], true);
}

#[test]
fn baseline_rules_with_too_little_history_are_not_counted_as_evaluated() {
    let logs = tempfile::tempdir().expect("tempdir");
    let trail = logs.path().join("short.json");
    std::fs::write(&trail, hourly_trail(3, 0..0)).expect("write");
    let trail = trail.display().to_string();
    let out = tempfile::tempdir().expect("tempdir");
    let shown = out.path().display().to_string();
    ok(
        "2026-01-04",
        &["--framework", "pci-dss-4.0.1", "--out", &shown, &trail],
    );
    let report = read_json(&out.path().join("pci-dss-4.0.1/2026-01-04.json"));
    let rules = requirement(&report, "10.4.1")["rules"]
        .as_array()
        .expect("rules")
        .clone();
    let rule = |id: &str| {
        rules
            .iter()
            .find(|r| r["id"] == id)
            .unwrap_or_else(|| panic!("{id} in 10.4.1: {rules:#?}"))
            .clone()
    };
    // Three days of logs: a baseline learning for a week cannot have fired.
    let spike = rule("KMS.UU.1");
    assert_eq!(spike["evaluated"], false, "{spike:#?}");
    let why = spike["not_evaluated_reason"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("a baseline needs ") && why.contains("the logs span 3 days"),
        "{why}"
    );
    // A match rule over the same events did evaluate.
    assert_eq!(rule("KMS.LP.1")["evaluated"], true);
}

#[test]
fn no_events_in_the_window_is_insufficient_evidence() {
    let out = tempfile::tempdir().expect("tempdir");
    let report = fixture_report(out.path(), DATE, &[TRAIL, "--since", "2024-06-01"]);
    for id in ["K.1", "K.2", "K.3", "K.4"] {
        assert_eq!(status(&report, id), "insufficient-evidence", "{id}");
        assert!(
            reason(&report, id).contains("no events in the window"),
            "{id}"
        );
    }
    assert_eq!(report["scope"]["window"]["events"], 0);
    assert_eq!(report["scope"]["window"]["since"], "2024-06-01T00:00:00Z");
    // Relative windows count back from the report date.
    let report = fixture_report(out.path(), DATE, &[TRAIL, "--since", "7d"]);
    assert_eq!(report["scope"]["window"]["since"], "2024-05-03T00:00:00Z");
    assert_eq!(report["scope"]["window"]["events"], 3);
}

#[test]
fn each_report_compares_itself_with_the_previous_one() {
    let out = tempfile::tempdir().expect("tempdir");
    // Day 1: the root finding and the deletion are open.
    let first = fixture_report(out.path(), "2024-05-10", &[TRAIL]);
    assert!(first["comparison"].is_null());
    // Day 2: the deletion is waived (resolved), rotation was turned off (new), root use is
    // still open. A report of a later day must not be read.
    std::fs::write(
        out.path().join(FRAMEWORK).join("2024-05-12.json"),
        "not json",
    )
    .expect("write");
    let second = fixture_report(
        out.path(),
        "2024-05-11",
        &[TRAIL, EXTRA, "--waivers", WAIVERS],
    );
    let cmp = &second["comparison"];
    assert_eq!(cmp["previous_date"], "2024-05-10");
    assert!(cmp["previous_report"]
        .as_str()
        .unwrap_or_default()
        .ends_with("acme-key-standard/2024-05-10.json"));
    let rules = |list: &Value| -> Vec<String> {
        list.as_array()
            .expect("list")
            .iter()
            .map(|f| f["rule_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(rules(&cmp["new_findings"]), ["TEST.REP.5"]);
    assert_eq!(rules(&cmp["resolved_findings"]), ["TEST.REP.2"]);
    assert_eq!(rules(&cmp["still_open_findings"]), ["TEST.REP.1"]);
    assert_eq!(cmp["previous_score"], first["summary"]["score"]);
    assert_eq!(cmp["trend"], "unchanged");
    let changes: Vec<(String, String, String)> = cmp["status_changes"]
        .as_array()
        .expect("changes")
        .iter()
        .map(|c| {
            (
                c["requirement"].as_str().unwrap_or_default().to_owned(),
                c["from"].as_str().unwrap_or_default().to_owned(),
                c["to"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            (
                "K.2".to_owned(),
                "not-satisfied".to_owned(),
                "satisfied".to_owned()
            ),
            (
                "K.3".to_owned(),
                "satisfied".to_owned(),
                "not-satisfied".to_owned()
            ),
        ]
    );
    let md = std::fs::read_to_string(out.path().join(FRAMEWORK).join("2024-05-11.md"))
        .expect("markdown");
    assert!(md.contains("### New findings (1)"), "{md}");
    assert!(md.contains("- Since 2024-05-10"), "{md}");
    // Day 3 improves on day 2: the waived root use (a fresh waiver) lifts the score. An
    // unreadable previous report is an error naming it.
    let result = run(
        "2024-05-13",
        &fixture_args(&out.path().display().to_string(), &[TRAIL]),
    );
    assert_eq!(result.code, 2);
    assert!(
        result
            .stderr
            .contains("2024-05-12.json: is not a kms-audit compliance report"),
        "{}",
        result.stderr
    );
    std::fs::remove_file(out.path().join(FRAMEWORK).join("2024-05-12.json")).expect("remove");
    let waivers = out.path().join("root-waiver.yml");
    std::fs::write(
        &waivers,
        "- rule: TEST.REP.1\n  reason: Drill.\n  owner: carol@example.com\n  expires: 2030-01-01\n",
    )
    .expect("write");
    let waivers = waivers.display().to_string();
    let third = fixture_report(out.path(), "2024-05-13", &[TRAIL, "--waivers", &waivers]);
    assert_eq!(third["comparison"]["previous_date"], "2024-05-11");
    assert_eq!(third["comparison"]["trend"], "improved");
}

#[test]
fn a_lake_run_reads_only_new_log_files() {
    let logs = tempfile::tempdir().expect("tempdir");
    let lake = tempfile::tempdir().expect("tempdir");
    let out = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        repo_root().join(TRAIL).join("report-trail.json"),
        logs.path().join("day1.json"),
    )
    .expect("copy");
    let (logs_shown, lake_shown, out_shown) = (
        logs.path().display().to_string(),
        lake.path().display().to_string(),
        out.path().display().to_string(),
    );
    let daily = |date: &str| {
        ok(
            date,
            &fixture_args(
                &out_shown,
                &["--lake", &lake_shown, &logs_shown, "--format", "json"],
            ),
        )
    };
    let first = daily("2024-05-10");
    assert!(
        first
            .stderr
            .contains("1 new log file(s) read, 0 already in the lake"),
        "{}",
        first.stderr
    );
    let second = daily("2024-05-11");
    assert!(
        second
            .stderr
            .contains("0 new log file(s) read, 1 already in the lake"),
        "{}",
        second.stderr
    );
    std::fs::copy(
        repo_root().join(EXTRA).join("report-extra.json"),
        logs.path().join("day2.json"),
    )
    .expect("copy");
    let third = daily("2024-05-12");
    assert!(
        third
            .stderr
            .contains("1 new log file(s) read, 1 already in the lake"),
        "{}",
        third.stderr
    );
    let report = read_json(&out.path().join(FRAMEWORK).join("2024-05-12.json"));
    assert_eq!(report["scope"]["inputs"].as_array().map(Vec::len), Some(2));
    assert_eq!(status(&report, "K.3"), "not-satisfied");
    // The lake alone, without PATHs.
    let report = fixture_report(out.path(), "2024-05-13", &["--lake", &lake_shown]);
    assert_eq!(report["scope"]["window"]["events"], 7);
}

#[test]
fn usage_errors_name_what_is_wrong() {
    let out = tempfile::tempdir().expect("tempdir");
    let shown = out.path().display().to_string();
    let result = run(DATE, &["--framework", "pci-dss-9", "--out", &shown, TRAIL]);
    assert_eq!(result.code, 2);
    assert!(
        result
            .stderr
            .contains("no framework catalog has the id `pci-dss-9`"),
        "{}",
        result.stderr
    );
    let result = run(
        DATE,
        &[
            "--framework",
            "pci-dss-4.0.1",
            "--lake",
            "/nonexistent/lake",
        ],
    );
    assert_eq!(result.code, 2);
    assert!(
        result
            .stderr
            .contains("lake /nonexistent/lake does not exist"),
        "{}",
        result.stderr
    );
    let result = run("2024-13-01", &["--framework", "pci-dss-4.0.1", TRAIL]);
    assert_eq!(result.code, 2);
    assert!(
        result.stderr.contains("KMS_AUDIT_REPORT_DATE"),
        "{}",
        result.stderr
    );
    for format in kms_audit::report::compliance::Format::ALL {
        if format.is_available() {
            continue;
        }
        let result = run(
            DATE,
            &[
                "--framework",
                "pci-dss-4.0.1",
                "--out",
                &shown,
                "--format",
                format.name(),
                TRAIL,
            ],
        );
        assert_eq!(result.code, 2);
        assert!(
            result
                .stderr
                .contains(&format!("format {} is not available yet", format.name())),
            "{}",
            result.stderr
        );
    }
}

/// The date of the example reports: the day after sample-logs/ ends.
const EXAMPLE_DATE: &str = "2026-11-05";

#[test]
fn example_reports_are_current() {
    let formats: Vec<&str> = kms_audit::report::compliance::Format::ALL
        .iter()
        .filter(|f| f.is_available())
        .map(|f| f.name())
        .collect();
    let formats = formats.join(",");
    let out = tempfile::tempdir().expect("tempdir");
    let shown = out.path().display().to_string();
    let frameworks = [
        "pci-dss-4.0.1",
        "hipaa-security-rule",
        "fedramp-rev5-moderate",
    ];
    let mut args = vec!["sample-logs", "--out", &shown, "--format", &formats];
    for framework in frameworks {
        args.extend(["--framework", framework]);
    }
    ok(EXAMPLE_DATE, &args);
    let update = std::env::var_os("UPDATE_REPORTS").is_some();
    let mut stale = Vec::new();
    for framework in &frameworks {
        for entry in std::fs::read_dir(out.path().join(framework)).expect("reports") {
            let generated = entry.expect("entry").path();
            let name = generated.file_name().expect("name").to_owned();
            let example = repo_root().join("reports").join(framework).join(&name);
            let text = std::fs::read(&generated).expect("read");
            if update {
                std::fs::create_dir_all(example.parent().expect("parent")).expect("mkdir");
                std::fs::write(&example, &text).expect("write");
            } else if std::fs::read(&example).ok().as_deref() != Some(text.as_slice()) {
                stale.push(example.display().to_string());
            }
        }
    }
    assert!(
        stale.is_empty(),
        "example reports out of date: {stale:#?}\nrefresh them with \
         UPDATE_REPORTS=1 cargo test --release --locked --test suite report::example_reports \
         and review the diff"
    );
}

/// `(object path, field)` of every field in `value`: `scope.window` / `since`, arrays as
/// `[]`.
fn fields(value: &Value, path: &str, out: &mut std::collections::BTreeSet<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                out.insert((path.to_owned(), key.clone()));
                let child_path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                fields(child, &child_path, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                fields(item, &format!("{path}[]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_json_field_and_csv_column_is_documented() {
    let doc = std::fs::read_to_string(repo_root().join("docs/report-formats.md")).expect("docs");
    let out = tempfile::tempdir().expect("tempdir");
    fixture_report(out.path(), "2024-05-10", &[TRAIL]);
    let compared = fixture_report(
        out.path(),
        "2024-05-11",
        &[TRAIL, EXTRA, "--waivers", WAIVERS],
    );
    let logs = tempfile::tempdir().expect("tempdir");
    let gap = logs.path().join("gap.json");
    std::fs::write(&gap, hourly_trail(8, 3..5)).expect("write");
    let gapped = fixture_report(out.path(), "2026-01-10", &[&gap.display().to_string()]);
    let mut all = std::collections::BTreeSet::new();
    for report in [&compared, &gapped] {
        fields(report, "", &mut all);
    }
    let section = |object: &str| -> Option<&str> {
        let heading = if object.is_empty() {
            "### The report".to_owned()
        } else {
            format!("`{object}`")
        };
        let start = doc
            .lines()
            .scan(0usize, |offset, line| {
                let at = *offset;
                *offset += line.len() + 1;
                Some((at, line))
            })
            .find(|(_, line)| line.starts_with("### ") && line.contains(&heading))
            .map(|(at, _)| at)?;
        let rest = &doc[start + 4..];
        Some(
            &rest[..rest
                .find("\n### ")
                .or_else(|| rest.find("\n## "))
                .unwrap_or(rest.len())],
        )
    };
    let mut missing = Vec::new();
    for (object, field) in &all {
        let documented = section(object).is_some_and(|s| s.contains(&format!("| `{field}` |")));
        if !documented {
            missing.push(format!("{object}.{field}"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/report-formats.md lacks: {missing:#?}"
    );
    let csv = &doc[doc.find("## CSV").expect("CSV section")..];
    for column in kms_audit::report::compliance::csv::HEADER {
        assert!(
            csv.contains(&format!("| `{column}` |")),
            "CSV column {column}"
        );
    }
}
