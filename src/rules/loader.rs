//! Reads rule files — kms-audit rules and Sigma rules, told apart by their fields — and
//! validates them once: required fields, known severities, kinds and statuses, id syntax,
//! ids and names unique across everything loaded, parameters, the detection, the tests.
//! Every problem is collected (not only the first) and names its file, line and field.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_yaml_ng::{Mapping, Value};

use crate::rules::error::{ErrorKind, RuleError, RuleWarning};
use crate::rules::fields::FieldSource;
use crate::rules::model::{
    Body, Expectation, Field, Format, Kind, MatchBody, Origin, Rule, Severity, Status, TestCase,
    TestEvents,
};
use crate::rules::pack;
use crate::rules::params::{is_param_name, ParamValue, Params};
use crate::rules::sigma;
use crate::rules::sigma::correlation::Pending;
use crate::rules::yaml::{type_name, Context, FieldPath, KeyIndex};

/// The fields of a kms-audit rule.
const NATIVE_FIELDS: &[&str] = &[
    "id",
    "name",
    "title",
    "severity",
    "kind",
    "status",
    "what",
    "why",
    "remediation",
    "params",
    "resource",
    "detection",
    "threshold",
    "baseline",
    "correlation",
    "state",
    "tests",
    "references",
    "tags",
    "falsepositives",
    "logsource",
    "author",
    "date",
    "modified",
];

/// The fields of a test case.
const TEST_FIELDS: &[&str] = &["name", "events", "files", "params", "expect"];

/// The fields of a test case's `expect`.
const EXPECT_FIELDS: &[&str] = &["findings", "matches"];

/// The fields that name a finding's resource when a rule does not say: the KMS key, else
/// the first ARN in `resources`.
pub const DEFAULT_RESOURCE: &[&str] = &["key_arn", "resources.ARN"];

/// Everything read from a set of rule files.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The valid rules, in file order.
    pub rules: Vec<Rule>,
    /// The rules or files that could not be used.
    pub errors: Vec<RuleError>,
    /// Doubts about rules that loaded.
    pub warnings: Vec<RuleWarning>,
    /// Files read.
    pub files: usize,
    /// Sigma correlation documents read and not yet resolved: [`finish`] resolves them
    /// against every rule of the load.
    pub pending: Vec<Pending>,
}

impl Loaded {
    /// Whether every file and rule loaded.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The rule with id (or name) `key`; ids compare case-insensitively.
    pub fn find(&self, key: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.id.eq_ignore_ascii_case(key))
            .or_else(|| self.rules.iter().find(|r| r.name == key))
    }
}

/// Loads the rule pack built into the binary (`rules/` of the source tree).
pub fn load_bundled() -> Loaded {
    let mut loaded = Loaded::default();
    for (file, text) in pack::FILES {
        load_text(file, None, text, &mut loaded);
    }
    finish(&mut loaded);
    loaded
}

/// Loads rule files and directories (walked recursively for `.yml` / `.yaml`, skipping
/// hidden entries and `frameworks/` catalogs).
pub fn load_paths(paths: &[PathBuf]) -> Loaded {
    let mut loaded = Loaded::default();
    for path in paths {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = walkdir::WalkDir::new(path)
                .sort_by_file_name()
                .into_iter()
                .filter_entry(|e| {
                    let name = e.file_name().to_string_lossy();
                    e.depth() == 0
                        || !(name.starts_with('.')
                            || (e.file_type().is_dir() && name == "frameworks"))
                })
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(walkdir::DirEntry::into_path)
                .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
                .collect();
            files.sort();
            for file in files {
                load_file(&file, &mut loaded);
            }
        } else {
            load_file(path, &mut loaded);
        }
    }
    finish(&mut loaded);
    loaded
}

fn load_file(path: &Path, loaded: &mut Loaded) {
    let shown = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => load_text(&shown, path.parent(), &text, loaded),
        Err(err) => loaded.errors.push(RuleError {
            file: shown,
            line: 1,
            column: 1,
            field: String::new(),
            kind: ErrorKind::Io(err.to_string()),
        }),
    }
}

/// Loads the rules in `text`, the content of `file` (in directory `dir` on disk, `None` for
/// the bundled pack). Call [`finish`] when every file is loaded.
pub fn load_text(file: &str, dir: Option<&Path>, text: &str, loaded: &mut Loaded) {
    loaded.files += 1;
    let index = Arc::new(KeyIndex::new(text));
    let shared_text: Arc<str> = Arc::from(text);
    for (document, deserializer) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = match serde::Deserialize::deserialize(deserializer) {
            Ok(value) => value,
            Err(err) => {
                let (line, column) = err.location().map_or((1, 1), |l| (l.line(), l.column()));
                let message = err.to_string();
                let suffix = format!(" at line {line} column {column}");
                let message = message.strip_suffix(&suffix).unwrap_or(&message).to_owned();
                loaded.errors.push(RuleError {
                    file: file.to_owned(),
                    line,
                    column,
                    field: String::new(),
                    kind: ErrorKind::Syntax(message),
                });
                // The parser cannot resume after a syntax error.
                return;
            }
        };
        if matches!(value, Value::Null) {
            continue;
        }
        let mut ctx = Context::new(file, document, &index);
        let origin = Origin {
            file: file.to_owned(),
            dir: dir.map(Path::to_path_buf),
            document,
            line: index.document_start(document),
            text: Arc::clone(&shared_text),
            index: Arc::clone(&index),
        };
        if let Value::Mapping(map) = &value {
            if map.contains_key("correlation") && !map.contains_key("kind") {
                let position = loaded.rules.len();
                let result = sigma_correlation(map, &mut ctx, origin, position);
                loaded.warnings.append(&mut ctx.warnings);
                match result {
                    Ok(pending) => loaded.pending.push(pending),
                    Err(err) => loaded.errors.push(err),
                }
                continue;
            }
        }
        let result = load_document(&value, &mut ctx, origin);
        loaded.warnings.append(&mut ctx.warnings);
        match result {
            Ok(rule) => loaded.rules.push(rule),
            Err(err) => loaded.errors.push(err),
        }
    }
}

/// Checks what only the whole set can show: Sigma correlations are resolved against the
/// rules they name (which, unless one says `generate: true`, then report nothing of their
/// own), and ids and names used twice are reported — the later rule of a pair is dropped
/// with an error.
pub fn finish(loaded: &mut Loaded) {
    resolve_correlations(loaded);
    let mut ids: HashMap<String, String> = HashMap::new();
    let mut names: HashMap<String, String> = HashMap::new();
    let mut kept = Vec::with_capacity(loaded.rules.len());
    for rule in std::mem::take(&mut loaded.rules) {
        let id_key = rule.id.to_ascii_uppercase();
        let field = |name: &str| {
            let path = FieldPath::root().key(name);
            let (line, column) = rule.origin.index.locate(rule.origin.document, &path);
            (line, column, name.to_owned())
        };
        if let Some(first) = ids.get(&id_key) {
            let (line, column, field) = field("id");
            loaded.errors.push(RuleError {
                file: rule.origin.file.clone(),
                line,
                column,
                field,
                kind: ErrorKind::DuplicateId {
                    id: rule.id.clone(),
                    first: first.clone(),
                },
            });
            continue;
        }
        if let Some(first) = names.get(&rule.name) {
            let (line, column, field) = field("name");
            loaded.errors.push(RuleError {
                file: rule.origin.file.clone(),
                line,
                column,
                field,
                kind: ErrorKind::DuplicateName {
                    name: rule.name.clone(),
                    first: first.clone(),
                },
            });
            continue;
        }
        ids.insert(id_key, rule.location());
        names.insert(rule.name.clone(), rule.location());
        kept.push(rule);
    }
    loaded.rules = kept;
}

fn load_document(value: &Value, ctx: &mut Context<'_>, origin: Origin) -> Result<Rule, RuleError> {
    let root = FieldPath::root();
    let Value::Mapping(map) = value else {
        return Err(ctx.error(
            &root,
            ErrorKind::WrongType {
                expected: "a mapping (one rule per document)",
                found: type_name(value),
            },
        ));
    };
    let has = |key: &str| map.contains_key(key);
    if has("severity") || has("kind") {
        native(map, ctx, origin)
    } else if has("logsource") || has("detection") || has("level") {
        sigma_rule(map, ctx, origin)
    } else {
        Err(ctx.error(
            &root,
            ErrorKind::Invalid(
                "not a rule: a kms-audit rule has `severity` and `kind`, a Sigma rule has `logsource` and `detection`".to_owned(),
            ),
        ))
    }
}

/// A kms-audit rule.
fn native(map: &Mapping, ctx: &mut Context<'_>, origin: Origin) -> Result<Rule, RuleError> {
    let root = FieldPath::root();
    reject_unknown(map, NATIVE_FIELDS, "a rule", &root, ctx)?;
    let id = required_text(map, "id", &root, ctx)?;
    if !is_native_id(&id) {
        return Err(ctx.error(&root.key("id"), ErrorKind::BadId(id)));
    }
    let name = required_text(map, "name", &root, ctx)?;
    if !is_kebab(&name) {
        return Err(ctx.error(
            &root.key("name"),
            ErrorKind::BadName {
                name,
                problem: "is not kebab-case (lower-case words joined by `-`)".to_owned(),
            },
        ));
    }
    let title = required_text(map, "title", &root, ctx)?;
    let severity_text = required_text(map, "severity", &root, ctx)?;
    let severity = Severity::from_name(&severity_text).ok_or_else(|| {
        ctx.error(
            &root.key("severity"),
            ErrorKind::NotOneOf {
                value: severity_text.clone(),
                expected: Severity::ALL.map(Severity::as_str).join(", "),
            },
        )
    })?;
    let kind_text = required_text(map, "kind", &root, ctx)?;
    let kind = Kind::from_name(&kind_text).ok_or_else(|| {
        ctx.error(
            &root.key("kind"),
            ErrorKind::NotOneOf {
                value: kind_text.clone(),
                expected: Kind::ALL.map(Kind::as_str).join(", "),
            },
        )
    })?;
    if !matches!(
        kind,
        Kind::Match | Kind::Threshold | Kind::Baseline | Kind::Correlation | Kind::State
    ) {
        return Err(ctx.error(&root.key("kind"), ErrorKind::UnsupportedKind(kind_text)));
    }
    let status = status(map, &root, ctx)?;
    let what = required_text(map, "what", &root, ctx)?;
    let why = required_text(map, "why", &root, ctx)?;
    let remediation = required_text(map, "remediation", &root, ctx)?;
    if let Some(logsource) = map.get("logsource") {
        check_logsource(logsource, &root.key("logsource"), ctx)?;
    }
    let params = params(map, &root, ctx)?;
    let resource = resource(map, &root, ctx)?;
    let state = match kind {
        Kind::State => Some(crate::rules::state::parse(map, &params, ctx)?),
        _ => None,
    };
    let detection_value = match (map.get("detection"), state.is_some()) {
        (Some(value), _) => value,
        (None, true) => &Value::Null,
        (None, false) => return Err(ctx.error(&root.key("detection"), ErrorKind::Missing)),
    };
    let body = if let Some(state) = state {
        Body::State(state)
    } else if kind == Kind::Match {
        if let Some(name) = ["threshold", "baseline", "correlation"]
            .into_iter()
            .find(|k| map.contains_key(*k))
        {
            return Err(ctx.error(
                &root.key(name),
                ErrorKind::Invalid(format!("a `match` rule has no `{name}` section")),
            ));
        }
        Body::Match(MatchBody {
            detection: sigma::compile(detection_value, &root.key("detection"), &params, ctx)?,
            raw: detection_value.clone(),
        })
    } else {
        Body::Window(crate::rules::window::parse(kind, map, &params, ctx)?)
    };
    let tests = tests(map, &root, &params, origin.dir.is_some(), ctx)?;
    Ok(Rule {
        id,
        name,
        title,
        severity,
        kind,
        status,
        what,
        why: Some(why),
        remediation: Some(remediation),
        references: text_list(map, "references", &root, ctx)?,
        tags: text_list(map, "tags", &root, ctx)?,
        falsepositives: text_list(map, "falsepositives", &root, ctx)?,
        params,
        resource,
        body,
        tests,
        format: Format::Native,
        origin,
    })
}

/// A Sigma rule, read unchanged.
fn sigma_rule(map: &Mapping, ctx: &mut Context<'_>, origin: Origin) -> Result<Rule, RuleError> {
    let root = FieldPath::root();
    let title = required_text(map, "title", &root, ctx)?;
    let logsource = map
        .get("logsource")
        .ok_or_else(|| ctx.error(&root.key("logsource"), ErrorKind::Missing))?;
    check_logsource(logsource, &root.key("logsource"), ctx)?;
    let stem = Path::new(&origin.file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = optional_text(map, "name", &root, ctx)?.unwrap_or(stem);
    let id = match optional_text(map, "id", &root, ctx)? {
        Some(id) if is_uuid(&id) => id,
        Some(id) => {
            return Err(ctx.error(
                &root.key("id"),
                ErrorKind::Invalid(format!("`{id}` is not a UUID, as Sigma rule ids are")),
            ))
        }
        None => name.clone(),
    };
    // `level` is optional in Sigma (the rules a correlation names often leave it out).
    let severity = match optional_text(map, "level", &root, ctx)? {
        None => Severity::Medium,
        Some(level) => Severity::from_sigma_level(&level).ok_or_else(|| {
            ctx.error(
                &root.key("level"),
                ErrorKind::NotOneOf {
                    value: level.clone(),
                    expected: "informational, low, medium, high, critical".to_owned(),
                },
            )
        })?,
    };
    let status = status(map, &root, ctx)?;
    let what = optional_text(map, "description", &root, ctx)?.unwrap_or_else(|| title.clone());
    let params = Params::new();
    let detection_value = map
        .get("detection")
        .ok_or_else(|| ctx.error(&root.key("detection"), ErrorKind::Missing))?;
    let detection = sigma::compile(detection_value, &root.key("detection"), &params, ctx)?;
    Ok(Rule {
        id,
        name,
        title,
        severity,
        kind: Kind::Match,
        status,
        what: what.trim_end().to_owned(),
        why: None,
        remediation: None,
        references: text_list(map, "references", &root, ctx)?,
        tags: text_list(map, "tags", &root, ctx)?,
        falsepositives: text_list(map, "falsepositives", &root, ctx)?,
        params,
        resource: DEFAULT_RESOURCE.iter().map(|p| Field::new(p)).collect(),
        body: Body::Match(MatchBody {
            detection,
            raw: detection_value.clone(),
        }),
        tests: Vec::new(),
        format: Format::Sigma,
        origin,
    })
}

/// Resolves the pending Sigma correlations of `loaded` and puts the compiled rules in file
/// order; rules a correlation names without `generate: true` are taken out (they stay inside
/// the correlation).
fn resolve_correlations(loaded: &mut Loaded) {
    if loaded.pending.is_empty() {
        return;
    }
    let pending = std::mem::take(&mut loaded.pending);
    let mut silenced = BTreeSet::new();
    let mut compiled = Vec::new();
    for correlation in &pending {
        match sigma::correlation::resolve(correlation, &loaded.rules, &pending) {
            Ok((rule, used)) => {
                if !correlation.generate {
                    silenced.extend(used);
                }
                compiled.push((correlation.position, rule));
            }
            Err(err) => loaded.errors.push(err),
        }
    }
    let rules = std::mem::take(&mut loaded.rules);
    loaded.rules = sigma::correlation::merge(rules, compiled, &silenced);
}

/// A Sigma correlation document, read unchanged; resolved by [`finish`].
fn sigma_correlation(
    map: &Mapping,
    ctx: &mut Context<'_>,
    origin: Origin,
    position: usize,
) -> Result<Pending, RuleError> {
    let root = FieldPath::root();
    if map.contains_key("detection") {
        return Err(ctx.error(
            &root.key("detection"),
            ErrorKind::Invalid(
                "a Sigma correlation has no `detection`: its events are those of the rules it names".to_owned(),
            ),
        ));
    }
    let title = required_text(map, "title", &root, ctx)?;
    if let Some(logsource) = map.get("logsource") {
        check_logsource(logsource, &root.key("logsource"), ctx)?;
    }
    let stem = Path::new(&origin.file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = optional_text(map, "name", &root, ctx)?.unwrap_or(stem);
    let id = match optional_text(map, "id", &root, ctx)? {
        Some(id) if is_uuid(&id) => Some(id),
        Some(id) => {
            return Err(ctx.error(
                &root.key("id"),
                ErrorKind::Invalid(format!("`{id}` is not a UUID, as Sigma rule ids are")),
            ))
        }
        None => None,
    };
    let level = match optional_text(map, "level", &root, ctx)? {
        None => None,
        Some(level) => Some(Severity::from_sigma_level(&level).ok_or_else(|| {
            ctx.error(
                &root.key("level"),
                ErrorKind::NotOneOf {
                    value: level.clone(),
                    expected: "informational, low, medium, high, critical".to_owned(),
                },
            )
        })?),
    };
    let status = status(map, &root, ctx)?;
    let what = optional_text(map, "description", &root, ctx)?.unwrap_or_else(|| title.clone());
    let section = sigma::correlation::parse_section(map, ctx)?;
    // The JSON schema puts `generate` beside `correlation`; pySigma reads it inside.
    let top = match map.get("generate") {
        None | Some(Value::Null) => None,
        Some(Value::Bool(b)) => Some(*b),
        Some(other) => {
            return Err(ctx.error(
                &root.key("generate"),
                ErrorKind::WrongType {
                    expected: "true or false",
                    found: type_name(other),
                },
            ))
        }
    };
    let generate = match (section.generate, top) {
        (Some(inner), Some(outer)) if inner != outer => {
            return Err(ctx.error(
                &root.key("generate"),
                ErrorKind::Invalid("disagrees with `correlation.generate`".to_owned()),
            ))
        }
        (inner, outer) => inner.or(outer).unwrap_or(false),
    };
    Ok(Pending {
        id,
        name,
        title,
        level,
        status,
        what: what.trim_end().to_owned(),
        references: text_list(map, "references", &root, ctx)?,
        tags: text_list(map, "tags", &root, ctx)?,
        falsepositives: text_list(map, "falsepositives", &root, ctx)?,
        generate,
        section,
        origin,
        position,
    })
}

impl Rule {
    /// This rule with some parameters set to other values (from a configuration file, the
    /// command line or a test case); the detection is compiled again with them.
    pub fn with_params(&self, values: &[(String, ParamValue)]) -> Result<Rule, RuleError> {
        let origin = &self.origin;
        let mut ctx = Context::new(&origin.file, origin.document, &origin.index);
        let mut params = self.params.clone();
        for (name, value) in values {
            params.set(name, value.clone()).map_err(|message| {
                ctx.error(
                    &FieldPath::root().key("params").key(name),
                    ErrorKind::Param(message),
                )
            })?;
        }
        let body = match &self.body {
            Body::Match(body) => Body::Match(MatchBody {
                detection: sigma::compile(
                    &body.raw,
                    &FieldPath::root().key("detection"),
                    &params,
                    &mut ctx,
                )?,
                raw: body.raw.clone(),
            }),
            // A Sigma correlation has no parameters and nothing to compile again.
            Body::Window(body) if self.format == Format::Sigma => Body::Window(body.clone()),
            Body::Window(body) => Body::Window(body.with_params(self.kind, &params, &mut ctx)?),
            Body::State(body) => Body::State(body.with_params(&params, &mut ctx)?),
        };
        let mut rule = self.clone();
        rule.params = params;
        rule.body = body;
        Ok(rule)
    }
}

fn reject_unknown(
    map: &Mapping,
    allowed: &[&str],
    context: &'static str,
    path: &FieldPath,
    ctx: &Context<'_>,
) -> Result<(), RuleError> {
    for key in map.keys() {
        let name = key.as_str().unwrap_or_default();
        if !allowed.contains(&name) {
            return Err(ctx.error(
                &path.key(name),
                ErrorKind::UnknownField {
                    context,
                    expected: allowed.join(", "),
                },
            ));
        }
    }
    Ok(())
}

fn optional_text(
    map: &Mapping,
    key: &str,
    path: &FieldPath,
    ctx: &Context<'_>,
) -> Result<Option<String>, RuleError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Err(ctx.error(
            &path.key(key),
            ErrorKind::Invalid("must not be empty".to_owned()),
        )),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ctx.error(
            &path.key(key),
            ErrorKind::WrongType {
                expected: "text",
                found: type_name(other),
            },
        )),
    }
}

fn required_text(
    map: &Mapping,
    key: &str,
    path: &FieldPath,
    ctx: &Context<'_>,
) -> Result<String, RuleError> {
    optional_text(map, key, path, ctx)?
        .map(|s| s.trim_end().to_owned())
        .ok_or_else(|| ctx.error(&path.key(key), ErrorKind::Missing))
}

/// A list of texts; a single text is a list of one.
fn text_list(
    map: &Mapping,
    key: &str,
    path: &FieldPath,
    ctx: &Context<'_>,
) -> Result<Vec<String>, RuleError> {
    let at = path.key(key);
    match map.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Sequence(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                crate::rules::yaml::scalar_text(item).ok_or_else(|| {
                    ctx.error(
                        &at.index(i),
                        ErrorKind::WrongType {
                            expected: "text",
                            found: type_name(item),
                        },
                    )
                })
            })
            .collect(),
        Some(other) => Err(ctx.error(
            &at,
            ErrorKind::WrongType {
                expected: "a list of texts",
                found: type_name(other),
            },
        )),
    }
}

fn status(map: &Mapping, path: &FieldPath, ctx: &Context<'_>) -> Result<Option<Status>, RuleError> {
    let Some(text) = optional_text(map, "status", path, ctx)? else {
        return Ok(None);
    };
    Status::from_name(&text).map(Some).ok_or_else(|| {
        ctx.error(
            &path.key("status"),
            ErrorKind::NotOneOf {
                value: text,
                expected: Status::ALL.map(Status::as_str).join(", "),
            },
        )
    })
}

fn check_logsource(value: &Value, path: &FieldPath, ctx: &Context<'_>) -> Result<(), RuleError> {
    let Value::Mapping(map) = value else {
        return Err(ctx.error(
            path,
            ErrorKind::WrongType {
                expected: "a mapping (product, service)",
                found: type_name(value),
            },
        ));
    };
    let get = |key: &str| map.get(key).and_then(Value::as_str);
    let (product, service, category) = (get("product"), get("service"), get("category"));
    if product == Some("aws") && service == Some("cloudtrail") && category.is_none() {
        return Ok(());
    }
    let shown: Vec<String> = [
        ("category", category),
        ("product", product),
        ("service", service),
    ]
    .iter()
    .filter_map(|(k, v)| v.map(|v| format!("{k}: {v}")))
    .collect();
    Err(ctx.error(
        path,
        ErrorKind::UnsupportedLogsource(if shown.is_empty() {
            "(none)".to_owned()
        } else {
            shown.join(", ")
        }),
    ))
}

fn params(map: &Mapping, path: &FieldPath, ctx: &Context<'_>) -> Result<Params, RuleError> {
    let at = path.key("params");
    let mut params = Params::new();
    match map.get("params") {
        None | Some(Value::Null) => {}
        Some(Value::Mapping(entries)) => {
            for (key, value) in entries {
                let name = key.as_str().unwrap_or_default();
                if !is_param_name(name) {
                    return Err(ctx.error(
                        &at.key(name),
                        ErrorKind::Param(format!(
                            "`{name}` is not a parameter name: use snake_case"
                        )),
                    ));
                }
                let value = ParamValue::from_yaml(value)
                    .map_err(|message| ctx.error(&at.key(name), ErrorKind::Param(message)))?;
                params.insert(name.to_owned(), value);
            }
        }
        Some(other) => {
            return Err(ctx.error(
                &at,
                ErrorKind::WrongType {
                    expected: "a mapping of parameter names to values",
                    found: type_name(other),
                },
            ))
        }
    }
    Ok(params)
}

fn resource(map: &Mapping, path: &FieldPath, ctx: &Context<'_>) -> Result<Vec<Field>, RuleError> {
    let paths = match map.get("resource") {
        None | Some(Value::Null) => {
            return Ok(DEFAULT_RESOURCE.iter().map(|p| Field::new(p)).collect())
        }
        Some(_) => text_list(map, "resource", path, ctx)?,
    };
    let at = path.key("resource");
    if paths.is_empty() {
        return Err(ctx.error(
            &at,
            ErrorKind::Invalid("name at least one field".to_owned()),
        ));
    }
    paths
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let field = Field::new(p);
            if matches!(field.source, FieldSource::Absent(_)) {
                Err(ctx.error(
                    &at.index(i),
                    ErrorKind::Invalid(format!(
                        "`{p}` is not a field the lake keeps, so it cannot name the resource"
                    )),
                ))
            } else {
                Ok(field)
            }
        })
        .collect()
}

fn tests(
    map: &Mapping,
    path: &FieldPath,
    params: &Params,
    on_disk: bool,
    ctx: &Context<'_>,
) -> Result<Vec<TestCase>, RuleError> {
    let at = path.key("tests");
    let items = match map.get("tests") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Sequence(items)) => items,
        Some(other) => {
            return Err(ctx.error(
                &at,
                ErrorKind::WrongType {
                    expected: "a list of test cases",
                    found: type_name(other),
                },
            ))
        }
    };
    let mut cases = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let case_path = at.index(i);
        let Value::Mapping(case) = item else {
            return Err(ctx.error(
                &case_path,
                ErrorKind::WrongType {
                    expected: "a test case mapping (name, events, expect)",
                    found: type_name(item),
                },
            ));
        };
        reject_unknown(case, TEST_FIELDS, "a test case", &case_path, ctx)?;
        let name = required_text(case, "name", &case_path, ctx)?;
        let files = test_files(case, &case_path, ctx)?;
        // A case made of files (a trail with its digests) needs no inline events.
        let events = if files.is_empty() || case.contains_key("events") {
            test_events(case, &case_path, on_disk, ctx)?
        } else {
            Vec::new()
        };
        let overrides = test_params(case, &case_path, params, ctx)?;
        let expect = expectation(case, &case_path, ctx)?;
        cases.push(TestCase {
            name,
            events,
            files,
            params: overrides,
            expect,
            line: ctx.index.locate(ctx.document, &case_path).0,
        });
    }
    Ok(cases)
}

/// A case's `files`: relative path → exact text, written as a trail directory (log files
/// in the S3 layout and their digests, whose hashes must be those of the text).
fn test_files(
    case: &Mapping,
    path: &FieldPath,
    ctx: &Context<'_>,
) -> Result<Vec<(String, String)>, RuleError> {
    let at = path.key("files");
    let entries = match case.get("files") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Mapping(entries)) if !entries.is_empty() => entries,
        Some(other) => {
            return Err(ctx.error(
                &at,
                ErrorKind::WrongType {
                    expected: "a non-empty mapping of relative file path to file text",
                    found: type_name(other),
                },
            ))
        }
    };
    let mut files = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let name = key.as_str().unwrap_or_default();
        let field = at.key(name);
        let relative = std::path::Path::new(name);
        let safe = !name.is_empty()
            && relative
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !safe {
            return Err(ctx.error(
                &field,
                ErrorKind::Invalid(format!(
                    "`{name}` is not a relative path inside the case's directory"
                )),
            ));
        }
        let Value::String(text) = value else {
            return Err(ctx.error(
                &field,
                ErrorKind::WrongType {
                    expected: "the file's text",
                    found: type_name(value),
                },
            ));
        };
        files.push((name.to_owned(), text.clone()));
    }
    Ok(files)
}

fn test_events(
    case: &Mapping,
    path: &FieldPath,
    on_disk: bool,
    ctx: &Context<'_>,
) -> Result<Vec<TestEvents>, RuleError> {
    let at = path.key("events");
    let items = match case.get("events") {
        None => return Err(ctx.error(&at, ErrorKind::Missing)),
        Some(Value::Sequence(items)) if !items.is_empty() => items,
        Some(other) => {
            return Err(ctx.error(
                &at,
                ErrorKind::WrongType {
                    expected: "a non-empty list of CloudTrail records or file paths",
                    found: type_name(other),
                },
            ))
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Mapping(_) => serde_json::to_value(item).map(TestEvents::Record).map_err(|err| {
                ctx.error(
                    &at.index(i),
                    ErrorKind::Invalid(format!("is not a JSON-compatible record: {err}")),
                )
            }),
            Value::String(file) if on_disk => Ok(TestEvents::File(PathBuf::from(file))),
            Value::String(_) => Err(ctx.error(
                &at.index(i),
                ErrorKind::Invalid(
                    "bundled rules write their events inline (a file path needs a rule file on disk)".to_owned(),
                ),
            )),
            other => Err(ctx.error(
                &at.index(i),
                ErrorKind::WrongType {
                    expected: "a CloudTrail record (mapping) or a file path",
                    found: type_name(other),
                },
            )),
        })
        .collect()
}

fn test_params(
    case: &Mapping,
    path: &FieldPath,
    params: &Params,
    ctx: &Context<'_>,
) -> Result<Vec<(String, ParamValue)>, RuleError> {
    let at = path.key("params");
    let entries = match case.get("params") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Mapping(entries)) => entries,
        Some(other) => {
            return Err(ctx.error(
                &at,
                ErrorKind::WrongType {
                    expected: "a mapping of parameter values",
                    found: type_name(other),
                },
            ))
        }
    };
    let mut out = Vec::new();
    for (key, value) in entries {
        let name = key.as_str().unwrap_or_default();
        let value = ParamValue::from_yaml(value)
            .map_err(|message| ctx.error(&at.key(name), ErrorKind::Param(message)))?;
        let mut check = params.clone();
        check
            .set(name, value.clone())
            .map_err(|message| ctx.error(&at.key(name), ErrorKind::Param(message)))?;
        out.push((name.to_owned(), value));
    }
    Ok(out)
}

fn expectation(
    case: &Mapping,
    path: &FieldPath,
    ctx: &Context<'_>,
) -> Result<Expectation, RuleError> {
    let at = path.key("expect");
    let Some(value) = case.get("expect") else {
        return Err(ctx.error(&at, ErrorKind::Missing));
    };
    let Value::Mapping(expect) = value else {
        return Err(ctx.error(
            &at,
            ErrorKind::WrongType {
                expected: "a mapping like { findings: 1 }",
                found: type_name(value),
            },
        ));
    };
    reject_unknown(expect, EXPECT_FIELDS, "a test expectation", &at, ctx)?;
    let count = |key: &str| -> Result<Option<u64>, RuleError> {
        match expect.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(other) => Err(ctx.error(
                &at.key(key),
                ErrorKind::WrongType {
                    expected: "a count (0 or more)",
                    found: type_name(other),
                },
            )),
        }
    };
    let expectation = Expectation {
        findings: count("findings")?,
        matches: count("matches")?,
    };
    if expectation.findings.is_none() && expectation.matches.is_none() {
        return Err(ctx.error(
            &at,
            ErrorKind::Invalid("expect `findings`, `matches` or both".to_owned()),
        ));
    }
    Ok(expectation)
}

/// `KMS.ROT.1`: upper-case segments of letters and digits, at least two, the last a number
/// without leading zero.
pub fn is_native_id(id: &str) -> bool {
    let segments: Vec<&str> = id.split('.').collect();
    let Some((last, heads)) = segments.split_last() else {
        return false;
    };
    !heads.is_empty()
        && heads.iter().all(|s| {
            s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && s.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        && !last.is_empty()
        && !last.starts_with('0')
        && last.chars().all(|c| c.is_ascii_digit())
}

/// Lower-case words of letters and digits joined by single dashes.
pub fn is_kebab(name: &str) -> bool {
    !name.is_empty()
        && name.split('-').all(|word| {
            !word.is_empty()
                && word
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
}

fn is_uuid(text: &str) -> bool {
    let groups: Vec<&str> = text.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.chars().all(|c| c.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "\
id: KMS.TEST.1
name: key-disabled
title: A key was disabled
severity: high
kind: match
what: Flags DisableKey.
why: Data under the key cannot be decrypted.
remediation: Re-enable it.
params:
  exempt: []
detection:
  selection:
    eventSource: kms.amazonaws.com
    eventName: DisableKey
  exempt:
    principal|expand: '%exempt%'
  condition: selection and not exempt
tests:
  - name: disabled
    events:
      - {eventName: DisableKey}
    expect: { findings: 1 }
";

    fn load(text: &str) -> Loaded {
        let mut loaded = Loaded::default();
        load_text("r.yml", None, text, &mut loaded);
        finish(&mut loaded);
        loaded
    }

    #[test]
    fn a_native_rule_loads() {
        let loaded = load(RULE);
        assert!(loaded.is_ok(), "{:?}", loaded.errors);
        let rule = &loaded.rules[0];
        assert_eq!(rule.id, "KMS.TEST.1");
        assert_eq!(rule.severity, Severity::High);
        assert_eq!(rule.format, Format::Native);
        assert_eq!(rule.tests.len(), 1);
        assert_eq!(rule.tests[0].expect.findings, Some(1));
        assert_eq!(rule.tests[0].line, 19);
        assert_eq!(rule.resource.len(), 2);
        assert!(loaded.find("kms.test.1").is_some());
        assert!(loaded.find("key-disabled").is_some());
    }

    #[test]
    fn errors_name_line_and_field() {
        let cases = [
            ("severity: high", "severity: hgih", 4, "severity", "hgih"),
            ("id: KMS.TEST.1", "id: kms-test-1", 1, "id", "not a rule id"),
            (
                "kind: match",
                "kind: state",
                11,
                "detection",
                "no `detection`",
            ),
            ("kind: match", "kind: sometimes", 5, "kind", "not allowed"),
            ("what: Flags DisableKey.\n", "", 1, "what", "is required"),
            (
                "title: A key was disabled",
                "titel: A key was disabled",
                3,
                "titel",
                "not a field",
            ),
            (
                "    eventName: DisableKey",
                "    eventName|contians: DisableKey",
                14,
                "detection.selection.eventName|contians",
                "modifier",
            ),
            (
                "  condition: selection and not exempt",
                "  condition: selection and nope",
                17,
                "detection.condition",
                "`nope`",
            ),
            (
                "    expect: { findings: 1 }",
                "    expect: { findings: -1 }",
                22,
                "tests[0].expect.findings",
                "count",
            ),
            (
                "  exempt: []",
                "  Exempt: []",
                10,
                "params.Exempt",
                "snake_case",
            ),
        ];
        for (from, to, line, field, needle) in cases {
            let text = RULE.replacen(from, to, 1);
            let loaded = load(&text);
            let err = loaded
                .errors
                .first()
                .unwrap_or_else(|| panic!("{to}: no error"));
            assert_eq!((err.line, err.field.as_str()), (line, field), "{err}");
            assert!(err.to_string().contains(needle), "{err}");
            assert!(loaded.rules.is_empty());
        }
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let loaded = load("id: KMS.A.1\nname: [unclosed\n");
        let err = &loaded.errors[0];
        assert!(matches!(err.kind, ErrorKind::Syntax(_)), "{err}");
        assert!(err.line >= 2, "{err}");
        assert!(
            err.to_string().starts_with(&format!("r.yml:{}:", err.line)),
            "{err}"
        );
        let loaded = load("id: KMS.A.1\nname: x\n  bad: indentation\n");
        let err = &loaded.errors[0];
        assert!(matches!(err.kind, ErrorKind::Syntax(_)), "{err}");
        assert_eq!(err.line, 3, "{err}");
    }

    #[test]
    fn ids_and_names_are_unique_across_files() {
        let mut loaded = Loaded::default();
        load_text("a.yml", None, RULE, &mut loaded);
        load_text(
            "b.yml",
            None,
            &RULE.replace("name: key-disabled", "name: other"),
            &mut loaded,
        );
        load_text(
            "c.yml",
            None,
            &RULE.replace("KMS.TEST.1", "KMS.TEST.2"),
            &mut loaded,
        );
        finish(&mut loaded);
        assert_eq!(loaded.rules.len(), 1);
        assert_eq!(loaded.errors.len(), 2);
        assert!(loaded.errors[0]
            .to_string()
            .starts_with("b.yml:1:1: id: id `KMS.TEST.1` is already used by a.yml:1"));
        assert!(loaded.errors[1]
            .to_string()
            .contains("name `key-disabled` is already used"));
    }

    #[test]
    fn parameters_can_be_overridden() {
        let loaded = load(RULE);
        let rule = &loaded.rules[0];
        let changed = rule
            .with_params(&[("exempt".into(), ParamValue::List(vec!["arn:x".into()]))])
            .expect("same type");
        assert_eq!(
            changed.params.get("exempt"),
            Some(&ParamValue::List(vec!["arn:x".into()]))
        );
        let err = rule
            .with_params(&[("exempt".into(), ParamValue::Int(3))])
            .expect_err("wrong type");
        assert_eq!(err.field, "params.exempt");
    }

    #[test]
    fn sigma_rules_and_other_documents() {
        let sigma = "title: T\nid: 1279262f-1464-422f-ac0d-5b545320c526\nstatus: experimental\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n  selection:\n    eventSource: kms.amazonaws.com\n  condition: selection\nlevel: informational\n";
        let loaded = load(sigma);
        assert!(loaded.is_ok(), "{:?}", loaded.errors);
        assert_eq!(loaded.rules[0].severity, Severity::Info);
        assert_eq!(loaded.rules[0].name, "r");
        assert_eq!(loaded.rules[0].what, "T");
        let windows = load(&sigma.replace(
            "product: aws\n  service: cloudtrail",
            "product: windows\n  category: process_creation",
        ));
        assert!(windows.errors[0]
            .to_string()
            .contains("category: process_creation, product: windows"));
        // A Sigma correlation is read (sigma::correlation tests it in full).
        let correlation = load("title: c\ncorrelation:\n  type: event_count\n");
        assert!(correlation.errors[0]
            .to_string()
            .starts_with("r.yml:2:1: correlation.rules: is required"));
        assert!(!load("just: text\n").is_ok());
        let two = load(&format!(
            "{sigma}---\n{}",
            sigma.replace("1279262f", "2279262f")
        ));
        assert_eq!(two.rules.len(), 1, "same name twice");
    }

    #[test]
    fn id_and_name_syntax() {
        assert!(is_native_id("KMS.ROT.1"));
        assert!(is_native_id("KMS.LP2.10"));
        assert!(!is_native_id("KMS"));
        assert!(!is_native_id("KMS.rot.1"));
        assert!(!is_native_id("KMS.ROT.01"));
        assert!(!is_native_id("1.ROT.1"));
        assert!(is_kebab("key-rotation-overdue"));
        assert!(!is_kebab("Key-rotation"));
        assert!(!is_kebab("key--rotation"));
        assert!(!is_kebab("key_rotation"));
        assert!(is_uuid("1279262f-1464-422f-ac0d-5b545320c526"));
        assert!(!is_uuid("KMS.ROT.1"));
    }
}
