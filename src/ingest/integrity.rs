//! The lake's integrity side tables, next to `events/`: the CloudTrail digest files read
//! (integrity data, not events) and what validating them against the ingested log files found
//! ([`crate::trail::digest::validate`]).
//!
//! - `integrity/digests.parquet`: one row per digest and log file it lists (a digest that
//!   lists none has one row with null `log_*` columns). A digest is known by its own key
//!   (`digestS3Object`): reading it again (a changed file) replaces its rows, so re-ingesting
//!   never duplicates them.
//! - `integrity/log_integrity.parquet`: one row per problem, the `log_integrity` view's
//!   columns ([`RESULT_COLUMNS`]), rewritten whole after every run that read digests or log
//!   files, since a log file ingested later can settle a digest read earlier.
//!
//! Both files are written to a temporary name and renamed, before the manifest that lists
//! the digests ([`crate::ingest::manifest::ManifestDigest`]) is committed: a run that stops
//! early leaves rows the next run replaces.
//!
//! Validation needs the SHA-256 of each log file's uncompressed content, which ingestion
//! computes only while digests are in play; a log file ingested before any digest is hashed
//! when a digest first lists it, by reading it again from where it was ingested.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, StringArray, TimestampMicrosecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sha2::{Digest as _, Sha256};

use crate::error::Result;
use crate::ingest::lake::Lake;
use crate::ingest::manifest::{lake_error, IntegritySummary, ManifestDigest};
use crate::trail::decode::{hex, read_source};
use crate::trail::digest::{
    match_key, parse_digest, validate, CoverageSegment, Digest, DigestRecord, IntegrityFinding,
    IntegrityProblem, ListedLogFile, LogRecord,
};
use crate::trail::discover::{Discovery, SourceFile};
use crate::trail::problem::{Problem, ProblemKind};

/// The side tables' directory under the lake root.
pub const INTEGRITY_DIR: &str = "integrity";
/// The digests table, relative to the lake root.
pub const DIGESTS_FILE: &str = "integrity/digests.parquet";
/// The validation results table, relative to the lake root.
pub const RESULTS_FILE: &str = "integrity/log_integrity.parquet";

// Columns of `integrity/digests.parquet`.
/// The digest's own key (`digestS3Object`).
pub const DIGEST_OBJECT: &str = "digest_object";
/// The local digest file read.
pub const DIGEST_SOURCE: &str = "digest_source";
/// SHA-256 of the digest's uncompressed bytes.
pub const DIGEST_SHA256: &str = "digest_sha256";
/// `awsAccountId`.
pub const DIGEST_ACCOUNT: &str = "account";
/// `digestStartTime`.
pub const DIGEST_START: &str = "digest_start";
/// `digestEndTime`.
pub const DIGEST_END: &str = "digest_end";
/// `previousDigestS3Object`.
pub const PREVIOUS_OBJECT: &str = "previous_object";
/// `previousDigestHashValue`.
pub const PREVIOUS_HASH: &str = "previous_hash";
/// `previousDigestHashAlgorithm`.
pub const PREVIOUS_HASH_ALGORITHM: &str = "previous_hash_algorithm";
/// `logFiles[].s3Object`.
pub const LOG_OBJECT: &str = "log_object";
/// `logFiles[].hashValue`.
pub const LOG_HASH: &str = "log_hash";
/// `logFiles[].hashAlgorithm`.
pub const LOG_HASH_ALGORITHM: &str = "log_hash_algorithm";
/// `logFiles[].oldestEventTime`.
pub const LOG_OLDEST_EVENT: &str = "log_oldest_event";
/// `logFiles[].newestEventTime`.
pub const LOG_NEWEST_EVENT: &str = "log_newest_event";

// Columns of `integrity/log_integrity.parquet` (the `log_integrity` view).
/// The problem kind ([`IntegrityProblem::as_str`]).
pub const PROBLEM: &str = "problem";
/// The account.
pub const ACCOUNT: &str = "account";
/// The Region the files were delivered from.
pub const REGION: &str = "region";
/// The trail.
pub const TRAIL: &str = "trail";
/// The S3 key of the file at fault.
pub const OBJECT: &str = "object";
/// The log file concerned.
pub const LOG_FILE: &str = "log_file";
/// The digest concerned.
pub const DIGEST_FILE: &str = "digest_file";
/// The hash the digest gives.
pub const EXPECTED_HASH: &str = "expected_hash";
/// The hash of the file at hand.
pub const ACTUAL_HASH: &str = "actual_hash";
/// What was found.
pub const DETAIL: &str = "detail";
/// The local file that shows it.
pub const SOURCE_FILE: &str = "source_file";

/// A column of a side table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SideColumn {
    /// UTF-8 text.
    Text,
    /// Timestamp, µs, UTC.
    Time,
}

/// The columns of `integrity/digests.parquet`, in order.
pub const DIGEST_COLUMNS: &[(&str, SideColumn)] = &[
    (DIGEST_OBJECT, SideColumn::Text),
    (DIGEST_SOURCE, SideColumn::Text),
    (DIGEST_SHA256, SideColumn::Text),
    (DIGEST_ACCOUNT, SideColumn::Text),
    (DIGEST_START, SideColumn::Time),
    (DIGEST_END, SideColumn::Time),
    (PREVIOUS_OBJECT, SideColumn::Text),
    (PREVIOUS_HASH, SideColumn::Text),
    (PREVIOUS_HASH_ALGORITHM, SideColumn::Text),
    (LOG_OBJECT, SideColumn::Text),
    (LOG_HASH, SideColumn::Text),
    (LOG_HASH_ALGORITHM, SideColumn::Text),
    (LOG_OLDEST_EVENT, SideColumn::Time),
    (LOG_NEWEST_EVENT, SideColumn::Time),
];

/// The columns of `integrity/log_integrity.parquet`, in order.
pub const RESULT_COLUMNS: &[(&str, SideColumn)] = &[
    (PROBLEM, SideColumn::Text),
    (ACCOUNT, SideColumn::Text),
    (REGION, SideColumn::Text),
    (TRAIL, SideColumn::Text),
    (OBJECT, SideColumn::Text),
    (LOG_FILE, SideColumn::Text),
    (DIGEST_FILE, SideColumn::Text),
    (EXPECTED_HASH, SideColumn::Text),
    (ACTUAL_HASH, SideColumn::Text),
    (DIGEST_START, SideColumn::Time),
    (DIGEST_END, SideColumn::Time),
    (DETAIL, SideColumn::Text),
    (SOURCE_FILE, SideColumn::Text),
];

/// The integrity side tables of a lake, read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Integrity {
    /// Every digest stored.
    pub digests: Vec<DigestRecord>,
    /// The problems the last validation found.
    pub problems: Vec<IntegrityFinding>,
}

impl Integrity {
    /// Reads the side tables of the lake at `root`; `None` when the lake holds no digest.
    pub fn load(root: &Path) -> Result<Option<Self>> {
        let digests_path = root.join(DIGESTS_FILE);
        if !digests_path.exists() {
            return Ok(None);
        }
        let digests = read_digests(&digests_path)?;
        let results_path = root.join(RESULTS_FILE);
        let problems = if results_path.exists() {
            read_results(&results_path)?
        } else {
            Vec::new()
        };
        Ok(Some(Self { digests, problems }))
    }

    /// The periods the digests cover without a hole, per account and Region.
    pub fn coverage(&self) -> Vec<CoverageSegment> {
        crate::trail::digest::coverage(&self.digests)
    }
}

/// What one [`update`] did.
#[derive(Debug, Default)]
pub(crate) struct Update {
    /// Digest files read by this run.
    pub digests_read: u64,
    /// Whether the manifest changed and must be committed.
    pub changed: bool,
}

/// Reads the new or changed digest files of `discovery`, stores them, validates every stored
/// digest against the lake's log files and writes both side tables. `logs_changed` says
/// whether this run ingested log files; `problem` receives unreadable digests (and may stop
/// the run, in strict mode).
pub(crate) fn update(
    lake: &mut Lake,
    discovery: &Discovery,
    run: u32,
    logs_changed: bool,
    problem: &mut dyn FnMut(Problem) -> Result<()>,
) -> Result<Update> {
    let mut outcome = Update::default();
    let known: HashMap<String, (u64, Option<i64>)> = lake
        .manifest()
        .digests
        .iter()
        .map(|d| (d.identity.clone(), (d.size, d.modified_ns)))
        .collect();
    let mut fresh: Vec<(DigestRecord, ManifestDigest)> = Vec::new();
    for source in &discovery.digests {
        let identity = source
            .identity
            .clone()
            .unwrap_or_else(|| source.display.clone());
        let unchanged = known.get(&identity).is_some_and(|(size, modified)| {
            *size == source.size && *modified == source.modified_ns && modified.is_some()
        });
        if unchanged {
            continue;
        }
        match read_digest(source, &identity) {
            Ok(record) => {
                outcome.digests_read += 1;
                let entry = ManifestDigest {
                    identity,
                    display: source.display.clone(),
                    size: source.size,
                    modified_ns: source.modified_ns,
                    object: record.digest.object.clone(),
                    content_sha256: record.content_sha256.clone(),
                    run,
                };
                fresh.push((record, entry));
            }
            Err(err) => problem(err)?,
        }
    }
    let has_digests = !fresh.is_empty() || !lake.manifest().digests.is_empty();
    let results_missing = !lake.root().join(RESULTS_FILE).exists();
    if !has_digests || (fresh.is_empty() && !logs_changed && !results_missing) {
        return Ok(outcome);
    }

    let digests_path = lake.root().join(DIGESTS_FILE);
    let mut digests = if digests_path.exists() {
        read_digests(&digests_path)?
    } else {
        Vec::new()
    };
    // A digest read again replaces what was stored under its key or from its file.
    let replaced_objects: HashSet<String> =
        fresh.iter().map(|(r, _)| r.digest.object.clone()).collect();
    let replaced_sources: HashSet<String> = fresh.iter().map(|(_, m)| m.identity.clone()).collect();
    digests.retain(|d| {
        !replaced_objects.contains(&d.digest.object) && !replaced_sources.contains(&d.source)
    });
    let manifest = lake.manifest_mut();
    manifest
        .digests
        .retain(|d| !replaced_sources.contains(&d.identity));
    for (record, entry) in fresh {
        // Two copies of one digest (a bucket synced twice) are one digest.
        if !digests
            .iter()
            .any(|d| d.digest.object == record.digest.object)
        {
            digests.push(record);
        }
        manifest.digests.push(entry);
    }

    let logs = log_records(lake, &digests);
    let validation = validate(&digests, &logs);
    std::fs::create_dir_all(lake.root().join(INTEGRITY_DIR)).map_err(|err| {
        lake_error(
            &lake.root().join(INTEGRITY_DIR),
            format!("cannot be created: {err}"),
        )
    })?;
    write_table(&digests_path, DIGEST_COLUMNS, digest_columns(&digests))?;
    write_table(
        &lake.root().join(RESULTS_FILE),
        RESULT_COLUMNS,
        result_columns(&validation.problems),
    )?;
    lake.manifest_mut().integrity = Some(IntegritySummary {
        digests: validation.digests,
        log_files_listed: validation.log_files_listed,
        log_files_verified: validation.log_files_verified,
        problems: validation.problems.len() as u64,
    });
    outcome.changed = true;
    Ok(outcome)
}

/// Reads and parses one digest file.
fn read_digest(source: &SourceFile, identity: &str) -> std::result::Result<DigestRecord, Problem> {
    let decoded = read_source(source)?;
    if let Some(damage) = decoded.damage {
        return Err(damage);
    }
    let digest = parse_digest(&source.display, &decoded.bytes).map_err(|err| {
        let detail = err.to_string();
        let detail = detail
            .strip_prefix(&format!("{}: ", source.display))
            .unwrap_or(&detail)
            .to_owned();
        Problem::file(&source.display, ProblemKind::Digest, detail)
    })?;
    Ok(DigestRecord {
        digest,
        source: identity.to_owned(),
        content_sha256: hex(&Sha256::digest(&decoded.bytes)),
    })
}

/// The lake's log files as validation sees them. A file a digest lists whose content hash
/// was not computed when it was ingested is read again (if it is still where it was, with
/// the same size and time) and the hash kept in the manifest.
fn log_records(lake: &mut Lake, digests: &[DigestRecord]) -> Vec<LogRecord> {
    let listed: HashSet<&str> = digests
        .iter()
        .flat_map(|d| d.digest.log_files.iter().map(|l| match_key(&l.object)))
        .collect();
    let mut out = Vec::with_capacity(lake.manifest().files.len());
    for entry in &mut lake.manifest_mut().files {
        if entry.content_sha256.is_none() && listed.contains(match_key(&entry.identity)) {
            entry.content_sha256 = rehash(&entry.identity, entry.size, entry.modified_ns);
        }
        out.push(LogRecord {
            source: entry.identity.clone(),
            content_sha256: entry.content_sha256.clone(),
        });
    }
    out
}

/// SHA-256 of the uncompressed content of the file at `identity`, if it still has `size`
/// bytes and modification time `modified_ns`.
fn rehash(identity: &str, size: u64, modified_ns: Option<i64>) -> Option<String> {
    let path = PathBuf::from(identity);
    let meta = std::fs::metadata(&path).ok()?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_nanos()).ok());
    if meta.len() != size || modified != modified_ns {
        return None;
    }
    let source = SourceFile {
        display: identity.to_owned(),
        path: Some(path),
        identity: Some(identity.to_owned()),
        size,
        modified_ns,
    };
    let decoded = read_source(&source).ok()?;
    Some(hex(&Sha256::digest(&decoded.bytes)))
}

/// The values of one side-table column.
enum Values {
    Text(Vec<Option<String>>),
    Time(Vec<Option<i64>>),
}

fn digest_columns(digests: &[DigestRecord]) -> Vec<Values> {
    // One row per listed log file, or one for a digest listing none.
    let rows: Vec<(&DigestRecord, Option<&ListedLogFile>)> = digests
        .iter()
        .flat_map(|d| {
            let listed: Vec<Option<&ListedLogFile>> = if d.digest.log_files.is_empty() {
                vec![None]
            } else {
                d.digest.log_files.iter().map(Some).collect()
            };
            listed.into_iter().map(move |l| (d, l))
        })
        .collect();
    let text = |f: &dyn Fn(&DigestRecord, Option<&ListedLogFile>) -> Option<String>| {
        Values::Text(rows.iter().map(|(d, l)| f(d, *l)).collect())
    };
    let time = |f: &dyn Fn(&DigestRecord, Option<&ListedLogFile>) -> Option<i64>| {
        Values::Time(rows.iter().map(|(d, l)| f(d, *l)).collect())
    };
    vec![
        text(&|d, _| Some(d.digest.object.clone())),
        text(&|d, _| Some(d.source.clone())),
        text(&|d, _| Some(d.content_sha256.clone())),
        text(&|d, _| Some(d.digest.account.clone())),
        time(&|d, _| Some(d.digest.start)),
        time(&|d, _| Some(d.digest.end)),
        text(&|d, _| d.digest.previous_object.clone()),
        text(&|d, _| d.digest.previous_hash.clone()),
        text(&|d, _| d.digest.previous_hash_algorithm.clone()),
        text(&|_, l| l.map(|l| l.object.clone())),
        text(&|_, l| l.map(|l| l.hash.clone())),
        text(&|_, l| l.map(|l| l.algorithm.clone())),
        time(&|_, l| l.and_then(|l| l.oldest_event)),
        time(&|_, l| l.and_then(|l| l.newest_event)),
    ]
}

fn result_columns(problems: &[IntegrityFinding]) -> Vec<Values> {
    let text = |f: &dyn Fn(&IntegrityFinding) -> Option<String>| {
        Values::Text(problems.iter().map(f).collect())
    };
    let time = |f: &dyn Fn(&IntegrityFinding) -> Option<i64>| {
        Values::Time(problems.iter().map(f).collect())
    };
    vec![
        text(&|p| Some(p.problem.as_str().to_owned())),
        text(&|p| p.account.clone()),
        text(&|p| p.region.clone()),
        text(&|p| p.trail.clone()),
        text(&|p| Some(p.object.clone())),
        text(&|p| p.log_file.clone()),
        text(&|p| p.digest_file.clone()),
        text(&|p| p.expected_hash.clone()),
        text(&|p| p.actual_hash.clone()),
        time(&|p| p.digest_start),
        time(&|p| p.digest_end),
        text(&|p| Some(p.detail.clone())),
        text(&|p| Some(p.source_file.clone())),
    ]
}

fn arrow_type(column: SideColumn) -> DataType {
    match column {
        SideColumn::Text => DataType::Utf8,
        SideColumn::Time => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
    }
}

/// Writes a side table (temporary file, then rename).
fn write_table(path: &Path, columns: &[(&str, SideColumn)], values: Vec<Values>) -> Result<()> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, ty)| Field::new(*name, arrow_type(*ty), true))
            .collect::<Vec<_>>(),
    ));
    let arrays: Vec<ArrayRef> = values
        .into_iter()
        .map(|v| match v {
            Values::Text(v) => Arc::new(StringArray::from(v)) as ArrayRef,
            Values::Time(v) => {
                Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC")) as ArrayRef
            }
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|err| lake_error(path, format!("cannot be built: {err}")))?;
    let tmp = path.with_extension("tmp");
    let file =
        File::create(&tmp).map_err(|err| lake_error(&tmp, format!("cannot be created: {err}")))?;
    let level = ZstdLevel::try_new(1)
        .map_err(|err| lake_error(&tmp, format!("cannot start Parquet: {err}")))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        .build();
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties))
        .map_err(|err| lake_error(&tmp, format!("cannot start Parquet: {err}")))?;
    writer
        .write(&batch)
        .map_err(|err| lake_error(&tmp, format!("cannot write Parquet: {err}")))?;
    writer
        .close()
        .map_err(|err| lake_error(&tmp, format!("cannot finish Parquet: {err}")))?;
    std::fs::rename(&tmp, path)
        .map_err(|err| lake_error(path, format!("cannot be replaced: {err}")))
}

/// A side table read back: its columns by name.
struct Table {
    path: PathBuf,
    rows: usize,
    columns: HashMap<String, Vec<ArrayRef>>,
}

impl Table {
    fn read(path: &Path) -> Result<Self> {
        let file =
            File::open(path).map_err(|err| lake_error(path, format!("cannot be opened: {err}")))?;
        let unreadable = |err: parquet::errors::ParquetError| {
            lake_error(path, format!("is not a readable Parquet file: {err}"))
        };
        let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(unreadable)?;
        // An empty table has columns but no batch.
        let columns = builder
            .schema()
            .fields()
            .iter()
            .map(|f| (f.name().clone(), Vec::new()))
            .collect();
        let reader = builder.build().map_err(unreadable)?;
        let mut table = Self {
            path: path.to_path_buf(),
            rows: 0,
            columns,
        };
        for batch in reader {
            let batch = batch.map_err(|err| lake_error(path, format!("cannot be read: {err}")))?;
            table.rows += batch.num_rows();
            for (field, array) in batch.schema().fields().iter().zip(batch.columns()) {
                table
                    .columns
                    .entry(field.name().clone())
                    .or_default()
                    .push(array.clone());
            }
        }
        Ok(table)
    }

    fn missing(&self, name: &str) -> crate::error::Error {
        lake_error(&self.path, format!("has no `{name}` text column"))
    }

    fn text(&self, name: &str) -> Result<Vec<Option<String>>> {
        let chunks = self.columns.get(name).ok_or_else(|| self.missing(name))?;
        let mut out = Vec::with_capacity(self.rows);
        for chunk in chunks {
            let array = chunk
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| self.missing(name))?;
            out.extend(array.iter().map(|v| v.map(str::to_owned)));
        }
        Ok(out)
    }

    fn time(&self, name: &str) -> Result<Vec<Option<i64>>> {
        let chunks = self
            .columns
            .get(name)
            .ok_or_else(|| lake_error(&self.path, format!("has no `{name}` timestamp column")))?;
        let mut out = Vec::with_capacity(self.rows);
        for chunk in chunks {
            let array = chunk
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .ok_or_else(|| {
                    lake_error(&self.path, format!("`{name}` is not a timestamp column"))
                })?;
            out.extend(array.iter());
        }
        Ok(out)
    }
}

fn read_digests(path: &Path) -> Result<Vec<DigestRecord>> {
    let table = Table::read(path)?;
    let object = table.text(DIGEST_OBJECT)?;
    let source = table.text(DIGEST_SOURCE)?;
    let sha = table.text(DIGEST_SHA256)?;
    let account = table.text(DIGEST_ACCOUNT)?;
    let start = table.time(DIGEST_START)?;
    let end = table.time(DIGEST_END)?;
    let previous_object = table.text(PREVIOUS_OBJECT)?;
    let previous_hash = table.text(PREVIOUS_HASH)?;
    let previous_algorithm = table.text(PREVIOUS_HASH_ALGORITHM)?;
    let log_object = table.text(LOG_OBJECT)?;
    let log_hash = table.text(LOG_HASH)?;
    let log_algorithm = table.text(LOG_HASH_ALGORITHM)?;
    let oldest = table.time(LOG_OLDEST_EVENT)?;
    let newest = table.time(LOG_NEWEST_EVENT)?;
    let mut out: Vec<DigestRecord> = Vec::new();
    let mut at: HashMap<(String, String), usize> = HashMap::new();
    for row in 0..table.rows {
        let (Some(obj), Some(src)) = (object[row].clone(), source[row].clone()) else {
            return Err(lake_error(
                path,
                format!("row {row}: `{DIGEST_OBJECT}` and `{DIGEST_SOURCE}` must have values"),
            ));
        };
        let index = *at.entry((obj.clone(), src.clone())).or_insert_with(|| {
            out.push(DigestRecord {
                digest: Digest {
                    account: account[row].clone().unwrap_or_default(),
                    start: start[row].unwrap_or_default(),
                    end: end[row].unwrap_or_default(),
                    object: obj,
                    previous_object: previous_object[row].clone(),
                    previous_hash: previous_hash[row].clone(),
                    previous_hash_algorithm: previous_algorithm[row].clone(),
                    log_files: Vec::new(),
                },
                source: src,
                content_sha256: sha[row].clone().unwrap_or_default(),
            });
            out.len() - 1
        });
        if let Some(log) = log_object[row].clone() {
            out[index].digest.log_files.push(ListedLogFile {
                object: log,
                hash: log_hash[row].clone().unwrap_or_default(),
                algorithm: log_algorithm[row].clone().unwrap_or_default(),
                oldest_event: oldest[row],
                newest_event: newest[row],
            });
        }
    }
    Ok(out)
}

fn read_results(path: &Path) -> Result<Vec<IntegrityFinding>> {
    let table = Table::read(path)?;
    let problem = table.text(PROBLEM)?;
    let account = table.text(ACCOUNT)?;
    let region = table.text(REGION)?;
    let trail = table.text(TRAIL)?;
    let object = table.text(OBJECT)?;
    let log_file = table.text(LOG_FILE)?;
    let digest_file = table.text(DIGEST_FILE)?;
    let expected = table.text(EXPECTED_HASH)?;
    let actual = table.text(ACTUAL_HASH)?;
    let start = table.time(DIGEST_START)?;
    let end = table.time(DIGEST_END)?;
    let detail = table.text(DETAIL)?;
    let source = table.text(SOURCE_FILE)?;
    (0..table.rows)
        .map(|row| {
            let kind = problem[row]
                .as_deref()
                .and_then(IntegrityProblem::from_name)
                .ok_or_else(|| {
                    lake_error(
                        path,
                        format!(
                            "row {row}: `{PROBLEM}` is {:?}, not a known problem kind",
                            problem[row]
                        ),
                    )
                })?;
            Ok(IntegrityFinding {
                problem: kind,
                account: account[row].clone(),
                region: region[row].clone(),
                trail: trail[row].clone(),
                object: object[row].clone().unwrap_or_default(),
                log_file: log_file[row].clone(),
                digest_file: digest_file[row].clone(),
                expected_hash: expected[row].clone(),
                actual_hash: actual[row].clone(),
                digest_start: start[row],
                digest_end: end[row],
                detail: detail[row].clone().unwrap_or_default(),
                source_file: source[row].clone().unwrap_or_default(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trail::digest::HASH_ALGORITHM;

    fn record(object: &str, logs: usize) -> DigestRecord {
        DigestRecord {
            digest: Digest {
                account: "111122223333".into(),
                start: 1_000_000,
                end: 3_601_000_000,
                object: object.into(),
                previous_object: None,
                previous_hash: None,
                previous_hash_algorithm: None,
                log_files: (0..logs)
                    .map(|i| ListedLogFile {
                        object: format!("AWSLogs/x/{i}.json.gz"),
                        hash: format!("{i:064}"),
                        algorithm: HASH_ALGORITHM.into(),
                        oldest_event: Some(5),
                        newest_event: None,
                    })
                    .collect(),
            },
            source: format!("/in/{object}"),
            content_sha256: "ab".repeat(32),
        }
    }

    #[test]
    fn side_tables_round_trip() {
        let dir = tempfile::tempdir().expect("tempdir");
        let digests = vec![record("d1.json.gz", 2), record("d2.json.gz", 0)];
        let path = dir.path().join("digests.parquet");
        write_table(&path, DIGEST_COLUMNS, digest_columns(&digests)).expect("write");
        assert_eq!(read_digests(&path).expect("read"), digests);

        let problems = vec![IntegrityFinding {
            problem: IntegrityProblem::HashMismatch,
            account: Some("111122223333".into()),
            region: Some("us-east-1".into()),
            trail: None,
            object: "AWSLogs/x/0.json.gz".into(),
            log_file: Some("AWSLogs/x/0.json.gz".into()),
            digest_file: Some("d1.json.gz".into()),
            expected_hash: Some("00".into()),
            actual_hash: Some("11".into()),
            digest_start: Some(1),
            digest_end: None,
            detail: "modified".into(),
            source_file: "/in/x".into(),
        }];
        let path = dir.path().join("results.parquet");
        write_table(&path, RESULT_COLUMNS, result_columns(&problems)).expect("write");
        assert_eq!(read_results(&path).expect("read"), problems);
        write_table(&path, RESULT_COLUMNS, result_columns(&[])).expect("write empty");
        assert!(read_results(&path).expect("read").is_empty());
    }
}
