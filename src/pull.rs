//! `kms-audit pull`: reads events with CloudTrail's `LookupEvents` API (CloudTrail's event
//! history, or the mini-KMS server through an endpoint override) into a lake.
//!
//! The events go through the same ingest path as log files: they are written as CloudTrail
//! log files (`{"Records":[…]}`, gzip, at most [`FILE_RECORDS`] records each, written as
//! pages arrive so memory stays bounded) under `pulled/` in the lake, which are then
//! ingested, so the lake's manifest lists them and `eventID` de-duplication applies. Events
//! the lake already holds are left out; a pull that finds nothing new writes nothing. Files
//! a failed pull wrote are ingested by the next one.
//!
//! `LookupEvents` is limited to two requests per second per account and Region: requests are
//! paced to that rate, the SDK retries throttled and failed requests with backoff, and a
//! request still throttled after its retries is tried again after a longer wait.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_cloudtrail::config::ProvideCredentials as _;
use aws_sdk_cloudtrail::error::{DisplayErrorContext, ProvideErrorMetadata as _, SdkError};
use aws_sdk_cloudtrail::operation::lookup_events::LookupEventsError;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::ingest::lake::{EventIdSet, Lake};
use crate::ingest::{ingest, IngestOptions, IngestReport, Observer};
use crate::trail::discover::discover;

/// The lake folder that receives the pulled log files.
pub const PULLED_DIR: &str = "pulled";

/// KMS's `eventSource`, pulled by default.
pub const KMS_EVENT_SOURCE: &str = "kms.amazonaws.com";

/// The `--event-source` value that pulls every source.
pub const ALL_SOURCES: &str = "all";

/// Attempts per request by default (the SDK's standard mode makes 3).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 8;

/// The most records one pulled file holds.
pub const FILE_RECORDS: usize = 20_000;

/// The most events one `LookupEvents` response holds.
const PAGE_SIZE: i32 = 50;

/// Error codes that mean "slow down".
const THROTTLING_CODES: [&str; 5] = [
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
];

/// A `--since` / `--until` value: a time, or a span before now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeArg {
    /// A fixed time.
    At(DateTime<Utc>),
    /// `30m`, `12h`, `30d`, `2w`: that long before the pull starts.
    Ago(chrono::Duration),
}

impl TimeArg {
    /// Parses RFC 3339, `YYYY-MM-DD` (its start, or with `end_of_day` its end, UTC), or a
    /// number with a unit: `s`, `m`, `h`, `d` or `w` before now.
    pub fn parse(text: &str, end_of_day: bool) -> Result<Self, String> {
        let trimmed = text.trim();
        let unit = trimmed.chars().last().unwrap_or(' ');
        let number = &trimmed[..trimmed.len() - unit.len_utf8().min(trimmed.len())];
        if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) {
            let n: i64 = number
                .parse()
                .map_err(|_| format!("`{text}` is too large a span"))?;
            let span = match unit {
                's' => chrono::Duration::try_seconds(n),
                'm' => chrono::Duration::try_minutes(n),
                'h' => chrono::Duration::try_hours(n),
                'd' => chrono::Duration::try_days(n),
                'w' => chrono::Duration::try_weeks(n),
                _ => None,
            };
            if let Some(span) = span {
                return Ok(Self::Ago(span));
            }
        }
        crate::scan::parse_time(trimmed, end_of_day)
            .map(Self::At)
            .map_err(|err| format!("{err}, or a span before now such as 1h, 30d or 2w"))
    }

    /// The time meant when the pull starts at `now`.
    pub fn resolve(self, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            Self::At(time) => time,
            Self::Ago(span) => now
                .checked_sub_signed(span)
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        }
    }
}

/// How fast to ask, and how to back off when told to slow down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pacing {
    /// The shortest time between two requests (500 ms: two per second).
    pub min_interval: Duration,
    /// The wait after the first round of throttled attempts; doubled after each next one.
    pub first_backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
    /// Rounds of throttled attempts (each the SDK's retries) before giving up.
    pub throttle_rounds: u32,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_millis(500),
            first_backoff: Duration::from_secs(2),
            max_backoff: Duration::from_secs(30),
            throttle_rounds: 6,
        }
    }
}

impl Pacing {
    /// The wait after the `round`-th throttled round (from 1).
    fn backoff(&self, round: u32) -> Duration {
        let factor = 1u32 << round.saturating_sub(1).min(16);
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

/// What to pull, from where, into which lake.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The CloudTrail endpoint (the mini-KMS server's URL); `None` for AWS's (or
    /// `AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// The Region; `None` for the standard chain (`AWS_REGION`, the profile…).
    pub region: Option<String>,
    /// The shared-config profile; `None` for `AWS_PROFILE` or `default`.
    pub profile: Option<String>,
    /// Events at or after this time.
    pub start: DateTime<Utc>,
    /// Events at or before this time.
    pub end: DateTime<Utc>,
    /// The `eventSource` to look up; `None` for every source.
    pub event_source: Option<String>,
    /// The lake directory (created if missing).
    pub lake: PathBuf,
    /// Attempts per request, retries included.
    pub max_attempts: u32,
    /// Request pacing and throttling backoff.
    pub pacing: Pacing,
    /// How the pulled file is ingested.
    pub ingest: IngestOptions,
}

/// What a pull did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PullReport {
    /// The endpoint asked.
    pub endpoint: String,
    /// The Region asked.
    pub region: String,
    /// The time range asked, RFC 3339.
    pub start: String,
    /// The end of the range, RFC 3339.
    pub end: String,
    /// The `eventSource` looked up (`null`: every source).
    pub event_source: Option<String>,
    /// `LookupEvents` requests that returned a page.
    pub requests: u64,
    /// Requests still throttled after the SDK's retries, and waited out.
    pub throttled: u64,
    /// Events received.
    pub events_received: u64,
    /// Events written to the pulled file: not in the lake before.
    pub events_new: u64,
    /// Events the lake already held (by `eventID`), or received twice.
    pub events_known: u64,
    /// Events without a readable `CloudTrailEvent`, left out.
    pub events_unreadable: u64,
    /// The pulled log files written (none when nothing was new).
    pub files: Vec<PathBuf>,
    /// The lake directory.
    pub lake: PathBuf,
    /// The ingest run of the pulled files (none when there was nothing to ingest).
    pub ingest: Option<IngestReport>,
}

/// Why a pull failed; each names what is missing or who refused.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    /// No Region from `--region`, the environment or the profile.
    #[error(
        "no AWS Region{}: pass --region, set AWS_REGION, or set `region` in the profile (~/.aws/config)",
        profile_note(.profile.as_deref())
    )]
    NoRegion {
        /// The profile asked for, if any.
        profile: Option<String>,
    },
    /// The credential chain found no credentials.
    #[error(
        "no AWS credentials{}: {detail}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, choose a profile with AWS_PROFILE or --profile, or run where a role provides them",
        profile_note(.profile.as_deref())
    )]
    NoCredentials {
        /// The profile asked for, if any.
        profile: Option<String>,
        /// What the chain reported.
        detail: String,
    },
    /// The endpoint did not answer.
    #[error("the CloudTrail endpoint {endpoint} cannot be reached: {detail}")]
    Unreachable {
        /// The endpoint.
        endpoint: String,
        /// The connection error.
        detail: String,
    },
    /// CloudTrail answered with an error.
    #[error(
        "CloudTrail at {endpoint} refused LookupEvents: {code}{}{message}{}",
        if .message.is_empty() { "" } else { ": " },
        refusal_hint(.code)
    )]
    Refused {
        /// The endpoint.
        endpoint: String,
        /// The error code (`AccessDeniedException`, `UnrecognizedClientException`…).
        code: String,
        /// Its message.
        message: String,
    },
    /// An answer that is not a `LookupEvents` response.
    #[error("CloudTrail at {endpoint} sent a response that cannot be read: {detail}")]
    BadResponse {
        /// The endpoint.
        endpoint: String,
        /// What was wrong.
        detail: String,
    },
    /// Throttled in every round.
    #[error("CloudTrail at {endpoint} kept throttling LookupEvents ({rounds} rounds of retries with backoff); try again later or pull a shorter range")]
    Throttled {
        /// The endpoint.
        endpoint: String,
        /// Rounds tried.
        rounds: u32,
    },
    /// `--since` after `--until`.
    #[error("the start of the range ({start}) is after its end ({end})")]
    TimeRange {
        /// The start, RFC 3339.
        start: String,
        /// The end, RFC 3339.
        end: String,
    },
    /// The pulled file could not be written.
    #[error("pulled events cannot be written to {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The lake could not be read or written.
    #[error(transparent)]
    Lake(#[from] crate::Error),
    /// The async runtime the SDK runs on could not start.
    #[error("the async runtime cannot start: {0}")]
    Runtime(std::io::Error),
}

fn profile_note(profile: Option<&str>) -> String {
    profile.map_or_else(String::new, |p| {
        format!(" (profile `{p}`: does it exist in ~/.aws/config or ~/.aws/credentials?)")
    })
}

fn refusal_hint(code: &str) -> &'static str {
    match code {
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch"
        | "IncompleteSignatureException" => {
            " (the access key or its secret was not accepted: check the credentials)"
        }
        "ExpiredToken" | "ExpiredTokenException" | "RequestExpired" => {
            " (the credentials have expired: refresh them)"
        }
        "AccessDenied" | "AccessDeniedException" => " (the identity needs cloudtrail:LookupEvents)",
        _ => "",
    }
}

/// Watches a pull: progress while pages arrive.
pub trait PullObserver: Sync {
    /// A page arrived: `requests` so far, `events` received so far.
    fn page(&self, _requests: u64, _events: u64) {}
    /// Throttled: waiting `wait` before asking again.
    fn throttled(&self, _wait: Duration) {}
}

/// An observer that does nothing.
pub struct Quiet;
impl PullObserver for Quiet {}

/// Pulls the events of `options` into its lake; `progress` watches the requests and
/// `observer` the ingest run.
pub fn pull(
    options: &PullOptions,
    progress: &dyn PullObserver,
    observer: &dyn Observer,
) -> Result<PullReport, PullError> {
    if options.start > options.end {
        return Err(PullError::TimeRange {
            start: rfc3339(options.start),
            end: rfc3339(options.end),
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(PullError::Runtime)?;
    // Region and credentials first: a pull that cannot start leaves no lake behind.
    let pages = runtime.block_on(SdkPages::connect(options))?;
    let mut lake = Lake::open(&options.lake)?;
    let mut batcher = Batcher::new(&options.lake, lake.stored_event_ids()?);
    batcher.region.clone_from(&pages.region);
    let fetched = runtime.block_on(collect(
        &pages,
        &options.pacing,
        progress,
        &pages.endpoint,
        &mut |page| batcher.add(page),
    ))?;
    batcher.flush()?;
    let mut report = PullReport {
        endpoint: pages.endpoint,
        region: pages.region,
        start: rfc3339(options.start),
        end: rfc3339(options.end),
        event_source: options.event_source.clone(),
        requests: fetched.requests,
        throttled: fetched.throttled,
        events_received: batcher.received,
        events_new: batcher.new,
        events_known: batcher.known_events,
        events_unreadable: batcher.unreadable,
        lake: options.lake.clone(),
        ..PullReport::default()
    };
    report.ingest = ingest_pulled(&mut lake, !batcher.files.is_empty(), options, observer)?;
    report.files = batcher.files;
    Ok(report)
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Ingests the lake's `pulled/` folder when files were just written there, or when it
/// holds files the manifest does not list (left by a pull that failed before ingesting).
fn ingest_pulled(
    lake: &mut Lake,
    written: bool,
    options: &PullOptions,
    observer: &dyn Observer,
) -> Result<Option<IngestReport>, PullError> {
    let folder = options.lake.join(PULLED_DIR);
    if !folder.is_dir() {
        return Ok(None);
    }
    let discovery = discover(std::slice::from_ref(&folder))?;
    let unlisted = {
        let listed = lake.manifest().by_identity();
        discovery.files.iter().any(|f| {
            f.identity
                .as_deref()
                .is_none_or(|id| !listed.contains_key(id))
        })
    };
    if !written && !unlisted {
        return Ok(None);
    }
    Ok(Some(ingest(&discovery, lake, &options.ingest, observer)?))
}

/// Takes pages of records as they arrive: drops the unreadable ones and those the lake (or
/// this pull) already has, and writes the rest to pulled files of [`FILE_RECORDS`].
struct Batcher {
    lake: PathBuf,
    region: String,
    known: EventIdSet,
    /// Records without an `eventID` seen so far (only an identical one is a repeat).
    without_id: HashSet<String>,
    pending: Vec<String>,
    files: Vec<PathBuf>,
    received: u64,
    new: u64,
    known_events: u64,
    unreadable: u64,
}

impl Batcher {
    fn new(lake: &Path, known: EventIdSet) -> Self {
        Self {
            lake: lake.to_path_buf(),
            region: String::new(),
            known,
            without_id: HashSet::new(),
            pending: Vec::new(),
            files: Vec::new(),
            received: 0,
            new: 0,
            known_events: 0,
            unreadable: 0,
        }
    }

    /// Takes one page's `CloudTrailEvent`s.
    fn add(&mut self, records: Vec<Option<String>>) -> Result<(), PullError> {
        for text in records {
            self.received += 1;
            let record = text
                .as_deref()
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .filter(Value::is_object);
            let (Some(text), Some(record)) = (text, record) else {
                self.unreadable += 1;
                continue;
            };
            let new = match record.get("eventID").and_then(Value::as_str) {
                Some(id) => self.known.insert(id),
                None => self.without_id.insert(text.clone()),
            };
            if new {
                self.new += 1;
                self.pending.push(text);
            } else {
                self.known_events += 1;
            }
        }
        if self.pending.len() >= FILE_RECORDS {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the pending records, if any, to a pulled file.
    fn flush(&mut self) -> Result<(), PullError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // LookupEvents answers newest first; a log file reads better oldest first.
        self.pending.reverse();
        let file = write_pulled(&self.lake, &self.region, &self.pending)?;
        self.pending.clear();
        self.files.push(file);
        Ok(())
    }
}

/// Writes `records` (JSON texts) as `{"Records":[…]}`, gzip, to
/// `<lake>/pulled/<region>/<time>_<hash>.json.gz`; returns the path.
fn write_pulled(lake: &Path, region: &str, records: &[String]) -> Result<PathBuf, PullError> {
    use sha2::Digest as _;

    let mut body = Vec::with_capacity(records.iter().map(|r| r.len() + 1).sum::<usize>() + 16);
    body.extend_from_slice(b"{\"Records\":[");
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(record.as_bytes());
    }
    body.extend_from_slice(b"]}");
    let hash = crate::trail::decode::hex(&sha2::Sha256::digest(&body)[..6]);
    let region = if region.is_empty() || region.contains(['/', '\\', '.']) {
        "unknown-region"
    } else {
        region
    };
    let dir = lake.join(PULLED_DIR).join(region);
    let name = format!("{}_{hash}.json.gz", Utc::now().format("%Y%m%dT%H%M%SZ"));
    let path = dir.join(name);
    let fail = |source| PullError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(fail)?;
    let tmp = path.with_extension("tmp");
    let write = || -> std::io::Result<()> {
        let file = std::fs::File::create(&tmp)?;
        let mut encoder = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        encoder.write_all(&body)?;
        encoder.finish()?.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|err| {
        let _ = std::fs::remove_file(&tmp);
        fail(err)
    })?;
    Ok(path)
}

/// One page of `LookupEvents`.
struct Page {
    /// Each event's `CloudTrailEvent`.
    records: Vec<Option<String>>,
    /// Where the next page starts, if there is one.
    next_token: Option<String>,
}

/// Why a page request failed.
enum PageError {
    /// Throttled after the SDK's retries: wait, then ask again.
    Throttled,
    /// Anything else ends the pull.
    Fatal(PullError),
}

/// Pages of one `LookupEvents` query.
trait LookupPages {
    /// The page starting at `next_token` (the first page without one).
    async fn page(&self, next_token: Option<&str>) -> Result<Page, PageError>;
}

/// How many requests a query took.
#[derive(Debug, Default, PartialEq, Eq)]
struct Fetched {
    /// Requests that returned a page.
    requests: u64,
    /// Requests throttled after the SDK's retries.
    throttled: u64,
    /// Events received.
    events: u64,
}

/// Reads every page, paced and backing off when throttled, handing each page's records to
/// `on_page` as it arrives.
async fn collect<P: LookupPages>(
    pages: &P,
    pacing: &Pacing,
    progress: &dyn PullObserver,
    endpoint: &str,
    on_page: &mut dyn FnMut(Vec<Option<String>>) -> Result<(), PullError>,
) -> Result<Fetched, PullError> {
    let mut fetched = Fetched::default();
    let mut token: Option<String> = None;
    let mut tokens_seen: HashSet<String> = HashSet::new();
    let mut last_request: Option<Instant> = None;
    let mut rounds = 0u32;
    loop {
        if let Some(last) = last_request {
            let since = last.elapsed();
            if since < pacing.min_interval {
                tokio::time::sleep(pacing.min_interval - since).await;
            }
        }
        last_request = Some(Instant::now());
        match pages.page(token.as_deref()).await {
            Ok(page) => {
                rounds = 0;
                fetched.requests += 1;
                fetched.events += page.records.len() as u64;
                on_page(page.records)?;
                progress.page(fetched.requests, fetched.events);
                match page.next_token.filter(|t| !t.is_empty()) {
                    Some(next) => {
                        if !tokens_seen.insert(next.clone()) {
                            return Err(PullError::BadResponse {
                                endpoint: endpoint.to_owned(),
                                detail:
                                    "the same NextToken came back twice; the pages would never end"
                                        .to_owned(),
                            });
                        }
                        token = Some(next);
                    }
                    None => return Ok(fetched),
                }
            }
            Err(PageError::Throttled) => {
                rounds += 1;
                fetched.throttled += 1;
                if rounds > pacing.throttle_rounds {
                    return Err(PullError::Throttled {
                        endpoint: endpoint.to_owned(),
                        rounds: pacing.throttle_rounds,
                    });
                }
                let wait = pacing.backoff(rounds);
                progress.throttled(wait);
                tokio::time::sleep(wait).await;
            }
            Err(PageError::Fatal(err)) => return Err(err),
        }
    }
}

/// `LookupEvents` through aws-sdk-cloudtrail.
struct SdkPages {
    client: aws_sdk_cloudtrail::Client,
    endpoint: String,
    region: String,
    start: aws_sdk_cloudtrail::primitives::DateTime,
    end: aws_sdk_cloudtrail::primitives::DateTime,
    attribute: Option<LookupAttribute>,
}

impl SdkPages {
    /// Loads the standard configuration (with `options`' overrides), checks that it has a
    /// Region and credentials, and builds the client.
    async fn connect(options: &PullOptions) -> Result<Self, PullError> {
        let retry = RetryConfig::standard()
            .with_max_attempts(options.max_attempts.max(1))
            .with_initial_backoff(Duration::from_millis(500))
            .with_max_backoff(Duration::from_secs(20));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(10))
            .operation_attempt_timeout(Duration::from_secs(60))
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(retry)
            .timeout_config(timeouts);
        if let Some(profile) = &options.profile {
            loader = loader.profile_name(profile);
        }
        if let Some(region) = &options.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &options.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let region =
            config
                .region()
                .map(ToString::to_string)
                .ok_or_else(|| PullError::NoRegion {
                    profile: options.profile.clone(),
                })?;
        let no_credentials = |detail: String| PullError::NoCredentials {
            profile: options.profile.clone(),
            detail,
        };
        let provider = config
            .credentials_provider()
            .ok_or_else(|| no_credentials("no credential provider is configured".to_owned()))?;
        provider
            .provide_credentials()
            .await
            .map_err(|err| no_credentials(DisplayErrorContext(&err).to_string()))?;
        let endpoint = config.endpoint_url().map_or_else(
            || format!("https://cloudtrail.{region}.amazonaws.com"),
            str::to_owned,
        );
        let attribute = match &options.event_source {
            Some(source) => Some(
                LookupAttribute::builder()
                    .attribute_key(LookupAttributeKey::EventSource)
                    .attribute_value(source)
                    .build()
                    .map_err(|err| PullError::BadResponse {
                        endpoint: endpoint.clone(),
                        detail: format!("the request cannot be built: {err}"),
                    })?,
            ),
            None => None,
        };
        let time = |t: DateTime<Utc>| {
            aws_sdk_cloudtrail::primitives::DateTime::from_secs_and_nanos(
                t.timestamp(),
                t.timestamp_subsec_nanos(),
            )
        };
        Ok(Self {
            client: aws_sdk_cloudtrail::Client::new(&config),
            endpoint,
            region,
            start: time(options.start),
            end: time(options.end),
            attribute,
        })
    }

    fn classify(&self, err: SdkError<LookupEventsError>) -> PageError {
        let endpoint = self.endpoint.clone();
        let detail = DisplayErrorContext(&err).to_string();
        match &err {
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or_default();
                let status = service.raw().status().as_u16();
                if THROTTLING_CODES.contains(&code) || (code.is_empty() && status == 429) {
                    return PageError::Throttled;
                }
                PageError::Fatal(PullError::Refused {
                    endpoint,
                    code: if code.is_empty() {
                        format!("HTTP {status}")
                    } else {
                        code.to_owned()
                    },
                    message: service.err().message().unwrap_or_default().to_owned(),
                })
            }
            SdkError::DispatchFailure(failure) if failure.is_user() => {
                PageError::Fatal(PullError::BadResponse { endpoint, detail })
            }
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => {
                PageError::Fatal(PullError::Unreachable { endpoint, detail })
            }
            _ => PageError::Fatal(PullError::BadResponse { endpoint, detail }),
        }
    }
}

impl LookupPages for SdkPages {
    async fn page(&self, next_token: Option<&str>) -> Result<Page, PageError> {
        let request = self
            .client
            .lookup_events()
            .start_time(self.start)
            .end_time(self.end)
            .max_results(PAGE_SIZE)
            .set_lookup_attributes(self.attribute.clone().map(|a| vec![a]))
            .set_next_token(next_token.map(str::to_owned));
        match request.send().await {
            Ok(output) => Ok(Page {
                records: output
                    .events()
                    .iter()
                    .map(|e| e.cloud_trail_event().map(str::to_owned))
                    .collect(),
                next_token: output.next_token,
            }),
            Err(err) => Err(self.classify(err)),
        }
    }
}

/// Renders `report` for a terminal.
pub fn render_table(report: &PullReport, out: &mut impl Write) -> std::io::Result<()> {
    let source = report.event_source.as_deref().unwrap_or("every source");
    writeln!(
        out,
        "pulled {} event(s) of {source} from {} ({}), {} to {}, in {} request(s){}",
        report.events_received,
        report.endpoint,
        report.region,
        report.start,
        report.end,
        report.requests,
        if report.throttled > 0 {
            format!(", throttled {} time(s)", report.throttled)
        } else {
            String::new()
        }
    )?;
    writeln!(
        out,
        "  new: {}, already in the lake: {}{}",
        report.events_new,
        report.events_known,
        if report.events_unreadable > 0 {
            format!(", unreadable: {}", report.events_unreadable)
        } else {
            String::new()
        }
    )?;
    for file in &report.files {
        writeln!(out, "  written to {}", file.display())?;
    }
    if let Some(ingest) = &report.ingest {
        writeln!(
            out,
            "lake {}: {} record(s) stored, {} duplicate(s)",
            report.lake.display(),
            ingest.records_stored,
            ingest.records_duplicate
        )?;
    } else {
        writeln!(out, "lake {}: unchanged", report.lake.display())?;
    }
    writeln!(
        out,
        "scan it with: kms-audit scan {} --lake {}",
        report.lake.join(PULLED_DIR).display(),
        report.lake.display()
    )
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn time_args() {
        let now = at("2026-05-18T12:00:00Z");
        let resolve = |text: &str, end: bool| {
            TimeArg::parse(text, end)
                .map(|t| rfc3339(t.resolve(now)))
                .unwrap_or_else(|e| e)
        };
        assert_eq!(resolve("1h", false), "2026-05-18T11:00:00Z");
        assert_eq!(resolve("30d", false), "2026-04-18T12:00:00Z");
        assert_eq!(resolve("2w", false), "2026-05-04T12:00:00Z");
        assert_eq!(resolve("90m", false), "2026-05-18T10:30:00Z");
        assert_eq!(resolve("45s", false), "2026-05-18T11:59:15Z");
        assert_eq!(resolve("2026-11-01", false), "2026-11-01T00:00:00Z");
        assert_eq!(resolve("2026-11-01", true), "2026-11-01T23:59:59.999999Z");
        assert_eq!(
            resolve("2026-11-01T10:00:00+02:00", false),
            "2026-11-01T08:00:00Z"
        );
        assert!(resolve("soon", false).contains("span before now"));
        assert!(resolve("3y", false).contains("span before now"));
        assert!(resolve("", false).contains("not a time"));
        assert_eq!(
            TimeArg::parse("99999999999999999999d", false).unwrap_err(),
            "`99999999999999999999d` is too large a span"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let pacing = Pacing::default();
        assert_eq!(pacing.backoff(1), Duration::from_secs(2));
        assert_eq!(pacing.backoff(2), Duration::from_secs(4));
        assert_eq!(pacing.backoff(4), Duration::from_secs(16));
        assert_eq!(pacing.backoff(5), Duration::from_secs(30));
        assert_eq!(pacing.backoff(40), Duration::from_secs(30));
    }

    /// Pages scripted in advance: each call takes the next answer and records its token.
    struct Script {
        answers: Mutex<Vec<Result<Page, PageError>>>,
        tokens: Mutex<Vec<Option<String>>>,
    }

    impl Script {
        fn new(mut answers: Vec<Result<Page, PageError>>) -> Self {
            answers.reverse();
            Self {
                answers: Mutex::new(answers),
                tokens: Mutex::new(Vec::new()),
            }
        }
    }

    impl LookupPages for Script {
        async fn page(&self, next_token: Option<&str>) -> Result<Page, PageError> {
            self.tokens
                .lock()
                .expect("lock")
                .push(next_token.map(str::to_owned));
            self.answers
                .lock()
                .expect("lock")
                .pop()
                .unwrap_or(Err(PageError::Fatal(PullError::BadResponse {
                    endpoint: "script".to_owned(),
                    detail: "no more answers".to_owned(),
                })))
        }
    }

    fn page(events: &[&str], next: Option<&str>) -> Result<Page, PageError> {
        Ok(Page {
            records: events.iter().map(|e| Some((*e).to_owned())).collect(),
            next_token: next.map(str::to_owned),
        })
    }

    fn fast() -> Pacing {
        Pacing {
            min_interval: Duration::from_millis(1),
            first_backoff: Duration::from_millis(2),
            max_backoff: Duration::from_millis(5),
            throttle_rounds: 2,
        }
    }

    #[derive(Default)]
    struct Counting {
        pages: Mutex<u64>,
        waits: Mutex<Vec<Duration>>,
    }

    impl PullObserver for Counting {
        fn page(&self, requests: u64, _events: u64) {
            *self.pages.lock().expect("lock") = requests;
        }
        fn throttled(&self, wait: Duration) {
            self.waits.lock().expect("lock").push(wait);
        }
    }

    /// Runs `collect` over `pages`; the records it handed on, and its counts.
    fn run<P: LookupPages>(
        pages: &P,
        pacing: &Pacing,
        progress: &dyn PullObserver,
    ) -> Result<(Vec<String>, Fetched), PullError> {
        let mut records = Vec::new();
        let fetched = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(collect(pages, pacing, progress, "script", &mut |page| {
                records.extend(page.into_iter().flatten());
                Ok(())
            }))?;
        Ok((records, fetched))
    }

    #[test]
    fn follows_next_tokens_and_waits_out_throttling() {
        let script = Script::new(vec![
            page(&["a", "b"], Some("t1")),
            Err(PageError::Throttled),
            page(&["c"], Some("t2")),
            Err(PageError::Throttled),
            Err(PageError::Throttled),
            page(&["d"], None),
        ]);
        let progress = Counting::default();
        let (records, fetched) = run(&script, &fast(), &progress).expect("pull");
        assert_eq!(records, ["a", "b", "c", "d"]);
        assert_eq!(
            fetched,
            Fetched {
                requests: 3,
                throttled: 3,
                events: 4
            }
        );
        assert_eq!(
            *script.tokens.lock().expect("lock"),
            [
                None,
                Some("t1".into()),
                Some("t1".into()),
                Some("t2".into()),
                Some("t2".into()),
                Some("t2".into())
            ]
        );
        assert_eq!(*progress.pages.lock().expect("lock"), 3);
        assert_eq!(
            *progress.waits.lock().expect("lock"),
            [
                Duration::from_millis(2),
                Duration::from_millis(2),
                Duration::from_millis(4)
            ],
            "the backoff restarts after a page arrives"
        );
    }

    #[test]
    fn gives_up_after_the_throttle_rounds_and_on_errors() {
        let script = Script::new(vec![
            Err(PageError::Throttled),
            Err(PageError::Throttled),
            Err(PageError::Throttled),
        ]);
        let err = run(&script, &fast(), &Quiet).expect_err("throttled");
        assert!(
            matches!(err, PullError::Throttled { rounds: 2, .. }),
            "{err}"
        );

        let script = Script::new(vec![Err(PageError::Fatal(PullError::Refused {
            endpoint: "e".into(),
            code: "UnrecognizedClientException".into(),
            message: "The security token included in the request is invalid.".into(),
        }))]);
        let err = run(&script, &fast(), &Quiet).expect_err("refused");
        assert!(err.to_string().contains("check the credentials"), "{err}");

        let script = Script::new(vec![page(&["a"], Some("same")), page(&["b"], Some("same"))]);
        let err = run(&script, &fast(), &Quiet).expect_err("loop");
        assert!(err.to_string().contains("same NextToken"), "{err}");
    }

    #[test]
    fn paces_requests() {
        let script = Script::new(vec![
            page(&[], Some("1")),
            page(&[], Some("2")),
            page(&[], None),
        ]);
        let pacing = Pacing {
            min_interval: Duration::from_millis(40),
            ..fast()
        };
        let started = Instant::now();
        run(&script, &pacing, &Quiet).expect("pull");
        assert!(started.elapsed() >= Duration::from_millis(80));
    }

    fn record(id: &str) -> String {
        serde_json::json!({
            "eventVersion": "1.11",
            "userIdentity": {"type": "IAMUser", "accountId": "111122223333", "userName": "alice",
                             "arn": "arn:aws:iam::111122223333:user/alice"},
            "eventTime": "2026-05-18T06:00:00Z",
            "eventSource": "kms.amazonaws.com",
            "eventName": "Encrypt",
            "awsRegion": "us-east-1",
            "eventID": id,
            "recipientAccountId": "111122223333",
        })
        .to_string()
    }

    fn options(lake: &Path) -> PullOptions {
        PullOptions {
            endpoint_url: None,
            region: None,
            profile: None,
            start: at("2026-05-18T00:00:00Z"),
            end: at("2026-05-19T00:00:00Z"),
            event_source: Some(KMS_EVENT_SOURCE.to_owned()),
            lake: lake.to_path_buf(),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            pacing: Pacing::default(),
            ingest: IngestOptions {
                threads: 1,
                ..IngestOptions::default()
            },
        }
    }

    /// Hands `pages` to a batcher over `lake` (writing files of `chunk` records), then
    /// ingests as `pull` does.
    fn pull_pages(
        lake: &Path,
        pages: Vec<Vec<Option<String>>>,
        chunk: usize,
    ) -> (Batcher, Option<IngestReport>) {
        let options = options(lake);
        let mut opened = Lake::open(lake).expect("lake");
        let mut batcher = Batcher::new(lake, opened.stored_event_ids().expect("ids"));
        batcher.region = "us-east-1".into();
        for page in pages {
            batcher.add(page).expect("add");
            if batcher.pending.len() >= chunk {
                batcher.flush().expect("flush");
            }
        }
        batcher.flush().expect("flush");
        let written = !batcher.files.is_empty();
        let ingest =
            ingest_pulled(&mut opened, written, &options, &crate::ingest::Silent).expect("ingest");
        (batcher, ingest)
    }

    fn pulled_files(lake: &Path) -> usize {
        walkdir::WalkDir::new(lake.join(PULLED_DIR))
            .into_iter()
            .flatten()
            .filter(|e| e.file_type().is_file())
            .count()
    }

    fn id(n: u32) -> String {
        format!("{n:08}-1111-4111-8111-111111111111")
    }

    #[test]
    fn stores_new_events_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = dir.path().join("lake");
        let first = vec![
            vec![Some(record(&id(2))), Some(record(&id(1)))],
            vec![Some(record(&id(1))), None, Some("not json".into())],
        ];
        let (batcher, ingest) = pull_pages(&lake, first, FILE_RECORDS);
        assert_eq!(
            (
                batcher.received,
                batcher.new,
                batcher.known_events,
                batcher.unreadable
            ),
            (5, 2, 1, 2)
        );
        assert_eq!(batcher.files.len(), 1);
        let file = &batcher.files[0];
        assert!(file.starts_with(lake.join(PULLED_DIR).join("us-east-1")));
        let ingest = ingest.expect("ingested");
        assert_eq!((ingest.files_ingested, ingest.records_stored), (1, 2));
        // Oldest first in the file.
        let text = {
            use std::io::Read as _;
            let mut s = String::new();
            flate2::read::GzDecoder::new(std::fs::File::open(file).expect("open"))
                .read_to_string(&mut s)
                .expect("gzip");
            s
        };
        let body: Value = serde_json::from_str(&text).expect("json");
        assert_eq!(body["Records"][0]["eventID"], id(1));
        assert_eq!(body["Records"][1]["eventID"], id(2));

        let again = vec![vec![Some(record(&id(2))), Some(record(&id(1)))]];
        let (batcher, ingest) = pull_pages(&lake, again, FILE_RECORDS);
        assert_eq!((batcher.new, batcher.known_events), (0, 2));
        assert!(batcher.files.is_empty() && ingest.is_none());
        assert_eq!(pulled_files(&lake), 1, "nothing new, no new file");
        let reopened = Lake::open(&lake).expect("lake");
        assert_eq!(reopened.manifest().files.len(), 1);
        assert_eq!(reopened.stored_event_ids().expect("ids").len(), 2);
    }

    #[test]
    fn writes_a_file_per_chunk_and_ingests_leftovers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let lake = dir.path().join("lake");
        let pages: Vec<Vec<Option<String>>> = (0..5u32)
            .map(|p| vec![Some(record(&id(2 * p))), Some(record(&id(2 * p + 1)))])
            .collect();
        let (batcher, ingest) = pull_pages(&lake, pages, 4);
        assert_eq!(batcher.files.len(), 3, "4 + 4 + 2 records");
        let ingest = ingest.expect("ingested");
        assert_eq!((ingest.files_ingested, ingest.records_stored), (3, 10));

        // A file a failed pull wrote but did not ingest is ingested by the next pull.
        let mut orphan = Batcher::new(&lake, EventIdSet::default());
        orphan.region = "us-east-1".into();
        orphan.add(vec![Some(record(&id(99)))]).expect("add");
        orphan.flush().expect("flush");
        let (batcher, ingest) = pull_pages(&lake, vec![vec![Some(record(&id(0)))]], 4);
        assert!(batcher.files.is_empty());
        let ingest = ingest.expect("leftover ingested");
        assert_eq!((ingest.files_ingested, ingest.files_unchanged), (1, 3));
        assert_eq!(ingest.records_stored, 1);
        let (_, ingest) = pull_pages(&lake, Vec::new(), 4);
        assert!(ingest.is_none(), "nothing new, nothing left over");
    }

    #[test]
    fn a_reversed_range_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut opts = options(dir.path());
        std::mem::swap(&mut opts.start, &mut opts.end);
        let err = pull(&opts, &Quiet, &crate::ingest::Silent).expect_err("range");
        assert!(matches!(err, PullError::TimeRange { .. }), "{err}");
    }
}
