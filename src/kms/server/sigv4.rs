//! AWS Signature Version 4 verification, as KMS checks a request before it runs: the
//! `Authorization: AWS4-HMAC-SHA256 …` header form and the presigned query form
//! (`X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=…`), the payload hash, the credential
//! scope and a five-minute clock-skew limit, with the exception names and messages KMS
//! answers with.
//!
//! Why the canonical request is built here rather than by a crate: `scratchstack-aws-signature`
//! (the one server-side verifier) only derives signing keys from 40-character secrets, never
//! checks `X-Amz-Expires`, fixes the skew at 15 minutes in its stable API and needs the
//! Region before it parses the credential; `aws-sigv4` only signs, keeps its canonical request
//! private and derives the signing key on every call, so verifying with it means rebuilding
//! each request with exactly the client's signed headers and re-deriving keys per request.
//! The canonicalization below is the documented algorithm (checked against AWS's SigV4 test
//! suite in the tests); the HMAC and SHA-256 are aws-lc-rs. Signing keys are cached per
//! access key and credential scope, so a request costs two SHA-256 digests and one HMAC.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::ops::Range;
use std::sync::RwLock;

use aws_lc_rs::{digest, hmac};
use axum::http::{HeaderMap, Method, Uri};
use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use zeroize::Zeroizing;

/// The only algorithm SigV4 has.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The last element of every credential scope.
pub const TERMINATOR: &str = "aws4_request";
/// How far a request's time may be from the server's (AWS: 5 minutes).
pub const MAX_SKEW_SECONDS: i64 = 5 * 60;
/// The longest validity a presigned request may ask for (a week, as AWS allows).
pub const MAX_PRESIGN_SECONDS: i64 = 7 * 24 * 60 * 60;
/// `x-amz-content-sha256` value of a request whose body is not signed.
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

const AMZ_DATE_HEADER: &str = "x-amz-date";
/// The ISO 8601 basic format of `X-Amz-Date`.
const AMZ_DATE_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const CONTENT_SHA256_HEADER: &str = "x-amz-content-sha256";
const SECURITY_TOKEN_HEADER: &str = "x-amz-security-token";
const Q_ALGORITHM: &str = "X-Amz-Algorithm";
const Q_CREDENTIAL: &str = "X-Amz-Credential";
const Q_DATE: &str = "X-Amz-Date";
const Q_EXPIRES: &str = "X-Amz-Expires";
const Q_SIGNED_HEADERS: &str = "X-Amz-SignedHeaders";
const Q_SIGNATURE: &str = "X-Amz-Signature";
const Q_SECURITY_TOKEN: &str = "X-Amz-Security-Token";
const Q_CONTENT_SHA256: &str = "X-Amz-Content-Sha256";
/// Signing keys kept per access key (one per day, Region and service in use).
const CACHED_SCOPES: usize = 16;

const MSG_SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const MSG_INVALID_TOKEN: &str = "The security token included in the request is invalid.";
const MSG_MISSING_TOKEN: &str = "Missing Authentication Token";

/// Why a request's signature was not accepted, named as KMS names it on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// Neither an `Authorization` header nor `X-Amz-Algorithm` in the query.
    #[error("MissingAuthenticationTokenException: {MSG_MISSING_TOKEN}")]
    Missing,
    /// The signature's parts are missing or malformed.
    #[error("IncompleteSignatureException: {0}")]
    Incomplete(String),
    /// The access key (or the session token sent with it) is not known.
    #[error("UnrecognizedClientException: {MSG_INVALID_TOKEN}")]
    UnknownClient,
    /// The signature does not match, is out of date, or is scoped wrongly.
    #[error("InvalidSignatureException: {0}")]
    InvalidSignature(String),
}

impl AuthError {
    /// The exception name, `__type` on the wire and `errorCode` in CloudTrail.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing => "MissingAuthenticationTokenException",
            Self::Incomplete(_) => "IncompleteSignatureException",
            Self::UnknownClient => "UnrecognizedClientException",
            Self::InvalidSignature(_) => "InvalidSignatureException",
        }
    }

    /// The message, as AWS words it.
    pub fn message(&self) -> &str {
        match self {
            Self::Missing => MSG_MISSING_TOKEN,
            Self::UnknownClient => MSG_INVALID_TOKEN,
            Self::Incomplete(message) | Self::InvalidSignature(message) => message,
        }
    }

    fn mismatch() -> Self {
        Self::InvalidSignature(MSG_SIGNATURE_MISMATCH.to_owned())
    }
}

/// The parts of an HTTP request a signature covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'r> {
    /// The method.
    pub method: &'r Method,
    /// The request target, as sent (path still percent-encoded).
    pub uri: &'r Uri,
    /// The headers.
    pub headers: &'r HeaderMap,
    /// The body.
    pub body: &'r [u8],
}

/// One access key the verifier accepts, and what it stands for.
struct Entry<T> {
    /// `"AWS4" + secret`, the first HMAC key of the derivation.
    prefixed_secret: Zeroizing<Vec<u8>>,
    session_token: Option<String>,
    value: T,
    /// Signing keys by credential scope (`20260101/us-east-1/kms/aws4_request`).
    keys: RwLock<Vec<(String, hmac::Key)>>,
}

/// Verifies SigV4 signatures against a fixed set of access keys, each mapped to a `T` (the
/// identity the key belongs to).
pub struct Verifier<T> {
    entries: HashMap<String, Entry<T>>,
}

/// A request whose signature checked out.
#[derive(Debug)]
pub struct Verified<'v, T> {
    /// The access key that signed it.
    pub access_key_id: &'v str,
    /// What the access key stands for.
    pub signer: &'v T,
    /// The Region of the credential scope.
    pub region: String,
}

/// A request whose signature did not check out, with what could be learnt about it.
#[derive(Debug)]
pub struct Rejected<'v, T> {
    /// Why.
    pub error: AuthError,
    /// The access key the request named, when it is a known one (a bad or expired
    /// signature of a known key).
    pub signer: Option<(&'v str, &'v T)>,
    /// The Region of the credential scope, when the scope could be read.
    pub region: Option<String>,
}

/// The signature parameters of a request, from its header or its query. Header values are
/// borrowed; query values are decoded copies.
struct AuthParams<'r> {
    /// `AKID/date/region/service/aws4_request`.
    credential: Cow<'r, str>,
    /// Where the access key id ends (the scope starts one byte later).
    key_end: usize,
    /// The scope's four elements, as byte ranges of `credential`.
    elements: [Range<usize>; 4],
    signed_headers: Cow<'r, str>,
    signature: Cow<'r, str>,
    /// The request time text, `YYYYMMDDTHHMMSSZ`.
    amz_date: Cow<'r, str>,
    time: DateTime<Utc>,
    /// `X-Amz-Expires` of a presigned request.
    expires: Option<i64>,
    session_token: Option<Cow<'r, str>>,
    /// Whether the signature is in the query (presigned).
    presigned: bool,
}

impl AuthParams<'_> {
    fn access_key_id(&self) -> &str {
        &self.credential[..self.key_end]
    }

    /// `date/region/service/aws4_request`.
    fn scope(&self) -> &str {
        &self.credential[self.key_end + 1..]
    }

    fn element(&self, i: usize) -> &str {
        &self.credential[self.elements[i].clone()]
    }

    fn date(&self) -> &str {
        self.element(0)
    }

    fn region(&self) -> &str {
        self.element(1)
    }

    fn service(&self) -> &str {
        self.element(2)
    }

    fn terminator(&self) -> &str {
        self.element(3)
    }
}

impl<T> Verifier<T> {
    /// A verifier accepting no key.
    pub fn new() -> Self {
        Self {
            entries: HashMap::new(),
        }
    }

    /// Accepts `access_key_id` with `secret` (and, when given, only with `session_token`),
    /// standing for `value`. Returns `false` if the key was already added.
    pub fn add(
        &mut self,
        access_key_id: &str,
        secret: &str,
        session_token: Option<&str>,
        value: T,
    ) -> bool {
        if self.entries.contains_key(access_key_id) {
            return false;
        }
        let mut prefixed = Zeroizing::new(Vec::with_capacity(secret.len() + 4));
        prefixed.extend_from_slice(b"AWS4");
        prefixed.extend_from_slice(secret.as_bytes());
        self.entries.insert(
            access_key_id.to_owned(),
            Entry {
                prefixed_secret: prefixed,
                session_token: session_token.map(str::to_owned),
                value,
                keys: RwLock::new(Vec::new()),
            },
        );
        true
    }

    /// What `access_key_id` stands for.
    pub fn get(&self, access_key_id: &str) -> Option<&T> {
        self.entries.get(access_key_id).map(|e| &e.value)
    }

    /// Every access key with what it stands for.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &T)> {
        self.entries.iter().map(|(k, e)| (k.as_str(), &e.value))
    }

    /// Checks `request`'s signature for `service` at server time `now`, in AWS's order:
    /// the signature's form, its scope and time, the access key, then the signature itself.
    pub fn verify<'v>(
        &'v self,
        request: &SignedRequest<'_>,
        service: &str,
        now: DateTime<Utc>,
    ) -> Result<Verified<'v, T>, Rejected<'v, T>> {
        let params = auth_params(request).map_err(|error| Rejected {
            error,
            signer: None,
            region: None,
        })?;
        let known = self
            .entries
            .get_key_value(params.access_key_id())
            .map(|(k, e)| (k.as_str(), e));
        let reject = |error| Rejected {
            error,
            signer: known.map(|(k, e)| (k, &e.value)),
            region: Some(params.region().to_owned()),
        };
        check_scope(&params, service, now).map_err(reject)?;
        let Some((access_key_id, entry)) = known else {
            return Err(reject(AuthError::UnknownClient));
        };
        if entry.session_token.as_deref() != params.session_token.as_deref() {
            return Err(reject(AuthError::UnknownClient));
        }
        let Some(signature) = decode_hex_32(&params.signature) else {
            return Err(reject(AuthError::mismatch()));
        };
        let payloads = payload_hashes(request, &params).map_err(reject)?;
        let mut canonical = Vec::with_capacity(512);
        let matched = entry.with_signing_key(&params, |key| {
            payloads.iter().flatten().any(|payload| {
                canonical.clear();
                canonical_request(request, &params, payload, &mut canonical);
                let string_to_sign = string_to_sign(&params, &canonical);
                hmac::verify(key, string_to_sign.as_bytes(), &signature).is_ok()
            })
        });
        if !matched {
            return Err(reject(AuthError::mismatch()));
        }
        Ok(Verified {
            access_key_id,
            signer: &entry.value,
            region: params.region().to_owned(),
        })
    }
}

impl<T> Default for Verifier<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Entry<T> {
    /// Runs `check` with the signing key of the request's scope, derived once per scope and
    /// then taken from the cache.
    fn with_signing_key<R>(
        &self,
        params: &AuthParams<'_>,
        check: impl FnOnce(&hmac::Key) -> R,
    ) -> R {
        if let Ok(keys) = self.keys.read() {
            if let Some((_, key)) = keys.iter().find(|(scope, _)| scope == params.scope()) {
                return check(key);
            }
        }
        let key = derive_signing_key(
            &self.prefixed_secret,
            params.date(),
            params.region(),
            params.service(),
        );
        let result = check(&key);
        if let Ok(mut keys) = self.keys.write() {
            if keys.len() >= CACHED_SCOPES {
                keys.remove(0);
            }
            keys.push((params.scope().to_owned(), key));
        }
        result
    }
}

/// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
fn derive_signing_key(
    prefixed_secret: &[u8],
    date: &str,
    region: &str,
    service: &str,
) -> hmac::Key {
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let k_date = step(prefixed_secret, date);
    let k_region = step(k_date.as_ref(), region);
    let k_service = step(k_region.as_ref(), service);
    let k_signing = step(k_service.as_ref(), TERMINATOR);
    hmac::Key::new(hmac::HMAC_SHA256, k_signing.as_ref())
}

/// Reads the signature parameters from the `Authorization` header or the query.
fn auth_params<'r>(request: &SignedRequest<'r>) -> Result<AuthParams<'r>, AuthError> {
    let header = request.headers.get(axum::http::header::AUTHORIZATION);
    let query = request.uri.query().unwrap_or("");
    let presigned = query_value(query, Q_ALGORITHM);
    match (header, presigned) {
        (Some(header), None) => {
            let text = header.to_str().map_err(|_| {
                AuthError::Incomplete("The Authorization header is not valid text.".into())
            })?;
            header_params(request, text)
        }
        (None, Some(algorithm)) => query_params(query, &algorithm),
        (Some(_), Some(_)) => Err(AuthError::InvalidSignature(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified".into(),
        )),
        (None, None) => Err(AuthError::Missing),
    }
}

/// `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
fn header_params<'r>(
    request: &SignedRequest<'r>,
    text: &'r str,
) -> Result<AuthParams<'r>, AuthError> {
    let text = text.trim();
    let (algorithm, rest) = text.split_once(' ').unwrap_or((text, ""));
    if algorithm != ALGORITHM {
        return Err(AuthError::Incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'."
        )));
    }
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((name, value)) = part.split_once('=') else {
            return Err(AuthError::Incomplete(format!(
                "'{part}' not a valid key=value pair (missing equal-sign) in Authorization header: '{text}'"
            )));
        };
        match name.trim() {
            "Credential" => credential = Some(value.trim()),
            "SignedHeaders" => signed_headers = Some(value.trim()),
            "Signature" => signature = Some(value.trim()),
            _ => {}
        }
    }
    let amz_date: Option<Cow<'r, str>> = match request.headers.get(AMZ_DATE_HEADER) {
        Some(value) => value.to_str().ok().map(Cow::Borrowed),
        None => request
            .headers
            .get(axum::http::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| DateTime::parse_from_rfc2822(v).ok())
            .map(|t| Cow::Owned(t.with_timezone(&Utc).format(AMZ_DATE_FORMAT).to_string())),
    };
    let mut missing = Vec::new();
    if credential.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if signature.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    if signed_headers.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    if amz_date.is_none() {
        missing.push(
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
        );
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(amz_date)) =
        (credential, signed_headers, signature, amz_date)
    else {
        return Err(AuthError::Incomplete(format!(
            "{} Authorization={algorithm}",
            missing.join(" ")
        )));
    };
    let session_token = request
        .headers
        .get(SECURITY_TOKEN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(Cow::Borrowed);
    let time = parse_amz_date(&amz_date)?;
    let (key_end, elements) = split_credential(credential)?;
    Ok(AuthParams {
        credential: Cow::Borrowed(credential),
        key_end,
        elements,
        signed_headers: Cow::Borrowed(signed_headers),
        signature: Cow::Borrowed(signature),
        amz_date,
        time,
        expires: None,
        session_token,
        presigned: false,
    })
}

/// `X-Amz-Algorithm`, `X-Amz-Credential`, `X-Amz-Date`, `X-Amz-Expires`,
/// `X-Amz-SignedHeaders`, `X-Amz-Signature` (and `X-Amz-Security-Token`) in the query.
fn query_params<'r>(query: &'r str, algorithm: &str) -> Result<AuthParams<'r>, AuthError> {
    if algorithm != ALGORITHM {
        return Err(AuthError::Missing);
    }
    let credential = query_value(query, Q_CREDENTIAL);
    let signed_headers = query_value(query, Q_SIGNED_HEADERS);
    let signature = query_value(query, Q_SIGNATURE);
    let amz_date = query_value(query, Q_DATE);
    let mut missing = Vec::new();
    if credential.is_none() {
        missing.push("AWS query-string parameters must include 'X-Amz-Credential'.");
    }
    if signature.is_none() {
        missing.push("AWS query-string parameters must include 'X-Amz-Signature'.");
    }
    if signed_headers.is_none() {
        missing.push("AWS query-string parameters must include 'X-Amz-SignedHeaders'.");
    }
    if amz_date.is_none() {
        missing.push("AWS query-string parameters must include 'X-Amz-Date'.");
    }
    let (Some(credential), Some(signed_headers), Some(signature), Some(amz_date)) =
        (credential, signed_headers, signature, amz_date)
    else {
        return Err(AuthError::Incomplete(format!(
            "{} Re-examine the query-string parameters.",
            missing.join(" ")
        )));
    };
    let expires = match query_value(query, Q_EXPIRES) {
        None => None,
        Some(text) => {
            let seconds: i64 = text.parse().map_err(|_| {
                AuthError::Incomplete(format!("X-Amz-Expires should be a number, not '{text}'."))
            })?;
            if !(0..=MAX_PRESIGN_SECONDS).contains(&seconds) {
                return Err(AuthError::InvalidSignature(format!(
                    "X-Amz-Expires must be non-negative and less than a week (in seconds) that is {MAX_PRESIGN_SECONDS}"
                )));
            }
            Some(seconds)
        }
    };
    let time = parse_amz_date(&amz_date)?;
    let (key_end, elements) = split_credential(&credential)?;
    Ok(AuthParams {
        credential,
        key_end,
        elements,
        signed_headers,
        signature,
        amz_date,
        time,
        expires,
        session_token: query_value(query, Q_SECURITY_TOKEN),
        presigned: true,
    })
}

/// Splits `AKID/date/region/service/aws4_request` into the end of the key id and the byte
/// ranges of the four scope elements.
fn split_credential(credential: &str) -> Result<(usize, [Range<usize>; 4]), AuthError> {
    let malformed = || {
        AuthError::Incomplete(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{credential}'"
        ))
    };
    let mut bounds = [0usize; 5];
    let mut count = 0;
    for (i, b) in credential.bytes().enumerate() {
        if b == b'/' {
            if count == 4 {
                return Err(malformed());
            }
            bounds[count] = i;
            count += 1;
        }
    }
    if count != 4 {
        return Err(malformed());
    }
    bounds[4] = credential.len();
    let range = |i: usize| bounds[i] + 1..bounds[i + 1];
    Ok((bounds[0], [range(0), range(1), range(2), range(3)]))
}

/// Scope and time checks (AWS's wording).
fn check_scope(
    params: &AuthParams<'_>,
    service: &str,
    now: DateTime<Utc>,
) -> Result<(), AuthError> {
    let date_of_time = params.amz_date.get(..8).unwrap_or_default();
    if params.date() != date_of_time {
        return Err(AuthError::InvalidSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{date_of_time}', from '{}'.",
            params.date(),
            params.amz_date
        )));
    }
    if params.region().is_empty() {
        return Err(AuthError::InvalidSignature(
            "Credential should be scoped to a valid region. ".into(),
        ));
    }
    if params.service() != service {
        return Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped to correct service: '{service}'. "
        )));
    }
    if params.terminator() != TERMINATOR {
        return Err(AuthError::InvalidSignature(format!(
            "Credential should be scoped with a valid terminator: '{TERMINATOR}', not '{}'. ",
            params.terminator()
        )));
    }
    let skew = Duration::seconds(MAX_SKEW_SECONDS);
    let text = |t: DateTime<Utc>| t.format(AMZ_DATE_FORMAT).to_string();
    if params.time > now + skew {
        return Err(AuthError::InvalidSignature(format!(
            "Signature not yet current: {} is still later than {} ({} + 5 min.)",
            params.amz_date,
            text(now + skew),
            text(now)
        )));
    }
    match params.expires {
        Some(seconds) => {
            if now > params.time + Duration::seconds(seconds) {
                return Err(AuthError::InvalidSignature(format!(
                    "Signature expired: {} is now earlier than {} ({} - {seconds} sec.)",
                    params.amz_date,
                    text(now - Duration::seconds(seconds)),
                    text(now)
                )));
            }
        }
        None => {
            if params.time < now - skew {
                return Err(AuthError::InvalidSignature(format!(
                    "Signature expired: {} is now earlier than {} ({} - 5 min.)",
                    params.amz_date,
                    text(now - skew),
                    text(now)
                )));
            }
        }
    }
    Ok(())
}

/// The payload hashes to try, in order: the one the client declared in
/// `x-amz-content-sha256` (which must match the body unless it is `UNSIGNED-PAYLOAD`), else
/// the body's; a presigned request without a declared hash may also have been signed with
/// `UNSIGNED-PAYLOAD` (botocore signs presigned requests so).
fn payload_hashes(
    request: &SignedRequest<'_>,
    params: &AuthParams<'_>,
) -> Result<[Option<String>; 2], AuthError> {
    let body = hex(digest::digest(&digest::SHA256, request.body).as_ref());
    let declared: Option<Cow<'_, str>> = request
        .headers
        .get(CONTENT_SHA256_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(Cow::Borrowed)
        .or_else(|| {
            params
                .presigned
                .then(|| query_value(request.uri.query().unwrap_or(""), Q_CONTENT_SHA256))
                .flatten()
        });
    match declared {
        Some(declared) if declared == UNSIGNED_PAYLOAD => Ok([Some(declared.into_owned()), None]),
        Some(declared) if declared.eq_ignore_ascii_case(&body) => {
            Ok([Some(declared.into_owned()), None])
        }
        Some(_) => Err(AuthError::InvalidSignature(
            "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
        )),
        None if params.presigned => Ok([Some(body), Some(UNSIGNED_PAYLOAD.to_owned())]),
        None => Ok([Some(body), None]),
    }
}

/// Writes the canonical request into `out`.
fn canonical_request(
    request: &SignedRequest<'_>,
    params: &AuthParams<'_>,
    payload_hash: &str,
    out: &mut Vec<u8>,
) {
    out.extend_from_slice(request.method.as_str().as_bytes());
    out.push(b'\n');
    canonical_path(request.uri.path(), out);
    out.push(b'\n');
    canonical_query(request.uri.query().unwrap_or(""), params.presigned, out);
    out.push(b'\n');
    for name in params.signed_headers.split(';') {
        out.extend_from_slice(name.as_bytes());
        out.push(b':');
        let mut first = true;
        let values = request.headers.get_all(name);
        let mut any = false;
        for value in values {
            any = true;
            if !first {
                out.push(b',');
            }
            first = false;
            normalize_header_value(value.as_bytes(), out);
        }
        if !any && name == "host" {
            if let Some(authority) = request.uri.authority() {
                out.extend_from_slice(authority.as_str().as_bytes());
            }
        }
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(params.signed_headers.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(payload_hash.as_bytes());
}

/// `AWS4-HMAC-SHA256\n<time>\n<scope>\n<hex sha256(canonical request)>`.
fn string_to_sign(params: &AuthParams<'_>, canonical: &[u8]) -> String {
    let hash = digest::digest(&digest::SHA256, canonical);
    let mut text = String::with_capacity(160);
    text.push_str(ALGORITHM);
    text.push('\n');
    text.push_str(&params.amz_date);
    text.push('\n');
    text.push_str(params.scope());
    text.push('\n');
    text.push_str(&hex(hash.as_ref()));
    text
}

/// Trims a header value and collapses runs of spaces (and folded lines) into one space.
fn normalize_header_value(value: &[u8], out: &mut Vec<u8>) {
    let mut pending_space = false;
    let mut started = false;
    for &byte in value {
        if byte == b' ' || byte == b'\t' || byte == b'\n' || byte == b'\r' {
            pending_space = started;
            continue;
        }
        if pending_space {
            out.push(b' ');
            pending_space = false;
        }
        started = true;
        out.push(byte);
    }
}

/// The canonical URI of a non-S3 service: dot segments removed, then every segment
/// URI-encoded (again: the path on the wire is already encoded once).
fn canonical_path(path: &str, out: &mut Vec<u8>) {
    if path.is_empty() || path == "/" {
        out.push(b'/');
        return;
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/').skip(1) {
        match segment {
            "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let trailing = path.ends_with('/') || path.ends_with("/.") || path.ends_with("/..");
    if segments.last() == Some(&"") {
        segments.pop();
    }
    for segment in &segments {
        out.push(b'/');
        uri_encode(segment.as_bytes(), out);
    }
    if trailing || segments.is_empty() {
        out.push(b'/');
    }
}

/// The canonical query: every pair decoded, re-encoded strictly, sorted; a presigned
/// request's own signature left out.
fn canonical_query(query: &str, presigned: bool, out: &mut Vec<u8>) {
    if query.is_empty() {
        return;
    }
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for pair in query.split('&') {
        if pair.is_empty() {
            continue;
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = percent_decode(name);
        if presigned && name == Q_SIGNATURE {
            continue;
        }
        let mut encoded_name = Vec::with_capacity(name.len());
        uri_encode(name.as_bytes(), &mut encoded_name);
        let mut encoded_value = Vec::with_capacity(value.len());
        uri_encode(percent_decode(value).as_bytes(), &mut encoded_value);
        pairs.push((encoded_name, encoded_value));
    }
    pairs.sort();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b'&');
        }
        out.extend_from_slice(name);
        out.push(b'=');
        out.extend_from_slice(value);
    }
}

/// RFC 3986 encoding of everything but the unreserved characters (`A-Za-z0-9-_.~`),
/// uppercase hex.
fn uri_encode(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b);
        } else {
            out.push(b'%');
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0x0f)]);
        }
    }
}

/// Decodes `%XX` escapes (invalid escapes are kept as they are).
fn percent_decode(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_digit(bytes[i + 1]), hex_digit(bytes[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// The decoded value of query parameter `name`.
fn query_value<'q>(query: &'q str, name: &str) -> Option<Cow<'q, str>> {
    query.split('&').find_map(|pair| {
        let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(n) == name).then(|| percent_decode(v))
    })
}

/// `YYYYMMDDTHHMMSSZ`.
fn parse_amz_date(text: &str) -> Result<DateTime<Utc>, AuthError> {
    NaiveDateTime::parse_from_str(text, AMZ_DATE_FORMAT)
        .map(|t| t.and_utc())
        .map_err(|_| {
            AuthError::Incomplete(format!(
                "Date must be in ISO-8601 'basic format'. Got '{text}'. See http://en.wikipedia.org/wiki/ISO_8601"
            ))
        })
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decodes 64 hex digits.
fn decode_hex_32(text: &str) -> Option<[u8; 32]> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = hex_digit(pair[0])? << 4 | hex_digit(pair[1])?;
    }
    Some(out)
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(text, "{b:02x}");
    }
    text
}

/// Signs a request as an SDK does (header form), for tests that need signed requests.
#[cfg(test)]
pub(crate) fn sign_for_tests(
    request: &mut axum::http::Request<Vec<u8>>,
    access_key_id: &str,
    secret: &str,
    region: &str,
    service: &str,
    time: DateTime<Utc>,
) {
    use axum::http::HeaderValue;

    let amz_date = time.format(AMZ_DATE_FORMAT).to_string();
    let date = &amz_date[..8];
    request.headers_mut().insert(
        AMZ_DATE_HEADER,
        HeaderValue::from_str(&amz_date).expect("date"),
    );
    let mut names: Vec<String> = request
        .headers()
        .keys()
        .map(|n| n.as_str().to_owned())
        .filter(|n| n != "authorization" && n != "user-agent")
        .collect();
    names.sort();
    names.dedup();
    let signed_headers = names.join(";");
    let credential = format!("{access_key_id}/{date}/{region}/{service}/{TERMINATOR}");
    let (key_end, elements) = split_credential(&credential).expect("credential");
    let params = AuthParams {
        credential: Cow::Borrowed(&credential),
        key_end,
        elements,
        signed_headers: Cow::Borrowed(&signed_headers),
        signature: Cow::Borrowed(""),
        amz_date: Cow::Borrowed(&amz_date),
        time,
        expires: None,
        session_token: None,
        presigned: false,
    };
    let (parts, body) = std::mem::take(request).into_parts();
    let signed = SignedRequest {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &body,
    };
    let payload = hex(digest::digest(&digest::SHA256, &body).as_ref());
    let mut canonical = Vec::new();
    canonical_request(&signed, &params, &payload, &mut canonical);
    let string_to_sign = string_to_sign(&params, &canonical);
    let mut prefixed = b"AWS4".to_vec();
    prefixed.extend_from_slice(secret.as_bytes());
    let key = derive_signing_key(&prefixed, date, region, service);
    let signature = hex(hmac::sign(&key, string_to_sign.as_bytes()).as_ref());
    let authorization = format!(
        "{ALGORITHM} Credential={credential}, SignedHeaders={signed_headers}, Signature={signature}"
    );
    *request = axum::http::Request::from_parts(parts, body);
    request.headers_mut().insert(
        axum::http::header::AUTHORIZATION,
        HeaderValue::from_str(&authorization).expect("authorization"),
    );
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderName, HeaderValue, Request};

    use super::*;

    /// AWS's SigV4 test suite (aws-sig-v4-test-suite, Apache-2.0): its key, secret and time.
    const SUITE_KEY: &str = "AKIDEXAMPLE";
    const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const SUITE_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

    fn at(text: &str) -> DateTime<Utc> {
        parse_amz_date(text).expect("time")
    }

    fn suite_now() -> DateTime<Utc> {
        at("20150830T123600Z")
    }

    /// A request from the suite's `.req` text (request line, header lines, blank line, body)
    /// with the suite's `.authz` header.
    fn request(text: &str, authorization: &str) -> Request<Vec<u8>> {
        let (head, body) = text.split_once("\n\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let mut first = lines.next().expect("request line").split(' ');
        let method = first.next().expect("method");
        let target = first.next().expect("target");
        let mut builder = Request::builder().method(method).uri(target);
        for line in lines {
            let (name, value) = line.split_once(':').expect("header");
            builder = builder.header(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        if !authorization.is_empty() {
            builder = builder.header("authorization", authorization);
        }
        builder.body(body.as_bytes().to_vec()).expect("request")
    }

    fn verifier() -> Verifier<&'static str> {
        let mut verifier = Verifier::new();
        verifier.add(SUITE_KEY, SUITE_SECRET, None, "suite user");
        verifier
    }

    fn check(
        verifier: &Verifier<&'static str>,
        request: &Request<Vec<u8>>,
        service: &str,
        now: DateTime<Utc>,
    ) -> Result<String, AuthError> {
        let signed = SignedRequest {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
            body: request.body(),
        };
        verifier
            .verify(&signed, service, now)
            .map(|v| format!("{} {} {}", v.access_key_id, v.signer, v.region))
            .map_err(|r| r.error)
    }

    fn authz(signed_headers: &str, signature: &str) -> String {
        format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders={signed_headers}, Signature={signature}")
    }

    #[test]
    fn aws_test_suite_requests_verify() {
        let cases = [
            // post-vanilla
            (
                "POST / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
                authz("host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
            ),
            // get-vanilla-query-order-key-case
            (
                "GET /?Param2=value2&Param1=value1 HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
                authz("host;x-amz-date", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
            ),
            // get-header-value-trim
            (
                "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1: value1\nMy-Header2: \"a   b   c\"\nX-Amz-Date:20150830T123600Z",
                authz("host;my-header1;my-header2;x-amz-date", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
            ),
            // get-header-key-duplicate
            (
                "GET / HTTP/1.1\nHost:example.amazonaws.com\nMy-Header1:value2\nMy-Header1:value2\nMy-Header1:value1\nX-Amz-Date:20150830T123600Z",
                authz("host;my-header1;x-amz-date", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
            ),
            // normalize-path/get-relative-relative
            (
                "GET /example1/example2/../.. HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
                authz("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            ),
            // normalize-path/get-slash-dot-slash
            (
                "GET /./ HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
                authz("host;x-amz-date", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            ),
            // get-vanilla-utf8-query (the client sends the key percent-encoded)
            (
                "GET /?%E1%88%B4=bar HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
                authz("host;x-amz-date", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
            ),
            // get-vanilla-query-unreserved
            (
                "GET /?-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
                authz("host;x-amz-date", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
            ),
        ];
        let verifier = verifier();
        for (text, authorization) in cases {
            let request = request(text, &authorization);
            assert_eq!(
                check(&verifier, &request, "service", suite_now()),
                Ok("AKIDEXAMPLE suite user us-east-1".to_owned()),
                "{text}"
            );
        }
    }

    #[test]
    fn session_tokens_signed_or_not_must_be_the_configured_one() {
        let mut verifier = Verifier::new();
        verifier.add(SUITE_KEY, SUITE_SECRET, Some(SUITE_TOKEN), "session");
        // post-sts-header-before: the token is signed.
        let before = request(
            &format!("POST / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nX-Amz-Security-Token:{SUITE_TOKEN}"),
            &authz("host;x-amz-date;x-amz-security-token", "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"),
        );
        assert!(check(&verifier, &before, "service", suite_now()).is_ok());
        // post-sts-header-after: the token is added after signing.
        let after = request(
            &format!("POST / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z\nX-Amz-Security-Token:{SUITE_TOKEN}"),
            &authz("host;x-amz-date", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
        );
        assert!(check(&verifier, &after, "service", suite_now()).is_ok());
        // Without the token the key is not recognized.
        let without = request(
            "POST / HTTP/1.1\nHost:example.amazonaws.com\nX-Amz-Date:20150830T123600Z",
            &authz(
                "host;x-amz-date",
                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
            ),
        );
        assert_eq!(
            check(&verifier, &without, "service", suite_now()),
            Err(AuthError::UnknownClient)
        );
    }

    /// Requests botocore 1.43 signed for KMS (`SigV4Auth` and `SigV4QueryAuth`, expires 300)
    /// at 2026-01-02T03:04:05Z with AWS's documentation key.
    const DOC_KEY: &str = "AKIAIOSFODNN7EXAMPLE";
    const DOC_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    const KMS_BODY: &str = r#"{"KeyId":"alias/app","Plaintext":"aGVsbG8="}"#;

    fn botocore_header_request() -> Request<Vec<u8>> {
        request(
            &format!("POST / HTTP/1.1\nHost:127.0.0.1:4599\nX-Amz-Target:TrentService.Encrypt\nContent-Type:application/x-amz-json-1.1\nUser-Agent:test\nX-Amz-Date:20260102T030405Z\n\n{KMS_BODY}"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260102/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=6dc6679315bd5f893b8f7906ddfae8c43840c539f87f90fa0e8a9f9eb7769619",
        )
    }

    fn doc_verifier() -> Verifier<&'static str> {
        let mut verifier = Verifier::new();
        verifier.add(DOC_KEY, DOC_SECRET, None, "doc user");
        verifier
    }

    #[test]
    fn botocore_signed_kms_requests_verify_in_both_forms() {
        let verifier = doc_verifier();
        let now = at("20260102T030500Z");
        let header = botocore_header_request();
        assert_eq!(
            check(&verifier, &header, "kms", now),
            Ok("AKIAIOSFODNN7EXAMPLE doc user us-east-1".to_owned())
        );
        let presigned = request(
            "POST /?KeyId=alias%2Fapp&Plaintext=aGVsbG8%3D&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260102%2Fus-east-1%2Fkms%2Faws4_request&X-Amz-Date=20260102T030405Z&X-Amz-Expires=300&X-Amz-SignedHeaders=content-type%3Bhost%3Bx-amz-target&X-Amz-Signature=324f3bf603704fe320e4ad320c42ece4b6e5e20ae4ed1f1dd03c228f85332fa6 HTTP/1.1\nHost:127.0.0.1:4599\nX-Amz-Target:TrentService.Encrypt\nContent-Type:application/x-amz-json-1.1",
            "",
        );
        assert!(check(&verifier, &presigned, "kms", now).is_ok());
        // Within X-Amz-Expires a presigned request is good past the five minutes…
        assert!(check(&verifier, &presigned, "kms", at("20260102T030900Z")).is_ok());
        // …and not after.
        let late = check(&verifier, &presigned, "kms", at("20260102T031000Z"));
        assert!(
            matches!(&late, Err(AuthError::InvalidSignature(m)) if m.starts_with("Signature expired: 20260102T030405Z")),
            "{late:?}"
        );
    }

    #[test]
    fn refusals_use_kms_exception_names_and_messages() {
        let verifier = doc_verifier();
        let now = at("20260102T030500Z");
        let good = botocore_header_request();

        let mut tampered = good.clone();
        *tampered.body_mut() = KMS_BODY.replace("aGVsbG8=", "aGVsbG9=").into_bytes();
        let err = check(&verifier, &tampered, "kms", now).expect_err("tampered");
        assert_eq!(err.code(), "InvalidSignatureException");
        assert_eq!(err.message(), MSG_SIGNATURE_MISMATCH);

        let mut declared = good.clone();
        declared
            .headers_mut()
            .insert(CONTENT_SHA256_HEADER, HeaderValue::from_static("00"));
        let err = check(&verifier, &declared, "kms", now).expect_err("declared hash");
        assert!(err.message().contains("x-amz-content-sha256"), "{err}");

        let err = check(&verifier, &good, "kms", at("20260102T031006Z")).expect_err("expired");
        assert_eq!(err.code(), "InvalidSignatureException");
        assert_eq!(
            err.message(),
            "Signature expired: 20260102T030405Z is now earlier than 20260102T030506Z (20260102T031006Z - 5 min.)"
        );
        let err = check(&verifier, &good, "kms", at("20260102T025800Z")).expect_err("future");
        assert!(
            err.message().starts_with("Signature not yet current"),
            "{err}"
        );

        let err = check(&verifier, &good, "cloudtrail", now).expect_err("service");
        assert_eq!(
            err.message(),
            "Credential should be scoped to correct service: 'cloudtrail'. "
        );

        let mut other_key = Verifier::new();
        other_key.add("AKIAOTHER", DOC_SECRET, None, "other");
        assert_eq!(
            check(&other_key, &good, "kms", now),
            Err(AuthError::UnknownClient)
        );
        assert_eq!(
            AuthError::UnknownClient.code(),
            "UnrecognizedClientException"
        );

        let mut wrong_secret = Verifier::new();
        wrong_secret.add(DOC_KEY, "not-the-secret", None, "doc user");
        assert_eq!(
            check(&wrong_secret, &good, "kms", now),
            Err(AuthError::mismatch())
        );

        let mut unsigned = good.clone();
        unsigned
            .headers_mut()
            .remove(axum::http::header::AUTHORIZATION);
        let err = check(&verifier, &unsigned, "kms", now).expect_err("missing");
        assert_eq!(
            (err.code(), err.message()),
            (
                "MissingAuthenticationTokenException",
                "Missing Authentication Token"
            )
        );

        let mut short = good.clone();
        short.headers_mut().insert(
            axum::http::header::AUTHORIZATION,
            HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260102/us-east-1/kms, SignedHeaders=host, Signature=00"),
        );
        let err = check(&verifier, &short, "kms", now).expect_err("short credential");
        assert_eq!(err.code(), "IncompleteSignatureException");
        assert!(
            err.message().starts_with("Credential must have exactly 5"),
            "{err}"
        );

        let mut no_date = good.clone();
        no_date.headers_mut().remove(AMZ_DATE_HEADER);
        let err = check(&verifier, &no_date, "kms", now).expect_err("no date");
        assert_eq!(err.code(), "IncompleteSignatureException");
    }

    #[test]
    fn signing_keys_are_cached_per_scope() {
        let verifier = doc_verifier();
        let now = at("20260102T030500Z");
        let request = botocore_header_request();
        for _ in 0..3 {
            assert!(check(&verifier, &request, "kms", now).is_ok());
        }
        let entry = &verifier.entries[DOC_KEY];
        let keys = entry.keys.read().expect("cache");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].0, "20260102/us-east-1/kms/aws4_request");
    }

    #[test]
    fn the_test_signer_signs_what_the_verifier_accepts() {
        let mut request = Request::builder()
            .method("POST")
            .uri("/")
            .header("host", "localhost")
            .header("x-amz-target", "TrentService.ListKeys")
            .body(b"{}".to_vec())
            .expect("request");
        let now = at("20260102T030405Z");
        sign_for_tests(&mut request, DOC_KEY, DOC_SECRET, "eu-west-1", "kms", now);
        assert_eq!(
            check(&doc_verifier(), &request, "kms", now),
            Ok("AKIAIOSFODNN7EXAMPLE doc user eu-west-1".to_owned())
        );
    }
}
