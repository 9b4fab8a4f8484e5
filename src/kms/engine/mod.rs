//! The KMS engine: keys, aliases and grants in memory, every operation authorized by key
//! policy, identity policies and grants, and recorded in CloudTrail before its changes take
//! effect — one event, or one copy per account for a call on another account's key, plus
//! the records KMS writes in other Regions (ReplicateKey, UpdatePrimaryRegion). The HTTP
//! server and the simulator are thin layers over it. The server's engine also hands every
//! change to a [`Journal`] (its durable store) before applying it; the simulator's keeps
//! state in memory only.

pub mod clock;
pub mod error;
pub mod ids;
pub mod key_store;
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

use crate::kms::audit::rules::is_cryptographic;
use crate::kms::audit::{AuditSink, CallerIdentity, SinkError};
use crate::kms::engine::clock::Clock;
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ids::{alias_arn, key_arn, KeyRef};
use crate::kms::engine::key_store::CustomKeyStore;
use crate::kms::engine::state::{Change, Key, State};
use crate::kms::policy::context::RequestContext;
use crate::kms::policy::document::PolicyDocument;
use crate::kms::policy::evaluate::{evaluate, evaluate_account_action};
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
    /// Simulated AWS CloudHSM key stores keys can be created in (`Origin` `AWS_CLOUDHSM`).
    pub custom_key_stores: Vec<CustomKeyStore>,
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
    /// Other `additionalEventData` members the outcome determines (an object: the
    /// `backingKey` of a key created in a CloudHSM key store).
    pub additional_event_data: Option<Value>,
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
            additional_event_data: None,
        }
    }

    /// A response that changes nothing and logs `responseElements: null`.
    pub fn respond(response: R) -> Self {
        Self {
            response,
            changes: Vec::new(),
            response_elements: None,
            key_material_id: None,
            additional_event_data: None,
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
    /// Identity policies by principal, for [`Context::authorize`].
    identity_policies: &'e BTreeMap<String, Vec<PolicyDocument>>,
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

    /// Authorizes one more key while the operation runs, as the engine authorizes the keys
    /// of [`Operation::authorizations`], but without naming it in the record's `resources`
    /// (`UpdatePrimaryRegion` needs the permission on the replica too; AWS's record names
    /// only the primary key).
    pub fn authorize(&self, auth: &Authorization) -> Result<(), KmsError> {
        authorize(
            self.state,
            self.identity_policies,
            self.caller,
            auth,
            self.now,
        )
        .map(|_| ())
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
            state
                .aliases
                .get(&alias)
                .map(|a| a.key_arn.clone())
                .ok_or_else(|| {
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
            state
                .aliases
                .get(&alias)
                .map(|a| a.key_arn.clone())
                .ok_or_else(|| {
                    KmsError::new(
                        KmsErrorKind::NotFound,
                        format!("Alias {alias} is not found."),
                    )
                })
        }
    }
}

/// Makes state changes durable before the engine applies them (the server's store).
pub trait Journal: Send + Sync {
    /// Called with the engine lock held, after the call's records were accepted by the
    /// sink and before `changes` are applied. An error fails the call
    /// (KMSInternalException) and nothing is applied.
    fn persist(&self, changes: &[Change]) -> Result<(), SinkError>;
}

/// The engine.
pub struct Engine {
    clock: Arc<dyn Clock>,
    sink: Arc<dyn AuditSink>,
    config: EngineConfig,
    identity_policies: BTreeMap<String, Vec<PolicyDocument>>,
    /// Where changes go before they are applied; `None` keeps state in memory only (the
    /// simulator and tests).
    journal: Option<Arc<dyn Journal>>,
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

/// An account-level IAM permission a call needs (`kms:CreateKey`, `kms:ListKeys`, …): the
/// action on resource `*`, decided by the caller's identity policies alone, since no key
/// policy takes part.
#[derive(Debug, Clone)]
pub struct AccountAuthorization {
    /// `kms:CreateKey`, `kms:ListKeys`, …
    pub action: &'static str,
    /// Whether AWS's denial names the resource (`on resource: *`). The extra permission a
    /// request parameter needs (`kms:TagResource` for `CreateKey`'s `Tags`) is reported
    /// without one.
    pub names_resource: bool,
    /// Condition keys of the request (`kms:KeySpec`, `aws:TagKeys`, …).
    pub condition_keys: BTreeMap<String, Vec<String>>,
}

impl AccountAuthorization {
    /// The operation's own action, with no condition keys.
    #[must_use]
    pub fn action(action: &'static str) -> Self {
        AccountAuthorization {
            action,
            names_resource: true,
            condition_keys: BTreeMap::new(),
        }
    }
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
    /// The account-level permissions the call needs, checked before the keys' (none for
    /// operations on keys alone).
    fn account_authorizations(_request: &Self::Request) -> Vec<AccountAuthorization> {
        Vec::new()
    }
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
    /// Resources the record names after the keys, as (account, ARN): `CreateAlias` names the
    /// alias ARN after its key, which AWS's examples also type `AWS::KMS::Key`.
    fn extra_resources(
        _region: &str,
        _caller: &Caller,
        _request: &Self::Request,
    ) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Resources the record names before the keys, as (account, ARN): AWS's `DeleteAlias`
    /// and `UpdateAlias` records name the alias ARN first, then the key. Like
    /// [`Operation::extra_resources`], they are named once the keys are authorized.
    fn leading_resources(
        _region: &str,
        _caller: &Caller,
        _request: &Self::Request,
    ) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Keys (as account, ARN) the call brought into being, named last in the record of a
    /// successful call: no authorization can name a key that does not exist yet, but AWS's
    /// `CreateKey` records name the new key.
    fn response_resources(_response: &Self::Response) -> Vec<(String, String)> {
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
    /// An engine over `clock`, recording to `sink`, with state in memory only.
    pub fn new(
        clock: Arc<dyn Clock>,
        sink: Arc<dyn AuditSink>,
        config: EngineConfig,
    ) -> Result<Self, KmsError> {
        let rng = match config.seed {
            Some(seed) => ChaCha20Rng::seed_from_u64(seed),
            None => ChaCha20Rng::from_rng(&mut rand::rng()),
        };
        Self::build(clock, sink, config, State::default(), rng, None)
    }

    /// An engine over restored `state` whose changes go to `journal` (as well as the sink).
    ///
    /// The configuration's custom key stores replace any in `state` (they are configuration,
    /// not state). The configured seed is used only when `state` has no keys, aliases,
    /// grants or import parameters: a seeded engine restarted over its own state would
    /// otherwise draw the same key ids, request ids and material it already handed out.
    pub fn restore(
        clock: Arc<dyn Clock>,
        sink: Arc<dyn AuditSink>,
        config: EngineConfig,
        state: State,
        journal: Arc<dyn Journal>,
    ) -> Result<Self, KmsError> {
        let fresh = state.keys.is_empty()
            && state.aliases.is_empty()
            && state.grants.is_empty()
            && state.imports.is_empty();
        let rng = match config.seed {
            Some(seed) if fresh => ChaCha20Rng::seed_from_u64(seed),
            _ => ChaCha20Rng::from_rng(&mut rand::rng()),
        };
        let mut state = state;
        state.custom_key_stores.clear();
        Self::build(clock, sink, config, state, rng, Some(journal))
    }

    fn build(
        clock: Arc<dyn Clock>,
        sink: Arc<dyn AuditSink>,
        config: EngineConfig,
        mut state: State,
        rng: ChaCha20Rng,
        journal: Option<Arc<dyn Journal>>,
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
        for store in &config.custom_key_stores {
            store.validate()?;
            let name_taken = state.custom_key_stores.values().any(|other| {
                other.account_id == store.account_id
                    && other.custom_key_store_name == store.custom_key_store_name
            });
            if name_taken
                || state
                    .custom_key_stores
                    .contains_key(&store.custom_key_store_id)
            {
                return Err(KmsError::new(
                    KmsErrorKind::Validation,
                    format!(
                        "custom key store {} ({}) is configured twice",
                        store.custom_key_store_id, store.custom_key_store_name
                    ),
                ));
            }
            state
                .custom_key_stores
                .insert(store.custom_key_store_id.clone(), store.clone());
        }
        Ok(Self {
            clock,
            sink,
            config,
            identity_policies,
            journal,
            inner: Mutex::new(Inner { state, rng }),
        })
    }

    /// Installs `changes` (keys, aliases, grants a configuration seeds) without a call and
    /// without a record, through the journal. Used once at server start.
    pub fn install(&self, changes: Vec<Change>) -> Result<(), KmsError> {
        let mut inner = self.lock()?;
        self.persist(&changes)?;
        inner.state.apply(changes);
        Ok(())
    }

    /// Hands `changes` to the journal, if there is one: they are applied only if it accepts
    /// them. Records-only changes (service events, related calls) need no journal.
    pub(crate) fn persist(&self, changes: &[Change]) -> Result<(), KmsError> {
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        let writes = changes
            .iter()
            .any(|c| !matches!(c, Change::ServiceEvent(_) | Change::RelatedCall(_)));
        if !writes {
            return Ok(());
        }
        journal.persist(changes).map_err(|err| {
            KmsError::new(
                KmsErrorKind::Internal,
                format!("the change could not be stored ({err}); nothing was changed"),
            )
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
        self.call_as::<O>(caller, region, request, false)
    }

    /// Runs operation `O` with `DryRun` set: validated, authorized and tried against the
    /// state, then refused with `DryRunOperationException` if it would have succeeded (or
    /// its own error if not). Audited with `requestParameters.dryRun`; nothing changes.
    pub fn dry_run<O: Operation>(
        &self,
        caller: &Caller,
        region: &str,
        request: O::Request,
    ) -> Result<O::Response, KmsError> {
        self.call_as::<O>(caller, region, request, true)
    }

    fn call_as<O: Operation>(
        &self,
        caller: &Caller,
        region: &str,
        request: O::Request,
        dry_run: bool,
    ) -> Result<O::Response, KmsError> {
        let now = self.clock.now();
        let mut inner = self.lock()?;
        let mut parameters = O::request_parameters(&request);
        if dry_run {
            match &mut parameters {
                Value::Object(members) => {
                    members.insert("dryRun".to_owned(), Value::Bool(true));
                }
                other => *other = serde_json::json!({ "dryRun": true }),
            }
        }
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
        let result = match result {
            Ok(_) if dry_run => Err(KmsError::new(
                KmsErrorKind::DryRunOperation,
                "The request would have succeeded, but the DryRun option is set.",
            )),
            other => other,
        };
        match result {
            Ok(outcome) => {
                record
                    .resources
                    .extend(O::response_resources(&outcome.response));
                record.response_elements = outcome.response_elements.clone();
                record.key_material_id = outcome.key_material_id.clone();
                if let Some(data) = &outcome.additional_event_data {
                    merge_additional(&mut record.additional_event_data, data);
                }
                note_custom_key_store::<O>(state, &mut record);
                self.record(caller, &record, rng)?;
                // The same request's records in other Regions, then what it set off.
                for change in &outcome.changes {
                    if let Change::RelatedCall(related) = change {
                        self.record_related(caller, &record, related)?;
                    }
                }
                for change in &outcome.changes {
                    if let Change::ServiceEvent(event) = change {
                        self.record_service(event)?;
                    }
                }
                self.persist(&outcome.changes)?;
                state.apply(outcome.changes);
                Ok(outcome.response)
            }
            Err(err) => {
                record.error = Some(err.clone());
                note_custom_key_store::<O>(state, &mut record);
                self.record(caller, &record, rng)?;
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
        for auth in O::account_authorizations(&request) {
            authorize_account(&self.identity_policies, caller, &auth, now)?;
        }
        let authorizations = O::authorizations(state, region, caller, &request)?;
        for auth in &authorizations {
            let key = state
                .keys
                .get(&auth.key_arn)
                .ok_or_else(|| KmsError::key_not_found(&auth.key_arn))?;
            record
                .resources
                .push((key.account.clone(), key.arn.clone()));
            authorize(state, &self.identity_policies, caller, auth, now)?;
        }
        for arn in O::self_authorized_keys(state, region, caller, &request) {
            if let Some(key) = state.keys.get(&arn) {
                record
                    .resources
                    .push((key.account.clone(), key.arn.clone()));
            }
        }
        let leading = O::leading_resources(region, caller, &request);
        record.resources.splice(0..0, leading);
        record
            .resources
            .extend(O::extra_resources(region, caller, &request));
        let mut ctx = Context {
            state,
            now,
            region,
            caller,
            rng,
            identity_policies: &self.identity_policies,
        };
        O::run(&mut ctx, request)
    }

    /// Records a call. A call on a key of another account is delivered to both accounts
    /// (CloudTrail's cross-account delivery): one copy per account, each with its own
    /// `eventID` and `recipientAccountId`, all with one `sharedEventID`. A call the key
    /// policy denied reaches only the caller's account ("cross-account AWS KMS requests that
    /// are rejected because access is denied are logged only in the caller's account"); a
    /// same-account call is one record without `sharedEventID`. Should a later copy fail to
    /// be written after an earlier one was, the call still fails and changes nothing.
    fn record(
        &self,
        caller: &Caller,
        record: &CallRecord,
        rng: &mut ChaCha20Rng,
    ) -> Result<(), KmsError> {
        let event = audit_adapter::api_call(caller, record);
        let recipients = audit_adapter::recipients(caller, record);
        if recipients.len() < 2 {
            let mut event = event;
            if let Some(account) = recipients.first() {
                event.recipient_account_id.clone_from(account);
            }
            return self.write(&event);
        }
        let shared = ids::new_uuid(rng);
        for (i, account) in recipients.iter().enumerate() {
            let mut copy = event.clone();
            copy.recipient_account_id.clone_from(account);
            copy.shared_event_id = Some(shared.clone());
            if i > 0 {
                copy.event_id = ids::new_uuid(rng);
            }
            self.write(&copy)?;
        }
        Ok(())
    }

    /// Records another Region's record of the same request.
    fn record_related(
        &self,
        caller: &Caller,
        record: &CallRecord,
        related: &RelatedCall,
    ) -> Result<(), KmsError> {
        self.write(&audit_adapter::related_call(caller, record, related))
    }

    fn write(&self, event: &crate::kms::audit::AuditEvent) -> Result<(), KmsError> {
        self.sink.record(event).map_err(|err| {
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

/// Decides `auth` for `caller` with the key policy, the caller's identity policies and the
/// grants on the key: the key, or `AccessDeniedException` (or `NotFoundException` for a key
/// that does not exist).
fn authorize<'s>(
    state: &'s State,
    identity_policies: &BTreeMap<String, Vec<PolicyDocument>>,
    caller: &Caller,
    auth: &Authorization,
    now: DateTime<Utc>,
) -> Result<&'s Key, KmsError> {
    let key = state
        .keys
        .get(&auth.key_arn)
        .ok_or_else(|| KmsError::key_not_found(&auth.key_arn))?;
    let ctx = request_context(caller, auth, key, now);
    let identity = identity_policies
        .get(&ctx.principal)
        .map_or(&[][..], Vec::as_slice);
    let decision = evaluate(&key.policy, identity, &state.grants_on(&key.arn), &ctx);
    if decision.is_allowed() {
        return Ok(key);
    }
    let message = access_denied_message(&ctx, &decision).unwrap_or_else(|| {
        format!(
            "User: {} is not authorized to perform: {} on resource: {}",
            ctx.caller_arn(),
            auth.action,
            key.arn
        )
    });
    Err(KmsError::new(KmsErrorKind::AccessDenied, message))
}

/// Decides the account-level permission `auth` for `caller` with the caller's identity
/// policies: `AccessDeniedException` unless they allow it (the account root always may).
fn authorize_account(
    identity_policies: &BTreeMap<String, Vec<PolicyDocument>>,
    caller: &Caller,
    auth: &AccountAuthorization,
    now: DateTime<Utc>,
) -> Result<(), KmsError> {
    let mut ctx = caller_context(caller, auth.action, "*", now);
    ctx.condition_keys.clone_from(&auth.condition_keys);
    let identity = identity_policies
        .get(&ctx.principal)
        .map_or(&[][..], Vec::as_slice);
    let decision = evaluate_account_action(identity, &ctx);
    if decision.is_allowed() {
        return Ok(());
    }
    if !auth.names_resource {
        ctx.resource.clear();
    }
    let message = access_denied_message(&ctx, &decision).unwrap_or_else(|| {
        format!(
            "User: {} is not authorized to perform: {}",
            ctx.caller_arn(),
            auth.action
        )
    });
    Err(KmsError::new(KmsErrorKind::AccessDenied, message))
}

/// The request context of `caller` asking for `action` on `resource`, before the request's
/// own condition keys.
fn caller_context(
    caller: &Caller,
    action: &str,
    resource: &str,
    now: DateTime<Utc>,
) -> RequestContext {
    let mut ctx = RequestContext::new(action, resource, &caller.principal);
    if ctx.principal_account.is_empty() && !caller.principal.contains('.') {
        ctx.principal_account.clone_from(&caller.account);
    }
    ctx.principal_org_id.clone_from(&caller.org_id);
    ctx.source_ip = caller.source_ip.parse::<IpAddr>().ok();
    ctx.via_service.clone_from(&caller.via_service);
    ctx.now = now;
    ctx
}

/// The request context policies see for `auth` on `key`.
fn request_context(
    caller: &Caller,
    auth: &Authorization,
    key: &Key,
    now: DateTime<Utc>,
) -> RequestContext {
    let mut ctx = caller_context(caller, &auth.action, &key.arn, now);
    ctx.encryption_context.clone_from(&auth.encryption_context);
    ctx.condition_keys.clone_from(&auth.condition_keys);
    ctx.condition_keys
        .entry("kms:KeySpec".to_owned())
        .or_insert_with(|| vec![key.spec.as_str().to_owned()]);
    ctx
}

/// Adds the members of `data` (an object) to `additionalEventData`.
fn merge_additional(target: &mut Option<Value>, data: &Value) {
    let Value::Object(members) = data else {
        return;
    };
    let mut map = match target.take() {
        Some(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    for (name, value) in members {
        map.insert(name.clone(), value.clone());
    }
    *target = Some(Value::Object(map));
}

/// "All log entries for cryptographic operations with a KMS key in a custom key store
/// include an `additionalEventData` field with the `customKeyStoreId`" (KMS Developer Guide,
/// Decrypt with a KMS key in an AWS CloudHSM key store): added for the first such key the
/// call names, whether the call succeeded or not. Such keys have no `CurrentKeyMaterialId`
/// (the API reference gives it only to `AWS_KMS` and single-Region `EXTERNAL` keys), so no
/// `keyMaterialId` is logged for them either.
fn note_custom_key_store<O: Operation>(state: &State, record: &mut CallRecord) {
    if !is_cryptographic(O::NAME) {
        return;
    }
    let store = record.resources.iter().find_map(|(_, arn)| {
        state
            .keys
            .get(arn)
            .and_then(|key| key.hsm.as_ref())
            .map(|hsm| hsm.custom_key_store_id.clone())
    });
    if let Some(store) = store {
        record.key_material_id = None;
        merge_additional(
            &mut record.additional_event_data,
            &serde_json::json!({ "customKeyStoreId": store }),
        );
    }
}

/// Another record of a request, in another Region than the call's (see
/// [`Change::RelatedCall`]). It has the call's time, caller and `requestID`, its own
/// `eventID`, and `invokedBy: kms.amazonaws.com`, as the second `UpdatePrimaryRegion`
/// record of the KMS Developer Guide shows.
#[derive(Debug, Clone)]
pub struct RelatedCall {
    /// `eventName`.
    pub name: &'static str,
    /// `awsRegion`.
    pub region: String,
    /// `requestParameters`.
    pub parameters: Value,
    /// `responseElements`.
    pub response_elements: Option<Value>,
    /// `resources`: (owner account, key ARN); empty writes none.
    pub resources: Vec<(String, String)>,
    /// `eventID`.
    pub event_id: String,
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
