//! Management operations of the KMS engine end to end: listing keys and aliases, alias
//! updates and deletion, descriptions, key policies, on-demand rotation and its history,
//! and tags, each with its CloudTrail record.

use chrono::Duration;
use kms_audit::kms::audit::{AuditEvent, MemorySink};
use kms_audit::kms::engine::error::KmsErrorKind;
use kms_audit::kms::engine::ops::blob::Blob;
use kms_audit::kms::engine::ops::create_key;
use kms_audit::kms::engine::ops::decrypt::{self, Decrypt};
use kms_audit::kms::engine::ops::delete_alias::{self, DeleteAlias};
use kms_audit::kms::engine::ops::describe_key::{self, DescribeKey};
use kms_audit::kms::engine::ops::encrypt::{self, Encrypt};
use kms_audit::kms::engine::ops::key_policy::{self, GetKeyPolicy, ListKeyPolicies, PutKeyPolicy};
use kms_audit::kms::engine::ops::key_state::{self, DisableKey};
use kms_audit::kms::engine::ops::list_aliases::{self, ListAliases};
use kms_audit::kms::engine::ops::list_key_rotations::{self, ListKeyRotations};
use kms_audit::kms::engine::ops::list_keys::{self, ListKeys};
use kms_audit::kms::engine::ops::rotate_key_on_demand::{self, RotateKeyOnDemand};
use kms_audit::kms::engine::ops::tags::{self, ListResourceTags, TagResource, UntagResource};
use kms_audit::kms::engine::ops::update_alias::{self, UpdateAlias};
use kms_audit::kms::engine::ops::update_key_description::{self, UpdateKeyDescription};
use kms_audit::kms::engine::ops::Tag;
use serde_json::{json, Value};

use crate::common;
use crate::common::{
    admin, app, assert_no_secrets, epoch, id_of, kind, missing_key, setup, start, Kms, ACCOUNT,
    REGION,
};

/// `admin` may do anything in KMS; `app` has no identity policy.
type Env = Kms<MemorySink>;

fn env() -> Env {
    setup().memory()
}

/// The current key material of the key `key` names (an alias too), as `DescribeKey` says.
fn current_material(env: &Env, key: &str) -> String {
    env.describe(key).current_key_material_id.expect("material")
}

/// The common record checks (name, readOnly, no error, resources are exactly `keys`), and no
/// additionalEventData.
fn check_record(event: &AuditEvent, name: &str, read_only: bool, keys: &[&str]) {
    common::check_record(event, name, read_only, keys);
    assert_eq!(
        event.additional_event_data, None,
        "{name} has no additionalEventData"
    );
}

#[test]
fn list_keys_pages_through_the_callers_account_and_region() {
    let env = env();
    let mut keys = [env.symmetric(), env.symmetric(), env.symmetric()];
    keys.sort();
    env.create_with("eu-west-1", create_key::Request::default());
    let first = env
        .engine
        .call::<ListKeys>(
            &admin(),
            REGION,
            list_keys::Request {
                limit: Some(2),
                marker: None,
            },
        )
        .expect("page 1");
    check_record(&env.last(), "ListKeys", true, &[]);
    assert_eq!(env.last().request_parameters, json!({ "limit": 2 }));
    assert_eq!(env.last().response_elements, None);
    assert!(first.truncated);
    assert_eq!(
        first
            .keys
            .iter()
            .map(|k| k.key_arn.clone())
            .collect::<Vec<_>>(),
        keys[..2]
    );
    assert_eq!(first.keys[0].key_id, id_of(&keys[0]));
    let marker = first.next_marker.clone().expect("marker");
    let second = env
        .engine
        .call::<ListKeys>(
            &admin(),
            REGION,
            list_keys::Request {
                limit: None,
                marker: Some(marker.clone()),
            },
        )
        .expect("page 2");
    assert_eq!(env.last().request_parameters, json!({ "marker": marker }));
    assert!(!second.truncated && second.next_marker.is_none());
    assert_eq!(
        second
            .keys
            .iter()
            .map(|k| k.key_arn.clone())
            .collect::<Vec<_>>(),
        keys[2..]
    );
    let all = env
        .engine
        .call::<ListKeys>(&admin(), REGION, list_keys::Request::default())
        .expect("all");
    assert_eq!(all.keys.len(), 3, "the eu-west-1 key is not listed");
    assert_eq!(env.last().request_parameters, Value::Null);
    assert_eq!(
        serde_json::to_value(&all).expect("json")["Truncated"],
        json!(false)
    );

    let bad = env.engine.call::<ListKeys>(
        &admin(),
        REGION,
        list_keys::Request {
            limit: None,
            marker: Some("nope".into()),
        },
    );
    assert_eq!(kind(bad), KmsErrorKind::InvalidMarker);
    assert_eq!(
        env.last().error_code.as_deref(),
        Some("InvalidMarkerException")
    );
    for limit in [0, 1001] {
        let err = env
            .engine
            .call::<ListKeys>(
                &admin(),
                REGION,
                list_keys::Request {
                    limit: Some(limit),
                    marker: None,
                },
            )
            .expect_err("limit");
        assert_eq!(err.kind, KmsErrorKind::Validation);
        assert!(
            err.message.starts_with(&format!(
                "1 validation error detected: Value '{limit}' at 'limit'"
            )),
            "{}",
            err.message
        );
    }
    env.assert_no_material(&env.sink.events()[4], &keys[0]);
}

#[test]
fn update_key_description_changes_the_description() {
    let env = env();
    let key = env.symmetric();
    let request = |key_id: &str, description: &str| update_key_description::Request {
        key_id: key_id.into(),
        description: description.into(),
    };
    env.engine
        .call::<UpdateKeyDescription>(&admin(), REGION, request(&id_of(&key), "payments"))
        .expect("update");
    let event = env.last();
    check_record(&event, "UpdateKeyDescription", false, &[&key]);
    assert_eq!(
        event.request_parameters,
        json!({ "keyId": id_of(&key), "description": "payments" })
    );
    assert_eq!(event.response_elements, Some(json!({ "keyId": key })));
    env.assert_no_material(&event, &key);
    let described = env
        .engine
        .call::<DescribeKey>(
            &admin(),
            REGION,
            describe_key::Request {
                key_id: key.clone(),
                grant_tokens: vec![],
            },
        )
        .expect("describe");
    assert_eq!(described.key_metadata.description, "payments");

    env.alias("alias/pay", &key);
    assert_eq!(
        kind(
            env.engine
                .call::<UpdateKeyDescription>(&admin(), REGION, request("alias/pay", "x"))
        ),
        KmsErrorKind::NotFound
    );
    assert_eq!(
        kind(env.engine.call::<UpdateKeyDescription>(
            &admin(),
            REGION,
            request(&"x".repeat(2049), "x")
        )),
        KmsErrorKind::Validation
    );
    let missing = missing_key();
    assert_eq!(
        kind(
            env.engine
                .call::<UpdateKeyDescription>(&admin(), REGION, request(&missing, "x"))
        ),
        KmsErrorKind::NotFound
    );
    assert_eq!(
        kind(env.engine.call::<UpdateKeyDescription>(
            &admin(),
            REGION,
            request(&key, &"d".repeat(8193))
        )),
        KmsErrorKind::Validation
    );
    assert_eq!(
        kind(
            env.engine
                .call::<UpdateKeyDescription>(&app(), REGION, request(&key, "x"))
        ),
        KmsErrorKind::AccessDenied
    );
    assert_eq!(
        env.last().error_code.as_deref(),
        Some("AccessDeniedException")
    );
    env.schedule_deletion(&key, None);
    assert_eq!(
        kind(
            env.engine
                .call::<UpdateKeyDescription>(&admin(), REGION, request(&key, "x"))
        ),
        KmsErrorKind::InvalidState
    );
    assert_eq!(
        env.last().error_code.as_deref(),
        Some("KMSInvalidStateException")
    );
    assert_eq!(env.last().response_elements, None);
}

#[test]
fn update_alias_moves_an_alias_between_compatible_keys() {
    let env = env();
    let (one, two) = (env.symmetric(), env.symmetric());
    env.alias("alias/app", &one);
    let update = |alias: &str, target: &str| update_alias::Request {
        alias_name: alias.into(),
        target_key_id: target.into(),
    };
    env.engine
        .call::<UpdateAlias>(&admin(), REGION, update("alias/app", &id_of(&two)))
        .expect("update");
    let event = env.last();
    let alias = format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/app");
    check_record(&event, "UpdateAlias", false, &[&alias, &two]);
    assert_eq!(
        event.request_parameters,
        json!({ "aliasName": "alias/app", "targetKeyId": id_of(&two) })
    );
    assert_eq!(event.response_elements, None);
    env.assert_no_material(&event, &two);
    assert_eq!(
        current_material(&env, "alias/app"),
        current_material(&env, &two)
    );

    let hmac = env.create_key("HMAC_256", "GENERATE_VERIFY_MAC");
    assert_eq!(
        kind(
            env.engine
                .call::<UpdateAlias>(&admin(), REGION, update("alias/app", &hmac))
        ),
        KmsErrorKind::Validation
    );
    assert_eq!(
        kind(
            env.engine
                .call::<UpdateAlias>(&admin(), REGION, update("alias/none", &one))
        ),
        KmsErrorKind::NotFound
    );
    assert_eq!(
        kind(
            env.engine
                .call::<UpdateAlias>(&admin(), REGION, update("alias/aws/s3", &one))
        ),
        KmsErrorKind::InvalidAliasName
    );
    assert_eq!(
        kind(
            env.engine
                .call::<UpdateAlias>(&admin(), REGION, update("alias/app", "alias/app"))
        ),
        KmsErrorKind::NotFound
    );
    assert_eq!(
        kind(
            env.engine
                .call::<UpdateAlias>(&app(), REGION, update("alias/app", &one))
        ),
        KmsErrorKind::AccessDenied
    );
    env.schedule_deletion(&one, None);
    assert_eq!(
        kind(
            env.engine
                .call::<UpdateAlias>(&admin(), REGION, update("alias/app", &one))
        ),
        KmsErrorKind::InvalidState
    );
    assert_eq!(
        env.last().error_code.as_deref(),
        Some("KMSInvalidStateException")
    );
}

#[test]
fn list_and_delete_aliases() {
    let env = env();
    let (one, two) = (env.symmetric(), env.symmetric());
    env.alias("alias/b", &one);
    env.alias("alias/a", &one);
    env.alias("alias/c", &two);
    let list =
        |key_id: Option<&str>, limit: Option<i64>, marker: Option<&str>| list_aliases::Request {
            key_id: key_id.map(Into::into),
            limit,
            marker: marker.map(Into::into),
        };
    let all = env
        .engine
        .call::<ListAliases>(&admin(), REGION, list(None, None, None))
        .expect("list");
    check_record(&env.last(), "ListAliases", true, &[]);
    assert_eq!(env.last().request_parameters, Value::Null);
    let names: Vec<&str> = all.aliases.iter().map(|a| a.alias_name.as_str()).collect();
    assert_eq!(names, ["alias/a", "alias/b", "alias/c"]);
    assert_eq!(
        all.aliases[0].alias_arn,
        format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/a")
    );
    assert_eq!(all.aliases[0].target_key_id, id_of(&one));
    let wire = serde_json::to_value(&all).expect("json");
    assert_eq!(
        wire["Aliases"][2],
        json!({ "AliasName": "alias/c", "AliasArn": format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/c"), "TargetKeyId": id_of(&two), "CreationDate": epoch(start()), "LastUpdatedDate": epoch(start()) })
    );

    let of_one = env
        .engine
        .call::<ListAliases>(&admin(), REGION, list(Some(&one), Some(1), None))
        .expect("for one key");
    assert_eq!(
        env.last().request_parameters,
        json!({ "keyId": one, "limit": 1 })
    );
    assert_eq!((of_one.aliases.len(), of_one.truncated), (1, true));
    let rest = env
        .engine
        .call::<ListAliases>(
            &admin(),
            REGION,
            list(Some(&id_of(&one)), None, of_one.next_marker.as_deref()),
        )
        .expect("page 2");
    assert_eq!(
        rest.aliases
            .iter()
            .map(|a| a.alias_name.as_str())
            .collect::<Vec<_>>(),
        ["alias/b"]
    );
    assert_eq!(
        kind(
            env.engine
                .call::<ListAliases>(&admin(), REGION, list(None, None, Some("alias/zzz")))
        ),
        KmsErrorKind::InvalidMarker
    );
    assert_eq!(
        kind(
            env.engine
                .call::<ListAliases>(&admin(), REGION, list(None, Some(0), None))
        ),
        KmsErrorKind::Validation
    );
    let missing = "00000000-0000-4000-8000-000000000000";
    assert_eq!(
        kind(
            env.engine
                .call::<ListAliases>(&admin(), REGION, list(Some(missing), None, None))
        ),
        KmsErrorKind::NotFound
    );

    let delete = |name: &str| delete_alias::Request {
        alias_name: name.into(),
    };
    assert_eq!(
        kind(
            env.engine
                .call::<DeleteAlias>(&app(), REGION, delete("alias/a"))
        ),
        KmsErrorKind::AccessDenied
    );
    env.engine
        .call::<DeleteAlias>(&admin(), REGION, delete("alias/a"))
        .expect("delete");
    let event = env.last();
    let alias = format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/a");
    check_record(&event, "DeleteAlias", false, &[&alias, &one]);
    assert_eq!(event.request_parameters, json!({ "aliasName": "alias/a" }));
    assert_eq!(event.response_elements, None);
    env.assert_no_material(&event, &one);
    assert_eq!(
        kind(
            env.engine
                .call::<DeleteAlias>(&admin(), REGION, delete("alias/a"))
        ),
        KmsErrorKind::NotFound
    );
    assert_eq!(env.last().error_code.as_deref(), Some("NotFoundException"));
    assert_eq!(
        kind(
            env.engine
                .call::<DeleteAlias>(&admin(), REGION, delete("bad"))
        ),
        KmsErrorKind::InvalidAliasName
    );
    // Allowed while the key is pending deletion; the key itself stays.
    env.schedule_deletion(&two, None);
    env.engine
        .call::<DeleteAlias>(&admin(), REGION, delete("alias/c"))
        .expect("delete on pending key");
    let left = env
        .engine
        .call::<ListAliases>(&admin(), REGION, list(None, None, None))
        .expect("list");
    assert_eq!(
        left.aliases
            .iter()
            .map(|a| a.alias_name.as_str())
            .collect::<Vec<_>>(),
        ["alias/b"]
    );
    assert!(env
        .engine
        .snapshot()
        .expect("state")
        .keys
        .contains_key(&two));
}

#[test]
fn key_policies_round_trip_exactly_and_are_not_logged_on_read() {
    let env = env();
    let key = env.symmetric();
    let get = |name: Option<&str>| key_policy::GetRequest {
        key_id: key.clone(),
        policy_name: name.map(Into::into),
    };
    let policy = env
        .engine
        .call::<GetKeyPolicy>(&admin(), REGION, get(Some("default")))
        .expect("get");
    let default = kms_audit::kms::policy::default_policy::default_key_policy(ACCOUNT, "aws");
    assert_eq!(policy.policy, default);
    assert_eq!(policy.policy_name, "default");
    let event = env.last();
    check_record(&event, "GetKeyPolicy", true, &[&key]);
    assert_eq!(
        event.request_parameters,
        json!({ "keyId": key, "policyName": "default" })
    );
    assert_eq!(event.response_elements, None);
    assert_no_secrets(
        &event,
        &[default.as_bytes(), b"Enable IAM User Permissions"],
    );
    assert_eq!(
        kind(
            env.engine
                .call::<GetKeyPolicy>(&admin(), REGION, get(Some("other")))
        ),
        KmsErrorKind::NotFound
    );
    assert_eq!(
        kind(
            env.engine
                .call::<GetKeyPolicy>(&admin(), REGION, get(Some("bad name")))
        ),
        KmsErrorKind::Validation
    );
    assert_eq!(
        kind(env.engine.call::<GetKeyPolicy>(&app(), REGION, get(None))),
        KmsErrorKind::AccessDenied
    );

    // Odd spacing survives: GetKeyPolicy returns the stored text byte for byte.
    let text = format!(
        "{{ \"Version\":\"2012-10-17\",\n\t\"Statement\":[{{\"Sid\":\"root\",\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"arn:aws:iam::{ACCOUNT}:root\"}},\"Action\":\"kms:*\",\"Resource\":\"*\"}},\n  {{\"Sid\":\"app\",\"Effect\":\"Allow\",\"Principal\":{{\"AWS\":\"arn:aws:iam::{ACCOUNT}:user/app\"}},\"Action\":\"kms:GetKeyPolicy\",\"Resource\":\"*\"}}] }}"
    );
    let put = |policy: &str, bypass: Option<bool>| key_policy::PutRequest {
        key_id: id_of(&key),
        policy_name: Some("default".into()),
        policy: policy.into(),
        bypass_policy_lockout_safety_check: bypass,
    };
    env.engine
        .call::<PutKeyPolicy>(&admin(), REGION, put(&text, None))
        .expect("put");
    let event = env.last();
    check_record(&event, "PutKeyPolicy", false, &[&key]);
    assert_eq!(
        event.request_parameters,
        json!({ "keyId": id_of(&key), "policyName": "default", "policy": text, "bypassPolicyLockoutSafetyCheck": false })
    );
    assert_eq!(event.response_elements, Some(json!({ "keyId": key })));
    env.assert_no_material(&event, &key);
    assert_eq!(
        env.engine
            .call::<GetKeyPolicy>(&app(), REGION, get(None))
            .expect("app may read now")
            .policy,
        text
    );

    let malformed = env
        .engine
        .call::<PutKeyPolicy>(&admin(), REGION, put("{not json", None))
        .expect_err("malformed");
    assert_eq!(malformed.kind, KmsErrorKind::MalformedPolicyDocument);
    assert_eq!(
        env.last().error_code.as_deref(),
        Some("MalformedPolicyDocumentException")
    );
    let no_principal = r#"{"Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;
    assert_eq!(
        kind(
            env.engine
                .call::<PutKeyPolicy>(&admin(), REGION, put(no_principal, None))
        ),
        KmsErrorKind::MalformedPolicyDocument
    );
    assert_eq!(
        kind(
            env.engine
                .call::<PutKeyPolicy>(&admin(), REGION, put("", None))
        ),
        KmsErrorKind::Validation
    );
    let mut wrong_name = put(&text, None);
    wrong_name.policy_name = Some("custom".into());
    assert_eq!(
        kind(
            env.engine
                .call::<PutKeyPolicy>(&admin(), REGION, wrong_name)
        ),
        KmsErrorKind::NotFound
    );
    let mut by_alias = put(&text, None);
    env.alias("alias/p", &key);
    by_alias.key_id = "alias/p".into();
    assert_eq!(
        kind(env.engine.call::<PutKeyPolicy>(&admin(), REGION, by_alias)),
        KmsErrorKind::NotFound
    );
    assert_eq!(
        kind(
            env.engine
                .call::<PutKeyPolicy>(&app(), REGION, put(&text, None))
        ),
        KmsErrorKind::AccessDenied
    );

    // Lockout: a policy that leaves the caller (and its account) out is refused...
    let bob_only = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111122223333:user/bob"},"Action":"kms:*","Resource":"*"}]}"#;
    let lockout = env
        .engine
        .call::<PutKeyPolicy>(&admin(), REGION, put(bob_only, None))
        .expect_err("lockout");
    assert_eq!(lockout.kind, KmsErrorKind::MalformedPolicyDocument);
    assert_eq!(
        lockout.message,
        "The new key policy will not allow you to update the key policy in the future."
    );
    // ...unless the check is bypassed, after which the admin is locked out.
    env.engine
        .call::<PutKeyPolicy>(&admin(), REGION, put(bob_only, Some(true)))
        .expect("bypass");
    assert_eq!(
        env.last().request_parameters["bypassPolicyLockoutSafetyCheck"],
        json!(true)
    );
    assert_eq!(
        kind(env.engine.call::<GetKeyPolicy>(&admin(), REGION, get(None))),
        KmsErrorKind::AccessDenied
    );
}

#[test]
fn list_key_policies_is_always_default() {
    let env = env();
    let key = env.symmetric();
    let list = |limit: Option<i64>, marker: Option<&str>| key_policy::ListRequest {
        key_id: key.clone(),
        limit,
        marker: marker.map(Into::into),
    };
    let names = env
        .engine
        .call::<ListKeyPolicies>(&admin(), REGION, list(None, None))
        .expect("list");
    assert_eq!(
        serde_json::to_value(&names).expect("json"),
        json!({ "PolicyNames": ["default"], "Truncated": false })
    );
    let event = env.last();
    check_record(&event, "ListKeyPolicies", true, &[&key]);
    assert_eq!(event.request_parameters, json!({ "keyId": key }));
    assert_eq!(event.response_elements, None);
    env.assert_no_material(&event, &key);
    assert_eq!(
        kind(
            env.engine
                .call::<ListKeyPolicies>(&admin(), REGION, list(Some(0), None))
        ),
        KmsErrorKind::Validation
    );
    assert_eq!(
        kind(
            env.engine
                .call::<ListKeyPolicies>(&admin(), REGION, list(None, Some("x")))
        ),
        KmsErrorKind::InvalidMarker
    );
    assert_eq!(
        kind(
            env.engine
                .call::<ListKeyPolicies>(&app(), REGION, list(None, None))
        ),
        KmsErrorKind::AccessDenied
    );
    env.schedule_deletion(&key, None);
    env.engine
        .call::<ListKeyPolicies>(&admin(), REGION, list(Some(5), None))
        .expect("any key state");
}

fn encrypt(env: &Env, key: &str, text: &[u8]) -> Vec<u8> {
    let request = encrypt::Request {
        key_id: key.into(),
        plaintext: Blob::new(text.to_vec()),
        encryption_context: None,
        grant_tokens: vec![],
        encryption_algorithm: None,
    };
    env.engine
        .call::<Encrypt>(&admin(), REGION, request)
        .expect("encrypt")
        .ciphertext_blob
        .bytes()
        .to_vec()
}

fn decrypt(env: &Env, blob: &[u8]) -> Vec<u8> {
    let request = decrypt::Request {
        ciphertext_blob: Blob::new(blob.to_vec()),
        encryption_context: None,
        grant_tokens: vec![],
        key_id: None,
        encryption_algorithm: None,
    };
    env.engine
        .call::<Decrypt>(&admin(), REGION, request)
        .expect("decrypt")
        .plaintext
        .bytes()
        .to_vec()
}

#[test]
fn rotate_key_on_demand_switches_material_and_keeps_old_ciphertext() {
    let env = env();
    let key = env.symmetric();
    let before = current_material(&env, &key);
    let old = encrypt(&env, &key, b"top secret before");
    let rotate = |key_id: &str| rotate_key_on_demand::Request {
        key_id: key_id.into(),
    };
    let response = env
        .engine
        .call::<RotateKeyOnDemand>(&admin(), REGION, rotate(&key))
        .expect("rotate");
    assert_eq!(response.key_id, id_of(&key));
    // The call's own record comes first, then the rotation's service event.
    let events = env.sink.events();
    let event = events[events.len() - 2].clone();
    check_record(&event, "RotateKeyOnDemand", false, &[&key]);
    assert_eq!(event.request_parameters, json!({ "keyId": key }));
    assert_eq!(
        event.response_elements,
        Some(json!({ "keyId": id_of(&key) }))
    );
    let materials = env.material_bytes(&key);
    assert_eq!(materials.len(), 2);
    env.assert_no_material(&event, &key);
    // The rotation itself follows as a RotateKey service event, as KMS logs it.
    let rotations: Vec<_> = env
        .sink
        .events()
        .into_iter()
        .filter(|e| e.event_name == "RotateKey")
        .collect();
    assert_eq!(rotations.len(), 1);
    let details = rotations[0].service_event_details.clone().expect("details");
    assert_eq!(details["rotationType"], json!("ON_DEMAND"));
    assert_eq!(details["keyId"], json!(id_of(&key)));
    assert_eq!(details["previousKeyMaterialId"], json!(before));

    let after = current_material(&env, &key);
    assert_ne!(before, after);
    encrypt(&env, &key, b"after");
    let encrypt_event = env.last();
    assert_eq!(
        encrypt_event.additional_event_data,
        Some(json!({ "keyMaterialId": after }))
    );
    assert_eq!(decrypt(&env, &old), b"top secret before");

    // 25 on-demand rotations per key, then LimitExceededException.
    for _ in 1..25 {
        env.engine
            .call::<RotateKeyOnDemand>(&admin(), REGION, rotate(&id_of(&key)))
            .expect("rotate again");
    }
    let limit = env
        .engine
        .call::<RotateKeyOnDemand>(&admin(), REGION, rotate(&key))
        .expect_err("26th");
    assert_eq!(limit.kind, KmsErrorKind::LimitExceeded);
    assert_eq!(
        env.last().error_code.as_deref(),
        Some("LimitExceededException")
    );
    assert_eq!(env.material_bytes(&key).len(), 26);

    let hmac = env.create_key("HMAC_256", "GENERATE_VERIFY_MAC");
    assert_eq!(
        kind(
            env.engine
                .call::<RotateKeyOnDemand>(&admin(), REGION, rotate(&hmac))
        ),
        KmsErrorKind::UnsupportedOperation
    );
    let rsa = env.create_key("RSA_2048", "ENCRYPT_DECRYPT");
    assert_eq!(
        kind(
            env.engine
                .call::<RotateKeyOnDemand>(&admin(), REGION, rotate(&rsa))
        ),
        KmsErrorKind::UnsupportedOperation
    );
    let external = env.external();
    assert_eq!(
        kind(
            env.engine
                .call::<RotateKeyOnDemand>(&admin(), REGION, rotate(&external))
        ),
        KmsErrorKind::InvalidState
    );
    let other = env.symmetric();
    assert_eq!(
        kind(
            env.engine
                .call::<RotateKeyOnDemand>(&app(), REGION, rotate(&other))
        ),
        KmsErrorKind::AccessDenied
    );
    env.alias("alias/rot", &other);
    assert_eq!(
        kind(
            env.engine
                .call::<RotateKeyOnDemand>(&admin(), REGION, rotate("alias/rot"))
        ),
        KmsErrorKind::NotFound
    );
    env.engine
        .call::<DisableKey>(
            &admin(),
            REGION,
            key_state::Request {
                key_id: other.clone(),
            },
        )
        .expect("disable");
    assert_eq!(
        kind(
            env.engine
                .call::<RotateKeyOnDemand>(&admin(), REGION, rotate(&other))
        ),
        KmsErrorKind::Disabled
    );
}

#[test]
fn list_key_rotations_reads_the_generations() {
    let env = env();
    let key = env.symmetric();
    let list = |include: Option<&str>, limit: Option<i64>, marker: Option<&str>| {
        list_key_rotations::Request {
            key_id: key.clone(),
            include_key_material: include.map(Into::into),
            limit,
            marker: marker.map(Into::into),
        }
    };
    let none = env
        .engine
        .call::<ListKeyRotations>(&admin(), REGION, list(None, None, None))
        .expect("no rotations");
    assert_eq!(
        serde_json::to_value(&none).expect("json"),
        json!({ "Rotations": [], "Truncated": false })
    );
    let original = current_material(&env, &key);
    env.clock.advance(Duration::days(1));
    env.engine
        .call::<RotateKeyOnDemand>(
            &admin(),
            REGION,
            rotate_key_on_demand::Request {
                key_id: key.clone(),
            },
        )
        .expect("rotate");
    let on_demand = current_material(&env, &key);
    env.enable_rotation(&key, 90);
    env.clock.advance(Duration::days(91));
    assert_eq!(env.engine.run_due().expect("due"), 1);
    let automatic = current_material(&env, &key);

    let rotations = env
        .engine
        .call::<ListKeyRotations>(&admin(), REGION, list(None, None, None))
        .expect("list");
    let event = env.last();
    check_record(&event, "ListKeyRotations", true, &[&key]);
    assert_eq!(event.request_parameters, json!({ "keyId": key }));
    assert_eq!(event.response_elements, None);
    env.assert_no_material(&event, &key);
    let wire = serde_json::to_value(&rotations).expect("json");
    let rotated_at = (start() + Duration::days(1)).timestamp();
    assert_eq!(
        wire["Rotations"][0],
        json!({ "KeyId": id_of(&key), "KeyMaterialId": on_demand, "KeyMaterialState": "NON_CURRENT", "RotationDate": rotated_at as f64, "RotationType": "ON_DEMAND" })
    );
    assert_eq!(wire["Rotations"][1]["KeyMaterialId"], json!(automatic));
    assert_eq!(wire["Rotations"][1]["KeyMaterialState"], json!("CURRENT"));
    assert_eq!(wire["Rotations"][1]["RotationType"], json!("AUTOMATIC"));
    assert_eq!(wire["Truncated"], json!(false));

    let all = env
        .engine
        .call::<ListKeyRotations>(
            &admin(),
            REGION,
            list(Some("ALL_KEY_MATERIAL"), Some(1), None),
        )
        .expect("all");
    assert_eq!(
        env.last().request_parameters,
        json!({ "keyId": key, "includeKeyMaterial": "ALL_KEY_MATERIAL", "limit": 1 })
    );
    assert_eq!(all.rotations[0].key_material_id, original);
    assert_eq!(
        (all.rotations[0].rotation_type.clone(), all.truncated),
        (None, true)
    );
    let rest = env
        .engine
        .call::<ListKeyRotations>(
            &admin(),
            REGION,
            list(Some("ALL_KEY_MATERIAL"), None, all.next_marker.as_deref()),
        )
        .expect("rest");
    assert_eq!(
        rest.rotations
            .iter()
            .map(|r| r.key_material_id.clone())
            .collect::<Vec<_>>(),
        [on_demand, automatic]
    );

    assert_eq!(
        kind(
            env.engine
                .call::<ListKeyRotations>(&admin(), REGION, list(Some("SOME"), None, None))
        ),
        KmsErrorKind::Validation
    );
    assert_eq!(
        kind(
            env.engine
                .call::<ListKeyRotations>(&admin(), REGION, list(None, Some(1001), None))
        ),
        KmsErrorKind::Validation
    );
    assert_eq!(
        kind(
            env.engine
                .call::<ListKeyRotations>(&admin(), REGION, list(None, None, Some("zz")))
        ),
        KmsErrorKind::InvalidMarker
    );
    assert_eq!(
        kind(
            env.engine
                .call::<ListKeyRotations>(&app(), REGION, list(None, None, None))
        ),
        KmsErrorKind::AccessDenied
    );
    let rsa = env.create_key("RSA_2048", "ENCRYPT_DECRYPT");
    let mut asymmetric = list(None, None, None);
    asymmetric.key_id = rsa;
    assert_eq!(
        kind(
            env.engine
                .call::<ListKeyRotations>(&admin(), REGION, asymmetric)
        ),
        KmsErrorKind::UnsupportedOperation
    );
    env.schedule_deletion(&key, None);
    assert_eq!(
        kind(
            env.engine
                .call::<ListKeyRotations>(&admin(), REGION, list(None, None, None))
        ),
        KmsErrorKind::InvalidState
    );
}

fn tag(key: &str, value: &str) -> Tag {
    Tag {
        tag_key: key.into(),
        tag_value: value.into(),
    }
}

#[test]
fn tags_are_added_replaced_listed_and_removed() {
    let env = env();
    let key = env.symmetric();
    let add = |tags: Vec<Tag>| tags::TagRequest {
        key_id: key.clone(),
        tags,
    };
    env.engine
        .call::<TagResource>(
            &admin(),
            REGION,
            add(vec![tag("Team", "pay"), tag("Env", "prod")]),
        )
        .expect("tag");
    let event = env.last();
    check_record(&event, "TagResource", false, &[&key]);
    assert_eq!(
        event.request_parameters,
        json!({ "keyId": key, "tags": [{ "tagKey": "Team", "tagValue": "pay" }, { "tagKey": "Env", "tagValue": "prod" }] })
    );
    assert_eq!(event.response_elements, Some(json!({ "keyId": key })));
    env.assert_no_material(&event, &key);
    env.engine
        .call::<TagResource>(&admin(), REGION, add(vec![tag("Team", "billing")]))
        .expect("replace");

    let list = |limit: Option<i64>, marker: Option<&str>| tags::ListRequest {
        key_id: key.clone(),
        limit,
        marker: marker.map(Into::into),
    };
    let listed = env
        .engine
        .call::<ListResourceTags>(&admin(), REGION, list(None, None))
        .expect("list");
    check_record(&env.last(), "ListResourceTags", true, &[&key]);
    assert_eq!(env.last().request_parameters, json!({ "keyId": key }));
    assert_eq!(env.last().response_elements, None);
    assert_eq!(
        serde_json::to_value(&listed).expect("json"),
        json!({ "Tags": [{ "TagKey": "Env", "TagValue": "prod" }, { "TagKey": "Team", "TagValue": "billing" }], "Truncated": false })
    );
    let page = env
        .engine
        .call::<ListResourceTags>(&admin(), REGION, list(Some(1), None))
        .expect("page");
    assert_eq!(
        (page.tags.clone(), page.next_marker.is_some()),
        (vec![tag("Env", "prod")], true)
    );
    let rest = env
        .engine
        .call::<ListResourceTags>(&admin(), REGION, list(Some(1), page.next_marker.as_deref()))
        .expect("rest");
    assert_eq!(rest.tags, vec![tag("Team", "billing")]);
    assert_eq!(
        kind(
            env.engine
                .call::<ListResourceTags>(&admin(), REGION, list(Some(51), None))
        ),
        KmsErrorKind::Validation
    );
    assert_eq!(
        kind(
            env.engine
                .call::<ListResourceTags>(&admin(), REGION, list(None, Some("nope")))
        ),
        KmsErrorKind::InvalidMarker
    );

    env.engine
        .call::<UntagResource>(
            &admin(),
            REGION,
            tags::UntagRequest {
                key_id: key.clone(),
                tag_keys: vec!["Team".into(), "Absent".into()],
            },
        )
        .expect("untag");
    let event = env.last();
    check_record(&event, "UntagResource", false, &[&key]);
    assert_eq!(
        event.request_parameters,
        json!({ "keyId": key, "tagKeys": ["Team", "Absent"] })
    );
    assert_eq!(event.response_elements, Some(json!({ "keyId": key })));
    let listed = env
        .engine
        .call::<ListResourceTags>(&admin(), REGION, list(None, None))
        .expect("list");
    assert_eq!(listed.tags, vec![tag("Env", "prod")]);

    // Invalid tags.
    let reserved = env
        .engine
        .call::<TagResource>(&admin(), REGION, add(vec![tag("aws:owner", "x")]))
        .expect_err("reserved");
    assert_eq!(reserved.kind, KmsErrorKind::Tag);
    assert_eq!(env.last().error_code.as_deref(), Some("TagException"));
    let empty = env
        .engine
        .call::<TagResource>(&admin(), REGION, add(vec![tag("ok", "1"), tag("", "x")]))
        .expect_err("empty key");
    assert_eq!(empty.kind, KmsErrorKind::Validation);
    assert!(
        empty.message.contains("at 'tags.2.member.tagKey'"),
        "{}",
        empty.message
    );
    assert_eq!(
        kind(env.engine.call::<TagResource>(
            &admin(),
            REGION,
            add(vec![tag(&"k".repeat(129), "x")])
        )),
        KmsErrorKind::Validation
    );
    assert_eq!(
        kind(env.engine.call::<TagResource>(
            &admin(),
            REGION,
            add(vec![tag("k", &"v".repeat(257))])
        )),
        KmsErrorKind::Validation
    );
    assert_eq!(
        kind(env.engine.call::<TagResource>(
            &admin(),
            REGION,
            add(vec![tag("d", "1"), tag("d", "2")])
        )),
        KmsErrorKind::Tag
    );
    let fifty: Vec<Tag> = (0..50).map(|i| tag(&format!("t{i:02}"), "v")).collect();
    assert_eq!(
        kind(
            env.engine
                .call::<TagResource>(&admin(), REGION, add(fifty.clone()))
        ),
        KmsErrorKind::Tag,
        "Env + 50 is 51"
    );
    env.engine
        .call::<UntagResource>(
            &admin(),
            REGION,
            tags::UntagRequest {
                key_id: key.clone(),
                tag_keys: vec!["Env".into()],
            },
        )
        .expect("untag");
    env.engine
        .call::<TagResource>(&admin(), REGION, add(fifty))
        .expect("exactly 50");
    assert_eq!(
        kind(env.engine.call::<UntagResource>(
            &admin(),
            REGION,
            tags::UntagRequest {
                key_id: key.clone(),
                tag_keys: vec![String::new()]
            }
        )),
        KmsErrorKind::Validation
    );

    // Access, aliases and key state.
    assert_eq!(
        kind(
            env.engine
                .call::<TagResource>(&app(), REGION, add(vec![tag("a", "b")]))
        ),
        KmsErrorKind::AccessDenied
    );
    assert_eq!(
        kind(
            env.engine
                .call::<ListResourceTags>(&app(), REGION, list(None, None))
        ),
        KmsErrorKind::AccessDenied
    );
    env.alias("alias/t", &key);
    let by_alias = tags::TagRequest {
        key_id: "alias/t".into(),
        tags: vec![tag("a", "b")],
    };
    assert_eq!(
        kind(env.engine.call::<TagResource>(&admin(), REGION, by_alias)),
        KmsErrorKind::NotFound
    );
    env.schedule_deletion(&key, None);
    assert_eq!(
        kind(
            env.engine
                .call::<TagResource>(&admin(), REGION, add(vec![tag("a", "b")]))
        ),
        KmsErrorKind::InvalidState
    );
    assert_eq!(
        kind(env.engine.call::<UntagResource>(
            &admin(),
            REGION,
            tags::UntagRequest {
                key_id: key.clone(),
                tag_keys: vec!["t01".into()]
            }
        )),
        KmsErrorKind::InvalidState
    );
    assert_eq!(
        env.engine
            .call::<ListResourceTags>(&admin(), REGION, list(Some(50), None))
            .expect("listable")
            .tags
            .len(),
        50
    );
}
