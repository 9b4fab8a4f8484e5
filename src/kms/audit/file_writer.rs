//! Compresses and writes completed trail files on a thread of their own, so that the
//! caller of an audited operation does not wait for gzip and the file system. A file that
//! cannot be written is kept with its error: the sink refuses further records until a flush
//! has written it.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use libdeflater::{CompressionLvl, Compressor};

use super::SinkError;

/// Completed files waiting for the writer before `record` waits for room.
const QUEUE: usize = 256;
/// libdeflate level: CloudTrail's compression level is not part of the format, and the
/// fast levels keep the writer ahead of the engine.
const LEVEL: i32 = 3;

/// A file to write: its final path and its uncompressed contents.
pub struct Job {
    /// Where it goes.
    pub path: PathBuf,
    /// `{"Records":[…]}`.
    pub body: Vec<u8>,
}

enum Message {
    Write(Job),
    /// Answered once every earlier job is done.
    Barrier(SyncSender<()>),
}

#[derive(Default)]
struct Outcome {
    /// Written files, in order.
    written: Vec<PathBuf>,
    /// Files that could not be written, with why.
    failed: Vec<(Job, SinkError)>,
}

/// The writer thread and what it has done.
pub struct FileWriter {
    sender: Option<SyncSender<Message>>,
    thread: Option<JoinHandle<()>>,
    outcome: Arc<Mutex<Outcome>>,
    sync: bool,
}

/// How one thread writes files: a compressor, a buffer and the directories it made.
struct Disk {
    gzip: Compressor,
    compressed: Vec<u8>,
    dirs: HashSet<PathBuf>,
    sync: bool,
}

impl Disk {
    fn new(sync: bool) -> Self {
        Self {
            gzip: Compressor::new(CompressionLvl::new(LEVEL).unwrap_or_default()),
            compressed: Vec::new(),
            dirs: HashSet::new(),
            sync,
        }
    }

    fn write(&mut self, job: &Job) -> Result<(), SinkError> {
        let io = |source| SinkError::Io {
            path: job.path.clone(),
            source,
        };
        self.compressed
            .resize(self.gzip.gzip_compress_bound(job.body.len()), 0);
        let n = self
            .gzip
            .gzip_compress(&job.body, &mut self.compressed)
            .map_err(|err| io(std::io::Error::other(format!("gzip: {err}"))))?;
        self.compressed.truncate(n);
        let dir = job.path.parent().unwrap_or_else(|| Path::new("."));
        if !self.dirs.contains(dir) {
            std::fs::create_dir_all(dir).map_err(io)?;
            self.dirs.insert(dir.to_path_buf());
        }
        let result = write_renamed(&job.path, dir, &self.compressed, self.sync);
        if result.is_err() {
            // The directory may be gone: make it again next time.
            self.dirs.remove(dir);
        }
        result.map_err(io)
    }
}

/// Writes `bytes` to a hidden temporary name beside `path` and renames it: a reader never
/// sees half a file.
fn write_renamed(path: &Path, dir: &Path, bytes: &[u8], sync: bool) -> std::io::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.tmp"));
    let result = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        if sync {
            file.sync_all()?;
        }
        drop(file);
        std::fs::rename(&temp, path)?;
        if sync {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

impl FileWriter {
    /// Starts the writer thread (`sync`: fsync each file and its directory).
    pub fn start(sync: bool) -> Self {
        let (sender, receiver) = sync_channel(QUEUE);
        let outcome = Arc::new(Mutex::new(Outcome::default()));
        let shared = Arc::clone(&outcome);
        let thread = std::thread::Builder::new()
            .name("trail-writer".into())
            .spawn(move || run(&receiver, &shared, sync))
            .ok();
        Self {
            sender: thread.as_ref().map(|_| sender),
            thread,
            outcome,
            sync,
        }
    }

    fn outcome(&self) -> Result<MutexGuard<'_, Outcome>, SinkError> {
        self.outcome.lock().map_err(|_| SinkError::Poisoned)
    }

    /// Hands `job` to the writer (or writes it here if the thread is gone).
    pub fn submit(&self, job: Job) -> Result<(), SinkError> {
        let job = match &self.sender {
            Some(sender) => match sender.send(Message::Write(job)) {
                Ok(()) => return Ok(()),
                Err(std::sync::mpsc::SendError(Message::Write(job))) => job,
                Err(_) => return Ok(()),
            },
            None => job,
        };
        let result = Disk::new(self.sync).write(&job);
        let mut outcome = self.outcome()?;
        match result {
            Ok(()) => outcome.written.push(job.path),
            Err(err) => outcome.failed.push((job, err)),
        }
        Ok(())
    }

    /// Waits until every submitted file is written or has failed.
    pub fn wait(&self) {
        if let Some(sender) = &self.sender {
            let (ack, done) = sync_channel(1);
            if sender.send(Message::Barrier(ack)).is_ok() {
                let _ = done.recv();
            }
        }
    }

    /// The error of a file that could not be written, if any (it blocks further records).
    pub fn failure(&self) -> Result<Option<SinkError>, SinkError> {
        Ok(self
            .outcome()?
            .failed
            .first()
            .map(|(job, err)| copy(job, err)))
    }

    /// Waits for the writer, then tries the failed files again here; the first error of
    /// those that still fail.
    pub fn retry(&self) -> Result<(), SinkError> {
        self.wait();
        let failed = std::mem::take(&mut self.outcome()?.failed);
        let mut disk = Disk::new(self.sync);
        let mut first = None;
        let mut outcome = self.outcome()?;
        for (job, _) in failed {
            match disk.write(&job) {
                Ok(()) => outcome.written.push(job.path),
                Err(err) => {
                    first.get_or_insert_with(|| copy(&job, &err));
                    outcome.failed.push((job, err));
                }
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// The files written so far, in order (after waiting for the writer).
    pub fn written(&self) -> Result<Vec<PathBuf>, SinkError> {
        self.wait();
        Ok(self.outcome()?.written.clone())
    }
}

impl Drop for FileWriter {
    fn drop(&mut self) {
        self.sender = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(receiver: &Receiver<Message>, outcome: &Mutex<Outcome>, sync: bool) {
    let mut disk = Disk::new(sync);
    for message in receiver {
        match message {
            Message::Write(job) => {
                let result = disk.write(&job);
                let Ok(mut outcome) = outcome.lock() else {
                    return;
                };
                match result {
                    Ok(()) => outcome.written.push(job.path),
                    Err(err) => outcome.failed.push((job, err)),
                }
            }
            Message::Barrier(ack) => {
                let _ = ack.send(());
            }
        }
    }
}

/// A copy of a write error to report again (I/O errors are not `Clone`).
fn copy(job: &Job, err: &SinkError) -> SinkError {
    match err {
        SinkError::Io { source, .. } => SinkError::Io {
            path: job.path.clone(),
            source: std::io::Error::new(source.kind(), source.to_string()),
        },
        other => SinkError::Config(format!("{}: {other}", job.path.display())),
    }
}
