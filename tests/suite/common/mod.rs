//! The harness the KMS integration tests share: an engine over a simulated clock standing at
//! a fixed time, recording to a `MemorySink` or a `FileSink`; the standard callers; helpers to
//! create keys and read the records back; the order-preserving JSON reader the record tests
//! compare with; the search for secrets in emitted bytes; the CloudTrail log-file key check.
//!
//! Every KMS test binary declares `mod common;` and uses a part of it, so items one binary
//! does not use are expected.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::rsa::{
    OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Value};

use kms_audit::kms::audit::{
    record_bytes, AuditEvent, AuditSink, CallerIdentity, FileSink, FileSinkConfig, MemorySink,
};
use kms_audit::kms::engine::clock::SimulatedClock;
use kms_audit::kms::engine::error::{KmsError, KmsErrorKind};
use kms_audit::kms::engine::key_store::CustomKeyStore;
use kms_audit::kms::engine::ops::blob::Blob;
use kms_audit::kms::engine::ops::create_alias::{self, CreateAlias};
use kms_audit::kms::engine::ops::create_key::{self, CreateKey};
use kms_audit::kms::engine::ops::decrypt::{self, Decrypt};
use kms_audit::kms::engine::ops::describe_key::{self, DescribeKey};
use kms_audit::kms::engine::ops::encrypt::{self, Encrypt};
use kms_audit::kms::engine::ops::import_key_material::{
    GetParametersForImport, ImportKeyMaterial, ImportRequest, ParametersRequest, ParametersResponse,
};
use kms_audit::kms::engine::ops::key_state::{self, DisableKey};
use kms_audit::kms::engine::ops::rotation::{EnableKeyRotation, EnableRequest};
use kms_audit::kms::engine::ops::schedule_key_deletion::{self, ScheduleKeyDeletion};
use kms_audit::kms::engine::ops::KeyMetadata;
use kms_audit::kms::engine::{Caller, Engine, EngineConfig, Operation};

// ---------------------------------------------------------------- accounts, time, callers

/// The account that owns the keys.
pub const ACCOUNT: &str = "111122223333";
/// Another account, whose role uses keys of [`ACCOUNT`] when a key policy lets it.
pub const OTHER_ACCOUNT: &str = "444455556666";
/// The Region of every call unless a test says otherwise.
pub const REGION: &str = "us-east-1";
/// The seed of engine ids, key material and file names unless a test says otherwise.
pub const SEED: u64 = 11;
/// The address direct callers send from.
pub const CALLER_IP: &str = "192.0.2.10";
/// The user agent of direct callers.
pub const CALLER_AGENT: &str = "aws-cli/2.15.0";

/// An identity policy allowing every KMS action on every key.
pub const ALLOW_ALL_KMS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

/// The identity policy of [`app_role`]: the cryptographic operations only.
pub const ALLOW_KMS_USE: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","kms:Decrypt","kms:ReEncrypt*","kms:GenerateDataKey*","kms:Sign","kms:Verify","kms:GenerateMac","kms:VerifyMac","kms:DescribeKey"],"Resource":"*"}]}"#;

/// The repository root (the crate's manifest directory): fixtures, golden files and the
/// bundled rules and samples are found from here.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Compares `actual` with the golden file `relative` (a path under the repository root), or
/// writes it when `UPDATE_GOLDEN` is set. A difference fails the test with the first line that
/// differs and the command that rewrites the file (`--test suite {module}`).
pub fn assert_golden(relative: &str, actual: &str, module: &str) {
    let path = repo_root().join(relative);
    let update = format!("UPDATE_GOLDEN=1 cargo test --release --locked --test suite {module}");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, actual).expect("write golden");
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("{}: {err}; run {update}", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{} differs from the output at line {}:\n  golden: {:?}\n  actual: {:?}\n\
             If the change is intended, run {update} and review the diff.",
            path.display(),
            line + 1,
            expected.lines().nth(line).unwrap_or_default(),
            actual.lines().nth(line).unwrap_or_default()
        );
    }
}

/// Where the simulated clock of every harness engine stands: 2026-01-01T09:00:00Z.
pub fn start() -> DateTime<Utc> {
    time("2026-01-01T09:00:00Z")
}

/// An RFC 3339 time.
pub fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .unwrap_or_else(|err| panic!("time {text}: {err}"))
        .with_timezone(&Utc)
}

/// The ARN of IAM user `name` of [`ACCOUNT`].
pub fn user_arn(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

/// The ARN of role `name` of `account`.
pub fn role_arn(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{name}")
}

/// IAM user `name` of [`ACCOUNT`], calling directly.
pub fn user(name: &str) -> Caller {
    Caller {
        identity: CallerIdentity::iam_user(ACCOUNT, name),
        principal: user_arn(name),
        account: ACCOUNT.into(),
        org_id: None,
        source_ip: CALLER_IP.into(),
        user_agent: CALLER_AGENT.into(),
        via_service: None,
    }
}

/// The root user of [`ACCOUNT`].
pub fn account_root() -> Caller {
    Caller {
        identity: CallerIdentity::root(ACCOUNT),
        principal: format!("arn:aws:iam::{ACCOUNT}:root"),
        ..user("root")
    }
}

/// The admin user: its identity policy allows `kms:*`.

pub fn admin() -> Caller {
    user("admin")
}

/// An application user with no identity policy: the default key policy alone denies it.
pub fn app() -> Caller {
    user("app")
}

/// A session `session` of role `role` of `account`, calling directly; its credentials were
/// issued an hour before [`start`].
pub fn role_session(account: &str, role: &str, session: &str) -> Caller {
    let identity =
        CallerIdentity::assumed_role(account, role, session, start() - chrono::Duration::hours(1));
    Caller {
        principal: identity.arn().expect("a session has an ARN"),
        identity,
        account: account.into(),
        org_id: None,
        source_ip: CALLER_IP.into(),
        user_agent: CALLER_AGENT.into(),
        via_service: None,
    }
}

/// A session of the `Admin` role: its identity policy allows `kms:*`.
pub fn admin_role() -> Caller {
    role_session(ACCOUNT, "Admin", "admin-session")
}

/// A session of the `App` role: its identity policy allows the cryptographic operations.
pub fn app_role() -> Caller {
    role_session(ACCOUNT, "App", "app-session")
}

/// A session of the `Partner` role of [`OTHER_ACCOUNT`]: its identity policy allows `kms:*`;
/// a key's policy must also let [`OTHER_ACCOUNT`] in.
pub fn other_account_role() -> Caller {
    role_session(OTHER_ACCOUNT, "Partner", "partner-session")
}

/// `caller` with `service` calling for it (`invokedBy`, `kms:ViaService`, the service's name
/// as address and agent).
pub fn via(caller: Caller, service: &str) -> Caller {
    Caller {
        identity: caller.identity.invoked_by(service),
        source_ip: service.into(),
        user_agent: service.into(),
        via_service: Some(service.into()),
        ..caller
    }
}

/// The AWS service principal `service` (`s3.amazonaws.com`) calling with its own identity;
/// only a key policy naming it lets it in.
pub fn service(service: &str) -> Caller {
    Caller {
        identity: CallerIdentity::aws_service(service),
        principal: service.into(),
        account: ACCOUNT.into(),
        org_id: None,
        source_ip: service.into(),
        user_agent: service.into(),
        via_service: None,
    }
}

/// A key policy: the default root statement, plus `kms:*` for the root of [`OTHER_ACCOUNT`]
/// and the listed service principals.
pub fn shared_key_policy(services: &[&str]) -> String {
    let services: Vec<Value> = services
        .iter()
        .map(|s| {
            json!({"Sid": format!("Service {s}"), "Effect": "Allow", "Principal": {"Service": s},
                   "Action": "kms:*", "Resource": "*"})
        })
        .collect();
    let mut statements = vec![
        json!({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
               "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
               "Action": "kms:*", "Resource": "*"}),
        json!({"Sid": "Other account", "Effect": "Allow",
               "Principal": {"AWS": format!("arn:aws:iam::{OTHER_ACCOUNT}:root")},
               "Action": "kms:*", "Resource": "*"}),
    ];
    statements.extend(services);
    json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

// ---------------------------------------------------------------- the engine

/// How to build a harness engine: identity policies by principal ARN, and the seed.
#[derive(Debug, Clone)]
pub struct Setup {
    config: EngineConfig,
}

/// The standard setup: `admin`, the `Admin` and `Partner` roles may do anything in KMS, the
/// `App` role may use keys, `app` has no identity policy; seed [`SEED`].
pub fn setup() -> Setup {
    Setup {
        config: EngineConfig {
            seed: Some(SEED),
            ..EngineConfig::default()
        },
    }
    .policy(&user_arn("admin"), ALLOW_ALL_KMS)
    .policy(&role_arn(ACCOUNT, "Admin"), ALLOW_ALL_KMS)
    .policy(&role_arn(ACCOUNT, "App"), ALLOW_KMS_USE)
    .policy(&role_arn(OTHER_ACCOUNT, "Partner"), ALLOW_ALL_KMS)
}

impl Setup {
    /// Another seed.
    #[must_use]
    pub fn seed(mut self, seed: u64) -> Self {
        self.config.seed = Some(seed);
        self
    }

    /// Adds identity policy `policy` (JSON) of `principal` (a user or role ARN).
    #[must_use]
    pub fn policy(mut self, principal: &str, policy: &str) -> Self {
        self.config
            .identity_policies
            .entry(principal.to_owned())
            .or_default()
            .push(policy.to_owned());
        self
    }

    /// Adds the AWS CloudHSM key store `store`, which keys can be created in.
    #[must_use]
    pub fn key_store(mut self, store: CustomKeyStore) -> Self {
        self.config.custom_key_stores.push(store);
        self
    }

    /// The engine recording to `sink`.
    pub fn with_sink<S: AuditSink + 'static>(self, sink: Arc<S>) -> Kms<S> {
        let clock = Arc::new(SimulatedClock::new(start()));
        let engine = Engine::new(
            clock.clone(),
            sink.clone() as Arc<dyn AuditSink>,
            self.config,
        )
        .expect("engine");
        Kms {
            engine,
            clock,
            sink,
        }
    }

    /// The engine recording in memory.
    pub fn memory(self) -> Kms<MemorySink> {
        self.with_sink(Arc::new(MemorySink::default()))
    }

    /// The engine writing a CloudTrail trail under `root` (file names seeded like the engine).
    pub fn file(self, root: &Path) -> Kms<FileSink> {
        let seed = self.config.seed.unwrap_or(SEED);
        let sink = FileSink::open(FileSinkConfig::new(root, seed)).expect("file sink");
        self.with_sink(Arc::new(sink))
    }
}

/// A harness engine, its clock and its sink.
pub struct Kms<S> {
    pub engine: Engine,
    pub clock: Arc<SimulatedClock>,
    pub sink: Arc<S>,
}

impl<S> Kms<S> {
    /// Calls `O` as `caller` in [`REGION`].
    pub fn call<O: Operation>(
        &self,
        caller: &Caller,
        request: O::Request,
    ) -> Result<O::Response, KmsError> {
        self.engine.call::<O>(caller, REGION, request)
    }

    /// A key made by `admin` in `region` from `request`; its ARN.
    pub fn create_with(&self, region: &str, request: create_key::Request) -> String {
        self.engine
            .call::<CreateKey>(&admin(), region, request)
            .expect("create key")
            .key_metadata
            .arn
    }

    /// A key of `spec` for `usage`.
    pub fn create_key(&self, spec: &str, usage: &str) -> String {
        self.create_with(
            REGION,
            create_key::Request {
                key_spec: Some(spec.into()),
                key_usage: Some(usage.into()),
                ..Default::default()
            },
        )
    }

    /// A symmetric encryption key with the default policy.
    pub fn symmetric(&self) -> String {
        self.create_with(REGION, create_key::Request::default())
    }

    /// A symmetric key of origin `EXTERNAL`, pending import.
    pub fn external(&self) -> String {
        self.create_with(
            REGION,
            create_key::Request {
                origin: Some("EXTERNAL".into()),
                ..Default::default()
            },
        )
    }

    /// `Encrypt` of `plaintext` under `key` by `caller`, with the encryption context
    /// `{"purpose": purpose}`; the ciphertext.
    pub fn encrypt_for(
        &self,
        caller: &Caller,
        key: &str,
        plaintext: &[u8],
        purpose: &str,
    ) -> Result<Vec<u8>, KmsError> {
        self.call::<Encrypt>(
            caller,
            encrypt::Request {
                key_id: key.into(),
                plaintext: Blob::new(plaintext.to_vec()),
                encryption_context: Some(context(&[("purpose", purpose)])),
                grant_tokens: vec![],
                encryption_algorithm: None,
            },
        )
        .map(|r| r.ciphertext_blob.bytes().to_vec())
    }

    /// `Decrypt` of `blob` by `caller`, with the encryption context `{"purpose": purpose}`;
    /// the plaintext.
    pub fn decrypt_for(
        &self,
        caller: &Caller,
        blob: &[u8],
        purpose: &str,
    ) -> Result<Vec<u8>, KmsError> {
        self.call::<Decrypt>(
            caller,
            decrypt::Request {
                ciphertext_blob: Blob::new(blob.to_vec()),
                encryption_context: Some(context(&[("purpose", purpose)])),
                grant_tokens: vec![],
                key_id: None,
                encryption_algorithm: None,
            },
        )
        .map(|r| r.plaintext.bytes().to_vec())
    }

    /// Disables `key` as `admin`.
    pub fn disable(&self, key: &str) {
        self.call::<DisableKey>(&admin(), key_state::Request { key_id: key.into() })
            .expect("disable");
    }

    /// Schedules deletion of `key` as `admin` (`days`, else the default 30).
    pub fn schedule_deletion(
        &self,
        key: &str,
        days: Option<u32>,
    ) -> schedule_key_deletion::Response {
        self.call::<ScheduleKeyDeletion>(
            &admin(),
            schedule_key_deletion::Request {
                key_id: key.into(),
                pending_window_in_days: days,
            },
        )
        .expect("schedule deletion")
    }

    /// Enables automatic rotation of `key` every `days` as `admin`.
    pub fn enable_rotation(&self, key: &str, days: u32) {
        self.call::<EnableKeyRotation>(
            &admin(),
            EnableRequest {
                key_id: key.into(),
                rotation_period_in_days: Some(days),
            },
        )
        .expect("enable rotation");
    }

    /// Creates alias `name` for `key` as `admin`.
    pub fn alias(&self, name: &str, key: &str) {
        self.call::<CreateAlias>(
            &admin(),
            create_alias::Request {
                alias_name: name.into(),
                target_key_id: key.into(),
            },
        )
        .expect("alias");
    }

    /// `DescribeKey` as `admin`.
    pub fn describe(&self, key: &str) -> KeyMetadata {
        self.call::<DescribeKey>(
            &admin(),
            describe_key::Request {
                key_id: key.into(),
                grant_tokens: vec![],
            },
        )
        .expect("describe")
        .key_metadata
    }

    /// The id of the current key material of `key`, from the engine's state.
    pub fn material_id(&self, key: &str) -> String {
        self.engine.snapshot().expect("state").keys[key]
            .current()
            .expect("material")
            .material
            .id()
            .to_owned()
    }

    /// Every generation of the secret key material of `key`, as stored.
    pub fn material_bytes(&self, key: &str) -> Vec<Vec<u8>> {
        self.engine.snapshot().expect("state").keys[key]
            .generations
            .iter()
            .map(|g| g.material.export_for_storage().to_vec())
            .collect()
    }

    /// `GetParametersForImport` of `key` as `admin`: a 2048-bit wrapping key for `algorithm`.
    pub fn import_parameters(
        &self,
        key: &str,
        algorithm: &str,
    ) -> Result<ParametersResponse, KmsError> {
        self.call::<GetParametersForImport>(
            &admin(),
            ParametersRequest {
                key_id: key.into(),
                wrapping_algorithm: algorithm.into(),
                wrapping_key_spec: "RSA_2048".into(),
            },
        )
    }

    /// `ImportKeyMaterial` of `wrapped` material into `key` as `admin` with the token of
    /// `params`, expiring at `valid_to` (or never).
    pub fn import(
        &self,
        key: &str,
        params: &ParametersResponse,
        wrapped: Vec<u8>,
        valid_to: Option<DateTime<Utc>>,
    ) -> Result<(), KmsError> {
        self.call::<ImportKeyMaterial>(
            &admin(),
            ImportRequest {
                key_id: key.into(),
                import_token: params.import_token.clone(),
                encrypted_key_material: Blob::new(wrapped),
                valid_to: valid_to.map(epoch),
                expiration_model: Some(
                    if valid_to.is_some() {
                        "KEY_MATERIAL_EXPIRES"
                    } else {
                        "KEY_MATERIAL_DOES_NOT_EXPIRE"
                    }
                    .into(),
                ),
                ..ImportRequest::default()
            },
        )
        .map(|_| ())
    }

    /// `event` holds no generation of the key material of `key`, in any form.
    pub fn assert_no_material(&self, event: &AuditEvent, key: &str) {
        let material = self.material_bytes(key);
        assert!(!material.is_empty(), "{key} has key material");
        assert_no_secrets(
            event,
            &material.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        );
    }
}

impl Kms<MemorySink> {
    /// The last record.
    pub fn last(&self) -> AuditEvent {
        self.sink.events().last().cloned().expect("a record")
    }

    /// The last record as CloudTrail writes it.
    pub fn last_record(&self) -> Value {
        record_json(&self.last())
    }

    /// The `eventName`s recorded so far.
    pub fn names(&self) -> Vec<String> {
        self.sink
            .events()
            .into_iter()
            .map(|e| e.event_name)
            .collect()
    }
}

/// The last record of `sink`.
pub fn last(sink: &MemorySink) -> AuditEvent {
    sink.events().last().cloned().expect("a record")
}

// ---------------------------------------------------------------- requests and results

/// An encryption context.
pub fn context(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The ARN of a key of [`ACCOUNT`] in [`REGION`] that does not exist.
pub fn missing_key() -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-4000-8000-000000000000")
}

/// The key id at the end of a key ARN.
pub fn id_of(arn: &str) -> String {
    arn.rsplit('/').next().expect("id").to_owned()
}

/// Wraps `material` for import with the public key of `parameters`, RSAES-OAEP with SHA-256
/// (`sha256`) or SHA-1.
pub fn wrap(parameters: &ParametersResponse, sha256: bool, material: &[u8]) -> Vec<u8> {
    let public = OaepPublicEncryptingKey::new(
        PublicEncryptingKey::from_der(parameters.public_key.bytes()).expect("public key"),
    )
    .expect("oaep");
    let mut out = vec![0; public.ciphertext_size()];
    let oaep = if sha256 {
        &OAEP_SHA256_MGF1SHA256
    } else {
        &OAEP_SHA1_MGF1SHA1
    };
    public
        .encrypt(oaep, material, &mut out, None)
        .expect("wrap")
        .to_vec()
}

/// `t` in seconds since the epoch, as the JSON protocol writes timestamps.
#[allow(clippy::cast_precision_loss)]
pub fn epoch(t: DateTime<Utc>) -> f64 {
    t.timestamp() as f64
}

/// The kind of the error `result` must be.
pub fn kind<T: std::fmt::Debug>(result: Result<T, KmsError>) -> KmsErrorKind {
    result.expect_err("should fail").kind
}

// ---------------------------------------------------------------- records

/// The record as CloudTrail writes it.
pub fn record_json(event: &AuditEvent) -> Value {
    serde_json::from_slice(&record_bytes(event).expect("record bytes")).expect("record JSON")
}

/// The common members of a successful API-call record: name, `readOnly`, no error, and
/// `resources` naming exactly `arns`, in order.
pub fn check_record(event: &AuditEvent, name: &str, read_only: bool, arns: &[&str]) {
    assert_eq!(event.event_name, name);
    assert_eq!(event.read_only, read_only, "{name} readOnly");
    assert_eq!(event.error_code, None, "{name}: {:?}", event.error_message);
    let resources: Vec<&str> = event.resources.iter().map(|r| r.arn.as_str()).collect();
    assert_eq!(resources, arns, "{name} resources");
}

/// A failed call's record: `errorCode` `code` in the event and the JSON, and
/// `responseElements: null`.
pub fn assert_error(event: &AuditEvent, code: &str) {
    assert_eq!(event.error_code.as_deref(), Some(code));
    let r = record_json(event);
    assert_eq!(r["errorCode"], code);
    assert_eq!(r["responseElements"], Value::Null);
}

// ---------------------------------------------------------------- secrets

/// The forms a leaked secret could take in text: raw, base64 (standard and URL-safe, with
/// and without padding), lowercase and uppercase hex.
pub fn secret_forms(secret: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    vec![
        ("raw", secret.to_vec()),
        ("base64", STANDARD.encode(secret).into_bytes()),
        (
            "base64 (no padding)",
            STANDARD_NO_PAD.encode(secret).into_bytes(),
        ),
        ("base64url", URL_SAFE.encode(secret).into_bytes()),
        (
            "base64url (no padding)",
            URL_SAFE_NO_PAD.encode(secret).into_bytes(),
        ),
        ("hex", hex.clone().into_bytes()),
        ("HEX", hex.to_uppercase().into_bytes()),
    ]
}

/// The form in which `secret` occurs in `haystack`, if it does.
pub fn find_secret(haystack: &[u8], secret: &[u8]) -> Option<&'static str> {
    assert!(!secret.is_empty(), "an empty secret matches everything");
    secret_forms(secret)
        .into_iter()
        .find(|(_, form)| haystack.windows(form.len()).any(|w| w == form.as_slice()))
        .map(|(name, _)| name)
}

/// The serialized record holds none of `secrets`, in any of [`secret_forms`].
pub fn assert_no_secrets(event: &AuditEvent, secrets: &[&[u8]]) {
    let bytes = record_bytes(event).expect("record bytes");
    for secret in secrets {
        if let Some(form) = find_secret(&bytes, secret) {
            panic!(
                "{} leaks a secret ({form}): {}",
                event.event_name,
                String::from_utf8_lossy(&bytes)
            );
        }
    }
}

// ---------------------------------------------------------------- order-preserving JSON

/// A JSON value that keeps object members in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Scalar(Value),
    Array(Vec<Node>),
    Object(Vec<(String, Node)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Scalar(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Scalar(json!(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::Scalar(json!(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Scalar(json!(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Scalar(Value::String(v.to_owned())))
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Scalar(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(Node::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut members = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Node>()? {
                    members.push((k, v));
                }
                Ok(Node::Object(members))
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl Node {
    /// The member names of an object, in order (none for other values).
    pub fn names(&self) -> Vec<&str> {
        match self {
            Node::Object(members) => members.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    /// Member `name` of an object.
    pub fn get(&self, name: &str) -> Option<&Node> {
        match self {
            Node::Object(members) => members.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// `text` read in document order.
pub fn node(text: &str) -> Node {
    serde_json::from_str(text).unwrap_or_else(|err| panic!("invalid JSON ({err}): {text}"))
}

/// Member `name` of object `n`.
pub fn member<'a>(n: &'a Node, name: &str) -> &'a Node {
    n.get(name)
        .unwrap_or_else(|| panic!("no member {name} in {n:?}"))
}

/// Compares member by member (names, order, values) and names the first difference.
pub fn assert_same(path: &str, got: &Node, want: &Node) {
    match (got, want) {
        (Node::Object(g), Node::Object(w)) => {
            let gk: Vec<&str> = g.iter().map(|(k, _)| k.as_str()).collect();
            let wk: Vec<&str> = w.iter().map(|(k, _)| k.as_str()).collect();
            assert_eq!(gk, wk, "member names/order differ at {path}");
            for ((k, gv), (_, wv)) in g.iter().zip(w) {
                assert_same(&format!("{path}.{k}"), gv, wv);
            }
        }
        (Node::Array(g), Node::Array(w)) => {
            assert_eq!(g.len(), w.len(), "array length differs at {path}");
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                assert_same(&format!("{path}[{i}]"), gv, wv);
            }
        }
        _ => assert_eq!(got, want, "value differs at {path}"),
    }
}

// ---------------------------------------------------------------- the trail on disk

/// Checks `key` against the reference's log-file key regex (without an organization id or
/// prefix):
/// `^AWSLogs/(\d{12})/CloudTrail/([a-z0-9-]+)/(\d{4})/(\d{2})/(\d{2})/\1_CloudTrail_\2_(\d{8}T\d{4}Z)_([A-Za-z0-9]{16})\.json\.gz$`,
/// and that the date directories are the delivery stamp's date.
pub fn assert_log_file_key(key: &str) {
    let parts: Vec<&str> = key.split('/').collect();
    assert_eq!(parts.len(), 8, "{key}");
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let (account, region) = (parts[1], parts[3]);
    assert!(parts[0] == "AWSLogs" && parts[2] == "CloudTrail", "{key}");
    assert!(digits(account, 12), "{key}");
    assert!(
        !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
        "{key}"
    );
    assert!(
        digits(parts[4], 4) && digits(parts[5], 2) && digits(parts[6], 2),
        "{key}"
    );
    let rest = parts[7]
        .strip_prefix(&format!("{account}_CloudTrail_{region}_"))
        .and_then(|r| r.strip_suffix(".json.gz"))
        .unwrap_or_else(|| panic!("{key}"));
    let (stamp, unique) = rest.split_once('_').unwrap_or_else(|| panic!("{key}"));
    assert!(
        stamp.len() == 14
            && digits(&stamp[..8], 8)
            && &stamp[8..9] == "T"
            && digits(&stamp[9..13], 4)
            && &stamp[13..] == "Z",
        "{key}"
    );
    assert_eq!(
        &stamp[..8],
        format!("{}{}{}", parts[4], parts[5], parts[6]),
        "the directories are the delivery date: {key}"
    );
    assert!(
        unique.len() == 16 && unique.bytes().all(|b| b.is_ascii_alphanumeric()),
        "{key}"
    );
}

/// `files` as keys relative to the trail `root`, with `/` separators.
pub fn relative_keys(root: &Path, files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| {
            f.strip_prefix(root)
                .expect("under root")
                .to_string_lossy()
                .replace('\\', "/")
        })
        .collect()
}

/// Every file under `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out.sort();
    out
}

/// The uncompressed bytes of gzip file `path`.
pub fn gunzip(path: &Path) -> Vec<u8> {
    let stored = std::fs::read(path).expect("read");
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&stored[..]), &mut out)
        .unwrap_or_else(|err| panic!("{} is not gzip: {err}", path.display()));
    out
}
