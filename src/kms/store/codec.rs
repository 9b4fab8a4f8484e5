//! How engine entities are written to the store: plain serde types that mirror [`Key`],
//! [`Alias`], [`Grant`] and [`ImportParameters`] member for member, so the engine's types
//! keep their invariants (parsed policies, live key material) and the stored form stays
//! explicit. Key material and wrapping keys are written as bytes (raw AES and HMAC keys,
//! PKCS#8 for RSA and ECC) inside the JSON that the store then seals under the root key; the
//! key policy as its original text, parsed again on load.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use crate::kms::crypto::{
    KeyMaterial, KeyMaterialId, KeySpec, KeyUsage, WrappingAlgorithm, WrappingKeyPair,
    WrappingKeySpec,
};
use crate::kms::engine::key_store::HsmBacking;
use crate::kms::engine::state::{
    Alias, Generation, ImportParameters, Key, KeyState, MultiRegionKeyType, Origin, RotationType,
};
use crate::kms::policy::document::PolicyDocument;
use crate::kms::policy::grant::{Grant, GrantConstraints};

/// Secret bytes: base64 in the (sealed) JSON, zeroized on drop, redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct SecretBytes(Zeroizing<Vec<u8>>);

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes>)", self.0.len())
    }
}

impl Serialize for SecretBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&*self.0));
        serializer.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for SecretBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .map(|bytes| Self(Zeroizing::new(bytes)))
            .map_err(serde::de::Error::custom)
    }
}

/// One generation of key material as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredGeneration {
    spec: KeySpec,
    material_id: String,
    material: SecretBytes,
    since: DateTime<Utc>,
    rotation: Option<RotationType>,
    description: Option<String>,
}

impl StoredGeneration {
    fn from_generation(g: &Generation) -> Self {
        Self {
            spec: g.material.spec(),
            material_id: g.material.id().to_owned(),
            material: SecretBytes(g.material.export_for_storage()),
            since: g.since,
            rotation: g.rotation,
            description: g.description.clone(),
        }
    }

    fn into_generation(self) -> Result<Generation, String> {
        let id: KeyMaterialId = self
            .material_id
            .parse()
            .map_err(|err| format!("key material id: {err}"))?;
        let material = KeyMaterial::from_storage(self.spec, id, &self.material.0)
            .map_err(|err| format!("key material {}: {err}", self.material_id))?;
        Ok(Generation {
            material,
            since: self.since,
            rotation: self.rotation,
            description: self.description,
        })
    }
}

/// Where a key in a CloudHSM key store lives, as stored.
pub(crate) type StoredHsm = HsmBacking;

/// A key as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredKey {
    id: String,
    arn: String,
    account: String,
    region: String,
    created: DateTime<Utc>,
    description: String,
    spec: KeySpec,
    usage: KeyUsage,
    origin: Origin,
    state: KeyState,
    deletion_date: Option<DateTime<Utc>>,
    pending_window_days: Option<u32>,
    multi_region: bool,
    multi_region_type: Option<MultiRegionKeyType>,
    hsm: Option<StoredHsm>,
    generations: Vec<StoredGeneration>,
    pending_material: Option<StoredGeneration>,
    rotation_period_days: Option<u32>,
    next_rotation: Option<DateTime<Utc>>,
    on_demand_rotations: u32,
    valid_to: Option<DateTime<Utc>>,
    /// The policy text as given; parsed again on load.
    policy: String,
    tags: BTreeMap<String, String>,
}

impl StoredKey {
    pub fn from_key(key: &Key) -> Self {
        Self {
            id: key.id.clone(),
            arn: key.arn.clone(),
            account: key.account.clone(),
            region: key.region.clone(),
            created: key.created,
            description: key.description.clone(),
            spec: key.spec,
            usage: key.usage,
            origin: key.origin,
            state: key.state,
            deletion_date: key.deletion_date,
            pending_window_days: key.pending_window_days,
            multi_region: key.multi_region,
            multi_region_type: key.multi_region_type,
            hsm: key.hsm.clone(),
            generations: key
                .generations
                .iter()
                .map(StoredGeneration::from_generation)
                .collect(),
            pending_material: key
                .pending_material
                .as_ref()
                .map(StoredGeneration::from_generation),
            rotation_period_days: key.rotation_period_days,
            next_rotation: key.next_rotation,
            on_demand_rotations: key.on_demand_rotations,
            valid_to: key.valid_to,
            policy: key.policy.text().to_owned(),
            tags: key.tags.clone(),
        }
    }

    pub fn into_key(self) -> Result<Key, String> {
        // The policy was validated when it was set: parse with the general grammar only, so
        // a stricter rule added later cannot make a stored key unreadable.
        let policy =
            PolicyDocument::parse(&self.policy).map_err(|err| format!("key policy: {err}"))?;
        let generations = self
            .generations
            .into_iter()
            .map(StoredGeneration::into_generation)
            .collect::<Result<Vec<_>, _>>()?;
        let pending_material = self
            .pending_material
            .map(StoredGeneration::into_generation)
            .transpose()?;
        Ok(Key {
            id: self.id,
            arn: self.arn,
            account: self.account,
            region: self.region,
            created: self.created,
            description: self.description,
            spec: self.spec,
            usage: self.usage,
            origin: self.origin,
            state: self.state,
            deletion_date: self.deletion_date,
            pending_window_days: self.pending_window_days,
            multi_region: self.multi_region,
            multi_region_type: self.multi_region_type,
            hsm: self.hsm,
            generations,
            pending_material,
            rotation_period_days: self.rotation_period_days,
            next_rotation: self.next_rotation,
            on_demand_rotations: self.on_demand_rotations,
            valid_to: self.valid_to,
            policy,
            tags: self.tags,
        })
    }
}

/// A grant as stored: every member, at full precision (the API form of [`Grant`] writes its
/// creation date in whole seconds and leaves out `retired`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredGrant {
    grant_id: String,
    key_arn: String,
    grantee_principal: String,
    retiring_principal: Option<String>,
    operations: Vec<String>,
    constraints: Option<GrantConstraints>,
    name: Option<String>,
    issuing_account: String,
    creation_date: Option<DateTime<Utc>>,
    retired: bool,
}

impl StoredGrant {
    pub fn from_grant(g: &Grant) -> Self {
        Self {
            grant_id: g.grant_id.clone(),
            key_arn: g.key_arn.clone(),
            grantee_principal: g.grantee_principal.clone(),
            retiring_principal: g.retiring_principal.clone(),
            operations: g.operations.clone(),
            constraints: g.constraints.clone(),
            name: g.name.clone(),
            issuing_account: g.issuing_account.clone(),
            creation_date: g.creation_date,
            retired: g.retired,
        }
    }

    pub fn into_grant(self) -> Grant {
        Grant {
            grant_id: self.grant_id,
            key_arn: self.key_arn,
            grantee_principal: self.grantee_principal,
            retiring_principal: self.retiring_principal,
            operations: self.operations,
            constraints: self.constraints,
            name: self.name,
            issuing_account: self.issuing_account,
            creation_date: self.creation_date,
            retired: self.retired,
        }
    }
}

/// Import parameters as stored: the wrapping key pair as PKCS#8.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoredImport {
    key_arn: String,
    algorithm: WrappingAlgorithm,
    wrapping_spec: WrappingKeySpec,
    wrapping_key: SecretBytes,
    valid_to: DateTime<Utc>,
}

impl StoredImport {
    pub fn from_import(p: &ImportParameters) -> Self {
        Self {
            key_arn: p.key_arn.clone(),
            algorithm: p.algorithm,
            wrapping_spec: p.wrapping_key.spec(),
            wrapping_key: SecretBytes(p.wrapping_key.export_for_storage()),
            valid_to: p.valid_to,
        }
    }

    pub fn into_import(self) -> Result<ImportParameters, String> {
        let pair = WrappingKeyPair::from_storage(self.wrapping_spec, &self.wrapping_key.0)
            .map_err(|err| format!("wrapping key: {err}"))?;
        Ok(ImportParameters {
            key_arn: self.key_arn,
            algorithm: self.algorithm,
            wrapping_key: Arc::new(pair),
            valid_to: self.valid_to,
        })
    }
}

/// An entity on its way to the store (cloned from a change, encoded by the committer).
#[derive(Debug, Clone)]
pub(crate) enum Entity {
    Key(Box<Key>),
    Alias(Alias),
    Grant(Box<Grant>),
    Import(Box<ImportParameters>),
}

impl Entity {
    /// The JSON the store seals.
    pub fn encode(&self) -> Result<Zeroizing<Vec<u8>>, serde_json::Error> {
        let bytes = match self {
            Self::Key(key) => serde_json::to_vec(&StoredKey::from_key(key))?,
            Self::Alias(alias) => serde_json::to_vec(alias)?,
            Self::Grant(grant) => serde_json::to_vec(&StoredGrant::from_grant(grant))?,
            Self::Import(import) => serde_json::to_vec(&StoredImport::from_import(import))?,
        };
        Ok(Zeroizing::new(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug_and_base64_in_json() {
        let secret = SecretBytes(Zeroizing::new(vec![0xde, 0xad, 0xbe, 0xef]));
        assert_eq!(format!("{secret:?}"), "SecretBytes(<4 bytes>)");
        let json = serde_json::to_string(&secret).expect("json");
        assert_eq!(json, "\"3q2+7w==\"");
        let back: SecretBytes = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, secret);
    }
}
