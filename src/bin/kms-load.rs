//! `kms-load`: a closed-loop load generator for KMS-compatible servers, used by
//! `bench/kms_server.py` to drive `kms-audit kms serve` and moto's server with the same load.
//!
//! It is written in Rust, on one thread by default, because the benchmark runs client and
//! server on the same two cores: a Python load generator would take most of the CPU it is
//! trying to measure. Each client holds one HTTP/1.1 keep-alive connection and sends its next
//! request as soon as the previous answer arrives (closed loop), so `--clients` is the number
//! of requests in flight.
//!
//! Requests are the real AWS JSON 1.1 wire form (`POST /`, `X-Amz-Target: TrentService.<Op>`,
//! `Content-Type: application/x-amz-json-1.1`) signed with SigV4 by AWS's own `aws-sigv4`
//! crate, so a server that verifies signatures does its whole verification on every call.
//! `--signing reuse` (the default) signs a client's request once and sends the same signed
//! bytes until it is `--resign-every` seconds old (well inside the 5-minute skew window);
//! `--signing each` signs every request, as an SDK does, at a client-side CPU cost that the
//! server then cannot use.
//!
//! `kms-load run` prints one JSON object: calls completed in the measured window (after
//! `--warmup`), errors by kind, throughput, and latency percentiles.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{anyhow, bail, Context, Result};
use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use base64::Engine as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

/// The KMS JSON protocol's content type.
const CONTENT_TYPE_JSON: &str = "application/x-amz-json-1.1";
/// The target header and its operation prefix.
const X_AMZ_TARGET: &str = "x-amz-target";
const TARGET_PREFIX: &str = "TrentService.";
/// The SigV4 service name of KMS.
const SERVICE: &str = "kms";
/// The encryption context every benchmark request carries (the server binds it to the
/// ciphertext and evaluates it in policy conditions).
const ENCRYPTION_CONTEXT: [(&str, &str); 2] = [("purpose", "kms-bench"), ("tenant", "t-0001")];
/// Latency samples kept per client before the run starts (grows as needed).
const SAMPLES_RESERVED: usize = 1 << 16;
/// How long a client waits after a transport error before it tries again.
const TRANSPORT_ERROR_PAUSE: Duration = Duration::from_millis(10);

#[derive(Parser)]
#[command(
    name = "kms-load",
    version,
    about = "Closed-loop KMS load generator (SigV4, JSON 1.1)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Creates a symmetric encryption key (CreateKey) and prints its KeyId.
    CreateKey(Target),
    /// Runs the load and prints the measurements as one JSON object.
    Run(RunArgs),
}

/// Where the server is and who signs.
#[derive(Args, Clone)]
struct Target {
    /// Server endpoint, `http://HOST:PORT`.
    #[arg(long)]
    endpoint: String,
    /// SigV4 Region.
    #[arg(long, default_value = "us-east-1")]
    region: String,
    /// Access key id (default: `$AWS_ACCESS_KEY_ID`).
    #[arg(long)]
    access_key_id: Option<String>,
    /// Secret access key (default: `$AWS_SECRET_ACCESS_KEY`; prefer the environment).
    #[arg(long)]
    secret_access_key: Option<String>,
}

/// The value of `--flag`, else of the environment variable `env`.
fn flag_or_env(value: Option<&String>, flag: &str, env: &str) -> Result<String> {
    match value {
        Some(value) => Ok(value.clone()),
        None => std::env::var(env).with_context(|| format!("no --{flag} and no ${env}")),
    }
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    target: Target,
    /// Operation to call.
    #[arg(long, value_enum)]
    op: Op,
    /// Key id, ARN or alias.
    #[arg(long)]
    key_id: String,
    /// Concurrent clients (connections with one request in flight each).
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Measured seconds, after the warm-up.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Encrypt plaintext size in bytes.
    #[arg(long, default_value_t = 1024)]
    plaintext_bytes: usize,
    /// Sign once and reuse the signed request, or sign every request.
    #[arg(long, value_enum, default_value_t = Signing::Reuse)]
    signing: Signing,
    /// With `--signing reuse`: seconds after which a client signs its request again.
    #[arg(long, default_value_t = 60.0)]
    resign_every: f64,
    /// Runtime worker threads (1: a current-thread runtime).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// The operations the benchmark drives.
#[derive(Clone, Copy, ValueEnum)]
enum Op {
    /// `Encrypt` of `--plaintext-bytes` random bytes with the encryption context.
    Encrypt,
    /// `GenerateDataKey` with `KeySpec` `AES_256` and the encryption context.
    GenerateDataKey,
}

impl Op {
    fn name(self) -> &'static str {
        match self {
            Self::Encrypt => "Encrypt",
            Self::GenerateDataKey => "GenerateDataKey",
        }
    }
}

/// How requests are signed.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Signing {
    /// Sign once per client and reuse the signed request until it is `--resign-every` old.
    Reuse,
    /// Sign every request.
    Each,
}

impl Signing {
    fn name(self) -> &'static str {
        match self {
            Self::Reuse => "reuse",
            Self::Each => "each",
        }
    }
}

/// One request ready to send: its body and every header, signature included.
#[derive(Clone)]
struct Signed {
    body: Bytes,
    headers: Vec<(HeaderName, HeaderValue)>,
    at: Instant,
}

/// Builds and signs requests for one endpoint.
struct Signer {
    host: String,
    url: String,
    region: String,
    credentials: Credentials,
}

impl Signer {
    fn new(target: &Target) -> Result<(Self, SocketAddr)> {
        let authority = target
            .endpoint
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("--endpoint must be http://HOST:PORT"))?
            .trim_end_matches('/');
        let addr: SocketAddr = authority.parse().with_context(|| {
            format!("--endpoint {}: not an IP address and port", target.endpoint)
        })?;
        let signer = Self {
            host: authority.to_owned(),
            url: format!("http://{authority}/"),
            region: target.region.clone(),
            credentials: Credentials::new(
                flag_or_env(
                    target.access_key_id.as_ref(),
                    "access-key-id",
                    "AWS_ACCESS_KEY_ID",
                )?,
                flag_or_env(
                    target.secret_access_key.as_ref(),
                    "secret-access-key",
                    "AWS_SECRET_ACCESS_KEY",
                )?,
                None,
                None,
                "kms-load",
            ),
        };
        Ok((signer, addr))
    }

    /// The request for `operation` with `body`, signed now.
    fn sign(&self, operation: &str, body: Bytes) -> Result<Signed> {
        let target = format!("{TARGET_PREFIX}{operation}");
        let unsigned = [
            (HOST.as_str(), self.host.as_str()),
            (CONTENT_TYPE.as_str(), CONTENT_TYPE_JSON),
            (X_AMZ_TARGET, target.as_str()),
        ];
        let identity = self.credentials.clone().into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(SERVICE)
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .context("SigV4 parameters")?
            .into();
        let signable = SignableRequest::new(
            "POST",
            self.url.as_str(),
            unsigned.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .context("SigV4 request")?;
        let (instructions, _signature) = sign(signable, &params)
            .context("SigV4 signing")?
            .into_parts();
        let mut headers = Vec::with_capacity(unsigned.len() + 3);
        for (name, value) in unsigned.iter().copied().chain(instructions.headers()) {
            headers.push((
                HeaderName::from_bytes(name.as_bytes())?,
                HeaderValue::from_str(value)?,
            ));
        }
        headers.push((USER_AGENT, HeaderValue::from_static("kms-load/0.1")));
        Ok(Signed {
            body,
            headers,
            at: Instant::now(),
        })
    }
}

fn http_request(signed: &Signed) -> Result<Request<Full<Bytes>>> {
    let mut request = Request::builder()
        .method(Method::POST)
        .uri("/")
        .body(Full::new(signed.body.clone()))?;
    let headers = request.headers_mut();
    for (name, value) in &signed.headers {
        headers.insert(name.clone(), value.clone());
    }
    Ok(request)
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        // The connection ends when the client drops it or the server closes it; either way the
        // client notices on its next `ready()` and reconnects.
        let _ = connection.await;
    });
    Ok(sender)
}

/// What came back.
struct Answer {
    status: StatusCode,
    body: Bytes,
}

/// Sends one request on `sender`, reconnecting first when the server closed the connection.
async fn send(
    sender: &mut Option<SendRequest<Full<Bytes>>>,
    addr: SocketAddr,
    request: Request<Full<Bytes>>,
    connections: &mut u64,
) -> Result<Answer> {
    let ready = match sender.as_mut() {
        Some(s) => s.ready().await.is_ok(),
        None => false,
    };
    if !ready {
        *sender = Some(connect(addr).await?);
        *connections += 1;
    }
    let s = sender.as_mut().ok_or_else(|| anyhow!("no connection"))?;
    let response = match s.send_request(request).await {
        Ok(response) => response,
        Err(err) => {
            *sender = None;
            return Err(err.into());
        }
    };
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok(Answer { status, body })
}

/// The error kind of a failed call: `__type` from the body, else the HTTP status.
fn error_kind(answer: &Answer) -> String {
    let parsed: Option<Value> = serde_json::from_slice(&answer.body).ok();
    let kind = parsed
        .as_ref()
        .and_then(|v| v.get("__type"))
        .and_then(Value::as_str)
        .map(|t| t.rsplit('#').next().unwrap_or(t).to_owned());
    match kind {
        Some(kind) => format!("{} {kind}", answer.status.as_u16()),
        None => format!("{}", answer.status.as_u16()),
    }
}

/// The member a successful answer of `op` must carry.
fn expected_member(op: Op) -> &'static str {
    match op {
        Op::Encrypt | Op::GenerateDataKey => "CiphertextBlob",
    }
}

fn request_body(op: Op, key_id: &str, plaintext_bytes: usize, seed: u64) -> Bytes {
    let context: serde_json::Map<String, Value> = ENCRYPTION_CONTEXT
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
        .collect();
    let body = match op {
        Op::Encrypt => {
            // Plaintext bytes differ per client (a cheap xorshift), so no two clients send the
            // same body.
            let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
            let plaintext: Vec<u8> = (0..plaintext_bytes)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x.to_le_bytes()[0]
                })
                .collect();
            json!({
                "KeyId": key_id,
                "Plaintext": base64::engine::general_purpose::STANDARD.encode(plaintext),
                "EncryptionContext": context,
            })
        }
        Op::GenerateDataKey => json!({
            "KeyId": key_id,
            "KeySpec": "AES_256",
            "EncryptionContext": context,
        }),
    };
    Bytes::from(body.to_string())
}

/// One client's tally.
#[derive(Default)]
struct Tally {
    /// Latencies (µs) of calls that completed inside the measured window.
    latencies_us: Vec<u32>,
    /// Failed calls completed inside the measured window, by kind.
    errors: BTreeMap<String, u64>,
    /// Sample messages of the first errors.
    samples: Vec<String>,
    connections: u64,
    signatures: u64,
    /// Every answer received, in the window or not (each is one audited call).
    answered: u64,
}

async fn client(
    index: usize,
    args: Arc<RunArgs>,
    signer: Arc<Signer>,
    addr: SocketAddr,
    measure_from: Instant,
    end: Instant,
) -> Result<Tally> {
    let op = args.op;
    let body = request_body(op, &args.key_id, args.plaintext_bytes, index as u64 + 1);
    let resign_after = Duration::from_secs_f64(args.resign_every);
    let mut signed = signer.sign(op.name(), body.clone())?;
    let mut tally = Tally {
        latencies_us: Vec::with_capacity(SAMPLES_RESERVED),
        signatures: 1,
        ..Tally::default()
    };
    let mut sender = None;
    let member = expected_member(op).as_bytes();
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if args.signing == Signing::Each || now.duration_since(signed.at) >= resign_after {
            signed = signer.sign(op.name(), body.clone())?;
            tally.signatures += 1;
        }
        let request = http_request(&signed)?;
        let started = Instant::now();
        let result = send(&mut sender, addr, request, &mut tally.connections).await;
        let finished = Instant::now();
        if result.is_ok() {
            tally.answered += 1;
        } else {
            // A refused or reset connection: do not spin on it.
            tokio::time::sleep(TRANSPORT_ERROR_PAUSE).await;
        }
        if finished < measure_from || finished > end {
            continue;
        }
        let ok = match &result {
            Ok(answer) => {
                answer.status == StatusCode::OK
                    && answer.body.windows(member.len()).any(|w| w == member)
            }
            Err(_) => false,
        };
        if ok {
            let micros = finished.duration_since(started).as_micros();
            tally
                .latencies_us
                .push(u32::try_from(micros).unwrap_or(u32::MAX));
        } else {
            let (kind, sample) = match &result {
                Ok(answer) => (
                    error_kind(answer),
                    String::from_utf8_lossy(&answer.body[..answer.body.len().min(300)])
                        .into_owned(),
                ),
                Err(err) => ("transport".to_owned(), format!("{err:#}")),
            };
            *tally.errors.entry(kind).or_default() += 1;
            if tally.samples.len() < 3 {
                tally.samples.push(sample);
            }
        }
    }
    Ok(tally)
}

fn percentile(sorted: &[u32], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    // Nearest rank.
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    Some(f64::from(sorted[index]) / 1000.0)
}

async fn run(args: RunArgs) -> Result<Value> {
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let (signer, addr) = Signer::new(&args.target)?;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let clients = args.clients;
    let (args, signer) = (Arc::new(args), Arc::new(signer));
    let mut tasks = JoinSet::new();
    for i in 0..clients {
        tasks.spawn(client(
            i,
            Arc::clone(&args),
            Arc::clone(&signer),
            addr,
            measure_from,
            end,
        ));
    }
    let tallies = tasks.join_all().await;
    let mut latencies = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let mut samples = Vec::new();
    let (mut connections, mut signatures, mut answered) = (0, 0, 0);
    for tally in tallies {
        let tally = tally?;
        latencies.extend_from_slice(&tally.latencies_us);
        for (kind, n) in tally.errors {
            *errors.entry(kind).or_default() += n;
        }
        samples.extend(tally.samples);
        connections += tally.connections;
        signatures += tally.signatures;
        answered += tally.answered;
    }
    latencies.sort_unstable();
    samples.truncate(3);
    let window = args.duration;
    let calls = latencies.len() as u64;
    let failed: u64 = errors.values().sum();
    let mean = if latencies.is_empty() {
        None
    } else {
        Some(latencies.iter().map(|&v| f64::from(v)).sum::<f64>() / latencies.len() as f64 / 1000.0)
    };
    Ok(json!({
        "op": args.op.name(),
        "clients": args.clients,
        "duration_s": window,
        "warmup_s": args.warmup,
        "plaintext_bytes": if matches!(args.op, Op::Encrypt) { Some(args.plaintext_bytes) } else { None },
        "signing": args.signing.name(),
        "resign_every_s": args.resign_every,
        "signatures": signatures,
        "calls": calls,
        "errors": failed,
        "errors_by_kind": errors,
        "error_samples": samples,
        "connections": connections,
        "answered_total": answered,
        "throughput_per_s": calls as f64 / window,
        "latency_ms": {
            "mean": mean,
            "p50": percentile(&latencies, 50.0),
            "p90": percentile(&latencies, 90.0),
            "p99": percentile(&latencies, 99.0),
            "p999": percentile(&latencies, 99.9),
            "max": latencies.last().map(|&v| f64::from(v) / 1000.0),
        },
    }))
}

async fn create_key(target: Target) -> Result<String> {
    let (signer, addr) = Signer::new(&target)?;
    let body = Bytes::from(json!({"Description": "kms-load benchmark key"}).to_string());
    let signed = signer.sign("CreateKey", body)?;
    let mut sender = None;
    let mut connections = 0;
    let answer = send(&mut sender, addr, http_request(&signed)?, &mut connections).await?;
    if answer.status != StatusCode::OK {
        bail!(
            "CreateKey failed: {}: {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        );
    }
    let value: Value = serde_json::from_slice(&answer.body).context("CreateKey response")?;
    value
        .pointer("/KeyMetadata/KeyId")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| anyhow!("CreateKey response has no KeyMetadata.KeyId: {value}"))
}

fn runtime(threads: usize) -> Result<tokio::runtime::Runtime> {
    let runtime = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    Ok(runtime)
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::CreateKey(target) => {
            let key_id = runtime(1)?.block_on(create_key(target))?;
            println!("{key_id}");
        }
        Command::Run(args) => {
            let report = runtime(args.threads)?.block_on(run(args))?;
            println!("{report}");
        }
    }
    Ok(())
}
