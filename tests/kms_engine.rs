//! The KMS engine end to end in process: operations, authorization, lifecycle on a
//! simulated clock, and one audited CloudTrail record per call.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use kms_audit::kms::audit::{AuditSink, CallerIdentity, FailingSink, MemorySink};
use kms_audit::kms::engine::clock::SimulatedClock;
use kms_audit::kms::engine::error::KmsErrorKind;
use kms_audit::kms::engine::ops::blob::Blob;
use kms_audit::kms::engine::ops::cancel_key_deletion::{self, CancelKeyDeletion};
use kms_audit::kms::engine::ops::create_alias::{self, CreateAlias};
use kms_audit::kms::engine::ops::create_key::{self, CreateKey};
use kms_audit::kms::engine::ops::decrypt::{self, Decrypt};
use kms_audit::kms::engine::ops::describe_key::{self, DescribeKey};
use kms_audit::kms::engine::ops::encrypt::{self, Encrypt};
use kms_audit::kms::engine::ops::key_state::{self, DisableKey};
use kms_audit::kms::engine::ops::rotation::{
    EnableKeyRotation, EnableRequest, GetKeyRotationStatus, KeyRequest,
};
use kms_audit::kms::engine::ops::schedule_key_deletion::{self, ScheduleKeyDeletion};
use kms_audit::kms::engine::{Caller, Engine, EngineConfig};

const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T09:00:00Z")
        .expect("date")
        .with_timezone(&Utc)
}

fn admin() -> Caller {
    Caller {
        identity: CallerIdentity::iam_user(ACCOUNT, "admin"),
        principal: format!("arn:aws:iam::{ACCOUNT}:user/admin"),
        account: ACCOUNT.into(),
        org_id: None,
        source_ip: "192.0.2.10".into(),
        user_agent: "aws-cli/2.15.0".into(),
        via_service: None,
    }
}

fn app() -> Caller {
    Caller {
        identity: CallerIdentity::iam_user(ACCOUNT, "app"),
        principal: format!("arn:aws:iam::{ACCOUNT}:user/app"),
        ..admin()
    }
}

/// `admin` may do anything in KMS; `app` has no identity policy.
fn engine(sink: Arc<dyn AuditSink>) -> (Engine, Arc<SimulatedClock>) {
    let clock = Arc::new(SimulatedClock::new(start()));
    let mut identity_policies = BTreeMap::new();
    identity_policies.insert(
        format!("arn:aws:iam::{ACCOUNT}:user/admin"),
        vec![r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#.to_owned()],
    );
    let config = EngineConfig {
        identity_policies,
        seed: Some(7),
    };
    let engine = Engine::new(clock.clone(), sink, config).expect("engine");
    (engine, clock)
}

fn create(engine: &Engine) -> String {
    engine
        .call::<CreateKey>(&admin(), REGION, create_key::Request::default())
        .expect("create")
        .key_metadata
        .arn
}

fn encrypt(
    engine: &Engine,
    caller: &Caller,
    key: &str,
    text: &[u8],
) -> Result<Vec<u8>, kms_audit::kms::engine::error::KmsError> {
    let context = BTreeMap::from([("purpose".to_owned(), "test".to_owned())]);
    engine
        .call::<Encrypt>(
            caller,
            REGION,
            encrypt::Request {
                key_id: key.into(),
                plaintext: Blob::new(text.to_vec()),
                encryption_context: Some(context),
                grant_tokens: vec![],
                encryption_algorithm: None,
            },
        )
        .map(|r| r.ciphertext_blob.bytes().to_vec())
}

fn decrypt(
    engine: &Engine,
    blob: &[u8],
    purpose: &str,
) -> Result<Vec<u8>, kms_audit::kms::engine::error::KmsError> {
    engine
        .call::<Decrypt>(
            &admin(),
            REGION,
            decrypt::Request {
                ciphertext_blob: Blob::new(blob.to_vec()),
                encryption_context: Some(BTreeMap::from([(
                    "purpose".to_owned(),
                    purpose.to_owned(),
                )])),
                grant_tokens: vec![],
                key_id: None,
                encryption_algorithm: None,
            },
        )
        .map(|r| r.plaintext.bytes().to_vec())
}

#[test]
fn encrypt_decrypt_round_trip_with_one_record_per_call() {
    let sink = Arc::new(MemorySink::default());
    let (engine, _) = engine(sink.clone());
    let key = create(&engine);
    assert!(key.starts_with(&format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/")));
    let blob = encrypt(&engine, &admin(), &key, b"secret").expect("encrypt");
    assert_eq!(decrypt(&engine, &blob, "test").expect("decrypt"), b"secret");
    let wrong = decrypt(&engine, &blob, "other").expect_err("context is bound");
    assert_eq!(wrong.kind, KmsErrorKind::InvalidCiphertext);
    let names: Vec<String> = sink.events().iter().map(|e| e.event_name.clone()).collect();
    assert_eq!(names, ["CreateKey", "Encrypt", "Decrypt", "Decrypt"]);
    let failed = &sink.events()[3];
    assert_eq!(
        failed.error_code.as_deref(),
        Some("InvalidCiphertextException")
    );
}

#[test]
fn callers_without_permission_are_denied_and_audited() {
    let sink = Arc::new(MemorySink::default());
    let (engine, _) = engine(sink.clone());
    let key = create(&engine);
    let denied = encrypt(&engine, &app(), &key, b"x").expect_err("no identity policy");
    assert_eq!(denied.kind, KmsErrorKind::AccessDenied);
    assert!(
        denied
            .message
            .contains("arn:aws:iam::111122223333:user/app")
            && denied.message.contains("kms:Encrypt"),
        "{}",
        denied.message
    );
    let last = sink.events().last().cloned().expect("recorded");
    assert_eq!(last.error_code.as_deref(), Some("AccessDeniedException"));
}

#[test]
fn rotation_on_the_clock_keeps_old_ciphertext_readable() {
    let sink = Arc::new(MemorySink::default());
    let (engine, clock) = engine(sink.clone());
    let key = create(&engine);
    let old = encrypt(&engine, &admin(), &key, b"before").expect("encrypt");
    engine
        .call::<EnableKeyRotation>(
            &admin(),
            REGION,
            EnableRequest {
                key_id: key.clone(),
                rotation_period_in_days: Some(90),
            },
        )
        .expect("enable");
    clock.advance(Duration::days(91));
    assert_eq!(engine.run_due().expect("due"), 1);
    let events = sink.events();
    let rotate = events.last().expect("event");
    assert_eq!(rotate.event_name, "RotateKey");
    assert_eq!(
        decrypt(&engine, &old, "test").expect("old ciphertext"),
        b"before"
    );
    let status = engine
        .call::<GetKeyRotationStatus>(
            &admin(),
            REGION,
            KeyRequest {
                key_id: key.clone(),
            },
        )
        .expect("status");
    assert!(status.key_rotation_enabled);
    assert_eq!(status.rotation_period_in_days, Some(90));
    let state = engine.snapshot().expect("state");
    assert_eq!(state.keys[&key].generations.len(), 2);
    // Nothing more is due until the next period ends.
    clock.advance(Duration::days(30));
    assert_eq!(engine.run_due().expect("due"), 0);
}

#[test]
fn deletion_waits_out_its_window() {
    let sink = Arc::new(MemorySink::default());
    let (engine, clock) = engine(sink.clone());
    let key = create(&engine);
    let too_short = engine
        .call::<ScheduleKeyDeletion>(
            &admin(),
            REGION,
            schedule_key_deletion::Request {
                key_id: key.clone(),
                pending_window_in_days: Some(5),
            },
        )
        .expect_err("7 to 30 days");
    assert_eq!(too_short.kind, KmsErrorKind::Validation);
    let scheduled = engine
        .call::<ScheduleKeyDeletion>(
            &admin(),
            REGION,
            schedule_key_deletion::Request {
                key_id: key.clone(),
                pending_window_in_days: Some(7),
            },
        )
        .expect("schedule");
    assert_eq!(scheduled.key_state, "PendingDeletion");
    let in_use = encrypt(&engine, &admin(), &key, b"x").expect_err("pending deletion");
    assert_eq!(in_use.kind, KmsErrorKind::InvalidState);
    engine
        .call::<CancelKeyDeletion>(
            &admin(),
            REGION,
            cancel_key_deletion::Request {
                key_id: key.clone(),
            },
        )
        .expect("cancel");
    let disabled = encrypt(&engine, &admin(), &key, b"x").expect_err("cancel leaves it disabled");
    assert_eq!(disabled.kind, KmsErrorKind::Disabled);
    engine
        .call::<ScheduleKeyDeletion>(
            &admin(),
            REGION,
            schedule_key_deletion::Request {
                key_id: key.clone(),
                pending_window_in_days: None,
            },
        )
        .expect("schedule again");
    clock.advance(Duration::days(29));
    assert_eq!(engine.run_due().expect("not yet"), 0);
    clock.advance(Duration::days(2));
    assert_eq!(engine.run_due().expect("due"), 1);
    assert_eq!(sink.events().last().expect("event").event_name, "DeleteKey");
    let gone = engine
        .call::<DescribeKey>(
            &admin(),
            REGION,
            describe_key::Request {
                key_id: key,
                grant_tokens: vec![],
            },
        )
        .expect_err("deleted");
    assert_eq!(gone.kind, KmsErrorKind::NotFound);
}

#[test]
fn aliases_name_keys_everywhere() {
    let sink = Arc::new(MemorySink::default());
    let (engine, _) = engine(sink.clone());
    let key = create(&engine);
    engine
        .call::<CreateAlias>(
            &admin(),
            REGION,
            create_alias::Request {
                alias_name: "alias/app".into(),
                target_key_id: key.clone(),
            },
        )
        .expect("alias");
    let created = sink.events().last().cloned().expect("CreateAlias record");
    let resources: Vec<&str> = created.resources.iter().map(|r| r.arn.as_str()).collect();
    assert_eq!(
        resources,
        [key.as_str(), "arn:aws:kms:us-east-1:111122223333:alias/app"],
        "key, then alias"
    );
    let blob = encrypt(&engine, &admin(), "alias/app", b"via alias").expect("encrypt by alias");
    assert_eq!(
        decrypt(&engine, &blob, "test").expect("decrypt"),
        b"via alias"
    );
    let again = engine
        .call::<CreateAlias>(
            &admin(),
            REGION,
            create_alias::Request {
                alias_name: "alias/app".into(),
                target_key_id: key.clone(),
            },
        )
        .expect_err("exists");
    assert_eq!(again.kind, KmsErrorKind::AlreadyExists);
    engine
        .call::<DisableKey>(
            &admin(),
            REGION,
            key_state::Request {
                key_id: "alias/app".into(),
            },
        )
        .expect("disable by alias");
    assert_eq!(
        encrypt(&engine, &admin(), &key, b"x")
            .expect_err("disabled")
            .kind,
        KmsErrorKind::Disabled
    );
}

#[test]
fn a_call_that_cannot_be_audited_changes_nothing() {
    let (engine, _) = engine(Arc::new(FailingSink));
    let err = engine
        .call::<CreateKey>(&admin(), REGION, create_key::Request::default())
        .expect_err("sink fails");
    assert_eq!(err.kind, KmsErrorKind::Internal);
    assert!(engine.snapshot().expect("state").keys.is_empty());
}
