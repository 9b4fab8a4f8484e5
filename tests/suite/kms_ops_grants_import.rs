//! Grants (`CreateGrant`, `ListGrants`, `ListRetirableGrants`, `RetireGrant`, `RevokeGrant`)
//! and imported key material (`GetParametersForImport`, `ImportKeyMaterial`,
//! `DeleteImportedKeyMaterial`) through the engine: behaviour, errors, and the CloudTrail
//! record of every call.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::Duration;
use kms_audit::kms::audit::MemorySink;
use kms_audit::kms::engine::error::KmsErrorKind;
use kms_audit::kms::engine::ops::blob::Blob;
use kms_audit::kms::engine::ops::create_grant::{self, Constraints, CreateGrant};
use kms_audit::kms::engine::ops::describe_key::{self, DescribeKey};
use kms_audit::kms::engine::ops::import_key_material::{
    DeleteImportedKeyMaterial, GetParametersForImport, ImportKeyMaterial, ImportRequest,
    KeyRequest, ParametersRequest,
};
use kms_audit::kms::engine::ops::list_grants::{
    self, ListGrants, ListRetirableGrants, RetirableRequest,
};
use kms_audit::kms::engine::ops::retire_grant::{
    RetireGrant, RetireRequest, RevokeGrant, RevokeRequest,
};
use kms_audit::kms::engine::{Caller, Engine};
use serde_json::{json, Value};

use crate::common;
use crate::common::{
    account_root, admin, app, assert_no_secrets, check_record, epoch, last, missing_key, setup,
    start, user, user_arn, wrap, Kms, ACCOUNT, REGION,
};

/// `admin` may do anything in KMS; `granter` may create grants only for AWS resources and only
/// for `Decrypt`; `app` and `ops` have no identity policy.
fn kms() -> Kms<MemorySink> {
    setup()
        .policy(
            &user_arn("granter"),
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:CreateGrant","Resource":"*",
            "Condition":{"Bool":{"kms:GrantIsForAWSResource":"true"},
                         "ForAllValues:StringEquals":{"kms:GrantOperations":["Decrypt"]}}}]}"#,
        )
        .memory()
}

fn context(purpose: &str) -> BTreeMap<String, String> {
    common::context(&[("purpose", purpose)])
}

const PLAINTEXT: &[u8] = b"grant-protected plaintext";

fn grant_request(key: &str, grantee: &str, operations: &[&str]) -> create_grant::Request {
    create_grant::Request {
        key_id: key.into(),
        grantee_principal: grantee.into(),
        operations: operations.iter().map(|s| (*s).to_owned()).collect(),
        ..create_grant::Request::default()
    }
}

#[test]
fn a_grant_authorizes_the_grantee_within_its_operations_and_constraints_until_revoked() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let key = kms.symmetric();
    let denied = kms
        .encrypt_for(&app(), &key, PLAINTEXT, "test")
        .expect_err("no permission yet");
    assert_eq!(denied.kind, KmsErrorKind::AccessDenied);

    let mut request = grant_request(&key, &user_arn("app"), &["Encrypt", "Decrypt"]);
    request.constraints = Some(Constraints {
        encryption_context_subset: Some(context("test")),
        encryption_context_equals: None,
    });
    request.retiring_principal = Some(user_arn("ops"));
    let created = engine
        .call::<CreateGrant>(&admin(), REGION, request)
        .expect("create grant");
    assert_eq!(created.grant_id.len(), 64);
    assert!(created
        .grant_id
        .chars()
        .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
    assert!(!created.grant_token.is_empty());
    let record = last(&sink);
    check_record(&record, "CreateGrant", false, &[&key]);
    assert_eq!(
        record.request_parameters,
        json!({
            "keyId": key,
            "granteePrincipal": user_arn("app"),
            "retiringPrincipal": user_arn("ops"),
            "operations": ["Encrypt", "Decrypt"],
            "constraints": {"encryptionContextSubset": {"purpose": "test"}},
        })
    );
    assert_eq!(
        record.response_elements,
        Some(json!({ "grantId": created.grant_id, "keyId": key }))
    );
    assert_no_secrets(&record, &[created.grant_token.as_bytes()]);

    // Within the grant: the operations it lists, with the context it requires.
    let blob = kms
        .encrypt_for(&app(), &key, PLAINTEXT, "test")
        .expect("granted encrypt");
    let record = last(&sink);
    check_record(&record, "Encrypt", true, &[&key]);
    assert!(record
        .additional_event_data
        .as_ref()
        .and_then(|d| d.get("keyMaterialId"))
        .is_some());
    assert_eq!(
        kms.decrypt_for(&app(), &blob, "test")
            .expect("granted decrypt"),
        PLAINTEXT
    );
    // Outside it: another context, an operation it does not list.
    let wrong_context = kms
        .encrypt_for(&app(), &key, PLAINTEXT, "other")
        .expect_err("constraint");
    assert_eq!(wrong_context.kind, KmsErrorKind::AccessDenied);
    assert_eq!(
        last(&sink).error_code.as_deref(),
        Some("AccessDeniedException")
    );
    let describe = engine
        .call::<DescribeKey>(
            &app(),
            REGION,
            describe_key::Request {
                key_id: key.clone(),
                grant_tokens: vec![],
            },
        )
        .expect_err("DescribeKey is not granted");
    assert_eq!(describe.kind, KmsErrorKind::AccessDenied);

    engine
        .call::<RevokeGrant>(
            &admin(),
            REGION,
            RevokeRequest {
                key_id: key.clone(),
                grant_id: created.grant_id.clone(),
            },
        )
        .expect("revoke");
    let record = last(&sink);
    check_record(&record, "RevokeGrant", false, &[&key]);
    assert_eq!(
        record.request_parameters,
        json!({ "keyId": key, "grantId": created.grant_id })
    );
    assert_eq!(record.response_elements, Some(json!({ "keyId": key })));
    assert_no_secrets(&record, &[created.grant_token.as_bytes()]);
    assert_eq!(
        kms.encrypt_for(&app(), &key, PLAINTEXT, "test")
            .expect_err("revoked")
            .kind,
        KmsErrorKind::AccessDenied
    );
    assert_eq!(
        kms.decrypt_for(&app(), &blob, "test")
            .expect_err("revoked")
            .kind,
        KmsErrorKind::AccessDenied
    );
    let again = engine
        .call::<RevokeGrant>(
            &admin(),
            REGION,
            RevokeRequest {
                key_id: key.clone(),
                grant_id: created.grant_id.clone(),
            },
        )
        .expect_err("gone");
    assert_eq!(again.kind, KmsErrorKind::NotFound);
    let denied = engine
        .call::<RevokeGrant>(
            &app(),
            REGION,
            RevokeRequest {
                key_id: key.clone(),
                grant_id: "x".repeat(64),
            },
        )
        .expect_err("app may not revoke");
    assert_eq!(denied.kind, KmsErrorKind::AccessDenied);
}

#[test]
fn create_grant_validates_and_authorizes_with_grant_condition_keys() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let key = kms.symmetric();
    let bad_operation = engine
        .call::<CreateGrant>(
            &admin(),
            REGION,
            grant_request(&key, &user_arn("app"), &["Decrypt", "Fly"]),
        )
        .expect_err("not a GrantOperation");
    assert_eq!(bad_operation.kind, KmsErrorKind::Validation);
    assert!(
        bad_operation
            .message
            .starts_with("1 validation error detected: Value '[Decrypt, Fly]' at 'operations'"),
        "{}",
        bad_operation.message
    );
    let no_operation = engine
        .call::<CreateGrant>(&admin(), REGION, grant_request(&key, &user_arn("app"), &[]))
        .expect_err("empty");
    assert_eq!(no_operation.kind, KmsErrorKind::Validation);
    let no_grantee = engine
        .call::<CreateGrant>(&admin(), REGION, grant_request(&key, "", &["Decrypt"]))
        .expect_err("grantee");
    assert!(
        no_grantee.message.contains("'granteePrincipal'"),
        "{}",
        no_grantee.message
    );
    let mut bad_name = grant_request(&key, &user_arn("app"), &["Decrypt"]);
    bad_name.name = Some("has space".into());
    assert_eq!(
        engine
            .call::<CreateGrant>(&admin(), REGION, bad_name)
            .expect_err("name")
            .kind,
        KmsErrorKind::Validation
    );
    let missing = missing_key();
    let not_found = engine
        .call::<CreateGrant>(
            &admin(),
            REGION,
            grant_request(&missing, &user_arn("app"), &["Decrypt"]),
        )
        .expect_err("no key");
    assert_eq!(not_found.kind, KmsErrorKind::NotFound);
    assert_eq!(last(&sink).error_code.as_deref(), Some("NotFoundException"));

    // The same name and terms give the same grant.
    let mut named = grant_request(&key, &user_arn("app"), &["Decrypt"]);
    named.name = Some("app-decrypt".into());
    let first = engine
        .call::<CreateGrant>(&admin(), REGION, named.clone())
        .expect("first");
    let second = engine
        .call::<CreateGrant>(&admin(), REGION, named)
        .expect("second");
    assert_eq!(first.grant_id, second.grant_id);
    assert_eq!(engine.snapshot().expect("state").grants.len(), 1);

    // kms:GrantIsForAWSResource is false for a direct call, true via an AWS service.
    let granter = user("granter");
    let direct = engine
        .call::<CreateGrant>(
            &granter,
            REGION,
            grant_request(&key, &user_arn("app"), &["Decrypt"]),
        )
        .expect_err("not for an AWS resource");
    assert_eq!(direct.kind, KmsErrorKind::AccessDenied);
    assert!(
        direct.message.contains("kms:CreateGrant"),
        "{}",
        direct.message
    );
    let via_ec2 = Caller {
        via_service: Some("ec2.us-east-1.amazonaws.com".into()),
        ..granter
    };
    engine
        .call::<CreateGrant>(
            &via_ec2,
            REGION,
            grant_request(&key, &user_arn("app"), &["Decrypt"]),
        )
        .expect("via EC2, Decrypt only");
    // kms:GrantOperations: every listed operation must be allowed.
    let too_much = engine
        .call::<CreateGrant>(
            &via_ec2,
            REGION,
            grant_request(&key, &user_arn("app"), &["Decrypt", "Encrypt"]),
        )
        .expect_err("Encrypt is not allowed");
    assert_eq!(too_much.kind, KmsErrorKind::AccessDenied);

    kms.schedule_deletion(&key, None);
    let pending = engine
        .call::<CreateGrant>(
            &admin(),
            REGION,
            grant_request(&key, &user_arn("app"), &["Decrypt"]),
        )
        .expect_err("pending deletion");
    assert_eq!(pending.kind, KmsErrorKind::InvalidState);
}

#[test]
fn list_grants_pages_and_filters() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let key = kms.symmetric();
    let other_key = kms.symmetric();
    let mut ids = Vec::new();
    for grantee in ["app", "app", "ops"] {
        let mut request = grant_request(&key, &user_arn(grantee), &["Decrypt"]);
        request.retiring_principal = Some(user_arn("retirer"));
        ids.push(
            engine
                .call::<CreateGrant>(&admin(), REGION, request)
                .expect("grant")
                .grant_id,
        );
    }
    engine
        .call::<CreateGrant>(
            &admin(),
            REGION,
            grant_request(&other_key, &user_arn("app"), &["Encrypt"]),
        )
        .expect("grant on another key");
    ids.sort();

    let list = |request: list_grants::Request| engine.call::<ListGrants>(&admin(), REGION, request);
    let page1 = list(list_grants::Request {
        key_id: key.clone(),
        limit: Some(2),
        ..Default::default()
    })
    .expect("page 1");
    assert!(page1.truncated);
    assert_eq!(
        page1
            .grants
            .iter()
            .map(|g| g.grant_id.clone())
            .collect::<Vec<_>>(),
        ids[..2]
    );
    assert_eq!(page1.grants[0].key_id, key);
    assert_eq!(
        page1.grants[0].issuing_account,
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
    assert_eq!(page1.grants[0].operations, ["Decrypt"]);
    let record = last(&sink);
    check_record(&record, "ListGrants", true, &[&key]);
    assert_eq!(
        record.request_parameters,
        json!({ "keyId": key, "limit": 2 })
    );
    assert_eq!(record.response_elements, None);
    let page2 = list(list_grants::Request {
        key_id: key.clone(),
        limit: Some(2),
        marker: page1.next_marker.clone(),
        ..Default::default()
    })
    .expect("page 2");
    assert!(!page2.truncated && page2.next_marker.is_none());
    assert_eq!(page2.grants.len(), 1);
    assert_eq!(
        last(&sink).request_parameters["marker"],
        json!(page1.next_marker)
    );
    let by_grantee = list(list_grants::Request {
        key_id: key.clone(),
        grantee_principal: Some(user_arn("ops")),
        ..Default::default()
    })
    .expect("grantee");
    assert_eq!(by_grantee.grants.len(), 1);
    let by_id = list(list_grants::Request {
        key_id: key.clone(),
        grant_id: Some(ids[1].clone()),
        ..Default::default()
    })
    .expect("id");
    assert_eq!(by_id.grants.len(), 1);
    assert_eq!(by_id.grants[0].grant_id, ids[1]);
    let json_entry = serde_json::to_value(&by_id.grants[0]).expect("json");
    assert!(
        json_entry.get("GrantId").is_some()
            && json_entry.get("GranteePrincipal").is_some()
            && json_entry.get("KeyId").is_some()
    );

    let bad_marker = list(list_grants::Request {
        key_id: key.clone(),
        marker: Some("nope".into()),
        ..Default::default()
    })
    .expect_err("marker");
    assert_eq!(bad_marker.kind, KmsErrorKind::InvalidMarker);
    let bad_limit = list(list_grants::Request {
        key_id: key.clone(),
        limit: Some(0),
        ..Default::default()
    })
    .expect_err("limit");
    assert_eq!(bad_limit.kind, KmsErrorKind::Validation);
    let denied = engine
        .call::<ListGrants>(
            &app(),
            REGION,
            list_grants::Request {
                key_id: key.clone(),
                ..Default::default()
            },
        )
        .expect_err("app");
    assert_eq!(denied.kind, KmsErrorKind::AccessDenied);
    let missing = missing_key();
    assert_eq!(
        list(list_grants::Request {
            key_id: missing,
            ..Default::default()
        })
        .expect_err("no key")
        .kind,
        KmsErrorKind::NotFound
    );

    let retirable = engine
        .call::<ListRetirableGrants>(
            &admin(),
            REGION,
            RetirableRequest {
                retiring_principal: user_arn("retirer"),
                limit: None,
                marker: None,
            },
        )
        .expect("retirable");
    assert_eq!(retirable.grants.len(), 3);
    assert!(!retirable.truncated);
    let record = last(&sink);
    check_record(&record, "ListRetirableGrants", true, &[]);
    assert_eq!(
        record.request_parameters,
        json!({ "retiringPrincipal": user_arn("retirer") })
    );
    let none = engine
        .call::<ListRetirableGrants>(
            &admin(),
            REGION,
            RetirableRequest {
                retiring_principal: user_arn("nobody"),
                limit: None,
                marker: None,
            },
        )
        .expect("none");
    assert!(none.grants.is_empty());
    let invalid = engine
        .call::<ListRetirableGrants>(
            &admin(),
            REGION,
            RetirableRequest {
                retiring_principal: String::new(),
                limit: None,
                marker: None,
            },
        )
        .expect_err("empty principal");
    assert_eq!(invalid.kind, KmsErrorKind::Validation);
    assert_no_secrets(&last(&sink), &[]);
}

#[test]
fn retire_grant_is_for_the_principals_the_grant_names() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let key = kms.symmetric();
    let mut request = grant_request(&key, &user_arn("app"), &["Encrypt"]);
    request.retiring_principal = Some(user_arn("ops"));
    let by_ops = engine
        .call::<CreateGrant>(&admin(), REGION, request)
        .expect("grant");

    // The grantee may not retire a grant without RetireGrant in its operations.
    let denied = engine
        .call::<RetireGrant>(
            &app(),
            REGION,
            RetireRequest {
                grant_token: Some(by_ops.grant_token.clone()),
                ..Default::default()
            },
        )
        .expect_err("grantee without RetireGrant");
    assert_eq!(denied.kind, KmsErrorKind::AccessDenied);
    let record = last(&sink);
    assert_eq!(record.error_code.as_deref(), Some("AccessDeniedException"));
    assert_eq!(record.resources.len(), 1);
    assert_eq!(
        record.additional_event_data,
        Some(json!({ "grantId": by_ops.grant_id }))
    );

    // The retiring principal may, with the token; no policy is needed.
    engine
        .call::<RetireGrant>(
            &user("ops"),
            REGION,
            RetireRequest {
                grant_token: Some(by_ops.grant_token.clone()),
                ..Default::default()
            },
        )
        .expect("retire by token");
    let record = last(&sink);
    check_record(&record, "RetireGrant", false, &[&key]);
    assert_eq!(record.request_parameters, Value::Null);
    assert_eq!(record.response_elements, Some(json!({ "keyId": key })));
    assert_eq!(
        record.additional_event_data,
        Some(json!({ "grantId": by_ops.grant_id }))
    );
    assert_no_secrets(&record, &[by_ops.grant_token.as_bytes()]);
    let listed = engine
        .call::<ListGrants>(
            &admin(),
            REGION,
            list_grants::Request {
                key_id: key.clone(),
                ..Default::default()
            },
        )
        .expect("list");
    assert!(listed.grants.is_empty());
    let twice = engine
        .call::<RetireGrant>(
            &user("ops"),
            REGION,
            RetireRequest {
                grant_token: Some(by_ops.grant_token),
                ..Default::default()
            },
        )
        .expect_err("already retired");
    assert_eq!(twice.kind, KmsErrorKind::NotFound);

    // The grantee may, when the grant includes RetireGrant; by key and grant id.
    let self_retiring = engine
        .call::<CreateGrant>(
            &admin(),
            REGION,
            grant_request(&key, &user_arn("app"), &["Encrypt", "RetireGrant"]),
        )
        .expect("grant");
    engine
        .call::<RetireGrant>(
            &app(),
            REGION,
            RetireRequest {
                grant_token: None,
                key_id: Some(key.clone()),
                grant_id: Some(self_retiring.grant_id.clone()),
            },
        )
        .expect("grantee retires");
    let record = last(&sink);
    check_record(&record, "RetireGrant", false, &[&key]);
    assert_eq!(
        record.request_parameters,
        json!({ "keyId": key, "grantId": self_retiring.grant_id })
    );
    assert_eq!(
        record.additional_event_data,
        Some(json!({ "grantId": self_retiring.grant_id }))
    );

    // The issuing account's root user may.
    let third = engine
        .call::<CreateGrant>(
            &admin(),
            REGION,
            grant_request(&key, &user_arn("app"), &["Encrypt"]),
        )
        .expect("grant");
    let root = account_root();
    engine
        .call::<RetireGrant>(
            &root,
            REGION,
            RetireRequest {
                grant_token: Some(third.grant_token),
                ..Default::default()
            },
        )
        .expect("root retires");

    let garbage = engine
        .call::<RetireGrant>(
            &user("ops"),
            REGION,
            RetireRequest {
                grant_token: Some("not-a-token".into()),
                ..Default::default()
            },
        )
        .expect_err("token");
    assert_eq!(garbage.kind, KmsErrorKind::InvalidGrantToken);
    let nothing = engine
        .call::<RetireGrant>(&user("ops"), REGION, RetireRequest::default())
        .expect_err("nothing named");
    assert_eq!(nothing.kind, KmsErrorKind::Validation);
    let unknown = engine
        .call::<RetireGrant>(
            &user("ops"),
            REGION,
            RetireRequest {
                grant_token: None,
                key_id: Some(key.clone()),
                grant_id: Some("f".repeat(64)),
            },
        )
        .expect_err("unknown id");
    assert_eq!(unknown.kind, KmsErrorKind::NotFound);
}

#[test]
fn imported_material_enables_the_key_and_expires_on_the_clock() {
    let kms = kms();
    let (engine, clock, sink) = (&kms.engine, &kms.clock, &*kms.sink);
    let key = kms.external();
    assert_eq!(kms.describe(&key).key_state, "PendingImport");
    assert_eq!(
        kms.encrypt_for(&admin(), &key, PLAINTEXT, "test")
            .expect_err("no material")
            .kind,
        KmsErrorKind::InvalidState
    );

    let bad = kms
        .import_parameters(&key, "RSAES_PKCS1_V1_5")
        .expect_err("unsupported algorithm");
    assert_eq!(bad.kind, KmsErrorKind::Validation);
    assert!(
        bad.message.contains("'wrappingAlgorithm'") && bad.message.contains("RSAES_OAEP_SHA_256"),
        "{}",
        bad.message
    );
    let bad_spec = engine
        .call::<GetParametersForImport>(
            &admin(),
            REGION,
            ParametersRequest {
                key_id: key.clone(),
                wrapping_algorithm: "RSAES_OAEP_SHA_256".into(),
                wrapping_key_spec: "RSA_1024".into(),
            },
        )
        .expect_err("spec");
    assert_eq!(bad_spec.kind, KmsErrorKind::Validation);
    let kms_key = kms.symmetric();
    assert_eq!(
        kms.import_parameters(&kms_key, "RSAES_OAEP_SHA_256")
            .expect_err("AWS_KMS origin")
            .kind,
        KmsErrorKind::UnsupportedOperation
    );
    let denied = engine
        .call::<GetParametersForImport>(
            &app(),
            REGION,
            ParametersRequest {
                key_id: key.clone(),
                wrapping_algorithm: "RSAES_OAEP_SHA_256".into(),
                wrapping_key_spec: "RSA_2048".into(),
            },
        )
        .expect_err("app");
    assert_eq!(denied.kind, KmsErrorKind::AccessDenied);

    let params = kms
        .import_parameters(&key, "RSAES_OAEP_SHA_256")
        .expect("parameters");
    assert_eq!(params.key_id, key);
    assert!((params.parameters_valid_to - epoch(start() + Duration::hours(24))).abs() < 1.0);
    let record = last(&sink);
    check_record(&record, "GetParametersForImport", true, &[&key]);
    assert_eq!(
        record.request_parameters,
        json!({ "keyId": key, "wrappingAlgorithm": "RSAES_OAEP_SHA_256", "wrappingKeySpec": "RSA_2048" })
    );
    assert_eq!(record.response_elements, None);
    assert_no_secrets(
        &record,
        &[params.import_token.bytes(), params.public_key.bytes()],
    );

    let material = [0x5au8; 32];
    let missing_valid_to = engine
        .call::<ImportKeyMaterial>(
            &admin(),
            REGION,
            ImportRequest {
                key_id: key.clone(),
                import_token: params.import_token.clone(),
                encrypted_key_material: Blob::new(wrap(&params, true, &material)),
                valid_to: None,
                expiration_model: Some("KEY_MATERIAL_EXPIRES".into()),
                ..ImportRequest::default()
            },
        )
        .expect_err("ValidTo is required");
    assert_eq!(missing_valid_to.kind, KmsErrorKind::Validation);
    let valid_to = start() + Duration::days(10);
    let wrong_algorithm = kms
        .import(
            &key,
            &params,
            wrap(&params, false, &material),
            Some(valid_to),
        )
        .expect_err("SHA-1 wrap");
    assert_eq!(wrong_algorithm.kind, KmsErrorKind::InvalidCiphertext);
    let mut forged = params.clone();
    forged.import_token = Blob::new(vec![7; 64]);
    assert_eq!(
        kms.import(
            &key,
            &forged,
            wrap(&params, true, &material),
            Some(valid_to)
        )
        .expect_err("token")
        .kind,
        KmsErrorKind::InvalidImportToken
    );
    assert_eq!(
        kms.import(
            &key,
            &params,
            wrap(&params, true, &[1u8; 16]),
            Some(valid_to)
        )
        .expect_err("short material")
        .kind,
        KmsErrorKind::Validation
    );

    let wrapped = wrap(&params, true, &material);
    kms.import(&key, &params, wrapped.clone(), Some(valid_to))
        .expect("import");
    let record = last(&sink);
    check_record(&record, "ImportKeyMaterial", false, &[&key]);
    assert_eq!(
        record.request_parameters,
        json!({ "keyId": key, "validTo": "Jan 11, 2026, 9:00:00 AM", "expirationModel": "KEY_MATERIAL_EXPIRES" })
    );
    // The 2025 record also names the imported material (reference §2.3).
    assert_eq!(
        record.response_elements,
        Some(json!({ "keyId": key, "keyMaterialId": kms.material_id(&key) }))
    );
    assert_no_secrets(&record, &[&material, &wrapped, params.import_token.bytes()]);
    assert_eq!(kms.describe(&key).key_state, "Enabled");
    let blob = kms
        .encrypt_for(&admin(), &key, PLAINTEXT, "test")
        .expect("encrypt with imported material");
    assert_no_secrets(&last(&sink), &[&material, PLAINTEXT]);
    assert_eq!(
        kms.decrypt_for(&admin(), &blob, "test").expect("decrypt"),
        PLAINTEXT
    );

    // Key material never changes: other material is refused, the same is accepted.
    let other = kms
        .import(
            &key,
            &params,
            wrap(&params, true, &[0x11u8; 32]),
            Some(valid_to),
        )
        .expect_err("different");
    assert_eq!(other.kind, KmsErrorKind::IncorrectKeyMaterial);
    kms.import(
        &key,
        &params,
        wrap(&params, true, &material),
        Some(valid_to),
    )
    .expect("same material again");

    clock.advance(Duration::days(11));
    assert_eq!(engine.run_due().expect("due"), 1);
    let expired = last(&sink);
    assert_eq!(expired.event_name, "DeleteExpiredKeyMaterial");
    assert_eq!(
        expired.service_event_details,
        Some(json!({ "keyId": key.rsplit('/').next().expect("id") }))
    );
    assert_eq!(kms.describe(&key).key_state, "PendingImport");
    assert_eq!(
        kms.encrypt_for(&admin(), &key, PLAINTEXT, "test")
            .expect_err("expired")
            .kind,
        KmsErrorKind::InvalidState
    );
    assert_eq!(
        last(&sink).error_code.as_deref(),
        Some("KMSInvalidStateException")
    );
    assert_eq!(engine.run_due().expect("nothing more"), 0);

    // The token itself expired after 24 hours.
    let late = kms
        .import(&key, &params, wrap(&params, true, &material), None)
        .expect_err("token expired");
    assert_eq!(late.kind, KmsErrorKind::ExpiredImportToken);
    // Fresh parameters (SHA-1 this time, a 3072-bit wrapping key) bring the same material back.
    let fresh = engine
        .call::<GetParametersForImport>(
            &admin(),
            REGION,
            ParametersRequest {
                key_id: key.clone(),
                wrapping_algorithm: "RSAES_OAEP_SHA_1".into(),
                wrapping_key_spec: "RSA_3072".into(),
            },
        )
        .expect("fresh parameters");
    kms.import(&key, &fresh, wrap(&fresh, false, &material), None)
        .expect("reimport, no expiry");
    let record = last(&sink);
    assert_eq!(
        record.request_parameters,
        json!({ "keyId": key, "expirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE" })
    );
    assert_eq!(
        kms.decrypt_for(&admin(), &blob, "test")
            .expect("old ciphertext"),
        PLAINTEXT
    );
    assert_eq!(engine.snapshot().expect("state").keys[&key].valid_to, None);
}

#[test]
fn delete_imported_key_material_returns_the_key_to_pending_import() {
    let kms = kms();
    let (engine, sink) = (&kms.engine, &*kms.sink);
    let key = kms.external();
    let request = || KeyRequest {
        key_id: key.clone(),
    };
    let pending = engine
        .call::<DeleteImportedKeyMaterial>(&admin(), REGION, request())
        .expect_err("no material");
    assert_eq!(pending.kind, KmsErrorKind::InvalidState);
    let params = kms
        .import_parameters(&key, "RSAES_OAEP_SHA_1")
        .expect("parameters");
    let material = [0x42u8; 32];
    kms.import(&key, &params, wrap(&params, false, &material), None)
        .expect("import");
    assert_eq!(kms.describe(&key).key_state, "Enabled");

    let denied = engine
        .call::<DeleteImportedKeyMaterial>(&app(), REGION, request())
        .expect_err("app");
    assert_eq!(denied.kind, KmsErrorKind::AccessDenied);
    engine
        .call::<DeleteImportedKeyMaterial>(&admin(), REGION, request())
        .expect("delete");
    let record = last(&sink);
    check_record(&record, "DeleteImportedKeyMaterial", false, &[&key]);
    assert_eq!(record.request_parameters, json!({ "keyId": key }));
    assert_eq!(record.response_elements, Some(json!({ "keyId": key })));
    assert_no_secrets(&record, &[&material]);
    assert_eq!(kms.describe(&key).key_state, "PendingImport");
    assert_eq!(
        kms.encrypt_for(&admin(), &key, PLAINTEXT, "test")
            .expect_err("deleted")
            .kind,
        KmsErrorKind::InvalidState
    );

    let kms_key = kms.symmetric();
    let unsupported = engine
        .call::<DeleteImportedKeyMaterial>(&admin(), REGION, KeyRequest { key_id: kms_key })
        .expect_err("AWS_KMS origin");
    assert_eq!(unsupported.kind, KmsErrorKind::UnsupportedOperation);
    let missing = missing_key();
    let not_found = engine
        .call::<DeleteImportedKeyMaterial>(&admin(), REGION, KeyRequest { key_id: missing })
        .expect_err("no key");
    assert_eq!(not_found.kind, KmsErrorKind::NotFound);

    // Import again (same token, still valid) and schedule deletion: no import while pending.
    kms.import(&key, &params, wrap(&params, false, &material), None)
        .expect("reimport");
    kms.schedule_deletion(&key, Some(7));
    assert_eq!(
        kms.import_parameters(&key, "RSAES_OAEP_SHA_1")
            .expect_err("pending deletion")
            .kind,
        KmsErrorKind::InvalidState
    );
    assert_eq!(
        kms.import(&key, &params, wrap(&params, false, &material), None)
            .expect_err("pending deletion")
            .kind,
        KmsErrorKind::InvalidState
    );
}

#[test]
fn the_engine_with_import_parameters_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync>() {}
    shareable::<Engine>();
    let kms = Arc::new(kms());
    let key = kms.external();
    kms.import_parameters(&key, "RSA_AES_KEY_WRAP_SHA_256")
        .expect("key wrap algorithm");
    let worker = Arc::clone(&kms);
    let state = std::thread::spawn(move || worker.describe(&key).key_state)
        .join()
        .expect("thread");
    assert_eq!(state, "PendingImport");
    assert_eq!(kms.engine.snapshot().expect("state").imports.len(), 1);
}
