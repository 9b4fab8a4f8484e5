//! The lake's manifest: which source files are in the lake (path, size, mtime, content hash,
//! counts, problems), which Parquet parts hold their events, and the schema version; and,
//! when the inputs hold CloudTrail digest files, which digests were read and what their
//! validation found (the digests and the problems themselves are side tables:
//! [`crate::ingest::integrity`]).

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ingest::schema::SCHEMA_VERSION;
use crate::trail::problem::Problem;

/// The manifest's file name inside the lake directory.
pub const MANIFEST_FILE: &str = "_manifest.json";

/// Identifies a kms-audit lake manifest.
pub const LAKE_FORMAT: &str = "kms-audit-lake";

/// One ingested source file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Canonical absolute path (`-` for standard input).
    pub identity: String,
    /// The path as the user gave it when it was ingested.
    pub display: String,
    /// Size on disk in bytes when ingested.
    pub size: u64,
    /// Modification time (ns since the epoch) when ingested.
    pub modified_ns: Option<i64>,
    /// SHA-256 of the stored bytes, lowercase hex.
    pub sha256: String,
    /// SHA-256 of the uncompressed content, lowercase hex: what CloudTrail digests list.
    /// Computed only when digests are in play (the inputs or the lake hold some).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_sha256: Option<String>,
    /// Uncompressed size in bytes.
    pub uncompressed_bytes: u64,
    /// Records parsed from the file.
    pub records: u64,
    /// Records stored (not seen before by `eventID`).
    pub stored: u64,
    /// Records dropped as duplicates of a stored `eventID`.
    pub duplicates: u64,
    /// Records that could not be read.
    pub skipped: u64,
    /// Problems met while reading the file.
    #[serde(default)]
    pub problems: Vec<Problem>,
    /// The ingest run that read it.
    pub run: u32,
}

/// One Parquet part file of the lake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestPart {
    /// Path relative to the lake directory.
    pub path: String,
    /// Rows in the part.
    pub rows: u64,
    /// The run that wrote it.
    pub run: u32,
}

/// One ingest run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRun {
    /// Sequence number, from 1.
    pub id: u32,
    /// When it finished, RFC 3339.
    pub finished_at: String,
    /// The kms-audit version that ran it.
    pub tool_version: String,
    /// Files ingested.
    pub files: u64,
    /// Rows stored.
    pub rows: u64,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always [`LAKE_FORMAT`].
    pub format: String,
    /// The event schema version of every part.
    pub schema_version: u32,
    /// Runs, oldest first.
    pub runs: Vec<ManifestRun>,
    /// Ingested files, in ingestion order.
    pub files: Vec<ManifestFile>,
    /// Part files, in writing order.
    pub parts: Vec<ManifestPart>,
    /// Digest files read (not events), in reading order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub digests: Vec<ManifestDigest>,
    /// What the last validation of the digests found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<IntegritySummary>,
}

/// One digest file read for integrity validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestDigest {
    /// Canonical absolute path.
    pub identity: String,
    /// The path as the user gave it.
    pub display: String,
    /// Size on disk in bytes when read.
    pub size: u64,
    /// Modification time (ns since the epoch) when read.
    pub modified_ns: Option<i64>,
    /// The digest's own key (`digestS3Object`).
    pub object: String,
    /// SHA-256 of the uncompressed bytes, lowercase hex.
    pub content_sha256: String,
    /// The ingest run that read it.
    pub run: u32,
}

/// Counts of the last digest validation ([`crate::trail::digest::validate`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntegritySummary {
    /// Digests validated.
    pub digests: u64,
    /// Log files the digests list.
    pub log_files_listed: u64,
    /// Of those, present with the listed hash.
    pub log_files_verified: u64,
    /// Problems found (rows of the `log_integrity` side table).
    pub problems: u64,
}

impl Default for Manifest {
    fn default() -> Self {
        Self {
            format: LAKE_FORMAT.to_owned(),
            schema_version: SCHEMA_VERSION,
            runs: Vec::new(),
            files: Vec::new(),
            parts: Vec::new(),
            digests: Vec::new(),
            integrity: None,
        }
    }
}

impl Manifest {
    /// Loads the manifest of the lake at `dir`, or an empty one if the lake is new.
    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(MANIFEST_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(err) => return Err(lake_error(&path, format!("cannot be read: {err}"))),
        };
        let manifest: Self = serde_json::from_str(&text)
            .map_err(|err| lake_error(&path, format!("is not a kms-audit lake manifest: {err}")))?;
        if manifest.format != LAKE_FORMAT {
            return Err(lake_error(
                &path,
                format!("has format {:?}, expected {LAKE_FORMAT:?}", manifest.format),
            ));
        }
        if manifest.schema_version != SCHEMA_VERSION {
            return Err(Error::LakeVersion {
                path: dir.to_path_buf(),
                found: manifest.schema_version,
                expected: SCHEMA_VERSION,
            });
        }
        Ok(manifest)
    }

    /// Writes the manifest atomically (temporary file, then rename).
    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(MANIFEST_FILE);
        let tmp = dir.join(format!("{MANIFEST_FILE}.tmp"));
        let text = serde_json::to_vec_pretty(self)
            .map_err(|err| lake_error(&path, format!("cannot be encoded: {err}")))?;
        std::fs::write(&tmp, text)
            .map_err(|err| lake_error(&tmp, format!("cannot be written: {err}")))?;
        std::fs::rename(&tmp, &path)
            .map_err(|err| lake_error(&path, format!("cannot be replaced: {err}")))
    }

    /// Index of files by identity.
    pub fn by_identity(&self) -> HashMap<&str, &ManifestFile> {
        self.files
            .iter()
            .map(|f| (f.identity.as_str(), f))
            .collect()
    }

    /// Index of files by content hash.
    pub fn by_hash(&self) -> HashMap<&str, &ManifestFile> {
        self.files.iter().map(|f| (f.sha256.as_str(), f)).collect()
    }

    /// The next run id.
    pub fn next_run(&self) -> u32 {
        self.runs.last().map_or(1, |r| r.id + 1)
    }
}

/// A lake error about `path`.
pub fn lake_error(path: &Path, message: String) -> Error {
    Error::Lake {
        path: path.to_path_buf(),
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_versions() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(
            Manifest::load(dir.path()).expect("new"),
            Manifest::default()
        );
        let mut manifest = Manifest::default();
        manifest.parts.push(ManifestPart {
            path: "events/x.parquet".into(),
            rows: 3,
            run: 1,
        });
        manifest.save(dir.path()).expect("save");
        assert_eq!(Manifest::load(dir.path()).expect("load"), manifest);

        manifest.schema_version = SCHEMA_VERSION + 1;
        manifest.save(dir.path()).expect("save");
        let err = Manifest::load(dir.path()).expect_err("version");
        assert!(matches!(err, Error::LakeVersion { .. }), "{err}");

        std::fs::write(dir.path().join(MANIFEST_FILE), "{not json").expect("write");
        let err = Manifest::load(dir.path()).expect_err("garbage");
        assert!(err.to_string().contains(MANIFEST_FILE), "{err}");
    }
}
