//! Carries out planned calls on the engine: sets keys up, keeps each caller's ciphertexts,
//! signatures and MACs so that later calls can use them, and advances the simulated clock
//! with the engine's lifecycle (rotations, deletions, expiries) ticking every hour.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA256_MGF1SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use chrono::{DateTime, Duration, DurationRound, Utc};
use rand::{Rng as _, RngExt};
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};

use crate::kms::crypto::{KeySpec, KeyUsage};
use crate::kms::dispatch::{self, DispatchError};
use crate::kms::engine::clock::{Clock as _, SimulatedClock};
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::blob::Blob;
use crate::kms::engine::ops::{
    decrypt, describe_key, encrypt, generate_data_key, generate_mac, re_encrypt, sign, verify,
    verify_mac,
};
use crate::kms::engine::{Caller, Engine};
use crate::kms::simulate::actors::{Actor, PolicyPlan};
use crate::kms::simulate::plan::{Action, Step};
use crate::kms::simulate::scenario::{KeyPlan, Scenario};
use crate::kms::simulate::SimError;

/// Operations whose `KeyId` may be an alias.
const ALIAS_OPERATIONS: &[&str] = &[
    "DescribeKey",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateMac",
    "GetPublicKey",
    "ReEncrypt",
    "Sign",
    "Verify",
    "VerifyMac",
];

/// How many ciphertexts (or signatures, MACs) a caller keeps per key.
const POOL: usize = 4;
/// Bytes of plaintext an application encrypts.
const PLAINTEXT_BYTES: usize = 64;

/// Something a caller got back and may send again.
#[derive(Debug, Clone)]
enum Kept {
    /// A ciphertext and the encryption context it was made with.
    Ciphertext(Vec<u8>, Option<BTreeMap<String, String>>),
    Signature {
        message: Vec<u8>,
        signature: Vec<u8>,
    },
    Mac {
        message: Vec<u8>,
        mac: Vec<u8>,
    },
}

/// A key once created.
#[derive(Debug, Clone)]
struct LiveKey {
    arn: String,
    spec: KeySpec,
    usage: KeyUsage,
    policy: PolicyPlan,
}

/// Counts of what the calls did.
#[derive(Debug, Default, Clone)]
pub struct CallStats {
    /// API calls made.
    pub calls: u64,
    /// Calls that failed, by error code.
    pub failures: BTreeMap<String, u64>,
    /// Lifecycle service actions the engine took.
    pub service_events: u64,
}

/// The engine with the simulator's view of it.
pub struct Runner<'s> {
    scenario: &'s Scenario,
    actors: Vec<Actor>,
    roots: BTreeMap<String, Actor>,
    engine: Engine,
    clock: Arc<SimulatedClock>,
    rng: ChaCha20Rng,
    keys: Vec<Option<LiveKey>>,
    kept: HashMap<(usize, usize), VecDeque<Kept>>,
    callers: HashMap<(usize, String), Caller>,
    caller_day: Option<DateTime<Utc>>,
    next_tick: DateTime<Utc>,
    /// What happened.
    pub stats: CallStats,
}

impl<'s> Runner<'s> {
    /// A runner over `engine`, whose clock is `clock`.
    pub fn new(
        scenario: &'s Scenario,
        actors: Vec<Actor>,
        roots: BTreeMap<String, Actor>,
        engine: Engine,
        clock: Arc<SimulatedClock>,
        rng: ChaCha20Rng,
    ) -> Self {
        let next_tick = clock_hour_after(clock.now());
        Self {
            scenario,
            actors,
            roots,
            engine,
            clock,
            rng,
            keys: vec![None; scenario.keys.len()],
            kept: HashMap::new(),
            callers: HashMap::new(),
            caller_day: None,
            next_tick,
            stats: CallStats::default(),
        }
    }

    /// The ARN of key `k` once it exists.
    pub fn key_arn(&self, k: usize) -> Option<&str> {
        self.keys.get(k)?.as_ref().map(|key| key.arn.as_str())
    }

    /// Moves the clock to `time`, letting the engine's lifecycle run every hour on the way.
    pub fn advance_to(&mut self, time: DateTime<Utc>) -> Result<(), SimError> {
        while self.next_tick <= time {
            self.clock.advance_to(self.next_tick);
            self.stats.service_events += self.engine.run_due().map_err(SimError::Engine)? as u64;
            self.next_tick += Duration::hours(1);
        }
        self.clock.advance_to(time);
        Ok(())
    }

    /// Makes the calls of `action`.
    pub fn run(&mut self, action: &Action) -> Result<(), SimError> {
        self.advance_to(action.time)?;
        match action.step.clone() {
            Step::Habit { op, key } => self.habit(action, op, key),
            Step::SetupKey(k) => self.setup_key(action, k),
            Step::DisableRotation(k) => self.on_key(action, k, "DisableKeyRotation", json!({})),
            Step::DisableKey(k) => self.on_key(action, k, "DisableKey", json!({})),
            Step::EnableKey(k) => self.on_key(action, k, "EnableKey", json!({})),
            Step::ScheduleDeletion(k, days) => self.on_key(
                action,
                k,
                "ScheduleKeyDeletion",
                json!({ "PendingWindowInDays": days }),
            ),
            Step::CancelDeletion(k) => {
                self.on_key(action, k, "CancelKeyDeletion", json!({}))?;
                self.on_key(action, k, "EnableKey", json!({}))
            }
            Step::AddUser(k, user) => {
                let arn = self.actor(user, k).arn.clone();
                self.change_policy(action, k, |policy| {
                    if !policy.users.contains(&arn) {
                        policy.users.push(arn);
                    }
                })
            }
            Step::OpenToAll(k) => self.change_policy(action, k, |policy| policy.open_to_all = true),
            Step::CreateGrant { key, grantee } => {
                let grantee = self.actor(grantee, key).arn.clone();
                self.on_key(
                    action,
                    key,
                    "CreateGrant",
                    json!({
                        "GranteePrincipal": grantee,
                        "Operations": ["Decrypt", "GenerateDataKey"],
                        "Name": "batch-export"
                    }),
                )
            }
            Step::ReEncryptTo { key, foreign } => self.re_encrypt_to(action, key, foreign),
            Step::EncryptUnder(foreign) => {
                let Some(arn) = self.key_arn(foreign).map(str::to_owned) else {
                    return Ok(());
                };
                let caller = self.caller(action, foreign)?;
                let region = self.region(foreign);
                let plaintext = self.random_bytes(PLAINTEXT_BYTES);
                let request = encrypt::Request {
                    key_id: arn,
                    plaintext: Blob::new(plaintext),
                    encryption_context: self.context(action),
                    grant_tokens: Vec::new(),
                    encryption_algorithm: None,
                };
                let result = self
                    .engine
                    .call::<encrypt::Encrypt>(&caller, &region, request);
                self.settle(result.map(|_| ()))
            }
            Step::Probe { op, key } => {
                let body = match op {
                    "GenerateDataKey" => json!({ "KeySpec": "AES_256" }),
                    "Encrypt" => json!({ "Plaintext": STANDARD.encode(self.random_bytes(16)) }),
                    _ => json!({}),
                };
                self.on_key(action, key, op, body)
            }
        }
    }

    fn actor(&self, index: usize, key: usize) -> &Actor {
        actor_of(&self.actors, &self.roots, self.scenario, index, key)
    }

    fn plan(&self, k: usize) -> &'s KeyPlan {
        &self.scenario.keys[k]
    }

    fn region(&self, k: usize) -> String {
        self.plan(k).region.clone()
    }

    /// The caller for `action` on key `k` (its Region), cached for the day.
    fn caller(&mut self, action: &Action, k: usize) -> Result<Caller, SimError> {
        let day = action
            .time
            .duration_trunc(Duration::days(1))
            .map_err(|err| SimError::Time(err.to_string()))?;
        if self.caller_day != Some(day) {
            self.callers.clear();
            self.caller_day = Some(day);
        }
        let region = self.region(k);
        let slot = (action.actor, region.clone());
        if action.network.is_none() {
            if let Some(caller) = self.callers.get(&slot) {
                let mut caller = caller.clone();
                self.vary(action, k, &mut caller);
                return Ok(caller);
            }
        }
        let actor = self.actor(action.actor, k).clone();
        let caller = actor.caller(day, &region, action.network, &mut self.rng);
        if action.network.is_none() {
            self.callers.insert(slot, caller.clone());
        }
        Ok(caller)
    }

    /// A new address and user agent for a cached caller (services keep their own).
    fn vary(&mut self, action: &Action, k: usize, caller: &mut Caller) {
        if caller.via_service.is_some() {
            return;
        }
        let actor = actor_of(&self.actors, &self.roots, self.scenario, action.actor, k);
        let (address, agent) = actor.address_and_agent(None, &mut self.rng);
        caller.source_ip = address;
        caller.user_agent.clear();
        caller.user_agent.push_str(agent);
    }

    fn context(&self, action: &Action) -> Option<BTreeMap<String, String>> {
        let (p, h) = action.context?;
        let context = &self
            .scenario
            .principals
            .get(p)?
            .habits
            .get(h)?
            .encryption_context;
        (!context.is_empty()).then(|| context.clone())
    }

    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut bytes = vec![0; n];
        self.rng.fill_bytes(&mut bytes);
        bytes
    }

    /// Counts a call; engine failures are part of the story, a failure to audit is fatal.
    fn settle(&mut self, result: Result<(), KmsError>) -> Result<(), SimError> {
        self.stats.calls += 1;
        match result {
            Ok(()) => Ok(()),
            Err(err) if err.kind == KmsErrorKind::Internal => Err(SimError::Engine(err)),
            Err(err) => {
                *self
                    .stats
                    .failures
                    .entry(err.kind.code().to_owned())
                    .or_default() += 1;
                Ok(())
            }
        }
    }

    fn settle_dispatch(
        &mut self,
        result: Result<Value, DispatchError>,
    ) -> Result<Option<Value>, SimError> {
        match result {
            Ok(value) => {
                self.stats.calls += 1;
                Ok(Some(value))
            }
            Err(DispatchError::Kms(err)) => self.settle(Err(err)).map(|()| None),
            Err(other) => Err(SimError::Request(other.to_string())),
        }
    }

    /// The key id a caller sends with `op`: across accounts the key ARN; in its own account
    /// the alias where the operation accepts one (cryptographic operations, `DescribeKey`,
    /// `GetPublicKey`), else the key id, as people and SDKs write them.
    fn key_id(&self, caller: &Caller, k: usize, op: &str) -> Option<String> {
        let key = self.keys.get(k)?.as_ref()?;
        Some(if caller.account != self.plan(k).account {
            key.arn.clone()
        } else if ALIAS_OPERATIONS.contains(&op) {
            format!("alias/{}", self.plan(k).name)
        } else {
            key.arn.rsplit('/').next().unwrap_or(&key.arn).to_owned()
        })
    }

    /// Calls `op` on key `k` with `body` plus `KeyId`.
    fn on_key(
        &mut self,
        action: &Action,
        k: usize,
        op: &str,
        mut body: Value,
    ) -> Result<(), SimError> {
        let caller = self.caller(action, k)?;
        let Some(key_id) = self.key_id(&caller, k, op) else {
            return Ok(());
        };
        body["KeyId"] = Value::String(key_id);
        let region = self.region(k);
        let result = dispatch::call(&self.engine, &caller, &region, op, body);
        self.settle_dispatch(result).map(|_| ())
    }

    fn change_policy(
        &mut self,
        action: &Action,
        k: usize,
        change: impl FnOnce(&mut PolicyPlan),
    ) -> Result<(), SimError> {
        let Some(key) = self.keys[k].as_mut() else {
            return Ok(());
        };
        change(&mut key.policy);
        let document = key.policy.document(key.spec, key.usage);
        self.on_key(
            action,
            k,
            "PutKeyPolicy",
            json!({ "PolicyName": "default", "Policy": document }),
        )
    }

    fn keep(&mut self, actor: usize, k: usize, item: Kept) {
        let pool = self.kept.entry((actor, k)).or_default();
        if pool.len() == POOL {
            pool.pop_front();
        }
        pool.push_back(item);
    }

    /// Settles a call's result, keeping what a successful one returned for later calls.
    fn keep_result<T>(
        &mut self,
        actor: usize,
        k: usize,
        result: Result<T, KmsError>,
        kept: impl FnOnce(T) -> Kept,
    ) -> Result<(), SimError> {
        match result {
            Ok(response) => {
                self.keep(actor, k, kept(response));
                self.settle(Ok(()))
            }
            Err(err) => self.settle(Err(err)),
        }
    }

    fn pick(&mut self, actor: usize, k: usize) -> Option<Kept> {
        let pool = self.kept.get(&(actor, k))?;
        if pool.is_empty() {
            return None;
        }
        let i = self.rng.random_range(0..pool.len());
        pool.get(i).cloned()
    }

    fn habit(
        &mut self,
        action: &Action,
        op: &'static str,
        key: Option<usize>,
    ) -> Result<(), SimError> {
        let k = match key {
            Some(k) => k,
            None => {
                // Account-level calls go to the Region of the caller's first key.
                let k = self
                    .scenario
                    .principals
                    .get(action.actor)
                    .and_then(|p| p.habits.iter().flat_map(|h| &h.keys).next())
                    .and_then(|name| self.scenario.key_index(name))
                    .unwrap_or(0);
                let caller = self.caller(action, k)?;
                let region = self.region(k);
                let body = match op {
                    "GenerateRandom" => json!({ "NumberOfBytes": 32 }),
                    _ => json!({}),
                };
                let result = dispatch::call(&self.engine, &caller, &region, op, body);
                return self.settle_dispatch(result).map(|_| ());
            }
        };
        let Some(live) = self.keys[k].clone() else {
            return Ok(());
        };
        let caller = self.caller(action, k)?;
        let Some(key_id) = self.key_id(&caller, k, op) else {
            return Ok(());
        };
        let region = self.region(k);
        let context = self.context(action);
        match op {
            "Encrypt" => {
                let plaintext = self.random_bytes(PLAINTEXT_BYTES);
                let algorithm = asymmetric_algorithm(&live);
                let context = context.filter(|_| algorithm.is_none());
                let request = encrypt::Request {
                    key_id,
                    plaintext: Blob::new(plaintext),
                    encryption_context: context.clone(),
                    grant_tokens: Vec::new(),
                    encryption_algorithm: algorithm,
                };
                let result = self
                    .engine
                    .call::<encrypt::Encrypt>(&caller, &region, request);
                self.keep_result(action.actor, k, result, |response| {
                    let blob = response.ciphertext_blob.bytes().to_vec();
                    Kept::Ciphertext(blob, context)
                })
            }
            "Decrypt" | "ReEncrypt" => {
                let Some(Kept::Ciphertext(blob, kept_context)) = self.pick(action.actor, k) else {
                    return self
                        .generate_data_key(action, &caller, &region, key_id, k, context, true);
                };
                let algorithm = asymmetric_algorithm(&live);
                if op == "Decrypt" {
                    let request = decrypt::Request {
                        ciphertext_blob: Blob::new(blob),
                        encryption_context: kept_context,
                        grant_tokens: Vec::new(),
                        // Asymmetric ciphertext does not name its key: the caller must.
                        key_id: algorithm.as_ref().map(|_| key_id),
                        encryption_algorithm: algorithm,
                    };
                    let result = self
                        .engine
                        .call::<decrypt::Decrypt>(&caller, &region, request);
                    self.settle(result.map(|_| ()))
                } else {
                    let request = re_encrypt::Request {
                        ciphertext_blob: Blob::new(blob),
                        source_encryption_context: kept_context,
                        source_key_id: algorithm.as_ref().map(|_| key_id.clone()),
                        destination_key_id: key_id,
                        destination_encryption_context: context.clone(),
                        source_encryption_algorithm: algorithm.clone(),
                        destination_encryption_algorithm: algorithm,
                        grant_tokens: Vec::new(),
                    };
                    let result = self
                        .engine
                        .call::<re_encrypt::ReEncrypt>(&caller, &region, request);
                    self.keep_result(action.actor, k, result, |response| {
                        let blob = response.ciphertext_blob.bytes().to_vec();
                        Kept::Ciphertext(blob, context)
                    })
                }
            }
            "GenerateDataKey" => {
                self.generate_data_key(action, &caller, &region, key_id, k, context, true)
            }
            "GenerateDataKeyWithoutPlaintext" => {
                self.generate_data_key(action, &caller, &region, key_id, k, context, false)
            }
            "DescribeKey" => {
                let request = describe_key::Request {
                    key_id,
                    grant_tokens: Vec::new(),
                };
                let result = self
                    .engine
                    .call::<describe_key::DescribeKey>(&caller, &region, request);
                self.settle(result.map(|_| ()))
            }
            "Sign" | "Verify" => {
                let algorithm = live
                    .spec
                    .signing_algorithms(live.usage)
                    .first()
                    .map(|a| a.as_str().to_owned())
                    .unwrap_or_default();
                let kept = if op == "Verify" {
                    self.pick(action.actor, k)
                } else {
                    None
                };
                if let Some(Kept::Signature { message, signature }) = kept {
                    let request = verify::Request {
                        key_id,
                        message: Blob::new(message),
                        message_type: Some("RAW".to_owned()),
                        signature: Blob::new(signature),
                        signing_algorithm: algorithm,
                        grant_tokens: Vec::new(),
                    };
                    let result = self
                        .engine
                        .call::<verify::Verify>(&caller, &region, request);
                    return self.settle(result.map(|_| ()));
                }
                let message = self.random_bytes(32);
                let request = sign::Request {
                    key_id,
                    message: Blob::new(message.clone()),
                    message_type: Some("RAW".to_owned()),
                    signing_algorithm: algorithm,
                    grant_tokens: Vec::new(),
                };
                let result = self.engine.call::<sign::Sign>(&caller, &region, request);
                self.keep_result(action.actor, k, result, |response| {
                    let signature = response.signature.bytes().to_vec();
                    Kept::Signature { message, signature }
                })
            }
            "GenerateMac" | "VerifyMac" => {
                let algorithm = live
                    .spec
                    .mac_algorithms(live.usage)
                    .first()
                    .map(|a| a.as_str().to_owned())
                    .unwrap_or_default();
                let kept = if op == "VerifyMac" {
                    self.pick(action.actor, k)
                } else {
                    None
                };
                if let Some(Kept::Mac { message, mac }) = kept {
                    let request = verify_mac::Request {
                        message: Blob::new(message),
                        key_id,
                        mac_algorithm: algorithm,
                        mac: Blob::new(mac),
                        grant_tokens: Vec::new(),
                    };
                    let result = self
                        .engine
                        .call::<verify_mac::VerifyMac>(&caller, &region, request);
                    return self.settle(result.map(|_| ()));
                }
                let message = self.random_bytes(32);
                let request = generate_mac::Request {
                    message: Blob::new(message.clone()),
                    key_id,
                    mac_algorithm: algorithm,
                    grant_tokens: Vec::new(),
                };
                let result = self
                    .engine
                    .call::<generate_mac::GenerateMac>(&caller, &region, request);
                self.keep_result(action.actor, k, result, |response| {
                    let mac = response.mac.bytes().to_vec();
                    Kept::Mac { message, mac }
                })
            }
            other => {
                let mut body = json!({ "KeyId": key_id });
                match other {
                    "GetKeyPolicy" => body["PolicyName"] = json!("default"),
                    "GenerateDataKeyPair" => body["KeyPairSpec"] = json!("ECC_NIST_P256"),
                    _ => {}
                }
                let result = dispatch::call(&self.engine, &caller, &region, other, body);
                self.settle_dispatch(result).map(|_| ())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn generate_data_key(
        &mut self,
        action: &Action,
        caller: &Caller,
        region: &str,
        key_id: String,
        k: usize,
        context: Option<BTreeMap<String, String>>,
        with_plaintext: bool,
    ) -> Result<(), SimError> {
        let request = generate_data_key::Request {
            key_id,
            encryption_context: context.clone(),
            number_of_bytes: None,
            key_spec: Some("AES_256".to_owned()),
            grant_tokens: Vec::new(),
        };
        let result = if with_plaintext {
            self.engine
                .call::<generate_data_key::GenerateDataKey>(caller, region, request)
                .map(|r| r.ciphertext_blob)
        } else {
            self.engine
                .call::<generate_data_key::GenerateDataKeyWithoutPlaintext>(caller, region, request)
                .map(|r| r.ciphertext_blob)
        };
        self.keep_result(action.actor, k, result, |blob| {
            Kept::Ciphertext(blob.bytes().to_vec(), context)
        })
    }

    fn re_encrypt_to(&mut self, action: &Action, k: usize, foreign: usize) -> Result<(), SimError> {
        let Some(destination) = self.key_arn(foreign).map(str::to_owned) else {
            return Ok(());
        };
        let Some(Kept::Ciphertext(blob, kept_context)) = self.pick(action.actor, k) else {
            return Ok(());
        };
        let caller = self.caller(action, k)?;
        let region = self.region(k);
        let request = re_encrypt::Request {
            ciphertext_blob: Blob::new(blob),
            source_encryption_context: kept_context.clone(),
            source_key_id: None,
            destination_key_id: destination,
            destination_encryption_context: kept_context,
            source_encryption_algorithm: None,
            destination_encryption_algorithm: None,
            grant_tokens: Vec::new(),
        };
        let result = self
            .engine
            .call::<re_encrypt::ReEncrypt>(&caller, &region, request);
        self.settle(result.map(|_| ()))
    }

    /// Creates key `k`: `CreateKey`, `CreateAlias`, rotation, and for `EXTERNAL` keys the
    /// import of fresh material.
    fn setup_key(&mut self, action: &Action, k: usize) -> Result<(), SimError> {
        let plan = self.plan(k);
        let spec: KeySpec = plan
            .spec
            .parse()
            .map_err(|_| SimError::Request(format!("key {}: spec", plan.name)))?;
        let usage: KeyUsage = match &plan.usage {
            Some(usage) => usage
                .parse()
                .map_err(|_| SimError::Request(format!("key {}: usage", plan.name)))?,
            None => spec
                .allowed_usages()
                .first()
                .copied()
                .unwrap_or(KeyUsage::EncryptDecrypt),
        };
        let arn_of = |name: &String| {
            self.scenario
                .principal_index(name)
                .map(|p| self.actors[p].arn.clone())
        };
        let policy = PolicyPlan {
            account: plan.account.clone(),
            admins: plan.admins.iter().filter_map(arn_of).collect(),
            users: plan.users.iter().filter_map(arn_of).collect(),
            open_to_all: plan.open_to_all,
            imported: plan.origin == "EXTERNAL",
        };
        let caller = self.caller(action, k)?;
        let region = plan.region.clone();
        let body = json!({
            "Policy": policy.document(spec, usage),
            "Description": plan.description,
            "KeySpec": spec.as_str(),
            "KeyUsage": usage.as_str(),
            "Origin": plan.origin,
            "Tags": [{ "TagKey": "app", "TagValue": plan.name }],
        });
        let created = dispatch::call(&self.engine, &caller, &region, "CreateKey", body)
            .map_err(|err| SimError::Request(format!("key {}: CreateKey: {err}", plan.name)))?;
        self.stats.calls += 1;
        let Some(arn) = created["KeyMetadata"]["Arn"].as_str().map(str::to_owned) else {
            return Err(SimError::Request(format!(
                "CreateKey of {} returned no ARN",
                plan.name
            )));
        };
        let key_id = created["KeyMetadata"]["KeyId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        self.keys[k] = Some(LiveKey {
            arn,
            spec,
            usage,
            policy,
        });
        // Set-up calls must succeed: a failure is a scenario the engine cannot play.
        let step = |runner: &mut Self, op: &str, body: Value| -> Result<Option<Value>, SimError> {
            let now = runner.clock.now() + Duration::seconds(2);
            runner.advance_to(now)?;
            let value = dispatch::call(&runner.engine, &caller, &region, op, body)
                .map_err(|err| SimError::Request(format!("key {}: {op}: {err}", plan.name)))?;
            runner.stats.calls += 1;
            Ok(Some(value))
        };
        step(
            self,
            "CreateAlias",
            json!({ "AliasName": format!("alias/{}", plan.name), "TargetKeyId": key_id }),
        )?;
        if let Some(rotation) = plan.rotation.as_ref().filter(|r| r.enabled) {
            let mut body = json!({ "KeyId": key_id });
            if let Some(days) = rotation.period_days {
                body["RotationPeriodInDays"] = json!(days);
            }
            step(self, "EnableKeyRotation", body)?;
        }
        if plan.origin == "EXTERNAL" {
            let parameters = step(
                self,
                "GetParametersForImport",
                json!({ "KeyId": key_id, "WrappingAlgorithm": "RSAES_OAEP_SHA_256", "WrappingKeySpec": "RSA_2048" }),
            )?;
            let (Some(public), Some(token)) = (
                parameters
                    .as_ref()
                    .and_then(|p| blob_member(p, "PublicKey")),
                parameters
                    .as_ref()
                    .and_then(|p| p["ImportToken"].as_str().map(str::to_owned)),
            ) else {
                return Err(SimError::Request(format!(
                    "GetParametersForImport of {} failed",
                    plan.name
                )));
            };
            let material = zeroize::Zeroizing::new(self.random_bytes(32));
            let wrapped = wrap(&public, &material).map_err(|detail| {
                SimError::Request(format!("key {}: wrapping material: {detail}", plan.name))
            })?;
            let mut body = json!({
                "KeyId": key_id,
                "ImportToken": token,
                "EncryptedKeyMaterial": STANDARD.encode(wrapped),
                "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
            });
            if let Some(days) = plan.material_valid_days {
                let valid_to = self.clock.now() + Duration::days(i64::from(days));
                body["ExpirationModel"] = json!("KEY_MATERIAL_EXPIRES");
                body["ValidTo"] = json!(valid_to.timestamp());
            }
            step(self, "ImportKeyMaterial", body)?;
        }
        Ok(())
    }

    /// The engine (for flushing its sink at the end).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// The encryption algorithm an asymmetric encryption key needs; `None` for symmetric keys.
fn asymmetric_algorithm(key: &LiveKey) -> Option<String> {
    key.spec
        .is_asymmetric()
        .then(|| key.spec.encryption_algorithms(key.usage).first())
        .flatten()
        .map(|a| a.as_str().to_owned())
}

/// Principal `index`, or for a key without an administrator (`index` past the principals) the
/// root user of the key's account.
fn actor_of<'a>(
    actors: &'a [Actor],
    roots: &'a BTreeMap<String, Actor>,
    scenario: &Scenario,
    index: usize,
    key: usize,
) -> &'a Actor {
    match actors.get(index) {
        Some(actor) => actor,
        // The simulator makes a root actor for every account with such keys.
        None => roots.get(&scenario.keys[key].account).unwrap_or(&actors[0]),
    }
}

/// The first whole hour after `time`.
fn clock_hour_after(time: DateTime<Utc>) -> DateTime<Utc> {
    time.duration_trunc(Duration::hours(1)).unwrap_or(time) + Duration::hours(1)
}

fn blob_member(value: &Value, member: &str) -> Option<Vec<u8>> {
    STANDARD.decode(value[member].as_str()?).ok()
}

/// Wraps `material` for import under the DER `public` key with RSAES_OAEP_SHA_256.
fn wrap(public: &[u8], material: &[u8]) -> Result<Vec<u8>, String> {
    let key = PublicEncryptingKey::from_der(public).map_err(|err| err.to_string())?;
    let key = OaepPublicEncryptingKey::new(key).map_err(|err| err.to_string())?;
    let mut out = vec![0; key.ciphertext_size()];
    let wrapped = key
        .encrypt(&OAEP_SHA256_MGF1SHA256, material, &mut out, None)
        .map_err(|err| err.to_string())?;
    Ok(wrapped.to_vec())
}
