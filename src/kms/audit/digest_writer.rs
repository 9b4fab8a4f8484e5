//! CloudTrail digest files for the [`super::FileSink`], as a trail with log file validation
//! writes them: per (account, Region), one digest per period (an hour for CloudTrail) at
//! `AWSLogs/<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/<account>_CloudTrail-Digest_<region>_<trail>_<home-region>_<YYYYMMDDTHHMMSSZ>.json.gz`
//! (the date and time of the period's end), listing the log files delivered in the period
//! with the SHA-256 of their uncompressed bytes, and naming the previous digest with the
//! SHA-256 of its uncompressed bytes. A period without a log file still has its digest
//! (`logFiles: []`), so the chain of an account and Region runs without a hole from its first
//! log file on.
//!
//! The members are those of CloudTrail's documented example, in its order. The digests are
//! **unsigned**: CloudTrail signs each one with a Region's private key (SHA256withRSA) and
//! puts the signature in the S3 object's metadata, which a file on disk does not have, and
//! the mini-KMS has no CloudTrail key whose public half `aws cloudtrail list-public-keys`
//! would return. So `digestPublicKeyFingerprint`, `digestSignatureAlgorithm` and
//! `previousDigestSignature` are `null`; everything else (hashes, chain, periods) is real
//! and is what `kms-audit` validates ([`crate::trail::digest`]).

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use chrono::{DateTime, Duration, DurationRound, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::file_writer::Job;
use super::SinkError;

/// The hash algorithm CloudTrail names.
const SHA_256: &str = "SHA-256";

/// How a sink writes digest files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestConfig {
    /// The period one digest covers: an hour for CloudTrail; whole minutes.
    pub period: Duration,
    /// The trail's name, in digest file names.
    pub trail: String,
    /// The trail's home Region, in digest file names.
    pub home_region: String,
    /// The bucket the digests name (`digestS3Bucket`, `logFiles[].s3Bucket`).
    pub bucket: String,
}

impl DigestConfig {
    /// Hourly digests of trail `trail` (home Region `home_region`) in bucket `bucket`.
    pub fn hourly(trail: &str, home_region: &str, bucket: &str) -> Self {
        Self {
            period: Duration::hours(1),
            trail: trail.to_owned(),
            home_region: home_region.to_owned(),
            bucket: bucket.to_owned(),
        }
    }
}

/// A log file handed to the writer, as its digest lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Delivered {
    /// Its key under the bucket root.
    pub key: String,
    /// SHA-256 of its uncompressed bytes, lowercase hex.
    pub sha256: String,
    /// Its oldest and newest event times.
    pub oldest: DateTime<Utc>,
    pub newest: DateTime<Utc>,
    /// The delivery time in its name.
    pub delivery: DateTime<Utc>,
}

/// One account and Region's chain.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
struct Chain {
    /// Files delivered and not yet listed, in delivery order: a digest takes its files off
    /// the front, so a long backlog (a simulation writes every digest at its end) is not
    /// rescanned for each period.
    pending: VecDeque<Delivered>,
    /// The end of the last digest written.
    until: Option<DateTime<Utc>>,
    /// The last digest written: key and SHA-256 of its bytes.
    previous: Option<(String, String)>,
}

/// Where a sink's digest chains stand, saved between runs of a trail that delivers over
/// time (the mini-KMS server), so that a restart continues each chain (see
/// [`super::FileSink::digest_state`]). Serialized with serde; its members are private.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DigestChainState {
    chains: Vec<SavedChain>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SavedChain {
    account: String,
    region: String,
    chain: Chain,
}

/// The digest chains of a sink.
#[derive(Debug)]
pub(crate) struct Chains {
    config: DigestConfig,
    chains: BTreeMap<(String, String), Chain>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DigestJson<'a> {
    aws_account_id: &'a str,
    digest_start_time: String,
    digest_end_time: String,
    digest_s3_bucket: &'a str,
    digest_s3_object: &'a str,
    digest_public_key_fingerprint: Option<&'a str>,
    digest_signature_algorithm: Option<&'a str>,
    newest_event_time: Option<String>,
    oldest_event_time: Option<String>,
    previous_digest_s3_bucket: Option<&'a str>,
    previous_digest_s3_object: Option<&'a str>,
    previous_digest_hash_value: Option<&'a str>,
    previous_digest_hash_algorithm: Option<&'a str>,
    previous_digest_signature: Option<&'a str>,
    log_files: Vec<LogFileJson<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LogFileJson<'a> {
    s3_bucket: &'a str,
    s3_object: &'a str,
    hash_value: &'a str,
    hash_algorithm: &'a str,
    newest_event_time: String,
    oldest_event_time: String,
}

fn text(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// SHA-256 of `bytes`, lowercase hex.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    crate::trail::decode::hex(&Sha256::digest(bytes))
}

/// The key of a digest file, relative to the bucket root.
pub fn digest_file_key(
    account: &str,
    region: &str,
    trail: &str,
    home_region: &str,
    end: DateTime<Utc>,
) -> String {
    format!(
        "AWSLogs/{account}/CloudTrail-Digest/{region}/{}/{account}_CloudTrail-Digest_{region}_{trail}_{home_region}_{}.json.gz",
        end.format("%Y/%m/%d"),
        end.format("%Y%m%dT%H%M%SZ"),
    )
}

impl Chains {
    /// Chains written with `config` (checked: the period is whole minutes, at least one).
    pub fn new(config: DigestConfig) -> Result<Self, SinkError> {
        if config.period < Duration::minutes(1) || config.period.num_seconds() % 60 != 0 {
            return Err(SinkError::Config(format!(
                "the digest period must be whole minutes, at least one (got {} s)",
                config.period.num_seconds()
            )));
        }
        let name_ok = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        };
        if !name_ok(&config.trail) || !name_ok(&config.home_region) {
            return Err(SinkError::Config(format!(
                "trail name `{}` and home Region `{}` must be letters, digits, `.`, `_` and `-`",
                config.trail, config.home_region
            )));
        }
        Ok(Self {
            config,
            chains: BTreeMap::new(),
        })
    }

    /// Where the chains stand.
    pub fn save(&self) -> DigestChainState {
        DigestChainState {
            chains: self
                .chains
                .iter()
                .map(|((account, region), chain)| SavedChain {
                    account: account.clone(),
                    region: region.clone(),
                    chain: chain.clone(),
                })
                .collect(),
        }
    }

    /// Continues saved chains.
    pub fn resume(&mut self, saved: DigestChainState) {
        for SavedChain {
            account,
            region,
            chain,
        } in saved.chains
        {
            self.chains.insert((account, region), chain);
        }
    }

    /// The end of the last digest of `slot`: a file must be delivered after it.
    pub fn digested_until(&self, slot: &(String, String)) -> Option<DateTime<Utc>> {
        self.chains.get(slot).and_then(|c| c.until)
    }

    /// Notes a log file of `slot` handed to the writer.
    pub fn delivered(&mut self, slot: &(String, String), file: Delivered) {
        let pending = &mut self.chains.entry(slot.clone()).or_default().pending;
        // Files arrive in delivery order as a rule; one that does not goes to its place.
        let at = pending.partition_point(|f| f.delivery <= file.delivery);
        pending.insert(at, file);
    }

    /// The start of the period holding `time`.
    pub fn floor(&self, time: DateTime<Utc>) -> Result<DateTime<Utc>, SinkError> {
        time.duration_trunc(self.config.period)
            .map_err(|err| SinkError::Config(format!("digest period at {time}: {err}")))
    }

    /// The end of the period holding `time` (periods are `(start, end]`).
    pub fn ceil(&self, time: DateTime<Utc>) -> Result<DateTime<Utc>, SinkError> {
        let floor = self.floor(time)?;
        Ok(if floor == time {
            time
        } else {
            floor + self.config.period
        })
    }

    /// The latest delivery not yet listed.
    pub fn last_pending(&self) -> Option<DateTime<Utc>> {
        self.chains
            .values()
            .filter_map(|c| c.pending.back().map(|f| f.delivery))
            .max()
    }

    /// The digests of every period that ends at or before `bound`, for every chain, from
    /// its first log file's period on; `root` is the bucket root the jobs write under.
    pub fn due(&mut self, bound: DateTime<Utc>, root: &Path) -> Result<Vec<Job>, SinkError> {
        let mut jobs = Vec::new();
        let period = self.config.period;
        let keys: Vec<(String, String)> = self.chains.keys().cloned().collect();
        for slot in keys {
            let first = match self.chains.get(&slot) {
                Some(chain) => match (chain.until, chain.pending.front().map(|f| f.delivery)) {
                    (Some(until), _) => until,
                    (None, Some(delivery)) => self.ceil(delivery)? - period,
                    (None, None) => continue,
                },
                None => continue,
            };
            let mut start = first;
            while start + period <= bound {
                let end = start + period;
                let job = self.digest(&slot, start, end, root)?;
                jobs.push(job);
                start = end;
            }
        }
        Ok(jobs)
    }

    /// Writes the digest of `slot` for `(start, end]` into a job and advances the chain.
    fn digest(
        &mut self,
        slot: &(String, String),
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        root: &Path,
    ) -> Result<Job, SinkError> {
        let (account, region) = slot;
        let config = &self.config;
        let chain = self.chains.entry(slot.clone()).or_default();
        let due = chain.pending.partition_point(|f| f.delivery <= end);
        let listed: Vec<Delivered> = chain.pending.drain(..due).collect();
        let key = digest_file_key(account, region, &config.trail, &config.home_region, end);
        let previous = chain.previous.as_ref();
        let document = DigestJson {
            aws_account_id: account,
            digest_start_time: text(start),
            digest_end_time: text(end),
            digest_s3_bucket: &config.bucket,
            digest_s3_object: &key,
            digest_public_key_fingerprint: None,
            digest_signature_algorithm: None,
            newest_event_time: listed.iter().map(|f| f.newest).max().map(text),
            oldest_event_time: listed.iter().map(|f| f.oldest).min().map(text),
            previous_digest_s3_bucket: previous.map(|_| config.bucket.as_str()),
            previous_digest_s3_object: previous.map(|(k, _)| k.as_str()),
            previous_digest_hash_value: previous.map(|(_, h)| h.as_str()),
            previous_digest_hash_algorithm: previous.map(|_| SHA_256),
            previous_digest_signature: None,
            log_files: listed
                .iter()
                .map(|f| LogFileJson {
                    s3_bucket: &config.bucket,
                    s3_object: &f.key,
                    hash_value: &f.sha256,
                    hash_algorithm: SHA_256,
                    newest_event_time: text(f.newest),
                    oldest_event_time: text(f.oldest),
                })
                .collect(),
        };
        let body = serde_json::to_vec(&document)?;
        chain.previous = Some((key.clone(), sha256_hex(&body)));
        chain.until = Some(end);
        Ok(Job {
            path: root.join(&key),
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trail::digest::{parse_digest, validate, DigestRecord, LogRecord};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("time")
            .with_timezone(&Utc)
    }

    fn slot() -> (String, String) {
        ("111122223333".into(), "us-east-1".into())
    }

    fn file(key: &str, body: &[u8], delivery: &str) -> Delivered {
        Delivered {
            key: key.into(),
            sha256: sha256_hex(body),
            oldest: at(delivery) - Duration::minutes(4),
            newest: at(delivery) - Duration::minutes(1),
            delivery: at(delivery),
        }
    }

    #[test]
    fn hourly_digests_chain_and_validate() {
        let mut chains =
            Chains::new(DigestConfig::hourly("main", "us-east-1", "bucket")).expect("config");
        let logs = [
            ("AWSLogs/111122223333/CloudTrail/us-east-1/2026/03/01/111122223333_CloudTrail_us-east-1_20260301T1005Z_aaaaaaaaaaaaaaaa.json.gz", "2026-03-01T10:05:00Z"),
            // On the hour: listed by the digest that ends then.
            ("AWSLogs/111122223333/CloudTrail/us-east-1/2026/03/01/111122223333_CloudTrail_us-east-1_20260301T1100Z_bbbbbbbbbbbbbbbb.json.gz", "2026-03-01T11:00:00Z"),
            // Two empty hours, then one more file.
            ("AWSLogs/111122223333/CloudTrail/us-east-1/2026/03/01/111122223333_CloudTrail_us-east-1_20260301T1330Z_cccccccccccccccc.json.gz", "2026-03-01T13:30:00Z"),
        ];
        for (i, (key, delivery)) in logs.iter().enumerate() {
            chains.delivered(&slot(), file(key, format!("body {i}").as_bytes(), delivery));
        }
        let root = Path::new("/bucket");
        // Only whole periods before the bound.
        let jobs = chains.due(at("2026-03-01T12:00:00Z"), root).expect("due");
        assert_eq!(jobs.len(), 2);
        assert_eq!(
            chains.digested_until(&slot()),
            Some(at("2026-03-01T12:00:00Z"))
        );
        let mut jobs_all = jobs;
        jobs_all.extend(chains.due(at("2026-03-01T14:00:00Z"), root).expect("due"));
        assert_eq!(jobs_all.len(), 4);
        assert!(jobs_all[3].path.ends_with(
            "AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2026/03/01/111122223333_CloudTrail-Digest_us-east-1_main_us-east-1_20260301T140000Z.json.gz"
        ));
        let records: Vec<DigestRecord> = jobs_all
            .iter()
            .map(|job| DigestRecord {
                digest: parse_digest("d", &job.body).expect("parses"),
                source: job.path.display().to_string(),
                content_sha256: sha256_hex(&job.body),
            })
            .collect();
        let counts: Vec<usize> = records.iter().map(|r| r.digest.log_files.len()).collect();
        assert_eq!(counts, [2, 0, 0, 1]);
        assert!(records[0].digest.previous_object.is_none());
        assert_eq!(
            records[0].digest.start,
            at("2026-03-01T10:00:00Z").timestamp_micros()
        );
        let text = String::from_utf8(jobs_all[2].body.clone()).expect("utf8");
        assert!(text.starts_with(r#"{"awsAccountId":"111122223333","digestStartTime":"2026-03-01T12:00:00Z","digestEndTime":"2026-03-01T13:00:00Z","digestS3Bucket":"bucket","#), "{text}");
        assert!(text.contains(r#""digestPublicKeyFingerprint":null,"digestSignatureAlgorithm":null,"newestEventTime":null,"#), "{text}");
        assert!(
            text.ends_with(r#""previousDigestSignature":null,"logFiles":[]}"#),
            "{text}"
        );
        // The chain and the listed hashes hold.
        let logs: Vec<LogRecord> = logs
            .iter()
            .enumerate()
            .map(|(i, (key, _))| LogRecord {
                source: format!("/bucket/{key}"),
                content_sha256: Some(sha256_hex(format!("body {i}").as_bytes())),
            })
            .collect();
        let v = validate(&records, &logs);
        assert!(v.problems.is_empty(), "{:#?}", v.problems);
        assert_eq!(v.log_files_verified, 3);
    }

    #[test]
    fn settings_are_checked() {
        let mut config = DigestConfig::hourly("main", "us-east-1", "b");
        config.period = Duration::seconds(90);
        assert!(Chains::new(config).is_err());
        assert!(Chains::new(DigestConfig::hourly("my trail", "us-east-1", "b")).is_err());
    }
}
