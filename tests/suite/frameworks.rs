//! The bundled framework catalogs (PCI DSS v4.0.1, HIPAA Security Rule, FedRAMP Rev5
//! Moderate): they load, every rule they map exists in the bundled pack with the parameters
//! their thresholds name, the FedRAMP controls are real NIST SP 800-53 Rev. 5 ids and titles
//! of the Moderate baseline, and `rules lint` and `frameworks` behave on the command line.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

use kms_audit::frameworks::catalog::Catalog;
use kms_audit::frameworks::{check_rules, load_bundled, CatalogStatus};
use kms_audit::rules::Rule;

const PCI: &str = "pci-dss-4.0.1";
const HIPAA: &str = "hipaa-security-rule";
const FEDRAMP: &str = "fedramp-rev5-moderate";

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/frameworks")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture readable");
    serde_json::from_str(&text).expect("fixture is JSON")
}

fn catalog(id: &str) -> Catalog {
    let loaded = load_bundled();
    let shown: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
    assert!(loaded.is_ok(), "{shown:#?}");
    loaded.find(id).cloned().expect("bundled catalog")
}

fn ids(catalog: &Catalog) -> HashSet<String> {
    catalog.requirements().map(|(_, r)| r.id.clone()).collect()
}

#[test]
fn every_bundled_catalog_maps_only_rules_and_parameters_that_exist() {
    let rules = kms_audit::rules::load_bundled();
    assert!(rules.is_ok(), "{:#?}", rules.errors);
    let refs: Vec<&Rule> = rules.rules.iter().collect();
    let loaded = load_bundled();
    assert_eq!(loaded.catalogs.len(), 3);
    for catalog in &loaded.catalogs {
        let check = check_rules(catalog, &refs);
        let errors: Vec<String> = check.errors.iter().map(ToString::to_string).collect();
        let warnings: Vec<String> = check.warnings.iter().map(ToString::to_string).collect();
        assert!(errors.is_empty(), "{errors:#?}");
        assert!(warnings.is_empty(), "{warnings:#?}");
        for (_, requirement) in catalog.requirements() {
            for text in [&requirement.reason, &requirement.note]
                .into_iter()
                .flatten()
            {
                assert_eq!(text, text.trim(), "{} {}", catalog.id, requirement.id);
            }
            match requirement.status {
                CatalogStatus::Automated => assert!(
                    !requirement.rules.is_empty() || requirement.log_coverage_days.is_some(),
                    "{} {}",
                    catalog.id,
                    requirement.id
                ),
                _ => assert!(
                    requirement
                        .reason
                        .as_deref()
                        .is_some_and(|r| r.trim().len() > 10),
                    "{} {}",
                    catalog.id,
                    requirement.id
                ),
            }
        }
    }
}

#[test]
fn fedramp_controls_are_nist_ids_and_titles_of_the_moderate_baseline() {
    let catalog = catalog(FEDRAMP);
    let baseline: HashSet<String> = fixture("fedramp-rev5-moderate-ids.json")
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(baseline.len(), 323);
    let nist = fixture("nist-800-53r5-controls-subset.json");
    let controls: HashMap<&str, (&str, &str)> = nist["controls"]
        .as_array()
        .expect("controls")
        .iter()
        .filter_map(|c| {
            Some((
                c["id"].as_str()?,
                (c["label"].as_str()?, c["title"].as_str()?),
            ))
        })
        .collect();
    let families: HashMap<&str, &str> = nist["families"]
        .as_array()
        .expect("families")
        .iter()
        .filter_map(|f| Some((f["id"].as_str()?, f["title"].as_str()?)))
        .collect();
    for section in &catalog.sections {
        assert_eq!(
            families.get(section.id.as_str()).copied(),
            Some(section.title.as_str()),
            "family {}",
            section.id
        );
        for requirement in &section.requirements {
            let id = requirement.id.as_str();
            assert!(
                baseline.contains(id),
                "{id} is not in the FedRAMP Rev5 Moderate baseline"
            );
            let Some((label, title)) = controls.get(id) else {
                panic!("{id} is missing from tests/fixtures/frameworks/nist-800-53r5-controls-subset.json: add it from the NIST catalog");
            };
            assert_eq!(requirement.label.as_deref(), Some(*label), "{id}");
            assert_eq!(requirement.title, *title, "{id}");
            assert!(
                id.starts_with(&format!("{}-", section.id)),
                "{id} in {}",
                section.id
            );
        }
    }
    let listed = ids(&catalog);
    for required in [
        "ac-2", "ac-3", "ac-5", "ac-6", "au-2", "au-3", "au-6", "au-9", "au-11", "au-12", "sc-12",
        "sc-13", "sc-28", "si-4", "si-7",
    ] {
        assert!(listed.contains(required), "{required}");
    }
    // Every enhancement of these controls that the baseline includes and that the catalog
    // touches is listed; those outside the baseline are not.
    for outside in ["sc-12.1", "sc-12.2", "au-9.2", "au-9.3", "au-10", "ac-2.11"] {
        assert!(!baseline.contains(outside), "{outside}");
        assert!(!listed.contains(outside), "{outside}");
    }
    let au11 = catalog.requirement("au-11").expect("AU-11");
    assert_eq!(au11.log_coverage_days, Some(90));
}

#[test]
fn pci_dss_covers_key_management_access_and_logging_with_its_thresholds() {
    let catalog = catalog(PCI);
    let listed = ids(&catalog);
    for required in [
        "3.6.1", "3.6.1.2", "3.7.1", "3.7.4", "3.7.5", "3.7.6", "3.7.7", "3.7.8", "7.2.1", "7.2.2",
        "7.2.4", "7.2.5", "8.2.2", "10.2.1", "10.2.1.6", "10.2.2", "10.3.1", "10.3.2", "10.3.3",
        "10.3.4", "10.4.1", "10.4.3", "10.5.1", "10.7.1", "10.7.2", "10.7.3", "11.5.1", "12.3.3",
    ] {
        assert!(listed.contains(required), "{required}");
    }
    let cryptoperiod = catalog.requirement("3.7.4").expect("3.7.4");
    let threshold = cryptoperiod
        .thresholds
        .iter()
        .find(|t| t.rule == "KMS.ROT.1" && t.param == "max_age_days")
        .expect("cryptoperiod threshold");
    assert_eq!(threshold.max, Some(365.0));
    let retention = catalog.requirement("10.5.1").expect("10.5.1");
    assert_eq!(retention.log_coverage_days, Some(365));
    assert_eq!(retention.status, CatalogStatus::Automated);
    // A configured cryptoperiod looser than a year fails the threshold.
    use kms_audit::rules::params::ParamValue;
    assert_eq!(threshold.allows(&ParamValue::Int(400)), Some(false));
    assert_eq!(threshold.allows(&ParamValue::Int(180)), Some(true));
}

#[test]
fn hipaa_covers_the_four_sections() {
    let catalog = catalog(HIPAA);
    let sections: Vec<&str> = catalog.sections.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(sections, ["164.308", "164.310", "164.312", "164.316"]);
    for (section, requirement) in catalog.requirements() {
        assert!(
            requirement.id.starts_with(&format!("{}(", section.id)),
            "{} in {}",
            requirement.id,
            section.id
        );
    }
    for required in [
        "164.308(a)(1)(ii)(D)",
        "164.312(a)(1)",
        "164.312(a)(2)(iv)",
        "164.312(b)",
        "164.312(c)(1)",
        "164.316(b)(2)(i)",
    ] {
        assert!(catalog.requirement(required).is_some(), "{required}");
    }
    // HIPAA sets no audit-log retention period.
    assert!(catalog
        .requirements()
        .all(|(_, r)| r.log_coverage_days.is_none() && r.thresholds.is_empty()));
}

// ---- command line ----

fn run(args: &[&str]) -> (i32, String, String) {
    let output = assert_cmd::cargo::cargo_bin_cmd!("kms-audit")
        .args(args)
        .output()
        .expect("runs");
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A user's catalog: one requirement mapping a bundled rule, one mapping `missing`.
fn user_catalog(missing: &str) -> String {
    format!(
        "\
id: acme-key-standard
name: ACME key standard
version: '2025'
source:
  document: ACME internal key management standard
  url: https://intranet.example.com/key-standard
sections:
  - id: K
    title: Keys
    requirements:
      - id: K-1
        title: Keys rotate yearly
        rules: [KMS.ROT.1]
        thresholds:
          - {{ rule: KMS.ROT.1, param: max_age_days, max: 365 }}
      - id: K-2
        title: Grants are created only by the platform team
        rules: [{missing}]
      - id: K-3
        title: Custodians sign the key charter
        status: manual
        reason: Examine the signed charters.
"
    )
}

#[test]
fn lint_checks_the_bundled_catalogs() {
    let (code, out, err) = run(&["rules", "lint"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 error(s), 0 warning(s)"), "{out}");
    assert!(
        out.contains("3 framework catalog(s) checked (3 valid"),
        "{out}"
    );
}

#[test]
fn lint_fails_when_a_catalog_names_a_missing_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("acme.yml");
    std::fs::write(&file, user_catalog("KMS.NOPE.1")).expect("write");
    let path = file.to_str().expect("utf-8");
    let (code, out, _) = run(&["rules", "lint", "--catalog", path]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!(
            "{path}:18:9: error: sections[0].requirements[1].rules[0]: requirement K-2: rule `KMS.NOPE.1` does not exist"
        )),
        "{out}"
    );
    assert!(out.contains("1 error(s), 0 warning(s)"), "{out}");
    let (code, out, _) = run(&["rules", "lint", "--catalog", path, "--format", "json"]);
    assert_eq!(code, 1);
    let diagnostics: Value = serde_json::from_str(&out).expect("json");
    let first = &diagnostics[0];
    assert_eq!(first["file"], path);
    assert_eq!(first["line"], 18);
    assert_eq!(first["level"], "error");

    // The same catalog mapping an existing rule passes; a directory works too.
    std::fs::write(&file, user_catalog("KMS.LP.14")).expect("write");
    let dir_path = dir.path().to_str().expect("utf-8");
    let (code, out, _) = run(&["rules", "lint", "--catalog", dir_path]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("4 framework catalog(s) checked (4 valid"),
        "{out}"
    );

    // A catalog path that does not exist is a usage error.
    let (code, _, err) = run(&["rules", "lint", "--catalog", "/nonexistent/catalog.yml"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("catalog path /nonexistent/catalog.yml does not exist"),
        "{err}"
    );
}

#[test]
fn lint_checks_a_catalog_against_the_users_rules_and_the_pack() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).expect("mkdir");
    std::fs::write(
        rules.join("grant-created.yml"),
        "\
id: ACME.KMS.1
name: grant-created
title: A grant was created
severity: low
kind: match
what: CreateGrant calls.
why: Grants delegate key use outside the key policy.
remediation: Review the grant.
detection:
  selection:
    eventSource: kms.amazonaws.com
    eventName: CreateGrant
  condition: selection
tests:
  - name: a grant
    events:
      - { eventTime: '2025-01-01T00:00:00Z', eventSource: kms.amazonaws.com, eventName: CreateGrant }
    expect: { findings: 1 }
  - name: no grant
    events:
      - { eventTime: '2025-01-01T00:00:00Z', eventSource: kms.amazonaws.com, eventName: Decrypt }
    expect: { findings: 0 }
",
    )
    .expect("write");
    let catalog = dir.path().join("acme.yml");
    std::fs::write(&catalog, user_catalog("ACME.KMS.1")).expect("write");
    let (code, out, _) = run(&[
        "rules",
        "lint",
        rules.to_str().expect("utf-8"),
        "--catalog",
        catalog.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 0, "{out}");
    // With PATHs, only the given catalogs are checked.
    assert!(
        out.contains("1 framework catalog(s) checked (1 valid"),
        "{out}"
    );
}

#[test]
fn frameworks_list_and_show() {
    let (code, out, err) = run(&["frameworks", "list"]);
    assert_eq!(code, 0, "{err}");
    for id in [PCI, HIPAA, FEDRAMP] {
        assert!(out.contains(id), "{out}");
    }
    let (code, out, _) = run(&["frameworks", "list", "--format", "json"]);
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(3));
    assert!(list[0]["requirements"]["automated"]
        .as_u64()
        .is_some_and(|n| n > 0));

    let (code, out, _) = run(&["frameworks", "show", "FedRAMP-Rev5-Moderate"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("  AU-11  Audit Record Retention  [automated]"),
        "{out}"
    );
    assert!(out.contains("logs: cover at least 90 days"), "{out}");
    let (code, out, _) = run(&["frameworks", "show", PCI, "--format", "json"]);
    assert_eq!(code, 0);
    let shown: Value = serde_json::from_str(&out).expect("json");
    assert_eq!(shown["id"], PCI);
    assert!(shown["sections"][0]["requirements"][0]["status"].is_string());

    let (code, _, err) = run(&["frameworks", "show", "iso-27001"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no framework catalog has the id `iso-27001`"),
        "{err}"
    );

    // A user's catalog with an error is refused with its place.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("acme.yml");
    std::fs::write(
        &file,
        user_catalog("KMS.LP.14").replace("status: manual", "status: skipped"),
    )
    .expect("write");
    let (code, _, err) = run(&[
        "frameworks",
        "list",
        "--catalog",
        file.to_str().expect("utf-8"),
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains(
            "acme.yml:21:9: sections[0].requirements[2].status: unknown variant `skipped`"
        ),
        "{err}"
    );
}
