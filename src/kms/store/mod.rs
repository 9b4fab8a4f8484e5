//! The mini-KMS server's durable state and audit trail: a redb database at
//! `<data-dir>/kms.redb` holding the engine's keys, aliases, grants and import parameters
//! (each sealed with AES-256-GCM under a root key kept elsewhere, see [`RootKey`]), every
//! CloudTrail record the engine wrote (for `LookupEvents`, 90 days), and an outbox of records
//! not yet delivered to the trail directory.
//!
//! - The engine writes through [`Store::sink`] (records) and [`Store::journal`] (changes):
//!   both only queue, under the engine lock; a committer thread writes each batch in one
//!   durable transaction ([`commit`]). A server answers a call once [`Store::durable`] says its
//!   [`Store::ticket`] is committed, so an acknowledged call survives `kill -9`.
//! - [`Store::open`] returns the committed state, for [`Engine::restore`].
//! - [`Store::start_delivery`] moves the outbox to the trail directory in the S3 layout
//!   ([`delivery`]).
//! - [`Store::events`] reads records back, newest first, for `LookupEvents`.
//!
//! [`Engine::restore`]: crate::kms::engine::Engine::restore

pub mod codec;
pub mod commit;
pub mod delivery;
pub mod root_key;

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use chrono::{DateTime, Duration, Utc};
use redb::{
    Database, ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _,
    TableDefinition,
};
use serde_json::value::RawValue;
use serde_json::Value;
use tokio::sync::watch;

use crate::kms::audit::{AuditSink, DigestConfig, SinkError};
use crate::kms::engine::state::{Alias, State};
use crate::kms::engine::Journal;

pub use delivery::{Delivery, DeliveryStatus};
pub use root_key::{RootKey, CREATE_ROOT_KEY_HINT, ROOT_KEY_ENV, ROOT_KEY_LEN};

use codec::{StoredGrant, StoredImport, StoredKey};
use commit::{Index, Progress, Queue, Shared, StoreJournal, StoreSink};
use root_key::Sealer;

/// The database file's name in the data directory.
pub const DB_FILE: &str = "kms.redb";
/// How long `LookupEvents` can see an event (CloudTrail's event history: 90 days).
pub const DEFAULT_RETENTION_DAYS: i64 = 90;
/// The trail name in digest file names of the server's trail.
pub const DEFAULT_TRAIL_NAME: &str = "kms-audit";
/// The bucket name digests of the server's trail name.
pub const DEFAULT_TRAIL_BUCKET: &str = "kms-audit-trail";
/// The home Region in digest file names when none is configured.
pub const DEFAULT_HOME_REGION: &str = "us-east-1";

/// Keys (by key ARN), sealed.
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");
/// Aliases (by alias ARN), sealed.
const ALIASES: TableDefinition<&str, &[u8]> = TableDefinition::new("aliases");
/// Grants (by grant id), sealed.
const GRANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("grants");
/// Import parameters (by import token, hex), sealed.
const IMPORTS: TableDefinition<&str, &[u8]> = TableDefinition::new("imports");
/// Records by (event time in ms, position): the CloudTrail JSON of each record.
pub(crate) const EVENTS: TableDefinition<(i64, u64), &[u8]> = TableDefinition::new("events");
/// Records not yet delivered, by position: event time (8 bytes), account, NUL, Region.
pub(crate) const OUTBOX: TableDefinition<u64, &[u8]> = TableDefinition::new("outbox");
/// Store metadata: [`META_FORMAT`], [`META_KEY_CHECK`], [`META_POSITION`], [`META_DIGESTS`].
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// The layout version.
const META_FORMAT: &str = "format";
/// A constant sealed under the root key: proves the root key opens this store.
const META_KEY_CHECK: &str = "key_check";
/// The last committed position (u64, big-endian).
pub(crate) const META_POSITION: &str = "position";
/// Where the delivered trail's digest chains stand (JSON).
pub(crate) const META_DIGESTS: &str = "digest_chains";

const FORMAT: &[u8] = b"1";
const KEY_CHECK_PLAINTEXT: &[u8] = b"kms-audit store root key check v1";

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file or directory could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The database failed.
    #[error("store {}: {source}", path.display())]
    Database {
        /// The database file.
        path: PathBuf,
        /// redb's error.
        #[source]
        source: redb::Error,
    },
    /// Another process has the data directory open.
    #[error("the data directory {} is in use by another kms-audit server", dir.display())]
    InUse {
        /// The data directory.
        dir: PathBuf,
    },
    /// The root key is not the one the store was created with.
    #[error("the root key does not open the store in {}: it was created with another root key", dir.display())]
    WrongRootKey {
        /// The data directory.
        dir: PathBuf,
    },
    /// No root key was given.
    #[error("no root key for the data directory {}: {CREATE_ROOT_KEY_HINT}", dir.display())]
    NoRootKey {
        /// The data directory.
        dir: PathBuf,
    },
    /// The root key given cannot be used.
    #[error("root key from {source_name}: {reason}")]
    RootKey {
        /// The file or variable it came from.
        source_name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored value cannot be read back.
    #[error("store table {table}, entry {id}: {reason}")]
    Corrupt {
        /// The table.
        table: &'static str,
        /// The entry.
        id: String,
        /// What is wrong.
        reason: String,
    },
    /// The data directory was written by an incompatible version.
    #[error("the store in {} has layout version {found}; this kms-audit reads version 1", dir.display())]
    Format {
        /// The data directory.
        dir: PathBuf,
        /// The version found.
        found: String,
    },
    /// Commits stopped after a failure; the server must be restarted.
    #[error("the store stopped after a failed commit and accepts nothing until restarted: {0}")]
    Stopped(String),
    /// A cryptographic primitive failed.
    #[error("store encryption: {0}")]
    Crypto(&'static str),
    /// Writing the trail failed.
    #[error("trail delivery: {0}")]
    Sink(#[from] SinkError),
    /// A setting is unusable.
    #[error("store configuration: {0}")]
    Config(String),
    /// A thread panicked while holding the store.
    #[error("the store is unavailable after a failure in another thread")]
    Poisoned,
}

impl StoreError {
    fn db(path: &Path) -> impl Fn(redb::Error) -> StoreError + '_ {
        move |source| StoreError::Database {
            path: path.to_owned(),
            source,
        }
    }
}

impl From<redb::Error> for StoreError {
    /// A database error without its path (the committer adds it to the message).
    fn from(source: redb::Error) -> Self {
        StoreError::Database {
            path: PathBuf::new(),
            source,
        }
    }
}

/// Store settings.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// How long events stay readable by [`Store::events`]; older ones are pruned after
    /// delivery.
    pub retention: Duration,
    /// The digest files of the delivered trail (hourly, as CloudTrail).
    pub digests: DigestConfig,
    /// Seed of the unique strings in trail file names; `None` draws one.
    pub file_seed: Option<u64>,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            retention: Duration::days(DEFAULT_RETENTION_DAYS),
            digests: DigestConfig::hourly(
                DEFAULT_TRAIL_NAME,
                DEFAULT_HOME_REGION,
                DEFAULT_TRAIL_BUCKET,
            ),
            file_seed: None,
        }
    }
}

/// A position in the store's queue: everything queued before [`Store::ticket`] was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ticket(u64);

/// Where a page of [`Store::events`] stopped: an event's time and position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct EventCursor {
    time_ms: i64,
    position: u64,
}

impl EventCursor {
    /// The cursor as text (for a `NextToken`).
    pub fn token(&self) -> String {
        format!("{}.{}", self.time_ms, self.position)
    }

    /// A cursor from [`EventCursor::token`]'s text.
    pub fn parse(token: &str) -> Option<Self> {
        let (time, position) = token.split_once('.')?;
        Some(Self {
            time_ms: time.parse().ok()?,
            position: position.parse().ok()?,
        })
    }

    /// The event time (to the millisecond).
    pub fn time(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_millis(self.time_ms)
    }
}

/// The entity tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Keys,
    Aliases,
    Grants,
    Imports,
}

impl Table {
    fn definition(self) -> TableDefinition<'static, &'static str, &'static [u8]> {
        match self {
            Self::Keys => KEYS,
            Self::Aliases => ALIASES,
            Self::Grants => GRANTS,
            Self::Imports => IMPORTS,
        }
    }

    /// The table's name (also the associated data of its sealed values).
    pub fn name(self) -> &'static str {
        match self {
            Self::Keys => "keys",
            Self::Aliases => "aliases",
            Self::Grants => "grants",
            Self::Imports => "imports",
        }
    }

    /// Index into the committer's array of open tables.
    fn slot(self) -> usize {
        self as usize
    }
}

/// Associated data of a sealed entity: table name, NUL, id.
fn entity_aad(table: Table, id: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(table.name().len() + 1 + id.len());
    aad.extend_from_slice(table.name().as_bytes());
    aad.push(0);
    aad.extend_from_slice(id.as_bytes());
    aad
}

/// An outbox entry: event time, account, NUL, Region.
fn outbox_value(time_ms: i64, account: &str, region: &str) -> Vec<u8> {
    let mut value = Vec::with_capacity(8 + account.len() + 1 + region.len());
    value.extend_from_slice(&time_ms.to_be_bytes());
    value.extend_from_slice(account.as_bytes());
    value.push(0);
    value.extend_from_slice(region.as_bytes());
    value
}

/// Reads an outbox entry back.
fn parse_outbox_value(value: &[u8]) -> Option<(i64, String, String)> {
    let (time, rest) = value.split_at_checked(8)?;
    let time = i64::from_be_bytes(time.try_into().ok()?);
    let nul = rest.iter().position(|b| *b == 0)?;
    let account = std::str::from_utf8(&rest[..nul]).ok()?.to_owned();
    let region = std::str::from_utf8(&rest[nul + 1..]).ok()?.to_owned();
    Some((time, account, region))
}

/// The durable store (see the module docs).
pub struct Store {
    dir: PathBuf,
    path: PathBuf,
    db: Arc<Database>,
    shared: Arc<Shared>,
    committer: Mutex<Option<JoinHandle<()>>>,
    options: StoreOptions,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`, checks that `root_key` is the one it was
    /// created with, and returns it with the committed state. The state's custom key stores
    /// are empty: they are configuration ([`Engine::restore`] adds them).
    ///
    /// [`Engine::restore`]: crate::kms::engine::Engine::restore
    pub fn open(
        dir: &Path,
        root_key: RootKey,
        options: StoreOptions,
    ) -> Result<(Arc<Store>, State), StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let path = dir.join(DB_FILE);
        let db = match Database::builder().create(&path) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => {
                return Err(StoreError::InUse {
                    dir: dir.to_owned(),
                })
            }
            Err(err) => return Err(StoreError::db(&path)(err.into())),
        };
        let sealer = root_key.sealer()?;
        prepare(&db, &sealer, dir).map_err(|err| with_path(err, &path))?;
        let state = load(&db, &sealer).map_err(|err| with_path(err, &path))?;
        let position = commit::stored_position(&db).map_err(|err| with_path(err, &path))?;
        let progress = Progress {
            committed: position,
            failed: None,
        };
        let shared = Arc::new(Shared {
            path: path.clone(),
            queue: Mutex::new(Queue {
                ops: Vec::new(),
                position,
                failed: None,
                closing: false,
                idle: false,
                index: Index::of(&state),
            }),
            work: Condvar::new(),
            progress: Mutex::new(progress.clone()),
            progressed: Condvar::new(),
            watch: watch::Sender::new(progress),
            commits: AtomicU64::new(0),
        });
        let db = Arc::new(db);
        let committer = {
            let (shared, db, sealer) = (Arc::clone(&shared), Arc::clone(&db), Arc::new(sealer));
            std::thread::Builder::new()
                .name("kms-store-commit".into())
                .spawn(move || commit::run(shared, db, sealer))
                .map_err(|source| StoreError::Io {
                    path: path.clone(),
                    source,
                })?
        };
        let store = Arc::new(Store {
            dir: dir.to_owned(),
            path,
            db,
            shared,
            committer: Mutex::new(Some(committer)),
            options,
        });
        Ok((store, state))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The engine's audit sink: records go to the events table and the outbox.
    pub fn sink(self: &Arc<Self>) -> Arc<dyn AuditSink> {
        Arc::new(StoreSink(Arc::clone(&self.shared)))
    }

    /// The engine's journal: changes go to the entity tables.
    pub fn journal(self: &Arc<Self>) -> Arc<dyn Journal> {
        Arc::new(StoreJournal(Arc::clone(&self.shared)))
    }

    /// The position of everything queued so far (take it after the engine call returns).
    pub fn ticket(&self) -> Ticket {
        Ticket(self.shared.lock_queue().map_or(u64::MAX, |q| q.position))
    }

    /// Waits until everything up to `ticket` is committed (group commit): `Ok` once it is
    /// durable, an error if commits stopped before it.
    pub async fn durable(&self, ticket: Ticket) -> Result<(), StoreError> {
        let mut progress = self.shared.watch.subscribe();
        let reached = progress
            .wait_for(|p| p.committed >= ticket.0 || p.failed.is_some())
            .await
            .map_err(|_| StoreError::Stopped("the store is closed".into()))?
            .clone();
        match reached.failed {
            Some(reason) if reached.committed < ticket.0 => {
                Err(StoreError::Stopped(reason.to_string()))
            }
            _ => Ok(()),
        }
    }

    /// [`Store::durable`] for threads: blocks until everything up to `ticket` is committed.
    pub fn wait(&self, ticket: Ticket) -> Result<(), StoreError> {
        self.shared.wait(ticket.0)
    }

    /// Blocks until everything queued so far is committed.
    pub fn sync(&self) -> Result<(), StoreError> {
        self.wait(self.ticket())
    }

    /// Commits what is queued and stops the committer; later records and changes are
    /// refused. Dropping the store does the same, without reporting errors.
    pub fn close(&self) -> Result<(), StoreError> {
        if let Ok(mut queue) = self.shared.queue.lock() {
            queue.closing = true;
            self.shared.work.notify_one();
        }
        let handle = self
            .committer
            .lock()
            .map_err(|_| StoreError::Poisoned)?
            .take();
        if let Some(handle) = handle {
            handle.join().map_err(|_| StoreError::Poisoned)?;
        }
        let progress = self
            .shared
            .progress
            .lock()
            .map_err(|_| StoreError::Poisoned)?;
        match &progress.failed {
            Some(reason) => Err(StoreError::Stopped(reason.to_string())),
            None => Ok(()),
        }
    }

    /// Recorded events (CloudTrail record JSON, as delivered) with event time in
    /// `[start, end)`, newest first (LookupEvents order), after `after`, at most `limit`
    /// of those `filter` accepts; with the cursor to continue from when more match.
    #[allow(clippy::type_complexity)]
    pub fn events(
        &self,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        after: Option<EventCursor>,
        limit: usize,
        filter: &dyn Fn(&Value) -> bool,
    ) -> Result<(Vec<(EventCursor, Box<RawValue>)>, Option<EventCursor>), StoreError> {
        let db = StoreError::db(&self.path);
        let lower = (start.timestamp_millis(), 0u64);
        let mut upper = (end.timestamp_millis(), 0u64);
        if let Some(cursor) = after {
            upper = upper.min((cursor.time_ms, cursor.position));
        }
        let mut found = Vec::new();
        if lower >= upper || limit == 0 {
            return Ok((found, None));
        }
        let txn = self.db.begin_read().map_err(|e| db(e.into()))?;
        let events = txn.open_table(EVENTS).map_err(|e| db(e.into()))?;
        let mut last = None;
        for entry in events.range(lower..upper).map_err(|e| db(e.into()))?.rev() {
            let (key, value) = entry.map_err(|e| db(e.into()))?;
            let (time_ms, position) = key.value();
            let cursor = EventCursor { time_ms, position };
            let bytes = value.value();
            let parsed: Value =
                serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
                    table: "events",
                    id: cursor.token(),
                    reason: err.to_string(),
                })?;
            if !filter(&parsed) {
                continue;
            }
            if found.len() == limit {
                return Ok((found, last));
            }
            let text = String::from_utf8(bytes.to_vec()).map_err(|err| StoreError::Corrupt {
                table: "events",
                id: cursor.token(),
                reason: err.to_string(),
            })?;
            let raw = RawValue::from_string(text).map_err(|err| StoreError::Corrupt {
                table: "events",
                id: cursor.token(),
                reason: err.to_string(),
            })?;
            found.push((cursor, raw));
            last = Some(cursor);
        }
        Ok((found, None))
    }

    /// Records not yet delivered to the trail directory.
    pub fn undelivered(&self) -> Result<u64, StoreError> {
        let db = StoreError::db(&self.path);
        let txn = self.db.begin_read().map_err(|e| db(e.into()))?;
        let outbox = txn.open_table(OUTBOX).map_err(|e| db(e.into()))?;
        outbox.len().map_err(|e| db(e.into()))
    }

    /// Starts the delivery thread: every `interval`, undelivered records → `FileSink` under
    /// `trail_dir` (S3 layout, digests on), then removed from the outbox. Also delivers when
    /// stopped ([`Delivery::stop`]).
    pub fn start_delivery(
        self: &Arc<Self>,
        trail_dir: PathBuf,
        interval: std::time::Duration,
    ) -> Result<Delivery, StoreError> {
        delivery::start(Arc::clone(self), trail_dir, interval)
    }

    pub(crate) fn database(&self) -> &Database {
        &self.db
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn options(&self) -> &StoreOptions {
        &self.options
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Names the database file in an error raised without it.
fn with_path(err: StoreError, path: &Path) -> StoreError {
    match err {
        StoreError::Database { path: p, source } if p.as_os_str().is_empty() => {
            StoreError::Database {
                path: path.to_owned(),
                source,
            }
        }
        other => other,
    }
}

/// Creates the tables of a new store and checks the layout version and the root key.
fn prepare(db: &Database, sealer: &Sealer, dir: &Path) -> Result<(), StoreError> {
    let txn = db.begin_write().map_err(redb::Error::from)?;
    {
        for table in [KEYS, ALIASES, GRANTS, IMPORTS] {
            txn.open_table(table).map_err(redb::Error::from)?;
        }
        txn.open_table(EVENTS).map_err(redb::Error::from)?;
        txn.open_table(OUTBOX).map_err(redb::Error::from)?;
        let mut meta = txn.open_table(META).map_err(redb::Error::from)?;
        let format = meta
            .get(META_FORMAT)
            .map_err(redb::Error::from)?
            .map(|v| v.value().to_vec());
        match format {
            Some(found) if found != FORMAT => {
                return Err(StoreError::Format {
                    dir: dir.to_owned(),
                    found: String::from_utf8_lossy(&found).into_owned(),
                })
            }
            Some(_) => {}
            None => {
                meta.insert(META_FORMAT, FORMAT)
                    .map_err(redb::Error::from)?;
            }
        }
        let check = meta
            .get(META_KEY_CHECK)
            .map_err(redb::Error::from)?
            .map(|v| v.value().to_vec());
        match check {
            Some(sealed) => {
                let opened = sealer.open(META_KEY_CHECK.as_bytes(), &sealed);
                if opened.as_deref().map(Vec::as_slice) != Some(KEY_CHECK_PLAINTEXT) {
                    return Err(StoreError::WrongRootKey {
                        dir: dir.to_owned(),
                    });
                }
            }
            None => {
                let sealed = sealer.seal(META_KEY_CHECK.as_bytes(), KEY_CHECK_PLAINTEXT)?;
                meta.insert(META_KEY_CHECK, sealed.as_slice())
                    .map_err(redb::Error::from)?;
            }
        }
    }
    txn.commit().map_err(redb::Error::from)?;
    Ok(())
}

/// The committed state.
fn load(db: &Database, sealer: &Sealer) -> Result<State, StoreError> {
    let txn = db.begin_read().map_err(redb::Error::from)?;
    let mut state = State::default();
    let each = |table: Table,
                apply: &mut dyn FnMut(String, &[u8]) -> Result<(), String>|
     -> Result<(), StoreError> {
        let rows = txn
            .open_table(table.definition())
            .map_err(redb::Error::from)?;
        for entry in rows.iter().map_err(redb::Error::from)? {
            let (id, sealed) = entry.map_err(redb::Error::from)?;
            let id = id.value().to_owned();
            let corrupt = |reason: String| StoreError::Corrupt {
                table: table.name(),
                id: id.clone(),
                reason,
            };
            let plain = sealer
                .open(&entity_aad(table, &id), sealed.value())
                .ok_or_else(|| corrupt("does not open under the root key".into()))?;
            apply(id.clone(), &plain).map_err(corrupt)?;
        }
        Ok(())
    };
    let json = |err: serde_json::Error| err.to_string();
    each(Table::Keys, &mut |id, plain| {
        let key = serde_json::from_slice::<StoredKey>(plain)
            .map_err(json)?
            .into_key()?;
        state.keys.insert(id, key);
        Ok(())
    })?;
    each(Table::Aliases, &mut |id, plain| {
        state
            .aliases
            .insert(id, serde_json::from_slice::<Alias>(plain).map_err(json)?);
        Ok(())
    })?;
    each(Table::Grants, &mut |id, plain| {
        let grant = serde_json::from_slice::<StoredGrant>(plain).map_err(json)?;
        state.grants.insert(id, grant.into_grant());
        Ok(())
    })?;
    each(Table::Imports, &mut |id, plain| {
        let import = serde_json::from_slice::<StoredImport>(plain)
            .map_err(json)?
            .into_import()?;
        state.imports.insert(id, import);
        Ok(())
    })?;
    Ok(state)
}

#[cfg(test)]
mod tests;
