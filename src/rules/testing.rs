//! Runs the test cases a rule carries. Each case's events go through the real pipeline: the
//! inline records are written as a CloudTrail file, ingested into a throwaway lake by the same
//! normalization and Parquet code as `scan`, and the rule is evaluated over that lake by the
//! same one-pass evaluator. A rule that passes its tests therefore behaves the same on real
//! trails. A case's `files` (log files in the S3 layout and their digest files, as text) are
//! written into a trail directory read the same way, digests included.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

use crate::ingest::lake::Lake;
use crate::ingest::{ingest, IngestOptions, Silent};
use crate::rules::error::EvalError;
use crate::rules::eval::{evaluate, scan_parts, EvalOptions};
use crate::rules::model::{Rule, TestCase, TestEvents};
use crate::trail::discover::discover;
use crate::trail::problem::Location;

/// File name of the inline records of a case, in its temporary directory.
const INLINE_FILE: &str = "inline-events.json";

/// Directory of a case's `files`, in its temporary directory.
const FILES_DIR: &str = "trail";

/// How one test case went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum CaseStatus {
    /// The outcome is as expected.
    Passed,
    /// The outcome differs from the expectation.
    Failed {
        /// Expected and actual counts, in words.
        message: String,
    },
    /// The case could not run (an unreadable event, a missing fixture).
    Error {
        /// Why.
        message: String,
    },
}

/// The result of one test case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    /// The rule's id.
    pub rule_id: String,
    /// The case's name.
    pub case: String,
    /// `file:line` of the case.
    pub location: String,
    /// Findings produced.
    pub findings: u64,
    /// Events matched.
    pub matches: u64,
    /// The verdict.
    #[serde(flatten)]
    pub status: CaseStatus,
}

impl CaseResult {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.status == CaseStatus::Passed
    }
}

/// Runs every test case of every rule, in order.
pub fn run_tests(rules: &[Rule]) -> Vec<CaseResult> {
    rules.iter().flat_map(run_rule_tests).collect()
}

/// Runs the test cases of `rule`.
pub fn run_rule_tests(rule: &Rule) -> Vec<CaseResult> {
    rule.tests
        .iter()
        .map(|case| {
            let location = format!("{}:{}", rule.origin.file, case.line);
            let (findings, matches, status) = match run_case(rule, case) {
                Ok((findings, matches)) => {
                    let mut wrong = Vec::new();
                    if let Some(expected) = case.expect.findings.filter(|e| *e != findings) {
                        wrong.push(format!("expected {expected} finding(s), got {findings}"));
                    }
                    if let Some(expected) = case.expect.matches.filter(|e| *e != matches) {
                        wrong.push(format!(
                            "expected {expected} matching event(s), got {matches}"
                        ));
                    }
                    let status = if wrong.is_empty() {
                        CaseStatus::Passed
                    } else {
                        CaseStatus::Failed {
                            message: wrong.join("; "),
                        }
                    };
                    (findings, matches, status)
                }
                Err(message) => (0, 0, CaseStatus::Error { message }),
            };
            CaseResult {
                rule_id: rule.id.clone(),
                case: case.name.clone(),
                location,
                findings,
                matches,
                status,
            }
        })
        .collect()
}

/// Evaluates `rule` on the events of `case`: (findings, matching events).
fn run_case(rule: &Rule, case: &TestCase) -> Result<(u64, u64), String> {
    let rule = if case.params.is_empty() {
        rule.clone()
    } else {
        rule.with_params(&case.params)
            .map_err(|err| err.to_string())?
    };
    let work = tempfile::Builder::new()
        .prefix("kms-audit-rule-test-")
        .tempdir()
        .map_err(|err| format!("temporary directory: {err}"))?;
    let mut inputs: Vec<PathBuf> = Vec::new();
    let mut inline_positions = Vec::new();
    let mut inline = Vec::new();
    for (position, events) in case.events.iter().enumerate() {
        match events {
            TestEvents::Record(record) => {
                inline_positions.push(position);
                inline.push(record);
            }
            TestEvents::File(relative) => {
                let path = match &rule.origin.dir {
                    Some(dir) => dir.join(relative),
                    None => relative.clone(),
                };
                if !path.exists() {
                    return Err(format!(
                        "events[{position}]: fixture {} does not exist",
                        path.display()
                    ));
                }
                inputs.push(path);
            }
        }
    }
    if !case.files.is_empty() {
        let dir = work.path().join(FILES_DIR);
        for (relative, text) in &case.files {
            let path = dir.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .map_err(|err| format!("{}: {err}", parent.display()))?;
            }
            std::fs::write(&path, text).map_err(|err| format!("{}: {err}", path.display()))?;
        }
        inputs.push(dir);
    }
    if !inline.is_empty() {
        let path = work.path().join(INLINE_FILE);
        let body = serde_json::json!({ "Records": inline });
        std::fs::write(&path, body.to_string())
            .map_err(|err| format!("{}: {err}", path.display()))?;
        inputs.insert(0, path);
    }
    let lake_dir = work.path().join("lake");
    let result = (|| -> Result<(u64, u64), EvalError> {
        let discovery = discover(&inputs)?;
        let mut lake = Lake::open(&lake_dir)?;
        let options = IngestOptions {
            strict: true,
            threads: 1,
            ..IngestOptions::default()
        };
        ingest(&discovery, &mut lake, &options, &Silent)?;
        let parts = lake.part_paths();
        if parts.is_empty() {
            return Ok((0, 0));
        }
        let options = EvalOptions {
            integrity: crate::ingest::integrity::Integrity::load(&lake_dir)?.map(Arc::new),
            ..EvalOptions::default()
        };
        let outcome = evaluate(&[&rule], scan_parts(&parts)?, &options)?;
        let matches = outcome.matched.iter().map(|(_, n)| n).sum();
        Ok((outcome.findings.len() as u64, matches))
    })();
    result.map_err(|err| match err {
        EvalError::Lake(crate::error::Error::Strict(problem))
            if problem.file.ends_with(INLINE_FILE) =>
        {
            match problem.location {
                Location::Record(i) => format!(
                    "events[{}] cannot be read: {}",
                    inline_positions.get(i).copied().unwrap_or(i),
                    problem.detail
                ),
                _ => format!("inline events cannot be read: {}", problem.detail),
            }
        }
        other => other.to_string(),
    })
}
