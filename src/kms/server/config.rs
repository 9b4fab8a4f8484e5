//! The server's configuration file (YAML): the default Region, the SigV4 access keys and the
//! IAM identities they stand for, identity policies, the keys, aliases and grants to seed, the
//! trail and the store. Read once at start; errors name the file and the field.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The Region a request is in when nothing says otherwise (and the trail's home Region).
pub const DEFAULT_REGION: &str = "us-east-1";
/// How often records are delivered to the trail directory: CloudTrail's five minutes.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// How often due rotations, deletions and material expiries run.
pub const DEFAULT_LIFECYCLE_INTERVAL: Duration = Duration::from_secs(60);
/// The address the server listens on by default (loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4599";
/// The data directory when neither `--data-dir` nor `store.data_dir` names one.
pub const DEFAULT_DATA_DIR: &str = "kms-data";
/// The trail directory when neither `--trail-dir` nor `trail.dir` names one.
pub const DEFAULT_TRAIL_DIR: &str = "kms-trail";
/// The access key of the built-in credential used when no configuration file is given.
pub const DEFAULT_ACCESS_KEY_ID: &str = "test";
/// Its secret.
pub const DEFAULT_SECRET_ACCESS_KEY: &str = "test";
/// The account of the built-in credential.
pub const DEFAULT_ACCOUNT: &str = "111122223333";
/// The IAM user of the built-in credential.
pub const DEFAULT_USER: &str = "admin";

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{}: cannot be read: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A field is missing, has the wrong type or a bad value.
    #[error("{}{location}: {field}: {message}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// `:line:column` when known.
        location: String,
        /// The field, as a path (`credentials[1].secret_access_key`).
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// The configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The default Region (requests are in the Region their signature is scoped to; the
    /// trail's home Region and seeded keys default to this one).
    #[serde(default)]
    pub region: Option<String>,
    /// The account that receives the records of requests no known access key signed
    /// (missing or unknown credentials); default: the first credential's account.
    #[serde(default)]
    pub account: Option<String>,
    /// The address to listen on (`--listen` wins).
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// SigV4 access keys and the identities they stand for.
    #[serde(default)]
    pub credentials: Vec<CredentialConfig>,
    /// IAM identity policies by principal ARN (a user or role ARN): each a policy document,
    /// as a YAML map or as JSON text.
    #[serde(default)]
    pub identity_policies: BTreeMap<String, Vec<PolicyText>>,
    /// Keys, aliases and grants created at start.
    #[serde(default)]
    pub seed: SeedConfig,
    /// Where and how often the CloudTrail trail is delivered.
    #[serde(default)]
    pub trail: TrailConfig,
    /// The durable store.
    #[serde(default)]
    pub store: StoreConfig,
    /// How often due rotations, deletions and key-material expiries run (`60s` by default).
    #[serde(default, deserialize_with = "optional_duration")]
    pub lifecycle_interval: Option<Duration>,
    /// For trying out timelines: the engine's clock runs this far ahead of the system clock
    /// (`400d` makes a yearly rotation due). Signatures are still checked against real time.
    #[serde(default, deserialize_with = "optional_duration")]
    pub clock_offset: Option<Duration>,
    /// Seed of the engine's ids and generated key material on a fresh store (a restarted
    /// server never reuses it); without it they are random.
    #[serde(default)]
    pub random_seed: Option<u64>,
}

/// One access key.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialConfig {
    /// The access key id (`AKIA…` for users, `ASIA…` for role sessions by AWS's
    /// convention; any text is accepted).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token a temporary credential must be sent with.
    #[serde(default)]
    pub session_token: Option<String>,
    /// The identity's account (12 digits).
    pub account: String,
    /// An IAM user name: the key is that user's.
    #[serde(default)]
    pub user: Option<String>,
    /// A role name: the key is a session of that role (with `session`).
    #[serde(default)]
    pub role: Option<String>,
    /// The role session name (default: the access key id).
    #[serde(default)]
    pub session: Option<String>,
    /// When the role session was issued (`creationDate`; default: server start).
    #[serde(default)]
    pub session_issued: Option<DateTime<Utc>>,
    /// `true`: the key is the account root user's.
    #[serde(default)]
    pub root: bool,
    /// The account's organization (`aws:PrincipalOrgID`).
    #[serde(default)]
    pub org_id: Option<String>,
}

/// A policy document: a YAML/JSON map, or its JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyText(pub String);

impl<'de> Deserialize<'de> for PolicyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => Ok(Self(text)),
            map @ Value::Object(_) => Ok(Self(map.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "a policy is a map or JSON text, not {other}"
            ))),
        }
    }
}

/// What to create at start. Existing keys, aliases and grants (from an earlier run) are left
/// as they are.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedConfig {
    /// Keys with fixed ids.
    #[serde(default)]
    pub keys: Vec<SeedKey>,
    /// Aliases.
    #[serde(default)]
    pub aliases: Vec<SeedAlias>,
    /// Grants.
    #[serde(default)]
    pub grants: Vec<SeedGrant>,
}

/// A key to seed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedKey {
    /// The key id (a UUID, or `mrk-` and 32 hex digits).
    pub id: String,
    /// The owner account (default: `account`, else the first credential's).
    #[serde(default)]
    pub account: Option<String>,
    /// The Region (default: `region`).
    #[serde(default)]
    pub region: Option<String>,
    /// `KeySpec` (default `SYMMETRIC_DEFAULT`).
    #[serde(default)]
    pub spec: Option<String>,
    /// `KeyUsage` (default: `ENCRYPT_DECRYPT`, or `SIGN_VERIFY` for ECC, `GENERATE_VERIFY_MAC`
    /// for HMAC keys).
    #[serde(default)]
    pub usage: Option<String>,
    /// `Description`.
    #[serde(default)]
    pub description: Option<String>,
    /// Fixed key material, hex: 32 bytes for `SYMMETRIC_DEFAULT`, the key bytes for HMAC, a
    /// PKCS#8 DER private key for RSA and ECC. For tests; default: generated.
    #[serde(default)]
    pub material_hex: Option<String>,
    /// The key policy (default: the default key policy).
    #[serde(default)]
    pub policy: Option<PolicyText>,
    /// Turns on automatic rotation with this period (90–2560 days).
    #[serde(default)]
    pub rotation_period_days: Option<u32>,
    /// `false` seeds the key disabled.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Tags.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// An alias to seed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedAlias {
    /// `alias/…`.
    pub name: String,
    /// The key: a seeded key's id, or a key ARN.
    pub key: String,
}

/// A grant to seed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeedGrant {
    /// The grant id (64 hex digits; default: derived from the key, grantee and name).
    #[serde(default)]
    pub id: Option<String>,
    /// The key: a seeded key's id, or a key ARN.
    pub key: String,
    /// Who gets the permissions (an ARN or a service principal).
    pub grantee_principal: String,
    /// Who may retire the grant.
    #[serde(default)]
    pub retiring_principal: Option<String>,
    /// The operations allowed (`Decrypt`, `GenerateDataKey`, …).
    pub operations: Vec<String>,
    /// The grant's name.
    #[serde(default)]
    pub name: Option<String>,
    /// The request's encryption context must be exactly this.
    #[serde(default)]
    pub encryption_context_equals: Option<BTreeMap<String, String>>,
    /// The request's encryption context must include these pairs.
    #[serde(default)]
    pub encryption_context_subset: Option<BTreeMap<String, String>>,
}

/// The CloudTrail trail the server delivers.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrailConfig {
    /// The trail directory (`--trail-dir` wins; default `kms-trail`).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// How often records are delivered (`5m` by default, like CloudTrail).
    #[serde(default, deserialize_with = "optional_duration")]
    pub flush_interval: Option<Duration>,
    /// The trail name in digest files (default `kms-audit`).
    #[serde(default)]
    pub name: Option<String>,
    /// The S3 bucket named in digest files (default `kms-audit-trail`).
    #[serde(default)]
    pub bucket: Option<String>,
    /// How long events stay readable by `LookupEvents` (default 90 days, as event history).
    #[serde(default)]
    pub retention_days: Option<u32>,
}

/// The durable store.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The data directory (`--data-dir` wins; default `kms-data`).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// The file holding the root key (`--root-key-file` wins; else `KMS_AUDIT_ROOT_KEY`).
    #[serde(default)]
    pub root_key_file: Option<PathBuf>,
}

fn yes() -> bool {
    true
}

impl ServerConfig {
    /// Reads the configuration file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses configuration `text`; `file` names it in errors.
    pub fn parse(file: &Path, text: &str) -> Result<Self, ConfigError> {
        let invalid = |location: String, field: String, message: String| ConfigError::Invalid {
            file: file.to_owned(),
            location,
            field,
            message,
        };
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        let config: ServerConfig =
            serde_path_to_error::deserialize(deserializer).map_err(|err| {
                let field = err.path().to_string();
                let inner = err.into_inner();
                let location = inner
                    .location()
                    .map(|l| format!(":{}:{}", l.line(), l.column()))
                    .unwrap_or_default();
                invalid(location, field, inner.to_string())
            })?;
        config
            .validate()
            .map_err(|(field, message)| invalid(String::new(), field, message))?;
        Ok(config)
    }

    /// The configuration used without a file: the built-in credential `test`/`test`, an
    /// IAM user `admin` of account 111122223333 allowed every KMS action by its identity
    /// policy.
    pub fn builtin() -> Self {
        let admin = format!("arn:aws:iam::{DEFAULT_ACCOUNT}:user/{DEFAULT_USER}");
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{ "Effect": "Allow", "Action": "kms:*", "Resource": "*" }]
        });
        Self {
            credentials: vec![CredentialConfig {
                access_key_id: DEFAULT_ACCESS_KEY_ID.to_owned(),
                secret_access_key: DEFAULT_SECRET_ACCESS_KEY.to_owned(),
                account: DEFAULT_ACCOUNT.to_owned(),
                user: Some(DEFAULT_USER.to_owned()),
                ..CredentialConfig::default()
            }],
            identity_policies: [(admin, vec![PolicyText(policy.to_string())])].into(),
            ..Self::default()
        }
    }

    /// The default Region.
    pub fn region(&self) -> &str {
        self.region.as_deref().unwrap_or(DEFAULT_REGION)
    }

    /// The account of unattributed records and of seeded keys without one.
    pub fn default_account(&self) -> &str {
        self.account
            .as_deref()
            .or_else(|| self.credentials.first().map(|c| c.account.as_str()))
            .unwrap_or(DEFAULT_ACCOUNT)
    }

    /// Checks what serde cannot: one identity per credential, unique access keys, plausible
    /// accounts and Regions. The error is (field path, message).
    fn validate(&self) -> Result<(), (String, String)> {
        if let Some(region) = &self.region {
            check_region("region", region)?;
        }
        if let Some(account) = &self.account {
            check_account("account", account)?;
        }
        let mut seen = std::collections::HashSet::new();
        for (i, c) in self.credentials.iter().enumerate() {
            let field = |name: &str| format!("credentials[{i}].{name}");
            if c.access_key_id.is_empty() {
                return Err((field("access_key_id"), "must not be empty".into()));
            }
            if !seen.insert(c.access_key_id.as_str()) {
                return Err((
                    field("access_key_id"),
                    format!("{} is listed twice", c.access_key_id),
                ));
            }
            if c.secret_access_key.is_empty() {
                return Err((field("secret_access_key"), "must not be empty".into()));
            }
            check_account(&field("account"), &c.account)?;
            let kinds =
                usize::from(c.user.is_some()) + usize::from(c.role.is_some()) + usize::from(c.root);
            if kinds != 1 {
                return Err((
                    field("user"),
                    "give exactly one of `user: NAME`, `role: NAME` (with `session`) or `root: true`"
                        .into(),
                ));
            }
            if c.session.is_some() && c.role.is_none() {
                return Err((field("session"), "a session needs `role`".into()));
            }
        }
        for (i, key) in self.seed.keys.iter().enumerate() {
            if let Some(region) = &key.region {
                check_region(&format!("seed.keys[{i}].region"), region)?;
            }
            if let Some(account) = &key.account {
                check_account(&format!("seed.keys[{i}].account"), account)?;
            }
        }
        Ok(())
    }
}

fn check_account(field: &str, account: &str) -> Result<(), (String, String)> {
    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err((
            field.to_owned(),
            format!("{account:?} is not a 12-digit AWS account id"),
        ))
    }
}

fn check_region(field: &str, region: &str) -> Result<(), (String, String)> {
    // `RegionType`: ^([a-z]+-){2,3}\d+$
    let parts: Vec<&str> = region.split('-').collect();
    let ok = (3..=4).contains(&parts.len())
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts
            .last()
            .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err((
            field.to_owned(),
            format!("{region:?} is not an AWS Region name such as us-east-1"),
        ))
    }
}

/// A duration as `90s`, `5m`, `2h`, `400d` or a number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    number.checked_mul(seconds).map(Duration::from_secs)
}

fn optional_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Seconds(u64),
        Text(String),
    }
    match Option::<Raw>::deserialize(d)? {
        None => Ok(None),
        Some(Raw::Seconds(s)) => Ok(Some(Duration::from_secs(s))),
        Some(Raw::Text(text)) => parse_duration(&text).map(Some).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "{text:?} is not a duration such as 30s, 5m, 2h or 400d"
            ))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
region: eu-west-1
credentials:
  - access_key_id: AKIAEXAMPLEALICE0001
    secret_access_key: alice-secret
    account: "111122223333"
    user: alice
  - access_key_id: ASIAEXAMPLEDEPLOY001
    secret_access_key: deploy-secret
    account: "111122223333"
    role: deployer
    session: ci-42
identity_policies:
  "arn:aws:iam::111122223333:user/alice":
    - Version: "2012-10-17"
      Statement: [{ Effect: Allow, Action: "kms:*", Resource: "*" }]
    - '{"Version":"2012-10-17","Statement":[]}'
seed:
  keys:
    - id: 1234abcd-12ab-34cd-56ef-1234567890ab
      material_hex: "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
  aliases:
    - { name: alias/app, key: 1234abcd-12ab-34cd-56ef-1234567890ab }
trail: { dir: /tmp/trail, flush_interval: 2s }
lifecycle_interval: 1m
clock_offset: 400d
"#;

    #[test]
    fn the_example_reads() {
        let config = ServerConfig::parse(Path::new("kms.yml"), EXAMPLE).expect("config");
        assert_eq!(config.region(), "eu-west-1");
        assert_eq!(config.default_account(), "111122223333");
        assert_eq!(config.credentials.len(), 2);
        assert_eq!(config.credentials[1].role.as_deref(), Some("deployer"));
        let policies = &config.identity_policies["arn:aws:iam::111122223333:user/alice"];
        assert!(policies[0].0.contains("\"Action\":\"kms:*\""));
        assert_eq!(policies[1].0, r#"{"Version":"2012-10-17","Statement":[]}"#);
        assert_eq!(config.trail.flush_interval, Some(Duration::from_secs(2)));
        assert_eq!(config.lifecycle_interval, Some(Duration::from_secs(60)));
        assert_eq!(config.clock_offset, Some(Duration::from_secs(400 * 86_400)));
        assert!(config.seed.keys[0].enabled);
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let text = "credentials:\n  - access_key_id: A\n    secret_access_key: s\n    account: \"111122223333\"\n    user: u\n    colour: blue\n";
        let err = ServerConfig::parse(Path::new("kms.yml"), text).expect_err("unknown field");
        let message = err.to_string();
        assert!(message.starts_with("kms.yml:"), "{message}");
        assert!(message.contains("credentials[0]"), "{message}");
        assert!(message.contains("colour"), "{message}");

        let text = "credentials:\n  - { access_key_id: A, secret_access_key: s, account: \"1\", user: u }\n";
        let err = ServerConfig::parse(Path::new("kms.yml"), text).expect_err("bad account");
        assert!(err.to_string().contains("credentials[0].account"), "{err}");

        let text = "credentials:\n  - { access_key_id: A, secret_access_key: s, account: \"111122223333\", user: u, role: r }\n";
        let err = ServerConfig::parse(Path::new("kms.yml"), text).expect_err("two identities");
        assert!(err.to_string().contains("exactly one"), "{err}");

        let err = ServerConfig::parse(Path::new("kms.yml"), "trail: { flush_interval: soon }")
            .expect_err("bad duration");
        assert!(err.to_string().contains("trail.flush_interval"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Some(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("5 minutes"), None);
        assert_eq!(parse_duration(""), None);
    }
}
