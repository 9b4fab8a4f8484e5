//! Delivery of committed records to the trail directory, as CloudTrail delivers to S3: a
//! thread that, every interval (5 minutes by default) and when stopped, takes the outbox in
//! order, writes it with the engine's [`FileSink`] (S3 layout, gzip, digest files, fsync),
//! and only once the files are on disk removes those records from the outbox, in one
//! transaction that also saves where the digest chains stand (so a restart continues them).
//!
//! The `FileSink` groups records into files by event-time window (5 minutes) and completes
//! every open file at each delivery, so with a short interval a window may be delivered as
//! several files, all named after the window's end and told apart by their unique strings,
//! as CloudTrail also writes several files per interval.
//!
//! A crash after files were written and before the outbox transaction commits delivers those
//! records again after the restart, in new files: CloudTrail also delivers duplicates now
//! and then, and readers deduplicate by `eventID`. Such a crash can also leave a digest
//! rewritten without the earlier copy's files.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Utc};
use redb::{Durability, ReadableDatabase as _, ReadableTable as _};

use super::{parse_outbox_value, Store, StoreError, EVENTS, META, META_DIGESTS, OUTBOX};
use crate::kms::audit::{AuditSink as _, DigestChainState, FileSink, FileSinkConfig};

/// Records handed to the sink between two flushes (bounded memory for a large backlog).
const CHUNK: usize = 10_000;

/// What delivery has done so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryStatus {
    /// Records delivered since the thread started.
    pub delivered: u64,
    /// Delivery rounds completed (successful or not).
    pub rounds: u64,
    /// The error of the last round, if it failed (the records stay in the outbox and the
    /// next round tries again).
    pub last_error: Option<String>,
}

struct Control {
    state: Mutex<ControlState>,
    changed: Condvar,
}

#[derive(Default)]
struct ControlState {
    stop: bool,
    /// Rounds asked for by [`Delivery::deliver_now`].
    requested: u64,
    status: DeliveryStatus,
}

impl Control {
    fn lock(&self) -> Result<MutexGuard<'_, ControlState>, StoreError> {
        self.state.lock().map_err(|_| StoreError::Poisoned)
    }
}

/// The delivery thread (see the module docs). Dropping it stops it, like [`Delivery::stop`]
/// without the report.
pub struct Delivery {
    control: Arc<Control>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery").finish_non_exhaustive()
    }
}

impl Delivery {
    /// What delivery has done so far.
    pub fn status(&self) -> Result<DeliveryStatus, StoreError> {
        Ok(self.control.lock()?.status.clone())
    }

    /// Delivers now instead of at the next interval, and waits for that round: its error if
    /// it failed.
    pub fn deliver_now(&self) -> Result<DeliveryStatus, StoreError> {
        let mut state = self.control.lock()?;
        let target = state.status.rounds + 1;
        state.requested += 1;
        self.control.changed.notify_all();
        while state.status.rounds < target && self.thread.is_some() {
            state = self
                .control
                .changed
                .wait(state)
                .map_err(|_| StoreError::Poisoned)?;
        }
        report(&state.status)
    }

    /// Waits for the records committed so far, delivers them, and stops the thread: its
    /// status, or the error of that last round.
    pub fn stop(mut self) -> Result<DeliveryStatus, StoreError> {
        self.halt();
        let status = self.control.lock()?.status.clone();
        report(&status)
    }

    fn halt(&mut self) {
        if let Ok(mut state) = self.control.state.lock() {
            state.stop = true;
        }
        self.control.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Delivery {
    fn drop(&mut self) {
        self.halt();
    }
}

fn report(status: &DeliveryStatus) -> Result<DeliveryStatus, StoreError> {
    match &status.last_error {
        Some(err) => Err(StoreError::Config(format!("delivery failed: {err}"))),
        None => Ok(status.clone()),
    }
}

/// Opens the trail and starts the thread.
pub(crate) fn start(
    store: Arc<Store>,
    trail_dir: PathBuf,
    interval: StdDuration,
) -> Result<Delivery, StoreError> {
    if interval.is_zero() {
        return Err(StoreError::Config(
            "the trail delivery interval must be positive".into(),
        ));
    }
    let options = store.options();
    let seed = options.file_seed.unwrap_or_else(rand::random);
    let mut config = FileSinkConfig::new(trail_dir, seed);
    config.sync = true;
    config.digests = Some(options.digests.clone());
    let sink = FileSink::open(config)?;
    if let Some(saved) = saved_chains(&store)? {
        sink.resume_digests(saved)?;
    }
    let control = Arc::new(Control {
        state: Mutex::new(ControlState::default()),
        changed: Condvar::new(),
    });
    let saved = sink.digest_state()?;
    let worker = Worker {
        store,
        sink,
        handed: 0,
        cleared: 0,
        saved,
    };
    let thread = {
        let control = Arc::clone(&control);
        std::thread::Builder::new()
            .name("kms-trail-delivery".into())
            .spawn(move || worker.run(&control, interval))
            .map_err(|source| StoreError::Io {
                path: PathBuf::from("kms-trail-delivery thread"),
                source,
            })?
    };
    Ok(Delivery {
        control,
        thread: Some(thread),
    })
}

/// The digest chain state saved by the last delivery.
fn saved_chains(store: &Store) -> Result<Option<DigestChainState>, StoreError> {
    let db = StoreError::db(store.path());
    let txn = store.database().begin_read().map_err(|e| db(e.into()))?;
    let meta = txn.open_table(META).map_err(|e| db(e.into()))?;
    let Some(value) = meta.get(META_DIGESTS).map_err(|e| db(e.into()))? else {
        return Ok(None);
    };
    serde_json::from_slice(value.value())
        .map(Some)
        .map_err(|err| StoreError::Corrupt {
            table: "meta",
            id: META_DIGESTS.into(),
            reason: err.to_string(),
        })
}

/// The thread's state: the trail, and how far the outbox has been handed to it.
struct Worker {
    store: Arc<Store>,
    sink: FileSink,
    /// The last position handed to the sink.
    handed: u64,
    /// The last position removed from the outbox.
    cleared: u64,
    /// The digest chain state last saved.
    saved: Option<DigestChainState>,
}

impl Worker {
    fn run(mut self, control: &Control, interval: StdDuration) {
        let mut served = 0;
        loop {
            let (stopping, requested) = {
                let Ok(mut state) = control.state.lock() else {
                    return;
                };
                let deadline = Instant::now() + interval;
                while !state.stop && state.requested == served {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    state = match control.changed.wait_timeout(state, left) {
                        Ok((state, _)) => state,
                        Err(_) => return,
                    };
                }
                (state.stop, state.requested)
            };
            if stopping {
                // Everything acknowledged so far goes out before the thread ends.
                let _ = self.store.sync();
            }
            let result = self.round(Utc::now());
            if let Err(err) = &result {
                eprintln!(
                    "kms-audit: trail delivery to {} failed (the records stay queued): {err}",
                    self.sink.config().root.display()
                );
            }
            let Ok(mut state) = control.state.lock() else {
                return;
            };
            served = requested;
            state.status.rounds += 1;
            match result {
                Ok(count) => {
                    state.status.delivered += count;
                    state.status.last_error = None;
                }
                Err(err) => state.status.last_error = Some(err.to_string()),
            }
            control.changed.notify_all();
            if stopping {
                return;
            }
        }
    }

    /// One delivery: the outbox in chunks, each flushed to disk before it is removed; then
    /// events past retention are pruned. Returns how many records were delivered.
    fn round(&mut self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        // Files a failed round left with the sink are written first; records it already
        // took are not taken again.
        self.sink.flush()?;
        if self.handed > self.cleared {
            self.clear(self.handed)?;
        }
        let mut delivered = 0;
        loop {
            let batch = self.next_chunk()?;
            let Some(last) = batch.last().map(|r| r.0) else {
                break;
            };
            for (position, time, account, region, json) in &batch {
                self.sink.record_json(account, region, *time, json)?;
                self.handed = *position;
            }
            self.sink.flush()?;
            self.clear(last)?;
            delivered += batch.len() as u64;
            if batch.len() < CHUNK {
                break;
            }
        }
        // Digests a flush wrote without new records (a retried file) are saved too.
        if self.sink.digest_state()? != self.saved {
            self.clear(self.cleared)?;
        }
        self.prune(now)?;
        Ok(delivered)
    }

    /// Up to [`CHUNK`] outbox records after the last one handed to the sink, with their JSON.
    #[allow(clippy::type_complexity)]
    fn next_chunk(&self) -> Result<Vec<(u64, DateTime<Utc>, String, String, Vec<u8>)>, StoreError> {
        let db = StoreError::db(self.store.path());
        let txn = self
            .store
            .database()
            .begin_read()
            .map_err(|e| db(e.into()))?;
        let outbox = txn.open_table(OUTBOX).map_err(|e| db(e.into()))?;
        let events = txn.open_table(EVENTS).map_err(|e| db(e.into()))?;
        let mut batch = Vec::new();
        for entry in outbox
            .range(self.handed.saturating_add(1)..)
            .map_err(|e| db(e.into()))?
            .take(CHUNK)
        {
            let (position, value) = entry.map_err(|e| db(e.into()))?;
            let position = position.value();
            let corrupt = |reason: &str| StoreError::Corrupt {
                table: "outbox",
                id: position.to_string(),
                reason: reason.to_owned(),
            };
            let (time_ms, account, region) =
                parse_outbox_value(value.value()).ok_or_else(|| corrupt("malformed entry"))?;
            let time = DateTime::from_timestamp_millis(time_ms)
                .ok_or_else(|| corrupt("event time out of range"))?;
            let json = events
                .get((time_ms, position))
                .map_err(|e| db(e.into()))?
                .ok_or_else(|| corrupt("its record is missing"))?
                .value()
                .to_vec();
            batch.push((position, time, account, region, json));
        }
        Ok(batch)
    }

    /// Removes the outbox up to `upto` (delivered and flushed) and saves the digest chains.
    fn clear(&mut self, upto: u64) -> Result<(), StoreError> {
        let chains = self.sink.digest_state()?;
        let db = StoreError::db(self.store.path());
        let mut txn = self
            .store
            .database()
            .begin_write()
            .map_err(|e| db(e.into()))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| db(e.into()))?;
        {
            let mut outbox = txn.open_table(OUTBOX).map_err(|e| db(e.into()))?;
            outbox
                .retain_in(..=upto, |_, _| false)
                .map_err(|e| db(e.into()))?;
            if let Some(chains) = &chains {
                let json = serde_json::to_vec(chains).map_err(|err| StoreError::Corrupt {
                    table: "meta",
                    id: META_DIGESTS.into(),
                    reason: err.to_string(),
                })?;
                let mut meta = txn.open_table(META).map_err(|e| db(e.into()))?;
                meta.insert(META_DIGESTS, json.as_slice())
                    .map_err(|e| db(e.into()))?;
            }
        }
        txn.commit().map_err(|e| db(e.into()))?;
        self.cleared = upto;
        self.saved = chains;
        Ok(())
    }

    /// Removes events older than the retention period that are delivered.
    fn prune(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut bound = (now - self.store.options().retention).timestamp_millis();
        let db = StoreError::db(self.store.path());
        {
            let txn = self
                .store
                .database()
                .begin_read()
                .map_err(|e| db(e.into()))?;
            let events = txn.open_table(EVENTS).map_err(|e| db(e.into()))?;
            match events.first().map_err(|e| db(e.into()))? {
                Some((oldest, _)) if oldest.value().0 < bound => {}
                _ => return Ok(()),
            }
            // Never prune a record still waiting for delivery.
            let outbox = txn.open_table(OUTBOX).map_err(|e| db(e.into()))?;
            let waiting = outbox
                .first()
                .map_err(|e| db(e.into()))?
                .and_then(|(_, value)| parse_outbox_value(value.value()));
            if let Some((time_ms, _, _)) = waiting {
                bound = bound.min(time_ms);
            }
        }
        let mut txn = self
            .store
            .database()
            .begin_write()
            .map_err(|e| db(e.into()))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| db(e.into()))?;
        {
            let mut events = txn.open_table(EVENTS).map_err(|e| db(e.into()))?;
            events
                .retain_in(..(bound, 0u64), |_, _| false)
                .map_err(|e| db(e.into()))?;
        }
        txn.commit().map_err(|e| db(e.into()))?;
        Ok(())
    }
}
