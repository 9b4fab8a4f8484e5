//! The bundled rule pack: every rule loads, follows the pack's conventions and passes its
//! own test cases (so `cargo test` fails when a rule's tests fail).

use kms_audit::rules::lint::{has_errors, lint, Level};
use kms_audit::rules::load_bundled;
use kms_audit::rules::model::Format;
use kms_audit::rules::testing::{run_tests, CaseStatus};

#[test]
fn the_bundled_pack_loads_without_errors_or_warnings() {
    let loaded = load_bundled();
    assert!(loaded.is_ok(), "{:#?}", loaded.errors);
    assert!(loaded.rules.len() >= 5, "{} rules", loaded.rules.len());
    let diagnostics = lint(&loaded);
    let shown: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert!(!has_errors(&diagnostics), "{shown:#?}");
    assert!(
        diagnostics.iter().all(|d| d.level != Level::Warning),
        "{shown:#?}"
    );
    for rule in &loaded.rules {
        assert_eq!(rule.format, Format::Native, "{}", rule.id);
        assert!(
            rule.why.is_some() && rule.remediation.is_some(),
            "{}",
            rule.id
        );
        assert!(
            rule.origin.file.starts_with("rules/"),
            "{}",
            rule.origin.file
        );
    }
}

#[test]
fn every_bundled_rule_passes_its_own_tests() {
    let loaded = load_bundled();
    let results = run_tests(&loaded.rules);
    let failures: Vec<String> = results
        .iter()
        .filter(|r| !r.passed())
        .map(|r| format!("{} {} ({}): {:?}", r.rule_id, r.case, r.location, r.status))
        .collect();
    assert!(failures.is_empty(), "{failures:#?}");
    for rule in &loaded.rules {
        let cases: Vec<_> = results.iter().filter(|r| r.rule_id == rule.id).collect();
        assert!(
            cases.iter().any(|c| c.findings > 0) && cases.iter().any(|c| c.findings == 0),
            "{} needs a positive and a negative case",
            rule.id
        );
    }
}

#[test]
fn a_broken_expectation_is_reported_as_a_failure() {
    let loaded = load_bundled();
    let mut rule = loaded
        .find("KMS.ROT.2")
        .expect("rotation rule is bundled")
        .clone();
    for case in &mut rule.tests {
        case.expect.findings = case.expect.findings.map(|n| n + 1);
    }
    let results = run_tests(std::slice::from_ref(&rule));
    assert!(!results.is_empty());
    for result in results {
        match result.status {
            CaseStatus::Failed { message } => {
                assert!(message.starts_with("expected "), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}
