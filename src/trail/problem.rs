//! Input problems: a file or record that could not be read, reported with where it is and
//! counted, while the rest of the input is processed.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What kind of problem an input had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// The file could not be opened or read.
    Unreadable,
    /// The file has no content.
    Empty,
    /// The gzip stream is corrupt or truncated.
    Gzip,
    /// The text is not valid JSON (or is cut short).
    InvalidJson,
    /// The bytes are not valid UTF-8.
    InvalidUtf8,
    /// Valid JSON that is not CloudTrail.
    NotCloudTrail,
    /// A record with missing or wrongly typed fields.
    BadRecord,
    /// A record with a field larger than any CloudTrail field can be.
    FieldTooLarge,
    /// A file too large to read in memory.
    TooLarge,
    /// A CloudTrail digest file that cannot be read as one.
    Digest,
}

/// Where in a file a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "at", content = "index")]
pub enum Location {
    /// The file as a whole.
    File,
    /// The record at this 0-based index (`jq '.Records[N]'`, or the array element).
    Record(usize),
    /// The 1-based line of a JSON Lines file.
    Line(usize),
}

/// One problem with the input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The file, as displayed to the user (`-` for standard input).
    pub file: String,
    /// Where in the file.
    pub location: Location,
    /// What kind of problem.
    pub kind: ProblemKind,
    /// What is wrong, in words.
    pub detail: String,
}

impl Problem {
    /// A problem with the file as a whole.
    pub fn file(file: &str, kind: ProblemKind, detail: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            location: Location::File,
            kind,
            detail: detail.into(),
        }
    }

    /// Whether the problem cost a record (rather than the whole file).
    pub fn is_record_level(&self) -> bool {
        !matches!(self.location, Location::File)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Location::File => write!(f, "{}: {}", self.file, self.detail),
            Location::Record(i) => write!(f, "{}: record {i}: {}", self.file, self.detail),
            Location::Line(n) => write!(f, "{}: line {n}: {}", self.file, self.detail),
        }
    }
}
