//! CloudTrail digest files and offline log file integrity validation.
//!
//! Every hour CloudTrail delivers, per account and Region, a digest file
//! (`AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<home-region>_<YYYYMMDDTHHMMSSZ>.json.gz`)
//! that lists the log files delivered in the hour (`logFiles[]`: S3 key and the SHA-256 of
//! the **uncompressed** file) and names the previous digest with the SHA-256 of its
//! uncompressed bytes (`previousDigestS3Object`, `previousDigestHashValue`), so the digests
//! form a chain. [`parse_digest`] reads one; [`validate`] checks a set of digests against
//! the log files at hand, without AWS:
//!
//! - every listed log file is present (matched by file name, with or without `.gz`) and its
//!   uncompressed content has the listed hash ([`IntegrityProblem::MissingFile`],
//!   [`IntegrityProblem::HashMismatch`]);
//! - consecutive digests of a chain (account, Region, trail, home Region) link: the previous
//!   digest named is present when an earlier one is, its bytes have the hash named, and the
//!   periods (`digestStartTime` / `digestEndTime`) are contiguous; a digest starting a new
//!   chain (`previousDigestS3Object` null) after an earlier one, and a digest whose file name
//!   differs from its own `digestS3Object`, also break it ([`IntegrityProblem::ChainBreak`]);
//! - a log file delivered inside a period the digests cover that no digest lists
//!   ([`IntegrityProblem::UnlistedFile`]).
//!
//! What cannot be checked offline: the RSA signature of each digest lives in the S3 object's
//! metadata (`x-amz-meta-signature`), not in the file, so a digest forged together with the
//! log files it lists, and every later digest re-chained, is not detected; nor is the deletion
//! of the newest digests together with their log files (nothing later names them).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Deserialize;

use crate::trail::dates::parse_event_time;

/// The folder of digest files in the S3 layout.
pub const DIGEST_DIR: &str = "CloudTrail-Digest";

/// The part of a digest file's name that marks it.
pub const DIGEST_NAME_MARK: &str = "_CloudTrail-Digest_";

/// The only hash algorithm CloudTrail uses.
pub const HASH_ALGORITHM: &str = "SHA-256";

/// Microseconds per minute: the precision of a log file name's delivery time.
const MINUTE_US: i64 = 60_000_000;

/// Whether a file name or path names a digest file.
pub fn is_digest_name(name: &str) -> bool {
    name.contains(DIGEST_NAME_MARK)
}

/// The last segment of a path or S3 key.
pub fn base_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// The key a log or digest file is matched by: its file name without a final `.gz`, so a
/// file gunzipped after download still matches the `.json.gz` key a digest names.
pub fn match_key(path: &str) -> &str {
    let name = base_name(path);
    name.strip_suffix(".gz").unwrap_or(name)
}

/// The S3-style key of a local file: from its `AWSLogs/` segment on, else its file name.
pub fn s3_key_of(path: &str) -> &str {
    match path.find("AWSLogs/") {
        Some(at) => &path[at..],
        None => base_name(path),
    }
}

/// Account, Regions, trail and end time read from a digest file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestName {
    /// The account the digest belongs to.
    pub account: String,
    /// The Region the digest (and the log files it lists) was delivered from.
    pub region: String,
    /// The trail's name.
    pub trail: String,
    /// The trail's home Region.
    pub home_region: String,
    /// The digest end time (µs since the epoch).
    pub end: i64,
}

impl DigestName {
    /// Parses `<account>_CloudTrail-Digest_<region>_<trail>_<home>_<YYYYMMDDTHHMMSSZ>[_backfill].json[.gz]`
    /// (any directory part is ignored). Trail names may hold underscores; Regions do not.
    pub fn parse(path: &str) -> Option<Self> {
        let name = match_key(path).strip_suffix(".json")?;
        let name = name.strip_suffix("_backfill").unwrap_or(name);
        let (account, rest) = name.split_once(DIGEST_NAME_MARK)?;
        let (region, rest) = rest.split_once('_')?;
        let (rest, stamp) = rest.rsplit_once('_')?;
        let (trail, home_region) = rest.rsplit_once('_')?;
        let end = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%M%SZ").ok()?;
        let valid = !account.is_empty()
            && !region.is_empty()
            && !trail.is_empty()
            && !home_region.is_empty();
        valid.then(|| Self {
            account: account.to_owned(),
            region: region.to_owned(),
            trail: trail.to_owned(),
            home_region: home_region.to_owned(),
            end: end.and_utc().timestamp_micros(),
        })
    }
}

/// Account, Region and delivery time read from a log file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileName {
    /// The account.
    pub account: String,
    /// The Region.
    pub region: String,
    /// The delivery time to the minute (µs since the epoch).
    pub delivered: i64,
}

impl LogFileName {
    /// Parses `<account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<unique>.json[.gz]`.
    pub fn parse(path: &str) -> Option<Self> {
        let name = match_key(path).strip_suffix(".json")?;
        let (account, rest) = name.split_once("_CloudTrail_")?;
        let mut parts = rest.split('_');
        let region = parts.next()?;
        let stamp = parts.next()?;
        let _unique = parts.next()?;
        if parts.next().is_some() || account.is_empty() || region.is_empty() {
            return None;
        }
        let delivered = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%dT%H%MZ").ok()?;
        Some(Self {
            account: account.to_owned(),
            region: region.to_owned(),
            delivered: delivered.and_utc().timestamp_micros(),
        })
    }
}

/// Why a digest file cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DigestError {
    /// Not a JSON digest document, or a member of the wrong type.
    #[error("{file}: not a CloudTrail digest: {source}")]
    Json {
        /// The digest file.
        file: String,
        /// What serde_json found.
        #[source]
        source: serde_json::Error,
    },
    /// A time member that is not a time.
    #[error("{file}: {field}: `{value}` is not a time")]
    BadTime {
        /// The digest file.
        file: String,
        /// The member, as a JSON path (`logFiles[2].oldestEventTime`).
        field: String,
        /// The text found.
        value: String,
    },
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDigest {
    aws_account_id: String,
    digest_start_time: String,
    digest_end_time: String,
    #[serde(default)]
    digest_s3_object: Option<String>,
    #[serde(default)]
    previous_digest_s3_object: Option<String>,
    #[serde(default)]
    previous_digest_hash_value: Option<String>,
    #[serde(default)]
    previous_digest_hash_algorithm: Option<String>,
    log_files: Vec<RawLogFile>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogFile {
    s3_object: String,
    hash_value: String,
    hash_algorithm: String,
    #[serde(default)]
    newest_event_time: Option<String>,
    #[serde(default)]
    oldest_event_time: Option<String>,
}

/// What a digest file says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// `awsAccountId`.
    pub account: String,
    /// `digestStartTime` (µs).
    pub start: i64,
    /// `digestEndTime` (µs).
    pub end: i64,
    /// `digestS3Object`: where the digest itself lives (CloudTrail always writes it; when it
    /// is absent, the file's own key from its `AWSLogs/` segment).
    pub object: String,
    /// `previousDigestS3Object`; `None` for the first digest of a chain.
    pub previous_object: Option<String>,
    /// `previousDigestHashValue`, lowercase hex.
    pub previous_hash: Option<String>,
    /// `previousDigestHashAlgorithm`.
    pub previous_hash_algorithm: Option<String>,
    /// `logFiles`.
    pub log_files: Vec<ListedLogFile>,
}

/// One `logFiles[]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedLogFile {
    /// `s3Object`.
    pub object: String,
    /// `hashValue`, lowercase hex.
    pub hash: String,
    /// `hashAlgorithm`.
    pub algorithm: String,
    /// `oldestEventTime` (µs).
    pub oldest_event: Option<i64>,
    /// `newestEventTime` (µs).
    pub newest_event: Option<i64>,
}

/// Parses the (uncompressed) bytes of digest file `file` (its path, used in errors and as
/// the digest's key when `digestS3Object` is absent).
pub fn parse_digest(file: &str, bytes: &[u8]) -> Result<Digest, DigestError> {
    let raw: RawDigest = serde_json::from_slice(bytes).map_err(|source| DigestError::Json {
        file: file.to_owned(),
        source,
    })?;
    let time = |field: &str, value: &str| {
        parse_event_time(value)
            .map(|t| t.timestamp_micros())
            .ok_or_else(|| DigestError::BadTime {
                file: file.to_owned(),
                field: field.to_owned(),
                value: value.to_owned(),
            })
    };
    let optional_time = |field: String, value: Option<&str>| match value {
        None => Ok(None),
        Some(v) => time(&field, v).map(Some),
    };
    let mut log_files = Vec::with_capacity(raw.log_files.len());
    for (i, entry) in raw.log_files.into_iter().enumerate() {
        log_files.push(ListedLogFile {
            oldest_event: optional_time(
                format!("logFiles[{i}].oldestEventTime"),
                entry.oldest_event_time.as_deref(),
            )?,
            newest_event: optional_time(
                format!("logFiles[{i}].newestEventTime"),
                entry.newest_event_time.as_deref(),
            )?,
            object: entry.s3_object,
            hash: entry.hash_value.to_ascii_lowercase(),
            algorithm: entry.hash_algorithm,
        });
    }
    Ok(Digest {
        account: raw.aws_account_id,
        start: time("digestStartTime", &raw.digest_start_time)?,
        end: time("digestEndTime", &raw.digest_end_time)?,
        object: raw
            .digest_s3_object
            .filter(|o| !o.is_empty())
            .unwrap_or_else(|| s3_key_of(file).to_owned()),
        previous_object: raw.previous_digest_s3_object.filter(|o| !o.is_empty()),
        previous_hash: raw
            .previous_digest_hash_value
            .map(|h| h.to_ascii_lowercase()),
        previous_hash_algorithm: raw.previous_digest_hash_algorithm,
        log_files,
    })
}

/// A digest as validation sees it: what it says, where it was read, the hash of its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestRecord {
    /// The parsed digest.
    pub digest: Digest,
    /// The local file it was read from (as shown to the user).
    pub source: String,
    /// SHA-256 of its uncompressed bytes, lowercase hex.
    pub content_sha256: String,
}

impl DigestRecord {
    /// Account, Regions and trail from the digest's own key, else from its local file name;
    /// the account falls back to `awsAccountId`.
    pub fn name(&self) -> Option<DigestName> {
        DigestName::parse(&self.digest.object).or_else(|| DigestName::parse(&self.source))
    }

    fn chain_key(&self) -> ChainKey {
        match self.name() {
            Some(n) => ChainKey {
                account: n.account,
                region: Some(n.region),
                trail: Some(n.trail),
                home_region: Some(n.home_region),
            },
            None => ChainKey {
                account: self.digest.account.clone(),
                region: None,
                trail: None,
                home_region: None,
            },
        }
    }
}

/// A log file at hand, as validation sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// The local file (as shown to the user).
    pub source: String,
    /// SHA-256 of its uncompressed content, when known.
    pub content_sha256: Option<String>,
}

/// What is wrong, according to the digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IntegrityProblem {
    /// A log file a digest lists is not among the inputs.
    MissingFile,
    /// A log file's uncompressed content does not have the hash its digest lists.
    HashMismatch,
    /// The digest chain does not link (previous digest missing or modified, a period no
    /// digest covers, a restarted chain, a digest not where it says it is).
    ChainBreak,
    /// A log file delivered in a period the digests cover, listed by none.
    UnlistedFile,
}

impl IntegrityProblem {
    /// Every kind.
    pub const ALL: [Self; 4] = [
        Self::MissingFile,
        Self::HashMismatch,
        Self::ChainBreak,
        Self::UnlistedFile,
    ];

    /// The name used in the `log_integrity` view and rule files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingFile => "missing-file",
            Self::HashMismatch => "hash-mismatch",
            Self::ChainBreak => "chain-break",
            Self::UnlistedFile => "unlisted-file",
        }
    }

    /// The kind called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// One integrity problem found by [`validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegrityFinding {
    /// What is wrong.
    pub problem: IntegrityProblem,
    /// The account.
    pub account: Option<String>,
    /// The Region the files were delivered from.
    pub region: Option<String>,
    /// The trail (from the digest's name).
    pub trail: Option<String>,
    /// The S3 key of the file at fault: the log file, or the digest for chain problems.
    pub object: String,
    /// The log file concerned (its S3 key), for log file problems.
    pub log_file: Option<String>,
    /// The digest concerned (its S3 key).
    pub digest_file: Option<String>,
    /// The hash the digest gives.
    pub expected_hash: Option<String>,
    /// The hash of the file at hand.
    pub actual_hash: Option<String>,
    /// The concerned digest's start (µs).
    pub digest_start: Option<i64>,
    /// The concerned digest's end (µs).
    pub digest_end: Option<i64>,
    /// What was found, in words.
    pub detail: String,
    /// The local file that shows it (the digest, or the log file for a modified or unlisted
    /// file).
    pub source_file: String,
}

/// A period in which digests of one account and Region follow each other without a hole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageSegment {
    /// The account.
    pub account: String,
    /// The Region.
    pub region: String,
    /// The first digest's start (µs).
    pub start: i64,
    /// The last digest's end (µs).
    pub end: i64,
}

/// What [`validate`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validation {
    /// Problems, in digest order.
    pub problems: Vec<IntegrityFinding>,
    /// Digests checked.
    pub digests: u64,
    /// `logFiles` entries checked.
    pub log_files_listed: u64,
    /// Of those, present with the listed hash.
    pub log_files_verified: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ChainKey {
    account: String,
    region: Option<String>,
    trail: Option<String>,
    home_region: Option<String>,
}

fn same_hash(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn is_sha256(algorithm: Option<&str>) -> bool {
    algorithm.is_none_or(|a| a.eq_ignore_ascii_case(HASH_ALGORITHM))
}

/// Checks `digests` against the log files at hand (see the module docs).
pub fn validate(digests: &[DigestRecord], logs: &[LogRecord]) -> Validation {
    let mut out = Validation {
        digests: digests.len() as u64,
        ..Validation::default()
    };
    let mut by_name: HashMap<&str, Vec<&LogRecord>> = HashMap::new();
    for log in logs {
        by_name.entry(match_key(&log.source)).or_default().push(log);
    }
    let mut listed: HashSet<&str> = HashSet::new();
    for record in digests {
        let d = &record.digest;
        let name = record.name();
        let base = |problem, object: &str| IntegrityFinding {
            problem,
            account: Some(d.account.clone()),
            region: name.as_ref().map(|n| n.region.clone()),
            trail: name.as_ref().map(|n| n.trail.clone()),
            object: object.to_owned(),
            log_file: None,
            digest_file: Some(d.object.clone()),
            expected_hash: None,
            actual_hash: None,
            digest_start: Some(d.start),
            digest_end: Some(d.end),
            detail: String::new(),
            source_file: record.source.clone(),
        };
        if match_key(&record.source) != match_key(&d.object) {
            out.problems.push(IntegrityFinding {
                detail: format!(
                    "the digest file {} says it is {}: it was moved or renamed",
                    base_name(&record.source),
                    d.object
                ),
                ..base(IntegrityProblem::ChainBreak, &d.object)
            });
        }
        for entry in &d.log_files {
            out.log_files_listed += 1;
            let key = match_key(&entry.object);
            listed.insert(key);
            let at_hand = by_name.get(key).map(Vec::as_slice).unwrap_or_default();
            let log_problem = |problem, detail: String| IntegrityFinding {
                log_file: Some(entry.object.clone()),
                expected_hash: Some(entry.hash.clone()),
                detail,
                ..base(problem, &entry.object)
            };
            if at_hand.is_empty() {
                out.problems.push(log_problem(
                    IntegrityProblem::MissingFile,
                    format!(
                        "listed by the digest ending {} but not among the inputs",
                        rfc(d.end)
                    ),
                ));
                continue;
            }
            if !is_sha256(Some(&entry.algorithm)) {
                out.problems.push(log_problem(
                    IntegrityProblem::HashMismatch,
                    format!(
                        "hash algorithm `{}` is not {HASH_ALGORITHM}: the file cannot be verified",
                        entry.algorithm
                    ),
                ));
                continue;
            }
            if at_hand.iter().any(|l| {
                l.content_sha256
                    .as_deref()
                    .is_some_and(|h| same_hash(h, &entry.hash))
            }) {
                out.log_files_verified += 1;
                continue;
            }
            let known = at_hand.iter().find(|l| l.content_sha256.is_some());
            match known {
                Some(log) => out.problems.push(IntegrityFinding {
                    actual_hash: log.content_sha256.clone(),
                    source_file: log.source.clone(),
                    ..log_problem(
                        IntegrityProblem::HashMismatch,
                        "the uncompressed content differs from what CloudTrail delivered: the file was modified".to_owned(),
                    )
                }),
                None => out.problems.push(log_problem(
                    IntegrityProblem::MissingFile,
                    format!(
                        "{} was ingested but can no longer be read to compute its hash",
                        at_hand[0].source
                    ),
                )),
            }
        }
    }
    check_chains(digests, &mut out);
    check_unlisted(digests, logs, &listed, &mut out);
    out
}

/// The chain checks: each digest against the one before it in its chain.
fn check_chains(digests: &[DigestRecord], out: &mut Validation) {
    let mut chains: BTreeMap<ChainKey, Vec<&DigestRecord>> = BTreeMap::new();
    for record in digests {
        chains.entry(record.chain_key()).or_default().push(record);
    }
    for (key, mut chain) in chains {
        chain.sort_by(|a, b| {
            (a.digest.end, a.digest.start, &a.digest.object).cmp(&(
                b.digest.end,
                b.digest.start,
                &b.digest.object,
            ))
        });
        let position: HashMap<&str, usize> = chain
            .iter()
            .enumerate()
            .map(|(i, r)| (match_key(&r.digest.object), i))
            .collect();
        for (i, record) in chain.iter().enumerate() {
            let d = &record.digest;
            let problem = |detail: String, expected: Option<String>, actual: Option<String>| {
                IntegrityFinding {
                    problem: IntegrityProblem::ChainBreak,
                    account: Some(key.account.clone()),
                    region: key.region.clone(),
                    trail: key.trail.clone(),
                    object: d.object.clone(),
                    log_file: None,
                    digest_file: Some(d.object.clone()),
                    expected_hash: expected,
                    actual_hash: actual,
                    digest_start: Some(d.start),
                    digest_end: Some(d.end),
                    detail,
                    source_file: record.source.clone(),
                }
            };
            let earlier = i.checked_sub(1).map(|j| chain[j]);
            let Some(previous) = &d.previous_object else {
                if let Some(before) = earlier {
                    out.problems.push(problem(
                        format!(
                            "starts a new chain (previousDigestS3Object is null) after the digest ending {}: logging or validation was off{}",
                            rfc(before.digest.end),
                            hole(before.digest.end, d.start)
                        ),
                        None,
                        None,
                    ));
                }
                continue;
            };
            let Some(&j) = position.get(match_key(previous)) else {
                // The first digest at hand names one before the inputs begin: expected.
                if let Some(before) = earlier {
                    out.problems.push(problem(
                        format!(
                            "the previous digest {previous} is not among the inputs (the one at hand before it ends {}){}",
                            rfc(before.digest.end),
                            hole(before.digest.end, d.start)
                        ),
                        d.previous_hash.clone(),
                        None,
                    ));
                }
                continue;
            };
            let prior = chain[j];
            if j >= i {
                out.problems.push(problem(
                    format!(
                        "names as its previous digest {previous}, which ends later ({})",
                        rfc(prior.digest.end)
                    ),
                    d.previous_hash.clone(),
                    Some(prior.content_sha256.clone()),
                ));
                continue;
            }
            if !is_sha256(d.previous_hash_algorithm.as_deref()) {
                out.problems.push(problem(
                    format!(
                        "previousDigestHashAlgorithm `{}` is not {HASH_ALGORITHM}: the chain cannot be verified",
                        d.previous_hash_algorithm.as_deref().unwrap_or_default()
                    ),
                    d.previous_hash.clone(),
                    None,
                ));
            } else if !d
                .previous_hash
                .as_deref()
                .is_some_and(|h| same_hash(h, &prior.content_sha256))
            {
                out.problems.push(problem(
                    format!(
                        "the previous digest {previous} does not have the hash this digest gives: it was modified"
                    ),
                    d.previous_hash.clone(),
                    Some(prior.content_sha256.clone()),
                ));
            }
            if j + 1 < i {
                out.problems.push(problem(
                    format!(
                        "names {previous} as its previous digest, but {} other digest(s) of the chain come between them",
                        i - j - 1
                    ),
                    None,
                    None,
                ));
            }
            if prior.digest.end < d.start {
                out.problems.push(problem(
                    format!(
                        "no digest covers {} to {}: the periods of consecutive digests must touch",
                        rfc(prior.digest.end),
                        rfc(d.start)
                    ),
                    None,
                    None,
                ));
            }
        }
    }
}

/// Log files delivered well inside a period the digests cover that no digest lists.
fn check_unlisted(
    digests: &[DigestRecord],
    logs: &[LogRecord],
    listed: &HashSet<&str>,
    out: &mut Validation,
) {
    let segments = coverage(digests);
    for log in logs {
        let key = match_key(&log.source);
        if listed.contains(key) {
            continue;
        }
        let Some(name) = LogFileName::parse(&log.source) else {
            continue;
        };
        // Delivered at a time within [delivered, delivered + 1 min); a digest lists files
        // delivered in (start, end].
        let covering = segments.iter().find(|s| {
            s.account == name.account
                && s.region == name.region
                && name.delivered > s.start
                && name.delivered + MINUTE_US <= s.end
        });
        if let Some(segment) = covering {
            out.problems.push(IntegrityFinding {
                problem: IntegrityProblem::UnlistedFile,
                account: Some(name.account.clone()),
                region: Some(name.region.clone()),
                trail: None,
                object: s3_key_of(&log.source).to_owned(),
                log_file: Some(s3_key_of(&log.source).to_owned()),
                digest_file: None,
                expected_hash: None,
                actual_hash: log.content_sha256.clone(),
                digest_start: Some(segment.start),
                digest_end: Some(segment.end),
                detail: format!(
                    "delivered {} while digests cover {} to {}, yet no digest lists it: it was not delivered by CloudTrail, or its digest was replaced",
                    rfc(name.delivered),
                    rfc(segment.start),
                    rfc(segment.end)
                ),
                source_file: log.source.clone(),
            });
        }
    }
}

/// The periods the digests of each account and Region cover without a hole, in order.
pub fn coverage(digests: &[DigestRecord]) -> Vec<CoverageSegment> {
    let mut spans: BTreeMap<(String, String), Vec<(i64, i64)>> = BTreeMap::new();
    for record in digests {
        let Some(name) = record.name() else { continue };
        spans
            .entry((name.account, name.region))
            .or_default()
            .push((record.digest.start, record.digest.end));
    }
    let mut out = Vec::new();
    for ((account, region), mut periods) in spans {
        periods.sort_unstable();
        let mut current: Option<(i64, i64)> = None;
        for (start, end) in periods {
            current = match current {
                Some((s, e)) if start <= e => Some((s, e.max(end))),
                Some((s, e)) => {
                    out.push(CoverageSegment {
                        account: account.clone(),
                        region: region.clone(),
                        start: s,
                        end: e,
                    });
                    Some((start, end))
                }
                None => Some((start, end)),
            };
        }
        if let Some((start, end)) = current {
            out.push(CoverageSegment {
                account,
                region,
                start,
                end,
            });
        }
    }
    out
}

/// `micros` as RFC 3339 UTC, to the second.
fn rfc(micros: i64) -> String {
    chrono::DateTime::from_timestamp_micros(micros).map_or_else(
        || micros.to_string(),
        |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    )
}

/// `"; no digest covers A to B"` when `from` < `to`.
fn hole(from: i64, to: i64) -> String {
    if from < to {
        format!("; no digest covers {} to {}", rfc(from), rfc(to))
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest as _, Sha256};

    const ACCOUNT: &str = "111122223333";

    fn sha(bytes: &[u8]) -> String {
        crate::trail::decode::hex(&Sha256::digest(bytes))
    }

    fn at(text: &str) -> i64 {
        parse_event_time(text).expect("time").timestamp_micros()
    }

    fn log_key(stamp: &str, unique: &str) -> String {
        format!(
            "AWSLogs/{ACCOUNT}/CloudTrail/us-east-1/2026/01/02/{ACCOUNT}_CloudTrail_us-east-1_{stamp}_{unique}.json.gz"
        )
    }

    fn digest_key(stamp: &str) -> String {
        format!(
            "AWSLogs/{ACCOUNT}/CloudTrail-Digest/us-east-1/2026/01/02/{ACCOUNT}_CloudTrail-Digest_us-east-1_main_trail_us-east-1_{stamp}.json.gz"
        )
    }

    /// A chain of digests for hours 01..=n of 2026-01-02, each listing one log file.
    fn chain(n: u32) -> (Vec<DigestRecord>, Vec<LogRecord>) {
        let mut digests: Vec<DigestRecord> = Vec::new();
        let mut logs = Vec::new();
        for hour in 1..=n {
            let key = log_key(&format!("20260102T{:02}30Z", hour - 1), "AbCdEfGhIjKlMnOp");
            let content = format!("{{\"Records\":[{hour}]}}");
            logs.push(LogRecord {
                source: format!("/data/{key}"),
                content_sha256: Some(sha(content.as_bytes())),
            });
            let previous = digests.last();
            let digest = Digest {
                account: ACCOUNT.into(),
                start: at(&format!("2026-01-02T{:02}:00:00Z", hour - 1)),
                end: at(&format!("2026-01-02T{hour:02}:00:00Z")),
                object: digest_key(&format!("20260102T{hour:02}0000Z")),
                previous_object: previous.map(|p| p.digest.object.clone()),
                previous_hash: previous.map(|p| p.content_sha256.clone()),
                previous_hash_algorithm: previous.map(|_| HASH_ALGORITHM.into()),
                log_files: vec![ListedLogFile {
                    object: key,
                    hash: sha(content.as_bytes()),
                    algorithm: HASH_ALGORITHM.into(),
                    oldest_event: None,
                    newest_event: None,
                }],
            };
            digests.push(DigestRecord {
                source: format!("/data/{}", digest.object),
                content_sha256: sha(format!("digest {hour}").as_bytes()),
                digest,
            });
        }
        (digests, logs)
    }

    fn kinds(v: &Validation) -> Vec<IntegrityProblem> {
        v.problems.iter().map(|p| p.problem).collect()
    }

    #[test]
    fn names_are_parsed() {
        let name = DigestName::parse("AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your_trail-name_us-east-2_20150817T150131Z.json.gz").expect("digest name");
        assert_eq!(
            (
                name.account.as_str(),
                name.region.as_str(),
                name.trail.as_str(),
                name.home_region.as_str()
            ),
            ("111122223333", "us-east-2", "your_trail-name", "us-east-2")
        );
        assert_eq!(name.end, at("2015-08-17T15:01:31Z"));
        assert!(DigestName::parse("x_CloudTrail-Digest_us-east-2_t_us-east-2_2015.json").is_none());
        let log = LogFileName::parse(
            "111122223333_CloudTrail_us-east-2_20150801T0210Z_Mu0KsOhtH1ar15ZZ.json.gz",
        )
        .expect("log name");
        assert_eq!(log.region, "us-east-2");
        assert_eq!(log.delivered, at("2015-08-01T02:10:00Z"));
        assert!(LogFileName::parse("export.json").is_none());
        assert_eq!(match_key("a/b/c.json.gz"), "c.json");
        assert_eq!(match_key("c.json"), "c.json");
        assert_eq!(s3_key_of("/tmp/x/AWSLogs/1/a.json"), "AWSLogs/1/a.json");
    }

    #[test]
    fn the_aws_documentation_sample_parses() {
        let text = r#"{"awsAccountId":"111122223333","digestStartTime":"2015-08-17T14:01:31Z","digestEndTime":"2015-08-17T15:01:31Z","digestS3Bucket":"S3-bucket-name","digestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T150131Z.json.gz","digestPublicKeyFingerprint":"31e8b5433410dfb61a9dc45cc65b22ff","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":"2015-08-17T14:52:27Z","oldestEventTime":"2015-08-17T14:42:27Z","previousDigestS3Bucket":"S3-bucket-name","previousDigestS3Object":"AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/17/111122223333_CloudTrail-Digest_us-east-2_your-trail-name_us-east-2_20150817T140131Z.json.gz","previousDigestHashValue":"97fb791cf91ffc440d274f8190dbdd9aa09c34432aba82739df18b6d3c13df2d","previousDigestHashAlgorithm":"SHA-256","previousDigestSignature":"50887c","logFiles":[{"s3Bucket":"S3-bucket-name","s3Object":"AWSLogs/111122223333/CloudTrail/us-east-2/2015/08/17/111122223333_CloudTrail_us-east-2_20150817T1445Z_9nYN7gp2eWAJHIfT.json.gz","hashValue":"9bb6196fc6b84d6f075a56548feca262bd99ba3c2de41b618e5b6e22c1fc71f6","hashAlgorithm":"SHA-256","newestEventTime":"2015-08-17T14:52:27Z","oldestEventTime":"2015-08-17T14:42:27Z"}]}"#;
        let d = parse_digest("d.json", text.as_bytes()).expect("parses");
        assert_eq!(d.account, "111122223333");
        assert_eq!(d.end - d.start, 3_600_000_000);
        assert_eq!(d.log_files.len(), 1);
        assert_eq!(
            d.log_files[0].newest_event,
            Some(at("2015-08-17T14:52:27Z"))
        );
        assert!(d.previous_object.is_some());
        // An empty hour and a starting digest: nulls.
        let empty = r#"{"awsAccountId":"1","digestStartTime":"2015-08-17T14:01:31Z","digestEndTime":"2015-08-17T15:01:31Z","digestS3Object":"k","newestEventTime":null,"oldestEventTime":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"logFiles":[]}"#;
        let d = parse_digest("e.json", empty.as_bytes()).expect("parses");
        assert!(d.previous_object.is_none() && d.log_files.is_empty());
        let bare = br#"{"awsAccountId":"1","digestStartTime":"2015-08-17T14:01:31Z","digestEndTime":"2015-08-17T15:01:31Z","logFiles":[]}"#;
        let d = parse_digest("/data/AWSLogs/1/CloudTrail-Digest/x.json.gz", bare).expect("parses");
        assert_eq!(d.object, "AWSLogs/1/CloudTrail-Digest/x.json.gz");
        let err = parse_digest("bad.json", br#"{"Records":[]}"#).expect_err("not a digest");
        assert!(
            err.to_string()
                .starts_with("bad.json: not a CloudTrail digest"),
            "{err}"
        );
        let err = parse_digest(
            "t.json",
            br#"{"awsAccountId":"1","digestStartTime":"soon","digestEndTime":"2015-08-17T15:01:31Z","digestS3Object":"k","logFiles":[]}"#,
        )
        .expect_err("bad time");
        assert_eq!(
            err.to_string(),
            "t.json: digestStartTime: `soon` is not a time"
        );
    }

    #[test]
    fn a_clean_chain_has_no_problem() {
        let (digests, logs) = chain(3);
        let v = validate(&digests, &logs);
        assert!(v.problems.is_empty(), "{:#?}", v.problems);
        assert_eq!(
            (v.digests, v.log_files_listed, v.log_files_verified),
            (3, 3, 3)
        );
        let segments = coverage(&digests);
        assert_eq!(segments.len(), 1);
        assert_eq!(
            (segments[0].start, segments[0].end),
            (at("2026-01-02T00:00:00Z"), at("2026-01-02T03:00:00Z"))
        );
    }

    #[test]
    fn missing_and_modified_log_files() {
        let (digests, mut logs) = chain(3);
        let removed = logs.remove(1);
        logs[1].content_sha256 = Some(sha(b"tampered"));
        let v = validate(&digests, &logs);
        assert_eq!(
            kinds(&v),
            [
                IntegrityProblem::MissingFile,
                IntegrityProblem::HashMismatch
            ]
        );
        assert_eq!(v.problems[0].object, s3_key_of(&removed.source));
        assert_eq!(v.problems[0].source_file, digests[1].source);
        assert_eq!(
            v.problems[1].actual_hash.as_deref(),
            Some(sha(b"tampered").as_str())
        );
        assert_eq!(v.problems[1].source_file, logs[1].source);
        assert_eq!(v.log_files_verified, 1);
    }

    #[test]
    fn a_gunzipped_copy_still_matches() {
        let (digests, mut logs) = chain(1);
        logs[0].source = logs[0].source.trim_end_matches(".gz").to_owned();
        assert!(validate(&digests, &logs).problems.is_empty());
    }

    #[test]
    fn chain_breaks() {
        // A digest in the middle is gone.
        let (mut digests, logs) = chain(3);
        digests.remove(1);
        let v = validate(&digests, &logs);
        assert_eq!(
            kinds(&v),
            [IntegrityProblem::ChainBreak],
            "{:#?}",
            v.problems
        );
        assert!(v.problems[0].detail.contains("not among the inputs"));
        assert!(v.problems[0].detail.contains("no digest covers"));
        // A digest was modified: the next one's previous hash differs.
        let (mut digests, logs) = chain(3);
        digests[1].content_sha256 = sha(b"edited");
        let v = validate(&digests, &logs);
        assert_eq!(kinds(&v), [IntegrityProblem::ChainBreak]);
        assert_eq!(v.problems[0].object, digests[2].digest.object);
        assert_eq!(
            v.problems[0].actual_hash.as_deref(),
            Some(sha(b"edited").as_str())
        );
        // A restarted chain after a pause.
        let (mut digests, logs) = chain(3);
        digests[2].digest.previous_object = None;
        digests[2].digest.start += 1_800_000_000;
        let v = validate(&digests, &logs);
        assert_eq!(kinds(&v), [IntegrityProblem::ChainBreak]);
        assert!(
            v.problems[0].detail.contains("new chain"),
            "{}",
            v.problems[0].detail
        );
        // The first digest at hand naming an earlier one is the start of the inputs.
        let (mut digests, logs) = chain(2);
        digests[0].digest.previous_object = Some(digest_key("20260102T000000Z"));
        digests[0].digest.previous_hash = Some(sha(b"before"));
        assert!(validate(&digests, &logs).problems.is_empty());
        // A digest renamed or moved.
        let (mut digests, logs) = chain(1);
        digests[0].source = "/data/elsewhere.json.gz".into();
        assert_eq!(
            kinds(&validate(&digests, &logs)),
            [IntegrityProblem::ChainBreak]
        );
    }

    #[test]
    fn unlisted_files_inside_the_covered_period() {
        let (digests, mut logs) = chain(3);
        let extra = log_key("20260102T0140Z", "ZZZZZZZZZZZZZZZZ");
        logs.push(LogRecord {
            source: format!("/data/{extra}"),
            content_sha256: Some(sha(b"x")),
        });
        // Delivered after the last digest ends, or at its very edge: not judged.
        for stamp in ["20260102T0300Z", "20260102T0000Z"] {
            logs.push(LogRecord {
                source: format!("/data/{}", log_key(stamp, "YYYYYYYYYYYYYYYY")),
                content_sha256: None,
            });
        }
        let v = validate(&digests, &logs);
        assert_eq!(
            kinds(&v),
            [IntegrityProblem::UnlistedFile],
            "{:#?}",
            v.problems
        );
        assert_eq!(v.problems[0].object, extra);
    }
}
