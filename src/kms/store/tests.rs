//! Store tests: what is committed comes back after a reopen, only under the right root key,
//! never in plaintext; records are group-committed, read back for LookupEvents, and
//! delivered to the trail directory with continuing digest chains.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::codec::{StoredGrant, StoredImport, StoredKey};
use super::*;
use crate::kms::audit::{AuditEvent, CallerIdentity};
use crate::kms::dispatch::call;
use crate::kms::engine::clock::{Clock, SimulatedClock, SystemClock};
use crate::kms::engine::{Caller, Engine, EngineConfig};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";

fn root_key() -> RootKey {
    RootKey::from_bytes([0x5a; ROOT_KEY_LEN])
}

fn admin() -> Caller {
    Caller {
        identity: CallerIdentity::iam_user(ACCOUNT, "admin"),
        principal: format!("arn:aws:iam::{ACCOUNT}:user/admin"),
        account: ACCOUNT.into(),
        org_id: None,
        source_ip: "192.0.2.1".into(),
        user_agent: "store-test".into(),
        via_service: None,
    }
}

fn config() -> EngineConfig {
    let admin_policy = json!({ "Version": "2012-10-17", "Statement": [
        { "Effect": "Allow", "Action": "kms:*", "Resource": "*" } ] });
    EngineConfig {
        identity_policies: [(admin().principal, vec![admin_policy.to_string()])].into(),
        ..EngineConfig::default()
    }
}

/// An engine over the store in `dir`, with the state it holds.
fn open_engine(dir: &Path, clock: Arc<dyn Clock>) -> (Arc<Store>, Engine) {
    let (store, state) = Store::open(dir, root_key(), StoreOptions::default()).expect("open");
    let engine =
        Engine::restore(clock, store.sink(), config(), state, store.journal()).expect("engine");
    (store, engine)
}

fn kms(engine: &Engine, name: &str, request: Value) -> Value {
    call(engine, &admin(), REGION, name, request).unwrap_or_else(|err| panic!("{name}: {err}"))
}

/// The state in its stored form, for comparison (key material included).
fn stored_form(state: &State) -> Value {
    let keys: BTreeMap<&String, Value> = state
        .keys
        .iter()
        .map(|(arn, k)| {
            (
                arn,
                serde_json::to_value(StoredKey::from_key(k)).expect("key"),
            )
        })
        .collect();
    let grants: BTreeMap<&String, Value> = state
        .grants
        .iter()
        .map(|(id, g)| {
            (
                id,
                serde_json::to_value(StoredGrant::from_grant(g)).expect("grant"),
            )
        })
        .collect();
    let imports: BTreeMap<&String, Value> = state
        .imports
        .iter()
        .map(|(t, p)| {
            (
                t,
                serde_json::to_value(StoredImport::from_import(p)).expect("import"),
            )
        })
        .collect();
    json!({ "keys": keys, "aliases": state.aliases, "grants": grants, "imports": imports })
}

/// Makes keys of several kinds, aliases, a grant, import parameters, a rotation, tags and a
/// scheduled deletion; returns a ciphertext made under the first key.
fn populate(engine: &Engine) -> (String, String) {
    let sym = kms(
        engine,
        "CreateKey",
        json!({ "Description": "sym", "Tags": [
        { "TagKey": "team", "TagValue": "payments" } ] }),
    );
    let sym_id = sym["KeyMetadata"]["KeyId"].as_str().expect("id").to_owned();
    for spec in [
        json!({ "KeySpec": "RSA_2048", "KeyUsage": "SIGN_VERIFY" }),
        json!({ "KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY" }),
        json!({ "KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC" }),
    ] {
        kms(engine, "CreateKey", spec);
    }
    let external = kms(engine, "CreateKey", json!({ "Origin": "EXTERNAL" }));
    let external_id = external["KeyMetadata"]["KeyId"].as_str().expect("id");
    kms(
        engine,
        "GetParametersForImport",
        json!({ "KeyId": external_id, "WrappingAlgorithm": "RSAES_OAEP_SHA_256",
                "WrappingKeySpec": "RSA_2048" }),
    );
    kms(
        engine,
        "CreateAlias",
        json!({ "AliasName": "alias/app", "TargetKeyId": sym_id }),
    );
    kms(
        engine,
        "CreateGrant",
        json!({ "KeyId": sym_id, "GranteePrincipal": format!("arn:aws:iam::{ACCOUNT}:role/app"),
                "Operations": ["Decrypt"], "Name": "app" }),
    );
    kms(engine, "EnableKeyRotation", json!({ "KeyId": sym_id }));
    let ciphertext = kms(
        engine,
        "Encrypt",
        json!({ "KeyId": "alias/app", "Plaintext": "aGVsbG8=",
                "EncryptionContext": { "purpose": "test" } }),
    )["CiphertextBlob"]
        .as_str()
        .expect("blob")
        .to_owned();
    kms(engine, "RotateKeyOnDemand", json!({ "KeyId": sym_id }));
    let doomed = kms(engine, "CreateKey", json!({}));
    kms(
        engine,
        "ScheduleKeyDeletion",
        json!({ "KeyId": doomed["KeyMetadata"]["KeyId"], "PendingWindowInDays": 7 }),
    );
    (sym_id, ciphertext)
}

#[test]
fn the_state_after_a_reopen_is_the_state_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, engine) = open_engine(dir.path(), Arc::new(SystemClock));
    let (sym_id, ciphertext) = populate(&engine);
    let before = engine.snapshot().expect("snapshot");
    assert_eq!(before.keys.len(), 6);
    assert_eq!(before.imports.len(), 1);
    store.sync().expect("durable");
    drop(engine);
    store.close().expect("close");
    drop(store);

    let (store, engine) = open_engine(dir.path(), Arc::new(SystemClock));
    let after = engine.snapshot().expect("snapshot");
    assert_eq!(stored_form(&after), stored_form(&before));
    // The restored key still decrypts what it encrypted before, and still works.
    let plain = kms(
        &engine,
        "Decrypt",
        json!({ "CiphertextBlob": ciphertext, "EncryptionContext": { "purpose": "test" } }),
    );
    assert_eq!(plain["Plaintext"], "aGVsbG8=");
    let rotations = kms(&engine, "ListKeyRotations", json!({ "KeyId": sym_id }));
    assert_eq!(rotations["Rotations"].as_array().map(Vec::len), Some(1));
    store.sync().expect("durable");
}

#[test]
fn service_events_and_key_deletion_are_stored() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
        .expect("time")
        .with_timezone(&Utc);
    let clock = Arc::new(SimulatedClock::new(start));
    let (store, engine) = open_engine(dir.path(), clock.clone());
    let rotating = kms(&engine, "CreateKey", json!({}));
    let rotating_id = rotating["KeyMetadata"]["KeyId"]
        .as_str()
        .expect("id")
        .to_owned();
    kms(
        &engine,
        "EnableKeyRotation",
        json!({ "KeyId": rotating_id, "RotationPeriodInDays": 90 }),
    );
    let doomed = kms(&engine, "CreateKey", json!({}));
    let doomed_arn = doomed["KeyMetadata"]["Arn"]
        .as_str()
        .expect("arn")
        .to_owned();
    kms(
        &engine,
        "CreateAlias",
        json!({ "AliasName": "alias/doomed", "TargetKeyId": doomed_arn }),
    );
    kms(
        &engine,
        "CreateGrant",
        json!({ "KeyId": doomed_arn, "GranteePrincipal": format!("arn:aws:iam::{ACCOUNT}:role/app"),
                "Operations": ["Encrypt"] }),
    );
    kms(
        &engine,
        "ScheduleKeyDeletion",
        json!({ "KeyId": doomed_arn, "PendingWindowInDays": 7 }),
    );
    clock.advance_to(start + Duration::days(91));
    assert_eq!(engine.run_due().expect("due"), 2);
    let before = engine.snapshot().expect("snapshot");
    assert!(before.aliases.is_empty() && before.grants.is_empty());
    store.sync().expect("durable");
    drop(engine);
    drop(store);

    let (_store, engine) = open_engine(dir.path(), clock);
    let after = engine.snapshot().expect("snapshot");
    assert_eq!(stored_form(&after), stored_form(&before));
    assert_eq!(after.keys.len(), 1);
    let key = after.keys.values().next().expect("key");
    assert_eq!(key.generations.len(), 2, "the automatic rotation is stored");
}

#[test]
fn a_wrong_root_key_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, engine) = open_engine(dir.path(), Arc::new(SystemClock));
    kms(&engine, "CreateKey", json!({}));
    store.sync().expect("durable");
    drop(engine);
    drop(store);
    let err = Store::open(
        dir.path(),
        RootKey::from_bytes([0x33; ROOT_KEY_LEN]),
        StoreOptions::default(),
    )
    .expect_err("wrong key");
    assert!(matches!(err, StoreError::WrongRootKey { .. }), "{err}");
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    // The right key still opens it.
    let (_store, state) =
        Store::open(dir.path(), root_key(), StoreOptions::default()).expect("reopen");
    assert_eq!(state.keys.len(), 1);
}

#[test]
fn a_second_server_on_the_same_data_dir_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_store, _state) =
        Store::open(dir.path(), root_key(), StoreOptions::default()).expect("open");
    let err = Store::open(dir.path(), root_key(), StoreOptions::default()).expect_err("in use");
    assert!(matches!(err, StoreError::InUse { .. }), "{err}");
}

#[test]
fn key_material_is_never_written_in_plaintext() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, engine) = open_engine(dir.path(), Arc::new(SystemClock));
    populate(&engine);
    let state = engine.snapshot().expect("snapshot");
    store.sync().expect("durable");
    drop(engine);
    drop(store);
    let bytes = std::fs::read(dir.path().join(DB_FILE)).expect("db");
    let mut secrets = Vec::new();
    for key in state.keys.values() {
        for generation in &key.generations {
            secrets.push(generation.material.export_for_storage().to_vec());
        }
    }
    for import in state.imports.values() {
        secrets.push(import.wrapping_key.export_for_storage().to_vec());
    }
    assert!(secrets.len() >= 7);
    let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    for secret in &secrets {
        // Any 24-byte stretch of the secret, raw or base64 (as the sealed JSON holds it).
        assert!(
            !contains(&secret[..24]),
            "raw key material in the database file"
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(secret);
        assert!(
            !contains(&b64.as_bytes()[..32]),
            "base64 key material in the database file"
        );
    }
    // Nor the key policies: whole entities are sealed (the records, which name aliases and
    // keys but hold no secrets, are not).
    assert!(!contains(b"\"Statement\""));
}

fn event(time: DateTime<Utc>, n: usize) -> AuditEvent {
    let mut event = AuditEvent::api_call(
        "Encrypt",
        time,
        REGION,
        CallerIdentity::iam_user(ACCOUNT, "app"),
        format!("request-{n}"),
        format!("event-{n:06}"),
    );
    event.source_ip_address = "192.0.2.1".into();
    event.read_only = true;
    event
}

#[test]
fn concurrent_records_are_group_committed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _state) =
        Store::open(dir.path(), root_key(), StoreOptions::default()).expect("open");
    let sink = store.sink();
    let start = Utc::now() - Duration::minutes(1);
    let threads = 8;
    let per_thread = 200;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (store, sink) = (&store, &sink);
            scope.spawn(move || {
                for i in 0..per_thread {
                    let n = t * per_thread + i;
                    sink.record(&event(start + Duration::milliseconds(n as i64), n))
                        .expect("queued");
                    // Each caller waits for its own record, as a server handler does.
                    store.wait(store.ticket()).expect("durable");
                }
            });
        }
    });
    let total = threads * per_thread;
    let position = commit::stored_position(store.database()).expect("position");
    assert_eq!(position, total as u64, "every record has a position");
    // Callers that arrived while a commit ran shared the next one.
    let commits = store
        .shared
        .commits
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        commits < total as u64,
        "{commits} commits for {total} records"
    );
    let (events, next) = store
        .events(start, Utc::now(), None, total + 10, &|_| true)
        .expect("events");
    assert_eq!(events.len(), total);
    assert!(next.is_none());
    assert_eq!(store.undelivered().expect("outbox"), total as u64);
}

#[test]
fn a_failed_store_refuses_everything_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, engine) = open_engine(dir.path(), Arc::new(SystemClock));
    kms(&engine, "CreateKey", json!({}));
    let before = store.ticket();
    store.wait(before).expect("durable");
    store.shared.fail("disk full (simulated)");
    let err = call(&engine, &admin(), REGION, "CreateKey", json!({})).expect_err("refused");
    assert_eq!(err.code(), "KMSInternalException");
    assert!(err.to_string().contains("disk full"), "{err}");
    // What was committed before stays committed; anything later fails.
    store.wait(before).expect("already durable");
    let later = Ticket(before.0 + 1);
    assert!(matches!(store.wait(later), Err(StoreError::Stopped(_))));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    assert!(runtime.block_on(store.durable(later)).is_err());
    runtime.block_on(store.durable(before)).expect("durable");
}

#[test]
fn events_come_newest_first_by_time_range_page_and_filter() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, _state) =
        Store::open(dir.path(), root_key(), StoreOptions::default()).expect("open");
    let sink = store.sink();
    let start = DateTime::parse_from_rfc3339("2026-03-01T10:00:00Z")
        .expect("time")
        .with_timezone(&Utc);
    for n in 0..10 {
        let mut e = event(start + Duration::minutes(n as i64), n);
        if n % 2 == 1 {
            e.event_name = "Decrypt".into();
        }
        sink.record(&e).expect("record");
    }
    store.sync().expect("durable");
    let id = |v: &Box<RawValue>| {
        serde_json::from_str::<Value>(v.get()).expect("json")["eventID"]
            .as_str()
            .expect("id")
            .to_owned()
    };
    // [10:02, 10:07): events 2..=6, newest first, two per page.
    let (from, to) = (start + Duration::minutes(2), start + Duration::minutes(7));
    let (page, next) = store.events(from, to, None, 2, &|_| true).expect("page 1");
    assert_eq!(
        page.iter().map(|(_, v)| id(v)).collect::<Vec<_>>(),
        ["event-000006", "event-000005"]
    );
    let token = next.expect("more").token();
    let cursor = EventCursor::parse(&token).expect("token");
    let (page, next) = store
        .events(from, to, Some(cursor), 2, &|_| true)
        .expect("page 2");
    assert_eq!(
        page.iter().map(|(_, v)| id(v)).collect::<Vec<_>>(),
        ["event-000004", "event-000003"]
    );
    let (page, next) = store.events(from, to, next, 2, &|_| true).expect("page 3");
    assert_eq!(
        page.iter().map(|(_, v)| id(v)).collect::<Vec<_>>(),
        ["event-000002"]
    );
    assert!(next.is_none());
    // A filter on the record.
    let decrypts = |v: &Value| v["eventName"] == "Decrypt";
    let (page, next) = store
        .events(start, start + Duration::hours(1), None, 50, &decrypts)
        .expect("filtered");
    assert_eq!(page.len(), 5);
    assert!(next.is_none());
    assert_eq!(id(&page[0].1), "event-000009");
    // The records are the JSON the trail gets.
    let record: Value = serde_json::from_str(page[0].1.get()).expect("json");
    assert_eq!(record["eventSource"], "kms.amazonaws.com");
    assert_eq!(record["recipientAccountId"], ACCOUNT);
    assert!(EventCursor::parse("nonsense").is_none());
}

/// Every record in the `.json.gz` files under `dir`, by eventID.
fn trail_records(dir: &Path) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.expect("walk");
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json.gz") || name.contains("CloudTrail-Digest") {
            continue;
        }
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(entry.path()).expect("open")),
            &mut text,
        )
        .expect("gunzip");
        let file: Value = serde_json::from_str(&text).expect("json");
        for record in file["Records"].as_array().expect("Records") {
            out.insert(
                record["eventID"].as_str().expect("id").to_owned(),
                record.clone(),
            );
        }
    }
    out
}

#[test]
fn the_outbox_is_delivered_to_the_trail_and_digests_chain_across_restarts() {
    use crate::trail::digest::{parse_digest, validate, DigestRecord, LogRecord};
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let trail = dir.path().join("trail");
    let start = Utc::now() - Duration::hours(3);
    let mut n = 0;
    for run in 0..2 {
        let (store, _state) =
            Store::open(&data, root_key(), StoreOptions::default()).expect("open");
        let delivery = store
            .start_delivery(trail.clone(), std::time::Duration::from_secs(3600))
            .expect("delivery");
        let sink = store.sink();
        for _ in 0..30 {
            // Spread over the hours so that digests fall due.
            sink.record(&event(start + Duration::minutes(4 * n as i64), n))
                .expect("record");
            n += 1;
            if n % 10 == 0 {
                store.sync().expect("durable");
                let status = delivery.deliver_now().expect("delivered");
                assert_eq!(
                    store.undelivered().expect("outbox"),
                    0,
                    "run {run}: {status:?}"
                );
            }
        }
        delivery.stop().expect("stopped");
    }
    let records = trail_records(&trail);
    assert_eq!(records.len(), n);
    assert_eq!(
        records.keys().next().map(String::as_str),
        Some("event-000000")
    );
    // The digests of both runs form one chain listing every log file.
    let mut digests = Vec::new();
    let mut logs = Vec::new();
    for entry in walkdir::WalkDir::new(&trail) {
        let entry = entry.expect("walk");
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".json.gz") {
            continue;
        }
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(entry.path()).expect("open")),
            &mut bytes,
        )
        .expect("gunzip");
        let sha = crate::kms::audit::digest_writer::sha256_hex(&bytes);
        let source = entry.path().display().to_string();
        if name.contains("CloudTrail-Digest") {
            digests.push(DigestRecord {
                digest: parse_digest(&source, &bytes).expect("digest"),
                source,
                content_sha256: sha,
            });
        } else {
            logs.push(LogRecord {
                source,
                content_sha256: Some(sha),
            });
        }
    }
    assert!(digests.len() >= 2, "{} digests", digests.len());
    let chain_starts = digests
        .iter()
        .filter(|d| d.digest.previous_object.is_none())
        .count();
    assert_eq!(chain_starts, 1, "one chain across the restart");
    let validation = validate(&digests, &logs);
    assert!(validation.problems.is_empty(), "{:#?}", validation.problems);
}

#[test]
fn events_past_retention_are_pruned_at_delivery() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = StoreOptions {
        retention: Duration::days(1),
        ..StoreOptions::default()
    };
    let (store, _state) = Store::open(dir.path(), root_key(), options).expect("open");
    let sink = store.sink();
    let now = Utc::now();
    sink.record(&event(now - Duration::days(3), 0))
        .expect("old");
    sink.record(&event(now - Duration::minutes(5), 1))
        .expect("recent");
    store.sync().expect("durable");
    let all = |s: &Store| {
        s.events(now - Duration::days(10), now, None, 10, &|_| true)
            .expect("events")
            .0
            .len()
    };
    assert_eq!(all(&store), 2);
    let delivery = store
        .start_delivery(
            dir.path().join("trail"),
            std::time::Duration::from_secs(3600),
        )
        .expect("delivery");
    delivery.deliver_now().expect("delivered");
    assert_eq!(all(&store), 1);
    delivery.stop().expect("stopped");
}

/// A journal that refuses everything.
struct RefusingJournal;

impl crate::kms::engine::Journal for RefusingJournal {
    fn persist(
        &self,
        _changes: &[crate::kms::engine::state::Change],
    ) -> Result<(), crate::kms::audit::SinkError> {
        Err(crate::kms::audit::SinkError::Refused)
    }
}

#[test]
fn a_journal_that_refuses_fails_the_call_and_changes_nothing() {
    let sink = Arc::new(crate::kms::audit::MemorySink::default());
    let engine = Engine::restore(
        Arc::new(SystemClock),
        sink.clone(),
        config(),
        State::default(),
        Arc::new(RefusingJournal),
    )
    .expect("engine");
    let err = call(&engine, &admin(), REGION, "CreateKey", json!({})).expect_err("refused");
    assert_eq!(err.code(), "KMSInternalException");
    assert!(engine.snapshot().expect("snapshot").keys.is_empty());
    // Calls that change nothing do not need the journal.
    let random = kms(&engine, "GenerateRandom", json!({ "NumberOfBytes": 16 }));
    assert!(random["Plaintext"].is_string());
    // Nor does seeding get past it.
    let dir = tempfile::tempdir().expect("tempdir");
    let key = {
        let (store, engine) = open_engine(dir.path(), Arc::new(SystemClock));
        kms(&engine, "CreateKey", json!({}));
        let snapshot = engine.snapshot().expect("snapshot");
        store.sync().expect("durable");
        snapshot.keys.into_values().next().expect("key")
    };
    let err = engine
        .install(vec![crate::kms::engine::state::Change::PutKey(Box::new(
            key,
        ))])
        .expect_err("refused");
    assert_eq!(err.kind.code(), "KMSInternalException");
    assert!(engine.snapshot().expect("snapshot").keys.is_empty());
}
