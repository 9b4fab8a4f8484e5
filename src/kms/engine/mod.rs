//! The KMS engine: keys, aliases and grants in memory, every operation authorized by key
//! policy, identity policies and grants, and recorded as one CloudTrail event before its
//! changes take effect. The HTTP server and the simulator are thin layers over it.

pub mod clock;
pub mod error;
pub mod ids;
pub mod lifecycle;
pub mod ops;
pub mod state;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::Value;

use crate::kms::audit::{AuditSink, CallerIdentity};
use crate::kms::engine::clock::Clock;
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ids::{alias_arn, key_arn, KeyRef};
use crate::kms::engine::state::{Change, Key, State};
use crate::kms::policy::context::RequestContext;
use crate::kms::policy::document::PolicyDocument;
use crate::kms::policy::evaluate::evaluate;
use crate::kms::policy::message::access_denied_message;

/// Who is calling, as the engine needs it for authorization and for the CloudTrail record.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The identity as CloudTrail records it.
    pub identity: CallerIdentity,
    /// The ARN policies match: a user or role session ARN, an account root ARN, or a service
    /// principal such as `s3.amazonaws.com`.
    pub principal: String,
    /// The caller's account.
    pub account: String,
    /// `aws:PrincipalOrgID`.
    pub org_id: Option<String>,
    /// The caller's address (`sourceIPAddress`), or a service name.
    pub source_ip: String,
    /// `userAgent`.
    pub user_agent: String,
    /// The service calling on the principal's behalf (`kms:ViaService`).
    pub via_service: Option<String>,
}

/// Engine settings.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Identity (IAM) policies by principal ARN (user or role ARN), as policy JSON.
    pub identity_policies: BTreeMap<String, Vec<String>>,
    /// Seed for ids, key material and event ids; `None` draws one from the system.
    pub seed: Option<u64>,
}

/// What an operation produced, before it is recorded and applied.
#[derive(Debug)]
pub struct Outcome<R> {
    /// The response for the caller.
    pub response: R,
    /// The writes to apply once the call is recorded.
    pub changes: Vec<Change>,
    /// `responseElements` for CloudTrail; `None` writes `null`.
    pub response_elements: Option<Value>,
    /// `additionalEventData.keyMaterialId` of the material used.
    pub key_material_id: Option<String>,
}

impl<R> Outcome<R> {
    /// A state change to `key` with an empty API response: the new key replaces the old,
    /// and CloudTrail logs the key ARN in `responseElements` (the December 2022 rule).
    pub fn key_updated(response: R, key: &Key, changed: Key) -> Self {
        Self {
            response,
            changes: vec![Change::PutKey(Box::new(changed))],
            response_elements: ops::key_arn_element(key),
            key_material_id: None,
        }
    }

    /// A response that changes nothing and logs `responseElements: null`.
    pub fn respond(response: R) -> Self {
        Self {
            response,
            changes: Vec::new(),
            response_elements: None,
            key_material_id: None,
        }
    }
}

/// Everything an operation may read or draw while it runs.
pub struct Context<'e> {
    /// The state, read-only: writes are returned as [`Change`]s.
    pub state: &'e State,
    /// The time of the call.
    pub now: DateTime<Utc>,
    /// The Region the call was sent to.
    pub region: &'e str,
    /// The caller.
    pub caller: &'e Caller,
    /// Randomness (ids, material, ciphertext nonces).
    pub rng: &'e mut ChaCha20Rng,
}

impl<'e> Context<'e> {
    /// The key a `KeyId` names, resolving aliases.
    pub fn key(&self, key_id: &str) -> Result<&'e Key, KmsError> {
        let state: &'e State = self.state;
        let arn = resolve(state, self.region, &self.caller.account, key_id)?;
        state
            .keys
            .get(&arn)
            .ok_or_else(|| KmsError::key_not_found(&arn))
    }
}

/// Resolves a `KeyId` to a key ARN (the key may not exist).
pub fn resolve(
    state: &State,
    region: &str,
    account: &str,
    key_id: &str,
) -> Result<String, KmsError> {
    match KeyRef::parse(key_id)? {
        KeyRef::Id(id) => Ok(key_arn(region, account, &id)),
        KeyRef::KeyArn {
            region,
            account,
            id,
        } => Ok(key_arn(&region, &account, &id)),
        KeyRef::AliasName(name) => {
            let alias = alias_arn(region, account, &name);
            state.aliases.get(&alias).cloned().ok_or_else(|| {
                KmsError::new(
                    KmsErrorKind::NotFound,
                    format!("Alias {alias} is not found."),
                )
            })
        }
        KeyRef::AliasArn {
            region,
            account,
            name,
        } => {
            let alias = alias_arn(&region, &account, &name);
            state.aliases.get(&alias).cloned().ok_or_else(|| {
                KmsError::new(
                    KmsErrorKind::NotFound,
                    format!("Alias {alias} is not found."),
                )
            })
        }
    }
}

/// The engine.
pub struct Engine {
    clock: Arc<dyn Clock>,
    sink: Arc<dyn AuditSink>,
    config: EngineConfig,
    identity_policies: BTreeMap<String, Vec<PolicyDocument>>,
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    rng: ChaCha20Rng,
}

/// An authorization the engine checks before running an operation: an action on a key.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// `kms:Decrypt`, `kms:ReEncryptFrom`, …
    pub action: String,
    /// The key ARN.
    pub key_arn: String,
    /// The request's encryption context (for conditions and grant constraints).
    pub encryption_context: BTreeMap<String, String>,
    /// Other condition keys the request carries.
    pub condition_keys: BTreeMap<String, Vec<String>>,
}

/// One KMS operation: its name, how CloudTrail shows its request, which keys it needs
/// authorization on, and what it does.
pub trait Operation {
    /// The API name, `Encrypt`.
    const NAME: &'static str;
    /// CloudTrail's `readOnly`.
    const READ_ONLY: bool;
    /// The request.
    type Request;
    /// The response.
    type Response;
    /// `requestParameters` for CloudTrail: camelCase members, never plaintext, ciphertext,
    /// messages, signatures or import tokens.
    fn request_parameters(request: &Self::Request) -> Value;
    /// The authorizations the call needs (none for account-level operations).
    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        request: &Self::Request,
    ) -> Result<Vec<Authorization>, KmsError>;
    /// Runs the operation against a read-only state.
    fn run(
        ctx: &mut Context<'_>,
        request: Self::Request,
    ) -> Result<Outcome<Self::Response>, KmsError>;
    /// Keys (ARNs) the call acts on that no policy decides about, because the operation
    /// authorizes the caller itself (`RetireGrant`: "permission to retire a grant is specified
    /// in the grant"). They are named in the record's `resources` only.
    fn self_authorized_keys(
        _state: &State,
        _region: &str,
        _caller: &Caller,
        _request: &Self::Request,
    ) -> Vec<String> {
        Vec::new()
    }
    /// Resources the record names after the keys, as (account, ARN): alias operations name
    /// the alias ARN, which AWS's examples also type `AWS::KMS::Key`.
    fn extra_resources(
        _region: &str,
        _caller: &Caller,
        _request: &Self::Request,
    ) -> Vec<(String, String)> {
        Vec::new()
    }
    /// `additionalEventData` members the request determines (`RetireGrant`: `grantId`),
    /// recorded whether the call succeeds or fails.
    fn additional_event_data(
        _state: &State,
        _region: &str,
        _caller: &Caller,
        _request: &Self::Request,
    ) -> Option<Value> {
        None
    }
}

impl Engine {
    /// An engine over `clock`, recording to `sink`.
    pub fn new(
        clock: Arc<dyn Clock>,
        sink: Arc<dyn AuditSink>,
        config: EngineConfig,
    ) -> Result<Self, KmsError> {
        let mut identity_policies = BTreeMap::new();
        for (principal, policies) in &config.identity_policies {
            let parsed = policies
                .iter()
                .map(|text| {
                    PolicyDocument::parse_identity_policy(text).map_err(|err| {
                        KmsError::new(
                            KmsErrorKind::MalformedPolicyDocument,
                            format!("identity policy of {principal}: {err}"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            identity_policies.insert(principal.clone(), parsed);
        }
        let rng = match config.seed {
            Some(seed) => ChaCha20Rng::seed_from_u64(seed),
            None => ChaCha20Rng::from_rng(&mut rand::rng()),
        };
        Ok(Self {
            clock,
            sink,
            config,
            identity_policies,
            inner: Mutex::new(Inner {
                state: State::default(),
                rng,
            }),
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, KmsError> {
        self.inner.lock().map_err(|_| {
            KmsError::new(
                KmsErrorKind::Internal,
                "the engine state is unavailable after a failure",
            )
        })
    }

    /// Runs operation `O` for `caller` in `region`: authorizes it, runs it, records it, and
    /// only then applies its changes. A call that cannot be recorded fails and changes nothing.
    pub fn call<O: Operation>(
        &self,
        caller: &Caller,
        region: &str,
        request: O::Request,
    ) -> Result<O::Response, KmsError> {
        let now = self.clock.now();
        let mut inner = self.lock()?;
        let parameters = O::request_parameters(&request);
        let Inner { state, rng } = &mut *inner;
        let request_id = ids::new_uuid(rng);
        let event_id = ids::new_uuid(rng);
        let mut record = CallRecord {
            name: O::NAME,
            read_only: O::READ_ONLY,
            time: now,
            region: region.to_owned(),
            request_id,
            event_id,
            parameters,
            resources: Vec::new(),
            response_elements: None,
            key_material_id: None,
            additional_event_data: None,
            error: None,
        };
        let result =
            self.authorize_and_run::<O>(state, rng, caller, region, now, request, &mut record);
        match result {
            Ok(outcome) => {
                record.response_elements = outcome.response_elements.clone();
                record.key_material_id = outcome.key_material_id.clone();
                self.record(caller, &record)?;
                for change in &outcome.changes {
                    if let Change::ServiceEvent(event) = change {
                        self.record_service(event)?;
                    }
                }
                state.apply(outcome.changes);
                Ok(outcome.response)
            }
            Err(err) => {
                record.error = Some(err.clone());
                self.record(caller, &record)?;
                Err(err)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn authorize_and_run<O: Operation>(
        &self,
        state: &State,
        rng: &mut ChaCha20Rng,
        caller: &Caller,
        region: &str,
        now: DateTime<Utc>,
        request: O::Request,
        record: &mut CallRecord,
    ) -> Result<Outcome<O::Response>, KmsError> {
        record.additional_event_data = O::additional_event_data(state, region, caller, &request);
        let authorizations = O::authorizations(state, region, caller, &request)?;
        for auth in &authorizations {
            let key = state
                .keys
                .get(&auth.key_arn)
                .ok_or_else(|| KmsError::key_not_found(&auth.key_arn))?;
            record
                .resources
                .push((key.account.clone(), key.arn.clone()));
            let ctx = self.request_context(caller, auth, key, now);
            let identity = self
                .identity_policies
                .get(&ctx.principal)
                .map_or(&[][..], Vec::as_slice);
            let decision = evaluate(&key.policy, identity, &state.grants_on(&key.arn), &ctx);
            if !decision.is_allowed() {
                let message = access_denied_message(&ctx, &decision).unwrap_or_else(|| {
                    format!(
                        "User: {} is not authorized to perform: {} on resource: {}",
                        ctx.caller_arn(),
                        auth.action,
                        key.arn
                    )
                });
                return Err(KmsError::new(KmsErrorKind::AccessDenied, message));
            }
        }
        for arn in O::self_authorized_keys(state, region, caller, &request) {
            if let Some(key) = state.keys.get(&arn) {
                record
                    .resources
                    .push((key.account.clone(), key.arn.clone()));
            }
        }
        record
            .resources
            .extend(O::extra_resources(region, caller, &request));
        let mut ctx = Context {
            state,
            now,
            region,
            caller,
            rng,
        };
        O::run(&mut ctx, request)
    }

    fn request_context(
        &self,
        caller: &Caller,
        auth: &Authorization,
        key: &Key,
        now: DateTime<Utc>,
    ) -> RequestContext {
        let mut ctx = RequestContext::new(&auth.action, &key.arn, &caller.principal);
        if ctx.principal_account.is_empty() && !caller.principal.contains('.') {
            ctx.principal_account.clone_from(&caller.account);
        }
        ctx.principal_org_id.clone_from(&caller.org_id);
        ctx.source_ip = caller.source_ip.parse::<IpAddr>().ok();
        ctx.via_service.clone_from(&caller.via_service);
        ctx.now = now;
        ctx.encryption_context.clone_from(&auth.encryption_context);
        ctx.condition_keys.clone_from(&auth.condition_keys);
        ctx.condition_keys
            .entry("kms:KeySpec".to_owned())
            .or_insert_with(|| vec![key.spec.as_str().to_owned()]);
        ctx
    }

    fn record(&self, caller: &Caller, record: &CallRecord) -> Result<(), KmsError> {
        let event = audit_adapter::api_call(caller, record);
        self.sink.record(&event).map_err(|err| {
            KmsError::new(
                KmsErrorKind::Internal,
                format!("the call could not be audited ({err}); nothing was changed"),
            )
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// A snapshot of the state (for tests and inspection).
    pub fn snapshot(&self) -> Result<State, KmsError> {
        Ok(self.lock()?.state.clone())
    }
}

/// What the engine knows about a call when it records it.
#[derive(Debug, Clone)]
pub struct CallRecord {
    /// Operation name.
    pub name: &'static str,
    /// `readOnly`.
    pub read_only: bool,
    /// `eventTime`.
    pub time: DateTime<Utc>,
    /// `awsRegion`.
    pub region: String,
    /// `requestID`.
    pub request_id: String,
    /// `eventID`.
    pub event_id: String,
    /// `requestParameters`.
    pub parameters: Value,
    /// `resources`: (owner account, key ARN).
    pub resources: Vec<(String, String)>,
    /// `responseElements`.
    pub response_elements: Option<Value>,
    /// `additionalEventData.keyMaterialId`.
    pub key_material_id: Option<String>,
    /// Other `additionalEventData` members (an object), from
    /// [`Operation::additional_event_data`].
    pub additional_event_data: Option<Value>,
    /// The error, for a failed call.
    pub error: Option<KmsError>,
}

mod audit_adapter;
