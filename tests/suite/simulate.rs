//! The simulator end to end: the bundled sample scenario runs the same way twice, writes a
//! CloudTrail trail that the project's own ingestion reads without a problem, leaves
//! evidence of every injected incident inside the ground truth's window, and is what
//! `sample-logs/` holds.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Timelike, Utc};
use kms_audit::ingest::lake::Lake;
use kms_audit::ingest::{ingest, IngestOptions, Silent};
use kms_audit::kms::simulate::{simulate, Options, Scenario, Summary, GROUND_TRUTH_FILE};
use kms_audit::trail::discover::{discover, IgnoreReason};
use serde_json::Value;

const SAMPLE: &str = "scenarios/sample.yaml";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn run(out: &Path, seed: Option<u64>) -> Summary {
    let scenario = Scenario::load(&repo(SAMPLE)).expect("sample scenario");
    let options = Options {
        seed,
        ..Options::new(out)
    };
    simulate(&scenario, &options, &mut |_, _| {}).expect("simulation")
}

/// Every file under `dir`, relative path → bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|entry| entry.expect("walk"))
        .filter(|entry| entry.file_type().is_file())
        .map(|entry| {
            let rel = entry
                .path()
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .into_owned();
            (rel, std::fs::read(entry.path()).expect("read"))
        })
        .collect()
}

/// Every record of the trail under `dir`, with the file it came from.
fn records(dir: &Path) -> Vec<(String, Value)> {
    let name = regex::Regex::new(
        r"^AWSLogs/(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/(\d{12})_CloudTrail_([a-z0-9-]+)_(\d{8})T(\d{4})Z_[0-9A-Za-z]{16}\.json\.gz$",
    )
    .expect("regex");
    let mut out = Vec::new();
    for (rel, bytes) in files(dir) {
        // Digest files list the log files (tests/suite/log_integrity.rs validates them).
        if rel == GROUND_TRUTH_FILE || rel.contains("/CloudTrail-Digest/") {
            continue;
        }
        let caps = name
            .captures(&rel)
            .unwrap_or_else(|| panic!("not a CloudTrail name: {rel}"));
        assert_eq!(&caps[1], &caps[6], "{rel}: account in folder and name");
        assert_eq!(&caps[2], &caps[7], "{rel}: region in folder and name");
        assert_eq!(
            format!("{}{}{}", &caps[3], &caps[4], &caps[5]),
            &caps[8],
            "{rel}: date"
        );
        let mut text = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .read_to_string(&mut text)
            .expect("gzip");
        let doc: Value = serde_json::from_str(&text).expect("json");
        for record in doc["Records"].as_array().expect("Records") {
            assert_eq!(record["recipientAccountId"], caps[1], "{rel}: recipient");
            assert_eq!(record["awsRegion"], caps[2], "{rel}: region");
            out.push((rel.clone(), record.clone()));
        }
    }
    out
}

fn time(record: &Value) -> DateTime<Utc> {
    record["eventTime"]
        .as_str()
        .and_then(|t| t.parse().ok())
        .expect("eventTime")
}

fn role(record: &Value) -> &str {
    record["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"]
        .as_str()
        .unwrap_or("")
}

fn names_key(record: &Value, arn: &str) -> bool {
    record["resources"]
        .as_array()
        .is_some_and(|r| r.iter().any(|res| res["ARN"] == arn))
}

#[test]
fn the_sample_scenario_is_reproducible_and_every_incident_leaves_evidence() {
    let dir = tempfile::tempdir().expect("tempdir");
    let a = dir.path().join("a");
    let summary = run(&a, None);
    let b = dir.path().join("b");
    run(&b, None);
    assert_eq!(files(&a), files(&b), "same seed, same bytes");
    let c = dir.path().join("c");
    run(&c, Some(8));
    let trail = |d: &Path| {
        let mut f = files(d);
        f.remove(GROUND_TRUTH_FILE);
        f
    };
    assert_ne!(trail(&a), trail(&c), "another seed, another trail");

    let all = records(&a);
    assert_eq!(all.len() as u64, summary.events_written);
    assert!(
        (2_000..20_000).contains(&all.len()),
        "a few thousand events: {}",
        all.len()
    );
    // The outsider's account is not monitored: nothing is delivered to it.
    assert!(all
        .iter()
        .all(|(_, r)| r["recipientAccountId"] != "777788889999"));
    let first = all.iter().map(|(_, r)| time(r)).min().expect("records");
    let last = all.iter().map(|(_, r)| time(r)).max().expect("records");
    assert!((last - first).num_days() >= 400, "{first} .. {last}");

    let truth: Value =
        serde_json::from_slice(&std::fs::read(a.join(GROUND_TRUTH_FILE)).expect("truth"))
            .expect("json");
    let incidents = truth["incidents"].as_array().expect("incidents");
    // 17 types; `rotation-overdue` three times (a symmetric key with rotation off, an
    // ECC signing key and an HMAC key, which cannot rotate automatically).
    assert_eq!(incidents.len(), 19);
    let mut seen = std::collections::BTreeSet::new();
    for incident in incidents {
        let kind = incident["type"].as_str().expect("type");
        assert!(
            seen.insert(kind.to_owned()) || kind == "rotation-overdue",
            "{kind} twice"
        );
        assert!(
            ["unusual-usage", "rotation", "lifecycle", "least-privilege"]
                .contains(&incident["family"].as_str().expect("family")),
            "{incident}"
        );
        let start: DateTime<Utc> = incident["start"]
            .as_str()
            .expect("start")
            .parse()
            .expect("t");
        let end: DateTime<Utc> = incident["end"].as_str().expect("end").parse().expect("t");
        assert!(start <= end, "{incident}");
        if kind != "access-denied-probing" {
            assert!(
                incident["key"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("arn:aws:kms:")),
                "{incident}"
            );
        }
        check_evidence(kind, incident, start, end, &all);
    }
    assert_eq!(seen.len(), 17);

    // Keys with rotation enabled long enough rotated automatically.
    assert!(all.iter().any(|(_, r)| r["eventName"] == "RotateKey"
        && r["serviceEventDetails"]["rotationType"] == "AUTOMATIC"));
}

/// The records that show `kind` happened, inside its window.
fn check_evidence(
    kind: &str,
    incident: &Value,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    all: &[(String, Value)],
) {
    let key = incident["key"].as_str().unwrap_or("");
    let within = |r: &Value| (start..=end).contains(&time(r));
    let count = |pred: &dyn Fn(&Value) -> bool| all.iter().filter(|(_, r)| pred(r)).count();
    let ok = |r: &Value| r.get("errorCode").is_none();
    match kind {
        "decrypt-spike" => {
            let n = count(&|r| {
                within(r) && r["eventName"] == "Decrypt" && role(r) == "payments-service" && ok(r)
            });
            assert!(n >= 300, "{kind}: {n} decrypts in the window");
        }
        "new-principal" => {
            let by = |r: &Value| role(r) == "contractor-tooling" && names_key(r, key);
            assert!(count(&|r| by(r) && within(r)) >= 6, "{kind}");
            assert_eq!(
                count(&|r| by(r) && !within(r)),
                0,
                "{kind}: only in its window"
            );
        }
        "off-hours" => {
            let n = count(&|r| within(r) && role(r) == "orders-service" && time(r).hour() < 6);
            assert!(n >= 6, "{kind}: {n}");
            let outside =
                count(&|r| !within(r) && role(r) == "orders-service" && time(r).hour() < 6);
            assert_eq!(outside, 0, "{kind}: the habit keeps to 06-22");
        }
        "new-network" => {
            let from = |r: &Value| {
                r["sourceIPAddress"]
                    .as_str()
                    .is_some_and(|ip| ip.starts_with("45.155.205."))
            };
            assert!(count(&|r| from(r) && within(r) && role(r) == "payments-service") >= 6);
            assert_eq!(count(&|r| from(r) && !within(r)), 0, "{kind}");
        }
        "new-region" => {
            let eu = |r: &Value| role(r) == "payments-service" && r["awsRegion"] == "eu-west-1";
            assert!(count(&|r| eu(r) && within(r)) >= 6, "{kind}");
            assert_eq!(count(&|r| eu(r) && !within(r)), 0, "{kind}");
        }
        "cross-account" => {
            let n = count(&|r| {
                within(r)
                    && role(r) == "etl-runner"
                    && names_key(r, key)
                    && r["userIdentity"]["accountId"] == "444455556666"
            });
            assert!(n >= 6, "{kind}: {n}");
            // Each call reaches the caller's and the key owner's account, one sharedEventID.
            let mut copies: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (_, r) in all
                .iter()
                .filter(|(_, r)| within(r) && role(r) == "etl-runner" && names_key(r, key))
            {
                let shared = r["sharedEventID"]
                    .as_str()
                    .expect("sharedEventID on a cross-account call");
                copies
                    .entry(shared)
                    .or_default()
                    .push(r["recipientAccountId"].as_str().expect("recipient"));
            }
            assert_eq!(copies.len() * 2, n, "{kind}: two copies per call");
            for recipients in copies.values_mut() {
                recipients.sort_unstable();
                assert_eq!(recipients, &["111122223333", "444455556666"]);
            }
        }
        "rotation-disabled" => {
            assert_eq!(
                count(&|r| r["eventName"] == "DisableKeyRotation" && names_key(r, key) && ok(r)),
                1,
                "{kind}"
            );
        }
        "rotation-overdue" => {
            assert_eq!(
                count(&|r| r["eventName"] == "RotateKey" && names_key(r, key)),
                0
            );
            let created = all
                .iter()
                .find(|(_, r)| {
                    r["eventName"] == "CreateKey"
                        && r["responseElements"]["keyMetadata"]["arn"] == key
                })
                .map(|(_, r)| time(r))
                .expect("CreateKey of the overdue key");
            assert!(
                (start - created).num_days() == 365,
                "{kind}: {created} {start}"
            );
        }
        "key-disabled-in-use" => {
            assert_eq!(
                count(&|r| r["eventName"] == "DisableKey" && names_key(r, key)),
                1
            );
            assert!(
                count(&|r| within(r) && r["errorCode"] == "DisabledException") >= 1,
                "{kind}"
            );
            assert!(
                count(&|r| r["eventName"] == "EnableKey" && names_key(r, key) && within(r)) >= 1
            );
        }
        "key-deletion-in-use" => {
            assert_eq!(
                count(&|r| r["eventName"] == "ScheduleKeyDeletion" && names_key(r, key)),
                1
            );
            assert!(
                count(&|r| within(r)
                    && r["errorCode"] == "KMSInvalidStateException"
                    && names_key(r, key))
                    >= 1,
                "{kind}"
            );
            assert_eq!(
                count(&|r| r["eventName"] == "CancelKeyDeletion" && names_key(r, key)),
                1
            );
            assert_eq!(
                count(&|r| r["eventName"] == "DeleteKey" && names_key(r, key)),
                0
            );
        }
        "policy-public" => {
            let open = |r: &Value| {
                r["eventName"] == "PutKeyPolicy"
                    && r["requestParameters"]["policy"]
                        .as_str()
                        .is_some_and(|p| p.contains(r#""AWS":"*""#))
            };
            assert_eq!(
                count(&|r| open(r) && names_key(r, key) && ok(r)),
                1,
                "{kind}"
            );
        }
        "grant-never-retired" => {
            assert_eq!(
                count(&|r| r["eventName"] == "CreateGrant" && names_key(r, key) && ok(r)),
                1
            );
            assert_eq!(
                count(&|r| matches!(r["eventName"].as_str(), Some("RetireGrant" | "RevokeGrant"))),
                0
            );
            assert!(
                count(&|r| role(r) == "batch-exporter" && ok(r) && within(r)) >= 4,
                "{kind}"
            );
        }
        "admin-and-user" => {
            let uses = count(&|r| {
                role(r) == "KeyAdministrator"
                    && matches!(r["eventName"].as_str(), Some("Decrypt" | "GenerateDataKey"))
                    && ok(r)
            });
            assert!(uses >= 5, "{kind}: {uses}");
        }
        "access-denied-probing" => {
            let n = count(&|r| {
                within(r)
                    && r["errorCode"] == "AccessDeniedException"
                    && r["userIdentity"]["userName"] == "legacy-ftp-user"
            });
            assert_eq!(n, 30, "{kind}");
        }
        "imported-material-expiring" => {
            let expired =
                count(&|r| r["eventName"] == "DeleteExpiredKeyMaterial" && names_key(r, key));
            assert_eq!(expired, 1, "{kind}");
        }
        "ransomware" => {
            let foreign = |r: &Value| {
                r["resources"]
                    .as_array()
                    .is_some_and(|res| res.iter().any(|x| x["accountId"] == "777788889999"))
            };
            let n = count(&|r| {
                within(r)
                    && matches!(r["eventName"].as_str(), Some("ReEncrypt" | "Encrypt"))
                    && foreign(r)
                    && ok(r)
            });
            assert!(n >= 30, "{kind}: {n}");
        }
        "root-use" => {
            assert!(
                count(&|r| within(r) && r["userIdentity"]["type"] == "Root") >= 3,
                "{kind}"
            );
        }
        other => panic!("no evidence check for {other}"),
    }
}

#[test]
fn the_simulated_trail_ingests_without_a_problem() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("trail");
    let summary = run(&out, None);
    let mut lake = Lake::open(&dir.path().join("lake")).expect("lake");
    let report = ingest(
        &discover(std::slice::from_ref(&out)).expect("discover"),
        &mut lake,
        &IngestOptions::default(),
        &Silent,
    )
    .expect("ingest");
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.records_stored, summary.events_written);
    assert_eq!(report.records_skipped, 0);
    assert_eq!(
        report.files_ignored.get(&IgnoreReason::GroundTruth),
        Some(&1)
    );
}

#[test]
fn sample_logs_are_what_the_sample_scenario_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(dir.path(), None);
    let fresh = files(dir.path());
    let committed = files(&repo("sample-logs"));
    let stale = |detail: String| {
        panic!("sample-logs/ is stale ({detail}): regenerate it as scenarios/README.md says")
    };
    if let Some(name) = fresh.keys().find(|name| !committed.contains_key(*name)) {
        stale(format!("{name} is missing"));
    }
    if let Some(name) = committed
        .keys()
        .find(|n| !fresh.contains_key(*n) && *n != "README.md")
    {
        stale(format!("{name} is not written any more"));
    }
    for (name, bytes) in &fresh {
        if committed.get(name) != Some(bytes) {
            stale(format!("{name} differs"));
        }
    }
}

#[test]
fn a_trail_is_not_written_over_another() {
    let dir = tempfile::tempdir().expect("tempdir");
    run(dir.path(), None);
    let scenario = Scenario::load(&repo(SAMPLE)).expect("sample");
    let err = simulate(&scenario, &Options::new(dir.path()), &mut |_, _| {})
        .expect_err("AWSLogs exists")
        .to_string();
    assert!(err.contains("already holds a trail"), "{err}");
}

#[test]
fn the_command_reports_a_bad_scenario_by_file_and_field_and_writes_a_good_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let bad = dir.path().join("bad.yaml");
    let text = std::fs::read_to_string(repo(SAMPLE)).expect("sample");
    std::fs::write(
        &bad,
        text.replace("users: [ci-deployer]", "users: [nobody]"),
    )
    .expect("write");
    let out = assert_cmd::Command::cargo_bin("kms-audit")
        .expect("binary")
        .args(["simulate", "--scenario"])
        .arg(&bad)
        .arg("--out")
        .arg(dir.path().join("never"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.yaml") && err.contains("keys[4].users[0]") && err.contains("nobody"),
        "{err}"
    );
    assert!(!dir.path().join("never").join("AWSLogs").exists());

    let small = dir.path().join("small.yaml");
    // The sample's cast for 30 days, without its incidents.
    let cast = &text[..text.find("\nincidents:").expect("incidents")];
    std::fs::write(
        &small,
        format!("{}\nincidents: []\n", cast.replace("days: 400", "days: 30")),
    )
    .expect("write");
    let out_dir = dir.path().join("trail");
    let out = assert_cmd::Command::cargo_bin("kms-audit")
        .expect("binary")
        .args(["simulate", "--seed", "3", "--format", "json", "--scenario"])
        .arg(&small)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value = serde_json::from_slice(&out.stdout).expect("json summary");
    assert_eq!(summary["seed"], 3);
    assert_eq!(summary["incidents"], 0);
    let written = summary["events_written"].as_u64().expect("count");
    assert_eq!(records(&out_dir).len() as u64, written);
    assert!(written > 100, "{written}");
}
