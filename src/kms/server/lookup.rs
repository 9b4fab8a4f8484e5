//! CloudTrail `LookupEvents` answered by the mini-KMS server from the records it holds, so
//! that `aws cloudtrail lookup-events`, the SDKs' paginators and `kms-audit pull` work against
//! it as they do against CloudTrail's event history.
//!
//! The request is AWS JSON 1.1 (`X-Amz-Target:
//! com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents` from botocore,
//! `CloudTrail_20131101.LookupEvents` from the smithy SDKs): at most one lookup
//! attribute, a time range in epoch seconds (both ends inclusive), `MaxResults` 1–50 (50 by
//! default) and an opaque `NextToken`. Events come newest first; each carries its record as
//! the `CloudTrailEvent` string. Like event history, a caller sees the events of its own
//! account (`recipientAccountId`) in the Region it addressed (`awsRegion`).
//!
//! The events are read through [`EventLog`], which the server's store implements; the
//! `NextToken` wraps the log's cursor with a fingerprint of the query, so a token is only
//! accepted with the parameters that produced it, as CloudTrail requires.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};
use sha2::{Digest as _, Sha256};

use crate::kms::audit::identity::CallerIdentity;
use crate::kms::store::{EventCursor, Store};

/// The most events one response holds, and the default page size.
pub const MAX_RESULTS: usize = 50;

/// The longest `AttributeValue`, counting `_`, space, `,` and newline twice (CloudTrail API
/// reference, `LookupAttribute`).
pub const MAX_ATTRIBUTE_VALUE: usize = 2000;

/// The only `EventCategory` CloudTrail accepts.
pub const INSIGHT_CATEGORY: &str = "insight";

/// Version of the `NextToken` layout.
const TOKEN_VERSION: u32 = 1;

// CloudTrail record members read here.
const EVENT_ID: &str = "eventID";
const EVENT_NAME: &str = "eventName";
const EVENT_SOURCE: &str = "eventSource";
const EVENT_TIME: &str = "eventTime";
const READ_ONLY: &str = "readOnly";
const USER_IDENTITY: &str = "userIdentity";
const RESOURCES: &str = "resources";
const RECIPIENT_ACCOUNT_ID: &str = "recipientAccountId";
const AWS_REGION: &str = "awsRegion";

/// A `LookupEvents` request the server cannot answer, as CloudTrail reports it: the
/// exception name goes to `__type`, the text to `message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// More than one lookup attribute, an unknown key, or a value that is empty, too long or
    /// not allowed for its key.
    #[error("{0}")]
    InvalidLookupAttributes(String),
    /// A start time after the end time, or a time that is not a valid timestamp.
    #[error("{0}")]
    InvalidTimeRange(String),
    /// `MaxResults` outside 1–50.
    #[error("{0}")]
    InvalidMaxResults(String),
    /// A `NextToken` this server did not issue for these parameters.
    #[error("{0}")]
    InvalidNextToken(String),
    /// An `EventCategory` other than `insight`.
    #[error("{0}")]
    InvalidEventCategory(String),
    /// A body that is not the request's JSON shape.
    #[error("{0}")]
    Serialization(String),
    /// The store could not be read.
    #[error("{0}")]
    Internal(String),
}

impl LookupError {
    /// The exception name (`__type`).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidLookupAttributes(_) => "InvalidLookupAttributesException",
            Self::InvalidTimeRange(_) => "InvalidTimeRangeException",
            Self::InvalidMaxResults(_) => "InvalidMaxResultsException",
            Self::InvalidNextToken(_) => "InvalidNextTokenException",
            Self::InvalidEventCategory(_) => "InvalidEventCategoryException",
            Self::Serialization(_) => "SerializationException",
            Self::Internal(_) => "InternalFailure",
        }
    }

    /// The HTTP status: 400 for the caller's errors, 500 for the server's.
    pub fn status(&self) -> u16 {
        match self {
            Self::Internal(_) => 500,
            _ => 400,
        }
    }

    /// The error body: `{"__type": …, "message": …}`.
    pub fn body(&self) -> Value {
        json!({ "__type": self.code(), "message": self.to_string() })
    }
}

/// A lookup attribute key (`AttributeKey`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeKey {
    /// `EventId`: the record's `eventID`.
    EventId,
    /// `EventName`: `eventName`.
    EventName,
    /// `ReadOnly`: `readOnly`, as `true` or `false`.
    ReadOnly,
    /// `Username`: the name [`username`] derives from `userIdentity`.
    Username,
    /// `ResourceType`: any `resources[].type`.
    ResourceType,
    /// `ResourceName`: any `resources[].ARN`.
    ResourceName,
    /// `EventSource`: `eventSource`.
    EventSource,
    /// `AccessKeyId`: `userIdentity.accessKeyId`.
    AccessKeyId,
}

impl AttributeKey {
    /// Every key, in the API's order.
    pub const ALL: [Self; 8] = [
        Self::EventId,
        Self::EventName,
        Self::ReadOnly,
        Self::Username,
        Self::ResourceType,
        Self::ResourceName,
        Self::EventSource,
        Self::AccessKeyId,
    ];

    /// The name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EventId => "EventId",
            Self::EventName => "EventName",
            Self::ReadOnly => "ReadOnly",
            Self::Username => "Username",
            Self::ResourceType => "ResourceType",
            Self::ResourceName => "ResourceName",
            Self::EventSource => "EventSource",
            Self::AccessKeyId => "AccessKeyId",
        }
    }

    /// The key called `name` (exact case, as CloudTrail requires).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One lookup attribute: the events whose `key` has `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// What is compared.
    pub key: AttributeKey,
    /// The value it must have.
    pub value: String,
}

impl Attribute {
    /// Whether `record` has the attribute.
    pub fn matches(&self, record: &Value) -> bool {
        let text = |member: &str| record.get(member).and_then(Value::as_str);
        match self.key {
            AttributeKey::EventId => text(EVENT_ID) == Some(&self.value),
            AttributeKey::EventName => text(EVENT_NAME) == Some(&self.value),
            AttributeKey::EventSource => text(EVENT_SOURCE) == Some(&self.value),
            AttributeKey::ReadOnly => {
                read_only(record).is_some_and(|r| r.to_string() == self.value)
            }
            AttributeKey::Username => username(record).as_deref() == Some(&self.value),
            AttributeKey::AccessKeyId => access_key_id(record) == Some(&self.value),
            AttributeKey::ResourceType => {
                resources(record).any(|(kind, _)| kind == Some(&self.value))
            }
            AttributeKey::ResourceName => {
                resources(record).any(|(_, name)| name == Some(&self.value))
            }
        }
    }
}

/// A validated `LookupEvents` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookupQuery {
    /// The lookup attribute, if any.
    pub attribute: Option<Attribute>,
    /// Events at or after this time.
    pub start: Option<DateTime<Utc>>,
    /// Events at or before this time.
    pub end: Option<DateTime<Utc>>,
    /// `EventCategory: insight`: only Insights events, of which this server has none.
    pub insights: bool,
    /// Events per page.
    pub max_results: usize,
    /// The continuation token, if any.
    pub next_token: Option<String>,
}

/// The request members as sent; validated into a [`LookupQuery`].
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireRequest {
    lookup_attributes: Option<Vec<WireAttribute>>,
    start_time: Option<Value>,
    end_time: Option<Value>,
    event_category: Option<String>,
    max_results: Option<Value>,
    next_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct WireAttribute {
    attribute_key: Option<String>,
    attribute_value: Option<String>,
}

impl LookupQuery {
    /// Parses and validates a request body (an empty body is an empty request).
    pub fn parse(body: &[u8]) -> Result<Self, LookupError> {
        let wire: WireRequest = if body.iter().all(u8::is_ascii_whitespace) {
            WireRequest::default()
        } else {
            serde_json::from_slice(body).map_err(|err| {
                LookupError::Serialization(format!("the request body is not valid: {err}"))
            })?
        };
        let attributes = wire.lookup_attributes.unwrap_or_default();
        if attributes.len() > 1 {
            return Err(LookupError::InvalidLookupAttributes(format!(
                "LookupAttributes can contain only one item; {} were given",
                attributes.len()
            )));
        }
        let attribute = attributes.into_iter().next().map(attribute).transpose()?;
        let start = wire
            .start_time
            .as_ref()
            .map(|v| timestamp("StartTime", v))
            .transpose()?;
        let end = wire
            .end_time
            .as_ref()
            .map(|v| timestamp("EndTime", v))
            .transpose()?;
        if let (Some(start), Some(end)) = (start, end) {
            if start > end {
                return Err(LookupError::InvalidTimeRange(format!(
                    "StartTime {} is after EndTime {}",
                    start.to_rfc3339(),
                    end.to_rfc3339()
                )));
            }
        }
        let insights = match wire.event_category.as_deref() {
            None => false,
            Some(INSIGHT_CATEGORY) => true,
            Some(other) => {
                return Err(LookupError::InvalidEventCategory(format!(
                    "EventCategory `{other}` is not valid: it must be `{INSIGHT_CATEGORY}`"
                )))
            }
        };
        let max_results = match &wire.max_results {
            None | Some(Value::Null) => MAX_RESULTS,
            Some(value) => {
                let n = value.as_i64().ok_or_else(|| {
                    LookupError::Serialization(format!(
                        "MaxResults must be an integer, not {value}"
                    ))
                })?;
                match usize::try_from(n) {
                    Ok(n) if (1..=MAX_RESULTS).contains(&n) => n,
                    _ => {
                        return Err(LookupError::InvalidMaxResults(format!(
                            "MaxResults must be between 1 and {MAX_RESULTS}; {n} was given"
                        )))
                    }
                }
            }
        };
        Ok(Self {
            attribute,
            start,
            end,
            insights,
            max_results,
            next_token: wire.next_token.filter(|t| !t.is_empty()),
        })
    }

    /// A digest of the parameters a `NextToken` must be used with: everything but the token
    /// and the page size, plus who asks and where.
    fn fingerprint(&self, scope: &Scope<'_>) -> String {
        let mut hash = Sha256::new();
        let time = |t: Option<DateTime<Utc>>| {
            t.map_or_else(String::new, |t| {
                t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            })
        };
        for part in [
            scope.account.unwrap_or_default().to_owned(),
            scope.region.to_owned(),
            self.attribute
                .as_ref()
                .map_or_else(String::new, |a| a.key.as_str().to_owned()),
            self.attribute
                .as_ref()
                .map_or_else(String::new, |a| a.value.clone()),
            time(self.start),
            time(self.end),
            self.insights.to_string(),
        ] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        crate::trail::decode::hex(&hash.finalize()[..12])
    }
}

fn attribute(wire: WireAttribute) -> Result<Attribute, LookupError> {
    let invalid = LookupError::InvalidLookupAttributes;
    let name = wire
        .attribute_key
        .ok_or_else(|| invalid("a lookup attribute needs an AttributeKey".to_owned()))?;
    let key = AttributeKey::from_name(&name).ok_or_else(|| {
        let known: Vec<&str> = AttributeKey::ALL.iter().map(|k| k.as_str()).collect();
        invalid(format!(
            "AttributeKey `{name}` is not valid; it must be one of {}",
            known.join(", ")
        ))
    })?;
    let value = wire.attribute_value.ok_or_else(|| {
        invalid(format!(
            "the {name} lookup attribute needs an AttributeValue"
        ))
    })?;
    let length: usize = value
        .chars()
        .map(|c| {
            if matches!(c, '_' | ' ' | ',' | '\n') {
                2
            } else {
                1
            }
        })
        .sum();
    if length == 0 || length > MAX_ATTRIBUTE_VALUE {
        return Err(invalid(format!(
            "the {name} AttributeValue must be 1 to {MAX_ATTRIBUTE_VALUE} characters long"
        )));
    }
    if key == AttributeKey::ReadOnly && value != "true" && value != "false" {
        return Err(invalid(format!(
            "the ReadOnly AttributeValue must be `true` or `false`, not `{value}`"
        )));
    }
    Ok(Attribute { key, value })
}

/// A timestamp member: epoch seconds, possibly fractional, as the SDKs send them.
fn timestamp(member: &str, value: &Value) -> Result<DateTime<Utc>, LookupError> {
    let Some(seconds) = value.as_f64() else {
        return Err(LookupError::Serialization(format!(
            "{member} must be a timestamp in epoch seconds, not {value}"
        )));
    };
    let out_of_range =
        || LookupError::InvalidTimeRange(format!("{member} {value} is not a valid time"));
    if !seconds.is_finite() {
        return Err(out_of_range());
    }
    // Whole seconds exactly, when the number is an integer; the fraction to the microsecond.
    let (whole, nanos) = match value.as_i64() {
        Some(whole) => (whole, 0),
        None => {
            let whole = seconds.floor();
            let micros = ((seconds - whole) * 1e6).round().min(999_999.0);
            if whole < i64::MIN as f64 || whole > i64::MAX as f64 {
                return Err(out_of_range());
            }
            (whole as i64, micros as u32 * 1000)
        }
    };
    DateTime::from_timestamp(whole, nanos).ok_or_else(out_of_range)
}

/// Whose events a caller sees: its own account's, in the Region it addressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scope<'a> {
    /// The caller's account; `None` shows every account (a caller without one).
    pub account: Option<&'a str>,
    /// The Region of the request (its SigV4 credential scope).
    pub region: &'a str,
}

impl Scope<'_> {
    /// Whether `record` belongs to the scope.
    pub fn contains(&self, record: &Value) -> bool {
        let text = |member: &str| record.get(member).and_then(Value::as_str);
        let in_account = self.account.is_none_or(|account| {
            let owner = text(RECIPIENT_ACCOUNT_ID).or_else(|| {
                record
                    .get(USER_IDENTITY)
                    .and_then(|u| u.get("accountId"))
                    .and_then(Value::as_str)
            });
            owner == Some(account)
        });
        in_account && text(AWS_REGION) == Some(self.region)
    }
}

/// Recorded events, newest first: what `LookupEvents` reads. The server's [`Store`]
/// implements it; tests use an in-memory log.
pub trait EventLog {
    /// A position in the log: after which event to continue.
    type Cursor;

    /// Up to `limit` records whose event time is in `[start, end)` (open ends unbounded) and
    /// that `filter` keeps, newest first, after `after`; each with its cursor. The record is
    /// the CloudTrail record JSON as delivered.
    #[allow(clippy::type_complexity)]
    fn newest_first(
        &self,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        after: Option<Self::Cursor>,
        limit: usize,
        filter: &dyn Fn(&Value) -> bool,
    ) -> Result<Vec<(Self::Cursor, Box<RawValue>)>, String>;

    /// The cursor as text, to travel inside a `NextToken`.
    fn cursor_text(cursor: &Self::Cursor) -> String;

    /// A cursor from [`EventLog::cursor_text`]'s text; `None` if it is not one.
    fn parse_cursor(text: &str) -> Option<Self::Cursor>;
}

impl EventLog for Store {
    type Cursor = EventCursor;

    fn newest_first(
        &self,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        after: Option<EventCursor>,
        limit: usize,
        filter: &dyn Fn(&Value) -> bool,
    ) -> Result<Vec<(EventCursor, Box<RawValue>)>, String> {
        let (start, end) = store_bounds(start, end);
        self.events(start, end, after, limit, filter)
            .map(|(events, _)| events)
            .map_err(|err| err.to_string())
    }

    fn cursor_text(cursor: &EventCursor) -> String {
        cursor.token()
    }

    fn parse_cursor(text: &str) -> Option<EventCursor> {
        EventCursor::parse(text)
    }
}

/// The store's `[start, end)` for the inclusive `StartTime`..`EndTime` of a request.
/// CloudTrail event times are whole seconds (`eventTime`, `EventTime`) while the store keeps
/// milliseconds: the range covers every second from the one `start` falls in to the one
/// `end` falls in, both included, so `StartTime = EndTime = EventTime` of an event finds it.
fn store_bounds(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let second =
        |time: DateTime<Utc>| DateTime::<Utc>::from_timestamp(time.timestamp(), 0).unwrap_or(time);
    let start = start.map_or(DateTime::<Utc>::MIN_UTC, second);
    let end = end.map_or(DateTime::<Utc>::MAX_UTC, |end| {
        second(end)
            .checked_add_signed(chrono::Duration::seconds(1))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    });
    (start, end)
}

/// The `NextToken` layout (base64url of this JSON).
#[derive(Serialize, Deserialize)]
struct Token {
    /// [`TOKEN_VERSION`].
    v: u32,
    /// [`LookupQuery::fingerprint`].
    q: String,
    /// The log's cursor ([`EventLog::cursor_text`]).
    c: String,
}

/// Answers a `LookupEvents` request `body` from `caller` addressed to `region`: the response
/// body (`Events`, `NextToken`) or the error to return.
pub fn lookup_events<L: EventLog + ?Sized>(
    log: &L,
    caller: &CallerIdentity,
    region: &str,
    body: &[u8],
) -> Result<Value, LookupError> {
    let query = LookupQuery::parse(body)?;
    let scope = Scope {
        account: caller.account_id(),
        region,
    };
    lookup(log, &scope, &query)
}

/// Runs a validated query in `scope`.
pub fn lookup<L: EventLog + ?Sized>(
    log: &L,
    scope: &Scope<'_>,
    query: &LookupQuery,
) -> Result<Value, LookupError> {
    let fingerprint = query.fingerprint(scope);
    let after = match &query.next_token {
        Some(token) => {
            let text = decode_token(token, &fingerprint)?;
            let cursor = L::parse_cursor(&text).ok_or_else(|| {
                LookupError::InvalidNextToken("the NextToken is not valid".to_owned())
            })?;
            Some(cursor)
        }
        None => None,
    };
    if query.insights {
        // The server records management events only: there are no Insights events.
        return Ok(json!({ "Events": [] }));
    }
    // The range is inclusive; the log's end is exclusive (and the latest time there is
    // leaves it open).
    let end = query
        .end
        .and_then(|end| end.checked_add_signed(chrono::Duration::nanoseconds(1)));
    let filter = |record: &Value| {
        scope.contains(record) && query.attribute.as_ref().is_none_or(|a| a.matches(record))
    };
    // One more than a page tells whether another page follows.
    let mut rows = log
        .newest_first(query.start, end, after, query.max_results + 1, &filter)
        .map_err(|err| LookupError::Internal(format!("the event store cannot be read: {err}")))?;
    let more = rows.len() > query.max_results;
    rows.truncate(query.max_results);
    let mut events = Vec::with_capacity(rows.len());
    for (_, raw) in &rows {
        events.push(event_of(raw)?);
    }
    let mut response = Map::new();
    response.insert("Events".to_owned(), Value::Array(events));
    if more {
        if let Some((cursor, _)) = rows.last() {
            response.insert(
                "NextToken".to_owned(),
                Value::String(encode_token(&L::cursor_text(cursor), &fingerprint)?),
            );
        }
    }
    Ok(Value::Object(response))
}

fn encode_token(cursor: &str, fingerprint: &str) -> Result<String, LookupError> {
    let token = Token {
        v: TOKEN_VERSION,
        q: fingerprint.to_owned(),
        c: cursor.to_owned(),
    };
    let bytes = serde_json::to_vec(&token)
        .map_err(|err| LookupError::Internal(format!("token cannot be encoded: {err}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The cursor text inside `text`, if it is a token issued for the query `fingerprint`.
fn decode_token(text: &str, fingerprint: &str) -> Result<String, LookupError> {
    let invalid = || LookupError::InvalidNextToken("the NextToken is not valid".to_owned());
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| invalid())?;
    let token: Token = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if token.v != TOKEN_VERSION {
        return Err(invalid());
    }
    if token.q != fingerprint {
        return Err(LookupError::InvalidNextToken(
            "the NextToken must be used with the parameters of the request that returned it"
                .to_owned(),
        ));
    }
    Ok(token.c)
}

/// One `Events[]` item from a stored record.
fn event_of(raw: &RawValue) -> Result<Value, LookupError> {
    let record: Value = serde_json::from_str(raw.get())
        .map_err(|err| LookupError::Internal(format!("a stored record is not JSON: {err}")))?;
    let text = |member: &str| record.get(member).and_then(Value::as_str);
    let mut event = Map::new();
    let mut put = |name: &str, value: Option<Value>| {
        if let Some(value) = value {
            event.insert(name.to_owned(), value);
        }
    };
    put("EventId", text(EVENT_ID).map(Value::from));
    put("EventName", text(EVENT_NAME).map(Value::from));
    put(
        "ReadOnly",
        read_only(&record).map(|r| Value::from(r.to_string())),
    );
    put("AccessKeyId", access_key_id(&record).map(Value::from));
    put("EventTime", text(EVENT_TIME).and_then(epoch_seconds));
    put("EventSource", text(EVENT_SOURCE).map(Value::from));
    put("Username", username(&record).map(Value::from));
    let resources: Vec<Value> = resources(&record)
        .map(|(kind, name)| {
            let mut resource = Map::new();
            if let Some(kind) = kind {
                resource.insert("ResourceType".to_owned(), Value::from(kind));
            }
            if let Some(name) = name {
                resource.insert("ResourceName".to_owned(), Value::from(name));
            }
            Value::Object(resource)
        })
        .collect();
    put("Resources", Some(Value::Array(resources)));
    put("CloudTrailEvent", Some(Value::from(raw.get())));
    Ok(Value::Object(event))
}

/// `eventTime` (`2026-05-18T06:16:59Z`) as epoch seconds, the wire form of timestamps.
fn epoch_seconds(text: &str) -> Option<Value> {
    let time = DateTime::parse_from_rfc3339(text).ok()?;
    let nanos = time.timestamp_subsec_nanos();
    if nanos == 0 {
        Some(Value::from(time.timestamp()))
    } else {
        serde_json::Number::from_f64(time.timestamp() as f64 + f64::from(nanos) / 1e9)
            .map(Value::Number)
    }
}

/// `readOnly`: a boolean in records (a `"true"`/`"false"` string in some old ones).
fn read_only(record: &Value) -> Option<bool> {
    match record.get(READ_ONLY)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn access_key_id(record: &Value) -> Option<&str> {
    record
        .get(USER_IDENTITY)?
        .get("accessKeyId")?
        .as_str()
        .filter(|k| !k.is_empty())
}

/// `resources[]` as (`type`, `ARN`) pairs.
fn resources(record: &Value) -> impl Iterator<Item = (Option<&str>, Option<&str>)> {
    record
        .get(RESOURCES)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            (
                r.get("type").and_then(Value::as_str),
                r.get("ARN").and_then(Value::as_str),
            )
        })
}

/// The user name event history shows for a record: the IAM user's name, the role session's
/// name (as the AWS CLI's `lookup-events` example shows for an `AssumedRole` caller), the
/// federated user's name, `root` for the root user, else `userIdentity.userName` if any.
/// Service events (`invokedBy` only) and other accounts have none.
pub fn username(record: &Value) -> Option<String> {
    let identity = record.get(USER_IDENTITY)?;
    let text = |member: &str| {
        identity
            .get(member)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    // `arn:aws:sts::1:assumed-role/Role/Session` → `Session`; `principalId` is
    // `ROLEID:Session` (federated users: `ACCOUNT:Name`).
    let last_arn_segment = || text("arn").and_then(|arn| arn.rsplit_once('/').map(|(_, s)| s));
    let after_colon = || text("principalId").and_then(|p| p.split_once(':').map(|(_, s)| s));
    let name = match text("type") {
        Some("IAMUser") => text("userName").or_else(last_arn_segment),
        Some("AssumedRole" | "FederatedUser") => last_arn_segment().or_else(after_colon),
        Some("Root") => Some("root"),
        _ => text("userName"),
    };
    name.map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records newest first; the cursor is the index of the last event returned.
    struct MemoryLog(Vec<String>);

    impl EventLog for MemoryLog {
        type Cursor = usize;

        fn newest_first(
            &self,
            start: Option<DateTime<Utc>>,
            end: Option<DateTime<Utc>>,
            after: Option<usize>,
            limit: usize,
            filter: &dyn Fn(&Value) -> bool,
        ) -> Result<Vec<(usize, Box<RawValue>)>, String> {
            let first = after.map_or(0, |i| i + 1);
            let mut out = Vec::new();
            for (index, text) in self.0.iter().enumerate().skip(first) {
                let record: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
                let time = record[EVENT_TIME]
                    .as_str()
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or("no time")?;
                if start.is_some_and(|s| time < s) || end.is_some_and(|e| time >= e) {
                    continue;
                }
                if filter(&record) {
                    out.push((
                        index,
                        RawValue::from_string(text.clone()).map_err(|e| e.to_string())?,
                    ));
                    if out.len() == limit {
                        break;
                    }
                }
            }
            Ok(out)
        }

        fn cursor_text(cursor: &usize) -> String {
            cursor.to_string()
        }

        fn parse_cursor(text: &str) -> Option<usize> {
            text.parse().ok()
        }
    }

    const ALICE_KEY: &str = "AKIAEXAMPLEALICE0001";

    fn record(id: u32, second: u32, name: &str, identity: Value, read_only: bool) -> String {
        json!({
            "eventVersion": "1.11",
            "userIdentity": identity,
            "eventTime": format!("2026-05-18T06:00:{second:02}Z"),
            "eventSource": "kms.amazonaws.com",
            "eventName": name,
            "awsRegion": "us-east-1",
            "eventID": format!("00000000-0000-4000-8000-{id:012}"),
            "readOnly": read_only,
            "resources": [{
                "accountId": "111122223333",
                "type": "AWS::KMS::Key",
                "ARN": format!("arn:aws:kms:us-east-1:111122223333:key/k{}", id % 2)
            }],
            "recipientAccountId": "111122223333",
        })
        .to_string()
    }

    fn alice() -> Value {
        json!({"type": "IAMUser", "principalId": "AIDAALICE", "arn": "arn:aws:iam::111122223333:user/alice",
               "accountId": "111122223333", "accessKeyId": ALICE_KEY, "userName": "alice"})
    }

    fn deployer() -> Value {
        json!({"type": "AssumedRole", "principalId": "AROADEPLOYER:ci-42",
               "arn": "arn:aws:sts::111122223333:assumed-role/deployer/ci-42",
               "accountId": "111122223333", "accessKeyId": "ASIADEPLOYER0001",
               "sessionContext": {"sessionIssuer": {"type": "Role", "userName": "deployer"}}})
    }

    /// Six events, newest first: alice and the deployer session alternate.
    fn log() -> MemoryLog {
        MemoryLog(
            (0..6u32)
                .rev()
                .map(|i| {
                    let (who, name, ro) = if i % 2 == 0 {
                        (alice(), "Encrypt", false)
                    } else {
                        (deployer(), "DescribeKey", true)
                    };
                    record(i, i * 10, name, who, ro)
                })
                .collect(),
        )
    }

    const SCOPE: Scope<'static> = Scope {
        account: Some("111122223333"),
        region: "us-east-1",
    };

    fn run(body: Value) -> Result<Value, LookupError> {
        let query = LookupQuery::parse(body.to_string().as_bytes())?;
        lookup(&log(), &SCOPE, &query)
    }

    fn ids(response: &Value) -> Vec<String> {
        response["Events"]
            .as_array()
            .expect("events")
            .iter()
            .map(|e| e["EventId"].as_str().expect("id")[24..].to_owned())
            .collect()
    }

    #[test]
    fn parses_an_sdk_request() {
        let query = LookupQuery::parse(
            br#"{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"Encrypt"}],
                 "StartTime":1779084000,"EndTime":1779084060.5,"MaxResults":2}"#,
        )
        .expect("valid");
        assert_eq!(
            query.attribute,
            Some(Attribute {
                key: AttributeKey::EventName,
                value: "Encrypt".to_owned()
            })
        );
        assert_eq!(query.start.map(|t| t.timestamp()), Some(1_779_084_000));
        let end = query.end.expect("end");
        assert_eq!(
            (end.timestamp(), end.timestamp_subsec_millis()),
            (1_779_084_060, 500)
        );
        assert_eq!(query.max_results, 2);
        assert!(!query.insights);
        let empty = LookupQuery::parse(b"").expect("empty body");
        assert_eq!((empty.max_results, &empty.attribute), (MAX_RESULTS, &None));
        assert_eq!(LookupQuery::parse(b"{}").expect("{}"), empty);
    }

    #[test]
    fn rejects_invalid_requests_with_cloudtrail_errors() {
        let code = |body: &str| LookupQuery::parse(body.as_bytes()).expect_err(body).code();
        let two = r#"{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":"A"},
                      {"AttributeKey":"Username","AttributeValue":"b"}]}"#;
        assert_eq!(code(two), "InvalidLookupAttributesException");
        assert_eq!(
            code(r#"{"LookupAttributes":[{"AttributeKey":"Colour","AttributeValue":"red"}]}"#),
            "InvalidLookupAttributesException"
        );
        assert_eq!(
            code(r#"{"LookupAttributes":[{"AttributeKey":"eventname","AttributeValue":"x"}]}"#),
            "InvalidLookupAttributesException",
            "keys are case-sensitive"
        );
        assert_eq!(
            code(r#"{"LookupAttributes":[{"AttributeKey":"EventName","AttributeValue":""}]}"#),
            "InvalidLookupAttributesException"
        );
        let long = format!(
            r#"{{"LookupAttributes":[{{"AttributeKey":"EventName","AttributeValue":"{}"}}]}}"#,
            "_".repeat(1001)
        );
        assert_eq!(
            code(&long),
            "InvalidLookupAttributesException",
            "`_` counts twice"
        );
        assert_eq!(
            code(r#"{"LookupAttributes":[{"AttributeKey":"ReadOnly","AttributeValue":"yes"}]}"#),
            "InvalidLookupAttributesException"
        );
        assert_eq!(
            code(r#"{"StartTime":200,"EndTime":100}"#),
            "InvalidTimeRangeException"
        );
        assert_eq!(code(r#"{"StartTime":1e300}"#), "InvalidTimeRangeException");
        assert_eq!(code(r#"{"MaxResults":0}"#), "InvalidMaxResultsException");
        assert_eq!(code(r#"{"MaxResults":51}"#), "InvalidMaxResultsException");
        assert_eq!(code(r#"{"MaxResults":"10"}"#), "SerializationException");
        assert_eq!(
            code(r#"{"EventCategory":"Management"}"#),
            "InvalidEventCategoryException"
        );
        assert_eq!(code("{not json"), "SerializationException");
        assert_eq!(
            code(r#"{"StartTime":"yesterday"}"#),
            "SerializationException"
        );
        let err = LookupQuery::parse(br#"{"MaxResults":99}"#).expect_err("99");
        assert_eq!(err.status(), 400);
        assert_eq!(err.body()["__type"], "InvalidMaxResultsException");
        assert!(err.body()["message"]
            .as_str()
            .is_some_and(|m| m.contains("between 1 and 50")));
    }

    #[test]
    fn events_come_newest_first_with_the_lookup_fields() {
        let response = run(json!({})).expect("lookup");
        assert_eq!(
            ids(&response),
            [
                "000000000005",
                "000000000004",
                "000000000003",
                "000000000002",
                "000000000001",
                "000000000000"
            ]
        );
        assert!(response.get("NextToken").is_none(), "one page");
        let first = &response["Events"][0];
        assert_eq!(first["EventName"], "DescribeKey");
        assert_eq!(first["ReadOnly"], "true");
        assert_eq!(first["Username"], "ci-42");
        assert_eq!(first["AccessKeyId"], "ASIADEPLOYER0001");
        assert_eq!(first["EventSource"], "kms.amazonaws.com");
        assert_eq!(first["EventTime"], json!(1_779_084_050));
        assert_eq!(
            first["Resources"],
            json!([{"ResourceType": "AWS::KMS::Key",
                    "ResourceName": "arn:aws:kms:us-east-1:111122223333:key/k1"}])
        );
        let record: Value =
            serde_json::from_str(first["CloudTrailEvent"].as_str().expect("string")).expect("json");
        assert_eq!(record["eventID"], first["EventId"]);
        assert_eq!(response["Events"][1]["Username"], "alice");
        assert_eq!(response["Events"][1]["ReadOnly"], "false");
    }

    #[test]
    fn attributes_filter_events() {
        let by = |key: &str, value: &str| {
            ids(
                &run(json!({"LookupAttributes": [{"AttributeKey": key, "AttributeValue": value}]}))
                    .expect("lookup"),
            )
        };
        let alices = ["000000000004", "000000000002", "000000000000"];
        let sessions = ["000000000005", "000000000003", "000000000001"];
        assert_eq!(by("Username", "alice"), alices);
        assert_eq!(by("Username", "ci-42"), sessions);
        assert!(
            by("Username", "deployer").is_empty(),
            "the session, not the role"
        );
        assert_eq!(by("AccessKeyId", ALICE_KEY), alices);
        assert_eq!(by("EventName", "DescribeKey"), sessions);
        assert_eq!(by("ReadOnly", "false"), alices);
        assert_eq!(by("ReadOnly", "true"), sessions);
        assert_eq!(
            by("EventId", "00000000-0000-4000-8000-000000000003"),
            ["000000000003"]
        );
        assert_eq!(by("EventSource", "kms.amazonaws.com").len(), 6);
        assert!(by("EventSource", "s3.amazonaws.com").is_empty());
        assert_eq!(by("ResourceType", "AWS::KMS::Key").len(), 6);
        assert_eq!(
            by("ResourceName", "arn:aws:kms:us-east-1:111122223333:key/k0"),
            alices
        );
    }

    #[test]
    fn time_range_is_inclusive() {
        // Events at :00, :10, … :50 after 2026-05-18T06:00:00Z = 1779084000.
        let range = |start: f64, end: f64| {
            ids(&run(json!({"StartTime": start, "EndTime": end})).expect("lookup"))
        };
        assert_eq!(
            range(1_779_084_010.0, 1_779_084_030.0),
            ["000000000003", "000000000002", "000000000001"]
        );
        assert_eq!(
            range(1_779_084_010.5, 1_779_084_030.0),
            ["000000000003", "000000000002"]
        );
        assert_eq!(range(1_779_084_020.0, 1_779_084_020.0), ["000000000002"]);
        assert!(range(1_779_084_051.0, 1_779_084_100.0).is_empty());
    }

    #[test]
    fn pages_follow_next_token_and_tokens_are_bound_to_the_query() {
        let mut seen = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut body = json!({"MaxResults": 4, "StartTime": 1_779_083_000});
            if let Some(t) = &token {
                body["NextToken"] = json!(t);
                // The page size may change between pages.
                body["MaxResults"] = json!(1);
            }
            let response = run(body).expect("page");
            pages += 1;
            seen.extend(ids(&response));
            match response.get("NextToken").and_then(Value::as_str) {
                Some(t) => token = Some(t.to_owned()),
                None => break,
            }
        }
        assert_eq!(pages, 3, "4 + 1 + 1, and the last page says no more");
        assert_eq!(seen.len(), 6);
        assert_eq!(seen, ids(&run(json!({})).expect("all")));

        let first = run(json!({"MaxResults": 2})).expect("first");
        let token = first["NextToken"].as_str().expect("token").to_owned();
        let err = run(json!({"MaxResults": 2, "NextToken": token,
                              "LookupAttributes": [{"AttributeKey": "Username", "AttributeValue": "alice"}]}))
        .expect_err("other parameters");
        assert_eq!(err.code(), "InvalidNextTokenException");
        let other_scope = Scope {
            account: Some("444455556666"),
            region: "us-east-1",
        };
        let query =
            LookupQuery::parse(json!({"NextToken": token}).to_string().as_bytes()).expect("parses");
        assert_eq!(
            lookup(&log(), &other_scope, &query)
                .expect_err("other account")
                .code(),
            "InvalidNextTokenException"
        );
        for bad in ["garbage!", "eyJ2IjoxfQ", ""] {
            let result = run(json!({"NextToken": bad}));
            if bad.is_empty() {
                assert!(result.is_ok(), "an empty token is no token");
            } else {
                assert_eq!(result.expect_err(bad).code(), "InvalidNextTokenException");
            }
        }
    }

    #[test]
    fn scope_is_the_callers_account_and_region() {
        let query = LookupQuery::parse(b"{}").expect("parses");
        let count = |scope: Scope<'_>| {
            lookup(&log(), &scope, &query).expect("lookup")["Events"]
                .as_array()
                .map_or(0, Vec::len)
        };
        assert_eq!(count(SCOPE), 6);
        assert_eq!(
            count(Scope {
                account: Some("444455556666"),
                region: "us-east-1"
            }),
            0
        );
        assert_eq!(
            count(Scope {
                account: Some("111122223333"),
                region: "eu-west-1"
            }),
            0
        );
        assert_eq!(
            count(Scope {
                account: None,
                region: "us-east-1"
            }),
            6
        );
        let caller = CallerIdentity::iam_user("111122223333", "alice");
        let response =
            lookup_events(&log(), &caller, "us-east-1", br#"{"MaxResults":1}"#).expect("lookup");
        assert_eq!(response["Events"].as_array().map(Vec::len), Some(1));
        assert!(response["NextToken"].is_string());
    }

    #[test]
    fn a_token_must_hold_a_cursor_of_the_log() {
        let query = LookupQuery::parse(b"{}").expect("parses");
        let forged = encode_token("not-an-index", &query.fingerprint(&SCOPE)).expect("token");
        let err = run(json!({ "NextToken": forged })).expect_err("forged");
        assert_eq!(err.code(), "InvalidNextTokenException");
    }

    #[test]
    fn store_bounds_cover_whole_seconds_both_ends_included() {
        let t = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .expect("time")
                .with_timezone(&Utc)
        };
        let same = t("2026-05-18T06:00:20Z");
        assert_eq!(
            store_bounds(Some(same), Some(same)),
            (same, t("2026-05-18T06:00:21Z"))
        );
        assert_eq!(
            store_bounds(
                Some(t("2026-05-18T06:00:20.7Z")),
                Some(t("2026-05-18T06:00:30.0015Z"))
            ),
            (same, t("2026-05-18T06:00:31Z"))
        );
        assert_eq!(
            store_bounds(None, None),
            (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC)
        );
    }

    #[test]
    fn insights_category_has_no_events() {
        let response = run(json!({"EventCategory": "insight"})).expect("lookup");
        assert_eq!(response, json!({"Events": []}));
    }

    #[test]
    fn usernames_follow_event_history() {
        let name = |identity: Value| username(&json!({ "userIdentity": identity }));
        assert_eq!(name(alice()).as_deref(), Some("alice"));
        assert_eq!(name(deployer()).as_deref(), Some("ci-42"));
        assert_eq!(
            name(json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root"})).as_deref(),
            Some("root")
        );
        assert_eq!(
            name(
                json!({"type": "FederatedUser", "principalId": "111122223333:bob",
                        "arn": "arn:aws:sts::111122223333:federated-user/bob"})
            )
            .as_deref(),
            Some("bob")
        );
        assert_eq!(
            name(json!({"accountId": "111122223333", "invokedBy": "AWS Internal"})),
            None
        );
        assert_eq!(
            name(json!({"type": "AWSService", "invokedBy": "cloudtrail.amazonaws.com"})),
            None
        );
    }
}
