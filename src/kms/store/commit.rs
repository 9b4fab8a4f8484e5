//! Group commit: audit records and state changes are queued in call order under the engine
//! lock (cheap: a record is encoded, a change cloned), and one committer thread writes
//! everything queued so far in one redb write transaction with immediate durability, so one
//! `fsync` covers every call that arrived while the previous one ran. Each queued item has a
//! position; callers wait until the committed position reaches theirs before answering.
//!
//! A failed commit stops the store: the engine may already have applied changes the disk
//! does not have, so every waiting and later call fails until the server is restarted over
//! what was committed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use chrono::{DateTime, Duration, Utc};
use redb::{Database, Durability, ReadableDatabase as _};
use tokio::sync::watch;

use super::codec::Entity;
use super::root_key::Sealer;
use super::{entity_aad, outbox_value, StoreError, Table, EVENTS, META, META_POSITION, OUTBOX};
use crate::kms::audit::{record_bytes, AuditEvent, AuditSink, SinkError};
use crate::kms::engine::state::{Change, State};
use crate::kms::engine::Journal;

/// Where the committer stands: the last position made durable, and why it stopped.
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    /// Everything queued at or before this position is durable.
    pub committed: u64,
    /// Why commits stopped, once they have.
    pub failed: Option<Arc<str>>,
}

/// One queued write.
pub(crate) enum Op {
    /// An audit record: into the events table (for LookupEvents) and the outbox (for
    /// delivery to the trail directory).
    Record {
        position: u64,
        time_ms: i64,
        account: String,
        region: String,
        json: Vec<u8>,
    },
    /// Store (create or replace) an entity.
    Put {
        table: Table,
        id: String,
        entity: Entity,
    },
    /// Remove an entity.
    Delete { table: Table, id: String },
}

/// Which key each alias, grant and import token belongs to, as committed or queued: what
/// the store needs to turn [`Change::DeleteKey`] (which removes the key's aliases, grants and
/// import parameters) and the pruning of expired import tokens into explicit deletes, as
/// [`State::apply`] does in memory.
#[derive(Debug, Default)]
pub(crate) struct Index {
    aliases: HashMap<String, String>,
    grants: HashMap<String, String>,
    imports: HashMap<String, (String, DateTime<Utc>)>,
}

impl Index {
    /// The index of a restored state.
    pub fn of(state: &State) -> Self {
        Self {
            aliases: state
                .aliases
                .iter()
                .map(|(arn, a)| (arn.clone(), a.key_arn.clone()))
                .collect(),
            grants: state
                .grants
                .iter()
                .map(|(id, g)| (id.clone(), g.key_arn.clone()))
                .collect(),
            imports: state
                .imports
                .iter()
                .map(|(token, p)| (token.clone(), (p.key_arn.clone(), p.valid_to)))
                .collect(),
        }
    }

    /// The writes that make the stored state follow `change`, appended to `ops`.
    fn ops(&mut self, change: &Change, ops: &mut Vec<Op>) {
        let put = |table, id: &str, entity| Op::Put {
            table,
            id: id.to_owned(),
            entity,
        };
        let delete = |table, id: String| Op::Delete { table, id };
        match change {
            Change::PutKey(key) => ops.push(put(Table::Keys, &key.arn, Entity::Key(key.clone()))),
            Change::DeleteKey(arn) => {
                ops.push(delete(Table::Keys, arn.clone()));
                drain_where(&mut self.aliases, |k| k == arn)
                    .for_each(|id| ops.push(delete(Table::Aliases, id)));
                drain_where(&mut self.grants, |k| k == arn)
                    .for_each(|id| ops.push(delete(Table::Grants, id)));
                drain_where(&mut self.imports, |(k, _)| k == arn)
                    .for_each(|id| ops.push(delete(Table::Imports, id)));
            }
            Change::PutAlias { alias_arn, alias } => {
                self.aliases
                    .insert(alias_arn.clone(), alias.key_arn.clone());
                ops.push(put(Table::Aliases, alias_arn, Entity::Alias(alias.clone())));
            }
            Change::DeleteAlias(alias_arn) => {
                self.aliases.remove(alias_arn);
                ops.push(delete(Table::Aliases, alias_arn.clone()));
            }
            Change::PutGrant(grant) => {
                self.grants
                    .insert(grant.grant_id.clone(), grant.key_arn.clone());
                ops.push(put(
                    Table::Grants,
                    &grant.grant_id,
                    Entity::Grant(grant.clone()),
                ));
            }
            Change::DeleteGrant(id) => {
                self.grants.remove(id);
                ops.push(delete(Table::Grants, id.clone()));
            }
            Change::ServiceEvent(_) | Change::RelatedCall(_) => {}
            Change::PutImportParameters { token, parameters } => {
                // As `State::apply`: tokens a day past their validity are dropped.
                let issued = parameters.valid_to;
                drain_where(&mut self.imports, |(_, valid_to)| {
                    *valid_to + Duration::hours(24) <= issued
                })
                .for_each(|id| ops.push(delete(Table::Imports, id)));
                self.imports.insert(
                    token.clone(),
                    (parameters.key_arn.clone(), parameters.valid_to),
                );
                ops.push(put(
                    Table::Imports,
                    token,
                    Entity::Import(parameters.clone()),
                ));
            }
        }
    }
}

/// Removes the entries whose value matches and returns their keys, sorted (so the writes
/// are in a stable order).
fn drain_where<V>(
    map: &mut HashMap<String, V>,
    matches: impl Fn(&V) -> bool,
) -> std::vec::IntoIter<String> {
    let mut ids: Vec<String> = map
        .iter()
        .filter(|(_, v)| matches(v))
        .map(|(id, _)| id.clone())
        .collect();
    ids.sort();
    for id in &ids {
        map.remove(id);
    }
    ids.into_iter()
}

/// What the engine side and the committer share.
pub(crate) struct Queue {
    /// Writes not yet handed to the committer, in order.
    pub ops: Vec<Op>,
    /// The position of the last queued write.
    pub position: u64,
    /// Set once a commit failed: nothing more is accepted.
    pub failed: Option<Arc<str>>,
    /// Set when the store closes: the committer writes what is queued and stops.
    pub closing: bool,
    /// Whether the committer is waiting for work (and needs waking).
    pub idle: bool,
    /// Which key aliases, grants and import tokens belong to.
    pub index: Index,
}

/// The queue, the committer's progress, and how to wait for either.
pub(crate) struct Shared {
    /// The database file, for messages.
    pub path: PathBuf,
    pub queue: Mutex<Queue>,
    /// Wakes the committer.
    pub work: Condvar,
    /// The committer's progress, for blocking waits.
    pub progress: Mutex<Progress>,
    pub progressed: Condvar,
    /// The same progress, for async waits.
    pub watch: watch::Sender<Progress>,
    /// Transactions committed since the store opened.
    pub commits: AtomicU64,
}

impl Shared {
    pub fn lock_queue(&self) -> Result<MutexGuard<'_, Queue>, StoreError> {
        self.queue.lock().map_err(|_| StoreError::Poisoned)
    }

    /// The queue, if it still accepts writes; as a sink error for the engine.
    fn accepting(&self) -> Result<MutexGuard<'_, Queue>, SinkError> {
        let queue = self.queue.lock().map_err(|_| SinkError::Poisoned)?;
        if let Some(reason) = &queue.failed {
            return Err(self.sink_error(&format!(
                "the store stopped after a failed commit ({reason}); restart the server"
            )));
        }
        if queue.closing {
            return Err(self.sink_error("the store is closing"));
        }
        Ok(queue)
    }

    fn sink_error(&self, reason: &str) -> SinkError {
        SinkError::Io {
            path: self.path.clone(),
            source: std::io::Error::other(reason.to_owned()),
        }
    }

    /// Wakes the committer if it sleeps.
    fn wake(&self, queue: &mut Queue) {
        if queue.idle {
            queue.idle = false;
            self.work.notify_one();
        }
    }

    /// Publishes progress to both kinds of waiter.
    fn publish(&self, progress: Progress) {
        if let Ok(mut current) = self.progress.lock() {
            *current = progress.clone();
        }
        self.progressed.notify_all();
        self.watch.send_replace(progress);
    }

    /// Blocks until `position` is committed, or fails once commits have stopped short of it.
    pub fn wait(&self, position: u64) -> Result<(), StoreError> {
        let mut progress = self.progress.lock().map_err(|_| StoreError::Poisoned)?;
        loop {
            if progress.committed >= position {
                return Ok(());
            }
            if let Some(reason) = &progress.failed {
                return Err(StoreError::Stopped(reason.to_string()));
            }
            progress = self
                .progressed
                .wait(progress)
                .map_err(|_| StoreError::Poisoned)?;
        }
    }

    /// Marks the store failed: later writes are refused and waiters fail.
    pub fn fail(&self, reason: &str) {
        let reason: Arc<str> = Arc::from(reason);
        if let Ok(mut queue) = self.queue.lock() {
            queue.failed = Some(reason.clone());
            queue.ops.clear();
        }
        let committed = self.progress.lock().map(|p| p.committed).unwrap_or(0);
        self.publish(Progress {
            committed,
            failed: Some(reason),
        });
    }
}

/// The engine's audit sink: records are queued for the events table and the outbox.
pub(crate) struct StoreSink(pub Arc<Shared>);

impl AuditSink for StoreSink {
    fn record(&self, event: &AuditEvent) -> Result<(), SinkError> {
        let json = record_bytes(event)?;
        let mut queue = self.0.accepting()?;
        queue.position += 1;
        let position = queue.position;
        queue.ops.push(Op::Record {
            position,
            time_ms: event.event_time.timestamp_millis(),
            account: event.recipient_account_id.clone(),
            region: event.region.clone(),
            json,
        });
        self.0.wake(&mut queue);
        Ok(())
    }

    /// Waits until every record accepted so far is committed.
    fn flush(&self) -> Result<(), SinkError> {
        let position = self
            .0
            .lock_queue()
            .map_err(|_| SinkError::Poisoned)?
            .position;
        self.0
            .wait(position)
            .map_err(|err| self.0.sink_error(&err.to_string()))
    }
}

/// The engine's journal: changes are queued as entity writes.
pub(crate) struct StoreJournal(pub Arc<Shared>);

impl Journal for StoreJournal {
    fn persist(&self, changes: &[Change]) -> Result<(), SinkError> {
        let mut queue = self.0.accepting()?;
        let queue = &mut *queue;
        let start = queue.ops.len();
        for change in changes {
            queue.index.ops(change, &mut queue.ops);
        }
        let added = (queue.ops.len() - start) as u64;
        queue.position += added;
        if added > 0 {
            self.0.wake(queue);
        }
        Ok(())
    }
}

/// The committer thread's loop: takes everything queued, commits it, publishes the new
/// position; stops when the store closes (after committing what was queued) or a commit
/// fails.
pub(crate) fn run(shared: Arc<Shared>, db: Arc<Database>, sealer: Arc<Sealer>) {
    let mut batch = Vec::new();
    loop {
        let position = {
            let Ok(mut queue) = shared.queue.lock() else {
                shared.fail("the store queue is unavailable after a panic");
                return;
            };
            while queue.ops.is_empty() && !queue.closing && queue.failed.is_none() {
                queue.idle = true;
                queue = match shared.work.wait(queue) {
                    Ok(queue) => queue,
                    Err(_) => {
                        shared.fail("the store queue is unavailable after a panic");
                        return;
                    }
                };
            }
            queue.idle = false;
            if queue.failed.is_some() {
                return;
            }
            std::mem::swap(&mut queue.ops, &mut batch);
            queue.position
        };
        if batch.is_empty() {
            // Closing, with nothing left.
            return;
        }
        match commit(&db, &sealer, &batch, position) {
            Ok(()) => {
                shared.commits.fetch_add(1, Ordering::Relaxed);
                shared.publish(Progress {
                    committed: position,
                    failed: None,
                });
            }
            Err(err) => {
                shared.fail(&format!("commit to {}: {err}", shared.path.display()));
                return;
            }
        }
        batch.clear();
    }
}

/// Writes `batch` in one durable transaction and records `position` as committed.
fn commit(db: &Database, sealer: &Sealer, batch: &[Op], position: u64) -> Result<(), StoreError> {
    let mut txn = db.begin_write().map_err(redb::Error::from)?;
    txn.set_durability(Durability::Immediate)
        .map_err(redb::Error::from)?;
    {
        let mut events = txn.open_table(EVENTS).map_err(redb::Error::from)?;
        let mut outbox = txn.open_table(OUTBOX).map_err(redb::Error::from)?;
        let mut tables = [
            txn.open_table(Table::Keys.definition())
                .map_err(redb::Error::from)?,
            txn.open_table(Table::Aliases.definition())
                .map_err(redb::Error::from)?,
            txn.open_table(Table::Grants.definition())
                .map_err(redb::Error::from)?,
            txn.open_table(Table::Imports.definition())
                .map_err(redb::Error::from)?,
        ];
        for op in batch {
            match op {
                Op::Record {
                    position,
                    time_ms,
                    account,
                    region,
                    json,
                } => {
                    events
                        .insert((*time_ms, *position), json.as_slice())
                        .map_err(redb::Error::from)?;
                    outbox
                        .insert(
                            *position,
                            outbox_value(*time_ms, account, region).as_slice(),
                        )
                        .map_err(redb::Error::from)?;
                }
                Op::Put { table, id, entity } => {
                    let plain = entity.encode().map_err(|err| StoreError::Corrupt {
                        table: table.name(),
                        id: id.clone(),
                        reason: format!("cannot be encoded: {err}"),
                    })?;
                    let sealed = sealer.seal(&entity_aad(*table, id), &plain)?;
                    tables[table.slot()]
                        .insert(id.as_str(), sealed.as_slice())
                        .map_err(redb::Error::from)?;
                }
                Op::Delete { table, id } => {
                    tables[table.slot()]
                        .remove(id.as_str())
                        .map_err(redb::Error::from)?;
                }
            }
        }
        let mut meta = txn.open_table(META).map_err(redb::Error::from)?;
        meta.insert(META_POSITION, position.to_be_bytes().as_slice())
            .map_err(redb::Error::from)?;
    }
    txn.commit().map_err(redb::Error::from)?;
    Ok(())
}

/// The last committed position recorded in the meta table (0 for a new store).
pub(crate) fn stored_position(db: &Database) -> Result<u64, StoreError> {
    let txn = db.begin_read().map_err(redb::Error::from)?;
    let meta = txn.open_table(META).map_err(redb::Error::from)?;
    let Some(value) = meta.get(META_POSITION).map_err(redb::Error::from)? else {
        return Ok(0);
    };
    let bytes: [u8; 8] = value.value().try_into().map_err(|_| StoreError::Corrupt {
        table: "meta",
        id: META_POSITION.into(),
        reason: "not an 8-byte position".into(),
    })?;
    Ok(u64::from_be_bytes(bytes))
}
