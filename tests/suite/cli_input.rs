//! End-to-end tests of the `kms-audit` binary on bad and unusual input: every kind of input
//! problem is a warning naming the file (and the record or line), is counted in the JSON
//! summary while the good file next to it is still stored, and becomes exit code 2 under
//! `--strict`; every input shape the README lists is read; no input makes the binary panic.
//!
//! Every run uses `--no-cache` (or `--lake <tempdir>`) and sets `KMS_AUDIT_CACHE_DIR` to a
//! temporary directory, so no test touches `~/.cache`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use tempfile::TempDir;

/// The key every test record acts on.
const KEY_ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

/// The name of the good CloudTrail file each case puts next to its bad input.
const GOOD: &str = "good.json";

/// Records in [`GOOD`].
const GOOD_RECORDS: u64 = 2;

/// A distinct, UUID-shaped id for record `n`.
fn uuid(n: u32) -> String {
    format!("6f1c1a5e-3b7d-4c2a-9e0f-{n:012x}")
}

/// A realistic KMS `Decrypt` record by an assumed role; `n` makes its eventID, requestID and
/// eventTime unique.
fn record(n: u32) -> Value {
    json!({
        "eventVersion": "1.11",
        "userIdentity": {
            "type": "AssumedRole",
            "principalId": "AROAEXAMPLEROLEID12345:app-session",
            "arn": "arn:aws:sts::111122223333:assumed-role/AppRole/app-session",
            "accountId": "111122223333",
            "accessKeyId": "ASIAEXAMPLEKEYID1234",
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "principalId": "AROAEXAMPLEROLEID12345",
                    "arn": "arn:aws:iam::111122223333:role/AppRole",
                    "accountId": "111122223333",
                    "userName": "AppRole"
                },
                "attributes": {
                    "creationDate": "2026-01-02T02:00:00Z",
                    "mfaAuthenticated": "false"
                }
            }
        },
        "eventTime": format!("2026-01-02T03:{:02}:{:02}Z", (n / 60) % 60, n % 60),
        "eventSource": "kms.amazonaws.com",
        "eventName": "Decrypt",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.10",
        "userAgent": "aws-sdk-java/2.25.0 Linux/6.1 OpenJDK_64-Bit_Server_VM/17.0.9 Java/17.0.9",
        "requestParameters": {
            "encryptionAlgorithm": "SYMMETRIC_DEFAULT",
            "encryptionContext": {
                "aws:s3:arn": "arn:aws:s3:::example-bucket/reports/2026-01-02.csv"
            }
        },
        "responseElements": null,
        "additionalEventData": {
            "keyMaterialId": "249ff1560efc7b313c30919fb4f95b43831f4dddb51134f69816742654cf2919"
        },
        "requestID": uuid(0x00f0_0000 + n),
        "eventID": uuid(n),
        "readOnly": true,
        "resources": [{
            "accountId": "111122223333",
            "type": "AWS::KMS::Key",
            "ARN": KEY_ARN
        }],
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": "111122223333",
        "eventCategory": "Management"
    })
}

/// A delivery file `{"Records":[…]}` on one line, as CloudTrail writes it.
fn delivery(records: &[Value]) -> String {
    serde_json::to_string(&json!({ "Records": records })).expect("serializes")
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).expect("gzip write");
    enc.finish().expect("gzip finish")
}

/// What one run of the binary did.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    /// Exit code 0, the JSON summary parsed.
    fn ok_json(&self) -> Value {
        assert_eq!(
            self.code,
            Some(0),
            "expected success\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        serde_json::from_str(&self.stdout).unwrap_or_else(|err| {
            panic!(
                "stdout is not JSON ({err}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Exit code 2 with `error:` naming `file` and `--strict` on stderr, nothing on stdout.
    fn assert_strict_stop(&self, file: &str) {
        assert_eq!(
            self.code,
            Some(2),
            "--strict must exit 2\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        let error = self
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("no `error:` line on stderr:\n{}", self.stderr));
        assert!(error.contains(file), "error does not name {file}: {error}");
        assert!(
            error.contains("--strict"),
            "error does not name --strict: {error}"
        );
        assert!(
            self.stdout.is_empty(),
            "stdout after a --strict stop: {}",
            self.stdout
        );
    }

    /// The `warning:` lines on stderr that mention `needle`.
    fn warnings_about(&self, needle: &str) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("warning: ") && l.contains(needle))
            .collect()
    }
}

/// A scratch directory of inputs (with the good file) and a scratch cache directory.
struct Case {
    inputs: TempDir,
    cache: TempDir,
}

impl Case {
    /// A case whose input directory holds only [`GOOD`].
    fn new() -> Self {
        let case = Self {
            inputs: tempfile::tempdir().expect("tempdir"),
            cache: tempfile::tempdir().expect("tempdir"),
        };
        case.write(GOOD, delivery(&[record(1), record(2)]));
        case
    }

    fn dir(&self) -> &Path {
        self.inputs.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// The file as kms-audit displays it when it walks the input directory.
    fn shown(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, bytes).expect("write input");
        path
    }

    /// Runs the binary with `args`, `KMS_AUDIT_CACHE_DIR` pointing at the scratch cache.
    fn run(&self, args: &[&str], stdin: Option<Vec<u8>>) -> Run {
        let mut cmd = assert_cmd::cargo::cargo_bin_cmd!("kms-audit");
        cmd.args(args)
            .env("KMS_AUDIT_CACHE_DIR", self.cache.path())
            .env_remove("RUST_BACKTRACE");
        if let Some(bytes) = stdin {
            cmd.write_stdin(bytes);
        }
        let output = cmd.output().expect("kms-audit runs");
        let run = Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        // Case (14): whatever the input, no panic.
        assert!(
            !run.stderr.contains("panicked"),
            "kms-audit panicked on {args:?}:\n{}",
            run.stderr
        );
        assert!(
            run.code.is_some(),
            "kms-audit was killed by a signal on {args:?}:\n{}",
            run.stderr
        );
        run
    }

    /// `kms-audit scan PATHS --no-cache --format json EXTRA`.
    fn scan_paths(&self, paths: &[&Path], extra: &[&str]) -> Run {
        let mut args: Vec<String> = vec!["scan".into()];
        args.extend(paths.iter().map(|p| p.display().to_string()));
        args.extend(["--no-cache", "--format", "json"].map(String::from));
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(&args, None)
    }

    /// Scans the whole input directory.
    fn scan(&self, extra: &[&str]) -> Run {
        self.scan_paths(&[self.dir()], extra)
    }

    /// Scans the whole input directory with `--strict`.
    fn scan_strict(&self) -> Run {
        self.scan(&["--strict"])
    }
}

/// A count in the JSON summary, by JSON pointer.
fn count(summary: &Value, pointer: &str) -> u64 {
    summary
        .pointer(pointer)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no count at {pointer} in {summary:#}"))
}

/// The problems reported for the file whose displayed name ends with `name`.
fn problems_of<'v>(summary: &'v Value, name: &str) -> Vec<&'v Value> {
    summary["problems"]
        .as_array()
        .expect("problems is an array")
        .iter()
        .filter(|p| p["file"].as_str().is_some_and(|f| f.ends_with(name)))
        .collect()
}

/// The `Decrypt` events counted in the summary's event-name breakdown.
fn decrypt_events(summary: &Value) -> u64 {
    summary["events"]["event_names"]["top"]
        .as_array()
        .expect("top event names")
        .iter()
        .find(|c| c["value"] == "Decrypt")
        .and_then(|c| c["events"].as_u64())
        .unwrap_or(0)
}

/// Asserts the counts every case shares: the good file is found and stored, and the summary
/// agrees with itself.
fn assert_good_file_stored(summary: &Value, stored: u64) {
    assert_eq!(
        count(summary, "/input/records_stored"),
        stored,
        "{summary:#}"
    );
    assert_eq!(count(summary, "/events/events"), stored, "{summary:#}");
    assert_eq!(decrypt_events(summary), stored, "{summary:#}");
    assert!(
        problems_of(summary, GOOD).is_empty(),
        "the good file has problems: {summary:#}"
    );
}

/// Asserts that `name` is skipped as a whole with one file-level problem of `kind`, and
/// nothing else is wrong: the good file's records are all there.
fn assert_file_skipped(case: &Case, name: &str, kind: &str) -> Value {
    let run = case.scan(&[]);
    let summary = run.ok_json();
    let problems = problems_of(&summary, name);
    assert_eq!(problems.len(), 1, "one problem for {name}: {summary:#}");
    assert_eq!(problems[0]["kind"], kind, "{summary:#}");
    assert_eq!(
        problems[0]["location"],
        json!({"at": "file"}),
        "{summary:#}"
    );
    assert_eq!(problems[0]["file"], case.shown(name), "{summary:#}");
    assert_eq!(count(&summary, "/input/files_skipped"), 1, "{summary:#}");
    assert_eq!(count(&summary, "/input/files_in_lake"), 1, "{summary:#}");
    assert_eq!(count(&summary, "/input/files_damaged"), 0, "{summary:#}");
    assert_eq!(count(&summary, "/input/records_skipped"), 0, "{summary:#}");
    assert_eq!(
        count(&summary, "/input/records_read"),
        GOOD_RECORDS,
        "{summary:#}"
    );
    assert_good_file_stored(&summary, GOOD_RECORDS);
    let warnings = run.warnings_about(&case.shown(name));
    assert_eq!(
        warnings.len(),
        1,
        "one warning naming {name}:\n{}",
        run.stderr
    );
    assert!(
        warnings[0].starts_with(&format!("warning: {}: ", case.shown(name))),
        "{}",
        warnings[0]
    );
    case.scan_strict().assert_strict_stop(&case.shown(name));
    summary
}

// (1) A truncated gzip file keeps the complete records before the cut.
#[test]
fn truncated_gzip_keeps_the_records_before_the_cut() {
    let case = Case::new();
    let records: Vec<Value> = (1000..1050).map(record).collect();
    let text = delivery(&records);
    let gz = gzip(text.as_bytes());
    let cut = &gz[..gz.len() / 2];
    let name = "111122223333_CloudTrail_us-east-1_20260102T0310Z_cut.json.gz";
    case.write(name, cut);

    // What an independent inflate of the cut file yields: the complete records in it.
    let mut prefix = Vec::new();
    let _ = flate2::read::GzDecoder::new(cut).read_to_end(&mut prefix);
    let prefix = String::from_utf8(prefix).expect("ASCII prefix");
    let salvaged = records
        .iter()
        .map(|r| serde_json::to_string(r).expect("record"))
        .take_while(|r| prefix.contains(r.as_str()))
        .count() as u64;
    assert!(
        (1..50).contains(&salvaged),
        "the test file should hold some but not all records, holds {salvaged}"
    );

    let run = case.scan(&[]);
    let summary = run.ok_json();
    let problems = problems_of(&summary, name);
    let gzip_problem = problems
        .iter()
        .find(|p| p["kind"] == "gzip")
        .unwrap_or_else(|| panic!("a gzip problem: {summary:#}"));
    assert_eq!(gzip_problem["location"], json!({"at": "file"}));
    assert!(problems
        .iter()
        .all(|p| p["location"] == json!({"at": "file"})));
    assert_eq!(count(&summary, "/input/files_found"), 2);
    assert_eq!(count(&summary, "/input/files_in_lake"), 2);
    assert_eq!(count(&summary, "/input/files_damaged"), 1);
    assert_eq!(count(&summary, "/input/files_skipped"), 0);
    assert_eq!(
        count(&summary, "/input/records_read"),
        GOOD_RECORDS + salvaged
    );
    assert_eq!(count(&summary, "/input/records_skipped"), 0);
    assert_good_file_stored(&summary, GOOD_RECORDS + salvaged);
    let warnings = run.warnings_about(&case.shown(name));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("corrupt or truncated gzip")),
        "{}",
        run.stderr
    );

    case.scan_strict().assert_strict_stop(&case.shown(name));
}

// (2a) A document that is not JSON at all.
#[test]
fn invalid_json_document_is_skipped() {
    let case = Case::new();
    case.write("broken.json", br#"{"Records":[{"#);
    let summary = assert_file_skipped(&case, "broken.json", "invalid-json");
    assert_eq!(count(&summary, "/input/files_found"), 2);
}

// (2b) A JavaScript object literal: unquoted keys are not JSON.
#[test]
fn javascript_object_literal_is_invalid_json() {
    let case = Case::new();
    case.write("console-paste.json", br#"[{awsRegion: "x"}]"#);
    let summary = assert_file_skipped(&case, "console-paste.json", "invalid-json");
    assert!(problems_of(&summary, "console-paste.json")[0]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("line 1")));
}

// (3) Records with wrongly typed fields cost only themselves.
#[test]
fn wrongly_typed_records_are_skipped_alone() {
    let case = Case::new();
    let mut bad_time = record(11);
    bad_time["eventTime"] = json!(12);
    let mut bad_identity = record(12);
    bad_identity["userIdentity"] = json!("bob");
    let name = "types.json";
    case.write(name, delivery(&[record(10), bad_time, bad_identity]));

    let run = case.scan(&[]);
    let summary = run.ok_json();
    let problems = problems_of(&summary, name);
    assert_eq!(problems.len(), 2, "{summary:#}");
    for (problem, index) in problems.iter().zip([1, 2]) {
        assert_eq!(problem["kind"], "bad-record", "{summary:#}");
        assert_eq!(
            problem["location"],
            json!({"at": "record", "index": index}),
            "{summary:#}"
        );
    }
    assert_eq!(count(&summary, "/input/files_in_lake"), 2);
    assert_eq!(count(&summary, "/input/files_damaged"), 1);
    assert_eq!(count(&summary, "/input/files_skipped"), 0);
    assert_eq!(count(&summary, "/input/records_read"), GOOD_RECORDS + 1);
    assert_eq!(count(&summary, "/input/records_skipped"), 2);
    assert_good_file_stored(&summary, GOOD_RECORDS + 1);
    for index in [1, 2] {
        let prefix = format!("warning: {}: record {index}: ", case.shown(name));
        assert!(
            run.stderr.lines().any(|l| l.starts_with(&prefix)),
            "no `{prefix}` on stderr:\n{}",
            run.stderr
        );
    }
    assert!(run.stderr.contains("eventTime") || run.stderr.contains("integer"));

    let strict = case.scan_strict();
    strict.assert_strict_stop(&case.shown(name));
    assert!(strict.stderr.contains("record 1"), "{}", strict.stderr);
}

// (4) A field far larger than CloudTrail allows costs its record.
#[test]
fn oversized_field_skips_the_record() {
    let case = Case::new();
    let mut huge = record(21);
    huge["userAgent"] = json!("A".repeat(2 << 20));
    let name = "huge.json";
    case.write(name, delivery(&[record(20), huge]));

    let run = case.scan(&[]);
    let summary = run.ok_json();
    let problems = problems_of(&summary, name);
    assert_eq!(problems.len(), 1, "{summary:#}");
    assert_eq!(problems[0]["kind"], "field-too-large");
    assert_eq!(problems[0]["location"], json!({"at": "record", "index": 1}));
    let detail = problems[0]["detail"].as_str().expect("detail");
    assert!(detail.contains("user_agent"), "{detail}");
    assert!(detail.contains("1 MiB"), "{detail}");
    assert_eq!(count(&summary, "/input/files_damaged"), 1);
    assert_eq!(count(&summary, "/input/files_skipped"), 0);
    assert_eq!(count(&summary, "/input/records_skipped"), 1);
    assert_good_file_stored(&summary, GOOD_RECORDS + 1);
    let warning = run.warnings_about(&case.shown(name));
    assert_eq!(warning.len(), 1, "{}", run.stderr);
    assert!(
        warning[0].starts_with(&format!("warning: {}: record 1: ", case.shown(name)))
            && warning[0].contains("user_agent")
            && warning[0].contains("1 MiB"),
        "{}",
        warning[0]
    );

    case.scan_strict().assert_strict_stop(&case.shown(name));
}

// (5) Bytes that are not UTF-8 cost only the record holding them.
#[test]
fn invalid_utf8_skips_only_the_record_holding_it() {
    let case = Case::new();
    let mut odd = record(31);
    odd["userAgent"] = json!("Mozilla/5.0 (caf@@ browser)");
    let mut bytes = delivery(&[record(30), odd, record(32)]).into_bytes();
    let at = bytes
        .windows(2)
        .position(|w| w == b"@@")
        .expect("placeholder");
    bytes[at] = 0xe9; // Latin-1 'é'
    bytes[at + 1] = b'!';
    assert!(std::str::from_utf8(&bytes).is_err());
    let name = "latin1.json";
    case.write(name, bytes);

    let run = case.scan(&[]);
    let summary = run.ok_json();
    let problems = problems_of(&summary, name);
    assert_eq!(problems.len(), 1, "{summary:#}");
    assert_eq!(problems[0]["kind"], "invalid-utf8");
    assert_eq!(problems[0]["location"], json!({"at": "record", "index": 1}));
    assert_eq!(count(&summary, "/input/files_damaged"), 1);
    assert_eq!(count(&summary, "/input/files_skipped"), 0);
    assert_eq!(count(&summary, "/input/records_read"), GOOD_RECORDS + 2);
    assert_eq!(count(&summary, "/input/records_skipped"), 1);
    assert_good_file_stored(&summary, GOOD_RECORDS + 2);
    let prefix = format!("warning: {}: record 1: ", case.shown(name));
    assert!(
        run.stderr.lines().any(|l| l.starts_with(&prefix)),
        "{}",
        run.stderr
    );

    case.scan_strict().assert_strict_stop(&case.shown(name));
}

// (6a) A 0-byte file.
#[test]
fn empty_file_is_skipped() {
    let case = Case::new();
    case.write("empty.json", b"");
    assert_file_skipped(&case, "empty.json", "empty");
}

// (6b) A file of whitespace only.
#[test]
fn whitespace_only_file_is_skipped() {
    let case = Case::new();
    case.write("blank.json", b" \n\t\r\n  \n");
    assert_file_skipped(&case, "blank.json", "empty");
}

// (7a) A dangling symlink in a scanned directory (unreadable even for root).
#[test]
fn dangling_symlink_is_unreadable() {
    let case = Case::new();
    std::os::unix::fs::symlink("nowhere.json", case.path("broken.json")).expect("symlink");
    let summary = assert_file_skipped(&case, "broken.json", "unreadable");
    assert_eq!(count(&summary, "/input/files_found"), 1, "{summary:#}");
}

// (7b) A file without read permission (only meaningful when not running as root).
#[test]
fn file_without_read_permission_is_unreadable() {
    use std::os::unix::fs::PermissionsExt;
    let case = Case::new();
    let path = case.write("locked.json", delivery(&[record(70)]));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o000)).expect("chmod");
    if std::fs::read(&path).is_ok() {
        eprintln!(
            "SKIPPED file_without_read_permission_is_unreadable: a chmod 000 file is still \
             readable here (running as root); dangling_symlink_is_unreadable covers the case"
        );
        return;
    }
    let summary = assert_file_skipped(&case, "locked.json", "unreadable");
    assert_eq!(count(&summary, "/input/files_found"), 2, "{summary:#}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
}

// (8a) Valid JSON that is not CloudTrail.
#[test]
fn json_that_is_not_cloudtrail_is_one_file_problem() {
    let case = Case::new();
    case.write("package.json", br#"{"name":"pkg","version":"1.0"}"#);
    let summary = assert_file_skipped(&case, "package.json", "not-cloud-trail");
    assert!(problems_of(&summary, "package.json")[0]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("not CloudTrail")));
}

// (8b) A CloudTrail digest file named on the command line is read, and is not events.
#[test]
fn digest_file_named_explicitly_is_not_cloudtrail() {
    let case = Case::new();
    let digest = json!({
        "awsAccountId": "111122223333",
        "digestStartTime": "2026-01-02T00:00:00Z",
        "digestEndTime": "2026-01-02T01:00:00Z",
        "digestS3Bucket": "example-trail-bucket",
        "digestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/02/111122223333_CloudTrail-Digest_us-east-1_main_us-east-1_20260102T010000Z.json.gz",
        "digestPublicKeyFingerprint": "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        "digestSignatureAlgorithm": "SHA256withRSA",
        "newestEventTime": "2026-01-02T00:59:58Z",
        "oldestEventTime": "2026-01-02T00:00:03Z",
        "previousDigestS3Bucket": "example-trail-bucket",
        "previousDigestS3Object": "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/02/111122223333_CloudTrail-Digest_us-east-1_main_us-east-1_20260102T000000Z.json.gz",
        "previousDigestHashValue": "1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f607",
        "previousDigestHashAlgorithm": "SHA-256",
        "previousDigestSignature": "6a7b8c9d",
        "logFiles": [{
            "s3Bucket": "example-trail-bucket",
            "s3Object": "AWSLogs/111122223333/CloudTrail/us-east-1/2026/01/02/111122223333_CloudTrail_us-east-1_20260102T0005Z_abcdefghijklmnop.json.gz",
            "hashValue": "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0",
            "hashAlgorithm": "SHA-256",
            "newestEventTime": "2026-01-02T00:04:59Z",
            "oldestEventTime": "2026-01-02T00:00:03Z"
        }]
    });
    let outside = tempfile::tempdir().expect("tempdir");
    let digest_path = outside
        .path()
        .join("111122223333_CloudTrail-Digest_us-east-1_main_us-east-1_20260102T010000Z.json.gz");
    std::fs::write(
        &digest_path,
        gzip(serde_json::to_string(&digest).expect("json").as_bytes()),
    )
    .expect("write digest");
    let shown = digest_path.display().to_string();

    let run = case.scan_paths(&[case.dir(), &digest_path], &[]);
    let summary = run.ok_json();
    let problems = problems_of(&summary, &shown);
    assert_eq!(problems.len(), 1, "{summary:#}");
    assert_eq!(problems[0]["kind"], "not-cloud-trail");
    assert_eq!(problems[0]["location"], json!({"at": "file"}));
    assert!(problems[0]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("digest")));
    assert_eq!(count(&summary, "/input/files_found"), 2);
    assert_eq!(count(&summary, "/input/files_skipped"), 1);
    assert_eq!(count(&summary, "/input/records_skipped"), 0);
    assert_good_file_stored(&summary, GOOD_RECORDS);
    assert_eq!(run.warnings_about(&shown).len(), 1, "{}", run.stderr);

    case.scan_paths(&[case.dir(), &digest_path], &["--strict"])
        .assert_strict_stop(&shown);
}

// (9) A path that does not exist is a usage error, not a skipped file.
#[test]
fn nonexistent_input_path_is_an_error() {
    let case = Case::new();
    let missing = case.path("no-such-trail.json");
    for extra in [&[][..], &["--strict"][..]] {
        let run = case.scan_paths(&[&case.path(GOOD), &missing], extra);
        assert_eq!(run.code, Some(2), "{}", run.stderr);
        let error = run
            .stderr
            .lines()
            .find(|l| l.starts_with("error:"))
            .unwrap_or_else(|| panic!("no error line:\n{}", run.stderr));
        assert!(error.contains(&missing.display().to_string()), "{error}");
        assert!(run.stdout.is_empty(), "{}", run.stdout);
    }
}

// (10a) A JSON array of records.
#[test]
fn json_array_of_records_is_read() {
    let case = Case::new();
    let array = serde_json::to_string_pretty(&json!([record(40), record(41)])).expect("json");
    case.write("array.json", array);
    let summary = case.scan(&[]).ok_json();
    assert!(
        summary["problems"].as_array().expect("problems").is_empty(),
        "{summary:#}"
    );
    assert_eq!(count(&summary, "/input/files_in_lake"), 2);
    assert_good_file_stored(&summary, GOOD_RECORDS + 2);
}

// (10b) A single record object.
#[test]
fn single_record_object_is_read() {
    let case = Case::new();
    case.write(
        "one-event.json",
        serde_json::to_string_pretty(&record(42)).expect("json"),
    );
    let summary = case.scan(&[]).ok_json();
    assert!(
        summary["problems"].as_array().expect("problems").is_empty(),
        "{summary:#}"
    );
    assert_good_file_stored(&summary, GOOD_RECORDS + 1);
}

// (10c) JSON Lines: a plain record, an EventBridge envelope, a CloudTrail Lake row.
#[test]
fn json_lines_with_envelope_and_lake_row_are_read() {
    let case = Case::new();
    let plain = serde_json::to_string(&record(43)).expect("json");
    let envelope = serde_json::to_string(&json!({
        "version": "0",
        "id": "0b6d0c5e-1f0a-4c4e-9d39-2f2f1a0e6b11",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.kms",
        "account": "111122223333",
        "time": "2026-01-02T03:00:44Z",
        "region": "us-east-1",
        "resources": [],
        "detail": record(44)
    }))
    .expect("json");
    let lake_row = serde_json::to_string(&json!({
        "eventJson": serde_json::to_string(&record(45)).expect("json")
    }))
    .expect("json");
    case.write(
        "export/events.jsonl",
        format!("{plain}\n{envelope}\n{lake_row}\n"),
    );
    let summary = case.scan(&[]).ok_json();
    assert!(
        summary["problems"].as_array().expect("problems").is_empty(),
        "{summary:#}"
    );
    assert_eq!(count(&summary, "/input/files_found"), 2);
    assert_eq!(count(&summary, "/input/records_read"), GOOD_RECORDS + 3);
    assert_good_file_stored(&summary, GOOD_RECORDS + 3);
}

// (10d) A bad JSON Lines line costs only itself.
#[test]
fn json_lines_with_an_invalid_line_lose_only_that_line() {
    let case = Case::new();
    let name = "events.ndjson";
    let lines = [
        serde_json::to_string(&record(46)).expect("json"),
        r#"{"eventVersion":"1.11","eventTime":"2026-01-02T03:00:47Z","eventName": Decrypt}"#
            .to_owned(),
        serde_json::to_string(&record(48)).expect("json"),
    ];
    case.write(name, lines.join("\n") + "\n");

    let run = case.scan(&[]);
    let summary = run.ok_json();
    let problems = problems_of(&summary, name);
    assert_eq!(problems.len(), 1, "{summary:#}");
    assert_eq!(problems[0]["kind"], "invalid-json");
    assert_eq!(problems[0]["location"], json!({"at": "line", "index": 2}));
    assert_eq!(count(&summary, "/input/files_damaged"), 1);
    assert_eq!(count(&summary, "/input/files_skipped"), 0);
    assert_eq!(count(&summary, "/input/records_skipped"), 1);
    assert_good_file_stored(&summary, GOOD_RECORDS + 2);
    let prefix = format!("warning: {}: line 2: ", case.shown(name));
    assert!(
        run.stderr.lines().any(|l| l.starts_with(&prefix)),
        "{}",
        run.stderr
    );

    let strict = case.scan_strict();
    strict.assert_strict_stop(&case.shown(name));
    assert!(strict.stderr.contains("line 2"), "{}", strict.stderr);
}

// (10e) `line N` is the line of the file, blank lines at the top included.
#[test]
fn json_lines_line_numbers_count_leading_blank_lines() {
    let case = Case::new();
    let name = "padded.jsonl";
    let text = format!(
        "\n\n{}\n{{\"eventName\": oops\n{}\n",
        serde_json::to_string(&record(50)).expect("json"),
        serde_json::to_string(&record(51)).expect("json"),
    );
    case.write(name, text);
    let run = case.scan(&[]);
    let summary = run.ok_json();
    let problems = problems_of(&summary, name);
    assert_eq!(problems.len(), 1, "{summary:#}");
    // `sed -n 4p padded.jsonl` is the bad line.
    assert_eq!(
        problems[0]["location"],
        json!({"at": "line", "index": 4}),
        "{summary:#}"
    );
    assert_good_file_stored(&summary, GOOD_RECORDS + 2);
}

// (11) The S3 layout of an organization trail, digest folder set aside.
#[test]
fn s3_layout_of_an_organization_trail_skips_digests() {
    let case = Case::new();
    let day = "AWSLogs/o-abc123defg/111122223333/CloudTrail/us-east-1/2026/01/02";
    let log =
        format!("{day}/111122223333_CloudTrail_us-east-1_20260102T0305Z_AbCdEfGhIjKlMnOp.json.gz");
    case.write(
        &log,
        gzip(delivery(&[record(60), record(61), record(62)]).as_bytes()),
    );
    let digest = "AWSLogs/o-abc123defg/111122223333/CloudTrail-Digest/us-east-1/2026/01/02/111122223333_CloudTrail-Digest_us-east-1_org-trail_us-east-1_20260102T040000Z.json.gz";
    case.write(
        digest,
        gzip(br#"{"awsAccountId":"111122223333","digestStartTime":"2026-01-02T03:00:00Z","digestEndTime":"2026-01-02T04:00:00Z","logFiles":[]}"#),
    );
    case.write(".DS_Store", b"\0\0\0\x01Bud1");
    case.write(
        "AWSLogs/README.txt",
        b"synced from s3://example-trail-bucket\n",
    );

    let run = case.scan(&[]);
    let summary = run.ok_json();
    assert!(
        summary["problems"].as_array().expect("problems").is_empty(),
        "{summary:#}"
    );
    assert!(!run.stderr.contains("warning:"), "{}", run.stderr);
    assert_eq!(count(&summary, "/input/files_found"), 2);
    assert_eq!(count(&summary, "/input/files_in_lake"), 2);
    assert_eq!(
        count(&summary, "/input/files_ignored/digest"),
        1,
        "{summary:#}"
    );
    assert_eq!(
        count(&summary, "/input/files_ignored/hidden"),
        1,
        "{summary:#}"
    );
    assert_eq!(
        count(&summary, "/input/files_ignored/not-log-file"),
        1,
        "{summary:#}"
    );
    assert_good_file_stored(&summary, GOOD_RECORDS + 3);

    // Nothing to stop at in strict mode.
    let strict = case.scan_strict();
    assert_eq!(strict.code, Some(0), "{}", strict.stderr);
}

// (12a) `-` reads a delivery file from standard input.
#[test]
fn standard_input_is_read() {
    let case = Case::new();
    let bytes = std::fs::read(case.path(GOOD)).expect("good file");
    let run = case.run(
        &["scan", "-", "--no-cache", "--format", "json"],
        Some(bytes),
    );
    let summary = run.ok_json();
    assert!(
        summary["problems"].as_array().expect("problems").is_empty(),
        "{summary:#}"
    );
    assert_eq!(count(&summary, "/input/files_found"), 1);
    assert_eq!(count(&summary, "/input/files_in_lake"), 1);
    assert_good_file_stored(&summary, GOOD_RECORDS);

    // Gzip on standard input too.
    let gz = gzip(&std::fs::read(case.path(GOOD)).expect("good file"));
    let summary = case
        .run(&["scan", "-", "--no-cache", "--format", "json"], Some(gz))
        .ok_json();
    assert_good_file_stored(&summary, GOOD_RECORDS);
}

// (12b) Problems on standard input name `-`.
#[test]
fn problems_on_standard_input_name_it() {
    let case = Case::new();
    let input = br#"{"Records":[{"#.to_vec();
    let run = case.run(
        &["scan", "-", "--no-cache", "--format", "json"],
        Some(input.clone()),
    );
    let summary = run.ok_json();
    let problems = summary["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 1, "{summary:#}");
    assert_eq!(problems[0]["file"], "-");
    assert_eq!(problems[0]["kind"], "invalid-json");
    assert_eq!(count(&summary, "/input/files_skipped"), 1);
    assert_eq!(count(&summary, "/events/events"), 0);
    assert!(
        run.stderr.lines().any(|l| l.starts_with("warning: -: ")),
        "{}",
        run.stderr
    );
    let strict = case.run(
        &["scan", "-", "--no-cache", "--format", "json", "--strict"],
        Some(input),
    );
    strict.assert_strict_stop("-: ");
}

// (12c) Standard input with the default cache never leaves a cached lake behind.
#[test]
fn standard_input_with_the_default_cache_uses_no_cache() {
    let case = Case::new();
    let bytes = std::fs::read(case.path(GOOD)).expect("good file");
    let run = case.run(&["scan", "-", "--format", "json"], Some(bytes));
    let summary = run.ok_json();
    assert_good_file_stored(&summary, GOOD_RECORDS);
    assert!(summary["lake"].is_null(), "{summary:#}");
    let lakes = case.cache.path().join("lakes");
    let cached = std::fs::read_dir(&lakes).map_or(0, Iterator::count);
    assert_eq!(
        cached,
        0,
        "standard input was cached under {}",
        lakes.display()
    );
}

// (12d) Several delivery files concatenated on standard input (the `--help` example pipes a
// whole S3 prefix), as plain text and as gzip members.
#[test]
fn concatenated_delivery_files_on_standard_input_are_read() {
    let case = Case::new();
    let first = delivery(&[record(80), record(81)]);
    let second = delivery(&[record(82), record(83)]);
    let mut members = gzip(first.as_bytes());
    members.extend(gzip(second.as_bytes()));
    for input in [format!("{first}\n{second}\n").into_bytes(), members] {
        let run = case.run(
            &["scan", "-", "--no-cache", "--format", "json"],
            Some(input),
        );
        let summary = run.ok_json();
        assert!(
            summary["problems"].as_array().expect("problems").is_empty(),
            "{summary:#}"
        );
        assert_eq!(count(&summary, "/input/records_stored"), 4, "{summary:#}");
        assert_eq!(count(&summary, "/events/events"), 4, "{summary:#}");
    }
}

// The default cache: a rescan reads nothing again and repeats the recorded problems, and
// `--strict` stops at them.
#[test]
fn cached_rescan_repeats_recorded_problems() {
    let case = Case::new();
    let mut bad_time = record(91);
    bad_time["eventTime"] = json!(12);
    let name = "types.json";
    case.write(name, delivery(&[record(90), bad_time]));
    let dir = case.dir().display().to_string();
    let args = ["scan", dir.as_str(), "--format", "json"];

    let first = case.run(&args, None);
    let first_summary = first.ok_json();
    assert!(first_summary["lake"]
        .as_str()
        .is_some_and(|l| l.starts_with(&case.cache.path().display().to_string())));
    assert_eq!(count(&first_summary, "/input/files_read_now"), 2);

    let second = case.run(&args, None);
    let summary = second.ok_json();
    assert_eq!(count(&summary, "/input/files_read_now"), 0, "{summary:#}");
    assert_eq!(count(&summary, "/input/files_in_lake"), 2);
    assert_eq!(count(&summary, "/input/records_skipped"), 1);
    assert_eq!(count(&summary, "/input/files_damaged"), 1);
    assert_good_file_stored(&summary, GOOD_RECORDS + 1);
    let problems = problems_of(&summary, name);
    assert_eq!(problems.len(), 1, "{summary:#}");
    assert_eq!(problems[0]["location"], json!({"at": "record", "index": 1}));
    let prefix = format!("warning: {}: record 1: ", case.shown(name));
    assert!(
        second
            .stderr
            .lines()
            .any(|l| l.starts_with(&prefix) && l.contains("recorded when the file was ingested")),
        "{}",
        second.stderr
    );

    let strict = case.run(
        &["scan", dir.as_str(), "--format", "json", "--strict"],
        None,
    );
    strict.assert_strict_stop(&case.shown(name));
}

// `--lake DIR` gets the same counts and problems as a temporary lake.
#[test]
fn named_lake_reports_problems_like_a_temporary_one() {
    let case = Case::new();
    case.write("empty.json", b"");
    let lake = tempfile::tempdir().expect("tempdir");
    let lake_dir = lake.path().join("lake");
    let run = case.run(
        &[
            "scan",
            &case.dir().display().to_string(),
            "--lake",
            &lake_dir.display().to_string(),
            "--format",
            "json",
        ],
        None,
    );
    let summary = run.ok_json();
    assert_eq!(summary["lake"], lake_dir.display().to_string());
    assert_eq!(problems_of(&summary, "empty.json").len(), 1, "{summary:#}");
    assert_eq!(count(&summary, "/input/files_skipped"), 1);
    assert_good_file_stored(&summary, GOOD_RECORDS);
}

// The same file reached twice (through its directory and by name) is one input.
#[test]
fn same_file_named_twice_is_read_once() {
    let case = Case::new();
    let good = case.path(GOOD);
    let run = case.scan_paths(&[case.dir(), &good], &[]);
    let summary = run.ok_json();
    assert_eq!(count(&summary, "/input/files_found"), 1, "{summary:#}");
    assert_eq!(count(&summary, "/input/files_in_lake"), 1, "{summary:#}");
    assert_eq!(
        count(&summary, "/input/records_read"),
        GOOD_RECORDS,
        "{summary:#}"
    );
    assert_eq!(
        count(&summary, "/input/records_duplicate"),
        0,
        "{summary:#}"
    );
    assert_good_file_stored(&summary, GOOD_RECORDS);
}

// A delivery file cut short keeps its complete records whatever its line layout.
#[test]
fn cut_short_delivery_file_with_one_record_per_line_keeps_complete_records() {
    let case = Case::new();
    let name = "per-line.json";
    let lines: Vec<String> = (100..105)
        .map(|n| serde_json::to_string(&record(n)).expect("json"))
        .collect();
    let text = format!(
        "{{\"Records\":[\n{},\n{{\"eventVersion\":\"1.11\",\"eventTime\":\"2026-01",
        lines.join(",\n")
    );
    case.write(name, text);
    let run = case.scan(&[]);
    let summary = run.ok_json();
    let problems = problems_of(&summary, name);
    assert_eq!(problems.len(), 1, "{summary:#}");
    assert_eq!(problems[0]["kind"], "invalid-json", "{summary:#}");
    assert_eq!(
        problems[0]["location"],
        json!({"at": "file"}),
        "{summary:#}"
    );
    assert_eq!(count(&summary, "/input/records_skipped"), 0, "{summary:#}");
    assert_good_file_stored(&summary, GOOD_RECORDS + 5);
}

// A file cut inside a multi-byte character: the cut is the one problem.
#[test]
fn cut_inside_a_multibyte_character_is_one_problem() {
    let case = Case::new();
    let name = "cut-utf8.json";
    let mut last = record(112);
    last["userAgent"] = json!("Mozilla/5.0 (café browser)");
    let text = delivery(&[record(110), record(111), last]);
    let at = text.find('é').expect("é");
    case.write(name, &text.as_bytes()[..=at]);
    let run = case.scan(&[]);
    let summary = run.ok_json();
    let problems = problems_of(&summary, name);
    assert_eq!(problems.len(), 1, "{summary:#}");
    assert_eq!(problems[0]["kind"], "invalid-json", "{summary:#}");
    assert_good_file_stored(&summary, GOOD_RECORDS + 2);
}

// `--max-warnings` limits the warnings printed, not the problems counted.
#[test]
fn max_warnings_limits_printed_warnings_only() {
    let case = Case::new();
    let name = "many.json";
    let bad: Vec<Value> = (120..123)
        .map(|n| {
            let mut r = record(n);
            r["eventTime"] = json!(n);
            r
        })
        .collect();
    let mut records = vec![record(119)];
    records.extend(bad);
    case.write(name, delivery(&records));
    let run = case.scan(&["--max-warnings", "1"]);
    let summary = run.ok_json();
    assert_eq!(problems_of(&summary, name).len(), 3, "{summary:#}");
    assert_eq!(count(&summary, "/input/records_skipped"), 3);
    assert_good_file_stored(&summary, GOOD_RECORDS + 1);
    assert_eq!(
        run.warnings_about(&case.shown(name)).len(),
        1,
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .lines()
            .any(|l| l.starts_with("warning: 2 more problems not shown")),
        "{}",
        run.stderr
    );
}

// (13) Help names the input options.
#[test]
fn help_mentions_the_input_options() {
    let case = Case::new();
    let top = case.run(&["--help"], None);
    assert_eq!(top.code, Some(0), "{}", top.stderr);
    assert!(top.stdout.contains("scan"), "{}", top.stdout);
    for option in ["--strict", "--lake", "--format"] {
        assert!(
            top.stdout.contains(option),
            "kms-audit --help lacks {option}"
        );
    }
    let scan = case.run(&["scan", "--help"], None);
    assert_eq!(scan.code, Some(0), "{}", scan.stderr);
    for option in [
        "--strict",
        "--lake",
        "--no-cache",
        "--format",
        "--max-warnings",
    ] {
        assert!(
            scan.stdout.contains(option),
            "kms-audit scan --help lacks {option}:\n{}",
            scan.stdout
        );
    }
    let ingest = case.run(&["ingest", "--help"], None);
    assert_eq!(ingest.code, Some(0), "{}", ingest.stderr);
    for option in ["--strict", "--lake", "--format"] {
        assert!(
            ingest.stdout.contains(option),
            "kms-audit ingest --help lacks {option}"
        );
    }
}

// (13b) The top-level help mentions `--no-cache` too.
#[test]
fn top_level_help_mentions_no_cache() {
    let case = Case::new();
    let top = case.run(&["--help"], None);
    assert_eq!(top.code, Some(0), "{}", top.stderr);
    assert!(
        top.stdout.contains("--no-cache"),
        "kms-audit --help lacks --no-cache:\n{}",
        top.stdout
    );
}
