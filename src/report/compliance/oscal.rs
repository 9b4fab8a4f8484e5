//! The OSCAL report: the compliance report as an OSCAL 1.1.3 assessment-results document
//! (NIST's JSON schema `oscal_assessment-results_schema.json`, which the tests validate
//! against), for GRC tools and FedRAMP-style automation.
//!
//! One `result` holds the run. `reviewed-controls` lists every requirement of the catalog.
//! Observations carry the evidence: one per finding (method `EXAMINE`: CloudTrail records
//! reviewed; subjects the key as an inventory item and the principal as a user; relevant
//! evidence the event ids, each pointing at its log file in `back-matter` with the file's
//! SHA-256), one per mapped rule (evaluated or not, with its counts), one for log coverage,
//! one for digest validation (method `TEST`: hashes and signatures recomputed) and one per
//! framework bound on a setting. Findings carry each requirement's status, risks each
//! not-satisfied requirement with the rules' remediation as recommended responses.
//!
//! OSCAL's finding state has two values, kms-audit's status five. The mapping claims
//! `satisfied` only where the evidence shows it:
//!
//! | kms-audit status | `target.status.state` | `target.status.reason` |
//! |---|---|---|
//! | satisfied | satisfied | pass |
//! | not-satisfied | not-satisfied | fail |
//! | insufficient-evidence | not-satisfied | other |
//! | manual | not-satisfied | other |
//! | not-applicable | not-satisfied | other |
//!
//! The exact status is always in the target's `status` property (namespace
//! [`NS`]), and the status remarks say why (for manual: what the assessor examines; for
//! not-applicable: the catalog's reason). A consumer reading only the state never sees an
//! unproven requirement counted as met.
//!
//! Control ids: OSCAL ids are tokens (a letter or `_` first), so a requirement id that is not
//! one (`3.7.4`, `164.312(b)`) becomes `req-` followed by it with `(` as `.` and `)` dropped
//! (`req-3.7.4`, `req-164.312.b`); NIST ids (`ac-2.4`) stay as they are. The framework's
//! label is in the target's `label` property.
//!
//! UUIDs are version 5 (RFC 9562, SHA-1 name-based) in a kms-audit namespace, from stable
//! inputs: the framework id and report date for what belongs to one run (document, result,
//! observations, findings, risks), the ARN or principal for inventory items and users, the
//! path and SHA-256 for files. The same inputs on the same report date give the same
//! document, byte for byte.
//!
//! `import-ap` points at `urn:kms-audit:assessment-plan:<framework id>`: kms-audit has no
//! separate assessment plan document; its plan is the framework catalog and the rule pack,
//! both identified by SHA-256 in the import's remarks and in `back-matter`.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;

use crate::report::compliance::model::{
    Assessment, ComplianceReport, FindingStatus, ReportFinding, RequirementResult, Status,
    ThresholdCheck, ThresholdKind,
};

/// The OSCAL version of the schema the document is written for.
pub const OSCAL_VERSION: &str = "1.1.3";

/// The namespace of kms-audit's own properties.
pub const NS: &str = "urn:kms-audit:ns:oscal";

/// The `import-ap` reference, followed by the framework id.
pub const ASSESSMENT_PLAN_URN: &str = "urn:kms-audit:assessment-plan:";

/// Writes `report` as an OSCAL assessment-results JSON document (pretty, with a final
/// newline).
pub fn write(report: &ComplianceReport, out: &mut impl Write) -> std::io::Result<()> {
    let document = Document {
        assessment_results: Builder::new(report).build(),
    };
    serde_json::to_writer_pretty(&mut *out, &document).map_err(std::io::Error::other)?;
    writeln!(out)
}

// ---------------------------------------------------------------------------------------
// UUIDs and tokens

/// RFC 9562 name-based UUID (version 5, SHA-1) of `name` in `namespace`.
pub fn uuid_v5(namespace: &[u8; 16], name: &str) -> String {
    let mut context = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY);
    context.update(namespace);
    context.update(name.as_bytes());
    let digest = context.finish();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest.as_ref()[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x50;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    format_uuid(&bytes)
}

fn format_uuid(bytes: &[u8; 16]) -> String {
    let hex = crate::trail::decode::hex(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The RFC 9562 URL namespace.
const URL_NAMESPACE: [u8; 16] = [
    0x6b, 0xa7, 0xb8, 0x11, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8,
];

/// kms-audit's namespace: the v5 UUID of [`NS`] in the URL namespace.
fn namespace() -> [u8; 16] {
    let text = uuid_v5(&URL_NAMESPACE, NS).replace('-', "");
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).unwrap_or(0);
    }
    bytes
}

/// Whether `text` is an OSCAL token (an XML NCName: a letter or `_`, then letters, digits,
/// `.`, `-`, `_`).
pub fn is_token(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

/// The OSCAL control id of requirement `id`: `id` when it is a token, else `req-` and `id`
/// with `(` as `.`, `)` dropped and any other character not allowed as `_`.
pub fn control_token(id: &str) -> String {
    if is_token(id) {
        return id.to_owned();
    }
    let mut out = String::from("req-");
    for c in id.chars() {
        match c {
            '(' => out.push('.'),
            ')' => {}
            c if c.is_alphanumeric() || matches!(c, '.' | '-' | '_') => out.push(c),
            _ => out.push('_'),
        }
    }
    while out.contains("..") {
        out = out.replace("..", ".");
    }
    out.trim_end_matches('.').to_owned()
}

/// `path` as a relative URI reference: characters other than unreserved ones and `/`
/// percent-encoded.
fn path_reference(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for byte in path.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// `text` as an OSCAL date-time when it is one (RFC 3339 with a zone, year 1900–2999, as
/// the schema's pattern requires), normalized to UTC.
fn date_time(text: &str) -> Option<String> {
    let parsed = chrono::DateTime::parse_from_rfc3339(text).ok()?;
    let utc = parsed.with_timezone(&chrono::Utc);
    let year = chrono::Datelike::year(&utc);
    (1900..=2999)
        .contains(&year)
        .then(|| utc.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
}

/// `text` folded to one line and ending with a full stop (or other closing punctuation).
fn sentence(text: &str) -> String {
    let mut line = one_line(text).unwrap_or_default();
    if !line.ends_with(['.', '!', '?', ':']) {
        line.push('.');
    }
    line
}

/// One line, whitespace folded: what OSCAL string properties allow (no leading, trailing or
/// line-breaking white space, not empty).
fn one_line(text: &str) -> Option<String> {
    let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
    (!folded.is_empty()).then_some(folded)
}

// ---------------------------------------------------------------------------------------
// The OSCAL subset written

#[derive(Serialize)]
struct Document {
    #[serde(rename = "assessment-results")]
    assessment_results: AssessmentResults,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct AssessmentResults {
    uuid: String,
    metadata: Metadata,
    import_ap: ImportAp,
    results: Vec<AssessmentResult>,
    #[serde(skip_serializing_if = "Option::is_none")]
    back_matter: Option<BackMatter>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Metadata {
    title: String,
    last_modified: String,
    version: String,
    oscal_version: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    props: Vec<Prop>,
    remarks: String,
}

#[derive(Serialize)]
struct ImportAp {
    href: String,
    remarks: String,
}

#[derive(Serialize, Clone)]
struct Prop {
    name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ns: Option<&'static str>,
    value: String,
}

/// A kms-audit property (namespace [`NS`]), or `None` when `value` is blank.
fn prop(name: &'static str, value: &str) -> Option<Prop> {
    one_line(value).map(|value| Prop {
        name,
        ns: Some(NS),
        value,
    })
}

/// A property OSCAL defines (no namespace), or `None` when `value` is blank.
fn oscal_prop(name: &'static str, value: &str) -> Option<Prop> {
    one_line(value).map(|value| Prop {
        name,
        ns: None,
        value,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct AssessmentResult {
    uuid: String,
    title: String,
    description: String,
    start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    end: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    props: Vec<Prop>,
    local_definitions: LocalDefinitions,
    reviewed_controls: ReviewedControls,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    observations: Vec<Observation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    risks: Vec<Risk>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    findings: Vec<Finding>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct LocalDefinitions {
    components: Vec<Component>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    inventory_items: Vec<InventoryItem>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    users: Vec<User>,
}

#[derive(Serialize)]
struct Component {
    uuid: String,
    #[serde(rename = "type")]
    kind: &'static str,
    title: String,
    description: String,
    status: ComponentStatus,
}

#[derive(Serialize)]
struct ComponentStatus {
    state: &'static str,
}

#[derive(Serialize)]
struct InventoryItem {
    uuid: String,
    description: String,
    props: Vec<Prop>,
}

#[derive(Serialize)]
struct User {
    uuid: String,
    title: String,
    description: String,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ReviewedControls {
    description: String,
    control_selections: Vec<ControlSelection>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct ControlSelection {
    include_controls: Vec<SelectControl>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct SelectControl {
    control_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Observation {
    uuid: String,
    title: String,
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    props: Vec<Prop>,
    methods: Vec<&'static str>,
    types: Vec<&'static str>,
    origins: Vec<Origin>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subjects: Vec<Subject>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    relevant_evidence: Vec<RelevantEvidence>,
    collected: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    remarks: Option<String>,
}

#[derive(Serialize, Clone)]
struct Origin {
    actors: Vec<Actor>,
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "kebab-case")]
struct Actor {
    #[serde(rename = "type")]
    kind: &'static str,
    actor_uuid: String,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Subject {
    subject_uuid: String,
    #[serde(rename = "type")]
    kind: &'static str,
    title: String,
}

#[derive(Serialize)]
struct RelevantEvidence {
    #[serde(skip_serializing_if = "Option::is_none")]
    href: Option<String>,
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    props: Vec<Prop>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Risk {
    uuid: String,
    title: String,
    description: String,
    statement: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    props: Vec<Prop>,
    status: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    remediations: Vec<Response>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_observations: Vec<RelatedObservation>,
}

#[derive(Serialize)]
struct Response {
    uuid: String,
    lifecycle: &'static str,
    title: String,
    description: String,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RelatedObservation {
    observation_uuid: String,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct RelatedRisk {
    risk_uuid: String,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Finding {
    uuid: String,
    title: String,
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    props: Vec<Prop>,
    target: Target,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_observations: Vec<RelatedObservation>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    related_risks: Vec<RelatedRisk>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Target {
    #[serde(rename = "type")]
    kind: &'static str,
    target_id: String,
    title: String,
    props: Vec<Prop>,
    status: TargetStatus,
}

#[derive(Serialize)]
struct TargetStatus {
    state: &'static str,
    reason: &'static str,
    remarks: String,
}

#[derive(Serialize)]
struct BackMatter {
    resources: Vec<Resource>,
}

#[derive(Serialize)]
struct Resource {
    uuid: String,
    title: String,
    description: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    props: Vec<Prop>,
    rlinks: Vec<Rlink>,
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct Rlink {
    href: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    hashes: Vec<Hash>,
}

#[derive(Serialize)]
struct Hash {
    algorithm: &'static str,
    value: String,
}

// ---------------------------------------------------------------------------------------
// Status mapping

/// The OSCAL `state` and `reason` of a kms-audit status (see the module docs).
pub fn oscal_state(status: Status) -> (&'static str, &'static str) {
    match status {
        Status::Satisfied => ("satisfied", "pass"),
        Status::NotSatisfied => ("not-satisfied", "fail"),
        Status::InsufficientEvidence | Status::Manual | Status::NotApplicable => {
            ("not-satisfied", "other")
        }
    }
}

/// Why the state was chosen, in words, for the status remarks.
fn state_remarks(r: &RequirementResult) -> String {
    let reason = one_line(&r.reason).unwrap_or_else(|| "no reason given".to_owned());
    match r.status {
        Status::Satisfied => format!("Satisfied: {reason}"),
        Status::NotSatisfied => format!("Not satisfied: {reason}"),
        Status::InsufficientEvidence => format!(
            "kms-audit status insufficient-evidence: the logs cannot show whether the \
             requirement is met, so it is not claimed as satisfied. {reason}"
        ),
        Status::Manual => format!(
            "kms-audit status manual: procedural, not assessed by kms-audit, so it is not \
             claimed as satisfied; the assessor examines it. {reason}"
        ),
        Status::NotApplicable => format!(
            "kms-audit status not-applicable: the catalog marks the requirement as not \
             applying to KMS keys and their audit logs; kms-audit makes no claim that it \
             is satisfied. {reason}"
        ),
    }
}

// ---------------------------------------------------------------------------------------
// Building the document

struct Builder<'a> {
    report: &'a ComplianceReport,
    namespace: [u8; 16],
    collected: String,
    /// The tool's component, the actor of every observation.
    component_uuid: String,
    origin: Origin,
    /// Back-matter resource UUID per input file path.
    input_resources: HashMap<&'a str, String>,
}

impl<'a> Builder<'a> {
    fn new(report: &'a ComplianceReport) -> Self {
        let namespace = namespace();
        let collected = date_time(&report.scope.generated_at)
            .or_else(|| date_time(&format!("{}T00:00:00Z", report.scope.report_date)))
            .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned());
        let component = uuid_v5(&namespace, "component\u{1f}kms-audit");
        let input_resources = report
            .scope
            .inputs
            .iter()
            .map(|i| {
                (
                    i.path.as_str(),
                    uuid_v5(
                        &namespace,
                        &format!("file\u{1f}{}\u{1f}{}", i.path, i.sha256),
                    ),
                )
            })
            .collect();
        Self {
            report,
            namespace,
            collected,
            origin: Origin {
                actors: vec![Actor {
                    kind: "tool",
                    actor_uuid: component.clone(),
                }],
            },
            component_uuid: component,
            input_resources,
        }
    }

    /// The UUID of `parts` (joined by U+001F) in kms-audit's namespace.
    fn uuid(&self, parts: &[&str]) -> String {
        uuid_v5(&self.namespace, &parts.join("\u{1f}"))
    }

    /// The UUID of something that belongs to this run: its kind, framework, report date and
    /// `parts`.
    fn run_uuid(&self, kind: &str, parts: &[&str]) -> String {
        let scope = &self.report.scope;
        let mut all = vec![
            kind,
            scope.framework.id.as_str(),
            scope.report_date.as_str(),
        ];
        all.extend_from_slice(parts);
        self.uuid(&all)
    }

    fn build(self) -> AssessmentResults {
        let report = self.report;
        let scope = &report.scope;
        let f = &scope.framework;
        let tokens = self.control_tokens();
        let observations = self.observations();
        let (findings, risks) = self.findings_and_risks(&tokens);
        let c = &report.summary.requirements;
        let description = format!(
            "kms-audit {} evaluated {} rules (rule pack SHA-256 {}) over {} CloudTrail log \
             file(s) ({} events, {} from KMS) against the {} requirements of catalog {}: {} \
             satisfied, {} not satisfied, {} insufficient evidence, {} manual, {} not \
             applicable; score {}.",
            scope.tool.version,
            scope.rule_pack.rules,
            scope.rule_pack.sha256,
            scope.inputs.len(),
            scope.window.events,
            scope.window.kms_events,
            c.total,
            f.id,
            c.satisfied,
            c.not_satisfied,
            c.insufficient_evidence,
            c.manual,
            c.not_applicable,
            report
                .summary
                .score
                .map_or_else(|| "n/a".to_owned(), |s| format!("{s:.1} %")),
        );
        let start = scope
            .window
            .first_event
            .as_deref()
            .or(scope.window.since.as_deref())
            .and_then(date_time)
            .unwrap_or_else(|| self.collected.clone());
        let end = scope
            .window
            .last_event
            .as_deref()
            .and_then(date_time)
            .filter(|end| end >= &start);
        let mut props: Vec<Prop> = [
            prop("framework", &f.id),
            prop("framework-version", &f.version),
            prop("report-date", &scope.report_date),
            report
                .summary
                .score
                .and_then(|s| prop("score", &format!("{s:.1}"))),
        ]
        .into_iter()
        .flatten()
        .collect();
        props.extend(scope.accounts.iter().filter_map(|a| prop("account", a)));
        props.extend(scope.regions.iter().filter_map(|r| prop("region", r)));

        let result = AssessmentResult {
            uuid: self.run_uuid("result", &[]),
            title: format!(
                "{} {}: KMS keys and their CloudTrail logs, {}",
                f.name, f.version, scope.report_date
            ),
            description,
            start,
            end,
            props,
            local_definitions: self.local_definitions(),
            reviewed_controls: ReviewedControls {
                description: format!(
                    "Every requirement of the kms-audit catalog {} ({} {}: {}), automated, \
                     manual and not applicable alike. Ids that are not OSCAL tokens are \
                     written as req-<id>; the framework's label is in each finding target's \
                     label property.",
                    f.id, f.name, f.version, f.document
                ),
                control_selections: vec![ControlSelection {
                    include_controls: report
                        .requirements
                        .iter()
                        .map(|r| SelectControl {
                            control_id: tokens.get(r.id.as_str()).cloned().unwrap_or_default(),
                        })
                        .collect(),
                }],
            },
            observations,
            risks,
            findings,
        };
        AssessmentResults {
            uuid: self.run_uuid("assessment-results", &[]),
            metadata: Metadata {
                title: format!(
                    "kms-audit assessment results: {} {}, {}",
                    f.name, f.version, scope.report_date
                ),
                last_modified: self.collected.clone(),
                version: scope.report_date.clone(),
                oscal_version: OSCAL_VERSION,
                props: [
                    prop("tool", &scope.tool.name),
                    prop("tool-version", &scope.tool.version),
                ]
                .into_iter()
                .flatten()
                .collect(),
                remarks: format!(
                    "Generated by {} {} from CloudTrail logs. The kms-audit JSON report of the \
                     same run is the complete record; this document maps it to OSCAL. Finding \
                     states: satisfied only when the evidence shows it; every other kms-audit \
                     status is not-satisfied with reason other, and the exact status is in the \
                     target's status property (namespace {NS}).",
                    scope.tool.name, scope.tool.version
                ),
            },
            import_ap: ImportAp {
                href: format!("{ASSESSMENT_PLAN_URN}{}", path_reference(&f.id)),
                remarks: format!(
                    "kms-audit has no separate assessment plan document. The plan is the \
                     framework catalog {} (file {}, SHA-256 {}) evaluated with the rule pack \
                     version {} (SHA-256 {}), both listed in back-matter.",
                    f.id,
                    f.catalog_file,
                    f.catalog_sha256,
                    scope.rule_pack.version,
                    scope.rule_pack.sha256
                ),
            },
            results: vec![result],
            back_matter: Some(self.back_matter()),
        }
    }

    /// Each requirement's control token, made unique in catalog order (`_2`, `_3` … on a
    /// clash).
    fn control_tokens(&self) -> HashMap<&'a str, String> {
        let mut used = HashSet::new();
        let mut tokens = HashMap::new();
        for r in &self.report.requirements {
            let base = control_token(&r.id);
            let mut token = base.clone();
            let mut n = 2;
            while !used.insert(token.clone()) {
                token = format!("{base}_{n}");
                n += 1;
            }
            tokens.insert(r.id.as_str(), token);
        }
        tokens
    }

    fn local_definitions(&self) -> LocalDefinitions {
        let report = self.report;
        let tool = &report.scope.tool;
        let mut arns: BTreeSet<&str> = report
            .key_inventory
            .iter()
            .map(|k| k.key_arn.as_str())
            .collect();
        arns.extend(
            report
                .findings
                .iter()
                .filter_map(|f| f.resource.as_deref())
                .filter(|r| r.starts_with("arn:")),
        );
        let inventory_items = arns
            .into_iter()
            .map(|arn| {
                let key = report.key_inventory.iter().find(|k| k.key_arn == arn);
                let description = match key {
                    Some(k) => format!(
                        "KMS key {arn}{}{}.",
                        k.key_spec
                            .as_deref()
                            .map(|s| format!(", {s}"))
                            .unwrap_or_default(),
                        k.state
                            .as_deref()
                            .map(|s| format!(", {s}"))
                            .unwrap_or_default()
                    ),
                    None => format!("AWS resource {arn}, named by findings."),
                };
                InventoryItem {
                    uuid: self.uuid(&["inventory-item", arn]),
                    description,
                    props: oscal_prop("asset-id", arn).into_iter().collect(),
                }
            })
            .collect();
        let principals: BTreeSet<&str> = report
            .findings
            .iter()
            .filter_map(|f| f.principal.as_deref())
            .collect();
        let users = principals
            .into_iter()
            .map(|p| User {
                uuid: self.uuid(&["user", p]),
                title: p.to_owned(),
                description: "AWS principal named by CloudTrail records behind findings."
                    .to_owned(),
            })
            .collect();
        LocalDefinitions {
            components: vec![Component {
                uuid: self.component_uuid.clone(),
                kind: "software",
                title: format!("{} {}", tool.name, tool.version),
                description: "Reads AWS CloudTrail logs of KMS activity, evaluates a declarative \
                              rule pack and maps the findings to the requirements of a \
                              framework catalog."
                    .to_owned(),
                status: ComponentStatus {
                    state: "operational",
                },
            }],
            inventory_items,
            users,
        }
    }

    fn finding_observation_uuid(&self, finding_id: &str) -> String {
        self.run_uuid("observation", &["finding", finding_id])
    }

    fn rule_observation_uuid(&self, rule_id: &str) -> String {
        self.run_uuid("observation", &["rule", rule_id])
    }

    fn threshold_observation_uuid(&self, t: &ThresholdCheck) -> String {
        self.run_uuid(
            "observation",
            &[
                "threshold",
                &t.requirement,
                t.rule.as_deref().unwrap_or_default(),
                t.param.as_deref().unwrap_or_default(),
            ],
        )
    }

    fn observations(&self) -> Vec<Observation> {
        let report = self.report;
        let mut out: Vec<Observation> = report
            .findings
            .iter()
            .map(|f| self.finding_observation(f))
            .collect();
        // One per mapped rule, in the order the catalog first names it.
        let mut seen = HashSet::new();
        for r in &report.requirements {
            for rule in &r.rules {
                if !seen.insert(rule.id.as_str()) {
                    continue;
                }
                let verdict = if rule.evaluated {
                    format!(
                        "evaluated over the report window: {} open, {} waived finding(s)",
                        rule.open_findings, rule.waived_findings
                    )
                } else {
                    format!(
                        "could not be evaluated: {}",
                        rule.not_evaluated_reason
                            .as_deref()
                            .unwrap_or("no reason given")
                    )
                };
                out.push(Observation {
                    uuid: self.rule_observation_uuid(&rule.id),
                    title: format!(
                        "Rule {}{}",
                        rule.id,
                        if rule.title.is_empty() {
                            String::new()
                        } else {
                            format!(": {}", rule.title)
                        }
                    ),
                    description: format!("Rule {} {verdict}.", rule.id),
                    props: [
                        prop("rule-id", &rule.id),
                        prop("evaluated", if rule.evaluated { "true" } else { "false" }),
                        rule.severity.and_then(|s| prop("severity", s.as_str())),
                    ]
                    .into_iter()
                    .flatten()
                    .collect(),
                    methods: vec!["EXAMINE"],
                    types: vec!["control-objective"],
                    origins: vec![self.origin.clone()],
                    subjects: Vec::new(),
                    relevant_evidence: vec![RelevantEvidence {
                        href: None,
                        description: format!(
                            "The {} CloudTrail log files of the report scope, listed with their \
                             SHA-256 in back-matter.",
                            report.scope.inputs.len()
                        ),
                        props: Vec::new(),
                    }],
                    collected: self.collected.clone(),
                    remarks: None,
                });
            }
        }
        out.push(self.coverage_observation());
        out.push(self.integrity_observation());
        for t in &report.scope.thresholds {
            out.push(self.threshold_observation(t));
        }
        out
    }

    fn finding_observation(&self, f: &ReportFinding) -> Observation {
        let report = self.report;
        let mut subjects = Vec::new();
        if let Some(resource) = f.resource.as_deref().filter(|r| r.starts_with("arn:")) {
            subjects.push(Subject {
                subject_uuid: self.uuid(&["inventory-item", resource]),
                kind: "inventory-item",
                title: resource.to_owned(),
            });
        }
        if let Some(principal) = f.principal.as_deref() {
            subjects.push(Subject {
                subject_uuid: self.uuid(&["user", principal]),
                kind: "user",
                title: principal.to_owned(),
            });
        }
        let relevant_evidence = f
            .evidence
            .iter()
            .map(|e| RelevantEvidence {
                href: self
                    .input_resources
                    .get(e.source_file.as_str())
                    .map(|uuid| format!("#{uuid}")),
                description: format!(
                    "CloudTrail event {} ({} at {}), record {} of {}.",
                    e.event_id.as_deref().unwrap_or("without an eventID"),
                    e.event_name,
                    e.event_time,
                    e.source_record,
                    e.source_file
                ),
                props: [
                    e.event_id.as_deref().and_then(|id| prop("event-id", id)),
                    prop("source-file", &e.source_file),
                    prop("source-record", &e.source_record.to_string()),
                ]
                .into_iter()
                .flatten()
                .collect(),
            })
            .collect();
        let what = one_line(&f.what)
            .map(|w| format!("{}. ", w.trim_end_matches('.')))
            .unwrap_or_default();
        let mut description = format!(
            "{what}{} matching event(s) from {} to {}{}{}.",
            f.count,
            f.first_seen,
            f.last_seen,
            f.resource
                .as_deref()
                .map(|r| format!(", resource {r}"))
                .unwrap_or_default(),
            f.principal
                .as_deref()
                .map(|p| format!(", principal {p}"))
                .unwrap_or_default(),
        );
        if let Some(detail) = &f.detail {
            let _ = write!(description, " Observed: {detail}");
        }
        let mut props: Vec<Prop> = [
            prop("finding-id", &f.id),
            prop("rule-id", &f.rule_id),
            prop("severity", f.severity.as_str()),
            prop(
                "finding-status",
                match f.status {
                    FindingStatus::Open => "open",
                    FindingStatus::Waived => "waived",
                },
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut remarks = Vec::new();
        if let Some(why) = &f.why {
            remarks.push(format!("Why it matters: {}", why.trim()));
        }
        if let Some(remediation) = &f.remediation {
            remarks.push(format!("Remediation: {}", remediation.trim()));
        }
        if let Some(waiver) = f.waiver.as_deref().and_then(|id| report.waiver(id)) {
            props.extend(prop("waiver", &waiver.id));
            remarks.push(format!(
                "Waived by {} (owner {}, expires {}): {}",
                waiver.id,
                waiver.owner,
                waiver.expires,
                waiver.reason.trim()
            ));
        }
        Observation {
            uuid: self.finding_observation_uuid(&f.id),
            title: format!("{} {}", f.rule_id, f.title),
            description,
            props,
            methods: vec!["EXAMINE"],
            types: vec!["finding"],
            origins: vec![self.origin.clone()],
            subjects,
            relevant_evidence,
            collected: self.collected.clone(),
            remarks: (!remarks.is_empty()).then(|| remarks.join("\n\n")),
        }
    }

    fn coverage_observation(&self) -> Observation {
        let c = &self.report.log_coverage;
        let open_gaps = c.gaps.iter().filter(|g| !g.waived).count();
        let required = c
            .required_days
            .map(|d| format!(" The framework requires at least {d} days."))
            .unwrap_or_default();
        Observation {
            uuid: self.run_uuid("observation", &["log-coverage"]),
            title: "CloudTrail log coverage".to_owned(),
            description: format!(
                "The logs read run from {} to {}: {} calendar days.{required} {} gap(s) judged \
                 by the coverage rules ({} open), {} silence(s) of more than an hour.",
                c.first_event.as_deref().unwrap_or("(no event)"),
                c.last_event.as_deref().unwrap_or("(no event)"),
                c.calendar_days,
                c.gaps.len(),
                open_gaps,
                c.silences
            ),
            props: [prop("calendar-days", &c.calendar_days.to_string())]
                .into_iter()
                .flatten()
                .collect(),
            methods: vec!["EXAMINE"],
            types: vec!["control-objective"],
            origins: vec![self.origin.clone()],
            subjects: Vec::new(),
            relevant_evidence: c
                .gaps
                .iter()
                .map(|g| RelevantEvidence {
                    href: None,
                    description: format!(
                        "Gap {} from {} to {} ({} hours, about {} events expected){}; finding {}.",
                        g.id,
                        g.start,
                        g.end,
                        g.hours,
                        g.expected_events,
                        if g.waived { ", waived" } else { "" },
                        g.finding
                    ),
                    props: Vec::new(),
                })
                .collect(),
            collected: self.collected.clone(),
            remarks: None,
        }
    }

    fn integrity_observation(&self) -> Observation {
        let i = &self.report.integrity;
        let digests: HashMap<&str, String> = self
            .report
            .scope
            .digests
            .iter()
            .map(|d| {
                (
                    d.path.as_str(),
                    self.digest_resource_uuid(&d.path, &d.content_sha256),
                )
            })
            .collect();
        let description = if i.status == "no-digests" {
            "No CloudTrail digest file was read, so the log files' integrity is not verified."
                .to_owned()
        } else {
            format!(
                "{} digest file(s) validated (signatures, chain and listed hashes); {} of {} \
                 listed log files present with the listed hash; {} problem(s).",
                i.digests,
                i.log_files_verified,
                i.log_files_listed,
                i.problems.len()
            )
        };
        Observation {
            uuid: self.run_uuid("observation", &["integrity"]),
            title: "CloudTrail digest validation".to_owned(),
            description,
            props: prop("integrity", &i.status).into_iter().collect(),
            methods: vec!["TEST"],
            types: vec![if i.problems.is_empty() {
                "control-objective"
            } else {
                "finding"
            }],
            origins: vec![self.origin.clone()],
            subjects: Vec::new(),
            relevant_evidence: i
                .problems
                .iter()
                .map(|p| RelevantEvidence {
                    href: digests
                        .get(p.source_file.as_str())
                        .or_else(|| self.input_resources.get(p.source_file.as_str()))
                        .map(|uuid| format!("#{uuid}")),
                    description: format!(
                        "{}: {} ({}), shown by {}.",
                        p.problem, p.object, p.detail, p.source_file
                    ),
                    props: Vec::new(),
                })
                .collect(),
            collected: self.collected.clone(),
            remarks: None,
        }
    }

    fn threshold_observation(&self, t: &ThresholdCheck) -> Observation {
        let on = match t.kind {
            ThresholdKind::RuleParam => format!(
                "rule {} parameter {}",
                t.rule.as_deref().unwrap_or("?"),
                t.param.as_deref().unwrap_or("?")
            ),
            ThresholdKind::LogCoverageDays => "the days the logs cover".to_owned(),
        };
        let value = t.value.as_ref().map_or_else(
            || "no value (rule not loaded or turned off)".to_owned(),
            ToString::to_string,
        );
        Observation {
            uuid: self.threshold_observation_uuid(t),
            title: format!("Bound of {} on {on}", t.requirement),
            description: format!(
                "Requirement {} bounds {on} to {}; the value used is {value}: {}.{}",
                t.requirement,
                t.required,
                if t.met { "met" } else { "not met" },
                t.basis
                    .as_deref()
                    .map(|b| format!(" Basis: {}", b.trim()))
                    .unwrap_or_default()
            ),
            props: prop("met", if t.met { "true" } else { "false" })
                .into_iter()
                .collect(),
            methods: vec!["EXAMINE"],
            types: vec![if t.met {
                "control-objective"
            } else {
                "finding"
            }],
            origins: vec![self.origin.clone()],
            subjects: Vec::new(),
            relevant_evidence: Vec::new(),
            collected: self.collected.clone(),
            remarks: None,
        }
    }

    fn findings_and_risks(&self, tokens: &HashMap<&str, String>) -> (Vec<Finding>, Vec<Risk>) {
        let report = self.report;
        let mut findings = Vec::with_capacity(report.requirements.len());
        let mut risks = Vec::new();
        for r in &report.requirements {
            let token = tokens.get(r.id.as_str()).cloned().unwrap_or_default();
            let mut related: Vec<String> = r
                .findings
                .iter()
                .chain(&r.waived_findings)
                .map(|f| self.finding_observation_uuid(&f.id))
                .collect();
            related.extend(r.rules.iter().map(|u| self.rule_observation_uuid(&u.id)));
            let thresholds: Vec<&ThresholdCheck> = report
                .scope
                .thresholds
                .iter()
                .filter(|t| t.requirement == r.id || t.requirement == r.label)
                .collect();
            related.extend(
                thresholds
                    .iter()
                    .map(|t| self.threshold_observation_uuid(t)),
            );
            if r.assessment == Assessment::Automated {
                related.push(self.run_uuid("observation", &["log-coverage"]));
                related.push(self.run_uuid("observation", &["integrity"]));
            }
            let mut seen = HashSet::new();
            related.retain(|uuid| seen.insert(uuid.clone()));

            let mut description = one_line(&r.reason)
                .map_or_else(|| r.status.to_string(), |reason| sentence(&reason));
            for t in &r.thresholds_violated {
                let _ = write!(
                    description,
                    " Bound not met: {} {} must be {} (value used: {}).",
                    t.rule.as_deref().unwrap_or("log coverage"),
                    t.param.as_deref().unwrap_or("days"),
                    t.required,
                    t.value
                        .as_ref()
                        .map_or_else(|| "none".to_owned(), ToString::to_string)
                );
            }
            for gap in &r.evidence_gaps {
                let _ = write!(description, " Evidence gap: {}", sentence(gap));
            }
            if let Some(note) = &r.note {
                let _ = write!(description, " Note: {}", sentence(note));
            }

            let risk = (r.status == Status::NotSatisfied).then(|| self.risk(r, &description));
            let related_risks = risk
                .as_ref()
                .map(|risk| RelatedRisk {
                    risk_uuid: risk.uuid.clone(),
                })
                .into_iter()
                .collect();
            risks.extend(risk);

            let (state, reason) = oscal_state(r.status);
            findings.push(Finding {
                uuid: self.run_uuid("finding", &[&r.id]),
                title: format!("{} {}", r.label, r.title),
                description,
                props: [
                    prop("section", &r.section),
                    prop("section-title", &r.section_title),
                ]
                .into_iter()
                .flatten()
                .collect(),
                target: Target {
                    kind: "objective-id",
                    target_id: token,
                    title: format!("{} {}", r.label, r.title),
                    props: [
                        prop("status", r.status.as_str()),
                        prop("label", &r.label),
                        prop("requirement-id", &r.id),
                        prop(
                            "assessment",
                            match r.assessment {
                                Assessment::Automated => "automated",
                                Assessment::Manual => "manual",
                                Assessment::NotApplicable => "not-applicable",
                            },
                        ),
                    ]
                    .into_iter()
                    .flatten()
                    .collect(),
                    status: TargetStatus {
                        state,
                        reason,
                        remarks: state_remarks(r),
                    },
                },
                related_observations: related
                    .into_iter()
                    .map(|observation_uuid| RelatedObservation { observation_uuid })
                    .collect(),
                related_risks,
            });
        }
        (findings, risks)
    }

    /// The risk of a not-satisfied requirement: its open findings and unmet bounds, with each
    /// rule's remediation as a recommended response.
    fn risk(&self, r: &RequirementResult, description: &str) -> Risk {
        let report = self.report;
        let open: Vec<&ReportFinding> = r
            .findings
            .iter()
            .filter_map(|f| report.finding(&f.id))
            .collect();
        let mut statement: Vec<String> = open
            .iter()
            .map(|f| {
                format!(
                    "- {} {} {}{}{}",
                    f.severity.as_str(),
                    f.rule_id,
                    f.title,
                    f.resource
                        .as_deref()
                        .map(|x| format!(" on {x}"))
                        .unwrap_or_default(),
                    f.principal
                        .as_deref()
                        .map(|x| format!(" by {x}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        statement.extend(r.thresholds_violated.iter().map(|t| {
            format!(
                "- bound not met: {} {} must be {}",
                t.rule.as_deref().unwrap_or("log coverage"),
                t.param.as_deref().unwrap_or("days"),
                t.required
            )
        }));
        if statement.is_empty() {
            statement.push(format!("- {description}"));
        }
        let mut remediations = Vec::new();
        let mut rules_seen = HashSet::new();
        for f in &open {
            if !rules_seen.insert(f.rule_id.as_str()) {
                continue;
            }
            if let Some(text) = f.remediation.as_deref().filter(|t| !t.trim().is_empty()) {
                remediations.push(Response {
                    uuid: self.run_uuid("response", &[&r.id, &f.rule_id]),
                    lifecycle: "recommendation",
                    title: format!("Remediate {}: {}", f.rule_id, f.title),
                    description: text.trim().to_owned(),
                });
            }
        }
        for t in &r.thresholds_violated {
            remediations.push(Response {
                uuid: self.run_uuid(
                    "response",
                    &[
                        &r.id,
                        "threshold",
                        t.rule.as_deref().unwrap_or_default(),
                        t.param.as_deref().unwrap_or_default(),
                    ],
                ),
                lifecycle: "recommendation",
                title: format!("Meet the bound of {}", t.requirement),
                description: match t.kind {
                    ThresholdKind::RuleParam => format!(
                        "Set rule {} parameter {} to a value {} (in the --config file or with --param), and keep the rule turned on.",
                        t.rule.as_deref().unwrap_or("?"),
                        t.param.as_deref().unwrap_or("?"),
                        t.required
                    ),
                    ThresholdKind::LogCoverageDays => format!(
                        "Keep CloudTrail logs for at least {} days and report over all of them (--lake).",
                        t.required
                    ),
                },
            });
        }
        let worst = open.iter().map(|f| f.severity).max();
        let mut related: Vec<String> = r
            .findings
            .iter()
            .map(|f| self.finding_observation_uuid(&f.id))
            .collect();
        related.extend(
            report
                .scope
                .thresholds
                .iter()
                .filter(|t| !t.met && (t.requirement == r.id || t.requirement == r.label))
                .map(|t| self.threshold_observation_uuid(t)),
        );
        Risk {
            uuid: self.run_uuid("risk", &[&r.id]),
            title: format!("{} not satisfied: {}", r.label, r.title),
            description: description.to_owned(),
            statement: statement.join("\n"),
            props: worst
                .and_then(|s| prop("highest-severity", s.as_str()))
                .into_iter()
                .collect(),
            status: "open",
            remediations,
            related_observations: related
                .into_iter()
                .map(|observation_uuid| RelatedObservation { observation_uuid })
                .collect(),
        }
    }

    fn digest_resource_uuid(&self, path: &str, content_sha256: &str) -> String {
        self.uuid(&["digest-file", path, content_sha256])
    }

    fn back_matter(&self) -> BackMatter {
        let scope = &self.report.scope;
        let f = &scope.framework;
        let sha = |value: &str| {
            one_line(value)
                .map(|value| Hash {
                    algorithm: "SHA-256",
                    value,
                })
                .into_iter()
                .collect::<Vec<_>>()
        };
        let mut resources = vec![Resource {
            uuid: self.uuid(&["catalog", &f.catalog_file, &f.catalog_sha256]),
            title: format!("Framework catalog {}", f.id),
            description: format!(
                "The kms-audit catalog of {} {} ({}): every requirement in scope with the rules \
                 that give evidence for it, or why it is manual or not applicable. Source \
                 document: {} ({}).",
                f.name, f.version, f.catalog_file, f.document, f.url
            ),
            props: prop("role", "catalog").into_iter().collect(),
            rlinks: vec![Rlink {
                href: path_reference(&f.catalog_file),
                hashes: sha(&f.catalog_sha256),
            }],
        }];
        for s in &scope.settings {
            resources.push(Resource {
                uuid: self.uuid(&["settings", &s.role, &s.path, &s.sha256]),
                title: format!("Settings file ({})", s.role),
                description: format!("The {} file given to the run: {}.", s.role, s.path),
                props: prop("role", &s.role).into_iter().collect(),
                rlinks: vec![Rlink {
                    href: path_reference(&s.path),
                    hashes: sha(&s.sha256),
                }],
            });
        }
        for i in &scope.inputs {
            resources.push(Resource {
                uuid: self
                    .input_resources
                    .get(i.path.as_str())
                    .cloned()
                    .unwrap_or_else(|| self.uuid(&["file", &i.path, &i.sha256])),
                title: i.path.clone(),
                description: format!(
                    "CloudTrail log file: {} records read, {} skipped.",
                    i.records, i.skipped
                ),
                props: prop("role", "cloudtrail-log-file").into_iter().collect(),
                rlinks: vec![Rlink {
                    href: path_reference(&i.path),
                    hashes: sha(&i.sha256),
                }],
            });
        }
        for d in &scope.digests {
            resources.push(Resource {
                uuid: self.digest_resource_uuid(&d.path, &d.content_sha256),
                title: d.path.clone(),
                description: "CloudTrail digest file (the SHA-256 property is of its \
                              uncompressed content)."
                    .to_owned(),
                props: [
                    prop("role", "cloudtrail-digest-file"),
                    prop("content-sha256", &d.content_sha256),
                ]
                .into_iter()
                .flatten()
                .collect(),
                rlinks: vec![Rlink {
                    href: path_reference(&d.path),
                    hashes: Vec::new(),
                }],
            });
        }
        BackMatter { resources }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 9562 DNS namespace.
    const DNS_NAMESPACE: [u8; 16] = [
        0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30,
        0xc8,
    ];

    #[test]
    fn uuids_are_rfc_9562_version_5() {
        // The well-known v5 UUID of www.example.com in the DNS namespace (Python's
        // uuid.uuid5(uuid.NAMESPACE_DNS, "www.example.com")).
        assert_eq!(
            uuid_v5(&DNS_NAMESPACE, "www.example.com"),
            "2ed6657d-e927-568b-95e1-2665a8aea6a2"
        );
        let ns = namespace();
        let a = uuid_v5(&ns, "x");
        assert_eq!(a, uuid_v5(&ns, "x"));
        assert_ne!(a, uuid_v5(&ns, "y"));
        assert_eq!(&a[14..15], "5");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"), "{a}");
    }

    #[test]
    fn requirement_ids_become_tokens() {
        assert_eq!(control_token("ac-2.4"), "ac-2.4");
        assert_eq!(control_token("3.7.4"), "req-3.7.4");
        assert_eq!(control_token("164.312(b)"), "req-164.312.b");
        assert_eq!(
            control_token("164.308(a)(1)(ii)(D)"),
            "req-164.308.a.1.ii.D"
        );
        assert_eq!(control_token("10 2/x"), "req-10_2_x");
        for id in [
            "3.7.4",
            "164.312(b)",
            "164.308(a)(1)(ii)(D)",
            "a b",
            "(",
            "é",
        ] {
            assert!(is_token(&control_token(id)), "{id}");
        }
        assert!(!is_token("3.7.4"));
        assert!(!is_token(""));
    }

    #[test]
    fn statuses_never_overclaim() {
        for status in Status::ALL {
            let (state, reason) = oscal_state(status);
            assert_eq!(
                state == "satisfied",
                status == Status::Satisfied,
                "{status}"
            );
            assert_eq!(reason == "fail", status == Status::NotSatisfied, "{status}");
        }
    }

    #[test]
    fn paths_and_times_are_made_valid() {
        assert_eq!(
            path_reference("logs/a b:c.json.gz"),
            "logs/a%20b%3Ac.json.gz"
        );
        assert_eq!(
            date_time("2026-08-01T12:00:00+02:00").as_deref(),
            Some("2026-08-01T10:00:00Z")
        );
        assert_eq!(date_time("1850-01-01T00:00:00Z"), None);
        assert_eq!(date_time("yesterday"), None);
        assert_eq!(one_line("  a\n b  ").as_deref(), Some("a b"));
        assert_eq!(one_line(" \n "), None);
    }
}
