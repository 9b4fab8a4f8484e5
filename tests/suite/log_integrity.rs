//! Log coverage and log file integrity end to end through the binary: CloudTrail trails
//! written here in the S3 layout (gzip log files, and gzip digest files that list the SHA-256
//! of each uncompressed log file and chain to the previous digest, as CloudTrail writes them:
//! docs/rule-views.md `log_integrity`), scanned with the audit-integrity rules KMS.LOG.5–7.
//!
//! - a clean trail: no finding, every listed file verified;
//! - a missing, a modified and an unlisted log file (KMS.LOG.6), a missing and a modified
//!   digest (KMS.LOG.7);
//! - a lake scanned again: no duplicate digest, and a log file that arrives later settles
//!   the digest that listed it; log files ingested before their digests are hashed then;
//! - a gap in coverage found, and not found when digests prove the day was empty (KMS.LOG.5);
//! - the simulator's sample trail: no integrity finding, no coverage gap.

use std::io::Write;
use std::path::Path;

use serde_json::{json, Value};
use sha2::{Digest as _, Sha256};

use crate::common::repo_root;
use kms_audit::ingest::integrity::Integrity;
use kms_audit::ingest::manifest::Manifest;

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";
const RULES: [&str; 3] = [
    "rules/audit-integrity/log-coverage-gap.yml",
    "rules/audit-integrity/log-file-missing-or-modified.yml",
    "rules/audit-integrity/digest-chain-broken.yml",
];

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn record(time: &str, n: usize) -> Value {
    json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "AssumedRole", "arn": format!("arn:aws:sts::{ACCOUNT}:assumed-role/App/s1"), "accountId": ACCOUNT},
        "eventTime": time,
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": REGION,
        "requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
        "responseElements": null,
        "eventID": format!("1a7e0000-0000-4000-8000-{n:012}"),
        "readOnly": true,
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
    })
}

/// `2026-01-05T01:35:00Z` → `2026/01/05`, `20260105T0135Z`, `20260105T013500Z`.
fn stamps(time: &str) -> (String, String, String) {
    let digits: String = time.chars().filter(char::is_ascii_alphanumeric).collect();
    (
        format!("{}/{}/{}", &time[0..4], &time[5..7], &time[8..10]),
        format!("{}Z", &digits[..13]),
        digits,
    )
}

/// A trail directory written like CloudTrail with log file validation on.
struct Trail {
    dir: tempfile::TempDir,
    /// Log files since the last digest: (key, uncompressed bytes, oldest, newest).
    pending: Vec<(String, Vec<u8>, String, String)>,
    /// The last digest: (key, uncompressed bytes).
    previous: Option<(String, Vec<u8>)>,
    events: usize,
}

impl Trail {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("tempdir"),
            pending: Vec::new(),
            previous: None,
            events: 0,
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, key: &str, bytes: &[u8]) {
        let path = self.path().join(key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, gzip(bytes)).expect("write");
    }

    /// A log file delivered at `delivered` holding events at `times`; returns its key.
    fn log(&mut self, delivered: &str, times: &[String]) -> String {
        let (day, minute, _) = stamps(delivered);
        let unique = format!("{:016}", self.events);
        let key = format!(
            "AWSLogs/{ACCOUNT}/CloudTrail/{REGION}/{day}/{ACCOUNT}_CloudTrail_{REGION}_{minute}_{unique}.json.gz"
        );
        let records: Vec<Value> = times
            .iter()
            .map(|t| {
                self.events += 1;
                record(t, self.events)
            })
            .collect();
        let body = serde_json::to_vec(&json!({ "Records": records })).expect("json");
        self.write(&key, &body);
        let oldest = times.iter().min().cloned().unwrap_or_default();
        let newest = times.iter().max().cloned().unwrap_or_default();
        self.pending.push((key.clone(), body, oldest, newest));
        key
    }

    /// A digest for `start`..`end` listing the log files written since the last one.
    fn digest(&mut self, start: &str, end: &str) -> String {
        let (day, _, second) = stamps(end);
        let key = format!(
            "AWSLogs/{ACCOUNT}/CloudTrail-Digest/{REGION}/{day}/{ACCOUNT}_CloudTrail-Digest_{REGION}_main_{REGION}_{second}.json.gz"
        );
        let logs: Vec<Value> = self
            .pending
            .drain(..)
            .map(|(k, body, oldest, newest)| {
                json!({"s3Bucket": "trail-bucket", "s3Object": k, "hashValue": sha(&body),
                       "hashAlgorithm": "SHA-256", "newestEventTime": newest, "oldestEventTime": oldest})
            })
            .collect();
        let previous = self.previous.as_ref();
        let body = serde_json::to_vec(&json!({
            "awsAccountId": ACCOUNT,
            "digestStartTime": start,
            "digestEndTime": end,
            "digestS3Bucket": "trail-bucket",
            "digestS3Object": key,
            "digestPublicKeyFingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
            "digestSignatureAlgorithm": "SHA256withRSA",
            "previousDigestS3Bucket": previous.map(|_| "trail-bucket"),
            "previousDigestS3Object": previous.map(|(k, _)| k.clone()),
            "previousDigestHashValue": previous.map(|(_, b)| sha(b)),
            "previousDigestHashAlgorithm": previous.map(|_| "SHA-256"),
            "previousDigestSignature": previous.map(|_| "00"),
            "logFiles": logs,
        }))
        .expect("json");
        self.write(&key, &body);
        self.previous = Some((key.clone(), body));
        key
    }

    /// Three hours, one log file of two events and one digest each; the keys in order
    /// `[L1, D1, L2, D2, L3, D3]`.
    fn three_hours() -> (Self, Vec<String>) {
        let mut trail = Self::new();
        let mut keys = Vec::new();
        for hour in 0..3 {
            let times = [
                format!("2026-01-05T{hour:02}:20:00Z"),
                format!("2026-01-05T{hour:02}:28:00Z"),
            ];
            keys.push(trail.log(&format!("2026-01-05T{hour:02}:35:00Z"), &times));
            keys.push(trail.digest(
                &format!("2026-01-05T{hour:02}:00:00Z"),
                &format!("2026-01-05T{:02}:00:00Z", hour + 1),
            ));
        }
        (trail, keys)
    }

    fn remove(&self, key: &str) {
        std::fs::remove_file(self.path().join(key)).expect("remove");
    }
}

/// `kms-audit scan PATH --format json` with the three rules only, plus `args`.
fn scan(path: &Path, args: &[&str]) -> Value {
    let output = assert_cmd::cargo::cargo_bin_cmd!("kms-audit")
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .arg("scan")
        .arg(path)
        .args(["--format", "json", "--no-bundled-rules"])
        .args(RULES.iter().flat_map(|r| ["--rules", r]))
        .args(args)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json")
}

/// `(rule_id, resource)` of every finding.
fn findings(report: &Value) -> Vec<(String, String)> {
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

fn detail_of(report: &Value, rule: &str) -> String {
    report["findings"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["rule_id"] == rule)
        .and_then(|f| f["detail"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_clean_trail_has_no_integrity_finding() {
    let (trail, _) = Trail::three_hours();
    let report = scan(trail.path(), &["--no-cache"]);
    assert_eq!(findings(&report), [], "{report:#}");
    assert_eq!(
        report["input"]["integrity"],
        json!({"digests": 3, "log_files_listed": 3, "log_files_verified": 3, "problems": 0})
    );
    assert_eq!(report["input"]["files_ignored"]["digest"], 3);
    assert_eq!(report["input"]["files_in_lake"], 3);

    // The bucket synced twice: each digest and log file counts once.
    let twice = tempfile::tempdir().expect("tempdir");
    for copy in ["a", "b"] {
        copy_dir(trail.path(), &twice.path().join(copy), "");
    }
    let report = scan(twice.path(), &["--no-cache"]);
    assert_eq!(findings(&report), [], "{report:#}");
    assert_eq!(report["input"]["integrity"]["digests"], 3);
}

#[test]
fn missing_modified_and_unlisted_log_files() {
    // Missing.
    let (trail, keys) = Trail::three_hours();
    trail.remove(&keys[2]);
    let report = scan(trail.path(), &["--no-cache"]);
    assert_eq!(
        findings(&report),
        [("KMS.LOG.6".to_owned(), keys[2].clone())],
        "{report:#}"
    );
    assert!(detail_of(&report, "KMS.LOG.6").contains("problem: missing-file"));

    // Modified: a record taken out, the file compressed again.
    let (trail, keys) = Trail::three_hours();
    let path = trail.path().join(&keys[4]);
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&std::fs::read(&path).expect("read")[..]),
        &mut text,
    )
    .expect("gunzip");
    let mut body: Value = serde_json::from_str(&text).expect("json");
    body["Records"].as_array_mut().expect("records").pop();
    trail.write(&keys[4], &serde_json::to_vec(&body).expect("json"));
    let report = scan(trail.path(), &["--no-cache"]);
    assert_eq!(
        findings(&report),
        [("KMS.LOG.6".to_owned(), keys[4].clone())],
        "{report:#}"
    );
    let detail = detail_of(&report, "KMS.LOG.6");
    assert!(detail.contains("problem: hash-mismatch"), "{detail}");
    assert!(
        detail.contains(&format!(
            "actual_hash: {}",
            sha(&serde_json::to_vec(&body).expect("json"))
        )),
        "{detail}"
    );

    // A file CloudTrail did not deliver, inside the hours the digests cover.
    let (mut trail, _) = Trail::three_hours();
    let planted = trail.log("2026-01-05T01:50:00Z", &["2026-01-05T01:45:00Z".to_owned()]);
    let report = scan(trail.path(), &["--no-cache"]);
    assert_eq!(
        findings(&report),
        [("KMS.LOG.6".to_owned(), planted)],
        "{report:#}"
    );
    assert!(detail_of(&report, "KMS.LOG.6").contains("problem: unlisted-file"));
}

#[test]
fn a_broken_digest_chain() {
    // The middle digest is gone.
    let (trail, keys) = Trail::three_hours();
    trail.remove(&keys[3]);
    let report = scan(trail.path(), &["--no-cache"]);
    assert_eq!(
        findings(&report),
        [("KMS.LOG.7".to_owned(), keys[5].clone())],
        "{report:#}"
    );
    let detail = detail_of(&report, "KMS.LOG.7");
    assert!(detail.contains("is not among the inputs"), "{detail}");
    assert!(
        detail.contains("no digest covers 2026-01-05T01:00:00Z to 2026-01-05T02:00:00Z"),
        "{detail}"
    );

    // The first digest was edited after the second hashed it (same log files).
    let (trail, keys) = Trail::three_hours();
    let path = trail.path().join(&keys[1]);
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&std::fs::read(&path).expect("read")[..]),
        &mut text,
    )
    .expect("gunzip");
    trail.write(
        &keys[1],
        text.replace("trail-bucket", "other-bucket").as_bytes(),
    );
    let report = scan(trail.path(), &["--no-cache"]);
    assert_eq!(
        findings(&report),
        [("KMS.LOG.7".to_owned(), keys[3].clone())],
        "{report:#}"
    );
    assert!(detail_of(&report, "KMS.LOG.7").contains("it was modified"));
}

#[test]
fn a_lake_scanned_again_keeps_one_copy_and_settles_late_files() {
    let (trail, keys) = Trail::three_hours();
    let lake = tempfile::tempdir().expect("lake");
    let lake_arg = lake.path().to_str().expect("utf8").to_owned();
    let missing = trail.path().join(&keys[2]);
    let kept = std::fs::read(&missing).expect("read");
    trail.remove(&keys[2]);

    let first = scan(trail.path(), &["--lake", &lake_arg]);
    assert_eq!(
        findings(&first),
        [("KMS.LOG.6".to_owned(), keys[2].clone())]
    );
    // Nothing new: nothing read, the same digests and findings.
    let again = scan(trail.path(), &["--lake", &lake_arg]);
    assert_eq!(findings(&again), findings(&first));
    let integrity = Integrity::load(lake.path())
        .expect("load")
        .expect("digests");
    assert_eq!(integrity.digests.len(), 3);
    assert_eq!(integrity.problems.len(), 1);
    assert_eq!(
        Manifest::load(lake.path()).expect("manifest").digests.len(),
        3
    );

    // The missing file arrives: the digest read earlier is settled.
    std::fs::write(&missing, kept).expect("restore");
    let settled = scan(trail.path(), &["--lake", &lake_arg]);
    assert_eq!(findings(&settled), [], "{settled:#}");
    assert_eq!(
        settled["input"]["integrity"]["log_files_verified"],
        json!(3)
    );
    let integrity = Integrity::load(lake.path())
        .expect("load")
        .expect("digests");
    assert_eq!((integrity.digests.len(), integrity.problems.len()), (3, 0));

    // A digest file rewritten with the same content is read again, not added again.
    let digest = trail.path().join(&keys[3]);
    let bytes = std::fs::read(&digest).expect("read");
    std::fs::remove_file(&digest).expect("remove");
    std::fs::write(&digest, bytes).expect("write");
    let file = std::fs::File::options()
        .write(true)
        .open(&digest)
        .expect("open");
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .expect("touch");
    scan(trail.path(), &["--lake", &lake_arg]);
    let manifest = Manifest::load(lake.path()).expect("manifest");
    assert_eq!(manifest.digests.len(), 3);
    assert_eq!(
        Integrity::load(lake.path())
            .expect("load")
            .expect("digests")
            .digests
            .len(),
        3
    );
}

#[test]
fn log_files_ingested_before_their_digests_are_hashed_when_the_digests_arrive() {
    let (trail, _) = Trail::three_hours();
    let lake = tempfile::tempdir().expect("lake");
    let lake_arg = lake.path().to_str().expect("utf8").to_owned();
    // First the log files alone (a copy without CloudTrail-Digest/).
    let logs_only = tempfile::tempdir().expect("logs");
    let logs_dir = logs_only.path().join("AWSLogs");
    copy_dir(
        &trail.path().join("AWSLogs"),
        &logs_dir,
        "CloudTrail-Digest",
    );
    let first = scan(&logs_dir, &["--lake", &lake_arg]);
    assert_eq!(findings(&first), []);
    assert!(Manifest::load(lake.path())
        .expect("manifest")
        .files
        .iter()
        .all(|f| f.content_sha256.is_none()));
    // Then the digests: the log files in the lake are read again to be hashed.
    let digests = trail
        .path()
        .join("AWSLogs")
        .join(ACCOUNT)
        .join("CloudTrail-Digest");
    let output = assert_cmd::cargo::cargo_bin_cmd!("kms-audit")
        .args(["ingest", "--lake", &lake_arg])
        .arg(&digests)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let manifest = Manifest::load(lake.path()).expect("manifest");
    assert!(manifest.files.iter().all(|f| f.content_sha256.is_some()));
    assert_eq!(
        manifest
            .integrity
            .map(|i| (i.log_files_verified, i.problems)),
        Some((3, 0))
    );
}

fn copy_dir(from: &Path, to: &Path, skip: &str) {
    for entry in std::fs::read_dir(from).expect("dir").flatten() {
        let path = entry.path();
        let target = to.join(entry.file_name());
        if entry.file_name() == skip {
            continue;
        }
        if path.is_dir() {
            copy_dir(&path, &target, skip);
        } else {
            std::fs::create_dir_all(to).expect("mkdir");
            std::fs::copy(&path, &target).expect("copy");
        }
    }
}

/// Hourly events on 5 and 7 January, none on the 6th, with a digest per day (the 6th's
/// listing no file) when `digests`, and that day's digest left out when `!quiet_digest`.
fn silent_day(digests: bool, quiet_digest: bool) -> Trail {
    let mut trail = Trail::new();
    let day = |d: u32| -> Vec<String> {
        (0..24)
            .map(|h| format!("2026-01-{d:02}T{h:02}:10:00Z"))
            .collect()
    };
    trail.log("2026-01-06T00:00:00Z", &day(5));
    if digests {
        trail.digest("2026-01-05T00:00:00Z", "2026-01-06T00:00:00Z");
        let quiet = trail.digest("2026-01-06T00:00:00Z", "2026-01-07T00:00:00Z");
        if !quiet_digest {
            trail.remove(&quiet);
        }
    }
    trail.log("2026-01-08T00:00:00Z", &day(7));
    if digests {
        trail.digest("2026-01-07T00:00:00Z", "2026-01-08T00:00:00Z");
    }
    trail
}

#[test]
fn a_gap_in_coverage_found_and_not_found() {
    let gap = format!("{ACCOUNT}/{REGION}@2026-01-05T23:10:00Z");
    // No digests: 25 silent hours where 16 events were expected.
    let report = scan(silent_day(false, false).path(), &["--no-cache"]);
    assert_eq!(findings(&report), [("KMS.LOG.5".to_owned(), gap.clone())]);
    let detail = detail_of(&report, "KMS.LOG.5");
    assert!(
        detail.contains("hours: 25") && detail.contains("expected_events: 16"),
        "{detail}"
    );
    let evidence = &report["findings"]["findings"][0]["evidence"];
    assert_eq!(evidence[0]["event_time"], "2026-01-05T23:10:00Z");
    assert_eq!(evidence[1]["event_time"], "2026-01-07T00:10:00Z");
    // The 6th's digest lists no file: the day was quiet, not lost.
    let report = scan(silent_day(true, true).path(), &["--no-cache"]);
    assert_eq!(findings(&report), [], "{report:#}");
    // Without that digest the day is a gap again, and the chain is broken too.
    let report = scan(silent_day(true, false).path(), &["--no-cache"]);
    let mut rules: Vec<String> = findings(&report).into_iter().map(|(r, _)| r).collect();
    rules.sort();
    assert_eq!(rules, ["KMS.LOG.5", "KMS.LOG.7"], "{report:#}");
    // A higher threshold for a quiet account.
    let report = scan(
        silent_day(false, false).path(),
        &["--no-cache", "--param", "KMS.LOG.5.max_gap_hours=48"],
    );
    assert_eq!(findings(&report), []);
}

#[test]
fn the_sample_trail_is_intact_and_covered() {
    let report = scan(&repo_root().join("sample-logs"), &["--no-cache"]);
    assert_eq!(
        findings(&report),
        [],
        "{:#}",
        report["findings"]["findings"]
    );
    let integrity = &report["input"]["integrity"];
    assert_eq!(integrity["problems"], 0, "{integrity}");
    assert!(
        integrity["digests"].as_u64().unwrap_or_default() > 1000,
        "{integrity}"
    );
    assert_eq!(
        integrity["log_files_verified"],
        integrity["log_files_listed"]
    );
}
