//! Real Sigma rules (SigmaHQ, copied in tests/fixtures/sigma/) load unchanged and evaluate
//! over a lake built from real CloudTrail records, in the same single pass as the bundled
//! pack; the Sigma features they use behave as Sigma defines them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kms_audit::ingest::lake::Lake;
use kms_audit::ingest::{ingest, IngestOptions, Silent};
use kms_audit::rules::model::{Format, Kind, Rule};
use kms_audit::rules::plan::MatchPlan;
use kms_audit::rules::{evaluate, load_bundled, load_paths, scan_parts, EvalOptions, MatchOutcome};
use kms_audit::trail::discover::discover;
use serde_json::json;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn sigma_rules() -> Vec<Rule> {
    let loaded = load_paths(&[fixtures().join("sigma")]);
    assert!(loaded.is_ok(), "{:#?}", loaded.errors);
    loaded.rules
}

/// Ingests `inputs` into a lake in a temporary directory and evaluates `rules` over it.
fn run(rules: &[&Rule], inputs: &[PathBuf]) -> MatchOutcome {
    let dir = tempfile::tempdir().expect("tempdir");
    let discovery = discover(inputs).expect("inputs exist");
    let mut lake = Lake::open(&dir.path().join("lake")).expect("lake");
    let options = IngestOptions {
        strict: true,
        threads: 2,
        ..IngestOptions::default()
    };
    ingest(&discovery, &mut lake, &options, &Silent).expect("ingest");
    let events = scan_parts(&lake.part_paths()).expect("scan");
    evaluate(rules, events, &EvalOptions::default()).expect("evaluate")
}

/// Matched events by rule name.
fn matched_by_name(rules: &[&Rule], outcome: &MatchOutcome) -> HashMap<String, u64> {
    outcome
        .matched
        .iter()
        .map(|(id, n)| {
            let rule = rules.iter().find(|r| &r.id == id).expect("known rule");
            (rule.name.clone(), *n)
        })
        .collect()
}

#[test]
fn every_fixture_sigma_rule_loads_unchanged() {
    let loaded = load_paths(&[fixtures().join("sigma")]);
    assert!(loaded.is_ok(), "{:#?}", loaded.errors);
    let files = std::fs::read_dir(fixtures().join("sigma"))
        .expect("fixture dir")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "yml"))
        .count();
    assert_eq!(loaded.rules.len(), files);
    assert!(files >= 15);
    for rule in &loaded.rules {
        assert_eq!(rule.format, Format::Sigma, "{}", rule.name);
        assert!(rule.tests.is_empty());
    }
    // The only doubt: a field CloudTrail does not have.
    let warned: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warned.len(), 1, "{warned:#?}");
    assert!(
        warned[0].contains("aws_delete_saml_provider.yml:26:9: detection.selection.status"),
        "{warned:?}"
    );
    let mfa = loaded
        .find("77caf516-34e5-4df9-b4db-20744fea0a60")
        .expect("found by id");
    assert_eq!(mfa.name, "aws_cloudtrail_console_login_success_without_mfa");
    assert_eq!(mfa.title, "AWS Successful Console Login Without MFA");
}

#[test]
fn sigma_rules_and_the_pack_share_one_pass_over_real_records() {
    let sigma = sigma_rules();
    let pack = load_bundled();
    assert!(pack.is_ok());
    // The match rules: the pack's state and window rules have passes of their own.
    let rules: Vec<&Rule> = sigma
        .iter()
        .chain(pack.rules.iter())
        .filter(|r| r.kind == Kind::Match)
        .collect();

    // Equal field tests are evaluated once for all rules.
    let plan = MatchPlan::new(&rules);
    let written: usize = rules
        .iter()
        .filter_map(|r| r.detection())
        .map(|d| d.leaves().len())
        .sum();
    assert!(
        plan.leaf_count() < written,
        "{} of {written}",
        plan.leaf_count()
    );

    let mut inputs: Vec<PathBuf> = std::fs::read_dir(fixtures().join("sigma/events"))
        .expect("events")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    inputs.sort();
    inputs.push(fixtures().join("aws-examples/kms-doc-examples.json"));
    let outcome = run(&rules, &inputs);
    let matched = matched_by_name(&rules, &outcome);

    let expected: &[(&str, u64)] = &[
        ("aws_cloudtrail_console_login_success_without_mfa", 1),
        ("aws_cloudtrail_disable_logging", 2),
        ("aws_cloudtrail_vpc_flow_logs_deleted", 1),
        ("aws_kms_import_key_material", 1),
        ("aws_sts_assumerole_misuse", 7),
        ("key-disabled-or-scheduled-for-deletion", 4),
        ("key-rotation-disabled", 1),
        ("trail-logging-stopped-or-changed", 2),
    ];
    for (name, n) in &matched {
        let want = expected
            .iter()
            .find(|(e, _)| e == name)
            .map_or(0, |(_, n)| *n);
        assert_eq!(*n, want, "{name}");
    }
    assert_eq!(matched.len(), rules.len());

    // The AWS examples reuse some eventIDs; the lake keeps the first record of each, so one
    // ScheduleKeyDeletion example is stored once and 4 key retirements remain, each its own
    // finding (the role session's is grouped under its role).
    let lifecycle: Vec<_> = outcome
        .findings
        .iter()
        .filter(|f| f.rule_id == "KMS.LC.1")
        .collect();
    assert_eq!(lifecycle.len(), 4);
    let by_role = lifecycle
        .iter()
        .find(|f| {
            f.resource.as_deref()
                == Some(
                    "arn:aws:kms:us-east-1:715248393954:key/55487ec5-4c6b-4c87-80e5-3cfa8bcfc271",
                )
        })
        .expect("DisableKey by a role session");
    assert_eq!(
        by_role.principal.as_deref(),
        Some("arn:aws:iam::715248393954:role/voclabs")
    );
    assert_eq!(by_role.count, 1);
    assert_eq!(by_role.first_seen, by_role.last_seen);
    assert_eq!(by_role.evidence.len(), 1);
    let severities: Vec<_> = outcome.findings.iter().map(|f| f.severity).collect();
    assert!(
        severities.windows(2).all(|w| w[0] >= w[1]),
        "{severities:?}"
    );

    // The trail rule names the trail and points at the record.
    let stop = outcome
        .findings
        .iter()
        .find(|f| {
            f.rule_id == "KMS.LOG.1"
                && f.resource.as_deref() == Some("stratus-red-team-ct-stop-trail-buykxbqejv")
        })
        .expect("StopLogging finding");
    assert_eq!(
        stop.principal.as_deref(),
        Some("arn:aws:iam::143434273843:user/christophe")
    );
    assert_eq!(stop.first_seen, "2024-07-31T13:06:24Z");
    let evidence = &stop.evidence[0];
    assert_eq!(
        evidence.event_id.as_deref(),
        Some("10163ed2-2253-469d-a5ee-cbc6651f8934")
    );
    assert_eq!(evidence.event_name, "StopLogging");
    assert!(
        evidence.source_file.ends_with("StopCloudtrailTrail.json"),
        "{}",
        evidence.source_file
    );
    assert_eq!(evidence.source_record, 0);
    assert!(stop
        .remediation
        .as_deref()
        .is_some_and(|r| r.contains("start-logging")));

    // Sigma findings default to the KMS key, else the first resource ARN.
    let import = outcome
        .findings
        .iter()
        .find(|f| f.rule_name == "aws_kms_import_key_material")
        .expect("import finding");
    assert!(import
        .resource
        .as_deref()
        .is_some_and(|r| r.starts_with("arn:aws:kms:")));

    // Finding ids are stable from run to run.
    let again = run(&rules, &inputs);
    let ids = |o: &MatchOutcome| o.findings.iter().map(|f| f.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&outcome), ids(&again));
}

fn record(id: &str, source: &str, name: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut record = json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice", "accountId": "111122223333"},
        "eventTime": "2025-01-02T03:04:05Z",
        "eventSource": source,
        "eventName": name,
        "awsRegion": "us-east-1",
        "sourceIPAddress": "203.0.113.9",
        "userAgent": "aws-cli/2.15.0",
        "eventID": id,
        "eventType": "AwsApiCall",
        "recipientAccountId": "111122223333",
    });
    if let (Some(base), serde_json::Value::Object(extra)) = (record.as_object_mut(), extra) {
        for (k, v) in extra {
            base.insert(k, v);
        }
    }
    record
}

/// Rule name → eventIDs it matched.
fn hits(rules: &[&Rule], records: Vec<serde_json::Value>) -> HashMap<String, Vec<String>> {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.json");
    std::fs::write(&path, json!({ "Records": records }).to_string()).expect("write");
    let outcome = run(rules, &[path]);
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for finding in &outcome.findings {
        let ids = out.entry(finding.rule_name.clone()).or_default();
        ids.extend(finding.evidence.iter().filter_map(|e| e.event_id.clone()));
        ids.sort();
    }
    out
}

#[test]
fn sigma_features_behave_as_specified() {
    let sigma = sigma_rules();
    let rules: Vec<&Rule> = sigma.iter().collect();
    let records = vec![
        // fieldref: the filter holds only when the two fields are equal.
        record(
            "login-other",
            "iam.amazonaws.com",
            "UpdateLoginProfile",
            json!({"requestParameters": {"userName": "bob"}}),
        ),
        record(
            "login-self",
            "iam.amazonaws.com",
            "UpdateLoginProfile",
            json!({
            "userIdentity": {"type": "IAMUser", "arn": "Bob", "accountId": "111122223333"},
            "requestParameters": {"userName": "bob"}}),
        ),
        // A JSON boolean compared with the text 'false'; errorCode absent is `null`.
        record(
            "gd-off",
            "guardduty.amazonaws.com",
            "UpdateDetector",
            json!({"requestParameters": {"detectorId": "d1", "enable": false}}),
        ),
        record(
            "gd-on",
            "guardduty.amazonaws.com",
            "UpdateDetector",
            json!({"requestParameters": {"detectorId": "d1", "enable": true}}),
        ),
        record(
            "gd-delete-failed",
            "guardduty.amazonaws.com",
            "DeleteDetector",
            json!({"errorCode": "AccessDenied"}),
        ),
        // A path through an array of objects and an array of strings.
        record(
            "ecs-creds",
            "ecs.amazonaws.com",
            "RegisterTaskDefinition",
            json!({"requestParameters": {"containerDefinitions": [
            {"name": "a", "command": ["sh"]},
            {"name": "b", "command": ["sh", "-c", "curl 169.254.170.2$AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]}]}}),
        ),
        record(
            "ecs-plain",
            "ecs.amazonaws.com",
            "RegisterTaskDefinition",
            json!({"requestParameters": {"containerDefinitions": [{"command": ["nginx"]}]}}),
        ),
        // contains|all over the whole requestParameters object.
        record(
            "s3b-all",
            "iam.amazonaws.com",
            "PutUserPolicy",
            json!({"userAgent": "S3 Browser 11.5.7 https://s3browser.com",
            "requestParameters": {"policyDocument": "{\"Statement\":[{\"Effect\":\"Allow\",\"Action\":[\"s3:GetObject\"],\"Resource\":[\"arn:aws:s3:::<YOUR-BUCKET-NAME>/*\"]}]}"}}),
        ),
        record(
            "s3b-deny",
            "iam.amazonaws.com",
            "PutUserPolicy",
            json!({"userAgent": "S3 Browser 11.5.7",
            "requestParameters": {"policyDocument": "{\"Statement\":[{\"Effect\":\"Deny\",\"Action\":[\"s3:GetObject\"],\"Resource\":[\"arn:aws:s3:::<YOUR-BUCKET-NAME>/*\"]}]}"}}),
        ),
        // startswith on the name, contains '*' (any value) on a list.
        record(
            "layer",
            "lambda.amazonaws.com",
            "UpdateFunctionConfiguration20150331v2",
            json!({"requestParameters": {"functionName": "f", "layers": ["arn:aws:lambda:us-east-1:111122223333:layer:x:1"]}}),
        ),
        record(
            "no-layer",
            "lambda.amazonaws.com",
            "UpdateFunctionConfiguration20150331v2",
            json!({"requestParameters": {"functionName": "f", "timeout": 30}}),
        ),
        // re, and a filter that is a list of mappings.
        record(
            "imds",
            "s3.amazonaws.com",
            "ListBuckets",
            json!({"userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/aws:ec2-instance/i-0abc", "sessionContext": {"sessionIssuer": {"type": "Role", "arn": "arn:aws:iam::111122223333:role/aws:ec2-instance"}}}}),
        ),
        record(
            "imds-internal",
            "s3.amazonaws.com",
            "GetObject",
            json!({"sourceIPAddress": "AWS Internal", "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/aws:ec2-instance/i-0abc"}}),
        ),
        // contains with `$` and braces, negated.
        record(
            "signin-sso",
            "signin.amazonaws.com",
            "GetSigninToken",
            json!({"userAgent": "Jersey/${project.version} (HttpUrlConnection 1.8.0)"}),
        ),
        record(
            "signin-tool",
            "signin.amazonaws.com",
            "GetSigninToken",
            json!({"userAgent": "python-requests/2.31"}),
        ),
        // Case-insensitive values: 'NO' matches "No".
        record(
            "console-nomfa",
            "signin.amazonaws.com",
            "ConsoleLogin",
            json!({"additionalEventData": {"MFAUsed": "No"}, "responseElements": {"ConsoleLogin": "Success"}}),
        ),
        record(
            "console-mfa",
            "signin.amazonaws.com",
            "ConsoleLogin",
            json!({"additionalEventData": {"MFAUsed": "Yes"}, "responseElements": {"ConsoleLogin": "Success"}}),
        ),
        // A field CloudTrail does not have never matches.
        record("saml", "iam.amazonaws.com", "DeleteSAMLProvider", json!({})),
    ];
    let found = hits(&rules, records);
    let expect: &[(&str, &[&str])] = &[
        ("aws_update_login_profile", &["login-other"]),
        (
            "aws_cloudtrail_guardduty_detector_deleted_or_updated",
            &["gd-off"],
        ),
        (
            "aws_ecs_task_definition_cred_endpoint_query",
            &["ecs-creds"],
        ),
        (
            "aws_iam_s3browser_templated_s3_bucket_policy_creation",
            &["s3b-all"],
        ),
        ("aws_new_lambda_layer_attached", &["layer"]),
        ("aws_cloudtrail_imds_malicious_usage", &["imds"]),
        ("aws_console_getsignintoken", &["signin-tool"]),
        (
            "aws_cloudtrail_console_login_success_without_mfa",
            &["console-nomfa"],
        ),
        ("aws_sts_assumerole_misuse", &["imds"]),
    ];
    for (name, ids) in expect {
        let got: Vec<&str> = found
            .get(*name)
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        assert_eq!(got, *ids, "{name}");
    }
    for name in found.keys() {
        assert!(
            expect.iter().any(|(n, _)| n == name),
            "unexpected findings of {name}: {:?}",
            found[name]
        );
    }
}
