//! Deterministic seeding: the configuration's keys (with fixed ids and, for tests, fixed key
//! material), aliases and grants, turned into the engine changes `CreateKey`, `CreateAlias`
//! and `CreateGrant` would make, and installed at start without a call or a record. Seeding
//! is idempotent: what a restored store already holds is left as it is.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};

use crate::kms::crypto::{KeyMaterial, KeyMaterialId, KeySpec, KeyUsage};
use crate::kms::engine::ids::{alias_arn, check_alias_name, key_arn, partition_of, KeyRef};
use crate::kms::engine::ops::create_grant::GRANT_OPERATIONS;
use crate::kms::engine::state::{Alias, Change, Generation, Key, KeyState, Origin, State};
use crate::kms::policy::default_policy::default_key_policy;
use crate::kms::policy::document::PolicyDocument;
use crate::kms::policy::grant::{Grant, GrantConstraints};
use crate::kms::server::config::{SeedAlias, SeedGrant, SeedKey, ServerConfig};

/// Shortest automatic rotation period (days).
pub const MIN_ROTATION_DAYS: u32 = 90;
/// Longest automatic rotation period (days).
pub const MAX_ROTATION_DAYS: u32 = 2560;

/// A seed entry the engine cannot take; `field` is its path in the configuration file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct SeedError {
    /// `seed.keys[0].material_hex`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

fn error(field: String, message: impl Into<String>) -> SeedError {
    SeedError {
        field,
        message: message.into(),
    }
}

/// The changes that create what `config` seeds and `state` does not hold yet, at `now`.
/// Generated key material is drawn from the configuration's `random_seed` (mixed with the key
/// id) when it has one, else from the system.
pub fn seed_changes(
    config: &ServerConfig,
    state: &State,
    now: DateTime<Utc>,
) -> Result<Vec<Change>, SeedError> {
    let mut changes = Vec::new();
    // Key ids to ARNs, for aliases and grants that name a seeded key by id.
    let mut seeded: BTreeMap<&str, String> = BTreeMap::new();
    for (i, spec) in config.seed.keys.iter().enumerate() {
        let field = |name: &str| format!("seed.keys[{i}].{name}");
        let key = build_key(config, spec, now, &field)?;
        seeded
            .entry(spec.id.as_str())
            .or_insert_with(|| key.arn.clone());
        if state.keys.contains_key(&key.arn) || changes.iter().any(|c| puts_key(c, &key.arn)) {
            continue;
        }
        changes.push(Change::PutKey(Box::new(key)));
    }
    let known = |arn: &str, changes: &[Change]| {
        state.keys.contains_key(arn) || changes.iter().any(|c| puts_key(c, arn))
    };
    for (i, alias) in config.seed.aliases.iter().enumerate() {
        let (alias_arn, value) = build_alias(alias, &seeded, now, i)?;
        if !known(&value.key_arn, &changes) {
            return Err(error(
                format!("seed.aliases[{i}].key"),
                format!("no key {} is seeded or stored", alias.key),
            ));
        }
        if state.aliases.contains_key(&alias_arn) {
            continue;
        }
        changes.push(Change::PutAlias {
            alias_arn,
            alias: value,
        });
    }
    for (i, grant) in config.seed.grants.iter().enumerate() {
        let grant = build_grant(grant, &seeded, now, i)?;
        if !known(&grant.key_arn, &changes) {
            return Err(error(
                format!("seed.grants[{i}].key"),
                format!("no key {} is seeded or stored", grant.key_arn),
            ));
        }
        if state.grants.contains_key(&grant.grant_id) {
            continue;
        }
        changes.push(Change::PutGrant(Box::new(grant)));
    }
    Ok(changes)
}

fn puts_key(change: &Change, arn: &str) -> bool {
    matches!(change, Change::PutKey(key) if key.arn == arn)
}

/// A key as `CreateKey` builds it, with the configured id, material and policy.
fn build_key(
    config: &ServerConfig,
    spec: &SeedKey,
    now: DateTime<Utc>,
    field: &dyn Fn(&str) -> String,
) -> Result<Key, SeedError> {
    check_key_id(&spec.id).map_err(|m| error(field("id"), m))?;
    let account = spec
        .account
        .clone()
        .unwrap_or_else(|| config.default_account().to_owned());
    let region = spec
        .region
        .clone()
        .unwrap_or_else(|| config.region().to_owned());
    let arn = key_arn(&region, &account, &spec.id);
    let key_spec: KeySpec = spec
        .spec
        .as_deref()
        .unwrap_or("SYMMETRIC_DEFAULT")
        .parse()
        .map_err(|_| error(field("spec"), "not a KMS KeySpec such as SYMMETRIC_DEFAULT"))?;
    let usage = match &spec.usage {
        Some(text) => text
            .parse::<KeyUsage>()
            .map_err(|_| error(field("usage"), "not a KeyUsage such as ENCRYPT_DECRYPT"))?,
        None => natural_usage(key_spec),
    };
    if !key_spec.allows_usage(usage) {
        return Err(error(
            field("usage"),
            format!(
                "KeyUsage {} is not compatible with KeySpec {}",
                usage.as_str(),
                key_spec.as_str()
            ),
        ));
    }
    let material = match &spec.material_hex {
        Some(text) => {
            let bytes = decode_hex(text)
                .ok_or_else(|| error(field("material_hex"), "not an even number of hex digits"))?;
            let id = KeyMaterialId::from_bytes(&material_id_bytes(&arn, &bytes));
            KeyMaterial::from_storage(key_spec, id, &bytes)
                .map_err(|err| error(field("material_hex"), err.to_string()))?
        }
        None => {
            let mut rng = match config.random_seed {
                Some(seed) => ChaCha20Rng::seed_from_u64(seed ^ fold(&arn)),
                None => ChaCha20Rng::from_rng(&mut rand::rng()),
            };
            KeyMaterial::generate(key_spec, &mut rng)
                .map_err(|err| error(field("spec"), err.to_string()))?
        }
    };
    let policy_text = match &spec.policy {
        Some(policy) => policy.0.clone(),
        None => default_key_policy(&account, partition_of(&region)),
    };
    let policy = PolicyDocument::parse_key_policy(&policy_text)
        .map_err(|err| error(field("policy"), err.to_string()))?;
    let rotation = match spec.rotation_period_days {
        None => None,
        Some(days) if !(MIN_ROTATION_DAYS..=MAX_ROTATION_DAYS).contains(&days) => {
            return Err(error(
                field("rotation_period_days"),
                format!("must be between {MIN_ROTATION_DAYS} and {MAX_ROTATION_DAYS}"),
            ))
        }
        Some(_) if key_spec != KeySpec::SymmetricDefault => {
            return Err(error(
                field("rotation_period_days"),
                "automatic rotation is only for SYMMETRIC_DEFAULT keys",
            ))
        }
        Some(days) => Some(days),
    };
    let description = spec.description.clone().unwrap_or_default();
    Ok(Key {
        id: spec.id.clone(),
        arn,
        account,
        region,
        created: now,
        description,
        spec: key_spec,
        usage,
        origin: Origin::AwsKms,
        state: if spec.enabled {
            KeyState::Enabled
        } else {
            KeyState::Disabled
        },
        deletion_date: None,
        pending_window_days: None,
        multi_region: spec.id.starts_with("mrk-"),
        multi_region_type: spec
            .id
            .starts_with("mrk-")
            .then_some(crate::kms::engine::state::MultiRegionKeyType::Primary),
        hsm: None,
        generations: vec![Generation::first(material, now)],
        pending_material: None,
        rotation_period_days: rotation,
        next_rotation: rotation.map(|days| now + Duration::days(i64::from(days))),
        on_demand_rotations: 0,
        valid_to: None,
        policy,
        tags: spec.tags.clone(),
    })
}

/// The usage a spec is made for when the configuration names none (so that ECC and HMAC keys
/// need no `usage:` line).
fn natural_usage(spec: KeySpec) -> KeyUsage {
    spec.allowed_usages()
        .first()
        .copied()
        .unwrap_or(KeyUsage::EncryptDecrypt)
}

fn build_alias(
    alias: &SeedAlias,
    seeded: &BTreeMap<&str, String>,
    now: DateTime<Utc>,
    i: usize,
) -> Result<(String, Alias), SeedError> {
    check_alias_name(&alias.name)
        .map_err(|e| error(format!("seed.aliases[{i}].name"), e.message))?;
    let key = resolve_key(&alias.key, seeded).ok_or_else(|| {
        error(
            format!("seed.aliases[{i}].key"),
            "not a seeded key id or a key ARN",
        )
    })?;
    let (region, account) = arn_region_account(&key);
    let arn = alias_arn(region, account, &alias.name);
    Ok((
        arn,
        Alias {
            key_arn: key,
            created: now,
            last_updated: now,
        },
    ))
}

fn build_grant(
    grant: &SeedGrant,
    seeded: &BTreeMap<&str, String>,
    now: DateTime<Utc>,
    i: usize,
) -> Result<Grant, SeedError> {
    let field = |name: &str| format!("seed.grants[{i}].{name}");
    let key = resolve_key(&grant.key, seeded)
        .ok_or_else(|| error(field("key"), "not a seeded key id or a key ARN"))?;
    if grant.operations.is_empty() {
        return Err(error(field("operations"), "list at least one operation"));
    }
    if let Some(bad) = grant
        .operations
        .iter()
        .find(|op| !GRANT_OPERATIONS.contains(&op.as_str()))
    {
        return Err(error(
            field("operations"),
            format!("{bad} is not one of {}", GRANT_OPERATIONS.join(", ")),
        ));
    }
    let id = match &grant.id {
        Some(id) if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) => id.clone(),
        Some(_) => return Err(error(field("id"), "a grant id is 64 hex digits")),
        None => {
            let mut hash = Sha256::new();
            for part in [
                key.as_str(),
                grant.grantee_principal.as_str(),
                grant.name.as_deref().unwrap_or_default(),
                &grant.operations.join(","),
            ] {
                hash.update(part.as_bytes());
                hash.update([0]);
            }
            hex(&hash.finalize())
        }
    };
    let constraints = (grant.encryption_context_equals.is_some()
        || grant.encryption_context_subset.is_some())
    .then(|| GrantConstraints {
        encryption_context_equals: grant.encryption_context_equals.clone(),
        encryption_context_subset: grant.encryption_context_subset.clone(),
    });
    let (_, account) = arn_region_account(&key);
    let issuing_account = format!(
        "arn:{}:iam::{account}:root",
        partition_of(arn_region_account(&key).0)
    );
    Ok(Grant {
        grant_id: id,
        key_arn: key.clone(),
        grantee_principal: grant.grantee_principal.clone(),
        retiring_principal: grant.retiring_principal.clone(),
        operations: grant.operations.clone(),
        constraints,
        name: grant.name.clone(),
        issuing_account,
        creation_date: Some(now),
        retired: false,
    })
}

/// A seeded key's id, or a key ARN, as a key ARN.
fn resolve_key(text: &str, seeded: &BTreeMap<&str, String>) -> Option<String> {
    if let Some(arn) = seeded.get(text) {
        return Some(arn.clone());
    }
    match KeyRef::parse(text).ok()? {
        KeyRef::KeyArn {
            region,
            account,
            id,
        } => Some(key_arn(&region, &account, &id)),
        _ => None,
    }
}

/// (Region, account) of a key ARN.
fn arn_region_account(arn: &str) -> (&str, &str) {
    let mut parts = arn.splitn(6, ':');
    let region = parts.nth(3).unwrap_or_default();
    let account = parts.next().unwrap_or_default();
    (region, account)
}

/// A UUID in lowercase 8-4-4-4-12 hex, or `mrk-` and 32 lowercase hex digits.
fn check_key_id(id: &str) -> Result<(), String> {
    let hex_run = |s: &str, n: usize| {
        s.len() == n
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if let Some(rest) = id.strip_prefix("mrk-") {
        return if hex_run(rest, 32) {
            Ok(())
        } else {
            Err(format!("{id:?} is not mrk- and 32 lowercase hex digits"))
        };
    }
    let groups: Vec<&str> = id.split('-').collect();
    let ok = groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| hex_run(g, n));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{id:?} is not a key id (a lowercase UUID such as 1234abcd-12ab-34cd-56ef-1234567890ab)"
        ))
    }
}

/// The material id of fixed material: the same key and bytes always get the same id.
fn material_id_bytes(arn: &str, material: &[u8]) -> [u8; KeyMaterialId::BYTES] {
    let mut hash = Sha256::new();
    hash.update(b"kms-audit seeded key material\0");
    hash.update(arn.as_bytes());
    hash.update([0]);
    hash.update(material);
    hash.finalize().into()
}

fn fold(text: &str) -> u64 {
    let digest = Sha256::digest(text.as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(bytes)
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let text = text.trim();
    if text.len() % 2 != 0 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    const KEY: &str = "1234abcd-12ab-34cd-56ef-1234567890ab";
    const MATERIAL: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn config(text: &str) -> ServerConfig {
        ServerConfig::parse(Path::new("kms.yml"), text).expect("config")
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).expect("time")
    }

    #[test]
    fn keys_aliases_and_grants_become_changes_once() {
        let config = config(&format!(
            r#"
account: "111122223333"
seed:
  keys:
    - {{ id: {KEY}, material_hex: "{MATERIAL}", rotation_period_days: 180, tags: {{ team: a }} }}
    - {{ id: 0000abcd-12ab-34cd-56ef-1234567890ab, spec: HMAC_256 }}
    - {{ id: 1111abcd-12ab-34cd-56ef-1234567890ab, spec: ECC_NIST_P256, enabled: false }}
  aliases:
    - {{ name: alias/app, key: {KEY} }}
  grants:
    - {{ key: {KEY}, grantee_principal: "arn:aws:iam::111122223333:role/app", operations: [Decrypt] }}
"#
        ));
        let changes = seed_changes(&config, &State::default(), now()).expect("changes");
        assert_eq!(changes.len(), 5);
        let mut state = State::default();
        state.apply(changes);
        let arn = format!("arn:aws:kms:us-east-1:111122223333:key/{KEY}");
        let key = &state.keys[&arn];
        assert_eq!(key.state, KeyState::Enabled);
        assert_eq!(key.rotation_period_days, Some(180));
        assert_eq!(key.next_rotation, Some(now() + Duration::days(180)));
        assert_eq!(key.tags["team"], "a");
        assert!(key.policy.text().contains("arn:aws:iam::111122223333:root"));
        let material = key.current().expect("material");
        assert_eq!(material.material.id().len(), 64);
        let hmac = state
            .keys
            .values()
            .find(|k| k.spec == KeySpec::Hmac256)
            .expect("hmac");
        assert_eq!(hmac.usage, KeyUsage::GenerateVerifyMac);
        let ecc = state
            .keys
            .values()
            .find(|k| k.spec == KeySpec::EccNistP256)
            .expect("ecc");
        assert_eq!(
            (ecc.usage, ecc.state),
            (KeyUsage::SignVerify, KeyState::Disabled)
        );
        assert_eq!(
            state.aliases["arn:aws:kms:us-east-1:111122223333:alias/app"].key_arn,
            arn
        );
        let grant = state.grants.values().next().expect("grant");
        assert_eq!(grant.key_arn, arn);
        assert_eq!(grant.grant_id.len(), 64);
        // A second start over the stored state seeds nothing.
        assert!(seed_changes(&config, &state, now())
            .expect("again")
            .is_empty());
    }

    #[test]
    fn fixed_material_gives_the_same_material_id() {
        let config = config(&format!(
            "seed:\n  keys:\n    - {{ id: {KEY}, material_hex: \"{MATERIAL}\" }}\n"
        ));
        let id = |changes: Vec<Change>| match &changes[0] {
            Change::PutKey(key) => key.generations[0].material.id().to_owned(),
            _ => String::new(),
        };
        let a = id(seed_changes(&config, &State::default(), now()).expect("a"));
        let b = id(seed_changes(&config, &State::default(), now()).expect("b"));
        assert_eq!(a, b);
    }

    #[test]
    fn bad_entries_name_their_field() {
        let bad = [
            ("seed:\n  keys:\n    - { id: nope }\n", "seed.keys[0].id"),
            (
                &format!("seed:\n  keys:\n    - {{ id: {KEY}, material_hex: \"00\" }}\n"),
                "seed.keys[0].material_hex",
            ),
            (
                &format!("seed:\n  keys:\n    - {{ id: {KEY}, spec: RSA_2048, rotation_period_days: 365 }}\n"),
                "seed.keys[0].rotation_period_days",
            ),
            (
                &format!("seed:\n  keys:\n    - {{ id: {KEY}, spec: HMAC_256, usage: ENCRYPT_DECRYPT }}\n"),
                "seed.keys[0].usage",
            ),
            (
                "seed:\n  aliases:\n    - { name: alias/x, key: 1234abcd-12ab-34cd-56ef-1234567890ab }\n",
                "seed.aliases[0].key",
            ),
            (
                &format!("seed:\n  keys:\n    - {{ id: {KEY} }}\n  grants:\n    - {{ key: {KEY}, grantee_principal: x, operations: [Explode] }}\n"),
                "seed.grants[0].operations",
            ),
        ];
        for (text, field) in bad {
            let err = seed_changes(&config(text), &State::default(), now()).expect_err(field);
            assert_eq!(err.field, field, "{err}");
        }
    }
}
