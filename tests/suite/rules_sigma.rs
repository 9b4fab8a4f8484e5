//! Real Sigma rules (SigmaHQ, copied in tests/fixtures/sigma/) load unchanged and evaluate
//! over a lake built from real CloudTrail records, in the same single pass as the bundled
//! pack; the Sigma features they use behave as Sigma defines them. Sigma correlation rules
//! (tests/fixtures/sigma/correlations/) load from multi-document files and from files that
//! name the other fixture rules, and each correlation type fires and stays quiet as the
//! specification says.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use kms_audit::ingest::lake::Lake;
use kms_audit::ingest::{ingest, IngestOptions, Silent};
use kms_audit::rules::model::{Format, Kind, Rule, Severity};
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
    // The correlations of correlations/ add one rule each; the rules they name in their own
    // files report only through them (generate: false).
    let correlations = std::fs::read_dir(fixtures().join("sigma/correlations"))
        .expect("correlation fixtures")
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "yml"))
        .count();
    assert_eq!(loaded.rules.len(), files + correlations);
    let matching = loaded.rules.iter().filter(|r| r.kind == Kind::Match);
    assert_eq!(matching.count(), files);
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

// Sigma correlation rules (tests/fixtures/sigma/correlations/): one file per type, some
// naming the rules of their own file, some naming the fixture rules above by id.

/// `2025-01-02` plus `minutes`, as CloudTrail writes times.
fn at(minutes: i64) -> String {
    format!("2025-01-02T{:02}:{:02}:00Z", minutes / 60, minutes % 60)
}

const ALICE: &str = "arn:aws:iam::111122223333:user/alice";

/// An IAM user's identity.
fn user(name: &str) -> serde_json::Value {
    json!({"type": "IAMUser", "arn": format!("arn:aws:iam::111122223333:user/{name}"), "accountId": "111122223333"})
}

/// A session of the role `role`.
fn role_session(role: &str) -> serde_json::Value {
    json!({
        "type": "AssumedRole",
        "arn": format!("arn:aws:sts::111122223333:assumed-role/{role}/s1"),
        "accountId": "111122223333",
        "sessionContext": {"sessionIssuer": {
            "type": "Role",
            "arn": format!("arn:aws:iam::111122223333:role/{role}"),
            "accountId": "111122223333"}}
    })
}

/// Evaluates every Sigma fixture rule (correlations included) over `records`.
fn evaluate_records(records: Vec<serde_json::Value>) -> MatchOutcome {
    let sigma = sigma_rules();
    let rules: Vec<&Rule> = sigma.iter().collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("trail.json");
    std::fs::write(&path, json!({ "Records": records }).to_string()).expect("write");
    run(&rules, &[path])
}

/// Findings per rule name.
fn fired(outcome: &MatchOutcome) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    for finding in &outcome.findings {
        *out.entry(finding.rule_name.clone()).or_default() += 1;
    }
    out
}

/// The findings of rule `name`.
fn findings_of<'a>(outcome: &'a MatchOutcome, name: &str) -> Vec<&'a kms_audit::rules::Finding> {
    outcome
        .findings
        .iter()
        .filter(|f| f.rule_name == name)
        .collect()
}

const EC2: &str = "mr_aws_ec2_userdata_bulk_download";
const KEYS: &str = "mr_aws_kms_key_material_imported_into_many_keys";
const EVASION: &str = "mr_aws_defense_evasion_burst";
const SES: &str = "mr_aws_ses_sending_enabled_and_identity_verified";
const GRANT: &str = "mr_aws_kms_grant_then_decrypt_by_grantee";

#[test]
fn sigma_correlations_load_from_multi_document_and_separate_files() {
    let loaded = load_paths(&[fixtures().join("sigma")]);
    assert!(loaded.is_ok(), "{:#?}", loaded.errors);
    let expect: &[(&str, &str, Kind, Severity)] = &[
        (
            EC2,
            "64bcb658-a781-4487-9cb6-cb7ab32548d5",
            Kind::Threshold,
            Severity::Medium,
        ),
        (
            KEYS,
            "54955f68-c9d4-4a28-8879-1d673e39ef1d",
            Kind::Threshold,
            Severity::High,
        ),
        (
            EVASION,
            "07c5c2d6-d5c2-46a5-859c-4261dc2ffc37",
            Kind::Correlation,
            Severity::Critical,
        ),
        (
            SES,
            "880fc5c6-c537-4e27-8506-e20af2dac5ba",
            Kind::Correlation,
            Severity::Medium,
        ),
        (
            GRANT,
            "750a7ab0-d235-4458-aa6a-6bebcd830b93",
            Kind::Correlation,
            Severity::Medium,
        ),
    ];
    for (name, id, kind, severity) in expect {
        let rule = loaded.find(id).unwrap_or_else(|| panic!("{name} by id"));
        assert_eq!(&rule.name, name);
        assert_eq!((rule.kind, rule.severity), (*kind, *severity), "{name}");
        assert_eq!(rule.format, Format::Sigma);
        assert!(rule
            .origin
            .file
            .ends_with(&format!("correlations/{name}.yml")));
    }
    // The rules named inside a correlation's own file report only through it; the fixture
    // rules named by id with `generate: true` still report on their own.
    for hidden in [
        "aws_ec2_describe_instance_userdata",
        "aws_ses_account_sending_enabled",
        "aws_ses_email_identity_verification",
        "aws_kms_grant_created",
        "aws_kms_decrypt_by_role",
    ] {
        assert!(loaded.find(hidden).is_none(), "{hidden}");
    }
    for kept in [
        "aws_cloudtrail_disable_logging",
        "aws_kms_import_key_material",
    ] {
        assert!(loaded.find(kept).is_some(), "{kept}");
    }
}

#[test]
fn event_count_correlation_counts_events_per_group_within_the_timespan() {
    let userdata = |i: i64, who: &str, attribute: &str| {
        record(
            &format!("ud-{who}-{attribute}-{i}"),
            "ec2.amazonaws.com",
            "DescribeInstanceAttribute",
            json!({"eventTime": at(i), "userIdentity": user(who),
                   "requestParameters": {"instanceId": format!("i-{i}"), "attribute": attribute}}),
        )
    };
    // 11 reads of User Data by one identity in 11 minutes: more than 10 within 30m.
    let outcome = evaluate_records((0..11).map(|i| userdata(i, "alice", "userData")).collect());
    let found = findings_of(&outcome, EC2);
    assert_eq!(found.len(), 1, "{:?}", outcome.findings);
    assert_eq!(found[0].count, 11);
    assert_eq!(found[0].principal.as_deref(), Some(ALICE));
    let detail = found[0].detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains(
            "observed 11 events for userIdentity.arn=arn:aws:iam::111122223333:user/alice"
        ),
        "{detail}"
    );
    assert!(detail.contains("events > 10"), "{detail}");
    // The rule of the correlation's own file does not report on its own.
    assert!(!fired(&outcome).contains_key("aws_ec2_describe_instance_userdata"));

    // 10 are not more than 10; 11 split over two identities; 11 spread over hours; other
    // attributes.
    let quiet: Vec<Vec<serde_json::Value>> = vec![
        (0..10).map(|i| userdata(i, "alice", "userData")).collect(),
        (0..11)
            .map(|i| userdata(i, if i % 2 == 0 { "alice" } else { "bob" }, "userData"))
            .collect(),
        (0..11)
            .map(|i| userdata(i * 20, "alice", "userData"))
            .collect(),
        (0..11)
            .map(|i| userdata(i, "alice", "instanceType"))
            .collect(),
    ];
    for records in quiet {
        let outcome = evaluate_records(records);
        assert!(
            findings_of(&outcome, EC2).is_empty(),
            "{:?}",
            outcome.findings
        );
    }
}

#[test]
fn value_count_correlation_counts_distinct_values_per_group() {
    let import = |i: i64, who: &str, key: &str| {
        record(
            &format!("imp-{i}-{who}-{key}"),
            "kms.amazonaws.com",
            "ImportKeyMaterial",
            json!({"eventTime": at(i * 30), "userIdentity": user(who),
                   "requestParameters": {"keyId": format!("arn:aws:kms:us-east-1:111122223333:key/{key}")}}),
        )
    };
    let outcome = evaluate_records(vec![
        import(0, "alice", "k1"),
        import(1, "alice", "k2"),
        import(2, "alice", "k3"),
    ]);
    let found = findings_of(&outcome, KEYS);
    assert_eq!(found.len(), 1, "{:?}", outcome.findings);
    let detail = found[0].detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("3 distinct requestParameters.keyId"),
        "{detail}"
    );
    // The named fixture rule has `generate: true`: it reports each import too.
    assert_eq!(fired(&outcome).get("aws_kms_import_key_material"), Some(&3));

    for records in [
        vec![
            import(0, "alice", "k1"),
            import(1, "alice", "k2"),
            import(2, "alice", "k1"),
        ],
        vec![
            import(0, "alice", "k1"),
            import(1, "bob", "k2"),
            import(2, "carol", "k3"),
        ],
    ] {
        let outcome = evaluate_records(records);
        assert!(
            findings_of(&outcome, KEYS).is_empty(),
            "{:?}",
            outcome.findings
        );
    }
}

#[test]
fn temporal_correlation_needs_the_rules_together_in_any_order() {
    let stop = |m: i64, who: &str| {
        record(
            &format!("stop-{m}-{who}"),
            "cloudtrail.amazonaws.com",
            "StopLogging",
            json!({"eventTime": at(m), "userIdentity": user(who), "requestParameters": {"name": "trail"}}),
        )
    };
    let update = |m: i64| {
        record(
            &format!("update-{m}"),
            "cloudtrail.amazonaws.com",
            "UpdateTrail",
            json!({"eventTime": at(m), "userIdentity": user("alice"), "requestParameters": {"name": "trail"}}),
        )
    };
    let flow = |m: i64, who: &str| {
        record(
            &format!("flow-{m}-{who}"),
            "ec2.amazonaws.com",
            "DeleteFlowLogs",
            json!({"eventTime": at(m), "userIdentity": user(who), "requestParameters": {"flowLogId": "fl-1"}}),
        )
    };
    // Flow logs deleted, then logging stopped 20 minutes later: two of the three rules.
    let outcome = evaluate_records(vec![flow(0, "alice"), stop(20, "alice")]);
    let found = findings_of(&outcome, EVASION);
    assert_eq!(found.len(), 1, "{:?}", outcome.findings);
    assert_eq!(found[0].count, 2);
    assert_eq!(found[0].first_seen, at(0));
    assert_eq!(found[0].last_seen, at(20));
    let detail = found[0].detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("`aws_cloudtrail_disable_logging` ×1")
            && detail.contains("`aws_cloudtrail_vpc_flow_logs_deleted` ×1"),
        "{detail}"
    );
    assert!(detail.contains("rules seen ≥ 2"), "{detail}");
    // `generate: true`: the named rules report on their own too.
    let by_rule = fired(&outcome);
    assert_eq!(by_rule.get("aws_cloudtrail_disable_logging"), Some(&1));
    assert_eq!(
        by_rule.get("aws_cloudtrail_vpc_flow_logs_deleted"),
        Some(&1)
    );

    // SES: verification requested, then sending enabled — any order within 5m.
    let ses = |id: &str, name: &str, m: i64| {
        record(id, "ses.amazonaws.com", name, json!({"eventTime": at(m)}))
    };
    let outcome = evaluate_records(vec![
        ses("v", "VerifyEmailIdentity", 0),
        ses("u", "UpdateAccountSendingEnabled", 3),
    ]);
    assert_eq!(
        findings_of(&outcome, SES).len(),
        1,
        "{:?}",
        outcome.findings
    );
    assert!(!fired(&outcome).contains_key("aws_ses_account_sending_enabled"));

    let quiet: Vec<(&str, Vec<serde_json::Value>)> = vec![
        (EVASION, vec![flow(0, "alice"), stop(20, "bob")]),
        (EVASION, vec![flow(0, "alice"), stop(90, "alice")]),
        // Two events of one rule are one rule seen.
        (EVASION, vec![stop(0, "alice"), update(5)]),
        (
            SES,
            vec![
                ses("v", "VerifyEmailIdentity", 0),
                ses("u", "UpdateAccountSendingEnabled", 10),
            ],
        ),
    ];
    for (name, records) in quiet {
        let outcome = evaluate_records(records);
        assert!(
            findings_of(&outcome, name).is_empty(),
            "{name}: {:?}",
            outcome.findings
        );
    }
}

#[test]
fn temporal_ordered_correlation_needs_the_order_and_reads_aliases_per_rule() {
    let grant = |m: i64, grantee: &str| {
        record(
            &format!("grant-{m}-{grantee}"),
            "kms.amazonaws.com",
            "CreateGrant",
            json!({"eventTime": at(m), "requestParameters": {
                "keyId": "arn:aws:kms:us-east-1:111122223333:key/k1",
                "granteePrincipal": format!("arn:aws:iam::111122223333:role/{grantee}"),
                "operations": ["Decrypt"]}}),
        )
    };
    let decrypt = |m: i64, role: &str| {
        record(
            &format!("decrypt-{m}-{role}"),
            "kms.amazonaws.com",
            "Decrypt",
            json!({"eventTime": at(m), "userIdentity": role_session(role),
                   "requestParameters": {"encryptionAlgorithm": "SYMMETRIC_DEFAULT"},
                   "resources": [{"type": "AWS::KMS::Key", "ARN": "arn:aws:kms:us-east-1:111122223333:key/k1"}]}),
        )
    };
    // The grant's grantee (requestParameters.granteePrincipal) decrypts as a role session
    // (userIdentity.sessionContext.sessionIssuer.arn) two minutes later.
    let outcome = evaluate_records(vec![grant(0, "App"), decrypt(2, "App")]);
    let found = findings_of(&outcome, GRANT);
    assert_eq!(found.len(), 1, "{:?}", outcome.findings);
    let detail = found[0].detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("grantee=arn:aws:iam::111122223333:role/App"),
        "{detail}"
    );
    assert!(detail.contains("in order"), "{detail}");
    assert_eq!(found[0].count, 2);
    // Its rules are silent on their own (a role session's Decrypt is still reported by
    // aws_sts_assumerole_misuse, a rule of its own).
    let by_rule = fired(&outcome);
    assert!(
        !by_rule.contains_key("aws_kms_grant_created"),
        "{by_rule:?}"
    );
    assert!(
        !by_rule.contains_key("aws_kms_decrypt_by_role"),
        "{by_rule:?}"
    );
    assert_eq!(by_rule.get("aws_sts_assumerole_misuse"), Some(&1));

    for records in [
        // Used before it was granted.
        vec![decrypt(0, "App"), grant(2, "App")],
        // Another role decrypts.
        vec![grant(0, "App"), decrypt(2, "Other")],
        // Too late.
        vec![grant(0, "App"), decrypt(20, "App")],
    ] {
        let outcome = evaluate_records(records);
        assert!(
            findings_of(&outcome, GRANT).is_empty(),
            "{:?}",
            outcome.findings
        );
    }
}

#[test]
fn correlations_stay_quiet_on_real_records() {
    // The Stratus Red Team detonations turn off CloudTrail and flow logs, but as different
    // (anonymized) identities: no correlation holds.
    let sigma = sigma_rules();
    let rules: Vec<&Rule> = sigma.iter().collect();
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(fixtures().join("sigma/events"))
        .expect("events")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    inputs.sort();
    let outcome = run(&rules, &inputs);
    let matched = matched_by_name(&rules, &outcome);
    assert_eq!(matched.get(EVASION), Some(&3), "{matched:?}");
    assert!(findings_of(&outcome, EVASION).is_empty());
    assert_eq!(
        fired(&outcome).get("aws_cloudtrail_disable_logging"),
        Some(&2)
    );
}

#[test]
fn correlation_errors_name_file_line_and_field() {
    // A correlation whose rules are not loaded with it.
    let alone = fixtures()
        .join("sigma/correlations")
        .join(format!("{EVASION}.yml"));
    let loaded = load_paths(std::slice::from_ref(&alone));
    let err = loaded.errors.first().expect("an error");
    assert_eq!(
        err.to_string(),
        format!(
            "{}:15:9: correlation.rules[0]: `4db60cc0-36fb-42b7-9b58-a5b53019fb74` names no rule: no rule loaded with this file has that `name` or `id`",
            alone.display()
        )
    );
    assert!(loaded.rules.is_empty());

    // A misspelt reference and a timespan that is not one, in a user's directory.
    let dir = tempfile::tempdir().expect("tempdir");
    let text = std::fs::read_to_string(fixtures().join(format!("sigma/correlations/{SES}.yml")))
        .expect("fixture");
    let cases = [
        (
            "        - aws_ses_email_identity_verification\n",
            "        - aws_ses_email_identity_verificaton\n",
            "correlation.rules[1]",
            "`aws_ses_email_identity_verificaton` names no rule",
        ),
        (
            "    timespan: 5m\n",
            "    timespan: 5 minutes\n",
            "correlation.timespan",
            "`5 minutes` is not a timespan",
        ),
    ];
    for (from, to, field, needle) in cases {
        assert!(text.contains(from), "{from}");
        let path = dir.path().join("mr_broken.yml");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
        let line = text
            .lines()
            .position(|l| l == from.trim_end_matches('\n'))
            .expect("line")
            + 1;
        let loaded = load_paths(std::slice::from_ref(&path));
        let err = loaded
            .errors
            .first()
            .unwrap_or_else(|| panic!("{to}: no error"));
        assert_eq!((err.line, err.field.as_str()), (line, field), "{err}");
        assert!(
            err.to_string()
                .starts_with(&format!("{}:{line}:", path.display())),
            "{err}"
        );
        assert!(err.to_string().contains(needle), "{err}");
    }
}

#[test]
fn rules_commands_and_scan_accept_sigma_correlations() {
    let sigma = fixtures().join("sigma");
    let sigma = sigma.to_str().expect("utf-8");
    let kms_audit = || assert_cmd::cargo::cargo_bin_cmd!("kms-audit");
    for args in [["rules", "lint", sigma], ["rules", "test", sigma]] {
        let output = kms_audit().args(args).output().expect("runs");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let output = kms_audit()
        .args(["rules", "list", sigma, "--format", "json"])
        .output()
        .expect("runs");
    let list: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let kind_of = |name: &str| {
        list.as_array()
            .and_then(|rules| rules.iter().find(|r| r["name"] == name))
            .map(|r| r["kind"].clone())
    };
    assert_eq!(kind_of(EC2), Some(json!("threshold")));
    assert_eq!(kind_of(GRANT), Some(json!("correlation")));

    let dir = tempfile::tempdir().expect("tempdir");
    let trail = dir.path().join("trail.json");
    let records = vec![
        record(
            "v",
            "ses.amazonaws.com",
            "VerifyEmailIdentity",
            json!({"eventTime": at(0)}),
        ),
        record(
            "u",
            "ses.amazonaws.com",
            "UpdateAccountSendingEnabled",
            json!({"eventTime": at(1)}),
        ),
    ];
    std::fs::write(&trail, json!({ "Records": records }).to_string()).expect("write");
    let output = kms_audit()
        .env("NO_COLOR", "1")
        .args([
            "scan",
            trail.to_str().expect("utf-8"),
            "--no-cache",
            "--no-bundled-rules",
            "--rules",
            sigma,
            "--format",
            "json",
        ])
        .output()
        .expect("runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("json");
    let ids: Vec<&str> = report["findings"]["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .filter_map(|f| f["rule_id"].as_str())
        .collect();
    assert_eq!(ids, ["880fc5c6-c537-4e27-8506-e20af2dac5ba"]);
}

#[test]
fn event_count_ranges_hold_every_bound_and_neq_excludes_one_count() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mr_key_listing_counts.yml");
    std::fs::write(
        &path,
        "\
title: Three or four key listings within an hour
name: listing_range
correlation:
    type: event_count
    rules: [key_listing]
    group-by: [userIdentity.arn]
    timespan: 1h
    condition: { gte: 3, lte: 4 }
level: low
---
title: Key listings other than a single one
name: listing_not_single
correlation:
    type: event_count
    rules: [key_listing]
    group-by: [userIdentity.arn]
    timespan: 1h
    condition: { neq: 1 }
level: low
---
title: Key listing
name: key_listing
logsource: { product: aws, service: cloudtrail }
detection:
    selection: { eventSource: kms.amazonaws.com, eventName: ListKeys }
    condition: selection
",
    )
    .expect("write");
    let loaded = load_paths(std::slice::from_ref(&path));
    assert!(loaded.is_ok(), "{:#?}", loaded.errors);
    assert_eq!(loaded.rules.len(), 2);
    let rules: Vec<&Rule> = loaded.rules.iter().collect();
    let listings = |n: i64| -> HashMap<String, usize> {
        let records = (0..n)
            .map(|i| {
                record(
                    &format!("list-{i}"),
                    "kms.amazonaws.com",
                    "ListKeys",
                    json!({"eventTime": at(i)}),
                )
            })
            .collect::<Vec<_>>();
        let trail = dir.path().join(format!("trail-{n}.json"));
        std::fs::write(&trail, json!({ "Records": records }).to_string()).expect("write");
        fired(&run(&rules, &[trail]))
    };
    let none = HashMap::new();
    assert_eq!(listings(1), none);
    assert_eq!(
        listings(2),
        HashMap::from([("listing_not_single".to_owned(), 1)])
    );
    assert_eq!(
        listings(3),
        HashMap::from([
            ("listing_range".to_owned(), 1),
            ("listing_not_single".to_owned(), 1)
        ])
    );
    assert_eq!(
        listings(6),
        HashMap::from([("listing_not_single".to_owned(), 1)])
    );
}

#[test]
fn aliases_read_each_rules_field() {
    // `account` is the account a key was disabled in (recipientAccountId) and the account of
    // the identity that scheduled a deletion (userIdentity.accountId).
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("mr_key_retirement_by_account.yml");
    std::fs::write(
        &path,
        "\
title: Keys disabled and deletions scheduled in one account
name: key_retirement_by_account
correlation:
    type: event_count
    rules: [key_disabled, key_deletion_scheduled]
    group-by: [account]
    timespan: 1h
    condition: { gte: 3 }
    aliases:
        account:
            key_disabled: recipientAccountId
            key_deletion_scheduled: userIdentity.accountId
level: high
---
title: Key disabled, then a deletion scheduled, in one account
name: key_disable_then_delete
correlation:
    type: temporal_ordered
    rules: [key_disabled, key_deletion_scheduled]
    group-by: [account]
    timespan: 1h
    aliases:
        account:
            key_disabled: recipientAccountId
            key_deletion_scheduled: userIdentity.accountId
---
title: Key disabled and a deletion scheduled from one address
name: key_retirement_by_address
correlation:
    type: temporal
    rules: [key_disabled, key_deletion_scheduled]
    group-by: [sourceIPAddress]
    timespan: 1h
---
title: Key disabled
name: key_disabled
logsource: { product: aws, service: cloudtrail }
detection:
    selection: { eventSource: kms.amazonaws.com, eventName: DisableKey }
    condition: selection
---
title: Key deletion scheduled
name: key_deletion_scheduled
logsource: { product: aws, service: cloudtrail }
detection:
    selection: { eventSource: kms.amazonaws.com, eventName: ScheduleKeyDeletion }
    condition: selection
",
    )
    .expect("write");
    let loaded = load_paths(std::slice::from_ref(&path));
    assert!(loaded.is_ok(), "{:#?}", loaded.errors);
    let rules: Vec<&Rule> = loaded.rules.iter().collect();
    let event = |id: &str, name: &str, m: i64, recipient: &str, identity: &str| {
        record(
            id,
            "kms.amazonaws.com",
            name,
            json!({"eventTime": at(m), "recipientAccountId": recipient,
                   "userIdentity": {"type": "IAMUser",
                                    "arn": format!("arn:aws:iam::{identity}:user/ops"),
                                    "accountId": identity}}),
        )
    };
    let trail = |records: Vec<serde_json::Value>, name: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, json!({ "Records": records }).to_string()).expect("write");
        path
    };
    // Two keys disabled in 111122223333 by an identity of 999999999999, and a deletion
    // scheduled by an identity of 111122223333 (recorded in 444455556666's trail).
    let fires = trail(
        vec![
            event("d1", "DisableKey", 0, "111122223333", "999999999999"),
            event("d2", "DisableKey", 5, "111122223333", "999999999999"),
            event(
                "s1",
                "ScheduleKeyDeletion",
                10,
                "444455556666",
                "111122223333",
            ),
        ],
        "fires.json",
    );
    let outcome = run(&rules, &[fires]);
    assert_eq!(
        fired(&outcome),
        HashMap::from([
            ("key_retirement_by_account".to_owned(), 1),
            ("key_disable_then_delete".to_owned(), 1),
            ("key_retirement_by_address".to_owned(), 1),
        ])
    );
    let found = findings_of(&outcome, "key_retirement_by_account");
    assert_eq!(found.len(), 1, "{:?}", outcome.findings);
    assert_eq!(found[0].count, 3);
    assert!(
        found[0]
            .detail
            .as_deref()
            .is_some_and(|d| d.contains("account=111122223333")),
        "{:?}",
        found[0].detail
    );
    // Read the other way round, the three events fall in three groups.
    let quiet = trail(
        vec![
            event("d1", "DisableKey", 0, "999999999999", "111122223333"),
            event("d2", "DisableKey", 5, "999999999999", "111122223333"),
            event(
                "s1",
                "ScheduleKeyDeletion",
                10,
                "111122223333",
                "444455556666",
            ),
        ],
        "quiet.json",
    );
    let outcome = run(&rules, &[quiet]);
    assert_eq!(
        fired(&outcome),
        HashMap::from([("key_retirement_by_address".to_owned(), 1)])
    );
}
