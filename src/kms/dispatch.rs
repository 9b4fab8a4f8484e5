//! Calls an engine operation by its API name with a JSON request, as the KMS JSON protocol
//! (`X-Amz-Target: TrentService.<Name>`) and the simulator's scenario files name them.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::kms::engine::error::KmsError;
use crate::kms::engine::ops::{
    cancel_key_deletion, create_alias, create_grant, create_key, decrypt, delete_alias,
    describe_key, encrypt, generate_data_key, generate_data_key_pair, generate_mac,
    generate_random, get_public_key, import_key_material, key_policy, key_state, list_aliases,
    list_grants, list_key_rotations, list_keys, re_encrypt, replicate_key, retire_grant,
    rotate_key_on_demand, rotation, schedule_key_deletion, sign, tags, update_alias,
    update_key_description, update_primary_region, verify, verify_mac,
};
use crate::kms::engine::{Caller, Engine, Operation};

/// Why a named call did not reach the engine, or what the engine answered.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DispatchError {
    /// No KMS operation has this name (`UnknownOperationException` on the wire).
    #[error("UnknownOperationException: KMS has no operation named {0:?}")]
    UnknownOperation(String),
    /// The request body does not fit the operation's request shape
    /// (`SerializationException` on the wire). Never audited: it never reaches KMS.
    #[error("SerializationException: {operation}: {detail}")]
    Serialization {
        /// The operation.
        operation: String,
        /// What did not fit.
        detail: String,
    },
    /// The operation ran and failed (it was audited).
    #[error(transparent)]
    Kms(#[from] KmsError),
}

impl DispatchError {
    /// The exception name, `__type` on the wire.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownOperation(_) => "UnknownOperationException",
            Self::Serialization { .. } => "SerializationException",
            Self::Kms(err) => err.kind.code(),
        }
    }
}

fn run<O>(
    engine: &Engine,
    caller: &Caller,
    region: &str,
    request: Value,
) -> Result<Value, DispatchError>
where
    O: Operation,
    O::Request: DeserializeOwned,
    O::Response: Serialize,
{
    let dry_run = request.get("DryRun").and_then(Value::as_bool) == Some(true)
        && DRY_RUN_OPERATIONS.contains(&O::NAME);
    let request: O::Request =
        serde_json::from_value(request).map_err(|err| DispatchError::Serialization {
            operation: O::NAME.to_owned(),
            detail: err.to_string(),
        })?;
    let response = if dry_run {
        engine.dry_run::<O>(caller, region, request)?
    } else {
        engine.call::<O>(caller, region, request)?
    };
    serde_json::to_value(response).map_err(|err| DispatchError::Serialization {
        operation: O::NAME.to_owned(),
        detail: format!("the response could not be encoded: {err}"),
    })
}

/// The operations that accept `DryRun` (KMS API reference).
pub const DRY_RUN_OPERATIONS: &[&str] = &[
    "CreateGrant",
    "Decrypt",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "ReEncrypt",
    "RetireGrant",
    "RevokeGrant",
    "Sign",
    "Verify",
    "VerifyMac",
];

/// Every operation [`call`] knows, by API name.
pub const OPERATIONS: &[&str] = &[
    "CancelKeyDeletion",
    "CreateAlias",
    "CreateGrant",
    "CreateKey",
    "Decrypt",
    "DeleteAlias",
    "DeleteImportedKeyMaterial",
    "DescribeKey",
    "DisableKey",
    "DisableKeyRotation",
    "EnableKey",
    "EnableKeyRotation",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GenerateRandom",
    "GetKeyPolicy",
    "GetKeyRotationStatus",
    "GetParametersForImport",
    "GetPublicKey",
    "ImportKeyMaterial",
    "ListAliases",
    "ListGrants",
    "ListKeyPolicies",
    "ListKeyRotations",
    "ListKeys",
    "ListResourceTags",
    "ListRetirableGrants",
    "PutKeyPolicy",
    "ReEncrypt",
    "ReplicateKey",
    "RetireGrant",
    "RevokeGrant",
    "RotateKeyOnDemand",
    "ScheduleKeyDeletion",
    "Sign",
    "TagResource",
    "UntagResource",
    "UpdateAlias",
    "UpdateKeyDescription",
    "UpdatePrimaryRegion",
    "Verify",
    "VerifyMac",
];

/// Runs the operation named `operation` (`"Decrypt"`) with the JSON `request` (PascalCase
/// members, binary members in base64) and returns the JSON response.
pub fn call(
    engine: &Engine,
    caller: &Caller,
    region: &str,
    operation: &str,
    request: Value,
) -> Result<Value, DispatchError> {
    let (e, c, r, q) = (engine, caller, region, request);
    match operation {
        "CancelKeyDeletion" => run::<cancel_key_deletion::CancelKeyDeletion>(e, c, r, q),
        "CreateAlias" => run::<create_alias::CreateAlias>(e, c, r, q),
        "CreateGrant" => run::<create_grant::CreateGrant>(e, c, r, q),
        "CreateKey" => run::<create_key::CreateKey>(e, c, r, q),
        "Decrypt" => run::<decrypt::Decrypt>(e, c, r, q),
        "DeleteAlias" => run::<delete_alias::DeleteAlias>(e, c, r, q),
        "DeleteImportedKeyMaterial" => {
            run::<import_key_material::DeleteImportedKeyMaterial>(e, c, r, q)
        }
        "DescribeKey" => run::<describe_key::DescribeKey>(e, c, r, q),
        "DisableKey" => run::<key_state::DisableKey>(e, c, r, q),
        "DisableKeyRotation" => run::<rotation::DisableKeyRotation>(e, c, r, q),
        "EnableKey" => run::<key_state::EnableKey>(e, c, r, q),
        "EnableKeyRotation" => run::<rotation::EnableKeyRotation>(e, c, r, q),
        "Encrypt" => run::<encrypt::Encrypt>(e, c, r, q),
        "GenerateDataKey" => run::<generate_data_key::GenerateDataKey>(e, c, r, q),
        "GenerateDataKeyPair" => run::<generate_data_key_pair::GenerateDataKeyPair>(e, c, r, q),
        "GenerateDataKeyPairWithoutPlaintext" => {
            run::<generate_data_key_pair::GenerateDataKeyPairWithoutPlaintext>(e, c, r, q)
        }
        "GenerateDataKeyWithoutPlaintext" => {
            run::<generate_data_key::GenerateDataKeyWithoutPlaintext>(e, c, r, q)
        }
        "GenerateMac" => run::<generate_mac::GenerateMac>(e, c, r, q),
        "GenerateRandom" => run::<generate_random::GenerateRandom>(e, c, r, q),
        "GetKeyPolicy" => run::<key_policy::GetKeyPolicy>(e, c, r, q),
        "GetKeyRotationStatus" => run::<rotation::GetKeyRotationStatus>(e, c, r, q),
        "GetParametersForImport" => run::<import_key_material::GetParametersForImport>(e, c, r, q),
        "GetPublicKey" => run::<get_public_key::GetPublicKey>(e, c, r, q),
        "ImportKeyMaterial" => run::<import_key_material::ImportKeyMaterial>(e, c, r, q),
        "ListAliases" => run::<list_aliases::ListAliases>(e, c, r, q),
        "ListGrants" => run::<list_grants::ListGrants>(e, c, r, q),
        "ListKeyPolicies" => run::<key_policy::ListKeyPolicies>(e, c, r, q),
        "ListKeyRotations" => run::<list_key_rotations::ListKeyRotations>(e, c, r, q),
        "ListKeys" => run::<list_keys::ListKeys>(e, c, r, q),
        "ListResourceTags" => run::<tags::ListResourceTags>(e, c, r, q),
        "ListRetirableGrants" => run::<list_grants::ListRetirableGrants>(e, c, r, q),
        "PutKeyPolicy" => run::<key_policy::PutKeyPolicy>(e, c, r, q),
        "ReEncrypt" => run::<re_encrypt::ReEncrypt>(e, c, r, q),
        "ReplicateKey" => run::<replicate_key::ReplicateKey>(e, c, r, q),
        "RetireGrant" => run::<retire_grant::RetireGrant>(e, c, r, q),
        "RevokeGrant" => run::<retire_grant::RevokeGrant>(e, c, r, q),
        "RotateKeyOnDemand" => run::<rotate_key_on_demand::RotateKeyOnDemand>(e, c, r, q),
        "ScheduleKeyDeletion" => run::<schedule_key_deletion::ScheduleKeyDeletion>(e, c, r, q),
        "Sign" => run::<sign::Sign>(e, c, r, q),
        "TagResource" => run::<tags::TagResource>(e, c, r, q),
        "UntagResource" => run::<tags::UntagResource>(e, c, r, q),
        "UpdateAlias" => run::<update_alias::UpdateAlias>(e, c, r, q),
        "UpdateKeyDescription" => run::<update_key_description::UpdateKeyDescription>(e, c, r, q),
        "UpdatePrimaryRegion" => run::<update_primary_region::UpdatePrimaryRegion>(e, c, r, q),
        "Verify" => run::<verify::Verify>(e, c, r, q),
        "VerifyMac" => run::<verify_mac::VerifyMac>(e, c, r, q),
        other => Err(DispatchError::UnknownOperation(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::kms::audit::{CallerIdentity, MemorySink};
    use crate::kms::engine::clock::SystemClock;
    use crate::kms::engine::EngineConfig;

    fn engine() -> (Engine, Arc<MemorySink>) {
        let sink = Arc::new(MemorySink::default());
        let admin_policy = json!({ "Version": "2012-10-17", "Statement": [
            { "Effect": "Allow", "Action": "kms:*", "Resource": "*" } ] });
        let config = EngineConfig {
            seed: Some(1),
            identity_policies: [(
                "arn:aws:iam::111122223333:user/admin".to_owned(),
                vec![admin_policy.to_string()],
            )]
            .into(),
            ..EngineConfig::default()
        };
        let engine = Engine::new(Arc::new(SystemClock), sink.clone(), config).expect("engine");
        (engine, sink)
    }

    fn admin() -> Caller {
        Caller {
            identity: CallerIdentity::iam_user("111122223333", "admin"),
            principal: "arn:aws:iam::111122223333:user/admin".into(),
            account: "111122223333".into(),
            org_id: None,
            source_ip: "192.0.2.1".into(),
            user_agent: "test".into(),
            via_service: None,
        }
    }

    #[test]
    fn every_listed_operation_is_routed_to_its_own_operation() {
        let (engine, sink) = engine();
        for name in OPERATIONS {
            // An empty request reaches the operation (or fails its shape check), never the
            // unknown-operation branch; whatever reaches the engine is recorded under its name.
            let before = sink.events().len();
            match call(&engine, &admin(), "us-east-1", name, json!({})) {
                Err(DispatchError::UnknownOperation(_)) => panic!("{name} is not routed"),
                Err(DispatchError::Serialization { operation, .. }) => {
                    assert_eq!(&operation, name);
                    assert_eq!(sink.events().len(), before, "{name}: nothing audited");
                }
                _ => {
                    let events = sink.events();
                    assert!(events.len() > before, "{name} was not audited");
                    assert_eq!(events[before].event_name, *name);
                }
            }
        }
        assert!(
            OPERATIONS.windows(2).all(|w| w[0] < w[1]),
            "sorted, no duplicates"
        );
        assert_eq!(OPERATIONS.len(), 46);
    }

    #[test]
    fn dry_run_authorizes_and_tries_but_changes_nothing() {
        let (engine, sink) = engine();
        let created = call(&engine, &admin(), "us-east-1", "CreateKey", json!({})).expect("key");
        let key = created["KeyMetadata"]["KeyId"].clone();
        let body = json!({ "KeyId": key, "Plaintext": "aGVsbG8=", "DryRun": true });
        let err = call(&engine, &admin(), "us-east-1", "Encrypt", body).expect_err("dry run");
        assert_eq!(err.code(), "DryRunOperationException");
        let last = sink.events().pop().expect("audited");
        assert_eq!(last.error_code.as_deref(), Some("DryRunOperationException"));
        assert_eq!(last.request_parameters["dryRun"], json!(true));
        // A dry run that would fail reports that failure instead.
        let outsider = Caller {
            principal: "arn:aws:iam::444455556666:user/x".into(),
            account: "444455556666".into(),
            identity: CallerIdentity::iam_user("444455556666", "x"),
            ..admin()
        };
        let arn = created["KeyMetadata"]["Arn"].clone();
        let body = json!({ "KeyId": arn, "Plaintext": "aGVsbG8=", "DryRun": true });
        let err = call(&engine, &outsider, "us-east-1", "Encrypt", body).expect_err("denied");
        assert_eq!(err.code(), "AccessDeniedException");
        // A grant created in a dry run does not exist.
        let body = json!({ "KeyId": key, "GranteePrincipal": "arn:aws:iam::111122223333:role/r",
                           "Operations": ["Decrypt"], "DryRun": true });
        let err = call(&engine, &admin(), "us-east-1", "CreateGrant", body).expect_err("dry run");
        assert_eq!(err.code(), "DryRunOperationException");
        let grants = call(
            &engine,
            &admin(),
            "us-east-1",
            "ListGrants",
            json!({ "KeyId": key }),
        )
        .expect("list");
        assert_eq!(grants["Grants"].as_array().map(Vec::len), Some(0));
    }

    #[test]
    fn unknown_names_and_bad_shapes_are_refused_with_their_wire_codes() {
        let (engine, sink) = engine();
        let err = call(&engine, &admin(), "us-east-1", "Explode", json!({})).expect_err("unknown");
        assert_eq!(err.code(), "UnknownOperationException");
        let err = call(
            &engine,
            &admin(),
            "us-east-1",
            "Encrypt",
            json!({ "KeyId": 7 }),
        )
        .expect_err("bad shape");
        assert_eq!(err.code(), "SerializationException");
        assert!(sink.events().is_empty());
        let created =
            call(&engine, &admin(), "us-east-1", "CreateKey", json!({})).expect("created");
        assert!(created["KeyMetadata"]["Arn"]
            .as_str()
            .is_some_and(|a| a.starts_with("arn:aws:kms:")));
        let err = call(
            &engine,
            &admin(),
            "us-east-1",
            "DescribeKey",
            json!({ "KeyId": "alias/none" }),
        )
        .expect_err("no such alias");
        assert_eq!(err.code(), "NotFoundException");
    }
}
