//! Finds the log files behind the paths a user gives: files as named, directories walked
//! recursively in the S3 layout (`AWSLogs/[o-…/]<account>/CloudTrail/<region>/YYYY/MM/DD/`),
//! digest files set aside (not read as events, but listed for integrity validation:
//! [`crate::trail::digest`]), `-` for standard input.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::trail::problem::{Problem, ProblemKind};

/// The path that means standard input.
pub const STDIN: &str = "-";

/// One input to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    /// The path as the user would write it (relative to what they gave), or `-`.
    pub display: String,
    /// The file to open; `None` for standard input.
    pub path: Option<PathBuf>,
    /// The canonical absolute path: the file's identity in a lake manifest.
    pub identity: Option<String>,
    /// Size in bytes on disk (0 for standard input).
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub modified_ns: Option<i64>,
}

/// Why a file found in a walked directory is not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IgnoreReason {
    /// A CloudTrail digest file (integrity data, not events).
    Digest,
    /// A name that is not a log file (`.json`, `.json.gz`, `.jsonl`, `.ndjson`, `.gz`).
    NotLogFile,
    /// A hidden file such as `.DS_Store`.
    Hidden,
    /// `ground-truth.json`, the list of incidents `kms-audit simulate` writes beside the
    /// trail it generates.
    GroundTruth,
}

/// What [`discover`] found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Files to read, sorted by path within each input, inputs in the order given.
    pub files: Vec<SourceFile>,
    /// Files seen but not read as events, with the reason.
    pub ignored: Vec<(String, IgnoreReason)>,
    /// The digest files among the ignored ones (in walking order), read by ingestion for
    /// integrity validation, not as events.
    pub digests: Vec<SourceFile>,
    /// Entries that could not be listed or examined.
    pub problems: Vec<Problem>,
}

/// Lists the files behind `inputs`. A path that does not exist is an error; a file that
/// cannot be examined is a [`Problem`].
pub fn discover(inputs: &[PathBuf]) -> Result<Discovery> {
    let mut found = Discovery::default();
    for input in inputs {
        if input.as_os_str() == STDIN {
            found.files.push(SourceFile {
                display: STDIN.to_owned(),
                path: None,
                identity: None,
                size: 0,
                modified_ns: None,
            });
            continue;
        }
        let meta = std::fs::metadata(input).map_err(|source| Error::Input {
            path: input.clone(),
            source,
        })?;
        if meta.is_dir() {
            walk(input, &mut found);
        } else {
            // A file named explicitly is read whatever its name.
            found.files.push(source_file(input, &meta));
        }
    }
    // A file reached twice (named and inside a named directory, or by two links) is one file.
    let mut seen = std::collections::HashSet::new();
    found
        .files
        .retain(|f| f.identity.as_ref().is_none_or(|id| seen.insert(id.clone())));
    found
        .digests
        .retain(|f| f.identity.as_ref().is_none_or(|id| seen.insert(id.clone())));
    Ok(found)
}

fn walk(root: &Path, found: &mut Discovery) {
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                let shown = err
                    .path()
                    .map_or_else(|| root.display().to_string(), |p| p.display().to_string());
                found.problems.push(Problem::file(
                    &shown,
                    ProblemKind::Unreadable,
                    format!("cannot be listed: {}", io_reason(&err)),
                ));
                continue;
            }
        };
        if entry.file_type().is_dir() {
            continue;
        }
        let path = entry.path();
        let name = entry.file_name().to_string_lossy();
        if let Some(reason) = ignore_reason(path, &name) {
            found.ignored.push((path.display().to_string(), reason));
            let lower = name.to_ascii_lowercase();
            let json = lower.ends_with(".json") || lower.ends_with(".json.gz");
            if reason == IgnoreReason::Digest && json {
                match entry.metadata() {
                    Ok(meta) => found.digests.push(source_file(path, &meta)),
                    Err(err) => found.problems.push(Problem::file(
                        &path.display().to_string(),
                        ProblemKind::Unreadable,
                        format!("cannot be examined: {}", io_reason(&err)),
                    )),
                }
            }
            continue;
        }
        match entry.metadata() {
            Ok(meta) => files.push(source_file(path, &meta)),
            Err(err) => found.problems.push(Problem::file(
                &path.display().to_string(),
                ProblemKind::Unreadable,
                format!("cannot be examined: {}", io_reason(&err)),
            )),
        }
    }
    found.files.extend(files);
}

fn io_reason(err: &walkdir::Error) -> String {
    err.io_error()
        .map_or_else(|| err.to_string(), std::string::ToString::to_string)
}

/// Why a file found while walking is not a log file to read, if it is not.
fn ignore_reason(path: &Path, name: &str) -> Option<IgnoreReason> {
    if name.starts_with('.') {
        return Some(IgnoreReason::Hidden);
    }
    if crate::trail::digest::is_digest_name(name)
        || path
            .components()
            .any(|c| c.as_os_str() == crate::trail::digest::DIGEST_DIR)
    {
        return Some(IgnoreReason::Digest);
    }
    if name == crate::kms::simulate::GROUND_TRUTH_FILE {
        return Some(IgnoreReason::GroundTruth);
    }
    let lower = name.to_ascii_lowercase();
    let log_like = [
        ".json",
        ".json.gz",
        ".jsonl",
        ".jsonl.gz",
        ".ndjson",
        ".ndjson.gz",
        ".gz",
    ]
    .iter()
    .any(|ext| lower.ends_with(ext));
    (!log_like).then_some(IgnoreReason::NotLogFile)
}

fn source_file(path: &Path, meta: &std::fs::Metadata) -> SourceFile {
    let identity = std::fs::canonicalize(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string();
    let modified_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok());
    SourceFile {
        display: path.display().to_string(),
        path: Some(path.to_path_buf()),
        identity: Some(identity),
        size: meta.len(),
        modified_ns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(path: &Path) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, b"{}").expect("write");
    }

    #[test]
    fn walks_the_s3_layout_and_sets_digests_aside() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        let log = root.join("AWSLogs/o-abc123defg/111122223333/CloudTrail/us-east-1/2026/01/02/111122223333_CloudTrail_us-east-1_20260102T0000Z_abcdefghijklmnop.json.gz");
        let digest = root.join("AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/01/02/111122223333_CloudTrail-Digest_us-east-1_t_us-east-1_20260102T000000Z.json.gz");
        let lines = root.join("export/part-1.jsonl");
        let other = root.join("notes.txt");
        let hidden = root.join(".DS_Store");
        for p in [&log, &digest, &lines, &other, &hidden] {
            touch(p);
        }
        let found = discover(&[root.to_path_buf()]).expect("discover");
        assert_eq!(found.digests.len(), 1);
        assert_eq!(found.digests[0].path.as_deref(), Some(digest.as_path()));
        let files: Vec<_> = found
            .files
            .iter()
            .map(|f| f.path.clone().expect("path"))
            .collect();
        assert_eq!(files, vec![log.clone(), lines.clone()]);
        let mut ignored: Vec<_> = found.ignored.iter().map(|(_, r)| *r).collect();
        ignored.sort();
        assert_eq!(
            ignored,
            vec![
                IgnoreReason::Digest,
                IgnoreReason::NotLogFile,
                IgnoreReason::Hidden
            ]
        );
        assert!(found.problems.is_empty());
    }

    #[test]
    fn explicit_files_stdin_and_missing_paths() {
        let dir = tempfile::tempdir().expect("tempdir");
        let named = dir.path().join("trail.txt");
        touch(&named);
        let found = discover(&[named.clone(), PathBuf::from(STDIN)]).expect("discover");
        assert_eq!(found.files.len(), 2);
        assert_eq!(found.files[0].path.as_deref(), Some(named.as_path()));
        assert_eq!(found.files[1].display, STDIN);
        let err = discover(&[dir.path().join("nope")]).expect_err("missing path");
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
