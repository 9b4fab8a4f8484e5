//! Where things are in a rule file. serde's YAML values carry no positions, so the loader
//! walks [`serde_yaml_ng::Value`]s itself and, to name a line in an error, looks the field's
//! path up in a [`KeyIndex`] built by scanning the text's block structure.
//!
//! The scan understands what rule files use: block mappings, block sequences (indented or
//! not), comments, block scalars (`|`, `>`), flow collections (whose inner entries map to
//! the line of their key) and `---` document separators. A path it cannot find resolves to
//! its nearest known ancestor, so a position is always given.

use std::collections::HashMap;
use std::fmt;

use serde_yaml_ng::Value;

use crate::rules::error::{ErrorKind, RuleError, RuleWarning};

/// One step of a path into a YAML document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path into a YAML document: `detection.selection.eventName`, `tests[1].expect`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct FieldPath(Vec<Seg>);

impl FieldPath {
    /// The document root.
    pub fn root() -> Self {
        Self::default()
    }

    /// This path followed by the key `key`.
    pub fn key(&self, key: &str) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Key(key.to_owned()));
        Self(segs)
    }

    /// This path followed by the index `index`.
    pub fn index(&self, index: usize) -> Self {
        let mut segs = self.0.clone();
        segs.push(Seg::Index(index));
        Self(segs)
    }

    /// The enclosing path, if any.
    pub fn parent(&self) -> Option<Self> {
        if self.0.is_empty() {
            return None;
        }
        Some(Self(self.0[..self.0.len() - 1].to_vec()))
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(key) if i == 0 => f.write_str(key)?,
                Seg::Key(key) => write!(f, ".{key}")?,
                Seg::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// Line and column (1-based) of every block key and sequence item of each document in a
/// file.
#[derive(Debug, Clone, Default)]
pub struct KeyIndex {
    documents: Vec<DocumentIndex>,
}

/// The positions of one document.
#[derive(Debug, Clone, Default)]
struct DocumentIndex {
    /// 1-based line of the document's first content line.
    start: usize,
    positions: HashMap<FieldPath, (usize, usize)>,
}

/// An open mapping key or sequence item while scanning.
struct Open {
    /// Column of the key's first character or of the `-`.
    column: usize,
    path: FieldPath,
    is_item: bool,
    /// The next index for a sequence nested under this entry.
    next_index: usize,
}

impl KeyIndex {
    /// Scans `text`.
    pub fn new(text: &str) -> Self {
        let mut documents = Vec::new();
        let mut current = DocumentIndex {
            start: 0,
            positions: HashMap::new(),
        };
        let mut stack: Vec<Open> = Vec::new();
        // Lines deeper than this column belong to a block scalar or flow collection.
        let mut skip_deeper_than: Option<usize> = None;
        let mut flow_depth: i32 = 0;
        let mut seen_content = false;
        for (number, raw_line) in text.lines().enumerate() {
            let line = number + 1;
            if raw_line.starts_with("---") || raw_line.starts_with("...") {
                if seen_content || !current.positions.is_empty() {
                    documents.push(std::mem::take(&mut current));
                }
                current.start = 0;
                stack.clear();
                skip_deeper_than = None;
                flow_depth = 0;
                seen_content = false;
                continue;
            }
            let content = strip_comment(raw_line);
            let trimmed = content.trim_start();
            if trimmed.is_empty() {
                continue;
            }
            let indent = content.len() - trimmed.len();
            if flow_depth > 0 {
                flow_depth += bracket_balance(trimmed);
                continue;
            }
            if let Some(limit) = skip_deeper_than {
                if indent > limit {
                    continue;
                }
                skip_deeper_than = None;
            }
            if !seen_content {
                seen_content = true;
                current.start = line;
            }
            let mut column = indent;
            let mut rest = trimmed;
            // Sequence items, possibly nested on one line (`- - a`).
            while rest == "-" || rest.starts_with("- ") {
                while stack
                    .last()
                    .is_some_and(|top| top.column > column || (top.column == column && top.is_item))
                {
                    stack.pop();
                }
                let parent_path = stack
                    .last()
                    .map_or_else(FieldPath::root, |p| p.path.clone());
                let index = match stack.last_mut() {
                    Some(parent) => {
                        parent.next_index += 1;
                        parent.next_index - 1
                    }
                    None => 0,
                };
                let path = parent_path.index(index);
                current
                    .positions
                    .entry(path.clone())
                    .or_insert((line, column + 1));
                stack.push(Open {
                    column,
                    path,
                    is_item: true,
                    next_index: 0,
                });
                let after = rest[1..].trim_start();
                column += rest.len() - after.len();
                rest = after;
            }
            if rest.is_empty() {
                continue;
            }
            let Some((key, value)) = split_key(rest) else {
                // A scalar item or a continuation line.
                flow_depth += bracket_balance(rest);
                continue;
            };
            while stack.last().is_some_and(|top| top.column >= column) {
                stack.pop();
            }
            let parent_path = stack
                .last()
                .map_or_else(FieldPath::root, |p| p.path.clone());
            let path = parent_path.key(&key);
            current
                .positions
                .entry(path.clone())
                .or_insert((line, column + 1));
            stack.push(Open {
                column,
                path,
                is_item: false,
                next_index: 0,
            });
            let value = value.trim();
            if value.starts_with('|') || value.starts_with('>') {
                skip_deeper_than = Some(column);
            } else if value.starts_with('[') || value.starts_with('{') {
                flow_depth += bracket_balance(value);
            }
        }
        if seen_content || !current.positions.is_empty() || documents.is_empty() {
            documents.push(current);
        }
        Self { documents }
    }

    /// Line and column of `path` in document `document` (0-based), or of its nearest
    /// ancestor that has one; the document start when none does.
    pub fn locate(&self, document: usize, path: &FieldPath) -> (usize, usize) {
        let Some(doc) = self.documents.get(document) else {
            return (1, 1);
        };
        let mut cursor = Some(path.clone());
        while let Some(p) = cursor {
            if let Some(&position) = doc.positions.get(&p) {
                return position;
            }
            cursor = p.parent();
        }
        (doc.start.max(1), 1)
    }

    /// 1-based first content line of document `document`.
    pub fn document_start(&self, document: usize) -> usize {
        self.documents.get(document).map_or(1, |d| d.start.max(1))
    }
}

/// The line without a trailing `# comment` (a `#` at the start or after a space, outside
/// quotes).
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '#' && previous.is_whitespace() => return &line[..i],
            None => {}
        }
        previous = c;
    }
    line
}

/// `key: value` or `key:` as (unquoted key, value text); `None` for a line without a key.
fn split_key(text: &str) -> Option<(String, &str)> {
    if let Some(quote) = text.chars().next().filter(|c| *c == '"' || *c == '\'') {
        let close = text[1..].find(quote)? + 1;
        let after = &text[close + 1..];
        let value = after.strip_prefix(':')?;
        if !(value.is_empty() || value.starts_with(' ')) {
            return None;
        }
        return Some((text[1..close].to_owned(), value));
    }
    if text.starts_with('[') || text.starts_with('{') {
        return None;
    }
    let bytes = text.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ') {
            return Some((text[..i].trim_end().to_owned(), &text[i + 1..]));
        }
    }
    None
}

/// Opening minus closing brackets outside quotes.
fn bracket_balance(text: &str) -> i32 {
    let mut quote: Option<char> = None;
    let mut balance = 0;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None => match c {
                '\'' | '"' => quote = Some(c),
                '[' | '{' => balance += 1,
                ']' | '}' => balance -= 1,
                _ => {}
            },
        }
    }
    balance
}

/// One document of a rule file being read: turns field paths into located errors and
/// warnings.
pub struct Context<'a> {
    /// The file as shown to the user.
    pub file: &'a str,
    /// 0-based document number.
    pub document: usize,
    /// The file's positions.
    pub index: &'a KeyIndex,
    /// Warnings met so far.
    pub warnings: Vec<RuleWarning>,
}

impl<'a> Context<'a> {
    /// A context for document `document` of `file`.
    pub fn new(file: &'a str, document: usize, index: &'a KeyIndex) -> Self {
        Self {
            file,
            document,
            index,
            warnings: Vec::new(),
        }
    }

    /// An error about the field at `path`.
    pub fn error(&self, path: &FieldPath, kind: ErrorKind) -> RuleError {
        let (line, column) = self.index.locate(self.document, path);
        RuleError {
            file: self.file.to_owned(),
            line,
            column,
            field: path.to_string(),
            kind,
        }
    }

    /// Records a warning about the field at `path`.
    pub fn warn(&mut self, path: &FieldPath, message: String) {
        let (line, column) = self.index.locate(self.document, path);
        self.warnings.push(RuleWarning {
            file: self.file.to_owned(),
            line,
            column,
            field: path.to_string(),
            message,
        });
    }
}

/// A short description of a YAML value's type, for error messages.
pub fn type_name(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the text {s:?}"),
        Value::Sequence(_) => "a list".to_owned(),
        Value::Mapping(_) => "a mapping".to_owned(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// The text of a scalar as Sigma compares it: strings as they are, numbers and booleans in
/// their YAML spelling. `None` for null, collections and tagged values.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> FieldPath {
        let mut p = FieldPath::root();
        for part in text.split('/') {
            p = match part.parse::<usize>() {
                Ok(i) => p.index(i),
                Err(_) => p.key(part),
            };
        }
        p
    }

    const RULE: &str = "\
# a comment
id: KMS.ROT.1   # trailing comment
what: >
  folded text: with a colon
  more
detection:
  selection:
    eventName:
      - DisableKey
      - ScheduleKeyDeletion
    requestParameters.keyId|contains: 'x'
  condition: selection
tests:
- name: first
  expect: { findings: 1 }
- name: second
  events:
    - eventName: A
    - {eventName: B,
       eventSource: c}
  expect:
    findings: 0
";

    #[test]
    fn finds_keys_items_and_nested_fields() {
        let index = KeyIndex::new(RULE);
        assert_eq!(index.locate(0, &path("id")), (2, 1));
        assert_eq!(index.locate(0, &path("what")), (3, 1));
        assert_eq!(index.locate(0, &path("detection/selection")), (7, 3));
        assert_eq!(
            index.locate(0, &path("detection/selection/eventName/1")),
            (10, 7)
        );
        assert_eq!(
            index.locate(
                0,
                &path("detection/selection/requestParameters.keyId|contains")
            ),
            (11, 5)
        );
        assert_eq!(index.locate(0, &path("detection/condition")), (12, 3));
        assert_eq!(index.locate(0, &path("tests/0/name")), (14, 3));
        assert_eq!(index.locate(0, &path("tests/1")), (16, 1));
        assert_eq!(index.locate(0, &path("tests/1/events/1")), (19, 5));
        assert_eq!(index.locate(0, &path("tests/1/expect/findings")), (22, 5));
        // Inside a flow mapping: the key's line.
        assert_eq!(index.locate(0, &path("tests/0/expect/findings")), (15, 3));
        // The folded scalar's content is not mistaken for keys.
        assert_eq!(index.locate(0, &path("folded text")), (2, 1));
    }

    #[test]
    fn documents_are_indexed_separately() {
        let text = "title: a\nid: 1\n---\ntitle: b\ndetection:\n  sel:\n    x: 1\n";
        let index = KeyIndex::new(text);
        assert_eq!(index.locate(0, &path("id")), (2, 1));
        assert_eq!(index.locate(1, &path("detection/sel/x")), (7, 5));
        assert_eq!(index.document_start(1), 4);
    }

    #[test]
    fn paths_render_with_dots_and_indices() {
        assert_eq!(path("tests/1/expect").to_string(), "tests[1].expect");
        assert_eq!(FieldPath::root().to_string(), "");
    }
}
