//! `state` rules end to end: the derived views built from a real lake, the bundled state
//! rules' own test cases, loader errors naming file, line and field, and the sample trail.

use std::path::{Path, PathBuf};

use kms_audit::ingest::lake::Lake;
use kms_audit::ingest::{ingest, IngestOptions, Silent};
use kms_audit::rules::eval::{evaluate, scan_parts, EvalOptions};
use kms_audit::rules::loader::{finish, load_text, Loaded};
use kms_audit::rules::testing::run_tests;
use kms_audit::rules::views::{Cell, View, Views};
use kms_audit::rules::{load_bundled, Kind};
use kms_audit::trail::discover::discover;

const ACCOUNT: &str = "111122223333";
const KEY: &str = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

fn record(name: &str, time: &str, id: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut r = serde_json::json!({
        "eventVersion": "1.08",
        "userIdentity": {"type": "IAMUser", "arn": format!("arn:aws:iam::{ACCOUNT}:user/Alice"), "accountId": ACCOUNT},
        "eventTime": time,
        "eventSource": "kms.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-west-2",
        "eventID": id,
        "eventType": "AwsApiCall",
        "recipientAccountId": ACCOUNT,
        "resources": [{"accountId": ACCOUNT, "type": "AWS::KMS::Key", "ARN": KEY}],
    });
    if let (Some(map), serde_json::Value::Object(more)) = (r.as_object_mut(), extra) {
        map.extend(more);
    }
    r
}

/// Ingests `records` into a lake under `dir` and returns its part files.
fn lake(dir: &Path, records: &[serde_json::Value]) -> Vec<PathBuf> {
    let input = dir.join("trail.json");
    std::fs::write(
        &input,
        serde_json::json!({ "Records": records }).to_string(),
    )
    .expect("write trail");
    let discovery = discover(&[input]).expect("discover");
    let mut lake = Lake::open(&dir.join("lake")).expect("lake");
    ingest(&discovery, &mut lake, &IngestOptions::default(), &Silent).expect("ingest");
    lake.part_paths()
}

fn trail() -> Vec<serde_json::Value> {
    let policy = serde_json::json!({"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "Use", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::444455556666:role/Partner", format!("arn:aws:iam::{ACCOUNT}:role/App")]}, "Action": ["kms:Decrypt"], "Resource": "*"}
    ]});
    vec![
        record(
            "CreateKey",
            "2024-01-01T00:00:00Z",
            "e-1",
            serde_json::json!({
                "requestParameters": {"keySpec": "RSA_2048", "keyUsage": "SIGN_VERIFY", "origin": "AWS_KMS"},
                "responseElements": {"keyMetadata": {"arn": KEY, "keySpec": "RSA_2048", "keyUsage": "SIGN_VERIFY", "origin": "AWS_KMS", "keyManager": "CUSTOMER", "keyState": "Enabled"}}
            }),
        ),
        record(
            "PutKeyPolicy",
            "2024-01-02T00:00:00Z",
            "e-2",
            serde_json::json!({
                "requestParameters": {"keyId": KEY, "policyName": "default", "policy": policy.to_string()}
            }),
        ),
        record(
            "CreateGrant",
            "2024-01-03T00:00:00Z",
            "e-3",
            serde_json::json!({
                "requestParameters": {"keyId": KEY, "granteePrincipal": format!("arn:aws:iam::{ACCOUNT}:role/Worker"), "operations": ["Sign"]},
                "responseElements": {"grantId": "g-1", "keyId": KEY}
            }),
        ),
        record(
            "Sign",
            "2024-01-04T00:00:00Z",
            "e-4",
            serde_json::json!({"requestParameters": {"keyId": KEY}}),
        ),
        record(
            "DisableKey",
            "2024-06-01T00:00:00Z",
            "e-5",
            serde_json::json!({"requestParameters": {"keyId": KEY}}),
        ),
        record(
            "Sign",
            "2024-06-02T00:00:00Z",
            "e-6",
            serde_json::json!({"requestParameters": {"keyId": KEY}, "errorCode": "DisabledException", "errorMessage": "disabled"}),
        ),
    ]
}

fn text<'a>(views: &'a Views, view: View, row: usize, column: &str) -> &'a Cell {
    views.table(view).get(row, column)
}

#[test]
fn views_are_derived_from_the_lake() {
    let dir = tempfile::tempdir().expect("tempdir");
    let parts = lake(dir.path(), &trail());
    let views = Views::build(scan_parts(&parts).expect("scan"), None).expect("views");

    assert_eq!(views.keys.rows.len(), 1);
    let key = |c: &str| text(&views, View::Keys, 0, c).clone();
    assert_eq!(key("key_arn"), Cell::Text(KEY.into()));
    assert_eq!(key("state"), Cell::Text("Disabled".into()));
    assert_eq!(key("can_rotate"), Cell::Bool(false));
    assert_eq!(
        key("rotate_reason"),
        Cell::Text("asymmetric key (RSA_2048)".into())
    );
    assert_eq!(key("uses_after_state_change"), Cell::Int(1));
    assert_eq!(key("material_age_days"), Cell::Int(153));

    // Root, Partner and App: one row per statement and principal.
    assert_eq!(views.policy_statements.rows.len(), 3);
    let cross: Vec<bool> = (0..3)
        .map(|r| text(&views, View::PolicyStatements, r, "cross_account") == &Cell::Bool(true))
        .collect();
    assert_eq!(cross.iter().filter(|c| **c).count(), 1);

    assert_eq!(views.grants.rows.len(), 1);
    assert_eq!(text(&views, View::Grants, 0, "retired"), &Cell::Bool(false));
    // Every API call naming the key is usage: CreateKey, PutKeyPolicy, CreateGrant,
    // DisableKey and Sign, all by Alice.
    assert_eq!(views.usage.rows.len(), 5);
    let sign = (0..5)
        .find(|r| text(&views, View::Usage, *r, "operation") == &Cell::Text("Sign".into()))
        .expect("a Sign row");
    assert_eq!(text(&views, View::Usage, sign, "crypto"), &Cell::Bool(true));
    assert_eq!(text(&views, View::Usage, sign, "calls"), &Cell::Int(1));
    assert_eq!(text(&views, View::Usage, sign, "errors"), &Cell::Int(1));

    let frame = views
        .frame(View::Keys)
        .expect("frame")
        .collect()
        .expect("collect");
    assert_eq!(frame.height(), 1);
    assert_eq!(frame.width(), View::Keys.columns().len() + 1);
}

#[test]
fn the_bundled_state_rules_pass_their_tests() {
    let loaded = load_bundled();
    assert!(loaded.is_ok(), "{:#?}", loaded.errors);
    let state: Vec<_> = loaded
        .rules
        .iter()
        .filter(|r| r.kind == Kind::State)
        .cloned()
        .collect();
    assert!(state.len() >= 12, "{} state rules", state.len());
    let results = run_tests(&state);
    let failures: Vec<String> = results
        .iter()
        .filter(|r| !r.passed())
        .map(|r| format!("{} {} ({}): {:?}", r.rule_id, r.case, r.location, r.status))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    for rule in &state {
        let cases: Vec<_> = results.iter().filter(|r| r.rule_id == rule.id).collect();
        assert!(cases.iter().any(|c| c.findings > 0), "{}", rule.id);
        assert!(cases.iter().any(|c| c.findings == 0), "{}", rule.id);
    }
}

#[test]
fn state_findings_carry_key_principal_evidence_and_detail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let parts = lake(dir.path(), &trail());
    let loaded = load_bundled();
    let rules: Vec<_> = ["KMS.ROT.1", "KMS.LC.3", "KMS.LP.12"]
        .iter()
        .map(|id| loaded.find(id).expect("bundled"))
        .collect();
    let outcome = evaluate(
        &rules,
        scan_parts(&parts).expect("scan"),
        &EvalOptions::default(),
    )
    .expect("evaluate");
    let lc3 = outcome
        .findings
        .iter()
        .find(|f| f.rule_id == "KMS.LC.3")
        .expect("key used after DisableKey");
    assert_eq!(lc3.resource.as_deref(), Some(KEY));
    let ids: Vec<_> = lc3
        .evidence
        .iter()
        .filter_map(|e| e.event_id.as_deref())
        .collect();
    assert!(ids.contains(&"e-5") && ids.contains(&"e-6"), "{ids:?}");
    let rot = outcome.findings.iter().find(|f| f.rule_id == "KMS.ROT.1");
    assert!(
        rot.is_none(),
        "a disabled key is still judged only past 365 days"
    );
    let lp = outcome
        .findings
        .iter()
        .find(|f| f.rule_id == "KMS.LP.12")
        .expect("cross-account principal");
    assert_eq!(
        lp.principal.as_deref(),
        Some("arn:aws:iam::444455556666:role/Partner")
    );
    assert!(
        lp.detail
            .as_deref()
            .is_some_and(|d| d.contains("statement: 1")),
        "{:?}",
        lp.detail
    );
}

#[test]
fn loader_errors_name_file_line_and_field() {
    let rule = "id: KMS.T.1\nname: t\ntitle: t\nseverity: low\nkind: state\nwhat: w\nwhy: w\nremediation: r\nparams:\n  days: 3\nstate:\n  view: keys\n  where:\n    age_days|gt: '%days%'\n    colour: red\ntests:\n  - name: x\n    events:\n      - {eventTime: '2024-01-01T00:00:00Z', eventSource: kms.amazonaws.com, eventName: Decrypt}\n    expect: { findings: 0 }\n";
    let mut loaded = Loaded::default();
    load_text("t.yml", None, rule, &mut loaded);
    finish(&mut loaded);
    let err = loaded.errors.first().expect("an error");
    assert_eq!(
        (err.line, err.field.as_str()),
        (15, "state.where.colour"),
        "{err}"
    );
    assert!(err.to_string().starts_with("t.yml:15:"), "{err}");

    let fixed = rule.replace("    colour: red\n", "");
    let mut loaded = Loaded::default();
    load_text("t.yml", None, &fixed, &mut loaded);
    finish(&mut loaded);
    assert!(loaded.is_ok(), "{:?}", loaded.errors);
    assert_eq!(loaded.rules[0].kind, Kind::State);
}

#[test]
fn the_sample_trail_shows_its_lifecycle_incidents() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("sample-logs");
    if !root.exists() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let discovery = discover(&[root]).expect("discover");
    let mut lake = Lake::open(&dir.path().join("lake")).expect("lake");
    ingest(&discovery, &mut lake, &IngestOptions::default(), &Silent).expect("ingest");
    let views = Views::build(scan_parts(&lake.part_paths()).expect("scan"), None).expect("views");
    assert!(!views.keys.rows.is_empty());
    assert!(!views.usage.rows.is_empty());
}
