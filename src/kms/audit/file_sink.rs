//! Writes audit records as a CloudTrail trail in the S3 layout:
//! `ROOT/AWSLogs/<account>/CloudTrail/<region>/YYYY/MM/DD/<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json.gz`,
//! each file a gzip of `{"Records":[…]}`.
//!
//! One file is open per (recipient account, Region). It covers a window of event time (5
//! minutes by default) and is named after the window's end, its delivery time; it is
//! completed when an event at or after that end arrives, when the next record would take it
//! over the size limit, or on [`AuditSink::flush`]. Time is the events' (simulated) time,
//! never the wall clock. Completed files are compressed and written by a writer thread
//! ([`super::file_writer`]), whole to a hidden temporary name and renamed, so a reader never
//! sees half a file; a file that cannot be written makes every later record fail until a
//! flush has written it. The 16-character unique strings come from a seeded
//! ChaCha RNG: the same seed and events give the same bytes.
//!
//! With [`FileSinkConfig::digests`], the sink also writes CloudTrail digest files
//! ([`super::digest_writer`]): on [`AuditSink::flush`], the digests of every period that ended
//! before the latest event time seen, and on [`FileSink::finish`] (the trail stops), those up
//! to the given time. A record older than the end of its account and Region's last digest
//! goes into a file delivered after it, as CloudTrail delivers late events in a later file.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

use chrono::{DateTime, Duration, DurationRound, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha20Rng;

use super::digest_writer::{sha256_hex, Chains, Delivered, DigestChainState, DigestConfig};
use super::emit::record_bytes;
use super::file_writer::{FileWriter, Job};
use super::{AuditEvent, AuditSink, SinkError};

/// Default window of event time one file covers (CloudTrail delivers about every 5 minutes).
pub const DEFAULT_WINDOW_MINUTES: i64 = 5;
/// Default limit of a file's uncompressed size.
pub const DEFAULT_MAX_FILE_BYTES: usize = 5 * 1024 * 1024;

const HEAD: &[u8] = b"{\"Records\":[";
const TAIL: &[u8] = b"]}";

/// How a [`FileSink`] writes.
#[derive(Debug, Clone)]
pub struct FileSinkConfig {
    /// The directory that receives `AWSLogs/…` (the bucket root, or bucket/prefix).
    pub root: PathBuf,
    /// The event-time window one file covers; whole minutes, at least one.
    pub window: Duration,
    /// Largest uncompressed file size; a file holds at least one record.
    pub max_file_bytes: usize,
    /// Seed of the unique strings in file names.
    pub seed: u64,
    /// Whether to `fsync` each completed file and its directory.
    pub sync: bool,
    /// Whether and how to write CloudTrail digest files (none by default).
    pub digests: Option<DigestConfig>,
}

impl FileSinkConfig {
    /// Defaults (5-minute windows, 5 MiB files, no fsync) for a trail under `root`.
    pub fn new(root: impl Into<PathBuf>, seed: u64) -> Self {
        Self {
            root: root.into(),
            window: Duration::minutes(DEFAULT_WINDOW_MINUTES),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            seed,
            sync: false,
            digests: None,
        }
    }
}

/// An [`AuditSink`] writing a CloudTrail trail directory (see the module docs).
pub struct FileSink {
    config: FileSinkConfig,
    state: Mutex<State>,
    writer: FileWriter,
}

struct State {
    rng: ChaCha20Rng,
    /// Open files by (recipient account, Region).
    open: BTreeMap<(String, String), OpenFile>,
    /// Digest chains, when digests are written.
    chains: Option<Chains>,
    /// The latest event time recorded.
    watermark: Option<DateTime<Utc>>,
}

struct OpenFile {
    /// The window end: the delivery time in the file's name.
    delivery: DateTime<Utc>,
    /// `{"Records":[` and the records so far, comma-separated.
    body: Vec<u8>,
    records: usize,
    /// The oldest and newest event times in the file.
    oldest: DateTime<Utc>,
    newest: DateTime<Utc>,
}

impl FileSink {
    /// A sink writing under `config.root` (created if missing).
    pub fn open(config: FileSinkConfig) -> Result<Self, SinkError> {
        if config.window < Duration::minutes(1) || config.window.num_seconds() % 60 != 0 {
            return Err(SinkError::Config(format!(
                "the file window must be whole minutes, at least one (got {} s)",
                config.window.num_seconds()
            )));
        }
        let chains = config.digests.clone().map(Chains::new).transpose()?;
        std::fs::create_dir_all(&config.root).map_err(|source| SinkError::Io {
            path: config.root.clone(),
            source,
        })?;
        Ok(Self {
            state: Mutex::new(State {
                rng: ChaCha20Rng::seed_from_u64(config.seed),
                open: BTreeMap::new(),
                chains,
                watermark: None,
            }),
            writer: FileWriter::start(config.sync),
            config,
        })
    }

    /// The completed log files so far, in the order they were written.
    pub fn written_files(&self) -> Result<Vec<PathBuf>, SinkError> {
        let mut files = self.writer.written()?;
        files.retain(|f| !is_digest(f));
        Ok(files)
    }

    /// The digest files written so far, in order.
    pub fn written_digests(&self) -> Result<Vec<PathBuf>, SinkError> {
        let mut files = self.writer.written()?;
        files.retain(|f| is_digest(f));
        Ok(files)
    }

    /// Stops the trail at `until`: completes the open files, then (with digests) writes the
    /// digest of every period up to the one holding `until` or the last file delivered, as
    /// CloudTrail delivers a final digest when logging stops.
    pub fn finish(&self, until: DateTime<Utc>) -> Result<(), SinkError> {
        let mut state = self.lock()?;
        let slots: Vec<(String, String)> = state.open.keys().cloned().collect();
        for slot in slots {
            self.complete(&mut state, &slot)?;
        }
        if let Some(chains) = state.chains.as_mut() {
            let mut bound = chains.ceil(until)?;
            if let Some(last) = chains.last_pending() {
                bound = bound.max(chains.ceil(last)?);
            }
            for job in chains.due(bound, &self.config.root)? {
                self.writer.submit(job)?;
            }
        }
        drop(state);
        self.writer.retry()
    }

    /// The configuration.
    pub fn config(&self) -> &FileSinkConfig {
        &self.config
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, State>, SinkError> {
        self.state.lock().map_err(|_| SinkError::Poisoned)
    }

    /// The end of the window holding `time`.
    fn window_end(&self, time: DateTime<Utc>) -> Result<DateTime<Utc>, SinkError> {
        let start = time
            .duration_trunc(self.config.window)
            .map_err(|err| SinkError::Config(format!("event time {time}: {err}")))?;
        Ok(start + self.config.window)
    }

    /// Hands the open file of `slot` to the writer and forgets it.
    fn complete(&self, state: &mut State, slot: &(String, String)) -> Result<(), SinkError> {
        let Some(mut file) = state.open.remove(slot) else {
            return Ok(());
        };
        let (account, region) = slot;
        let (path, key) = self.unused_path(&mut state.rng, account, region, file.delivery);
        file.body.extend_from_slice(TAIL);
        if let Some(chains) = state.chains.as_mut() {
            chains.delivered(
                slot,
                Delivered {
                    key,
                    sha256: sha256_hex(&file.body),
                    oldest: file.oldest,
                    newest: file.newest,
                    delivery: file.delivery,
                },
            );
        }
        self.writer.submit(Job {
            path,
            body: file.body,
        })
    }

    /// A path (and its key under the root) no file has yet.
    fn unused_path(
        &self,
        rng: &mut ChaCha20Rng,
        account: &str,
        region: &str,
        delivery: DateTime<Utc>,
    ) -> (PathBuf, String) {
        loop {
            let key = log_file_key(account, region, delivery, &unique_string(rng));
            let path = self.config.root.join(&key);
            if !path.exists() {
                return (path, key);
            }
        }
    }
}

impl FileSink {
    /// Records one CloudTrail record already encoded as JSON (as [`record_bytes`] writes it),
    /// delivered to `account` for `region` at event time `time`: what [`AuditSink::record`]
    /// does after encoding. The server's store keeps records as JSON and delivers them with
    /// this.
    pub fn record_json(
        &self,
        account: &str,
        region: &str,
        time: DateTime<Utc>,
        bytes: &[u8],
    ) -> Result<(), SinkError> {
        if let Some(err) = self.writer.failure()? {
            return Err(err);
        }
        self.add(account, region, time, bytes)
    }

    /// The state of the digest chains (`None` without digests), to save once a flush has
    /// written every file, so that a trail restarted over the same directory continues its
    /// chains ([`FileSink::resume_digests`]) instead of starting new ones.
    pub fn digest_state(&self) -> Result<Option<DigestChainState>, SinkError> {
        Ok(self.lock()?.chains.as_ref().map(Chains::save))
    }

    /// Continues the digest chains saved by [`FileSink::digest_state`]: the next digest of
    /// each account and Region names the saved last one, and files delivered but not yet
    /// listed are listed in it. Call before the first record.
    pub fn resume_digests(&self, saved: DigestChainState) -> Result<(), SinkError> {
        if let Some(chains) = self.lock()?.chains.as_mut() {
            chains.resume(saved);
        }
        Ok(())
    }

    fn add(
        &self,
        account: &str,
        region: &str,
        time: DateTime<Utc>,
        bytes: &[u8],
    ) -> Result<(), SinkError> {
        let mut delivery = self.window_end(time)?;
        let slot = (account.to_owned(), region.to_owned());
        let mut state = self.lock()?;
        let state = &mut *state;
        state.watermark = state.watermark.max(Some(time));
        // A file must be delivered after the last digest of its account and Region.
        if let Some(until) = state.chains.as_ref().and_then(|c| c.digested_until(&slot)) {
            if delivery <= until {
                delivery = self.window_end(until)?;
            }
        }
        // Roll on event time: a record at or after the open file's delivery time belongs to a
        // later file. An earlier record joins the open file (a file may hold any record
        // written before its delivery time).
        let roll = state.open.get(&slot).is_some_and(|file| {
            time >= file.delivery
                || (file.records > 0
                    && file.body.len() + 1 + bytes.len() + TAIL.len() > self.config.max_file_bytes)
        });
        if roll {
            self.complete(state, &slot)?;
        }
        let file = state.open.entry(slot).or_insert_with(|| OpenFile {
            delivery,
            body: HEAD.to_vec(),
            records: 0,
            oldest: time,
            newest: time,
        });
        file.oldest = file.oldest.min(time);
        file.newest = file.newest.max(time);
        if file.records > 0 {
            file.body.push(b',');
        }
        file.body.extend_from_slice(bytes);
        file.records += 1;
        Ok(())
    }
}

impl AuditSink for FileSink {
    fn record(&self, event: &AuditEvent) -> Result<(), SinkError> {
        // A trail file that could not be written stops the trail until a flush writes it.
        if let Some(err) = self.writer.failure()? {
            return Err(err);
        }
        let bytes = record_bytes(event)?;
        self.add(
            &event.recipient_account_id,
            &event.region,
            event.event_time,
            &bytes,
        )
    }

    fn flush(&self) -> Result<(), SinkError> {
        let mut state = self.lock()?;
        let slots: Vec<(String, String)> = state.open.keys().cloned().collect();
        for slot in slots {
            self.complete(&mut state, &slot)?;
        }
        let watermark = state.watermark;
        if let (Some(chains), Some(watermark)) = (state.chains.as_mut(), watermark) {
            // Periods before the one of the latest event are over (events come in time order).
            let bound = chains.floor(watermark)?;
            for job in chains.due(bound, &self.config.root)? {
                self.writer.submit(job)?;
            }
        }
        drop(state);
        self.writer.retry()
    }
}

/// Whether `path` is a digest file.
fn is_digest(path: &std::path::Path) -> bool {
    path.file_name()
        .is_some_and(|n| crate::trail::digest::is_digest_name(&n.to_string_lossy()))
}

impl Drop for FileSink {
    fn drop(&mut self) {
        // Last chance not to lose acknowledged records; errors cannot be reported here, so an
        // owner that cares calls `flush` first.
        let _ = self.flush();
    }
}

/// The object key of a log file, relative to the bucket root.
pub fn log_file_key(account: &str, region: &str, delivery: DateTime<Utc>, unique: &str) -> String {
    format!(
        "AWSLogs/{account}/CloudTrail/{region}/{}/{account}_CloudTrail_{region}_{}_{unique}.json.gz",
        delivery.format("%Y/%m/%d"),
        delivery.format("%Y%m%dT%H%MZ"),
    )
}

/// 16 characters of `[A-Za-z0-9]`.
fn unique_string(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..16)
        .map(|_| {
            // Rejection sampling keeps the characters uniform.
            loop {
                let mut byte = [0u8; 1];
                rng.fill_bytes(&mut byte);
                let n = usize::from(byte[0] >> 2);
                if n < ALPHABET.len() {
                    return char::from(ALPHABET[n]);
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kms::audit::CallerIdentity;
    use std::path::Path;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn event(time: &str, id: &str) -> AuditEvent {
        let mut event = AuditEvent::api_call(
            "Encrypt",
            at(time),
            "eu-west-1",
            CallerIdentity::iam_user("111122223333", "app"),
            format!("req-{id}"),
            id.to_owned(),
        );
        event.source_ip_address = "192.0.2.1".into();
        event
    }

    fn records_in(path: &Path) -> Vec<String> {
        let stored = std::fs::read(path).expect("read");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&stored[..]), &mut text)
            .expect("gunzip");
        let value: serde_json::Value = serde_json::from_str(&text).expect("json");
        value["Records"]
            .as_array()
            .expect("Records")
            .iter()
            .map(|r| r["eventID"].as_str().expect("id").to_owned())
            .collect()
    }

    #[test]
    fn rolls_on_event_time_windows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = FileSink::open(FileSinkConfig::new(dir.path(), 1)).expect("sink");
        for (time, id) in [
            ("2026-03-01T10:00:00Z", "a"),
            ("2026-03-01T10:04:59Z", "b"),
            // Earlier than the open file's delivery time: joins it.
            ("2026-03-01T09:58:00Z", "c"),
            ("2026-03-01T10:05:00Z", "d"),
            // Across midnight: the directory follows the delivery time.
            ("2026-03-01T23:58:00Z", "e"),
        ] {
            sink.record(&event(time, id)).expect("record");
        }
        // Nothing is written until a window closes or the sink is flushed.
        assert_eq!(sink.written_files().expect("files").len(), 2);
        sink.flush().expect("flush");
        let files = sink.written_files().expect("files");
        let names: Vec<String> = files
            .iter()
            .map(|f| {
                f.strip_prefix(dir.path())
                    .expect("root")
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(files.len(), 3, "{names:?}");
        assert!(names[0].contains("/2026/03/01/111122223333_CloudTrail_eu-west-1_20260301T1005Z_"));
        assert!(names[1].contains("/2026/03/01/111122223333_CloudTrail_eu-west-1_20260301T1010Z_"));
        assert!(names[2].contains("/2026/03/02/111122223333_CloudTrail_eu-west-1_20260302T0000Z_"));
        assert_eq!(records_in(&files[0]), ["a", "b", "c"]);
        assert_eq!(records_in(&files[1]), ["d"]);
        assert_eq!(records_in(&files[2]), ["e"]);
        // A flush with nothing open writes nothing.
        sink.flush().expect("flush");
        assert_eq!(sink.written_files().expect("files").len(), 3);
    }

    #[test]
    fn rolls_at_the_size_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let one = record_bytes(&event("2026-03-01T10:00:00Z", "x"))
            .expect("json")
            .len();
        let mut config = FileSinkConfig::new(dir.path(), 1);
        // Room for two records, not three.
        config.max_file_bytes = HEAD.len() + TAIL.len() + 2 * one + 1;
        let sink = FileSink::open(config).expect("sink");
        for id in ["1", "2", "3", "4", "5"] {
            sink.record(&event("2026-03-01T10:00:00Z", id))
                .expect("record");
        }
        sink.flush().expect("flush");
        let files = sink.written_files().expect("files");
        let ids: Vec<Vec<String>> = files.iter().map(|f| records_in(f)).collect();
        assert_eq!(ids, [vec!["1", "2"], vec!["3", "4"], vec!["5"]]);
        for file in &files {
            let stored = std::fs::read(file).expect("read");
            let mut text = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&stored[..]), &mut text)
                .expect("gunzip");
            assert!(text.len() <= HEAD.len() + TAIL.len() + 2 * one + 1);
        }
    }

    #[test]
    fn an_unwritable_trail_stops_the_trail_until_a_flush_writes_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sink = FileSink::open(FileSinkConfig::new(dir.path(), 1)).expect("sink");
        // A file where the AWSLogs directory must go.
        let blocker = dir.path().join("AWSLogs");
        std::fs::write(&blocker, b"not a directory").expect("block");
        sink.record(&event("2026-03-01T10:00:00Z", "a"))
            .expect("record");
        // Window a is complete: the writer tries it and fails.
        sink.record(&event("2026-03-01T10:06:00Z", "b"))
            .expect("accepted before the failure is known");
        let err = sink.flush().expect_err("window a cannot be written");
        assert!(matches!(err, SinkError::Io { .. }), "{err}");
        // The trail is broken: nothing more is accepted.
        let refused = sink
            .record(&event("2026-03-01T10:07:00Z", "c"))
            .expect_err("refused while a file is unwritten");
        assert!(matches!(refused, SinkError::Io { .. }), "{refused}");
        std::fs::remove_file(&blocker).expect("unblock");
        sink.flush().expect("flush");
        let files = sink.written_files().expect("files");
        let ids: Vec<Vec<String>> = files.iter().map(|f| records_in(f)).collect();
        assert_eq!(ids, [vec!["a"], vec!["b"]]);
        sink.record(&event("2026-03-01T10:08:00Z", "d"))
            .expect("accepted again");
        // No temporary file is left behind.
        let leftovers = walk(dir.path())
            .into_iter()
            .filter(|p| p.to_string_lossy().ends_with(".tmp"))
            .count();
        assert_eq!(leftovers, 0);
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).expect("dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }

    #[test]
    fn digests_list_every_file_and_chain() {
        use crate::trail::digest::{parse_digest, validate, DigestRecord, LogRecord};
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = FileSinkConfig::new(dir.path(), 1);
        config.digests = Some(DigestConfig::hourly("main", "eu-west-1", "bucket"));
        let sink = FileSink::open(config).expect("sink");
        for (time, id) in [
            ("2026-03-01T10:00:00Z", "a"),
            ("2026-03-01T10:07:00Z", "b"),
            ("2026-03-01T12:30:00Z", "c"),
        ] {
            sink.record(&event(time, id)).expect("record");
        }
        // The latest event is at 12:30: the 10:00–11:00 and 11:00–12:00 digests are due.
        sink.flush().expect("flush");
        assert_eq!(sink.written_digests().expect("digests").len(), 2);
        // A late record (before the last digest's end) goes into a file delivered after it.
        sink.record(&event("2026-03-01T10:30:00Z", "late"))
            .expect("record");
        sink.finish(at("2026-03-01T13:00:00Z")).expect("finish");
        let files = sink.written_files().expect("files");
        let digests = sink.written_digests().expect("digests");
        assert_eq!((files.len(), digests.len()), (4, 3));
        assert!(files[3]
            .to_string_lossy()
            .contains("_CloudTrail_eu-west-1_20260301T1205Z_"));
        let gunzip = |path: &Path| {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(
                &mut flate2::read::GzDecoder::new(&std::fs::read(path).expect("read")[..]),
                &mut bytes,
            )
            .expect("gunzip");
            bytes
        };
        let records: Vec<DigestRecord> = digests
            .iter()
            .map(|d| {
                let bytes = gunzip(d);
                DigestRecord {
                    digest: parse_digest("d", &bytes).expect("digest"),
                    source: d.display().to_string(),
                    content_sha256: sha256_hex(&bytes),
                }
            })
            .collect();
        let listed: Vec<usize> = records.iter().map(|r| r.digest.log_files.len()).collect();
        assert_eq!(listed, [2, 0, 2]);
        let logs: Vec<LogRecord> = files
            .iter()
            .map(|f| LogRecord {
                source: f.display().to_string(),
                content_sha256: Some(sha256_hex(&gunzip(f))),
            })
            .collect();
        let v = validate(&records, &logs);
        assert!(v.problems.is_empty(), "{:#?}", v.problems);
        assert_eq!(v.log_files_verified, 4);
    }

    #[test]
    fn windows_must_be_whole_minutes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = FileSinkConfig::new(dir.path(), 1);
        config.window = Duration::seconds(90);
        assert!(matches!(FileSink::open(config), Err(SinkError::Config(_))));
    }

    #[test]
    fn unique_strings_are_16_alphanumerics_from_the_seed() {
        let mut a = ChaCha20Rng::seed_from_u64(3);
        let mut b = ChaCha20Rng::seed_from_u64(3);
        let s = unique_string(&mut a);
        assert_eq!(s, unique_string(&mut b));
        assert_eq!(s.len(), 16);
        assert!(s.bytes().all(|c| c.is_ascii_alphanumeric()));
    }
}
