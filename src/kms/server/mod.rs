//! The mini-KMS HTTP server: AWS's KMS wire protocol (JSON 1.1 over `POST /`) in front of the
//! engine, with SigV4 signatures checked against configured access keys that stand for IAM
//! identities, state kept in the durable store, the CloudTrail trail delivered to a directory,
//! and CloudTrail `LookupEvents` answered from the recorded events.
//!
//! - [`config`]: the configuration file.
//! - [`protocol`]: targets, answers and AWS error bodies.
//! - [`sigv4`]: signature verification.
//! - [`seed`]: keys, aliases and grants created at start.
//! - [`lookup`]: CloudTrail `LookupEvents`.
//!
//! A request is answered only once its records (and any state change) are committed: an
//! acknowledged call survives a crash.

pub mod config;
pub mod lookup;
pub mod protocol;
pub mod request_scope;
pub mod seed;
pub mod sigv4;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration as StdDuration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header::{HOST, USER_AGENT};
use axum::http::request::Parts;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::kms::audit::rules::is_read_only;
use crate::kms::audit::{
    new_event_id, AuditEvent, AuditSink, CallerIdentity, DigestConfig, TlsDetails,
};
use crate::kms::dispatch::{self, DispatchError};
use crate::kms::engine::clock::{Clock, SystemClock};
use crate::kms::engine::error::KmsError;
use crate::kms::engine::ids::partition_of;
use crate::kms::engine::{Caller, Engine, EngineConfig};
use crate::kms::store::{RootKey, Store, StoreError, StoreOptions};

use self::config::{
    ConfigError, CredentialConfig, ServerConfig, DEFAULT_DATA_DIR, DEFAULT_FLUSH_INTERVAL,
    DEFAULT_LIFECYCLE_INTERVAL, DEFAULT_LISTEN, DEFAULT_TRAIL_DIR,
};
use self::protocol::{AwsError, Target};
use self::request_scope::RequestSink;
use self::seed::SeedError;
use self::sigv4::{AuthError, Rejected, SignedRequest, Verifier};

/// The largest request body read (KMS requests are a few KiB; policies up to 32 KiB).
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// `accountId` CloudTrail shows for a caller no access key identifies.
pub const ANONYMOUS_ACCOUNT: &str = "anonymous";

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The configuration file.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A seed entry.
    #[error("configuration seed: {0}")]
    Seed(#[from] SeedError),
    /// The durable store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The engine refused its configuration or the seed.
    #[error("KMS engine: {0}")]
    Engine(#[from] KmsError),
    /// A configured credential cannot be used.
    #[error("credentials: {0}")]
    Credentials(String),
    /// The listening socket.
    #[error("{address}: {source}")]
    Listen {
        /// The address.
        address: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// An IAM identity an access key stands for, as the engine needs it.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The identity as CloudTrail records it (with the access key id).
    pub identity: CallerIdentity,
    /// The ARN policies match: `arn:aws:iam::<acct>:user/<name>`, the role session
    /// `arn:aws:sts::<acct>:assumed-role/<role>/<session>`, or `arn:aws:iam::<acct>:root`.
    pub arn: String,
    /// The account.
    pub account: String,
    /// `aws:PrincipalOrgID`.
    pub org_id: Option<String>,
}

impl Principal {
    /// The identity `credential` stands for; role sessions without an issue time are
    /// issued at `started`.
    pub fn of(credential: &CredentialConfig, partition: &str, started: DateTime<Utc>) -> Self {
        let account = credential.account.clone();
        let key = credential.access_key_id.clone();
        let (identity, arn) = if let Some(role) = &credential.role {
            let session = credential
                .session
                .clone()
                .unwrap_or_else(|| credential.access_key_id.clone());
            let issued = credential.session_issued.unwrap_or(started);
            let mut identity = CallerIdentity::assumed_role(&account, role, &session, issued);
            if let CallerIdentity::AssumedRole { access_key_id, .. } = &mut identity {
                *access_key_id = key;
            }
            let arn = format!("arn:{partition}:sts::{account}:assumed-role/{role}/{session}");
            (identity, arn)
        } else if credential.root {
            let identity = CallerIdentity::Root {
                account_id: account.clone(),
                access_key_id: Some(key),
                session: None,
            };
            (identity, format!("arn:{partition}:iam::{account}:root"))
        } else {
            let user = credential.user.clone().unwrap_or_default();
            let mut identity = CallerIdentity::iam_user(&account, &user);
            if let CallerIdentity::IamUser { access_key_id, .. } = &mut identity {
                *access_key_id = key;
            }
            (
                identity,
                format!("arn:{partition}:iam::{account}:user/{user}"),
            )
        };
        Self {
            identity,
            arn,
            account,
            org_id: credential.org_id.clone(),
        }
    }
}

/// The engine's clock: the system clock, optionally running ahead (`clock_offset`).
#[derive(Debug, Clone, Copy)]
pub struct OffsetClock {
    offset: chrono::Duration,
}

impl OffsetClock {
    /// A clock `offset` ahead of the system clock.
    pub fn new(offset: StdDuration) -> Self {
        Self {
            offset: chrono::Duration::from_std(offset).unwrap_or(chrono::Duration::MAX),
        }
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        let now = SystemClock.now();
        now.checked_add_signed(self.offset).unwrap_or(now)
    }
}

/// Everything a request needs.
pub struct ServerState {
    engine: Arc<Engine>,
    /// The durable store; `None` keeps state in memory (tests).
    store: Option<Arc<Store>>,
    /// The sink the engine records to, for the records of rejected requests.
    sink: Arc<dyn AuditSink>,
    verifier: Verifier<Principal>,
    region: String,
    account: String,
    /// Calls of [`SLOW_OPERATIONS`] running now.
    slow_in_flight: AtomicUsize,
}

impl ServerState {
    /// The state over `engine` (which records to `sink`) and `store`, accepting the
    /// configured credentials.
    pub fn new(
        engine: Arc<Engine>,
        store: Option<Arc<Store>>,
        sink: Arc<dyn AuditSink>,
        config: &ServerConfig,
        started: DateTime<Utc>,
    ) -> Result<Self, ServerError> {
        let partition = partition_of(config.region());
        let mut verifier = Verifier::new();
        for credential in &config.credentials {
            let principal = Principal::of(credential, partition, started);
            if !verifier.add(
                &credential.access_key_id,
                &credential.secret_access_key,
                credential.session_token.as_deref(),
                principal,
            ) {
                return Err(ServerError::Credentials(format!(
                    "access key {} is configured twice",
                    credential.access_key_id
                )));
            }
        }
        Ok(Self {
            engine,
            store,
            sink,
            verifier,
            region: config.region().to_owned(),
            account: config.default_account().to_owned(),
            slow_in_flight: AtomicUsize::new(0),
        })
    }

    /// The engine.
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// Waits until everything recorded so far is committed.
    async fn durable(&self) -> Result<(), AwsError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        store
            .durable(store.ticket())
            .await
            .map_err(|err| AwsError::internal(format!("the call could not be made durable: {err}")))
    }
}

/// The server's routes: `POST /` for every KMS and CloudTrail operation.
pub fn router(state: Arc<ServerState>) -> Router {
    Router::new()
        .route("/", post(handle))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> Response {
    AwsError::new(404, "UnknownOperationException", "").into_response(&protocol::new_request_id())
}

/// Where a request came from, as CloudTrail records it.
struct Origin {
    source_ip: String,
    user_agent: String,
    host: Option<String>,
}

impl Origin {
    fn of(parts: &Parts) -> Self {
        let source_ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([127, 0, 0, 1]), |info| info.0.ip())
            .to_string();
        let text = |name| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        Self {
            source_ip,
            user_agent: text(USER_AGENT).unwrap_or_default(),
            host: text(HOST).or_else(|| parts.uri.authority().map(|a| a.as_str().to_owned())),
        }
    }
}

async fn handle(State(state): State<Arc<ServerState>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return AwsError::serialization(format!(
                "the request body could not be read or is larger than {MAX_BODY_BYTES} bytes"
            ))
            .into_response(&protocol::new_request_id())
        }
    };
    let Some(target) = protocol::target(&parts.headers) else {
        return AwsError::unknown_operation().into_response(&protocol::new_request_id());
    };
    let origin = Origin::of(&parts);
    let signed = SignedRequest {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &body,
    };
    let verified = match state.verifier.verify(&signed, target.service(), Utc::now()) {
        Ok(verified) => verified,
        Err(rejected) => return reject(&state, target, rejected, &origin).await,
    };
    let principal = verified.signer;
    match target {
        Target::Kms(operation) => {
            kms_call(&state, operation, principal, verified.region, origin, body).await
        }
        Target::CloudTrail(protocol::LOOKUP_EVENTS) => {
            lookup_call(&state, principal, verified.region, body).await
        }
        Target::CloudTrail(_) => {
            AwsError::unknown_operation().into_response(&protocol::new_request_id())
        }
    }
}

/// Runs a KMS operation in the engine (on a blocking thread: key generation can take a
/// while), waits for its records to be committed, and answers.
async fn kms_call(
    state: &Arc<ServerState>,
    operation: &str,
    principal: &Principal,
    region: String,
    origin: Origin,
    body: Bytes,
) -> Response {
    if !dispatch::OPERATIONS.contains(&operation) {
        return AwsError::unknown_operation().into_response(&protocol::new_request_id());
    }
    let request: Value = if body.is_empty() {
        Value::Object(serde_json::Map::new())
    } else {
        match serde_json::from_slice(&body) {
            Ok(value @ Value::Object(_)) => value,
            Ok(_) => {
                return AwsError::serialization("the request body is not a JSON object")
                    .into_response(&protocol::new_request_id())
            }
            Err(err) => {
                return AwsError::serialization(format!("the request body is not JSON: {err}"))
                    .into_response(&protocol::new_request_id())
            }
        }
    };
    let caller = Caller {
        identity: principal.identity.clone(),
        principal: principal.arn.clone(),
        account: principal.account.clone(),
        org_id: principal.org_id.clone(),
        source_ip: origin.source_ip,
        user_agent: origin.user_agent,
        via_service: None,
    };
    let host = origin.host;
    let slow = SLOW_OPERATIONS.contains(&operation);
    // While a slow call holds the engine, a quick one would wait for it on a runtime
    // thread: it goes to the blocking pool too.
    let (result, request_id) = if slow || state.slow_in_flight.load(Ordering::Acquire) > 0 {
        let engine = Arc::clone(&state.engine);
        let operation = operation.to_owned();
        let in_flight = slow.then(|| SlowCall::start(Arc::clone(state)));
        let ran = tokio::task::spawn_blocking(move || {
            let ran = run_in_scope(&engine, &caller, &region, &operation, request, host);
            drop(in_flight);
            ran
        })
        .await;
        match ran {
            Ok(ran) => ran,
            Err(err) => {
                return AwsError::internal(format!("the call failed: {err}"))
                    .into_response(&protocol::new_request_id())
            }
        }
    } else {
        run_in_scope(&state.engine, &caller, &region, operation, request, host)
    };
    let request_id = request_id.unwrap_or_else(protocol::new_request_id);
    match result {
        Ok(response) => {
            if let Err(err) = state.durable().await {
                return err.into_response(&request_id);
            }
            let body = match response {
                Value::Null => Vec::new(),
                other => serde_json::to_vec(&other).unwrap_or_default(),
            };
            protocol::ok(body, &request_id)
        }
        Err(DispatchError::Kms(err)) => {
            // The failure was recorded: answer only once the record is durable.
            if let Err(durability) = state.durable().await {
                return durability.into_response(&request_id);
            }
            AwsError::new(err.kind.http_status(), err.kind.code(), err.message)
                .into_response(&request_id)
        }
        Err(DispatchError::UnknownOperation(_)) => {
            AwsError::unknown_operation().into_response(&request_id)
        }
        Err(DispatchError::Serialization { detail, .. }) => {
            AwsError::serialization(detail).into_response(&request_id)
        }
    }
}

/// Operations that may generate or use large asymmetric keys (RSA key generation takes tens
/// to hundreds of milliseconds): they run on the blocking pool. The others take
/// microseconds and run in place, which saves two thread switches per call.
const SLOW_OPERATIONS: &[&str] = &[
    "CreateKey",
    "GenerateDataKeyPair",
    "GenerateDataKeyPairWithoutPlaintext",
    "GetParametersForImport",
    "ImportKeyMaterial",
    "ReplicateKey",
    "Sign",
    "Verify",
];

/// Counts a slow call as in flight until dropped.
struct SlowCall(Arc<ServerState>);

impl SlowCall {
    fn start(state: Arc<ServerState>) -> Self {
        state.slow_in_flight.fetch_add(1, Ordering::AcqRel);
        Self(state)
    }
}

impl Drop for SlowCall {
    fn drop(&mut self) {
        self.0.slow_in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Runs one engine call with the request's `Host` marked on the thread; the result and the
/// call's `requestID`.
fn run_in_scope(
    engine: &Engine,
    caller: &Caller,
    region: &str,
    operation: &str,
    request: Value,
    host: Option<String>,
) -> (Result<Value, DispatchError>, Option<String>) {
    request_scope::enter(host);
    let result = dispatch::call(engine, caller, region, operation, request);
    (result, request_scope::leave())
}

/// CloudTrail `LookupEvents` from the store's records.
async fn lookup_call(
    state: &Arc<ServerState>,
    principal: &Principal,
    region: String,
    body: Bytes,
) -> Response {
    let request_id = protocol::new_request_id();
    let Some(store) = state.store.clone() else {
        return AwsError::new(
            400,
            "UnsupportedOperationException",
            "this server keeps no event history",
        )
        .into_response(&request_id);
    };
    let identity = principal.identity.clone();
    let ran = tokio::task::spawn_blocking(move || {
        lookup::lookup_events(&*store, &identity, &region, &body)
    })
    .await;
    match ran {
        Ok(Ok(value)) => protocol::ok(serde_json::to_vec(&value).unwrap_or_default(), &request_id),
        Ok(Err(err)) => {
            AwsError::new(err.status(), err.code(), err.to_string()).into_response(&request_id)
        }
        Err(err) => {
            AwsError::internal(format!("the lookup failed: {err}")).into_response(&request_id)
        }
    }
}

/// Answers a request whose signature was refused, after recording it: a KMS operation is
/// recorded with the exception as `errorCode`, in the account of the access key it named
/// (or, when no known key signed it, the server's default account with an anonymous
/// identity), with `requestParameters: null` since nothing of an unauthenticated request is
/// trusted.
async fn reject(
    state: &Arc<ServerState>,
    target: Target<'_>,
    rejected: Rejected<'_, Principal>,
    origin: &Origin,
) -> Response {
    let request_id = protocol::new_request_id();
    let error = rejected.error;
    if let Target::Kms(operation) = target {
        if let Some(name) = dispatch::OPERATIONS.iter().find(|op| **op == operation) {
            let region = rejected.region.as_deref().unwrap_or(&state.region);
            let event = rejection_record(
                state,
                name,
                region,
                rejected.signer,
                origin,
                &error,
                &request_id,
            );
            let recorded = state.sink.record(&event);
            if recorded.is_err() {
                return AwsError::internal("the request could not be audited")
                    .into_response(&request_id);
            }
            if let Err(err) = state.durable().await {
                return err.into_response(&request_id);
            }
        }
    }
    AwsError::new(400, error.code(), error.message()).into_response(&request_id)
}

fn rejection_record(
    state: &ServerState,
    operation: &str,
    region: &str,
    signer: Option<(&str, &Principal)>,
    origin: &Origin,
    error: &AuthError,
    request_id: &str,
) -> AuditEvent {
    let (identity, recipient) = match signer {
        Some((_, principal)) => (principal.identity.clone(), principal.account.clone()),
        None => (
            CallerIdentity::aws_account(ANONYMOUS_ACCOUNT, ""),
            state.account.clone(),
        ),
    };
    let mut event = AuditEvent::api_call(
        operation,
        state.engine.clock().now(),
        region,
        identity,
        request_id.to_owned(),
        new_event_id(&mut rand::rng()),
    );
    event.recipient_account_id = recipient;
    event.source_ip_address.clone_from(&origin.source_ip);
    event.user_agent = Some(origin.user_agent.clone());
    event.read_only = is_read_only(operation);
    let mut tls = TlsDetails::tls13(region);
    if let Some(host) = &origin.host {
        tls.client_provided_host_header.clone_from(host);
    }
    event.tls_details = Some(tls);
    event.fail(error.code(), error.message());
    event
}

/// How to run the server; options left `None` come from the configuration file, then the
/// defaults.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// The configuration file; `None` uses [`ServerConfig::builtin`].
    pub config: Option<PathBuf>,
    /// The data directory.
    pub data_dir: Option<PathBuf>,
    /// The trail directory.
    pub trail_dir: Option<PathBuf>,
    /// The address to listen on.
    pub listen: Option<SocketAddr>,
    /// The root key file.
    pub root_key_file: Option<PathBuf>,
}

/// A running server's parts, built from a configuration.
struct Running {
    state: Arc<ServerState>,
    store: Arc<Store>,
    lifecycle_interval: StdDuration,
}

/// Opens the store, restores the engine over it, seeds it and makes the seed durable.
async fn start(config: &ServerConfig, options: &ServeOptions) -> Result<Running, ServerError> {
    let data_dir = options
        .data_dir
        .clone()
        .or_else(|| config.store.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
    let root_key_file = options
        .root_key_file
        .clone()
        .or_else(|| config.store.root_key_file.clone());
    let root_key = RootKey::locate(root_key_file.as_deref(), &data_dir)?;
    let mut store_options = StoreOptions::default();
    if let Some(days) = config.trail.retention_days {
        store_options.retention = chrono::Duration::days(i64::from(days));
    }
    store_options.digests = DigestConfig::hourly(
        config
            .trail
            .name
            .as_deref()
            .unwrap_or(crate::kms::store::DEFAULT_TRAIL_NAME),
        config.region(),
        config
            .trail
            .bucket
            .as_deref()
            .unwrap_or(crate::kms::store::DEFAULT_TRAIL_BUCKET),
    );
    let (store, restored) = Store::open(&data_dir, root_key, store_options)?;
    let clock: Arc<dyn Clock> = Arc::new(OffsetClock::new(config.clock_offset.unwrap_or_default()));
    let sink: Arc<dyn AuditSink> = Arc::new(RequestSink::new(store.sink()));
    let engine_config = EngineConfig {
        identity_policies: config
            .identity_policies
            .iter()
            .map(|(principal, policies)| {
                (
                    principal.clone(),
                    policies.iter().map(|p| p.0.clone()).collect(),
                )
            })
            .collect(),
        seed: config.random_seed,
        custom_key_stores: Vec::new(),
    };
    let seed = seed::seed_changes(config, &restored, clock.now())?;
    let engine = Arc::new(Engine::restore(
        Arc::clone(&clock),
        Arc::clone(&sink),
        engine_config,
        restored,
        store.journal(),
    )?);
    if !seed.is_empty() {
        engine.install(seed)?;
    }
    let state = Arc::new(ServerState::new(
        Arc::clone(&engine),
        Some(Arc::clone(&store)),
        sink,
        config,
        SystemClock.now(),
    )?);
    run_lifecycle(&state).await;
    store.durable(store.ticket()).await?;
    Ok(Running {
        state,
        store,
        lifecycle_interval: config
            .lifecycle_interval
            .unwrap_or(DEFAULT_LIFECYCLE_INTERVAL),
    })
}

/// Runs the due rotations, deletions and expiries and waits for their records.
async fn run_lifecycle(state: &Arc<ServerState>) {
    let engine = Arc::clone(&state.engine);
    // A failure (an unrecordable service event) leaves the action due for the next round.
    let _ = tokio::task::spawn_blocking(move || engine.run_due()).await;
    let _ = state.durable().await;
}

/// Runs the server until SIGTERM or Ctrl-C: binds, prints `listening on http://ADDR` on
/// stderr, serves, then delivers the remaining records and closes the store.
pub async fn serve(options: ServeOptions) -> Result<(), ServerError> {
    let config = match &options.config {
        Some(path) => ServerConfig::load(path)?,
        None => ServerConfig::builtin(),
    };
    let running = start(&config, &options).await?;
    let trail_dir = options
        .trail_dir
        .clone()
        .or_else(|| config.trail.dir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_TRAIL_DIR));
    let delivery = running.store.start_delivery(
        trail_dir,
        config
            .trail
            .flush_interval
            .unwrap_or(DEFAULT_FLUSH_INTERVAL),
    )?;
    let address = options
        .listen
        .or(config.listen)
        .map_or_else(|| DEFAULT_LISTEN.to_owned(), |a| a.to_string());
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|source| ServerError::Listen {
            address: address.clone(),
            source,
        })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServerError::Listen {
            address: address.clone(),
            source,
        })?;
    eprintln!("listening on http://{bound}");
    let ticker = {
        let state = Arc::clone(&running.state);
        let every = running.lifecycle_interval;
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(every);
            interval.tick().await;
            loop {
                interval.tick().await;
                run_lifecycle(&state).await;
            }
        })
    };
    let app =
        router(Arc::clone(&running.state)).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    ticker.abort();
    let stopped = tokio::task::spawn_blocking(move || delivery.stop()).await;
    running.store.close()?;
    served.map_err(|source| ServerError::Listen { address, source })?;
    match stopped {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(err.into()),
        Err(err) => Err(ServerError::Store(StoreError::Config(format!(
            "trail delivery did not stop cleanly: {err}"
        )))),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use axum::http::{Request as HttpRequest, StatusCode};
    use tower::ServiceExt;

    use super::*;
    use crate::kms::audit::MemorySink;

    const ALICE_KEY: &str = "AKIAEXAMPLEALICE0001";
    const ALICE_SECRET: &str = "alice-secret";
    const ACCOUNT: &str = "111122223333";

    fn config() -> ServerConfig {
        ServerConfig::parse(
            Path::new("kms.yml"),
            r#"
credentials:
  - { access_key_id: AKIAEXAMPLEALICE0001, secret_access_key: alice-secret, account: "111122223333", user: alice }
  - { access_key_id: ASIAEXAMPLEDEPLOY001, secret_access_key: deploy-secret, account: "111122223333", role: deployer, session: ci-42 }
identity_policies:
  "arn:aws:iam::111122223333:user/alice":
    - { Version: "2012-10-17", Statement: [{ Effect: Allow, Action: "kms:*", Resource: "*" }] }
"#,
        )
        .expect("config")
    }

    /// A router over an in-memory engine, and the records it makes.
    fn app() -> (Router, Arc<MemorySink>) {
        let config = config();
        let memory = Arc::new(MemorySink::default());
        let sink: Arc<dyn AuditSink> = Arc::new(RequestSink::new(memory.clone()));
        let engine_config = EngineConfig {
            identity_policies: config
                .identity_policies
                .iter()
                .map(|(p, docs)| (p.clone(), docs.iter().map(|d| d.0.clone()).collect()))
                .collect(),
            seed: Some(7),
            custom_key_stores: Vec::new(),
        };
        let engine =
            Engine::new(Arc::new(SystemClock), Arc::clone(&sink), engine_config).expect("engine");
        let state =
            ServerState::new(Arc::new(engine), None, sink, &config, Utc::now()).expect("state");
        (router(Arc::new(state)), memory)
    }

    fn kms_request(operation: &str, body: &str) -> HttpRequest<Vec<u8>> {
        let mut request = HttpRequest::builder()
            .method("POST")
            .uri("/")
            .header("host", "kms.local:4599")
            .header("content-type", protocol::CONTENT_TYPE_JSON_1_1)
            .header("x-amz-target", format!("TrentService.{operation}"))
            .header("user-agent", "aws-sdk-rust/1.0 test")
            .body(body.as_bytes().to_vec())
            .expect("request");
        request
            .extensions_mut()
            .insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 7], 50000))));
        request
    }

    fn signed(operation: &str, body: &str, key: &str, secret: &str) -> HttpRequest<Vec<u8>> {
        let mut request = kms_request(operation, body);
        sigv4::sign_for_tests(&mut request, key, secret, "us-east-1", "kms", Utc::now());
        request
    }

    async fn send(app: &Router, request: HttpRequest<Vec<u8>>) -> (StatusCode, String, Value) {
        let request = request.map(axum::body::Body::from);
        let response = app.clone().oneshot(request).await.expect("response");
        let status = response.status();
        let request_id = response
            .headers()
            .get(protocol::REQUEST_ID_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let json = if body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&body).expect("json body")
        };
        (status, request_id, json)
    }

    #[tokio::test]
    async fn signed_calls_run_and_are_recorded_with_the_request_origin() {
        let (app, records) = app();
        let (status, request_id, created) =
            send(&app, signed("CreateKey", "{}", ALICE_KEY, ALICE_SECRET)).await;
        assert_eq!(status, StatusCode::OK, "{created}");
        let key_id = created["KeyMetadata"]["KeyId"]
            .as_str()
            .expect("key id")
            .to_owned();
        let body = format!(
            r#"{{"KeyId":"{key_id}","Plaintext":"aGVsbG8=","EncryptionContext":{{"app":"x"}}}}"#
        );
        let (status, _, encrypted) =
            send(&app, signed("Encrypt", &body, ALICE_KEY, ALICE_SECRET)).await;
        assert_eq!(status, StatusCode::OK, "{encrypted}");
        let blob = encrypted["CiphertextBlob"].as_str().expect("ciphertext");
        let body = format!(r#"{{"CiphertextBlob":"{blob}","EncryptionContext":{{"app":"x"}}}}"#);
        let (status, _, decrypted) =
            send(&app, signed("Decrypt", &body, ALICE_KEY, ALICE_SECRET)).await;
        assert_eq!(status, StatusCode::OK, "{decrypted}");
        assert_eq!(decrypted["Plaintext"], "aGVsbG8=");

        let events = records.events();
        assert_eq!(events.len(), 3);
        let create = &events[0];
        assert_eq!(create.event_name, "CreateKey");
        assert_eq!(create.request_id.as_deref(), Some(request_id.as_str()));
        assert_eq!(create.source_ip_address, "192.0.2.7");
        assert_eq!(create.user_agent.as_deref(), Some("aws-sdk-rust/1.0 test"));
        assert_eq!(
            create
                .tls_details
                .as_ref()
                .map(|t| t.client_provided_host_header.as_str()),
            Some("kms.local:4599")
        );
        assert_eq!(
            create.user_identity.arn().as_deref(),
            Some("arn:aws:iam::111122223333:user/alice")
        );
        match &create.user_identity {
            CallerIdentity::IamUser { access_key_id, .. } => assert_eq!(access_key_id, ALICE_KEY),
            other => panic!("not an IAM user: {other:?}"),
        }
    }

    #[tokio::test]
    async fn engine_errors_are_aws_error_bodies() {
        let (app, records) = app();
        let (status, request_id, body) = send(
            &app,
            signed(
                "DescribeKey",
                r#"{"KeyId":"alias/none"}"#,
                ALICE_KEY,
                ALICE_SECRET,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["__type"], "NotFoundException");
        assert_eq!(
            body["message"],
            "Alias arn:aws:kms:us-east-1:111122223333:alias/none is not found."
        );
        let event = records.events().pop().expect("recorded");
        assert_eq!(event.error_code.as_deref(), Some("NotFoundException"));
        assert_eq!(event.request_id.as_deref(), Some(request_id.as_str()));

        // The role session has no identity policy: the default key policy leaves it out.
        let (_, _, created) = send(&app, signed("CreateKey", "{}", ALICE_KEY, ALICE_SECRET)).await;
        let key_id = created["KeyMetadata"]["KeyId"]
            .as_str()
            .expect("key id")
            .to_owned();
        let (status, _, body) = send(
            &app,
            signed(
                "DescribeKey",
                &format!(r#"{{"KeyId":"{key_id}"}}"#),
                "ASIAEXAMPLEDEPLOY001",
                "deploy-secret",
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["__type"], "AccessDeniedException");
        let denied = records.events().pop().expect("recorded");
        assert_eq!(
            denied.user_identity.arn().as_deref(),
            Some("arn:aws:sts::111122223333:assumed-role/deployer/ci-42")
        );
    }

    #[tokio::test]
    async fn protocol_errors_are_not_operations() {
        let (app, records) = app();
        let mut no_target = signed("ListKeys", "{}", ALICE_KEY, ALICE_SECRET);
        no_target.headers_mut().remove("x-amz-target");
        let (status, _, body) = send(&app, no_target).await;
        assert_eq!(
            (status, body["__type"].as_str()),
            (StatusCode::BAD_REQUEST, Some("UnknownOperationException"))
        );

        let (status, _, body) = send(&app, signed("Explode", "{}", ALICE_KEY, ALICE_SECRET)).await;
        assert_eq!(
            (status, body["__type"].as_str()),
            (StatusCode::BAD_REQUEST, Some("UnknownOperationException"))
        );

        let (status, _, body) = send(
            &app,
            signed("ListKeys", "{not json", ALICE_KEY, ALICE_SECRET),
        )
        .await;
        assert_eq!(
            (status, body["__type"].as_str()),
            (StatusCode::BAD_REQUEST, Some("SerializationException"))
        );

        let (status, _, body) = send(
            &app,
            signed("Encrypt", r#"{"KeyId":7}"#, ALICE_KEY, ALICE_SECRET),
        )
        .await;
        assert_eq!(
            (status, body["__type"].as_str()),
            (StatusCode::BAD_REQUEST, Some("SerializationException"))
        );

        let mut elsewhere = signed("ListKeys", "{}", ALICE_KEY, ALICE_SECRET);
        *elsewhere.uri_mut() = "/other".parse().expect("uri");
        let (status, _, body) = send(&app, elsewhere).await;
        assert_eq!(
            (status, body["__type"].as_str()),
            (StatusCode::NOT_FOUND, Some("UnknownOperationException"))
        );
        assert!(records.events().is_empty(), "nothing reached KMS");
    }

    #[tokio::test]
    async fn refused_signatures_are_answered_and_recorded() {
        let (app, records) = app();
        let (status, _, body) = send(&app, kms_request("ListKeys", "{}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["__type"], "MissingAuthenticationTokenException");
        assert_eq!(body["message"], "Missing Authentication Token");

        let (_, _, body) = send(&app, signed("ListKeys", "{}", ALICE_KEY, "wrong")).await;
        assert_eq!(body["__type"], "InvalidSignatureException");

        let (_, _, body) = send(&app, signed("ListKeys", "{}", "AKIAUNKNOWN", "x")).await;
        assert_eq!(body["__type"], "UnrecognizedClientException");
        assert_eq!(
            body["message"],
            "The security token included in the request is invalid."
        );

        let mut old = kms_request("Encrypt", "{}");
        sigv4::sign_for_tests(
            &mut old,
            ALICE_KEY,
            ALICE_SECRET,
            "us-east-1",
            "kms",
            Utc::now() - chrono::Duration::minutes(6),
        );
        let (_, _, body) = send(&app, old).await;
        assert_eq!(body["__type"], "InvalidSignatureException");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Signature expired: ")),
            "{body}"
        );

        let mut wrong_service = kms_request("ListKeys", "{}");
        sigv4::sign_for_tests(
            &mut wrong_service,
            ALICE_KEY,
            ALICE_SECRET,
            "us-east-1",
            "cloudtrail",
            Utc::now(),
        );
        let (_, _, body) = send(&app, wrong_service).await;
        assert_eq!(body["__type"], "InvalidSignatureException");

        let events = records.events();
        let codes: Vec<_> = events
            .iter()
            .map(|e| e.error_code.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            codes,
            [
                "MissingAuthenticationTokenException",
                "InvalidSignatureException",
                "UnrecognizedClientException",
                "InvalidSignatureException",
                "InvalidSignatureException"
            ]
        );
        // Unsigned or unknown: an anonymous caller, delivered to the server's account.
        assert_eq!(
            events[0].user_identity.account_id(),
            Some(ANONYMOUS_ACCOUNT)
        );
        assert_eq!(events[0].recipient_account_id, ACCOUNT);
        assert_eq!(
            events[2].user_identity.account_id(),
            Some(ANONYMOUS_ACCOUNT)
        );
        // A known key with a bad signature: the key's identity, in its account.
        assert_eq!(
            events[1].user_identity.arn().as_deref(),
            Some("arn:aws:iam::111122223333:user/alice")
        );
        assert!(events.iter().all(|e| e.request_parameters.is_null()));
        assert!(events.iter().all(|e| e.source_ip_address == "192.0.2.7"));
        assert_eq!(events[3].event_name, "Encrypt");
        assert!(events[3].read_only);
    }

    #[tokio::test]
    async fn lookup_events_needs_a_store() {
        let (app, _) = app();
        let mut request = HttpRequest::builder()
            .method("POST")
            .uri("/")
            .header("host", "localhost")
            .header(
                "x-amz-target",
                format!("{}LookupEvents", protocol::CLOUDTRAIL_TARGET_PREFIX),
            )
            .body(b"{}".to_vec())
            .expect("request");
        sigv4::sign_for_tests(
            &mut request,
            ALICE_KEY,
            ALICE_SECRET,
            "us-east-1",
            "cloudtrail",
            Utc::now(),
        );
        let (status, _, body) = send(&app, request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["__type"], "UnsupportedOperationException");
    }
}
