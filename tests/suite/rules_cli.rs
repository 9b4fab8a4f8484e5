//! The `kms-audit rules` commands end to end: list, explain, lint and test on the bundled
//! pack, on users' own rule files and on real Sigma rules, with the documented exit codes
//! (0 ok, 1 lint errors or failing tests, 2 usage or input errors).

use std::path::Path;

use serde_json::Value;
use tempfile::TempDir;

fn kms_audit() -> assert_cmd::Command {
    assert_cmd::cargo::cargo_bin_cmd!("kms-audit")
}

fn run(args: &[&str]) -> (i32, String, String) {
    let output = kms_audit().args(args).output().expect("runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A user's rule with one passing and one failing test case; `extra` is appended.
const USER_RULE: &str = "\
id: ACME.KMS.1
name: grant-created
title: A grant was created
severity: low
kind: match
what: CreateGrant calls.
why: Grants delegate key use outside the key policy.
remediation: Review the grant and retire it when no longer needed.
detection:
  selection:
    eventSource: kms.amazonaws.com
    eventName: CreateGrant
  condition: selection
tests:
  - name: a grant
    events:
      - eventTime: '2025-01-01T00:00:00Z'
        eventSource: kms.amazonaws.com
        eventName: CreateGrant
        userIdentity: { type: IAMUser, arn: 'arn:aws:iam::111122223333:user/alice' }
        requestParameters: { keyId: 'arn:aws:kms:us-east-1:111122223333:key/k1' }
    expect: { findings: 1 }
  - name: from the AWS examples file
    events:
      - ../fixtures/aws-examples/kms-doc-examples.json
    expect: { findings: 2 }
";

fn user_rules(text: &str) -> TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("acme")).expect("mkdir");
    std::fs::write(dir.path().join("acme/grant-created.yml"), text).expect("write");
    // Fixture paths are relative to the rule file: make ../fixtures resolve.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    std::fs::create_dir_all(dir.path().join("fixtures/aws-examples")).expect("mkdir");
    std::fs::copy(
        fixtures.join("aws-examples/kms-doc-examples.json"),
        dir.path()
            .join("fixtures/aws-examples/kms-doc-examples.json"),
    )
    .expect("copy");
    dir
}

#[test]
fn list_shows_the_bundled_pack() {
    let (code, out, _) = run(&["rules", "list"]);
    assert_eq!(code, 0);
    for id in ["KMS.LP.1", "KMS.LP.2", "KMS.LC.1", "KMS.ROT.2", "KMS.LOG.1"] {
        assert!(out.contains(id), "{out}");
    }
    let (code, out, _) = run(&["rules", "list", "--format", "json"]);
    assert_eq!(code, 0);
    let rules: Value = serde_json::from_str(&out).expect("json");
    let rules = rules.as_array().expect("array");
    assert!(rules.len() >= 5);
    let lc = rules
        .iter()
        .find(|r| r["id"] == "KMS.LC.1")
        .expect("KMS.LC.1");
    assert_eq!(lc["severity"], "high");
    assert_eq!(lc["kind"], "match");
    assert_eq!(lc["format"], "native");
    assert_eq!(lc["params"]["exempt_principals"], serde_json::json!([]));
}

#[test]
fn explain_prints_the_rule_documentation() {
    let (code, out, _) = run(&["rules", "explain", "kms.rot.2"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with("KMS.ROT.2 key-rotation-disabled — "),
        "{out}"
    );
    for part in [
        "What it flags",
        "Why it matters",
        "Remediation",
        "enable-key-rotation",
        "Rule file rules/rotation/key-rotation-disabled.yml",
        "detection:",
    ] {
        assert!(out.contains(part), "{part}: {out}");
    }
    let (code, out, _) = run(&["rules", "explain", "key-disabled-or-scheduled-for-deletion"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("exempt_principals = []  (list of texts)"),
        "{out}"
    );
    let (code, _, err) = run(&["rules", "explain", "KMS.NOPE.1"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no rule has the id or name `KMS.NOPE.1`"),
        "{err}"
    );
}

#[test]
fn lint_and_test_pass_on_the_bundled_pack() {
    let (code, out, _) = run(&["rules", "lint"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 error(s), 0 warning(s)"), "{out}");
    let (code, out, _) = run(&["rules", "test"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(" failed") && out.contains(" 0 failed"),
        "{out}"
    );
    assert!(!out.contains("FAIL"), "{out}");
}

#[test]
fn real_sigma_rules_lint_with_one_warning() {
    let sigma = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sigma");
    let (code, out, _) = run(&["rules", "lint", sigma.to_str().expect("utf-8")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 error(s), 1 warning(s)"), "{out}");
    assert!(
        out.contains("aws_delete_saml_provider.yml:26:9: warning: detection.selection.status:"),
        "{out}"
    );
}

#[test]
fn users_test_their_own_rules() {
    let dir = user_rules(USER_RULE);
    let path = dir.path().to_str().expect("utf-8");
    let (code, out, err) = run(&["rules", "test", path]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 case(s): 2 passed, 0 failed"), "{out}");

    let failing =
        user_rules(&USER_RULE.replace("expect: { findings: 2 }", "expect: { findings: 3 }"));
    let (code, out, _) = run(&[
        "rules",
        "test",
        failing.path().to_str().expect("utf-8"),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{out}");
    let results: Value = serde_json::from_str(&out).expect("json");
    let failed = results
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["status"] == "failed")
        .expect("a failed case");
    assert!(failed["message"]
        .as_str()
        .is_some_and(|m| m.contains("expected 3 finding(s), got 2")));
    assert!(
        failed["location"]
            .as_str()
            .is_some_and(|l| l.ends_with("grant-created.yml:23")),
        "{failed}"
    );
}

#[test]
fn lint_names_file_line_and_field() {
    let dir = user_rules(&USER_RULE.replace("severity: low", "severity: severe"));
    let (code, out, _) = run(&["rules", "lint", dir.path().to_str().expect("utf-8")]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("grant-created.yml:4:1: error: severity: `severe` is not allowed; expected one of: info, low, medium, high, critical"),
        "{out}"
    );
    // list and test refuse invalid rules too.
    let (code, _, err) = run(&["rules", "list", dir.path().to_str().expect("utf-8")]);
    assert_eq!(code, 2);
    assert!(err.contains("grant-created.yml:4:1: severity:"), "{err}");
    let (code, _, err) = run(&["rules", "test", dir.path().to_str().expect("utf-8")]);
    assert_eq!(code, 1);
    assert!(err.contains("severity"), "{err}");
}

#[test]
fn a_missing_path_is_a_usage_error() {
    let (code, _, err) = run(&["rules", "lint", "/nonexistent/rules"]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/rules does not exist"), "{err}");
}
