//! Multi-Region keys, CloudHSM key stores, cross-account delivery and the 2025 fidelity
//! members of the KMS engine, end to end: each operation's response, state and CloudTrail
//! records (ReplicateKey's CreateKey in the replica Region, UpdatePrimaryRegion's two
//! records, SynchronizeMultiRegionKey, sharedEventID copies, custom key store data).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use chrono::{DateTime, Duration, Utc};
use kms_audit::kms::audit::{record_bytes, AuditEvent, CallerIdentity, EventType, MemorySink};
use kms_audit::kms::engine::clock::SimulatedClock;
use kms_audit::kms::engine::error::{KmsError, KmsErrorKind};
use kms_audit::kms::engine::key_store::{ConnectionState, CustomKeyStore};
use kms_audit::kms::engine::ops::blob::Blob;
use kms_audit::kms::engine::ops::cancel_key_deletion::{self, CancelKeyDeletion};
use kms_audit::kms::engine::ops::create_alias::{self, CreateAlias};
use kms_audit::kms::engine::ops::create_grant::{self, CreateGrant};
use kms_audit::kms::engine::ops::create_key::{self, CreateKey};
use kms_audit::kms::engine::ops::decrypt::{self, Decrypt};
use kms_audit::kms::engine::ops::describe_key::{self, DescribeKey};
use kms_audit::kms::engine::ops::encrypt::{self, Encrypt};
use kms_audit::kms::engine::ops::generate_random::{self, GenerateRandom};
use kms_audit::kms::engine::ops::import_key_material::{
    self, GetParametersForImport, ImportKeyMaterial, ParametersResponse,
};
use kms_audit::kms::engine::ops::key_state::{self, DisableKey};
use kms_audit::kms::engine::ops::list_aliases::{self, ListAliases};
use kms_audit::kms::engine::ops::list_grants::{self, ListGrants, ListRetirableGrants};
use kms_audit::kms::engine::ops::list_key_rotations::{self, ListKeyRotations};
use kms_audit::kms::engine::ops::replicate_key::{self, ReplicateKey};
use kms_audit::kms::engine::ops::rotate_key_on_demand::{self, RotateKeyOnDemand};
use kms_audit::kms::engine::ops::rotation::{
    DisableKeyRotation, EnableKeyRotation, EnableRequest, GetKeyRotationStatus, KeyRequest,
};
use kms_audit::kms::engine::ops::schedule_key_deletion::{self, ScheduleKeyDeletion};
use kms_audit::kms::engine::ops::update_alias::{self, UpdateAlias};
use kms_audit::kms::engine::ops::update_primary_region::{self, UpdatePrimaryRegion};
use kms_audit::kms::engine::ops::{KeyMetadata, Tag};
use kms_audit::kms::engine::{Caller, Engine, EngineConfig};
use serde_json::{json, Value};

const ACCOUNT: &str = "111122223333";
const PARTNER: &str = "444455556666";
const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";
const EU: &str = "eu-west-1";
const STORE: &str = "cks-1234567890abcdef0";
const CLUSTER: &str = "cluster-1a23b4cdefg";
const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

fn start() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-03-01T12:00:00Z")
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

/// A user of the key owner's account with no identity policy.
fn app() -> Caller {
    Caller {
        identity: CallerIdentity::iam_user(ACCOUNT, "app"),
        principal: format!("arn:aws:iam::{ACCOUNT}:user/app"),
        ..admin()
    }
}

/// A role session of another account, allowed everything in KMS by its identity policy.
fn partner() -> Caller {
    Caller {
        identity: CallerIdentity::assumed_role(PARTNER, "Partner", "batch", start()),
        principal: format!("arn:aws:sts::{PARTNER}:assumed-role/Partner/batch"),
        account: PARTNER.into(),
        ..admin()
    }
}

fn stores() -> Vec<CustomKeyStore> {
    let mut disconnected = CustomKeyStore::connected(
        "cks-00000000000000001",
        "Disconnected",
        "cluster-2b34c5defgh",
        ACCOUNT,
        EAST,
    );
    disconnected.connection_state = ConnectionState::Disconnected;
    let mut small = CustomKeyStore::connected(
        "cks-00000000000000002",
        "OneHsm",
        "cluster-3c45d6efghi",
        ACCOUNT,
        EAST,
    );
    small.active_hsms = 1;
    vec![
        CustomKeyStore::connected(STORE, "ExampleKeyStore", CLUSTER, ACCOUNT, EAST),
        disconnected,
        small,
        CustomKeyStore::connected(
            "cks-00000000000000003",
            "West",
            "cluster-4d56e7fghij",
            ACCOUNT,
            WEST,
        ),
    ]
}

struct Env {
    engine: Engine,
    sink: Arc<MemorySink>,
    clock: Arc<SimulatedClock>,
}

fn env() -> Env {
    let sink = Arc::new(MemorySink::default());
    let clock = Arc::new(SimulatedClock::new(start()));
    let mut identity_policies = BTreeMap::new();
    identity_policies.insert(
        format!("arn:aws:iam::{ACCOUNT}:user/admin"),
        vec![ALLOW_ALL.to_owned()],
    );
    identity_policies.insert(
        format!("arn:aws:iam::{PARTNER}:role/Partner"),
        vec![ALLOW_ALL.to_owned()],
    );
    identity_policies.insert(
        format!("arn:aws:iam::{ACCOUNT}:role/Admin"),
        vec![ALLOW_ALL.to_owned()],
    );
    let engine = Engine::new(
        clock.clone(),
        sink.clone(),
        EngineConfig {
            identity_policies,
            seed: Some(29),
            custom_key_stores: stores(),
        },
    )
    .expect("engine");
    Env {
        engine,
        sink,
        clock,
    }
}

fn kind<T: std::fmt::Debug>(result: Result<T, KmsError>) -> KmsErrorKind {
    result.expect_err("should fail").kind
}

fn id_of(arn: &str) -> String {
    arn.rsplit('/').next().expect("id").to_owned()
}

fn json_of(event: &AuditEvent) -> Value {
    serde_json::from_slice(&record_bytes(event).expect("serialize")).expect("json")
}

fn text_of(event: &AuditEvent) -> String {
    String::from_utf8(record_bytes(event).expect("serialize")).expect("utf8")
}

impl Env {
    fn events(&self) -> Vec<AuditEvent> {
        self.sink.events()
    }

    fn last(&self) -> AuditEvent {
        self.events().last().cloned().expect("a record")
    }

    /// The records written since `mark` (a count of records).
    fn since(&self, mark: usize) -> Vec<AuditEvent> {
        self.events()[mark..].to_vec()
    }

    fn create(&self, request: create_key::Request) -> Result<KeyMetadata, KmsError> {
        self.engine
            .call::<CreateKey>(&admin(), EAST, request)
            .map(|r| r.key_metadata)
    }

    fn mrk(&self) -> String {
        self.create(create_key::Request {
            multi_region: Some(true),
            description: Some("orders".into()),
            ..Default::default()
        })
        .expect("mrk")
        .arn
    }

    fn single(&self) -> String {
        self.create(create_key::Request::default())
            .expect("key")
            .arn
    }

    fn replicate(&self, key: &str, region: &str) -> Result<replicate_key::Response, KmsError> {
        self.engine.call::<ReplicateKey>(
            &admin(),
            EAST,
            replicate_key::Request {
                key_id: key.into(),
                replica_region: region.into(),
                ..Default::default()
            },
        )
    }

    fn describe(&self, region: &str, key: &str) -> KeyMetadata {
        self.engine
            .call::<DescribeKey>(
                &admin(),
                region,
                describe_key::Request {
                    key_id: key.into(),
                    grant_tokens: vec![],
                },
            )
            .expect("describe")
            .key_metadata
    }

    fn encrypt(&self, caller: &Caller, region: &str, key: &str) -> Result<Vec<u8>, KmsError> {
        self.engine
            .call::<Encrypt>(
                caller,
                region,
                encrypt::Request {
                    key_id: key.into(),
                    plaintext: Blob::new(b"card 4111".to_vec()),
                    encryption_context: Some(BTreeMap::from([("app".into(), "shop".into())])),
                    grant_tokens: vec![],
                    encryption_algorithm: None,
                },
            )
            .map(|r| r.ciphertext_blob.bytes().to_vec())
    }

    fn decrypt(
        &self,
        region: &str,
        blob: &[u8],
        key_id: Option<&str>,
    ) -> Result<decrypt::Response, KmsError> {
        self.engine.call::<Decrypt>(
            &admin(),
            region,
            decrypt::Request {
                ciphertext_blob: Blob::new(blob.to_vec()),
                encryption_context: Some(BTreeMap::from([("app".into(), "shop".into())])),
                grant_tokens: vec![],
                key_id: key_id.map(Into::into),
                encryption_algorithm: None,
            },
        )
    }

    fn schedule(&self, region: &str, key: &str, days: u32) -> schedule_key_deletion::Response {
        self.engine
            .call::<ScheduleKeyDeletion>(
                &admin(),
                region,
                schedule_key_deletion::Request {
                    key_id: key.into(),
                    pending_window_in_days: Some(days),
                },
            )
            .expect("schedule")
    }

    fn hsm_key(&self) -> KeyMetadata {
        self.create(create_key::Request {
            origin: Some("AWS_CLOUDHSM".into()),
            custom_key_store_id: Some(STORE.into()),
            ..Default::default()
        })
        .expect("cloudhsm key")
    }
}

// ------------------------------------------------------------------ multi-Region keys

#[test]
fn create_key_multi_region_makes_a_primary_key() {
    let env = env();
    let metadata = env
        .create(create_key::Request {
            multi_region: Some(true),
            ..Default::default()
        })
        .expect("create");
    assert!(metadata.key_id.starts_with("mrk-"), "{}", metadata.key_id);
    assert_eq!(metadata.key_id.len(), 36);
    assert!(metadata.key_id[4..]
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert!(metadata.multi_region);
    let config = metadata.multi_region_configuration.clone().expect("config");
    assert_eq!(config.multi_region_key_type, "PRIMARY");
    assert_eq!(config.primary_key.arn, metadata.arn);
    assert_eq!(config.primary_key.region, EAST);
    assert!(config.replica_keys.is_empty());
    let wire = serde_json::to_value(&metadata).expect("wire");
    assert_eq!(
        wire["MultiRegionConfiguration"],
        json!({"MultiRegionKeyType": "PRIMARY",
               "PrimaryKey": {"Arn": metadata.arn, "Region": EAST},
               "ReplicaKeys": []})
    );
    let record = json_of(&env.last());
    assert_eq!(record["requestParameters"]["multiRegion"], json!(true));
    let key_metadata = &record["responseElements"]["keyMetadata"];
    assert_eq!(key_metadata["multiRegion"], json!(true));
    assert_eq!(
        key_metadata["multiRegionConfiguration"],
        json!({"multiRegionKeyType": "PRIMARY",
               "primaryKey": {"arn": metadata.arn, "region": EAST},
               "replicaKeys": []})
    );
    // A single-Region key has neither.
    let single = env.create(create_key::Request::default()).expect("single");
    assert!(!single.key_id.starts_with("mrk-"));
    assert_eq!(single.multi_region_configuration, None);
    assert!(json_of(&env.last())["responseElements"]["keyMetadata"]
        .get("multiRegionConfiguration")
        .is_none());
}

#[test]
fn replicate_key_creates_a_replica_and_records_both_regions() {
    let env = env();
    let primary = env.mrk();
    let mark = env.events().len();
    let response = env
        .engine
        .call::<ReplicateKey>(
            &admin(),
            EAST,
            replicate_key::Request {
                key_id: id_of(&primary),
                replica_region: WEST.into(),
                description: Some("orders, west".into()),
                tags: vec![Tag {
                    tag_key: "team".into(),
                    tag_value: "payments".into(),
                }],
                ..Default::default()
            },
        )
        .expect("replicate");
    let replica = format!("arn:aws:kms:{WEST}:{ACCOUNT}:key/{}", id_of(&primary));
    let metadata = &response.replica_key_metadata;
    assert_eq!(metadata.arn, replica);
    assert_eq!(metadata.key_id, id_of(&primary));
    assert_eq!(metadata.key_state, "Creating");
    assert!(!metadata.enabled);
    assert_eq!(metadata.description, "orders, west");
    let config = metadata.multi_region_configuration.clone().expect("config");
    assert_eq!(config.multi_region_key_type, "REPLICA");
    assert_eq!(config.primary_key.arn, primary);
    assert_eq!(config.replica_keys.len(), 1);
    assert_eq!(config.replica_keys[0].arn, replica);
    assert_eq!(config.replica_keys[0].region, WEST);
    assert!(response
        .replica_policy
        .contains("Enable IAM User Permissions"));
    assert_eq!(response.replica_tags.len(), 1);

    // ReplicateKey in the primary's Region, then CreateKey in the replica's.
    let records = env.since(mark);
    assert_eq!(records.len(), 2, "{records:?}");
    // The replica is usable in its Region; the primary lists it.
    let west = env.describe(WEST, &id_of(&primary));
    assert_eq!(west.key_state, "Enabled");
    assert_eq!(west.description, "orders, west");
    let east = env.describe(EAST, &primary);
    let east_config = east.multi_region_configuration.expect("config");
    assert_eq!(east_config.multi_region_key_type, "PRIMARY");
    assert_eq!(east_config.replica_keys[0].arn, replica);
    assert_eq!(east.description, "orders");

    let (replicate, create) = (&records[0], &records[1]);
    assert_eq!(replicate.event_name, "ReplicateKey");
    assert_eq!(replicate.region, EAST);
    assert!(!replicate.read_only);
    assert_eq!(replicate.resources.len(), 1);
    assert_eq!(replicate.resources[0].arn, primary);
    let json = json_of(replicate);
    assert_eq!(
        json["requestParameters"],
        json!({"keyId": id_of(&primary), "replicaRegion": WEST,
               "bypassPolicyLockoutSafetyCheck": false, "description": "orders, west",
               "tags": [{"tagKey": "team", "tagValue": "payments"}]})
    );
    let replica_metadata = &json["responseElements"]["replicaKeyMetadata"];
    assert_eq!(replica_metadata["keyState"], "Creating");
    assert_eq!(replica_metadata["arn"], json!(replica));
    assert_eq!(
        replica_metadata["multiRegionConfiguration"]["multiRegionKeyType"],
        "REPLICA"
    );
    assert_eq!(
        json["responseElements"]["replicaPolicy"],
        json!(response.replica_policy)
    );
    let text = text_of(replicate);
    assert!(
        text.find("\"replicaKeyMetadata\"") < text.find("\"replicaPolicy\""),
        "{text}"
    );
    assert!(
        text.find("\"multiRegionKeyType\"") < text.find("\"primaryKey\"")
            && text.find("\"primaryKey\"") < text.find("\"replicaKeys\""),
        "{text}"
    );

    assert_eq!(create.event_name, "CreateKey");
    assert_eq!(create.region, WEST);
    assert_eq!(create.event_type, EventType::AwsApiCall);
    assert_eq!(create.request_id, replicate.request_id);
    assert_ne!(create.event_id, replicate.event_id);
    assert_eq!(create.resources.len(), 1);
    assert_eq!(create.resources[0].arn, replica);
    assert_eq!(create.recipient_account_id, ACCOUNT);
    assert_eq!(create.tls_details, None);
    let create_json = json_of(create);
    assert_eq!(create_json["requestParameters"]["multiRegion"], json!(true));
    assert_eq!(
        create_json["responseElements"]["keyMetadata"],
        json["responseElements"]["replicaKeyMetadata"]
    );
}

#[test]
fn ciphertext_decrypts_with_any_related_key_in_its_region() {
    let env = env();
    let primary = env.mrk();
    env.replicate(&primary, WEST).expect("replicate");
    let replica = format!("arn:aws:kms:{WEST}:{ACCOUNT}:key/{}", id_of(&primary));
    let from_east = env.encrypt(&admin(), EAST, &primary).expect("encrypt east");
    let west = env
        .decrypt(WEST, &from_east, None)
        .expect("decrypt in west");
    assert_eq!(west.plaintext.bytes(), b"card 4111");
    assert_eq!(west.key_id, replica);
    assert_eq!(env.last().resources[0].arn, replica);
    assert_eq!(env.last().region, WEST);
    env.decrypt(WEST, &from_east, Some(&id_of(&primary)))
        .expect("decrypt naming the replica by id");
    assert_eq!(
        kind(env.decrypt(WEST, &from_east, Some(&primary))),
        KmsErrorKind::IncorrectKey,
        "the primary's ARN names a key of another Region"
    );
    let from_west = env.encrypt(&admin(), WEST, &replica).expect("encrypt west");
    let east = env
        .decrypt(EAST, &from_west, None)
        .expect("decrypt in east");
    assert_eq!(east.plaintext.bytes(), b"card 4111");
    assert_eq!(east.key_id, primary);
    assert_eq!(east.key_material_id, west.key_material_id);
    // No related key in eu-west-1.
    assert_eq!(
        kind(env.decrypt(EU, &from_east, None)),
        KmsErrorKind::NotFound
    );
}

#[test]
fn replicate_key_refuses_what_aws_refuses() {
    let env = env();
    let primary = env.mrk();
    let single = env.single();
    let check = |request: replicate_key::Request, region: &str, want: KmsErrorKind| {
        let got = kind(env.engine.call::<ReplicateKey>(&admin(), region, request));
        assert_eq!(got, want);
        let last = env.last();
        assert_eq!(last.event_name, "ReplicateKey");
        assert_eq!(last.error_code.as_deref(), Some(want.code()));
        assert_eq!(last.response_elements, None);
    };
    let to = |key: &str, region: &str| replicate_key::Request {
        key_id: key.into(),
        replica_region: region.into(),
        ..Default::default()
    };
    check(to(&single, WEST), EAST, KmsErrorKind::UnsupportedOperation);
    check(to(&primary, EAST), EAST, KmsErrorKind::AlreadyExists);
    check(to(&primary, "us-west"), EAST, KmsErrorKind::Validation);
    check(
        to(&primary, "cn-north-1"),
        EAST,
        KmsErrorKind::UnsupportedOperation,
    );
    env.replicate(&primary, WEST).expect("first replica");
    check(to(&primary, WEST), EAST, KmsErrorKind::AlreadyExists);
    // Only the primary key can be replicated.
    check(
        to(&id_of(&primary), EU),
        WEST,
        KmsErrorKind::UnsupportedOperation,
    );
    // kms:ReplicateKey on the primary key is required.
    assert_eq!(
        kind(
            env.engine
                .call::<ReplicateKey>(&app(), EAST, to(&primary, EU))
        ),
        KmsErrorKind::AccessDenied
    );
    let malformed = replicate_key::Request {
        policy: Some("{not json".into()),
        ..to(&primary, EU)
    };
    check(malformed, EAST, KmsErrorKind::MalformedPolicyDocument);
    let other = env.mrk();
    env.schedule(EAST, &other, 7);
    check(to(&other, EU), EAST, KmsErrorKind::InvalidState);
    // A replica of imported material waits for the same material.
    let external = env
        .create(create_key::Request {
            origin: Some("EXTERNAL".into()),
            multi_region: Some(true),
            ..Default::default()
        })
        .expect("external mrk");
    let replica = env
        .replicate(&external.arn, WEST)
        .expect("replicate external");
    assert_eq!(replica.replica_key_metadata.origin, "EXTERNAL");
    assert_eq!(
        env.describe(WEST, &external.key_id).key_state,
        "PendingImport"
    );
}

#[test]
fn rotation_is_set_on_the_primary_and_reaches_the_replicas() {
    let env = env();
    let primary = env.mrk();
    env.replicate(&primary, WEST).expect("replicate");
    let replica = format!("arn:aws:kms:{WEST}:{ACCOUNT}:key/{}", id_of(&primary));
    let old = env.encrypt(&admin(), EAST, &primary).expect("encrypt");

    let enable = |region: &str, key: &str| {
        env.engine.call::<EnableKeyRotation>(
            &admin(),
            region,
            EnableRequest {
                key_id: key.into(),
                rotation_period_in_days: Some(90),
            },
        )
    };
    assert_eq!(
        kind(enable(WEST, &replica)),
        KmsErrorKind::UnsupportedOperation
    );
    enable(EAST, &primary).expect("enable on the primary");
    let status = env
        .engine
        .call::<GetKeyRotationStatus>(
            &admin(),
            WEST,
            KeyRequest {
                key_id: replica.clone(),
            },
        )
        .expect("status");
    assert!(status.key_rotation_enabled);
    assert_eq!(status.rotation_period_in_days, Some(90));
    assert_eq!(
        kind(env.engine.call::<DisableKeyRotation>(
            &admin(),
            WEST,
            KeyRequest {
                key_id: replica.clone()
            }
        )),
        KmsErrorKind::UnsupportedOperation
    );

    // On demand: only through the primary; the replica gets the material.
    let rotate = |region: &str, key: &str| {
        env.engine.call::<RotateKeyOnDemand>(
            &admin(),
            region,
            rotate_key_on_demand::Request { key_id: key.into() },
        )
    };
    assert_eq!(
        kind(rotate(WEST, &replica)),
        KmsErrorKind::UnsupportedOperation
    );
    let mark = env.events().len();
    rotate(EAST, &primary).expect("rotate");
    let names: Vec<String> = env
        .since(mark)
        .iter()
        .map(|e| e.event_name.clone())
        .collect();
    assert_eq!(
        names,
        [
            "RotateKeyOnDemand",
            "RotateKey",
            "SynchronizeMultiRegionKey"
        ]
    );
    let sync = env.last();
    assert_eq!(sync.event_type, EventType::AwsApiCall);
    assert!(sync.request_id.is_some());
    assert_eq!(sync.region, EAST);
    assert_eq!(sync.resources[0].arn, primary);
    assert_eq!(sync.response_elements, Some(json!({ "keyId": primary })));
    assert_eq!(sync.request_parameters, Value::Null);
    let sync_json = json_of(&sync);
    assert_eq!(
        sync_json["userIdentity"],
        json!({"accountId": ACCOUNT, "invokedBy": "AWS Internal"})
    );
    let east_material = env.describe(EAST, &primary).current_key_material_id;
    assert_eq!(
        env.describe(WEST, &replica).current_key_material_id,
        east_material
    );
    // Old ciphertext still opens on the replica; new ciphertext of the replica on the primary.
    env.decrypt(WEST, &old, None)
        .expect("old ciphertext in west");
    let new = env.encrypt(&admin(), WEST, &replica).expect("encrypt west");
    let opened = env
        .decrypt(EAST, &new, None)
        .expect("new ciphertext in east");
    assert_eq!(Some(opened.key_material_id), east_material);

    // Automatic rotation of the primary, 90 days on: one RotateKey, the replica follows.
    env.clock.advance(Duration::days(91));
    let mark = env.events().len();
    assert_eq!(env.engine.run_due().expect("run due"), 1);
    let due: Vec<(String, String)> = env
        .since(mark)
        .iter()
        .map(|e| (e.event_name.clone(), e.region.clone()))
        .collect();
    assert_eq!(
        due,
        [
            ("RotateKey".to_owned(), EAST.to_owned()),
            ("SynchronizeMultiRegionKey".to_owned(), EAST.to_owned())
        ]
    );
    let rotated = env.describe(EAST, &primary).current_key_material_id;
    assert_ne!(rotated, east_material);
    assert_eq!(
        env.describe(WEST, &replica).current_key_material_id,
        rotated
    );
}

#[test]
fn update_primary_region_swaps_the_roles_and_writes_two_records() {
    let env = env();
    let primary = env.mrk();
    let id = id_of(&primary);
    env.replicate(&primary, WEST).expect("replicate");
    let replica = format!("arn:aws:kms:{WEST}:{ACCOUNT}:key/{id}");
    let update = |caller: &Caller, region: &str, key: &str, to: &str| {
        env.engine.call::<UpdatePrimaryRegion>(
            caller,
            region,
            update_primary_region::Request {
                key_id: key.into(),
                primary_region: to.into(),
            },
        )
    };
    let mark = env.events().len();
    update(&admin(), EAST, &id, WEST).expect("update");
    let records = env.since(mark);
    assert_eq!(records.len(), 2);
    let (old, new) = (&records[0], &records[1]);
    assert_eq!(old.event_name, "UpdatePrimaryRegion");
    assert_eq!(old.region, EAST);
    assert_eq!(
        old.request_parameters,
        json!({"keyId": id, "primaryRegion": WEST})
    );
    assert_eq!(old.response_elements, None);
    let old_resources: Vec<&str> = old.resources.iter().map(|r| r.arn.as_str()).collect();
    assert_eq!(old_resources, [primary.as_str()]);
    assert_eq!(new.event_name, "UpdatePrimaryRegion");
    assert_eq!(new.region, WEST);
    assert_eq!(
        new.request_parameters,
        json!({"keyId": replica, "primaryRegion": WEST})
    );
    assert_eq!(new.request_id, old.request_id);
    assert_ne!(new.event_id, old.event_id);
    assert!(new.resources.is_empty());
    assert!(!text_of(new).contains("\"resources\""));

    let west = env.describe(WEST, &id);
    let west_config = west.multi_region_configuration.expect("config");
    assert_eq!(west_config.multi_region_key_type, "PRIMARY");
    assert_eq!(west_config.primary_key.arn, replica);
    let east = env.describe(EAST, &id);
    let east_config = east.multi_region_configuration.expect("config");
    assert_eq!(east_config.multi_region_key_type, "REPLICA");
    assert_eq!(east_config.primary_key.region, WEST);
    assert_eq!(east_config.replica_keys[0].arn, primary);

    // Only the new primary can be replicated now.
    assert_eq!(
        kind(env.replicate(&id, EU)),
        KmsErrorKind::UnsupportedOperation
    );
    env.engine
        .call::<ReplicateKey>(
            &admin(),
            WEST,
            replicate_key::Request {
                key_id: id.clone(),
                replica_region: EU.into(),
                ..Default::default()
            },
        )
        .expect("replicate from the new primary");

    // Errors.
    let single = env.single();
    assert_eq!(
        kind(update(&admin(), EAST, &single, WEST)),
        KmsErrorKind::UnsupportedOperation
    );
    assert_eq!(
        kind(update(&admin(), EAST, &id, WEST)),
        KmsErrorKind::UnsupportedOperation,
        "us-east-1 holds a replica now"
    );
    assert_eq!(
        kind(update(&admin(), WEST, &id, WEST)),
        KmsErrorKind::UnsupportedOperation,
        "already the primary Region"
    );
    assert_eq!(
        kind(update(&admin(), WEST, &id, "ap-south-1")),
        KmsErrorKind::NotFound
    );
    assert_eq!(
        kind(update(&admin(), WEST, &id, "ap_south")),
        KmsErrorKind::Validation
    );
    env.engine
        .call::<DisableKey>(&admin(), EU, key_state::Request { key_id: id.clone() })
        .expect("disable");
    assert_eq!(
        kind(update(&admin(), WEST, &id, EU)),
        KmsErrorKind::Disabled
    );
    assert_eq!(
        kind(update(&app(), WEST, &id, EAST)),
        KmsErrorKind::AccessDenied
    );
}

#[test]
fn update_primary_region_needs_permission_on_the_replica_too() {
    let env = env();
    // The primary's policy lets `app` update the primary Region; the replica's does not.
    let app_too = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/app"}},"Action":"kms:UpdatePrimaryRegion","Resource":"*"}}]}}"#
    );
    let primary = env
        .create(create_key::Request {
            multi_region: Some(true),
            policy: Some(app_too),
            ..Default::default()
        })
        .expect("primary")
        .arn;
    env.replicate(&primary, WEST).expect("replicate");
    let mark = env.events().len();
    let denied = env.engine.call::<UpdatePrimaryRegion>(
        &app(),
        EAST,
        update_primary_region::Request {
            key_id: primary.clone(),
            primary_region: WEST.into(),
        },
    );
    assert_eq!(kind(denied), KmsErrorKind::AccessDenied);
    let records = env.since(mark);
    assert_eq!(records.len(), 1, "a failed update writes one record");
    assert_eq!(
        records[0].error_code.as_deref(),
        Some("AccessDeniedException")
    );
    assert!(records[0]
        .error_message
        .as_deref()
        .is_some_and(|m| m.contains(&format!("arn:aws:kms:{WEST}:"))));
    assert_eq!(records[0].resources.len(), 1);
}

#[test]
fn a_primary_with_replicas_waits_for_their_deletion() {
    let env = env();
    let primary = env.mrk();
    env.replicate(&primary, WEST).expect("replicate");
    let replica = format!("arn:aws:kms:{WEST}:{ACCOUNT}:key/{}", id_of(&primary));
    let response = env.schedule(EAST, &primary, 30);
    assert_eq!(response.key_state, "PendingReplicaDeletion");
    assert_eq!(response.deletion_date, None);
    assert_eq!(response.pending_window_in_days, 30);
    let record = json_of(&env.last());
    assert_eq!(
        record["responseElements"],
        json!({"keyId": primary, "keyState": "PendingReplicaDeletion", "pendingWindowInDays": 30})
    );
    assert_eq!(
        env.describe(EAST, &primary).key_state,
        "PendingReplicaDeletion"
    );
    assert_eq!(
        kind(env.encrypt(&admin(), EAST, &primary)),
        KmsErrorKind::InvalidState
    );
    assert_eq!(
        kind(env.replicate(&primary, EU)),
        KmsErrorKind::InvalidState
    );
    // Cancel and schedule again, then delete the replica: the primary's window starts.
    let cancelled = env.engine.call::<CancelKeyDeletion>(
        &admin(),
        EAST,
        cancel_key_deletion::Request {
            key_id: primary.clone(),
        },
    );
    assert!(cancelled.is_ok(), "{cancelled:?}");
    assert_eq!(env.describe(EAST, &primary).key_state, "Disabled");
    env.schedule(EAST, &primary, 30);
    env.schedule(WEST, &replica, 7);
    env.clock.advance(Duration::days(8));
    env.engine.run_due().expect("run due");
    let deleted = env
        .events()
        .into_iter()
        .filter(|e| e.event_name == "DeleteKey")
        .collect::<Vec<_>>();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].resources[0].arn, replica);
    let east = env.describe(EAST, &primary);
    assert_eq!(east.key_state, "PendingDeletion");
    let replica_deleted = start() + Duration::days(7);
    #[allow(clippy::cast_precision_loss)]
    let want = (replica_deleted + Duration::days(30)).timestamp() as f64;
    assert_eq!(east.deletion_date, Some(want));
    assert!(east
        .multi_region_configuration
        .expect("config")
        .replica_keys
        .is_empty());
    env.clock.advance(Duration::days(30));
    env.engine.run_due().expect("run due");
    assert!(env.engine.snapshot().expect("state").keys.is_empty());
}

// ------------------------------------------------------------------ CloudHSM key stores

#[test]
fn keys_in_a_cloudhsm_key_store() {
    let env = env();
    let metadata = env.hsm_key();
    assert_eq!(metadata.origin, "AWS_CLOUDHSM");
    assert_eq!(metadata.custom_key_store_id.as_deref(), Some(STORE));
    assert_eq!(metadata.cloud_hsm_cluster_id.as_deref(), Some(CLUSTER));
    assert_eq!(metadata.key_spec, "SYMMETRIC_DEFAULT");
    assert_eq!(metadata.current_key_material_id, None);
    let wire = serde_json::to_value(&metadata).expect("wire");
    assert_eq!(wire["CustomKeyStoreId"], STORE);
    assert_eq!(wire["CloudHsmClusterId"], CLUSTER);
    let create = json_of(&env.last());
    assert_eq!(create["requestParameters"]["customKeyStoreId"], STORE);
    assert_eq!(create["requestParameters"]["origin"], "AWS_CLOUDHSM");
    let key_metadata = &create["responseElements"]["keyMetadata"];
    assert_eq!(key_metadata["customKeyStoreId"], STORE);
    assert_eq!(key_metadata["cloudHsmClusterId"], CLUSTER);
    let text = text_of(&env.last());
    assert!(
        text.find("\"origin\"") < text.find("\"customKeyStoreId\":\"cks")
            && text.find("\"cloudHsmClusterId\"") < text.find("\"keyManager\""),
        "{text}"
    );
    let backing: Value = serde_json::from_str(
        create["additionalEventData"]["backingKey"]
            .as_str()
            .expect("backingKey is JSON text"),
    )
    .expect("backing key");
    assert_eq!(backing["keyHandle"], "1");
    let backing_id = backing["backingKeyId"].as_str().expect("id").to_owned();
    assert_eq!(backing_id.len(), 64);
    assert_eq!(env.hsm_key().custom_key_store_id.as_deref(), Some(STORE));
    let second: Value = serde_json::from_str(
        json_of(&env.last())["additionalEventData"]["backingKey"]
            .as_str()
            .expect("text"),
    )
    .expect("json");
    assert_eq!(second["keyHandle"], "2");

    // Cryptographic records carry the store id, not a key material id.
    let blob = env.encrypt(&admin(), EAST, &metadata.arn).expect("encrypt");
    assert_eq!(
        env.last().additional_event_data,
        Some(json!({ "customKeyStoreId": STORE }))
    );
    env.decrypt(EAST, &blob, None).expect("decrypt");
    assert_eq!(
        env.last().additional_event_data,
        Some(json!({ "customKeyStoreId": STORE }))
    );
    let failed = env.engine.call::<Decrypt>(
        &admin(),
        EAST,
        decrypt::Request {
            ciphertext_blob: Blob::new(blob),
            encryption_context: None,
            grant_tokens: vec![],
            key_id: None,
            encryption_algorithm: None,
        },
    );
    assert_eq!(kind(failed), KmsErrorKind::InvalidCiphertext);
    let last = env.last();
    assert_eq!(
        last.error_code.as_deref(),
        Some("InvalidCiphertextException")
    );
    assert_eq!(
        last.additional_event_data,
        Some(json!({ "customKeyStoreId": STORE }))
    );

    // No automatic rotation in a custom key store.
    assert_eq!(
        kind(env.engine.call::<EnableKeyRotation>(
            &admin(),
            EAST,
            EnableRequest {
                key_id: metadata.arn.clone(),
                rotation_period_in_days: None,
            },
        )),
        KmsErrorKind::UnsupportedOperation
    );

    // Deletion names the backing keys.
    env.schedule(EAST, &metadata.arn, 7);
    let scheduled = json_of(&env.last());
    let data = &scheduled["additionalEventData"];
    assert_eq!(data["customKeyStoreId"], STORE);
    assert_eq!(data["clusterId"], CLUSTER);
    let keys: Value =
        serde_json::from_str(data["backingKeys"].as_str().expect("text")).expect("json");
    assert_eq!(
        keys,
        json!([{ "keyHandle": "1", "backingKeyId": backing_id }])
    );
    env.clock.advance(Duration::days(8));
    env.engine.run_due().expect("run due");
    let deleted = env
        .events()
        .into_iter()
        .find(|e| e.event_name == "DeleteKey")
        .expect("DeleteKey");
    let data = json_of(&deleted)["additionalEventData"].clone();
    let status: Value =
        serde_json::from_str(data["backingKeysDeletionStatus"].as_str().expect("text"))
            .expect("json");
    assert_eq!(
        status,
        json!([{ "keyHandle": "1", "backingKeyId": backing_id, "deletionStatus": "SUCCESS" }])
    );
    assert_eq!(data["clusterId"], CLUSTER);
}

#[test]
fn cloudhsm_create_key_errors() {
    let env = env();
    let create = |origin: Option<&str>, store: Option<&str>| create_key::Request {
        origin: origin.map(Into::into),
        custom_key_store_id: store.map(Into::into),
        ..Default::default()
    };
    let cases = [
        (
            create(Some("AWS_CLOUDHSM"), Some("cks-0000000000000000f")),
            KmsErrorKind::CustomKeyStoreNotFound,
        ),
        (
            create(Some("AWS_CLOUDHSM"), Some("cks-00000000000000003")),
            KmsErrorKind::CustomKeyStoreNotFound,
        ),
        (
            create(Some("AWS_CLOUDHSM"), Some("cks-00000000000000001")),
            KmsErrorKind::CustomKeyStoreInvalidState,
        ),
        (
            create(Some("AWS_CLOUDHSM"), Some("cks-00000000000000002")),
            KmsErrorKind::CloudHsmClusterInvalidConfiguration,
        ),
        (
            create(Some("AWS_CLOUDHSM"), None),
            KmsErrorKind::UnsupportedOperation,
        ),
        (
            create(None, Some(STORE)),
            KmsErrorKind::UnsupportedOperation,
        ),
        (
            create_key::Request {
                key_spec: Some("RSA_2048".into()),
                ..create(Some("AWS_CLOUDHSM"), Some(STORE))
            },
            KmsErrorKind::UnsupportedOperation,
        ),
        (
            create_key::Request {
                multi_region: Some(true),
                ..create(Some("AWS_CLOUDHSM"), Some(STORE))
            },
            KmsErrorKind::UnsupportedOperation,
        ),
        (
            create(Some("EXTERNAL_KEY_STORE"), Some(STORE)),
            KmsErrorKind::UnsupportedOperation,
        ),
    ];
    for (request, want) in cases {
        let described = format!("{request:?}");
        assert_eq!(kind(env.create(request)), want, "{described}");
        let last = env.last();
        assert_eq!(last.error_code.as_deref(), Some(want.code()), "{described}");
        assert_eq!(last.additional_event_data, None, "{described}");
    }
    assert_eq!(
        KmsErrorKind::CustomKeyStoreNotFound.code(),
        "CustomKeyStoreNotFoundException"
    );
    assert_eq!(
        KmsErrorKind::CloudHsmClusterInvalidConfiguration.code(),
        "CloudHsmClusterInvalidConfigurationException"
    );

    // GenerateRandom from a store.
    let random = |store: &str| {
        env.engine.call::<GenerateRandom>(
            &admin(),
            EAST,
            generate_random::Request {
                number_of_bytes: Some(16),
                custom_key_store_id: Some(store.into()),
            },
        )
    };
    assert_eq!(random(STORE).expect("random").plaintext.bytes().len(), 16);
    assert_eq!(
        env.last().additional_event_data,
        Some(json!({ "customKeyStoreId": STORE }))
    );
    assert_eq!(
        kind(random("cks-00000000000000001")),
        KmsErrorKind::CustomKeyStoreInvalidState
    );
    assert_eq!(
        kind(random("cks-0000000000000000f")),
        KmsErrorKind::CustomKeyStoreNotFound
    );
}

#[test]
fn custom_key_store_configuration_is_checked() {
    let build = |custom_key_stores: Vec<CustomKeyStore>| {
        Engine::new(
            Arc::new(SimulatedClock::new(start())),
            Arc::new(MemorySink::default()),
            EngineConfig {
                custom_key_stores,
                ..EngineConfig::default()
            },
        )
    };
    let good = CustomKeyStore::connected(STORE, "a", CLUSTER, ACCOUNT, EAST);
    assert!(build(vec![good.clone()]).is_ok());
    let mut bad_id = good.clone();
    bad_id.custom_key_store_id = "cks-12".into();
    assert!(build(vec![bad_id]).is_err());
    let mut bad_cluster = good.clone();
    bad_cluster.cloud_hsm_cluster_id = "cluster-x".into();
    assert!(build(vec![bad_cluster]).is_err());
    let mut same_name = good.clone();
    same_name.custom_key_store_id = "cks-00000000000000009".into();
    assert!(build(vec![good.clone(), same_name]).is_err());
    assert!(build(vec![good.clone(), good]).is_err());
}

// ------------------------------------------------------------------ cross-account delivery

/// A key of ACCOUNT whose policy lets PARTNER encrypt, decrypt and describe.
fn shared_key(env: &Env) -> String {
    let policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},
            {{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{PARTNER}:root"}},"Action":["kms:Encrypt","kms:Decrypt","kms:DescribeKey"],"Resource":"*"}}]}}"#
    );
    env.create(create_key::Request {
        policy: Some(policy),
        ..Default::default()
    })
    .expect("shared key")
    .arn
}

#[test]
fn cross_account_calls_are_delivered_to_both_accounts() {
    let env = env();
    let key = shared_key(&env);

    // Same account: one record, no sharedEventID.
    let mark = env.events().len();
    env.encrypt(&admin(), EAST, &key).expect("own encrypt");
    let own = env.since(mark);
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].shared_event_id, None);
    assert_eq!(own[0].recipient_account_id, ACCOUNT);
    assert!(!text_of(&own[0]).contains("sharedEventID"));

    // Another account: a copy for each, one sharedEventID, two eventIDs.
    let mark = env.events().len();
    let blob = env
        .encrypt(&partner(), EAST, &key)
        .expect("partner encrypt");
    let copies = env.since(mark);
    assert_eq!(copies.len(), 2);
    let (caller_copy, owner_copy) = (&copies[0], &copies[1]);
    assert_eq!(caller_copy.recipient_account_id, PARTNER);
    assert_eq!(owner_copy.recipient_account_id, ACCOUNT);
    let shared = caller_copy.shared_event_id.clone().expect("sharedEventID");
    assert_eq!(owner_copy.shared_event_id.as_ref(), Some(&shared));
    let groups: Vec<usize> = shared.split('-').map(str::len).collect();
    assert_eq!(groups, [8, 4, 4, 4, 12]);
    assert_ne!(caller_copy.event_id, owner_copy.event_id);
    assert_ne!(shared, caller_copy.event_id);
    assert_ne!(shared, owner_copy.event_id);
    assert_eq!(caller_copy.request_id, owner_copy.request_id);
    let mut same = owner_copy.clone();
    same.recipient_account_id = PARTNER.into();
    same.event_id.clone_from(&caller_copy.event_id);
    assert_eq!(
        &same, caller_copy,
        "the copies differ only in recipient and eventID"
    );
    let text = text_of(owner_copy);
    let recipient = text.find("\"recipientAccountId\"").expect("recipient");
    let shared_at = text.find("\"sharedEventID\"").expect("shared");
    let category = text.find("\"eventCategory\"").expect("category");
    assert!(recipient < shared_at && shared_at < category, "{text}");

    // A call that fails after authorization still reaches both accounts.
    env.engine
        .call::<DisableKey>(
            &admin(),
            EAST,
            key_state::Request {
                key_id: key.clone(),
            },
        )
        .expect("disable");
    let mark = env.events().len();
    assert_eq!(
        kind(env.decrypt_as(&partner(), &blob)),
        KmsErrorKind::Disabled
    );
    let failed = env.since(mark);
    assert_eq!(failed.len(), 2);
    assert!(failed
        .iter()
        .all(|e| e.error_code.as_deref() == Some("DisabledException")));
    assert_eq!(failed[0].shared_event_id, failed[1].shared_event_id);

    // Denied: only the caller's account sees it.
    let mark = env.events().len();
    let denied = env.engine.call::<ScheduleKeyDeletion>(
        &partner(),
        EAST,
        schedule_key_deletion::Request {
            key_id: key.clone(),
            pending_window_in_days: None,
        },
    );
    assert_eq!(kind(denied), KmsErrorKind::AccessDenied);
    let denied = env.since(mark);
    assert_eq!(denied.len(), 1);
    assert_eq!(denied[0].recipient_account_id, PARTNER);
    assert_eq!(denied[0].shared_event_id, None);
    assert_eq!(
        denied[0].error_code.as_deref(),
        Some("AccessDeniedException")
    );
    // A key that does not exist names no owner: the caller's account only.
    let mark = env.events().len();
    let missing = format!("arn:aws:kms:{EAST}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    assert_eq!(
        kind(env.encrypt(&partner(), EAST, &missing)),
        KmsErrorKind::NotFound
    );
    assert_eq!(env.since(mark).len(), 1);
}

impl Env {
    fn decrypt_as(&self, caller: &Caller, blob: &[u8]) -> Result<decrypt::Response, KmsError> {
        self.engine.call::<Decrypt>(
            caller,
            EAST,
            decrypt::Request {
                ciphertext_blob: Blob::new(blob.to_vec()),
                encryption_context: Some(BTreeMap::from([("app".into(), "shop".into())])),
                grant_tokens: vec![],
                key_id: None,
                encryption_algorithm: None,
            },
        )
    }
}

// ------------------------------------------------------------------ small fidelity gaps

#[allow(clippy::cast_precision_loss)]
fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

#[test]
fn grants_and_aliases_report_their_dates() {
    let env = env();
    let key = env.single();
    let other = env.single();
    let created = start();
    env.engine
        .call::<CreateGrant>(
            &admin(),
            EAST,
            create_grant::Request {
                key_id: key.clone(),
                grantee_principal: format!("arn:aws:iam::{ACCOUNT}:user/app"),
                retiring_principal: Some(format!("arn:aws:iam::{ACCOUNT}:user/admin")),
                operations: vec!["Decrypt".into()],
                ..Default::default()
            },
        )
        .expect("grant");
    let listed = env
        .engine
        .call::<ListGrants>(
            &admin(),
            EAST,
            list_grants::Request {
                key_id: key.clone(),
                ..Default::default()
            },
        )
        .expect("list grants");
    assert_eq!(listed.grants[0].creation_date, Some(epoch(created)));
    let wire = serde_json::to_value(&listed).expect("wire");
    assert_eq!(wire["Grants"][0]["CreationDate"], json!(epoch(created)));
    let retirable = env
        .engine
        .call::<ListRetirableGrants>(
            &admin(),
            EAST,
            list_grants::RetirableRequest {
                retiring_principal: format!("arn:aws:iam::{ACCOUNT}:user/admin"),
                ..Default::default()
            },
        )
        .expect("retirable");
    assert_eq!(retirable.grants[0].creation_date, Some(epoch(created)));

    env.engine
        .call::<CreateAlias>(
            &admin(),
            EAST,
            create_alias::Request {
                alias_name: "alias/orders".into(),
                target_key_id: key.clone(),
            },
        )
        .expect("alias");
    env.clock.advance(Duration::hours(5));
    let updated = created + Duration::hours(5);
    env.engine
        .call::<UpdateAlias>(
            &admin(),
            EAST,
            update_alias::Request {
                alias_name: "alias/orders".into(),
                target_key_id: other.clone(),
            },
        )
        .expect("update alias");
    let aliases = env
        .engine
        .call::<ListAliases>(&admin(), EAST, list_aliases::Request::default())
        .expect("list aliases");
    let entry = &aliases.aliases[0];
    assert_eq!(entry.alias_name, "alias/orders");
    assert_eq!(entry.target_key_id, id_of(&other));
    assert_eq!(entry.creation_date, epoch(created));
    assert_eq!(entry.last_updated_date, epoch(updated));
    let wire = serde_json::to_value(&aliases).expect("wire");
    assert_eq!(wire["Aliases"][0]["CreationDate"], json!(epoch(created)));
    assert_eq!(wire["Aliases"][0]["LastUpdatedDate"], json!(epoch(updated)));
    // Resolving through the alias follows the update.
    let blob = env
        .encrypt(&admin(), EAST, "alias/orders")
        .expect("encrypt");
    assert_eq!(
        env.decrypt(EAST, &blob, None).expect("decrypt").key_id,
        other
    );
}

fn wrap(parameters: &ParametersResponse, material: &[u8]) -> Vec<u8> {
    let public = OaepPublicEncryptingKey::new(
        PublicEncryptingKey::from_der(parameters.public_key.bytes()).expect("public key"),
    )
    .expect("oaep");
    let mut out = vec![0; public.ciphertext_size()];
    public
        .encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None)
        .expect("wrap")
        .to_vec()
}

impl Env {
    fn parameters(&self, region: &str, key: &str) -> ParametersResponse {
        self.engine
            .call::<GetParametersForImport>(
                &admin(),
                region,
                import_key_material::ParametersRequest {
                    key_id: key.into(),
                    wrapping_algorithm: "RSAES_OAEP_SHA_256".into(),
                    wrapping_key_spec: "RSA_2048".into(),
                },
            )
            .expect("parameters")
    }

    fn import(
        &self,
        key: &str,
        material: &[u8],
        import_type: Option<&str>,
        material_id: Option<&str>,
        description: Option<&str>,
    ) -> Result<import_key_material::ImportResponse, KmsError> {
        self.import_in(EAST, key, material, import_type, material_id, description)
    }

    fn import_in(
        &self,
        region: &str,
        key: &str,
        material: &[u8],
        import_type: Option<&str>,
        material_id: Option<&str>,
        description: Option<&str>,
    ) -> Result<import_key_material::ImportResponse, KmsError> {
        let parameters = self.parameters(region, key);
        self.engine.call::<ImportKeyMaterial>(
            &admin(),
            region,
            import_key_material::ImportRequest {
                key_id: key.into(),
                import_token: parameters.import_token.clone(),
                encrypted_key_material: Blob::new(wrap(&parameters, material)),
                import_type: import_type.map(Into::into),
                key_material_id: material_id.map(Into::into),
                key_material_description: description.map(Into::into),
                ..Default::default()
            },
        )
    }
}

#[test]
fn import_key_material_takes_the_2025_members() {
    let env = env();
    let key = env
        .create(create_key::Request {
            origin: Some("EXTERNAL".into()),
            ..Default::default()
        })
        .expect("external")
        .arn;
    let first = [7u8; 32];
    let second = [9u8; 32];
    let imported = env
        .import(&key, &first, None, None, Some("ExampleKeyMaterialA"))
        .expect("first import");
    assert_eq!(imported.key_id, key);
    assert_eq!(imported.key_material_id.len(), 64);
    let record = json_of(&env.last());
    assert_eq!(
        record["requestParameters"],
        json!({"keyId": key, "expirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
               "keyMaterialDescription": "ExampleKeyMaterialA"})
    );
    assert_eq!(
        record["responseElements"],
        json!({"keyId": key, "keyMaterialId": imported.key_material_id})
    );
    let text = text_of(&env.last());
    assert!(
        text.find("\"keyId\":\"arn") < text.find("\"keyMaterialId\""),
        "{text}"
    );
    assert_eq!(
        env.describe(EAST, &key).current_key_material_id.as_deref(),
        Some(imported.key_material_id.as_str())
    );

    // Re-import (the default after the first import): same material, same id.
    let again = env
        .import(&key, &first, None, Some(&imported.key_material_id), None)
        .expect("re-import");
    assert_eq!(again.key_material_id, imported.key_material_id);
    assert_eq!(
        json_of(&env.last())["requestParameters"]["keyMaterialId"],
        json!(imported.key_material_id)
    );
    assert_eq!(
        kind(env.import(&key, &second, None, None, None)),
        KmsErrorKind::IncorrectKeyMaterial
    );
    assert_eq!(
        kind(env.import(
            &key,
            &first,
            Some("EXISTING_KEY_MATERIAL"),
            Some(&"a".repeat(64)),
            None
        )),
        KmsErrorKind::IncorrectKeyMaterial
    );
    assert_eq!(
        kind(env.import(
            &key,
            &first,
            Some("NEW_KEY_MATERIAL"),
            Some(&imported.key_material_id),
            None
        )),
        KmsErrorKind::Validation
    );
    assert_eq!(
        kind(env.import(&key, &first, Some("SOME_MATERIAL"), None, None)),
        KmsErrorKind::Validation
    );
    assert_eq!(
        kind(env.import(&key, &first, None, Some("ABC"), None)),
        KmsErrorKind::Validation
    );
    assert_eq!(
        kind(env.import(&key, &first, Some("NEW_KEY_MATERIAL"), None, None)),
        KmsErrorKind::IncorrectKeyMaterial,
        "already associated with the key"
    );

    // New material waits for an on-demand rotation.
    let old_blob = env.encrypt(&admin(), EAST, &key).expect("encrypt");
    let pending = env
        .import(&key, &second, Some("NEW_KEY_MATERIAL"), None, Some("B"))
        .expect("new material");
    assert_ne!(pending.key_material_id, imported.key_material_id);
    assert_eq!(
        json_of(&env.last())["requestParameters"]["importType"],
        "NEW_KEY_MATERIAL"
    );
    assert_eq!(
        env.describe(EAST, &key).current_key_material_id.as_deref(),
        Some(imported.key_material_id.as_str())
    );
    let rotations = env
        .engine
        .call::<ListKeyRotations>(
            &admin(),
            EAST,
            list_key_rotations::Request {
                key_id: key.clone(),
                include_key_material: Some("ALL_KEY_MATERIAL".into()),
                limit: None,
                marker: None,
            },
        )
        .expect("rotations");
    let states: Vec<(&str, Option<&str>)> = rotations
        .rotations
        .iter()
        .map(|r| {
            (
                r.key_material_state.as_str(),
                r.key_material_description.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        states,
        [
            ("CURRENT", Some("ExampleKeyMaterialA")),
            ("PENDING_ROTATION", Some("B"))
        ]
    );
    env.engine
        .call::<RotateKeyOnDemand>(
            &admin(),
            EAST,
            rotate_key_on_demand::Request {
                key_id: key.clone(),
            },
        )
        .expect("rotate imported material");
    let rotate_key = env.last();
    assert_eq!(
        env.describe(EAST, &key).current_key_material_id.as_deref(),
        Some(pending.key_material_id.as_str())
    );
    assert_eq!(rotate_key.event_name, "RotateKey");
    let details = rotate_key.service_event_details.expect("details");
    assert_eq!(details["keyOrigin"], "EXTERNAL");
    assert_eq!(
        details["currentKeyMaterialId"],
        json!(pending.key_material_id)
    );
    env.decrypt(EAST, &old_blob, None)
        .expect("old ciphertext after rotation");
    assert_eq!(
        kind(env.engine.call::<RotateKeyOnDemand>(
            &admin(),
            EAST,
            rotate_key_on_demand::Request {
                key_id: key.clone(),
            },
        )),
        KmsErrorKind::UnsupportedOperation,
        "nothing pending"
    );
}

#[test]
fn replicas_of_imported_material_take_the_primary_material_only() {
    let env = env();
    let primary = env
        .create(create_key::Request {
            origin: Some("EXTERNAL".into()),
            multi_region: Some(true),
            ..Default::default()
        })
        .expect("external mrk");
    env.replicate(&primary.arn, WEST).expect("replicate");
    let replica = format!("arn:aws:kms:{WEST}:{ACCOUNT}:key/{}", primary.key_id);
    let material = [3u8; 32];
    let imported = env
        .import(&primary.arn, &material, None, None, None)
        .expect("import into the primary");
    assert_eq!(env.describe(WEST, &replica).key_state, "PendingImport");
    assert_eq!(
        kind(env.import_in(WEST, &replica, &[4u8; 32], None, None, None)),
        KmsErrorKind::IncorrectKeyMaterial
    );
    let same = env
        .import_in(WEST, &replica, &material, None, None, None)
        .expect("import into the replica");
    assert_eq!(same.key_material_id, imported.key_material_id);
    assert_eq!(same.key_id, replica);
    assert_eq!(env.describe(WEST, &replica).key_state, "Enabled");
    let blob = env.encrypt(&admin(), EAST, &primary.arn).expect("encrypt");
    assert_eq!(
        env.decrypt(WEST, &blob, None).expect("decrypt").key_id,
        replica
    );
    // Multi-Region keys with imported material take no second material.
    assert_eq!(
        kind(env.import(
            &primary.arn,
            &[5u8; 32],
            Some("NEW_KEY_MATERIAL"),
            None,
            None
        )),
        KmsErrorKind::IncorrectKeyMaterial
    );
}

#[test]
fn records_in_other_regions_say_kms_made_them() {
    let env = env();
    let role = Caller {
        identity: CallerIdentity::assumed_role(ACCOUNT, "Admin", "ops", start()),
        principal: format!("arn:aws:sts::{ACCOUNT}:assumed-role/Admin/ops"),
        ..admin()
    };
    let primary = env
        .engine
        .call::<CreateKey>(
            &role,
            EAST,
            create_key::Request {
                multi_region: Some(true),
                ..Default::default()
            },
        )
        .expect("create")
        .key_metadata
        .arn;
    let mark = env.events().len();
    env.engine
        .call::<ReplicateKey>(
            &role,
            EAST,
            replicate_key::Request {
                key_id: primary.clone(),
                replica_region: WEST.into(),
                ..Default::default()
            },
        )
        .expect("replicate");
    env.engine
        .call::<UpdatePrimaryRegion>(
            &role,
            EAST,
            update_primary_region::Request {
                key_id: primary,
                primary_region: WEST.into(),
            },
        )
        .expect("update");
    let records = env.since(mark);
    let made_by: Vec<(String, String, Value, bool)> = records
        .iter()
        .map(|e| {
            let json = json_of(e);
            (
                e.event_name.clone(),
                e.region.clone(),
                json["userIdentity"]["invokedBy"].clone(),
                json.get("tlsDetails").is_some(),
            )
        })
        .collect();
    assert_eq!(
        made_by,
        [
            ("ReplicateKey".into(), EAST.into(), Value::Null, true),
            (
                "CreateKey".into(),
                WEST.into(),
                json!("kms.amazonaws.com"),
                false
            ),
            ("UpdatePrimaryRegion".into(), EAST.into(), Value::Null, true),
            (
                "UpdatePrimaryRegion".into(),
                WEST.into(),
                json!("kms.amazonaws.com"),
                false
            ),
        ]
    );
    let text = text_of(&records[1]);
    assert!(
        text.contains("\"userIdentity\":{\"type\":\"AssumedRole\""),
        "{text}"
    );
}
