//! `kms-audit report --format oscal`: the OSCAL assessment-results document, validated
//! against NIST's OSCAL 1.1.3 assessment-results JSON schema
//! (tests/fixtures/schemas/oscal_assessment-results_schema.json, origin in that folder's
//! README) with the `jsonschema` crate.
//!
//! The schema's token datatype uses the Unicode property classes `\p{L}` and `\p{N}`, which
//! some validators (Python's `re`) cannot compile. The `jsonschema` crate translates
//! ECMA-262 patterns and supports them with both of its regex engines; the harness tests
//! below prove it on the schema as shipped (unchanged): NIST's own example validates, a
//! token that starts with a digit is refused and one with a non-ASCII letter is accepted.

use crate::common::{assert_golden, repo_root};
use serde_json::Value;

const SCHEMA: &str = "tests/fixtures/schemas/oscal_assessment-results_schema.json";
const NIST_EXAMPLE: &str = "tests/fixtures/schemas/oscal-ifa-assessment-results-example.json";

fn read_json(path: &str) -> Value {
    let text =
        std::fs::read_to_string(repo_root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The OSCAL assessment-results validator, with format checks on (`date-time`, `uri`, …).
fn validator_with(
    patterns: Option<jsonschema::PatternOptions<jsonschema::Regex>>,
) -> jsonschema::Validator {
    let schema = read_json(SCHEMA);
    let mut options = jsonschema::options().should_validate_formats(true);
    if let Some(patterns) = patterns {
        options = options.with_pattern_options(patterns);
    }
    options.build(&schema).expect("the OSCAL schema compiles")
}

fn validator() -> jsonschema::Validator {
    validator_with(None)
}

/// Every schema error in `doc`, with where it is.
fn schema_errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[test]
fn the_nist_example_is_valid_with_both_regex_engines() {
    let example = read_json(NIST_EXAMPLE);
    for (engine, validator) in [
        ("fancy-regex (default)", validator()),
        (
            "regex",
            validator_with(Some(jsonschema::PatternOptions::regex())),
        ),
    ] {
        let errors = schema_errors(&validator, &example);
        assert!(errors.is_empty(), "{engine}: {errors:#?}");
    }
}

#[test]
fn unicode_property_classes_in_the_schema_are_enforced() {
    let example = read_json(NIST_EXAMPLE);
    let control_id = "/assessment-results/results/0/reviewed-controls/control-selections/0/include-controls/0/control-id";
    for (engine, validator) in [
        ("fancy-regex (default)", validator()),
        (
            "regex",
            validator_with(Some(jsonschema::PatternOptions::regex())),
        ),
    ] {
        for (token, valid) in [
            ("ac-6.1", true),
            ("contrôle_é1", true),
            ("req-164.312.b", true),
            ("3.7.4", false),
            ("164.312(b)", false),
            ("-ac", false),
        ] {
            let mut doc = example.clone();
            *doc.pointer_mut(control_id).expect("control-id") = Value::from(token);
            let errors = schema_errors(&validator, &doc);
            assert_eq!(errors.is_empty(), valid, "{engine}: {token}: {errors:#?}");
        }
    }
}

#[test]
fn broken_documents_are_refused() {
    let validator = validator();
    let example = read_json(NIST_EXAMPLE);
    type Breaks = fn(&mut Value);
    let broken: [(&str, Breaks); 4] = [
        ("no import-ap", |d| {
            d["assessment-results"]
                .as_object_mut()
                .expect("object")
                .remove("import-ap");
        }),
        ("a version 1 uuid", |d| {
            d["assessment-results"]["uuid"] = "ec0dad37-54e0-10fd-a925-6d0bdea94c0d".into();
        }),
        ("an unknown finding state", |d| {
            d["assessment-results"]["results"][0]["findings"][0]["target"]["status"]["state"] =
                "manual".into();
        }),
        ("a date without a time zone", |d| {
            d["assessment-results"]["results"][0]["start"] = "2023-06-02T08:31:20".into();
        }),
    ];
    for (what, breaks) in broken {
        let mut doc = example.clone();
        breaks(&mut doc);
        assert!(
            !schema_errors(&validator, &doc).is_empty(),
            "{what} passed validation"
        );
    }
}

// ---------------------------------------------------------------------------------------
// The generated report

/// The fixed catalog, rules, waivers and trail of tests/suite/report.rs (every status reached),
/// independent of the bundled pack: the golden file comes from them.
const FIXTURE_FRAMEWORK: &str = "acme-key-standard";
const FIXTURE: [&str; 8] = [
    "--catalog",
    "tests/fixtures/report/catalog.yml",
    "--no-bundled-rules",
    "--rules",
    "tests/fixtures/report/rules",
    "--waivers",
    "tests/fixtures/report/waivers.yml",
    "tests/fixtures/report/trail",
];
/// The scan tests' trail, the trail with markup in its strings, and waivers for the bundled
/// pack: reports of the bundled catalogs.
const TRAIL: &str = "tests/fixtures/findings/trail/findings-trail.json";
const HOSTILE_TRAIL: &str = "tests/fixtures/report-formats/hostile-trail.json";
const WAIVERS: &str = "tests/fixtures/report-formats/waivers.yml";
const REPORT_DATE: &str = "2024-05-10";
const FRAMEWORK: &str = "pci-dss-4.0.1";

/// Runs `kms-audit report --framework FRAMEWORK --format json,oscal` plus `args` from the
/// crate root (so paths in the output are relative), with the report date fixed; returns
/// the JSON report and the OSCAL text.
fn report(framework: &str, args: &[&str]) -> (Value, String) {
    let out = tempfile::tempdir().expect("tempdir");
    let output = assert_cmd::cargo::cargo_bin_cmd!("kms-audit")
        .current_dir(repo_root())
        .env("NO_COLOR", "1")
        .env("KMS_AUDIT_REPORT_DATE", REPORT_DATE)
        .args([
            "report",
            "--framework",
            framework,
            "--format",
            "json,oscal",
            "--out",
        ])
        .arg(out.path())
        .args(args)
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{args:?}\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let folder = out.path().join(framework);
    let json =
        std::fs::read_to_string(folder.join(format!("{REPORT_DATE}.json"))).expect("json report");
    let oscal = std::fs::read_to_string(folder.join(format!("{REPORT_DATE}.oscal.json")))
        .expect("oscal report");
    (serde_json::from_str(&json).expect("json"), oscal)
}

/// Compares `actual` with tests/golden/report/`name` (beside the other formats' golden
/// files), or rewrites it when `UPDATE_GOLDEN` is set.
fn golden(name: &str, actual: &str) {
    assert_golden(
        &format!("tests/golden/report/{name}"),
        actual,
        "report_oscal::",
    );
}

fn results(doc: &Value) -> &Value {
    &doc["assessment-results"]["results"][0]
}

fn array<'a>(value: &'a Value, key: &str) -> &'a [Value] {
    value[key].as_array().map_or(&[], Vec::as_slice)
}

/// The kms-audit property `name` of `object`.
fn prop<'a>(object: &'a Value, name: &str) -> Option<&'a str> {
    array(object, "props")
        .iter()
        .find(|p| p["name"] == name && p["ns"] == "urn:kms-audit:ns:oscal")
        .and_then(|p| p["value"].as_str())
}

#[test]
fn the_oscal_report_matches_its_golden_file() {
    let (_, oscal) = report(FIXTURE_FRAMEWORK, &FIXTURE);
    assert!(
        !oscal.contains(&repo_root().display().to_string()),
        "the checkout's path leaks into the report"
    );
    golden("acme-key-standard.oscal.json", &oscal);
    let (_, again) = report(FIXTURE_FRAMEWORK, &FIXTURE);
    assert_eq!(oscal, again, "two runs on the same inputs differ");
}

#[test]
fn oscal_reports_are_valid_against_the_nist_schema() {
    let validator = validator();
    let cases: [(&str, &[&str]); 5] = [
        (FIXTURE_FRAMEWORK, &FIXTURE),
        (FRAMEWORK, &[TRAIL, "--waivers", WAIVERS]),
        (FRAMEWORK, &[HOSTILE_TRAIL]),
        ("hipaa-security-rule", &[TRAIL]),
        ("fedramp-rev5-moderate", &[TRAIL, "--since", "2030-01-01"]),
    ];
    for (framework, args) in cases {
        let (_, oscal) = report(framework, args);
        let doc: Value = serde_json::from_str(&oscal).expect("OSCAL is JSON");
        let errors = schema_errors(&validator, &doc);
        assert!(errors.is_empty(), "{framework} {args:?}: {errors:#?}");
        assert_eq!(
            doc["assessment-results"]["metadata"]["oscal-version"],
            "1.1.3"
        );
    }
}

#[test]
fn the_sample_logs_reports_are_valid() {
    let validator = validator();
    for framework in [
        "pci-dss-4.0.1",
        "hipaa-security-rule",
        "fedramp-rev5-moderate",
    ] {
        let (_, oscal) = report(framework, &["sample-logs"]);
        let doc: Value = serde_json::from_str(&oscal).expect("OSCAL is JSON");
        let errors = schema_errors(&validator, &doc);
        assert!(
            errors.is_empty(),
            "{framework}: {:#?}",
            &errors[..errors.len().min(20)]
        );
    }
}

#[test]
fn findings_carry_every_requirement_status_and_risks_the_failures() {
    let mut seen = std::collections::BTreeSet::new();
    for (framework, args) in [
        (FIXTURE_FRAMEWORK, &FIXTURE[..]),
        (FRAMEWORK, &[TRAIL, "--waivers", WAIVERS][..]),
        (FRAMEWORK, &[HOSTILE_TRAIL][..]),
    ] {
        let (json, oscal) = report(framework, args);
        let doc: Value = serde_json::from_str(&oscal).expect("json");
        let result = results(&doc);
        let requirements = array(&json, "requirements");
        let controls = array(
            &result["reviewed-controls"]["control-selections"][0],
            "include-controls",
        );
        let findings = array(result, "findings");
        assert_eq!(
            controls.len(),
            requirements.len(),
            "every requirement is reviewed"
        );
        assert_eq!(
            findings.len(),
            requirements.len(),
            "one finding per requirement"
        );
        let risks = array(result, "risks");
        let risk_ids: Vec<&str> = risks.iter().filter_map(|r| r["uuid"].as_str()).collect();
        for ((requirement, control), finding) in requirements.iter().zip(controls).zip(findings) {
            let status = requirement["status"].as_str().expect("status");
            seen.insert(status.to_owned());
            let target = &finding["target"];
            assert_eq!(control["control-id"], target["target-id"]);
            assert_eq!(prop(target, "status"), Some(status));
            assert_eq!(prop(target, "label"), requirement["label"].as_str());
            let (state, reason) = match status {
                "satisfied" => ("satisfied", "pass"),
                "not-satisfied" => ("not-satisfied", "fail"),
                _ => ("not-satisfied", "other"),
            };
            assert_eq!(target["status"]["state"], state, "{requirement}");
            assert_eq!(target["status"]["reason"], reason, "{requirement}");
            let related_risks = array(finding, "related-risks");
            assert_eq!(
                related_risks.len(),
                usize::from(status == "not-satisfied"),
                "{status}"
            );
            for r in related_risks {
                assert!(risk_ids.contains(&r["risk-uuid"].as_str().unwrap_or_default()));
            }
        }
        let failing = requirements
            .iter()
            .filter(|r| r["status"] == "not-satisfied")
            .count();
        assert_eq!(risks.len(), failing);
    }
    assert_eq!(
        seen.len(),
        5,
        "every status is mapped at least once: {seen:?}"
    );
}

#[test]
fn observations_carry_the_evidence_and_references_resolve() {
    let (json, oscal) = report(FIXTURE_FRAMEWORK, &FIXTURE);
    let doc: Value = serde_json::from_str(&oscal).expect("json");
    let result = results(&doc);
    let observations = array(result, "observations");
    let resources: Vec<&str> = array(&doc["assessment-results"]["back-matter"], "resources")
        .iter()
        .filter_map(|r| r["uuid"].as_str())
        .collect();
    let local = &result["local-definitions"];
    let subjects: Vec<&str> = array(local, "inventory-items")
        .iter()
        .chain(array(local, "users"))
        .filter_map(|i| i["uuid"].as_str())
        .collect();

    // Every finding of the report is an observation with its events as evidence.
    for finding in array(&json, "findings") {
        let id = finding["id"].as_str().expect("id");
        let observation = observations
            .iter()
            .find(|o| prop(o, "finding-id") == Some(id))
            .unwrap_or_else(|| panic!("no observation for finding {id}"));
        assert_eq!(observation["methods"], serde_json::json!(["EXAMINE"]));
        assert_eq!(
            prop(observation, "finding-status"),
            finding["status"].as_str()
        );
        let evidence = array(observation, "relevant-evidence");
        assert_eq!(evidence.len(), array(finding, "evidence").len(), "{id}");
        for (e, event) in evidence.iter().zip(array(finding, "evidence")) {
            assert_eq!(prop(e, "event-id"), event["event_id"].as_str());
            let href = e["href"].as_str().expect("evidence points at its log file");
            assert!(resources.contains(&href.trim_start_matches('#')), "{href}");
        }
        if let Some(resource) = finding["resource"]
            .as_str()
            .filter(|r| r.starts_with("arn:"))
        {
            assert!(array(observation, "subjects")
                .iter()
                .any(|s| s["title"] == resource));
        }
        if let Some(principal) = finding["principal"].as_str() {
            assert!(array(observation, "subjects")
                .iter()
                .any(|s| s["title"] == principal && s["type"] == "user"));
        }
    }
    for s in observations.iter().flat_map(|o| array(o, "subjects")) {
        assert!(
            subjects.contains(&s["subject-uuid"].as_str().unwrap_or_default()),
            "{s}"
        );
    }
    // The integrity observation is a test; the rest examine records.
    assert!(observations
        .iter()
        .any(|o| o["methods"] == serde_json::json!(["TEST"])
            && o["title"] == "CloudTrail digest validation"));

    // Related observations resolve, UUIDs are unique.
    let observation_ids: Vec<&str> = observations
        .iter()
        .filter_map(|o| o["uuid"].as_str())
        .collect();
    for related in array(result, "findings")
        .iter()
        .chain(array(result, "risks"))
        .flat_map(|f| array(f, "related-observations"))
    {
        assert!(observation_ids.contains(&related["observation-uuid"].as_str().unwrap_or_default()));
    }
    let mut all: Vec<&str> = Vec::new();
    collect_uuids(&doc, &mut all);
    let count = all.len();
    all.sort_unstable();
    all.dedup();
    assert_eq!(all.len(), count, "every uuid is unique");

    // Input files are in back-matter with their SHA-256.
    for input in array(&json["scope"], "inputs") {
        let sha = input["sha256"].as_str().expect("sha");
        assert!(
            array(&doc["assessment-results"]["back-matter"], "resources")
                .iter()
                .any(|r| r["rlinks"][0]["hashes"][0]["value"] == sha)
        );
    }
    assert_eq!(
        doc["assessment-results"]["import-ap"]["href"],
        "urn:kms-audit:assessment-plan:acme-key-standard"
    );
}

/// Every `uuid` key's value in `value` (not references to one).
fn collect_uuids<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v.as_str()) {
                    ("uuid", Some(uuid)) => out.push(uuid),
                    _ => collect_uuids(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_uuids(v, out)),
        _ => {}
    }
}
