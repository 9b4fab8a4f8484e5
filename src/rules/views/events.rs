//! Reads the KMS events the views need from the lake with one lazy Polars query: KMS records
//! only, with the raw JSON kept for the operations whose parameters a view reads (policies,
//! grants, key creation), and returns them in time order.
//!
//! Cryptographic calls (Decrypt, GenerateDataKey…) are most of a busy trail, and the views
//! need few of them one by one, so [`load`] folds the others away. It keeps, in time order:
//!
//! - every record that is not a cryptographic API call ([`is_crypto`] and
//!   [`KmsEvent::is_call`]);
//! - of the cryptographic calls that name a key: the first [`MAX_ROW_EVIDENCE`] of each
//!   principal × key × operation group (the `usage` view's evidence); per key the first, the
//!   last and the last successful call (`keys`: the key is seen, `last_used`); and every call
//!   made while the key may be disabled or pending deletion that the `keys` view may cite
//!   (the first `USE_EVIDENCE` after each other event of the key; the others are folded into
//!   the last call kept before them, [`KmsEvent::folded`], which `keys` counts as that many
//!   uses in `uses_after_state_change`) — from a successful DisableKey,
//!   ScheduleKeyDeletion or CancelKeyDeletion, or a CreateKey / ReplicateKey whose `keyState`
//!   is neither Enabled nor PendingImport, until the next successful EnableKey or DeleteKey;
//!   for a key the inventory lists in a state other than Enabled, all of them.
//!
//! The first call of each principal × key × operation group carries the group's totals over
//! every call, folded or not ([`KmsEvent::calls`]), from which the `usage` view counts. A view
//! that reads cryptographic calls some other way must widen these rules; [`load_all`] keeps
//! every record, and `tests/suite/rules_bench.rs` checks that both give the same views.
//!
//! Only the records kept become [`KmsEvent`]s: the rest are read from the Polars columns in
//! place, without a copy of their text.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};

use polars::prelude::*;
use serde_json::Value;

use crate::ingest::schema::{
    ADDITIONAL_EVENT_DATA, AWS_REGION, DELETION_DATE, ERROR_CODE, EVENT_ID, EVENT_NAME,
    EVENT_SOURCE, EVENT_TIME, EVENT_TYPE, KEY_ACCOUNT, KEY_ARN, KEY_CREATED_AT, KEY_MANAGER,
    KEY_ORIGIN, KEY_SPEC, KEY_USAGE, PRINCIPAL, PRINCIPAL_ACCOUNT, REQUEST_PARAMETERS,
    RESPONSE_ELEMENTS, ROTATION_PERIOD_DAYS, SOURCE_FILE, SOURCE_IP, SOURCE_RECORD, VALID_TO,
};
use crate::rules::error::EvalError;
use crate::rules::finding::{rfc3339, Evidence};
use crate::rules::views::inventory::Inventory;
use crate::rules::views::keys::USE_EVIDENCE;
use crate::rules::views::{is_crypto, MAX_ROW_EVIDENCE};

/// The `eventSource` of KMS records.
pub const KMS_SOURCE: &str = "kms.amazonaws.com";

/// Operations whose raw JSON the views read.
pub const JSON_OPERATIONS: &[&str] = &[
    "CreateKey",
    "ReplicateKey",
    "PutKeyPolicy",
    "CreateGrant",
    "RetireGrant",
    "RevokeGrant",
    "ImportKeyMaterial",
];

/// One KMS record, as the views read it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KmsEvent {
    /// `eventTime`, µs since the epoch.
    pub time: i64,
    /// `eventName`.
    pub name: String,
    /// `eventType`.
    pub event_type: Option<String>,
    /// `eventID`.
    pub event_id: Option<String>,
    /// The file the record came from.
    pub source_file: String,
    /// Its position in that file.
    pub source_record: u32,
    /// The stable principal (lake column `principal`).
    pub principal: Option<String>,
    /// The principal's account.
    pub principal_account: Option<String>,
    /// The key the event acts on.
    pub key_arn: Option<String>,
    /// The key's account.
    pub key_account: Option<String>,
    /// `awsRegion`.
    pub region: Option<String>,
    /// `sourceIPAddress`.
    pub source_ip: Option<String>,
    /// `errorCode`; `None` on success.
    pub error_code: Option<String>,
    /// Lake column `key_spec`.
    pub key_spec: Option<String>,
    /// Lake column `key_usage`.
    pub key_usage: Option<String>,
    /// Lake column `key_origin`.
    pub key_origin: Option<String>,
    /// Lake column `key_manager`.
    pub key_manager: Option<String>,
    /// Lake column `key_created_at` (µs).
    pub key_created_at: Option<i64>,
    /// Lake column `valid_to` (µs).
    pub valid_to: Option<i64>,
    /// Lake column `deletion_date` (µs).
    pub deletion_date: Option<i64>,
    /// Lake column `rotation_period_days`.
    pub rotation_period_days: Option<i64>,
    /// `requestParameters`, parsed (only for [`JSON_OPERATIONS`]).
    pub request: Option<Value>,
    /// `responseElements`, parsed (only for [`JSON_OPERATIONS`]).
    pub response: Option<Value>,
    /// `additionalEventData`, parsed (only for [`JSON_OPERATIONS`]).
    pub additional: Option<Value>,
    /// On the first call of a principal × key × operation group, when [`load`] folded calls
    /// away: the group's totals over every call of the lake. `None` elsewhere (and on events
    /// built by hand, whose groups the `usage` view counts one by one).
    pub calls: Option<Box<CallTotals>>,
    /// On a cryptographic call made while its key may be disabled or pending deletion: how
    /// many calls of the same key [`load`] folded into it — the calls that follow it, before
    /// the key's next event in the list, which the `keys` view counts as uses with it. 0
    /// elsewhere.
    pub folded: u32,
}

/// The totals of one principal × key × operation group of KMS API calls (those the `usage`
/// view counts: calls, not service events, that name a principal and a key), over every
/// call of the group in time order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallTotals {
    /// The first principal account given.
    pub principal_account: Option<String>,
    /// The first key account given.
    pub key_account: Option<String>,
    /// Successful calls.
    pub calls: i64,
    /// Failed calls.
    pub errors: i64,
    /// The first call (µs).
    pub first: i64,
    /// The last call (µs).
    pub last: i64,
    /// The last successful call (µs).
    pub last_success: Option<i64>,
    /// Distinct source IP addresses.
    pub source_ips: i64,
    /// Distinct Regions.
    pub regions: i64,
    /// Evidence keys of the first [`MAX_ROW_EVIDENCE`] calls.
    pub evidence: Vec<String>,
}

impl KmsEvent {
    /// Whether the call succeeded.
    pub fn ok(&self) -> bool {
        self.error_code.is_none()
    }

    /// Whether the record is an API call made by a principal (not a KMS service event).
    pub fn is_call(&self) -> bool {
        self.event_type.as_deref() != Some("AwsServiceEvent")
    }

    /// The key that identifies the event among the views' evidence.
    pub fn evidence_key(&self) -> String {
        match &self.event_id {
            Some(id) => id.clone(),
            None => format!("{}#{}", self.source_file, self.source_record),
        }
    }

    /// The event as finding evidence.
    pub fn evidence(&self) -> Evidence {
        Evidence {
            event_id: self.event_id.clone(),
            event_time: rfc3339(self.time),
            event_name: self.name.clone(),
            source_file: self.source_file.clone(),
            source_record: self.source_record,
        }
    }

    /// A text member of `requestParameters`.
    pub fn request_text(&self, key: &str) -> Option<&str> {
        self.request.as_ref()?.get(key)?.as_str()
    }

    /// A text member of `responseElements`.
    pub fn response_text(&self, key: &str) -> Option<&str> {
        self.response.as_ref()?.get(key)?.as_str()
    }
}

/// Reads the KMS events of `events` in time order, with the cryptographic calls the views do
/// not need one by one folded away (see the module documentation; `inventory` is the key
/// inventory the views are built with), and the time of the latest event of any kind (µs; 0
/// for an empty lake).
pub fn load(
    events: LazyFrame,
    inventory: Option<&Inventory>,
) -> Result<(Vec<KmsEvent>, i64), EvalError> {
    read(events, Some(inventory))
}

/// Reads every KMS event of `events` in time order, none folded, and the time of the latest
/// event of any kind (µs; 0 for an empty lake).
pub fn load_all(events: LazyFrame) -> Result<(Vec<KmsEvent>, i64), EvalError> {
    read(events, None)
}

/// A fast hasher for the short texts and ids interned here (FxHash's mixing step).
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A `HashMap` with [`FxHasher`].
pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;
/// A `HashSet` with [`FxHasher`].
pub(crate) type FxSet<K> = HashSet<K, BuildHasherDefault<FxHasher>>;

/// Gives each distinct text of a column a small id (`None` is id 0).
struct Interner<'a> {
    ids: FxMap<&'a str, u32>,
    texts: Vec<Option<&'a str>>,
}

impl<'a> Interner<'a> {
    fn new() -> Self {
        Self {
            ids: FxMap::default(),
            texts: vec![None],
        }
    }

    fn id(&mut self, text: Option<&'a str>) -> u32 {
        let Some(text) = text else { return 0 };
        let next = self.texts.len() as u32;
        *self.ids.entry(text).or_insert_with(|| {
            self.texts.push(Some(text));
            next
        })
    }
}

impl<'a> Interner<'a> {
    /// The id of every row of `column`. Equal views of a chunk hold equal texts (a text of
    /// at most 12 bytes is its view; a longer one is a place in the chunk's buffers, which
    /// rows read from one Parquet dictionary share), so a text is hashed once per distinct
    /// view.
    fn column(&mut self, column: &Texts<'a>) -> Vec<u32> {
        let mut out = Vec::with_capacity(column.len);
        for chunk in &column.chunks {
            let views = chunk.views();
            let mut by_view: FxMap<u128, u32> = FxMap::default();
            out.extend((0..chunk.len()).map(|i| {
                match chunk.get(i) {
                    None => 0,
                    Some(text) => *by_view
                        .entry(views[i].as_u128())
                        .or_insert_with(|| self.id(Some(text))),
                }
            }));
        }
        out
    }
}

/// A text column of the collected frame, read in place; its chunks are those of every
/// column (`Layout`).
struct Texts<'a> {
    chunks: Vec<&'a <StringType as PolarsDataType>::Array>,
    layout: &'a Layout,
    len: usize,
}

/// Where each row of a frame whose columns have the same chunks is: (chunk, index).
struct Layout(Vec<(u32, u32)>);

impl Layout {
    fn of(frame: &DataFrame) -> PolarsResult<Self> {
        let lengths: Vec<usize> = match frame.columns().first() {
            Some(column) => column.as_materialized_series().chunk_lengths().collect(),
            None => Vec::new(),
        };
        Ok(Self(
            lengths
                .iter()
                .enumerate()
                .flat_map(|(chunk, n)| (0..*n as u32).map(move |i| (chunk as u32, i)))
                .collect(),
        ))
    }
}

impl<'a> Texts<'a> {
    fn of(frame: &'a DataFrame, name: &str, layout: &'a Layout) -> PolarsResult<Self> {
        let column = frame.column(name)?.str()?;
        Ok(Self {
            chunks: column.downcast_iter().collect(),
            layout,
            len: column.len(),
        })
    }

    fn get(&self, row: usize) -> Option<&'a str> {
        let (chunk, index) = self.layout.0[row];
        self.chunks[chunk as usize].get(index as usize)
    }

    fn owned(&self, row: usize) -> Option<String> {
        self.get(row).map(str::to_owned)
    }
}

/// Working column: a record's number in the lake scan, which joins the JSON read to the
/// other columns.
const ROW: &str = "__kms_audit_row";

/// Where each row of the main read has its raw JSON in the JSON read (a single chunk).
struct JsonRows<'a> {
    json: &'a DataFrame,
    /// Per row of the main read: its row in `json`, or `u32::MAX` when it has none.
    of: Vec<u32>,
}

impl<'a> JsonRows<'a> {
    /// Matches the rows of `json` to those of `frame` by their [`ROW`] numbers.
    fn of(frame: &DataFrame, json: &'a DataFrame) -> PolarsResult<Self> {
        let by_number: FxMap<IdxSize, u32> = json
            .column(ROW)?
            .idx()?
            .iter()
            .enumerate()
            .filter_map(|(at, number)| Some((number?, at as u32)))
            .collect();
        let of = frame
            .column(ROW)?
            .idx()?
            .iter()
            .map(|number| {
                number
                    .and_then(|n| by_number.get(&n).copied())
                    .unwrap_or(u32::MAX)
            })
            .collect();
        Ok(Self { json, of })
    }

    /// JSON column `name`, by row of the main read.
    fn column(&self, name: &str) -> PolarsResult<JsonTexts<'_>> {
        Ok(JsonTexts {
            texts: self.json.column(name)?.str()?,
            of: &self.of,
        })
    }
}

/// A JSON column of [`JsonRows`], read by row of the main read.
struct JsonTexts<'a> {
    texts: &'a StringChunked,
    of: &'a [u32],
}

impl<'a> JsonTexts<'a> {
    fn get(&self, row: usize) -> Option<&'a str> {
        match self.of[row] {
            u32::MAX => None,
            at => self.texts.get(at as usize),
        }
    }
}

/// Whether a CreateKey / ReplicateKey response leaves the key in a state other than Enabled
/// or PendingImport.
fn created_disabled(response: Option<&str>) -> bool {
    let Some(text) = response else { return false };
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return false;
    };
    value
        .get("keyMetadata")
        .and_then(|m| m.get("keyState"))
        .and_then(Value::as_str)
        .is_some_and(|s| s != "Enabled" && s != "PendingImport")
}

/// A usage group's totals while the rows are walked.
struct Group {
    first_row: usize,
    principal_account: Option<usize>,
    key_account: Option<usize>,
    calls: i64,
    errors: i64,
    first: i64,
    last: i64,
    last_success: Option<i64>,
    evidence: Vec<usize>,
}

/// `fold`: `None` keeps every record; `Some(inventory)` folds calls away.
fn read(
    events: LazyFrame,
    fold: Option<Option<&Inventory>>,
) -> Result<(Vec<KmsEvent>, i64), EvalError> {
    let latest = events
        .clone()
        .select([col(EVENT_TIME).cast(DataType::Int64).max()])
        .collect()?;
    let as_of = latest.column(EVENT_TIME)?.i64()?.get(0).unwrap_or_default();

    // The KMS records, numbered in lake order: the raw JSON is read apart, from the few
    // records of `JSON_OPERATIONS` only (a filter the Parquet scan applies before decoding
    // the JSON columns), and joined back by number.
    let kms = events
        .with_row_index(ROW, None)
        .filter(col(EVENT_SOURCE).eq(lit(KMS_SOURCE)));
    let wants_json = JSON_OPERATIONS
        .iter()
        .map(|op| col(EVENT_NAME).eq(lit(*op)))
        .reduce(|a, b| a.or(b))
        .unwrap_or_else(|| lit(false));
    let text = |name: &str| col(name).cast(DataType::String);
    let mut json_frame = kms
        .clone()
        .filter(wants_json)
        .select([
            col(ROW),
            text(REQUEST_PARAMETERS),
            text(RESPONSE_ELEMENTS),
            text(ADDITIONAL_EVENT_DATA),
        ])
        .collect()?;
    json_frame.rechunk_mut_par();
    let mut frame = kms
        .select([
            col(ROW),
            col(EVENT_TIME).cast(DataType::Int64),
            text(EVENT_NAME),
            text(EVENT_TYPE),
            text(EVENT_ID),
            text(SOURCE_FILE),
            col(SOURCE_RECORD).cast(DataType::UInt32),
            text(PRINCIPAL),
            text(PRINCIPAL_ACCOUNT),
            text(KEY_ARN),
            text(KEY_ACCOUNT),
            text(AWS_REGION),
            text(SOURCE_IP),
            text(ERROR_CODE),
            text(KEY_SPEC),
            text(KEY_USAGE),
            text(KEY_ORIGIN),
            text(KEY_MANAGER),
            col(KEY_CREATED_AT).cast(DataType::Int64),
            col(VALID_TO).cast(DataType::Int64),
            col(DELETION_DATE).cast(DataType::Int64),
            col(ROTATION_PERIOD_DAYS).cast(DataType::Int64),
        ])
        .collect()?;
    let rows = frame.height();
    if rows == 0 {
        return Ok((Vec::new(), as_of));
    }
    // Every column in the same chunks, as read (a copy only if they differ).
    frame.align_chunks_par();
    let chunks =
        |c: &Column| -> Vec<usize> { c.as_materialized_series().chunk_lengths().collect() };
    let first = frame.columns().first().map(chunks).unwrap_or_default();
    if frame.columns().iter().any(|c| chunks(c) != first) {
        frame.rechunk_mut_par();
    }
    let layout = Layout::of(&frame)?;

    let ints = |name: &str| -> PolarsResult<Vec<Option<i64>>> {
        Ok(frame.column(name)?.i64()?.iter().collect())
    };
    let times: Vec<i64> = frame
        .column(EVENT_TIME)?
        .i64()?
        .iter()
        .map(Option::unwrap_or_default)
        .collect();
    let records: Vec<u32> = frame
        .column(SOURCE_RECORD)?
        .u32()?
        .iter()
        .map(Option::unwrap_or_default)
        .collect();
    let names = Texts::of(&frame, EVENT_NAME, &layout)?;
    let types = Texts::of(&frame, EVENT_TYPE, &layout)?;
    let ids = Texts::of(&frame, EVENT_ID, &layout)?;
    let files = Texts::of(&frame, SOURCE_FILE, &layout)?;
    let principals = Texts::of(&frame, PRINCIPAL, &layout)?;
    let principal_accounts = Texts::of(&frame, PRINCIPAL_ACCOUNT, &layout)?;
    let keys = Texts::of(&frame, KEY_ARN, &layout)?;
    let key_accounts = Texts::of(&frame, KEY_ACCOUNT, &layout)?;
    let regions = Texts::of(&frame, AWS_REGION, &layout)?;
    let ips = Texts::of(&frame, SOURCE_IP, &layout)?;
    let errors = Texts::of(&frame, ERROR_CODE, &layout)?;
    let json = JsonRows::of(&frame, &json_frame)?;
    let requests = json.column(REQUEST_PARAMETERS)?;
    let responses = json.column(RESPONSE_ELEMENTS)?;
    let additionals = json.column(ADDITIONAL_EVENT_DATA)?;

    // Time order: time, then source file (as text, a missing one first), then record.
    let mut order: Vec<usize> = {
        let mut by_time: Vec<(i64, u32)> = (0..rows).map(|r| (times[r], r as u32)).collect();
        by_time.sort_unstable();
        by_time.into_iter().map(|(_, r)| r as usize).collect()
    };
    // Equal times (few) are put in file and record order.
    let mut run = 0;
    while run < rows {
        let time = times[order[run]];
        let end = run
            + order[run..]
                .iter()
                .take_while(|r| times[**r] == time)
                .count();
        if end - run > 1 {
            order[run..end].sort_by(|a, b| {
                (files.get(*a).unwrap_or_default(), records[*a], *a).cmp(&(
                    files.get(*b).unwrap_or_default(),
                    records[*b],
                    *b,
                ))
            });
        }
        run = end;
    }

    let evidence_key = |row: usize| -> String {
        match ids.get(row) {
            Some(id) => id.to_owned(),
            None => format!("{}#{}", files.get(row).unwrap_or_default(), records[row]),
        }
    };

    // Per row: its key and operation ids; per operation: whether it is cryptographic.
    let mut key_ids = Interner::new();
    let mut name_ids = Interner::new();
    let key_of = key_ids.column(&keys);
    // A missing name reads as "" (as `KmsEvent::name`).
    name_ids.id(Some(""));
    let name_of: Vec<u32> = name_ids
        .column(&names)
        .into_iter()
        .map(|id| id.max(1))
        .collect();
    let crypto_name: Vec<bool> = name_ids
        .texts
        .iter()
        .map(|n| n.is_some_and(is_crypto))
        .collect();
    let is_call = |row: usize| types.get(row) != Some("AwsServiceEvent");
    let crypto_call = |row: usize| crypto_name[name_of[row] as usize] && is_call(row);

    // Per key: its first, last and last successful cryptographic call.
    let key_count = key_ids.texts.len();
    let mut first_call: Vec<Option<usize>> = vec![None; key_count];
    let mut last_call: Vec<Option<usize>> = vec![None; key_count];
    let mut last_ok_call: Vec<Option<usize>> = vec![None; key_count];
    for &row in &order {
        let key = key_of[row] as usize;
        if key == 0 || !crypto_call(row) {
            continue;
        }
        first_call[key].get_or_insert(row);
        last_call[key] = Some(row);
        if errors.get(row).is_none() {
            last_ok_call[key] = Some(row);
        }
    }
    let mut keep = vec![fold.is_none(); rows];
    for row in first_call
        .into_iter()
        .chain(last_call)
        .chain(last_ok_call)
        .flatten()
    {
        keep[row] = true;
    }

    // Which rows become events, and the usage groups' totals.
    let principal_of = Interner::new().column(&principals);
    let ip_of = Interner::new().column(&ips);
    let region_of = Interner::new().column(&regions);
    let mut group_of: FxMap<(u32, u32, u32), usize> = FxMap::default();
    let mut groups: Vec<Group> = Vec::new();
    let mut group_ips: FxSet<(usize, u32)> = FxSet::default();
    let mut group_regions: FxSet<(usize, u32)> = FxSet::default();
    let (inventory_disabled, taken): (FxSet<&str>, Option<i64>) = match fold {
        Some(Some(inventory)) => (
            inventory
                .keys
                .iter()
                .filter(|k| k.state.as_deref().is_some_and(|s| s != "Enabled"))
                .map(|k| k.arn.as_str())
                .collect(),
            Some(inventory.taken),
        ),
        _ => (FxSet::default(), None),
    };
    // Per key: whether it may be disabled; its cryptographic calls since its last other
    // event (or the inventory's time), and the last of them kept.
    let mut disabled: Vec<bool> = key_ids
        .texts
        .iter()
        .map(|arn| arn.is_some_and(|a| inventory_disabled.contains(a)))
        .collect();
    let mut since_break = vec![0usize; key_count];
    let mut carrier: Vec<Option<usize>> = vec![None; key_count];
    let mut folded: FxMap<usize, u32> = FxMap::default();
    let mut before_inventory = taken.is_some();
    for &row in &order {
        if before_inventory && taken.is_some_and(|t| times[row] > t) {
            // The inventory is laid over the views here: runs of calls end.
            before_inventory = false;
            since_break.iter_mut().for_each(|n| *n = 0);
            carrier.iter_mut().for_each(|c| *c = None);
        }
        let name_id = name_of[row];
        let ok = errors.get(row).is_none();
        let key_id = key_of[row] as usize;
        let principal_id = principal_of[row];
        if is_call(row) && principal_id != 0 && key_id != 0 {
            let next = groups.len();
            let index = *group_of
                .entry((principal_id, key_id as u32, name_id))
                .or_insert(next);
            if index == next {
                groups.push(Group {
                    first_row: row,
                    principal_account: None,
                    key_account: None,
                    calls: 0,
                    errors: 0,
                    first: times[row],
                    // As the `usage` view counts: the latest call, and not before 1970.
                    last: 0,
                    last_success: None,
                    evidence: Vec::new(),
                });
            }
            let group = &mut groups[index];
            if group.principal_account.is_none() && principal_accounts.get(row).is_some() {
                group.principal_account = Some(row);
            }
            if group.key_account.is_none() && key_accounts.get(row).is_some() {
                group.key_account = Some(row);
            }
            if ok {
                group.calls += 1;
                group.last_success = Some(times[row]);
            } else {
                group.errors += 1;
            }
            group.first = group.first.min(times[row]);
            group.last = group.last.max(times[row]);
            if ip_of[row] != 0 {
                group_ips.insert((index, ip_of[row]));
            }
            if region_of[row] != 0 {
                group_regions.insert((index, region_of[row]));
            }
            if group.evidence.len() < MAX_ROW_EVIDENCE {
                group.evidence.push(row);
                keep[row] = true;
            }
        }
        if !crypto_call(row) {
            keep[row] = true;
            if key_id == 0 {
                continue;
            }
            since_break[key_id] = 0;
            carrier[key_id] = None;
            if ok {
                match names.get(row).unwrap_or_default() {
                    "DisableKey" | "ScheduleKeyDeletion" | "CancelKeyDeletion" => {
                        disabled[key_id] = true;
                    }
                    "CreateKey" | "ReplicateKey" => {
                        disabled[key_id] |= created_disabled(responses.get(row));
                    }
                    "EnableKey" | "DeleteKey" => {
                        disabled[key_id] =
                            inventory_disabled.contains(keys.get(row).unwrap_or_default());
                    }
                    _ => {}
                }
            }
            continue;
        }
        if key_id == 0 || !disabled[key_id] {
            continue;
        }
        // A call while the key may be disabled: the first `USE_EVIDENCE` after the key's last
        // other event are kept (the `keys` view's evidence); the others are counted by the
        // last call kept before them.
        match carrier[key_id] {
            Some(kept) if !keep[row] && since_break[key_id] >= USE_EVIDENCE => {
                *folded.entry(kept).or_default() += 1;
            }
            _ => {
                keep[row] = true;
                carrier[key_id] = Some(row);
            }
        }
        since_break[key_id] += 1;
    }
    let mut totals: FxMap<usize, Box<CallTotals>> = FxMap::default();
    if fold.is_some() {
        let mut ip_count = vec![0i64; groups.len()];
        for (index, _) in &group_ips {
            ip_count[*index] += 1;
        }
        let mut region_count = vec![0i64; groups.len()];
        for (index, _) in &group_regions {
            region_count[*index] += 1;
        }
        for (index, group) in groups.into_iter().enumerate() {
            totals.insert(
                group.first_row,
                Box::new(CallTotals {
                    principal_account: group
                        .principal_account
                        .and_then(|r| principal_accounts.owned(r)),
                    key_account: group.key_account.and_then(|r| key_accounts.owned(r)),
                    calls: group.calls,
                    errors: group.errors,
                    first: group.first,
                    last: group.last,
                    last_success: group.last_success,
                    source_ips: ip_count[index],
                    regions: region_count[index],
                    evidence: group.evidence.into_iter().map(evidence_key).collect(),
                }),
            );
        }
    }

    let key_specs = Texts::of(&frame, KEY_SPEC, &layout)?;
    let key_usages = Texts::of(&frame, KEY_USAGE, &layout)?;
    let origins = Texts::of(&frame, KEY_ORIGIN, &layout)?;
    let managers = Texts::of(&frame, KEY_MANAGER, &layout)?;
    let created = ints(KEY_CREATED_AT)?;
    let valid_to = ints(VALID_TO)?;
    let deletion = ints(DELETION_DATE)?;
    let period = ints(ROTATION_PERIOD_DAYS)?;
    let parse = |column: &JsonTexts<'_>, row: usize| {
        column
            .get(row)
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
    };
    let mut out = Vec::with_capacity(keep.iter().filter(|k| **k).count());
    for row in order.into_iter().filter(|r| keep[*r]) {
        out.push(KmsEvent {
            time: times[row],
            name: names.owned(row).unwrap_or_default(),
            event_type: types.owned(row),
            event_id: ids.owned(row),
            source_file: files.owned(row).unwrap_or_default(),
            source_record: records[row],
            principal: principals.owned(row),
            principal_account: principal_accounts.owned(row),
            key_arn: keys.owned(row),
            key_account: key_accounts.owned(row),
            region: regions.owned(row),
            source_ip: ips.owned(row),
            error_code: errors.owned(row),
            key_spec: key_specs.owned(row),
            key_usage: key_usages.owned(row),
            key_origin: origins.owned(row),
            key_manager: managers.owned(row),
            key_created_at: created[row],
            valid_to: valid_to[row],
            deletion_date: deletion[row],
            rotation_period_days: period[row],
            request: parse(&requests, row),
            response: parse(&responses, row),
            additional: parse(&additionals, row),
            calls: totals.remove(&row),
            folded: folded.get(&row).copied().unwrap_or_default(),
        });
    }
    Ok((out, as_of))
}
