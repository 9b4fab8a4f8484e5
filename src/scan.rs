//! The `scan` job: make sure the inputs are in a lake (a per-input cache by default, a lake
//! the user names, or a throwaway one), then summarize the lake.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::ingest::lake::Lake;
use crate::ingest::manifest::lake_error;
use crate::ingest::{ingest, IngestOptions, IngestReport, Observer};
use crate::summary::{summarize, EventSummary};
use crate::trail::decode::hex;
use crate::trail::discover::{discover, IgnoreReason, STDIN};
use crate::trail::problem::Problem;

/// Environment variable that overrides the cache directory.
pub const CACHE_DIR_ENV: &str = "KMS_AUDIT_CACHE_DIR";

/// Which lake a scan uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LakeChoice {
    /// A lake per set of inputs under this cache directory, reused by the next scan of the
    /// same inputs.
    Cache(PathBuf),
    /// The lake the user named: the inputs are added to it and all of it is summarized.
    Dir(PathBuf),
    /// A temporary lake, removed afterwards.
    None,
}

/// The default cache directory: `$KMS_AUDIT_CACHE_DIR`, else the platform cache directory
/// (`~/.cache/kms-audit` on Linux), else `.kms-audit-cache` in the working directory.
pub fn default_cache_dir() -> PathBuf {
    std::env::var_os(CACHE_DIR_ENV)
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|d| d.join("kms-audit")))
        .unwrap_or_else(|| PathBuf::from(".kms-audit-cache"))
}

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Ingestion settings (strict mode, threads, memory).
    pub ingest: IngestOptions,
    /// How many values each breakdown lists.
    pub top: usize,
}

/// Counts over the input files behind a scan.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct InputTotals {
    /// Files found under the inputs by this scan.
    pub files_found: u64,
    /// Files whose events are in the lake.
    pub files_in_lake: u64,
    /// Files read by this scan (the rest came from the lake unchanged).
    pub files_read_now: u64,
    /// Files that gave nothing usable.
    pub files_skipped: u64,
    /// Files in the lake that had some damage.
    pub files_damaged: u64,
    /// Files seen in directories but not read, by reason.
    pub files_ignored: BTreeMap<IgnoreReason, u64>,
    /// Records parsed.
    pub records_read: u64,
    /// Records stored (distinct `eventID`s).
    pub records_stored: u64,
    /// Records dropped as repeats of a stored `eventID`.
    pub records_duplicate: u64,
    /// Records that could not be read.
    pub records_skipped: u64,
    /// Uncompressed bytes of the files in the lake.
    pub bytes_uncompressed: u64,
}

/// Everything `scan` reports.
#[derive(Debug, Clone, Serialize)]
pub struct ScanSummary {
    /// kms-audit version.
    pub tool_version: String,
    /// The lake analysed (`null` for a temporary one).
    pub lake: Option<String>,
    /// Input counts.
    pub input: InputTotals,
    /// The events.
    pub events: EventSummary,
    /// Every input problem: this run's, then those recorded when files were first ingested.
    pub problems: Vec<Problem>,
}

/// Runs a scan of `inputs`.
pub fn scan(
    inputs: &[PathBuf],
    choice: &LakeChoice,
    options: &ScanOptions,
    observer: &dyn Observer,
) -> Result<ScanSummary> {
    let discovery = discover(inputs)?;
    let uses_stdin = inputs.iter().any(|p| p.as_os_str() == STDIN);
    let temporary;
    let (root, shown) = match choice {
        LakeChoice::Dir(dir) => (dir.clone(), Some(dir.display().to_string())),
        LakeChoice::Cache(cache) if !uses_stdin => {
            let dir = cache.join("lakes").join(cache_key(inputs));
            (dir.clone(), Some(dir.display().to_string()))
        }
        _ => {
            temporary = tempfile::Builder::new()
                .prefix("kms-audit-lake-")
                .tempdir()
                .map_err(|err| {
                    lake_error(
                        &std::env::temp_dir(),
                        format!("temporary lake cannot be created: {err}"),
                    )
                })?;
            (temporary.path().to_path_buf(), None)
        }
    };
    let mut lake = Lake::open(&root)?;
    if matches!(choice, LakeChoice::Cache(_)) && cache_is_stale(&lake, &discovery) {
        drop(lake);
        std::fs::remove_dir_all(&root)
            .map_err(|err| lake_error(&root, format!("stale cache cannot be removed: {err}")))?;
        lake = Lake::open(&root)?;
    }
    let report = ingest(&discovery, &mut lake, &options.ingest, observer)?;
    let run = lake.manifest().runs.last().map_or(0, |r| r.id);
    let earlier_problems: Vec<Problem> = lake
        .manifest()
        .files
        .iter()
        .filter(|f| report.files_ingested == 0 || f.run != run)
        .flat_map(|f| f.problems.iter().cloned())
        .collect();
    if options.ingest.strict {
        if let Some(problem) = earlier_problems.first() {
            return Err(Error::Strict(problem.clone()));
        }
    }
    let events = summarize(lake.root(), &lake.part_paths(), options.top)?;
    let input = totals(&lake, &report);
    let mut problems = report.problems;
    problems.extend(earlier_problems);
    Ok(ScanSummary {
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        lake: shown,
        input,
        events,
        problems,
    })
}

/// The cache key of a set of inputs: their canonical paths, sorted, hashed.
fn cache_key(inputs: &[PathBuf]) -> String {
    let mut names: Vec<String> = inputs
        .iter()
        .map(|p| {
            std::fs::canonicalize(p)
                .unwrap_or_else(|_| p.clone())
                .display()
                .to_string()
        })
        .collect();
    names.sort();
    names.dedup();
    let digest = Sha256::digest(names.join("\n").as_bytes());
    hex(&digest[..12])
}

/// A cached lake holds a file that is no longer among the inputs: start it again.
fn cache_is_stale(lake: &Lake, discovery: &crate::trail::discover::Discovery) -> bool {
    let present: HashSet<&str> = discovery
        .files
        .iter()
        .filter_map(|f| f.identity.as_deref())
        .collect();
    lake.manifest()
        .files
        .iter()
        .any(|f| !present.contains(f.identity.as_str()))
}

fn totals(lake: &Lake, report: &IngestReport) -> InputTotals {
    let files = &lake.manifest().files;
    InputTotals {
        files_found: report.files_found,
        files_in_lake: files.len() as u64,
        files_read_now: report.files_ingested + report.files_skipped,
        files_skipped: report.files_skipped,
        files_damaged: files.iter().filter(|f| !f.problems.is_empty()).count() as u64,
        files_ignored: report.files_ignored.clone(),
        records_read: files.iter().map(|f| f.records).sum(),
        records_stored: files.iter().map(|f| f.stored).sum(),
        records_duplicate: files.iter().map(|f| f.duplicates).sum(),
        records_skipped: files.iter().map(|f| f.skipped).sum::<u64>()
            + report.records_skipped_unrecorded,
        bytes_uncompressed: files.iter().map(|f| f.uncompressed_bytes).sum(),
    }
}
