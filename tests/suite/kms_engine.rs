//! The KMS engine end to end in process: operations, authorization, lifecycle on a
//! simulated clock, and one audited CloudTrail record per call.

use std::sync::Arc;

use chrono::Duration;
use kms_audit::kms::audit::FailingSink;
use kms_audit::kms::engine::error::KmsErrorKind;
use kms_audit::kms::engine::ops::cancel_key_deletion::{self, CancelKeyDeletion};
use kms_audit::kms::engine::ops::create_alias::{self, CreateAlias};
use kms_audit::kms::engine::ops::create_key::{self, CreateKey};
use kms_audit::kms::engine::ops::describe_key::{self, DescribeKey};
use kms_audit::kms::engine::ops::key_state::{self, DisableKey};
use kms_audit::kms::engine::ops::rotation::{GetKeyRotationStatus, KeyRequest};
use kms_audit::kms::engine::ops::schedule_key_deletion::{self, ScheduleKeyDeletion};

use kms_audit::kms::engine::ops::generate_random::{self, GenerateRandom};
use kms_audit::kms::engine::ops::list_aliases::{self, ListAliases};
use kms_audit::kms::engine::ops::list_keys::{self, ListKeys};
use kms_audit::kms::engine::ops::Tag;

use crate::common::{
    account_root, admin, app, assert_error, setup, user, user_arn, ACCOUNT, REGION,
};

#[test]
fn encrypt_decrypt_round_trip_with_one_record_per_call() {
    let kms = setup().seed(7).memory();
    let key = kms.symmetric();
    assert!(key.starts_with(&format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/")));
    let blob = kms
        .encrypt_for(&admin(), &key, b"secret", "test")
        .expect("encrypt");
    assert_eq!(
        kms.decrypt_for(&admin(), &blob, "test").expect("decrypt"),
        b"secret"
    );
    let wrong = kms
        .decrypt_for(&admin(), &blob, "other")
        .expect_err("context is bound");
    assert_eq!(wrong.kind, KmsErrorKind::InvalidCiphertext);
    assert_eq!(kms.names(), ["CreateKey", "Encrypt", "Decrypt", "Decrypt"]);
    assert_error(&kms.sink.events()[3], "InvalidCiphertextException");
}

#[test]
fn callers_without_permission_are_denied_and_audited() {
    let kms = setup().seed(7).memory();
    let key = kms.symmetric();
    let denied = kms
        .encrypt_for(&app(), &key, b"x", "test")
        .expect_err("no identity policy");
    assert_eq!(denied.kind, KmsErrorKind::AccessDenied);
    assert!(
        denied
            .message
            .contains("arn:aws:iam::111122223333:user/app")
            && denied.message.contains("kms:Encrypt"),
        "{}",
        denied.message
    );
    assert_error(&kms.last(), "AccessDeniedException");
}

/// `CreateKey`, `ListKeys`, `ListAliases`, `GenerateRandom` and `ListRetirableGrants` act on
/// the account (resource `*`): IAM alone decides, so the caller's identity policies must
/// allow them (the account root always may), and a denied `CreateKey` makes no key.
#[test]
fn account_level_operations_need_an_identity_policy() {
    let only_symmetric = r#"{"Version":"2012-10-17","Statement":[
        {"Effect":"Allow","Action":"kms:CreateKey","Resource":"*",
         "Condition":{"StringEquals":{"kms:KeySpec":"SYMMETRIC_DEFAULT"}}},
        {"Effect":"Allow","Action":"kms:ListKeys","Resource":"*"}]}"#;
    let kms = setup()
        .policy(&user_arn("creator"), only_symmetric)
        .memory();
    let app_denied = kms
        .call::<CreateKey>(&app(), create_key::Request::default())
        .expect_err("app has no identity policy");
    assert_eq!(app_denied.kind, KmsErrorKind::AccessDenied);
    assert_eq!(
        app_denied.message,
        "User: arn:aws:iam::111122223333:user/app is not authorized to perform: kms:CreateKey \
         on resource: * because no identity-based policy allows the kms:CreateKey action"
    );
    assert_error(&kms.last(), "AccessDeniedException");
    assert!(kms.last_record()["responseElements"].is_null());
    for (name, result) in [
        (
            "ListKeys",
            kms.call::<ListKeys>(&app(), list_keys::Request::default())
                .map(drop),
        ),
        (
            "ListAliases",
            kms.call::<ListAliases>(&app(), list_aliases::Request::default())
                .map(drop),
        ),
        (
            "GenerateRandom",
            kms.call::<GenerateRandom>(
                &app(),
                generate_random::Request {
                    number_of_bytes: Some(16),
                    ..Default::default()
                },
            )
            .map(drop),
        ),
    ] {
        let err = result.expect_err(name);
        assert_eq!(err.kind, KmsErrorKind::AccessDenied, "{name}");
        assert!(
            err.message.contains(&format!("kms:{name} on resource: *")),
            "{name}: {}",
            err.message
        );
    }

    // The identity policy's conditions see the request's key spec.
    let creator = user("creator");
    kms.call::<CreateKey>(&creator, create_key::Request::default())
        .expect("a symmetric key is allowed");
    let rsa = kms
        .call::<CreateKey>(
            &creator,
            create_key::Request {
                key_spec: Some("RSA_2048".into()),
                key_usage: Some("SIGN_VERIFY".into()),
                ..Default::default()
            },
        )
        .expect_err("only symmetric keys");
    assert_eq!(rsa.kind, KmsErrorKind::AccessDenied);
    // Tags need kms:TagResource too, named without a resource as AWS does.
    let tagged = kms
        .call::<CreateKey>(
            &creator,
            create_key::Request {
                tags: vec![Tag {
                    tag_key: "team".into(),
                    tag_value: "payments".into(),
                }],
                ..Default::default()
            },
        )
        .expect_err("kms:TagResource is not allowed");
    assert_eq!(
        tagged.message,
        "User: arn:aws:iam::111122223333:user/creator is not authorized to perform: \
         kms:TagResource because no identity-based policy allows the kms:TagResource action"
    );
    let listed = kms
        .call::<ListKeys>(&creator, list_keys::Request::default())
        .expect("creator may list keys");
    assert_eq!(
        listed.keys.len(),
        1,
        "only the one allowed CreateKey made a key"
    );

    // The account root needs no identity policy.
    let root = kms
        .call::<CreateKey>(&account_root(), create_key::Request::default())
        .expect("root creates keys");
    assert!(root.key_metadata.arn.contains(ACCOUNT));
}

#[test]
fn rotation_on_the_clock_keeps_old_ciphertext_readable() {
    let kms = setup().seed(7).memory();
    let (engine, clock) = (&kms.engine, &kms.clock);
    let key = kms.symmetric();
    let old = kms
        .encrypt_for(&admin(), &key, b"before", "test")
        .expect("encrypt");
    kms.enable_rotation(&key, 90);
    clock.advance(Duration::days(91));
    assert_eq!(engine.run_due().expect("due"), 1);
    assert_eq!(kms.last().event_name, "RotateKey");
    assert_eq!(
        kms.decrypt_for(&admin(), &old, "test")
            .expect("old ciphertext"),
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
    let kms = setup().seed(7).memory();
    let (engine, clock) = (&kms.engine, &kms.clock);
    let key = kms.symmetric();
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
    let scheduled = kms.schedule_deletion(&key, Some(7));
    assert_eq!(scheduled.key_state, "PendingDeletion");
    let in_use = kms
        .encrypt_for(&admin(), &key, b"x", "test")
        .expect_err("pending deletion");
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
    let disabled = kms
        .encrypt_for(&admin(), &key, b"x", "test")
        .expect_err("cancel leaves it disabled");
    assert_eq!(disabled.kind, KmsErrorKind::Disabled);
    kms.schedule_deletion(&key, None);
    clock.advance(Duration::days(29));
    assert_eq!(engine.run_due().expect("not yet"), 0);
    clock.advance(Duration::days(2));
    assert_eq!(engine.run_due().expect("due"), 1);
    assert_eq!(kms.last().event_name, "DeleteKey");
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
    let kms = setup().seed(7).memory();
    let engine = &kms.engine;
    let key = kms.symmetric();
    kms.alias("alias/app", &key);
    let created = kms.last();
    let resources: Vec<&str> = created.resources.iter().map(|r| r.arn.as_str()).collect();
    assert_eq!(
        resources,
        [key.as_str(), "arn:aws:kms:us-east-1:111122223333:alias/app"],
        "key, then alias"
    );
    let blob = kms
        .encrypt_for(&admin(), "alias/app", b"via alias", "test")
        .expect("encrypt by alias");
    assert_eq!(
        kms.decrypt_for(&admin(), &blob, "test").expect("decrypt"),
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
        kms.encrypt_for(&admin(), &key, b"x", "test")
            .expect_err("disabled")
            .kind,
        KmsErrorKind::Disabled
    );
}

#[test]
fn a_call_that_cannot_be_audited_changes_nothing() {
    let kms = setup().seed(7).with_sink(Arc::new(FailingSink));
    let engine = &kms.engine;
    let err = engine
        .call::<CreateKey>(&admin(), REGION, create_key::Request::default())
        .expect_err("sink fails");
    assert_eq!(err.kind, KmsErrorKind::Internal);
    assert!(engine.snapshot().expect("state").keys.is_empty());
}
