//! `kms-audit scan --inventory` end to end through the binary: a small trail
//! (tests/fixtures/inventory/trail.json, June 2025) in which a key created in 2019 only shows
//! up in Decrypt and GenerateDataKey calls, and a key inventory snapshot taken after the logs
//! (inventory.json as AWS CLI v2 prints dates, inventory-epoch.json as CLI v1 does) saying
//! that key has rotation off, a policy statement open to `"*"` and a grant from 2020. With
//! the inventory the bundled state rules flag that key; without it they cannot. An AWS
//! managed key in the inventory is not flagged for rotation. Bad inventories exit 2 naming
//! the file and member; scripts/kms-inventory.sh, run against a stub of the AWS CLI, builds
//! an inventory that kms-audit reads.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use crate::common::repo_root;
use serde_json::Value;

const TRAIL: &str = "tests/fixtures/inventory/trail.json";
const INVENTORY: &str = "tests/fixtures/inventory/inventory.json";
const INVENTORY_EPOCH: &str = "tests/fixtures/inventory/inventory-epoch.json";
const BAD_INVENTORY: &str = "tests/fixtures/inventory/bad-inventory.json";
const SCRIPT: &str = "scripts/kms-inventory.sh";

/// The key created in 2019, before the logs begin.
const OLD_KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/0a1d0000-0000-4000-8000-000000000001";
/// An AWS managed key (aws/s3) created in 2018.
const AWS_KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/0a550000-0000-4000-8000-000000000003";
/// A key created, with rotation, in the logs.
const NEW_KEY: &str = "arn:aws:kms:us-east-1:111122223333:key/0e110000-0000-4000-8000-000000000002";

/// The bundled rules the inventory lets judge the old key: rotation off, material older than
/// the cryptoperiod, a policy statement open to anyone, a grant never retired.
const OLD_KEY_RULES: [&str; 4] = ["KMS.ROT.3", "KMS.ROT.1", "KMS.LP.10", "KMS.LP.14"];

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `kms-audit scan TRAIL --no-cache` plus `args` from the crate root.
fn scan(args: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_kms-audit"))
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .args(["scan", TRAIL, "--no-cache"])
        .args(args)
        .output()
        .expect("kms-audit runs");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The open findings of a successful `scan --format json` with `args`.
fn findings(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let run = scan(&all);
    assert_eq!(run.code, 0, "args {args:?}\nstderr:\n{}", run.stderr);
    let report: Value = serde_json::from_str(&run.stdout).expect("JSON output");
    report["findings"]["findings"]
        .as_array()
        .expect("findings")
        .clone()
}

/// `(rule_id, resource)` of every finding.
fn flagged(findings: &[Value]) -> BTreeSet<(String, String)> {
    findings
        .iter()
        .map(|f| {
            (
                f["rule_id"].as_str().unwrap_or_default().to_owned(),
                f["resource"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn has(findings: &[Value], rule: &str, key: &str) -> bool {
    flagged(findings).contains(&(rule.to_owned(), key.to_owned()))
}

#[test]
fn without_an_inventory_the_old_key_is_not_judged() {
    let found = findings(&[]);
    for rule in OLD_KEY_RULES {
        assert!(!has(&found, rule, OLD_KEY), "{rule} without inventory");
    }
}

#[test]
fn the_inventory_lets_the_rules_judge_keys_created_before_the_logs() {
    let found = findings(&["--inventory", INVENTORY]);
    for rule in OLD_KEY_RULES {
        assert!(
            has(&found, rule, OLD_KEY),
            "{rule} on the old key; found {:?}",
            flagged(&found)
        );
    }
    // The evidence of what only the inventory shows is the inventory entry.
    let rotation = found
        .iter()
        .find(|f| f["rule_id"] == "KMS.ROT.3" && f["resource"] == OLD_KEY)
        .expect("KMS.ROT.3");
    let evidence = &rotation["evidence"][0];
    assert_eq!(evidence["event_name"], "(inventory)");
    assert_eq!(evidence["source_file"], INVENTORY);
    assert_eq!(evidence["source_record"], 0);
    assert_eq!(evidence["event_time"], "2025-07-01T00:00:00Z");
    let grant = found
        .iter()
        .find(|f| f["rule_id"] == "KMS.LP.14")
        .expect("KMS.LP.14");
    assert_eq!(
        grant["principal"],
        "arn:aws:iam::111122223333:role/BatchWorker"
    );
    let detail = grant["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("created: 2020-02-01T12:00:00Z"), "{detail}");
    let policy = found
        .iter()
        .find(|f| f["rule_id"] == "KMS.LP.10")
        .expect("KMS.LP.10");
    assert_eq!(policy["principal"], "*");

    // AWS managed keys rotate every year and cannot be changed: not flagged for rotation,
    // and their policy statement for `*` is pinned by conditions.
    for rule in ["KMS.ROT.1", "KMS.ROT.3", "KMS.ROT.4", "KMS.LP.10"] {
        assert!(!has(&found, rule, AWS_KEY), "{rule} on the AWS managed key");
    }
    // The key created in the logs with rotation on stays clean.
    for rule in ["KMS.ROT.1", "KMS.ROT.3", "KMS.LP.10"] {
        assert!(!has(&found, rule, NEW_KEY), "{rule} on the new key");
    }
}

#[test]
fn iso_and_epoch_dates_give_the_same_findings() {
    let key = |f: &Value| {
        (
            f["rule_id"].to_string(),
            f["resource"].to_string(),
            f["principal"].to_string(),
            f["detail"].to_string(),
        )
    };
    let iso: Vec<_> = findings(&["--inventory", INVENTORY])
        .iter()
        .map(key)
        .collect();
    let epoch: Vec<_> = findings(&["--inventory", INVENTORY_EPOCH])
        .iter()
        .map(key)
        .collect();
    assert!(!iso.is_empty());
    assert_eq!(iso, epoch);
}

#[test]
fn a_bad_inventory_exits_2_naming_the_file_and_member() {
    let run = scan(&["--inventory", BAD_INVENTORY]);
    assert_eq!(run.code, 2, "stderr:\n{}", run.stderr);
    assert!(
        run.stderr.contains(&format!(
            "{BAD_INVENTORY}: keys[1].RotationStatus.KeyRotationEnabled: "
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("expected a boolean"), "{}", run.stderr);
    assert!(run.stdout.is_empty(), "no report: {}", run.stdout);

    let missing = "tests/fixtures/inventory/missing.json";
    let run = scan(&["--inventory", missing]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&format!("{missing}: cannot be read")),
        "{}",
        run.stderr
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let cases = [
        (
            r#"{"taken":"2025-07-01T00:00:00Z","keys":[{"DescribeKey":{"KeyMetadata":{"Arn":"arn:aws:kms:us-east-1:111122223333:key/k"}},"Policy":{}}]}"#,
            "keys[0].Policy: unknown field `Policy`",
        ),
        (
            r#"{"taken":"July","keys":[]}"#,
            "taken: `July` is not an ISO 8601 time",
        ),
        (
            r#"{"taken":"2025-07-01T00:00:00Z","keys":[{"DescribeKey":{"KeyMetadata":{"Arn":"arn:aws:kms:us-east-1:111122223333:key/k","CreationDate":"2019-01-01"}}}]}"#,
            "keys[0].DescribeKey.KeyMetadata.CreationDate: `2019-01-01` is not",
        ),
    ];
    for (index, (text, needle)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("inventory-{index}.json"));
        std::fs::write(&file, text).expect("write inventory");
        let shown = file.display().to_string();
        let run = scan(&["--inventory", &shown]);
        assert_eq!(run.code, 2, "{text}\nstderr:\n{}", run.stderr);
        assert!(
            run.stderr.contains(&format!("{shown}: {needle}")),
            "{}",
            run.stderr
        );
    }
}

/// A stand-in for the AWS CLI: `aws [global options] kms OP [--key-id ARN] …` prints
/// `$KMS_STUB/OP.json` or `$KMS_STUB/KEY-ID/OP.json`, or fails as the CLI does.
const AWS_STUB: &str = r#"#!/bin/sh
while [ $# -gt 0 ] && [ "$1" != kms ]; do shift; done
shift
op=$1
shift
key=""
while [ $# -gt 0 ]; do
    case "$1" in
        --key-id) key=$2; shift 2 ;;
        *) shift ;;
    esac
done
if [ -n "$key" ]; then file="$KMS_STUB/${key##*/}/$op.json"; else file="$KMS_STUB/$op.json"; fi
if [ -f "$file" ]; then
    cat "$file"
else
    echo "An error occurred (AccessDeniedException) when calling $op: stub" >&2
    exit 254
fi
"#;

/// The CLI command whose output each inventory member is.
const MEMBERS: [(&str, &str); 5] = [
    ("DescribeKey", "describe-key"),
    ("KeyPolicy", "get-key-policy"),
    ("Grants", "list-grants"),
    ("RotationStatus", "get-key-rotation-status"),
    ("KeyRotations", "list-key-rotations"),
];

/// Writes the stub's answers: the outputs in `inventory`, key by key, plus a key that
/// describe-key cannot read.
fn stub_outputs(dir: &Path, inventory: &Value) {
    let keys = inventory["keys"].as_array().expect("keys");
    let mut listed = Vec::new();
    for key in keys {
        let arn = key["DescribeKey"]["KeyMetadata"]["Arn"]
            .as_str()
            .expect("Arn");
        let id = arn.rsplit('/').next().expect("key id");
        listed.push(serde_json::json!({"KeyId": id, "KeyArn": arn}));
        let key_dir = dir.join(id);
        std::fs::create_dir_all(&key_dir).expect("key dir");
        for (member, command) in MEMBERS {
            if let Some(output) = key.get(member) {
                let text = serde_json::to_string_pretty(output).expect("json");
                std::fs::write(key_dir.join(format!("{command}.json")), text).expect("write");
            }
        }
    }
    listed.push(serde_json::json!({
        "KeyId": "no-access",
        "KeyArn": "arn:aws:kms:us-east-1:111122223333:key/no-access"
    }));
    let list = serde_json::json!({ "Keys": listed });
    std::fs::write(dir.join("list-keys.json"), list.to_string()).expect("write list-keys");
}

fn available(tool: &str, args: &[&str]) -> bool {
    Command::new(tool)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_script_builds_an_inventory_that_scan_reads() {
    if !available("jq", &["--version"]) || !available("sh", &["-c", "exit 0"]) {
        eprintln!("skipped: scripts/kms-inventory.sh needs sh and jq");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = dir.path().join("bin");
    let outputs = dir.path().join("outputs");
    std::fs::create_dir_all(&bin).expect("bin dir");
    std::fs::create_dir_all(&outputs).expect("outputs dir");
    let stub = bin.join("aws");
    std::fs::write(&stub, AWS_STUB).expect("write stub");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join(INVENTORY)).expect("read inventory"),
    )
    .expect("inventory JSON");
    stub_outputs(&outputs, &expected);

    let written = dir.path().join("inventory.json");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("sh")
        .current_dir(repo_root())
        .env("PATH", path)
        .env("KMS_STUB", &outputs)
        .args([SCRIPT, "--region", "us-east-1", "--output"])
        .arg(&written)
        .output()
        .expect("the script runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr:\n{stderr}");
    assert!(
        stderr.contains("key/no-access: aws kms describe-key failed"),
        "{stderr}"
    );

    let built: Value = serde_json::from_str(&std::fs::read_to_string(&written).expect("read"))
        .expect("the script writes JSON");
    assert_eq!(built["keys"], expected["keys"], "outputs kept verbatim");
    let taken = built["taken"].as_str().expect("taken");
    assert!(
        chrono::DateTime::parse_from_rfc3339(taken).is_ok(),
        "taken {taken}"
    );

    let found = findings(&["--inventory", &written.display().to_string()]);
    for rule in OLD_KEY_RULES {
        assert!(
            has(&found, rule, OLD_KEY),
            "{rule} with the script's inventory"
        );
    }
}
