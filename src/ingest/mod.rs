//! Ingestion: source files → normalized rows → Arrow batches → the Parquet lake.
//!
//! Files are decoded and parsed in parallel, one file per task; the results are taken in
//! file order on the calling thread, which drops `eventID`s already stored, groups rows by
//! partition and writes part files within a memory budget. The manifest is saved last: a run
//! that stops early leaves the lake as it was.
//!
//! CloudTrail digest files are read too, not as events: they are stored and validated
//! against the log files in the lake's integrity side tables ([`integrity`]).

pub mod batch;
pub mod integrity;
pub mod lake;
pub mod manifest;
pub mod normalize;
pub mod schema;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use arrow::array::{Array, BooleanArray, StringArray, UInt32Array};
use arrow::compute::{filter_record_batch, take_record_batch};
use arrow::record_batch::RecordBatch;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::ingest::batch::EventBatchBuilder;
use crate::ingest::lake::{EventIdSet, Lake, PendingPart};
use crate::ingest::manifest::{lake_error, ManifestFile, ManifestPart, ManifestRun};
use crate::ingest::normalize::{normalize, PartitionKey, RecordDefect};
use crate::trail::decode::read_source;
use crate::trail::discover::{Discovery, IgnoreReason, SourceFile};
use crate::trail::problem::{Location, Problem, ProblemKind};
use crate::trail::record::Record;
use crate::trail::shape::{read_records, RecordSink};

pub use crate::trail::problem::Problem as InputProblem;

/// How to ingest.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Stop at the first input problem with [`Error::Strict`].
    pub strict: bool,
    /// Parallel file readers.
    pub threads: usize,
    /// Bytes of rows buffered before the largest partition is written out.
    pub memory_budget: usize,
}

impl Default for IngestOptions {
    fn default() -> Self {
        Self {
            strict: false,
            threads: std::thread::available_parallelism().map_or(2, std::num::NonZero::get),
            memory_budget: 256 << 20,
        }
    }
}

/// Watches an ingest run: progress and problems as they happen.
pub trait Observer: Sync {
    /// Reading starts: `files` files of `bytes` stored bytes need reading.
    fn start(&self, _files: usize, _bytes: u64) {}
    /// A file of `bytes` stored bytes was read.
    fn advance(&self, _bytes: u64) {}
    /// A problem was found (in file order).
    fn problem(&self, _problem: &Problem) {}
}

/// An observer that does nothing.
pub struct Silent;
impl Observer for Silent {}

/// What one ingest run did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestReport {
    /// Files found under the inputs.
    pub files_found: u64,
    /// Files read and added to the lake by this run.
    pub files_ingested: u64,
    /// Files already in the lake, unchanged (not read again).
    pub files_unchanged: u64,
    /// Files that gave nothing usable (unreadable, empty, invalid, not CloudTrail).
    pub files_skipped: u64,
    /// Files ingested with some damage (bad records, truncation).
    pub files_damaged: u64,
    /// Files seen in directories but not read, by reason.
    pub files_ignored: BTreeMap<IgnoreReason, u64>,
    /// Records parsed by this run.
    pub records_read: u64,
    /// Records stored by this run.
    pub records_stored: u64,
    /// Records dropped because their `eventID` was already stored.
    pub records_duplicate: u64,
    /// Records that could not be read.
    pub records_skipped: u64,
    /// Of those, records in files that were not stored at all.
    pub records_skipped_unrecorded: u64,
    /// Bytes of the files read, as stored.
    pub bytes_read: u64,
    /// Bytes of the files read, uncompressed.
    pub bytes_uncompressed: u64,
    /// Part files written.
    pub parts_written: u64,
    /// Digest files read for integrity validation (not events) by this run.
    #[serde(skip_serializing_if = "is_zero")]
    pub digests_read: u64,
    /// Every problem, in file order.
    pub problems: Vec<Problem>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Ingests the files of `discovery` into `lake`, and its digest files into the lake's
/// integrity side tables.
pub fn ingest(
    discovery: &Discovery,
    lake: &mut Lake,
    options: &IngestOptions,
    observer: &dyn Observer,
) -> Result<IngestReport> {
    let mut report = IngestReport {
        files_found: discovery.files.len() as u64,
        ..IngestReport::default()
    };
    for (_, reason) in &discovery.ignored {
        *report.files_ignored.entry(*reason).or_default() += 1;
    }
    for problem in &discovery.problems {
        record_problem(&mut report, observer, options, problem.clone())?;
        report.files_skipped += 1;
    }

    let to_read: Vec<&SourceFile> = {
        let known = lake.manifest().by_identity();
        discovery
            .files
            .iter()
            .filter(|file| {
                let unchanged = file
                    .identity
                    .as_deref()
                    .and_then(|id| known.get(id))
                    .is_some_and(|entry| {
                        entry.size == file.size
                            && entry.modified_ns == file.modified_ns
                            && file.modified_ns.is_some()
                    });
                if unchanged {
                    report.files_unchanged += 1;
                }
                !unchanged
            })
            .collect()
    };
    // The uncompressed content's hash is what digests list: computed only when digests are
    // in play, since it costs a pass over every byte.
    let hash_content = !discovery.digests.is_empty() || !lake.manifest().digests.is_empty();
    let run = lake.manifest().next_run();
    if to_read.is_empty() {
        let update = integrity::update(lake, discovery, run, false, &mut |problem| {
            record_problem(&mut report, observer, options, problem)
        })?;
        report.digests_read = update.digests_read;
        if update.changed {
            lake.manifest_mut().runs.push(ManifestRun {
                id: run,
                finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                tool_version: env!("CARGO_PKG_VERSION").to_owned(),
                files: 0,
                rows: 0,
            });
            lake.commit()?;
        }
        return Ok(report);
    }

    let known_hashes: HashSet<String> = lake
        .manifest()
        .files
        .iter()
        .map(|f| f.sha256.clone())
        .collect();
    let mut writer = PartitionWriter {
        ids: lake.stored_event_ids()?,
        buffers: HashMap::new(),
        buffered: 0,
        budget: options.memory_budget,
        run,
        jobs: None,
    };
    observer.start(to_read.len(), to_read.iter().map(|f| f.size).sum());

    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let workers = options.threads.clamp(1, 64);
    let written: Result<Vec<ManifestPart>> = std::thread::scope(|scope| {
        // Parquet encoding runs beside parsing, on its own thread.
        let (jobs, job_queue) = mpsc::sync_channel::<(PendingPart, Vec<RecordBatch>)>(2);
        let part_writer = scope.spawn(move || -> Result<Vec<ManifestPart>> {
            let mut parts = Vec::new();
            for (pending, batches) in job_queue {
                let sequence = pending.sequence;
                parts.push((sequence, pending.write(&batches)?));
            }
            parts.sort_by_key(|(sequence, _)| *sequence);
            Ok(parts.into_iter().map(|(_, part)| part).collect())
        });
        writer.jobs = Some(jobs);

        let (sender, receiver) = mpsc::sync_channel::<(usize, FileOutcome)>(workers * 2);
        for _ in 0..workers {
            let sender = sender.clone();
            let (next, stop, to_read, known_hashes) = (&next, &stop, &to_read, &known_hashes);
            scope.spawn(move || loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= to_read.len() || stop.load(Ordering::Relaxed) {
                    break;
                }
                let outcome = read_file(to_read[index], known_hashes, hash_content);
                if sender.send((index, outcome)).is_err() {
                    break;
                }
            });
        }
        drop(sender);
        let result = consume(
            receiver,
            &to_read,
            lake,
            &mut writer,
            &mut report,
            options,
            observer,
        )
        .and_then(|()| writer.flush_all(lake));
        if result.is_err() {
            stop.store(true, Ordering::Relaxed);
        }
        writer.jobs = None;
        let parts = part_writer
            .join()
            .unwrap_or_else(|_| Err(lake_error(lake.root(), "the part writer failed".to_owned())));
        // The writer's own error explains a failed hand-over better than the hand-over does.
        let parts = parts?;
        result.map(|()| parts)
    });
    for part in written? {
        lake.add_part(part);
        report.parts_written += 1;
    }
    // Files were read: a digest read earlier may list one of them.
    let update = integrity::update(lake, discovery, run, true, &mut |problem| {
        record_problem(&mut report, observer, options, problem)
    })?;
    report.digests_read = update.digests_read;
    let manifest = lake.manifest_mut();
    manifest.runs.push(ManifestRun {
        id: run,
        finished_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        tool_version: env!("CARGO_PKG_VERSION").to_owned(),
        files: report.files_ingested,
        rows: report.records_stored,
    });
    lake.commit()?;
    Ok(report)
}

/// Takes worker results in file order and applies them.
fn consume(
    receiver: mpsc::Receiver<(usize, FileOutcome)>,
    to_read: &[&SourceFile],
    lake: &mut Lake,
    writer: &mut PartitionWriter,
    report: &mut IngestReport,
    options: &IngestOptions,
    observer: &dyn Observer,
) -> Result<()> {
    let mut pending = BTreeMap::new();
    let mut expected = 0usize;
    for (index, outcome) in receiver {
        pending.insert(index, outcome);
        while let Some(outcome) = pending.remove(&expected) {
            let source = to_read[expected];
            expected += 1;
            observer.advance(source.size);
            apply(source, outcome, lake, writer, report, options, observer)?;
        }
    }
    Ok(())
}

fn record_problem(
    report: &mut IngestReport,
    observer: &dyn Observer,
    options: &IngestOptions,
    problem: Problem,
) -> Result<()> {
    observer.problem(&problem);
    if options.strict {
        return Err(Error::Strict(problem));
    }
    report.problems.push(problem);
    Ok(())
}

/// Applies one file's outcome: problems, de-duplication, buffering, manifest entry.
fn apply(
    source: &SourceFile,
    outcome: FileOutcome,
    lake: &mut Lake,
    writer: &mut PartitionWriter,
    report: &mut IngestReport,
    options: &IngestOptions,
    observer: &dyn Observer,
) -> Result<()> {
    let read = match outcome {
        FileOutcome::Unreadable(problem) => {
            report.files_skipped += 1;
            return record_problem(report, observer, options, problem);
        }
        FileOutcome::Unchanged { sha256 } => {
            report.files_unchanged += 1;
            // Same content under a new name or mtime: remember the new facts.
            let manifest = lake.manifest_mut();
            if let Some(identity) = &source.identity {
                if let Some(entry) = manifest
                    .files
                    .iter_mut()
                    .find(|f| &f.identity == identity && f.sha256 == sha256)
                {
                    entry.modified_ns = source.modified_ns;
                    entry.size = source.size;
                }
            }
            return Ok(());
        }
        FileOutcome::Read(read) => read,
    };
    for problem in &read.problems {
        record_problem(report, observer, options, problem.clone())?;
    }
    let file_failed = read.problems.iter().any(|p| !p.is_record_level()) && read.records == 0;
    if file_failed {
        report.files_skipped += 1;
        report.records_skipped += read.skipped;
        report.records_skipped_unrecorded += read.skipped;
        return Ok(());
    }
    report.files_ingested += 1;
    if !read.problems.is_empty() {
        report.files_damaged += 1;
    }
    report.records_read += read.records;
    report.records_skipped += read.skipped;
    report.bytes_read += read.stored_size;
    report.bytes_uncompressed += read.uncompressed;

    let (stored, duplicates) = match read.batch {
        Some(batch) => writer.add(lake, batch, &read.row_partitions, &read.partitions)?,
        None => (0, 0),
    };
    report.records_stored += stored;
    report.records_duplicate += duplicates;
    lake.manifest_mut().files.push(ManifestFile {
        identity: source
            .identity
            .clone()
            .unwrap_or_else(|| source.display.clone()),
        display: source.display.clone(),
        size: if source.path.is_some() {
            source.size
        } else {
            read.stored_size
        },
        modified_ns: source.modified_ns,
        sha256: read.sha256,
        content_sha256: read.content_sha256,
        uncompressed_bytes: read.uncompressed,
        records: read.records,
        stored,
        duplicates,
        skipped: read.skipped,
        problems: read.problems,
        run: writer.run,
    });
    Ok(())
}

/// What reading one file produced.
enum FileOutcome {
    /// Nothing could be read.
    Unreadable(Problem),
    /// The content is already in the lake.
    Unchanged { sha256: String },
    /// Rows (possibly none) and problems.
    Read(FileRows),
}

struct FileRows {
    sha256: String,
    /// SHA-256 of the uncompressed content, when asked for.
    content_sha256: Option<String>,
    stored_size: u64,
    uncompressed: u64,
    batch: Option<RecordBatch>,
    /// Per row, an index into `partitions`.
    row_partitions: Vec<u16>,
    partitions: Vec<PartitionKey>,
    records: u64,
    skipped: u64,
    problems: Vec<Problem>,
}

/// Decodes, parses and normalizes one file (runs on a worker thread); with `hash_content`,
/// also hashes its uncompressed content.
fn read_file(
    source: &SourceFile,
    known_hashes: &HashSet<String>,
    hash_content: bool,
) -> FileOutcome {
    let decoded = match read_source(source) {
        Ok(decoded) => decoded,
        Err(problem) => return FileOutcome::Unreadable(problem),
    };
    if known_hashes.contains(&decoded.sha256) {
        return FileOutcome::Unchanged {
            sha256: decoded.sha256,
        };
    }
    let name = source.identity.as_deref().unwrap_or(&source.display);
    let mut sink = RowSink {
        display: &source.display,
        source_file: name,
        builder: EventBatchBuilder::with_capacity(decoded.bytes.len() / 1200 + 16),
        partitions: Vec::new(),
        row_partitions: Vec::new(),
        records: 0,
        skipped: 0,
        not_cloudtrail: 0,
        problems: Vec::new(),
    };
    read_records(&source.display, &decoded.bytes, &mut sink);
    if let Some(damage) = decoded.damage {
        sink.problems.insert(0, damage);
    }
    sink.collapse_not_cloudtrail();
    let batch = if sink.builder.is_empty() {
        None
    } else {
        match sink.builder.finish() {
            Ok(batch) => Some(batch),
            Err(err) => {
                return FileOutcome::Unreadable(Problem::file(
                    &source.display,
                    ProblemKind::BadRecord,
                    format!("records cannot be stored: {err}"),
                ))
            }
        }
    };
    let content_sha256 = hash_content.then(|| {
        use sha2::Digest as _;
        crate::trail::decode::hex(&sha2::Sha256::digest(&decoded.bytes))
    });
    FileOutcome::Read(FileRows {
        sha256: decoded.sha256,
        content_sha256,
        stored_size: decoded.stored_size,
        uncompressed: decoded.bytes.len() as u64,
        batch,
        row_partitions: sink.row_partitions,
        partitions: sink.partitions,
        records: sink.records,
        skipped: sink.skipped,
        problems: sink.problems,
    })
}

/// Normalizes records into a batch builder, keeping count of what could not be read.
struct RowSink<'f> {
    display: &'f str,
    source_file: &'f str,
    builder: EventBatchBuilder,
    partitions: Vec<PartitionKey>,
    row_partitions: Vec<u16>,
    records: u64,
    skipped: u64,
    not_cloudtrail: u64,
    problems: Vec<Problem>,
}

impl RecordSink for RowSink<'_> {
    fn record(&mut self, ordinal: usize, at: Location, record: Record<'_>) {
        let index = u32::try_from(ordinal).unwrap_or(u32::MAX);
        match normalize(record, self.source_file, index) {
            Ok(row) => {
                let key = PartitionKey::of(&row);
                let slot = match self.partitions.iter().position(|k| *k == key) {
                    Some(slot) => slot,
                    None => {
                        self.partitions.push(key);
                        self.partitions.len() - 1
                    }
                };
                self.row_partitions
                    .push(u16::try_from(slot).unwrap_or(u16::MAX));
                self.builder.push(&row);
                self.records += 1;
            }
            Err(defect) => {
                let kind = match defect {
                    RecordDefect::NotCloudTrail => {
                        self.not_cloudtrail += 1;
                        ProblemKind::NotCloudTrail
                    }
                    RecordDefect::Oversized { .. } => ProblemKind::FieldTooLarge,
                    RecordDefect::Missing(_) | RecordDefect::BadTime(_) => ProblemKind::BadRecord,
                };
                self.skipped += 1;
                self.problems.push(Problem {
                    file: self.display.to_owned(),
                    location: at,
                    kind,
                    detail: defect.to_string(),
                });
            }
        }
    }

    fn problem(&mut self, problem: Problem) {
        if problem.is_record_level() {
            self.skipped += 1;
        }
        self.problems.push(problem);
    }

    fn reset(&mut self) {
        self.builder = EventBatchBuilder::with_capacity(self.builder.len());
        self.partitions.clear();
        self.row_partitions.clear();
        self.records = 0;
        self.skipped = 0;
        self.not_cloudtrail = 0;
        self.problems.clear();
    }
}

impl RowSink<'_> {
    /// A file whose every value is valid JSON but none a record is one problem, not many.
    fn collapse_not_cloudtrail(&mut self) {
        if self.records == 0 && self.not_cloudtrail > 0 && self.not_cloudtrail == self.skipped {
            let values = self.not_cloudtrail;
            self.problems
                .retain(|p| p.kind != ProblemKind::NotCloudTrail);
            self.problems.push(Problem::file(
                self.display,
                ProblemKind::NotCloudTrail,
                format!(
                    "not CloudTrail: {values} JSON value{} and none is a CloudTrail record (no eventTime, eventName, eventSource or userIdentity)",
                    if values == 1 { "" } else { "s" }
                ),
            ));
            self.skipped = 0;
        }
    }
}

/// Buffers rows by partition and writes part files when the budget is reached.
struct PartitionWriter {
    ids: EventIdSet,
    buffers: HashMap<PartitionKey, (Vec<RecordBatch>, usize)>,
    buffered: usize,
    budget: usize,
    run: u32,
    /// Where full partitions go to be written.
    jobs: Option<mpsc::SyncSender<(PendingPart, Vec<RecordBatch>)>>,
}

impl PartitionWriter {
    /// Adds a file's rows; returns (stored, duplicates).
    fn add(
        &mut self,
        lake: &mut Lake,
        batch: RecordBatch,
        row_partitions: &[u16],
        partitions: &[PartitionKey],
    ) -> Result<(u64, u64)> {
        let root = lake.root().to_path_buf();
        let lake_error = |message: String| lake_error(&root, message);
        let ids = batch
            .column_by_name(schema::EVENT_ID)
            .and_then(|c| c.as_any().downcast_ref::<StringArray>())
            .ok_or_else(|| lake_error(format!("batch has no {} column", schema::EVENT_ID)))?;
        let keep: Vec<bool> = ids
            .iter()
            .map(|id| id.is_none_or(|id| self.ids.insert(id)))
            .collect();
        let duplicates = keep.iter().filter(|k| !**k).count() as u64;
        let (batch, row_partitions): (RecordBatch, Vec<u16>) = if duplicates == 0 {
            (batch, row_partitions.to_vec())
        } else {
            let mask = BooleanArray::from(keep.clone());
            let filtered =
                filter_record_batch(&batch, &mask).map_err(|err| lake_error(err.to_string()))?;
            let rows = row_partitions
                .iter()
                .zip(&keep)
                .filter(|(_, k)| **k)
                .map(|(p, _)| *p)
                .collect();
            (filtered, rows)
        };
        let stored = batch.num_rows() as u64;
        if partitions.len() == 1 {
            self.push(&partitions[0], batch);
        } else {
            for (slot, key) in partitions.iter().enumerate() {
                let indices: UInt32Array = row_partitions
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| usize::from(**p) == slot)
                    .map(|(i, _)| u32::try_from(i).unwrap_or(u32::MAX))
                    .collect::<Vec<u32>>()
                    .into();
                if indices.is_empty() {
                    continue;
                }
                let part = take_record_batch(&batch, &indices)
                    .map_err(|err| lake_error(err.to_string()))?;
                self.push(key, part);
            }
        }
        while self.buffered > self.budget {
            self.flush_largest(lake)?;
        }
        Ok((stored, duplicates))
    }

    fn push(&mut self, key: &PartitionKey, batch: RecordBatch) {
        let size = batch.get_array_memory_size();
        self.buffered += size;
        let entry = self.buffers.entry(key.clone()).or_default();
        entry.0.push(batch);
        entry.1 += size;
    }

    fn flush_largest(&mut self, lake: &mut Lake) -> Result<()> {
        let Some(key) = self
            .buffers
            .iter()
            .max_by_key(|(_, (_, size))| *size)
            .map(|(k, _)| k.clone())
        else {
            self.buffered = 0;
            return Ok(());
        };
        if let Some((batches, size)) = self.buffers.remove(&key) {
            self.buffered -= size;
            self.send(lake, &key, batches)?;
        }
        Ok(())
    }

    fn flush_all(&mut self, lake: &mut Lake) -> Result<()> {
        let mut keys: Vec<PartitionKey> = self.buffers.keys().cloned().collect();
        keys.sort();
        for key in keys {
            if let Some((batches, _)) = self.buffers.remove(&key) {
                self.send(lake, &key, batches)?;
            }
        }
        self.buffered = 0;
        Ok(())
    }

    /// Hands a partition's rows to the part writer.
    fn send(
        &mut self,
        lake: &mut Lake,
        key: &PartitionKey,
        batches: Vec<RecordBatch>,
    ) -> Result<()> {
        let pending = lake.reserve_part(key, self.run);
        let stopped = || lake_error(lake.root(), "the part writer stopped".to_owned());
        match &self.jobs {
            Some(jobs) => jobs.send((pending, batches)).map_err(|_| stopped()),
            None => Err(stopped()),
        }
    }
}
