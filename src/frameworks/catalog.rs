//! One framework catalog: its model, parsed from YAML and validated once ([`parse`]), and
//! the check of its mappings against a set of loaded rules ([`check_rules`]).
//!
//! A catalog lists sections, each with requirements. A requirement is `automated` (rules
//! whose findings decide it, optionally with parameter thresholds and a minimum log
//! coverage), `manual` (procedural: the reason says what the assessor examines) or
//! `not-applicable` (the reason says why). The format is documented in
//! `rules/frameworks/README.md`.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_yaml_ng::Value;

use crate::frameworks::error::{CatalogError, CatalogErrorKind};
use crate::rules::model::Rule;
use crate::rules::params::ParamValue;
use crate::rules::yaml::{FieldPath, KeyIndex};

/// Field names of the catalog format, as written in YAML and in error paths.
pub mod field {
    /// Catalog, section and requirement id.
    pub const ID: &str = "id";
    /// The catalog's framework name.
    pub const NAME: &str = "name";
    /// The framework version.
    pub const VERSION: &str = "version";
    /// Where the framework text comes from.
    pub const SOURCE: &str = "source";
    /// The source document's title.
    pub const DOCUMENT: &str = "document";
    /// The source URL.
    pub const URL: &str = "url";
    /// The catalog's sections.
    pub const SECTIONS: &str = "sections";
    /// A section's requirements.
    pub const REQUIREMENTS: &str = "requirements";
    /// Section and requirement title.
    pub const TITLE: &str = "title";
    /// How a requirement is assessed.
    pub const STATUS: &str = "status";
    /// The rules that give evidence for a requirement.
    pub const RULES: &str = "rules";
    /// Why a requirement is manual or not applicable.
    pub const REASON: &str = "reason";
    /// Parameter bounds a framework sets.
    pub const THRESHOLDS: &str = "thresholds";
    /// The rule a threshold bounds.
    pub const RULE: &str = "rule";
    /// The parameter a threshold bounds.
    pub const PARAM: &str = "param";
    /// Minimum days the logs must cover.
    pub const LOG_COVERAGE_DAYS: &str = "log_coverage_days";
}

/// How a requirement is assessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CatalogStatus {
    /// Decided by the findings of its rules (and its thresholds and log coverage).
    Automated,
    /// Procedural: an assessor examines what the reason says.
    Manual,
    /// Does not apply to KMS keys and their audit logs, for the reason given.
    NotApplicable,
}

impl CatalogStatus {
    /// The name used in catalog files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Automated => "automated",
            Self::Manual => "manual",
            Self::NotApplicable => "not-applicable",
        }
    }
}

impl fmt::Display for CatalogStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the framework's text comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// Title of the document.
    pub document: String,
    /// Where to get it.
    pub url: String,
    /// Who publishes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// When the version was published (free text, `2024-06`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
}

/// A bound the framework sets on a rule parameter: a configured value outside it forces the
/// requirement to not-satisfied in reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// The rule (one of the requirement's `rules`).
    pub rule: String,
    /// The rule's integer or number parameter.
    pub param: String,
    /// The largest value allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// The smallest value allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Where the bound comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
}

impl Threshold {
    /// Whether `value` is within the bounds; `None` when the value is not a number.
    pub fn allows(&self, value: &ParamValue) -> Option<bool> {
        let number = match value {
            ParamValue::Int(i) => *i as f64,
            ParamValue::Float(f) => *f,
            _ => return None,
        };
        Some(self.max.is_none_or(|max| number <= max) && self.min.is_none_or(|min| number >= min))
    }

    /// The bounds as text: `≤ 365`, `≥ 30`, `≥ 30 and ≤ 365`.
    pub fn bound(&self) -> String {
        match (self.min, self.max) {
            (Some(min), Some(max)) => format!("≥ {min} and ≤ {max}"),
            (Some(min), None) => format!("≥ {min}"),
            (None, Some(max)) => format!("≤ {max}"),
            (None, None) => "any value".to_owned(),
        }
    }
}

/// One requirement (or control) of a framework.
#[derive(Debug, Clone, Serialize)]
pub struct Requirement {
    /// The framework's id for it (`3.7.4`, `164.312(b)`, `ac-2.4`).
    pub id: String,
    /// How the framework displays the id, when it differs (`AC-2(4)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Short title.
    pub title: String,
    /// How it is assessed.
    pub status: CatalogStatus,
    /// Rules whose findings decide it (automated only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// Why it is manual (what the assessor examines) or not applicable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the rules show and what they leave to the assessor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Bounds on rule parameters (automated only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<Threshold>,
    /// The fewest days the logs must cover (automated only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_coverage_days: Option<u32>,
    /// 1-based line of the requirement in its file.
    pub line: usize,
    #[serde(skip)]
    path: FieldPath,
}

impl Requirement {
    /// The id as the framework displays it: the label when there is one.
    pub fn display_id(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.id)
    }
}

/// A group of requirements (a PCI DSS principal requirement, a CFR section, a control
/// family).
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    /// The section's id (`10`, `164.312`, `au`).
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its requirements, in file order.
    pub requirements: Vec<Requirement>,
}

/// Requirement counts by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    /// Decided by rules.
    pub automated: usize,
    /// Procedural.
    pub manual: usize,
    /// Not applicable.
    pub not_applicable: usize,
}

impl StatusCounts {
    /// All requirements.
    pub fn total(&self) -> usize {
        self.automated + self.manual + self.not_applicable
    }
}

/// A validated framework catalog.
#[derive(Debug, Clone, Serialize)]
pub struct Catalog {
    /// Stable id, used by `report --framework` (`pci-dss-4.0.1`).
    pub id: String,
    /// The framework's name.
    pub name: String,
    /// The framework's version.
    pub version: String,
    /// Where its text comes from.
    pub source: Source,
    /// What the catalog covers and leaves out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Its sections, in file order.
    pub sections: Vec<Section>,
    /// The file, as shown to the user.
    pub file: String,
    #[serde(skip)]
    index: Arc<KeyIndex>,
}

impl Catalog {
    /// Every requirement with its section, in file order.
    pub fn requirements(&self) -> impl Iterator<Item = (&Section, &Requirement)> {
        self.sections
            .iter()
            .flat_map(|s| s.requirements.iter().map(move |r| (s, r)))
    }

    /// The requirement with id (or label) `id`, compared case-insensitively.
    pub fn requirement(&self, id: &str) -> Option<&Requirement> {
        self.requirements()
            .map(|(_, r)| r)
            .find(|r| r.id.eq_ignore_ascii_case(id) || r.display_id().eq_ignore_ascii_case(id))
    }

    /// Requirement counts by status.
    pub fn counts(&self) -> StatusCounts {
        let mut counts = StatusCounts::default();
        for (_, requirement) in self.requirements() {
            match requirement.status {
                CatalogStatus::Automated => counts.automated += 1,
                CatalogStatus::Manual => counts.manual += 1,
                CatalogStatus::NotApplicable => counts.not_applicable += 1,
            }
        }
        counts
    }

    /// 1-based line and column of the catalog's `id`.
    pub fn id_position(&self) -> (usize, usize) {
        self.index.locate(0, &FieldPath::root().key(field::ID))
    }

    /// `file:line` of the catalog's id, for messages.
    pub fn location(&self) -> String {
        format!("{}:{}", self.file, self.id_position().0)
    }

    fn error_at(
        &self,
        path: &FieldPath,
        requirement: Option<&str>,
        kind: CatalogErrorKind,
    ) -> CatalogError {
        located(&self.file, &self.index, path, requirement, kind)
    }
}

fn located(
    file: &str,
    index: &KeyIndex,
    path: &FieldPath,
    requirement: Option<&str>,
    kind: CatalogErrorKind,
) -> CatalogError {
    let (line, column) = index.locate(0, path);
    CatalogError {
        file: file.to_owned(),
        line,
        column,
        field: path.to_string(),
        requirement: requirement.map(str::to_owned),
        kind,
    }
}

// The file as written; checked into the model by `validate`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    id: String,
    name: String,
    version: String,
    source: Source,
    #[serde(default)]
    scope: Option<String>,
    sections: Vec<RawSection>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSection {
    id: String,
    title: String,
    #[serde(default)]
    requirements: Vec<RawRequirement>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequirement {
    id: String,
    #[serde(default)]
    label: Option<String>,
    title: String,
    #[serde(default)]
    status: Option<CatalogStatus>,
    #[serde(default)]
    rules: Vec<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    thresholds: Vec<Threshold>,
    #[serde(default)]
    log_coverage_days: Option<u32>,
}

/// Parses and validates the catalog in `text`, the content of `file` (as shown to the user).
/// All validation errors are returned, each with its line; a YAML or schema error stops at
/// the first.
pub fn parse(file: &str, text: &str) -> Result<Catalog, Vec<CatalogError>> {
    let index = Arc::new(KeyIndex::new(text));
    let at = |path: &FieldPath, kind| located(file, &index, path, None, kind);
    let value: Value = serde_yaml_ng::from_str(text).map_err(|err| {
        let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
        let message = err.to_string();
        let suffix = format!(" at line {line} column {column}");
        let message = message.strip_suffix(&suffix).unwrap_or(&message).to_owned();
        vec![CatalogError {
            file: file.to_owned(),
            line,
            column,
            field: String::new(),
            requirement: None,
            kind: CatalogErrorKind::Syntax(message),
        }]
    })?;
    if matches!(value, Value::Null) {
        return Err(vec![at(
            &FieldPath::root(),
            CatalogErrorKind::Schema(
                "the file is empty: a catalog needs id, name, version, source and sections"
                    .to_owned(),
            ),
        )]);
    }
    let raw: RawCatalog = serde_path_to_error::deserialize(value).map_err(|err| {
        let mut path = FieldPath::root();
        for segment in err.path() {
            path = match segment {
                serde_path_to_error::Segment::Seq { index } => path.index(*index),
                serde_path_to_error::Segment::Map { key } => path.key(key),
                _ => path,
            };
        }
        vec![at(&path, CatalogErrorKind::Schema(err.inner().to_string()))]
    })?;
    validate(raw, file, index)
}

/// Collects validation errors with their positions.
struct Checker<'a> {
    file: &'a str,
    index: &'a KeyIndex,
    errors: Vec<CatalogError>,
}

impl Checker<'_> {
    fn push(&mut self, path: &FieldPath, requirement: Option<&str>, kind: CatalogErrorKind) {
        self.errors
            .push(located(self.file, self.index, path, requirement, kind));
    }

    fn line(&self, path: &FieldPath) -> usize {
        self.index.locate(0, path).0
    }

    fn non_empty(&mut self, path: &FieldPath, requirement: Option<&str>, text: &str) {
        if text.trim().is_empty() {
            self.push(path, requirement, CatalogErrorKind::Empty);
        }
    }
}

fn validate(
    raw: RawCatalog,
    file: &str,
    index: Arc<KeyIndex>,
) -> Result<Catalog, Vec<CatalogError>> {
    let mut check = Checker {
        file,
        index: &index,
        errors: Vec::new(),
    };
    let root = FieldPath::root();
    if !is_catalog_id(&raw.id) {
        check.push(
            &root.key(field::ID),
            None,
            CatalogErrorKind::BadCatalogId(raw.id.clone()),
        );
    }
    check.non_empty(&root.key(field::NAME), None, &raw.name);
    check.non_empty(&root.key(field::VERSION), None, &raw.version);
    let source = root.key(field::SOURCE);
    check.non_empty(&source.key(field::DOCUMENT), None, &raw.source.document);
    if !(raw.source.url.starts_with("https://") || raw.source.url.starts_with("http://")) {
        check.push(
            &source.key(field::URL),
            None,
            CatalogErrorKind::BadUrl(raw.source.url.clone()),
        );
    }
    if raw.sections.is_empty() {
        check.push(
            &root.key(field::SECTIONS),
            None,
            CatalogErrorKind::NoSections,
        );
    }
    let mut section_lines: HashMap<String, usize> = HashMap::new();
    let mut requirement_lines: HashMap<String, usize> = HashMap::new();
    let mut sections = Vec::with_capacity(raw.sections.len());
    for (s, raw_section) in raw.sections.into_iter().enumerate() {
        let section_path = root.key(field::SECTIONS).index(s);
        let id_path = section_path.key(field::ID);
        if raw_section.id.trim().is_empty() {
            check.push(&id_path, None, CatalogErrorKind::Empty);
        } else if raw_section.id.contains(char::is_whitespace) {
            check.push(
                &id_path,
                None,
                CatalogErrorKind::BadId(raw_section.id.clone()),
            );
        }
        let line = check.line(&section_path);
        if let Some(first_line) = section_lines.get(&raw_section.id.to_ascii_lowercase()) {
            let kind = CatalogErrorKind::DuplicateSection {
                id: raw_section.id.clone(),
                first_line: *first_line,
            };
            check.push(&id_path, None, kind);
        } else {
            section_lines.insert(raw_section.id.to_ascii_lowercase(), line);
        }
        check.non_empty(&section_path.key(field::TITLE), None, &raw_section.title);
        if raw_section.requirements.is_empty() {
            check.push(&section_path, None, CatalogErrorKind::EmptySection);
        }
        let mut requirements = Vec::with_capacity(raw_section.requirements.len());
        for (r, raw_requirement) in raw_section.requirements.into_iter().enumerate() {
            let path = section_path.key(field::REQUIREMENTS).index(r);
            let requirement =
                validate_requirement(raw_requirement, path, &mut check, &mut requirement_lines);
            requirements.push(requirement);
        }
        sections.push(Section {
            id: raw_section.id,
            title: tidy(&raw_section.title),
            requirements,
        });
    }
    if !check.errors.is_empty() {
        return Err(check.errors);
    }
    let source = Source {
        document: tidy(&raw.source.document),
        url: raw.source.url,
        publisher: raw.source.publisher.as_deref().map(tidy),
        published: raw.source.published,
    };
    Ok(Catalog {
        id: raw.id,
        name: raw.name,
        version: raw.version,
        source,
        scope: raw.scope.as_deref().map(tidy),
        sections,
        file: file.to_owned(),
        index,
    })
}

fn validate_requirement(
    raw: RawRequirement,
    path: FieldPath,
    check: &mut Checker<'_>,
    seen: &mut HashMap<String, usize>,
) -> Requirement {
    let id = raw.id.as_str();
    let req = Some(id);
    let id_path = path.key(field::ID);
    let line = check.line(&path);
    if id.trim().is_empty() {
        check.push(&id_path, None, CatalogErrorKind::Empty);
    } else if id.contains(char::is_whitespace) {
        check.push(&id_path, None, CatalogErrorKind::BadId(id.to_owned()));
    } else if let Some(first_line) = seen.get(&id.to_ascii_lowercase()) {
        let kind = CatalogErrorKind::DuplicateRequirement {
            id: id.to_owned(),
            first_line: *first_line,
        };
        check.push(&id_path, req, kind);
    } else {
        seen.insert(id.to_ascii_lowercase(), line);
    }
    check.non_empty(&path.key(field::TITLE), req, &raw.title);
    let decided = !raw.rules.is_empty() || raw.log_coverage_days.is_some();
    let status = raw.status.unwrap_or(if decided {
        CatalogStatus::Automated
    } else {
        CatalogStatus::Manual
    });
    let status_path = path.key(field::STATUS);
    match status {
        CatalogStatus::Automated => {
            if !decided {
                // Only an explicit `status: automated` gets here without rules.
                check.push(&status_path, req, CatalogErrorKind::NoEvidence);
            }
            if raw.reason.is_some() {
                check.push(
                    &path.key(field::REASON),
                    req,
                    CatalogErrorKind::ReasonOnAutomated,
                );
            }
        }
        CatalogStatus::Manual | CatalogStatus::NotApplicable => {
            if raw.status.is_none() {
                // Neither rules nor a status: say what is missing.
                check.push(&path, req, CatalogErrorKind::NoEvidence);
            } else if raw.reason.as_deref().is_none_or(|r| r.trim().is_empty()) {
                let at = if raw.reason.is_some() {
                    path.key(field::REASON)
                } else {
                    status_path.clone()
                };
                check.push(&at, req, CatalogErrorKind::MissingReason(status));
            }
            let mapped = [
                (field::RULES, !raw.rules.is_empty()),
                (field::THRESHOLDS, !raw.thresholds.is_empty()),
                (field::LOG_COVERAGE_DAYS, raw.log_coverage_days.is_some()),
            ];
            for (name, present) in mapped {
                if present && raw.status.is_some() {
                    let kind = CatalogErrorKind::NotWithStatus {
                        field: name,
                        status,
                    };
                    check.push(&path.key(name), req, kind);
                }
            }
        }
    }
    let mut listed: Vec<String> = Vec::new();
    for (k, rule) in raw.rules.iter().enumerate() {
        let at = path.key(field::RULES).index(k);
        if rule.trim().is_empty() {
            check.push(&at, req, CatalogErrorKind::Empty);
        } else if listed.iter().any(|r| r.eq_ignore_ascii_case(rule)) {
            check.push(&at, req, CatalogErrorKind::DuplicateRule(rule.clone()));
        } else {
            listed.push(rule.clone());
        }
    }
    let mut bounded: Vec<(String, String)> = Vec::new();
    for (t, threshold) in raw.thresholds.iter().enumerate() {
        let at = path.key(field::THRESHOLDS).index(t);
        if !raw
            .rules
            .iter()
            .any(|r| r.eq_ignore_ascii_case(&threshold.rule))
        {
            let kind = CatalogErrorKind::ThresholdRuleNotMapped(threshold.rule.clone());
            check.push(&at.key(field::RULE), req, kind);
        }
        check.non_empty(&at.key(field::PARAM), req, &threshold.param);
        match (threshold.min, threshold.max) {
            (None, None) => check.push(&at, req, CatalogErrorKind::ThresholdWithoutBound),
            (Some(min), Some(max)) if min > max => {
                check.push(&at, req, CatalogErrorKind::ThresholdBounds { min, max });
            }
            _ => {}
        }
        let key = (threshold.rule.to_ascii_uppercase(), threshold.param.clone());
        if bounded.contains(&key) {
            let kind = CatalogErrorKind::DuplicateThreshold {
                rule: threshold.rule.clone(),
                param: threshold.param.clone(),
            };
            check.push(&at, req, kind);
        } else {
            bounded.push(key);
        }
    }
    if raw.log_coverage_days == Some(0) {
        check.push(
            &path.key(field::LOG_COVERAGE_DAYS),
            req,
            CatalogErrorKind::ZeroCoverage,
        );
    }
    let thresholds = raw
        .thresholds
        .into_iter()
        .map(|t| Threshold {
            basis: t.basis.as_deref().map(tidy),
            ..t
        })
        .collect();
    Requirement {
        id: raw.id,
        label: raw.label,
        title: tidy(&raw.title),
        status,
        rules: raw.rules,
        reason: raw.reason.as_deref().map(tidy),
        note: raw.note.as_deref().map(tidy),
        thresholds,
        log_coverage_days: raw.log_coverage_days,
        line,
        path,
    }
}

/// Prose as stored: without the trailing newline of YAML block scalars.
fn tidy(text: &str) -> String {
    text.trim().to_owned()
}

/// Whether `id` is a catalog id: lower-case letters and digits in segments joined by single
/// dots or dashes (`pci-dss-4.0.1`).
pub fn is_catalog_id(id: &str) -> bool {
    !id.is_empty()
        && id.split(['.', '-']).all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
}

/// The result of checking a catalog's mappings against rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RuleCheck {
    /// Mappings that name a rule or parameter that does not exist, or a parameter that is
    /// not a number.
    pub errors: Vec<CatalogError>,
    /// Thresholds that the rules' current parameter values do not meet.
    pub warnings: Vec<CatalogError>,
}

/// Checks every mapping of `catalog` against `rules` (ids compare case-insensitively): each
/// rule must exist, each threshold must name a numeric parameter of its rule, and the rule's
/// current value should meet the threshold.
pub fn check_rules(catalog: &Catalog, rules: &[&Rule]) -> RuleCheck {
    let by_id: HashMap<String, &Rule> = rules
        .iter()
        .map(|rule| (rule.id.to_ascii_uppercase(), *rule))
        .collect();
    let mut result = RuleCheck::default();
    for (_, requirement) in catalog.requirements() {
        let req = Some(requirement.id.as_str());
        for (k, id) in requirement.rules.iter().enumerate() {
            if !by_id.contains_key(&id.to_ascii_uppercase()) {
                let at = requirement.path.key(field::RULES).index(k);
                let kind = CatalogErrorKind::UnknownRule(id.clone());
                result.errors.push(catalog.error_at(&at, req, kind));
            }
        }
        for (t, threshold) in requirement.thresholds.iter().enumerate() {
            let Some(rule) = by_id.get(&threshold.rule.to_ascii_uppercase()) else {
                // Reported above: a threshold's rule is one of the requirement's rules.
                continue;
            };
            let at = requirement
                .path
                .key(field::THRESHOLDS)
                .index(t)
                .key(field::PARAM);
            let Some(value) = rule.params.get(&threshold.param) else {
                let names: Vec<&str> = rule.params.iter().map(|(n, _)| n.as_str()).collect();
                let known = if names.is_empty() {
                    "it has no parameters".to_owned()
                } else {
                    format!("its parameters: {}", names.join(", "))
                };
                let kind = CatalogErrorKind::UnknownParam {
                    rule: rule.id.clone(),
                    param: threshold.param.clone(),
                    known,
                };
                result.errors.push(catalog.error_at(&at, req, kind));
                continue;
            };
            match threshold.allows(value) {
                None => {
                    let kind = CatalogErrorKind::NonNumericParam {
                        rule: rule.id.clone(),
                        param: threshold.param.clone(),
                        type_name: value.type_name(),
                    };
                    result.errors.push(catalog.error_at(&at, req, kind));
                }
                Some(false) => {
                    let kind = CatalogErrorKind::LooserValue {
                        rule: rule.id.clone(),
                        param: threshold.param.clone(),
                        value: value.to_string(),
                        bound: threshold.bound(),
                    };
                    result.warnings.push(catalog.error_at(&at, req, kind));
                }
                Some(true) => {}
            }
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::loader::{finish, load_text, Loaded};

    const CATALOG: &str = "\
id: acme-keys-1
name: ACME key standard
version: '1'
source:
  document: ACME internal key standard
  url: https://example.com/keys
sections:
  - id: K
    title: Keys
    requirements:
      - id: K.1
        title: Keys rotate yearly
        rules: [KMS.TEST.1]
        thresholds:
          - { rule: KMS.TEST.1, param: max_age_days, max: 365 }
      - id: K.2
        title: Custodians sign
        status: manual
        reason: Examine the signatures.
      - id: K.3
        title: Logs kept
        log_coverage_days: 90
      - id: K.4
        title: Not for us
        status: not-applicable
        reason: No HSMs.
";

    fn errors(text: &str) -> Vec<String> {
        match parse("acme.yml", text) {
            Ok(_) => Vec::new(),
            Err(errors) => errors.iter().map(ToString::to_string).collect(),
        }
    }

    fn one_error(text: &str) -> String {
        let errors = errors(text);
        assert_eq!(errors.len(), 1, "{errors:#?}");
        errors.into_iter().next().unwrap_or_default()
    }

    #[test]
    fn a_valid_catalog_parses_with_statuses_thresholds_and_lines() {
        let catalog = parse("acme.yml", CATALOG).expect("valid");
        assert_eq!(catalog.id, "acme-keys-1");
        assert_eq!(catalog.sections.len(), 1);
        let counts = catalog.counts();
        assert_eq!(
            (counts.automated, counts.manual, counts.not_applicable),
            (2, 1, 1)
        );
        let k1 = catalog.requirement("k.1").expect("K.1");
        assert_eq!(k1.status, CatalogStatus::Automated);
        assert_eq!(k1.line, 11);
        assert_eq!(k1.thresholds[0].bound(), "≤ 365");
        assert_eq!(k1.thresholds[0].allows(&ParamValue::Int(365)), Some(true));
        assert_eq!(k1.thresholds[0].allows(&ParamValue::Int(366)), Some(false));
        assert_eq!(k1.thresholds[0].allows(&ParamValue::Text("x".into())), None);
        let k3 = catalog.requirement("K.3").expect("K.3");
        assert_eq!(k3.status, CatalogStatus::Automated);
        assert_eq!(k3.log_coverage_days, Some(90));
        assert_eq!(catalog.location(), "acme.yml:1");
    }

    #[test]
    fn duplicate_requirement_ids_name_both_lines() {
        let text = CATALOG.replace("id: K.2", "id: K.1");
        assert_eq!(
            one_error(&text),
            "acme.yml:16:9: sections[0].requirements[1].id: requirement K.1: `K.1` is already defined at line 11"
        );
    }

    #[test]
    fn status_must_be_consistent() {
        // Manual without a reason.
        let text = CATALOG.replace("        reason: Examine the signatures.\n", "");
        assert_eq!(
            one_error(&text),
            "acme.yml:18:9: sections[0].requirements[1].status: requirement K.2: `status: manual` needs a `reason`: what the assessor must examine"
        );
        // Not applicable with rules.
        let text = CATALOG.replace(
            "        reason: No HSMs.\n",
            "        reason: No HSMs.\n        rules: [KMS.TEST.1]\n",
        );
        assert!(
            one_error(&text).contains(
                "requirements[3].rules: requirement K.4: `rules` is not allowed with `status: not-applicable`"
            ),
            "{text}"
        );
        // Neither rules nor a status.
        let text = CATALOG.replace("        log_coverage_days: 90\n", "");
        assert!(
            one_error(&text).contains("requirement K.3: an automated requirement needs `rules`")
        );
        // A reason on an automated requirement.
        let text = CATALOG.replace(
            "        log_coverage_days: 90\n",
            "        log_coverage_days: 90\n        reason: because\n",
        );
        assert!(one_error(&text).contains("`reason` is for manual and not-applicable"));
        // An explicit automated status without rules.
        let text = CATALOG.replace(
            "        log_coverage_days: 90\n",
            "        status: automated\n",
        );
        assert!(one_error(&text).contains("requirements[2].status: requirement K.3: an automated"));
    }

    #[test]
    fn thresholds_must_bound_a_mapped_rule() {
        let text = CATALOG.replace("rule: KMS.TEST.1, param", "rule: KMS.TEST.2, param");
        assert_eq!(
            one_error(&text),
            "acme.yml:15:11: sections[0].requirements[0].thresholds[0].rule: requirement K.1: the threshold is on rule `KMS.TEST.2`, which the requirement does not list in `rules`"
        );
        let text = CATALOG.replace(", max: 365", "");
        assert!(one_error(&text).contains("a threshold needs `max`, `min` or both"));
        let text = CATALOG.replace(", max: 365", ", max: 30, min: 60");
        assert!(one_error(&text).contains("`min` 60 is greater than `max` 30"));
    }

    #[test]
    fn schema_errors_name_the_field_and_its_line() {
        let text = CATALOG.replace("        status: manual\n", "        stauts: manual\n");
        let error = one_error(&text);
        assert!(
            error.starts_with(
                "acme.yml:18:9: sections[0].requirements[1].stauts: unknown field `stauts`"
            ),
            "{error}"
        );
        let text = CATALOG.replace("status: manual", "status: skipped");
        let error = one_error(&text);
        assert!(
            error.starts_with(
                "acme.yml:18:9: sections[0].requirements[1].status: unknown variant `skipped`"
            ),
            "{error}"
        );
        // An id YAML reads as a number must be quoted.
        let text = CATALOG.replace("id: K.2", "id: 3.5");
        assert!(one_error(&text)
            .contains("requirements[1].id: invalid type: floating point `3.5`, expected a string"));
        let text = CATALOG.replace("    title: Keys\n", "");
        assert!(one_error(&text).contains("sections[0]: missing field `title`"));
        let error = one_error("id: [unclosed\n");
        assert!(error.starts_with("acme.yml:2:1: invalid YAML:"), "{error}");
        assert!(one_error("").contains("the file is empty"));
    }

    #[test]
    fn catalog_level_fields_are_checked() {
        let text = CATALOG
            .replace("id: acme-keys-1", "id: ACME Keys")
            .replace("https://example.com/keys", "example.com");
        let errors = errors(&text);
        assert_eq!(errors.len(), 2, "{errors:#?}");
        assert!(errors[0].starts_with("acme.yml:1:1: id: `ACME Keys` is not a catalog id"));
        assert!(errors[1].starts_with("acme.yml:6:3: source.url: `example.com` is not an http"));
        assert!(is_catalog_id("pci-dss-4.0.1"));
        assert!(!is_catalog_id("pci--dss"));
        assert!(!is_catalog_id("-pci"));
    }

    const RULE: &str = "\
id: KMS.TEST.1
name: key-material-old
title: Key material is old
severity: high
kind: match
what: Old keys.
why: Old keys.
remediation: Rotate.
params:
  max_age_days: 400
  names: []
detection:
  selection:
    eventName: RotateKey
  condition: selection
";

    fn rules() -> Loaded {
        let mut loaded = Loaded::default();
        load_text("rules/test.yml", None, RULE, &mut loaded);
        finish(&mut loaded);
        assert!(loaded.is_ok(), "{:#?}", loaded.errors);
        loaded
    }

    #[test]
    fn mappings_are_checked_against_the_rules() {
        let loaded = rules();
        let refs: Vec<&Rule> = loaded.rules.iter().collect();
        let catalog = parse("acme.yml", CATALOG).expect("valid");
        let check = check_rules(&catalog, &refs);
        assert!(check.errors.is_empty(), "{:#?}", check.errors);
        // The rule's default (400) is looser than the framework's 365: a warning.
        assert_eq!(check.warnings.len(), 1);
        assert_eq!(
            check.warnings[0].to_string(),
            "acme.yml:15:11: sections[0].requirements[0].thresholds[0].param: requirement K.1: `KMS.TEST.1` `max_age_days` is 400, looser than this framework's ≤ 365: reports mark the requirement not-satisfied until the parameter is set within it"
        );

        let text = CATALOG.replace("rules: [KMS.TEST.1]", "rules: [KMS.TEST.1, KMS.GONE.1]");
        let catalog = parse("acme.yml", &text).expect("valid");
        let check = check_rules(&catalog, &refs);
        let shown: Vec<String> = check.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["acme.yml:13:9: sections[0].requirements[0].rules[1]: requirement K.1: rule `KMS.GONE.1` does not exist; `kms-audit rules list` shows the rule ids"]
        );

        let text = CATALOG.replace("param: max_age_days", "param: max_days");
        let check = check_rules(&parse("acme.yml", &text).expect("valid"), &refs);
        assert!(check.errors[0].to_string().contains(
            "rule `KMS.TEST.1` has no parameter `max_days`; its parameters: max_age_days, names"
        ));
        let text = CATALOG.replace("param: max_age_days", "param: names");
        let check = check_rules(&parse("acme.yml", &text).expect("valid"), &refs);
        assert!(check.errors[0]
            .to_string()
            .contains("parameter `names` of `KMS.TEST.1` is a list of texts"));
    }
}
