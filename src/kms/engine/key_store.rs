//! Simulated AWS CloudHSM custom key stores: the engine has no CloudHSM cluster to talk to,
//! so a store is configuration (id, name, cluster, connection state, active HSMs) and the
//! "HSM" is the engine's own key material. Keys created in a store (`Origin` `AWS_CLOUDHSM`)
//! carry the store and cluster ids into `KeyMetadata` and their CloudTrail records.

use serde::{Deserialize, Serialize};

use crate::kms::engine::error::{KmsError, KmsErrorKind};

/// The fewest active HSMs (in different Availability Zones) a cluster needs before KMS
/// creates keys in its key store (`CloudHsmClusterInvalidConfigurationException` doc).
pub const MIN_HSMS_FOR_CREATE_KEY: u32 = 2;

/// `ConnectionState` of a custom key store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConnectionState {
    /// Keys can be created and used.
    #[default]
    Connected,
    /// Being connected.
    Connecting,
    /// Never connected, or disconnected.
    Disconnected,
    /// Being disconnected.
    Disconnecting,
    /// The last connection attempt failed.
    Failed,
}

impl ConnectionState {
    /// The AWS name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Connected => "CONNECTED",
            Self::Connecting => "CONNECTING",
            Self::Disconnected => "DISCONNECTED",
            Self::Disconnecting => "DISCONNECTING",
            Self::Failed => "FAILED",
        }
    }
}

/// One AWS CloudHSM key store, as configured (`CustomKeyStoresListEntry` members plus the
/// owner and Region, which AWS implies from where the store was created).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CustomKeyStore {
    /// `cks-` and 17 hex digits, `cks-1234567890abcdef0`.
    pub custom_key_store_id: String,
    /// The friendly name, unique in the account.
    pub custom_key_store_name: String,
    /// `cluster-` and 11–16 of `[2-7a-zA-Z]`, `cluster-1a23b4cdefg`.
    pub cloud_hsm_cluster_id: String,
    /// Only `CONNECTED` stores accept new keys.
    #[serde(default)]
    pub connection_state: ConnectionState,
    /// The account that owns the store.
    pub account_id: String,
    /// The store's Region.
    pub region: String,
    /// Active HSMs in the cluster; `CreateKey` needs [`MIN_HSMS_FOR_CREATE_KEY`].
    #[serde(default = "default_hsms")]
    pub active_hsms: u32,
}

fn default_hsms() -> u32 {
    MIN_HSMS_FOR_CREATE_KEY
}

impl CustomKeyStore {
    /// A connected store with two HSMs.
    pub fn connected(id: &str, name: &str, cluster_id: &str, account: &str, region: &str) -> Self {
        Self {
            custom_key_store_id: id.to_owned(),
            custom_key_store_name: name.to_owned(),
            cloud_hsm_cluster_id: cluster_id.to_owned(),
            connection_state: ConnectionState::Connected,
            account_id: account.to_owned(),
            region: region.to_owned(),
            active_hsms: MIN_HSMS_FOR_CREATE_KEY,
        }
    }

    /// Checks the id and cluster id against the API model's patterns. The model's cluster
    /// pattern is `cluster-[2-7a-zA-Z]{11,16}`, yet AWS's own examples use
    /// `cluster-1a23b4cdefg`; any 11–16 letters and digits are accepted so that they work.
    pub fn validate(&self) -> Result<(), KmsError> {
        let id_ok = self
            .custom_key_store_id
            .strip_prefix("cks-")
            .is_some_and(|hex| {
                hex.len() == 17
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            });
        if !id_ok {
            return Err(KmsError::validation(
                &self.custom_key_store_id,
                "customKeyStoreId",
                "Member must be cks- followed by 17 lowercase hex digits",
            ));
        }
        let cluster_ok = self
            .cloud_hsm_cluster_id
            .strip_prefix("cluster-")
            .is_some_and(|rest| {
                (11..=16).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
            });
        if !cluster_ok {
            return Err(KmsError::validation(
                &self.cloud_hsm_cluster_id,
                "cloudHsmClusterId",
                "Member must satisfy regular expression pattern: cluster-[2-7a-zA-Z]{11,16}",
            ));
        }
        if self.custom_key_store_name.is_empty() || self.custom_key_store_name.len() > 256 {
            return Err(KmsError::validation(
                &self.custom_key_store_name,
                "customKeyStoreName",
                "Member must have length between 1 and 256",
            ));
        }
        Ok(())
    }

    /// Whether `CreateKey` may put a key in the store now: `CustomKeyStoreInvalidStateException`
    /// unless connected, `CloudHsmClusterInvalidConfigurationException` with fewer than two
    /// active HSMs.
    pub fn accepts_new_keys(&self) -> Result<(), KmsError> {
        if self.connection_state != ConnectionState::Connected {
            return Err(KmsError::new(
                KmsErrorKind::CustomKeyStoreInvalidState,
                format!(
                    "Custom key store {} is {}; keys can be created only in a CONNECTED custom key store.",
                    self.custom_key_store_id,
                    self.connection_state.as_str()
                ),
            ));
        }
        if self.active_hsms < MIN_HSMS_FOR_CREATE_KEY {
            return Err(KmsError::new(
                KmsErrorKind::CloudHsmClusterInvalidConfiguration,
                format!(
                    "The CloudHSM cluster {} must have at least {MIN_HSMS_FOR_CREATE_KEY} active HSMs in different Availability Zones.",
                    self.cloud_hsm_cluster_id
                ),
            ));
        }
        Ok(())
    }
}

/// Where a key in a CloudHSM key store lives: the store, its cluster, and the handle of its
/// backing key in the cluster (the backing key id is the key material id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HsmBacking {
    /// `CustomKeyStoreId`.
    pub custom_key_store_id: String,
    /// `CloudHsmClusterId`.
    pub cloud_hsm_cluster_id: String,
    /// The backing key's handle in the cluster, as CloudTrail writes it (`"19"`).
    pub key_handle: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_the_api_patterns() {
        let good = CustomKeyStore::connected(
            "cks-1234567890abcdef0",
            "ExampleKeyStore",
            "cluster-1a23b4cdefg",
            "111122223333",
            "us-east-1",
        );
        assert!(good.validate().is_ok());
        for (id, cluster) in [
            ("cks-123", "cluster-1a23b4cdefg"),
            ("xyz-1234567890abcdef0", "cluster-1a23b4cdefg"),
            ("cks-1234567890ABCDEF0", "cluster-1a23b4cdefg"),
            ("cks-1234567890abcdef0", "cluster-1a"),
            ("cks-1234567890abcdef0", "cluster-1a23b4cd_fg"),
        ] {
            let mut bad = good.clone();
            bad.custom_key_store_id = id.into();
            bad.cloud_hsm_cluster_id = cluster.into();
            assert!(bad.validate().is_err(), "{id} {cluster}");
        }
    }

    #[test]
    fn only_connected_stores_with_two_hsms_accept_keys() {
        let mut store = CustomKeyStore::connected(
            "cks-1234567890abcdef0",
            "s",
            "cluster-1a23b4cdefg",
            "111122223333",
            "us-east-1",
        );
        assert!(store.accepts_new_keys().is_ok());
        store.active_hsms = 1;
        assert_eq!(
            store.accepts_new_keys().expect_err("one hsm").kind,
            KmsErrorKind::CloudHsmClusterInvalidConfiguration
        );
        store.active_hsms = 2;
        store.connection_state = ConnectionState::Disconnected;
        assert_eq!(
            store.accepts_new_keys().expect_err("disconnected").kind,
            KmsErrorKind::CustomKeyStoreInvalidState
        );
        let parsed: CustomKeyStore = serde_json::from_str(
            r#"{"CustomKeyStoreId":"cks-1234567890abcdef0","CustomKeyStoreName":"s",
                "CloudHsmClusterId":"cluster-1a23b4cdefg","AccountId":"111122223333",
                "Region":"us-east-1"}"#,
        )
        .expect("parse");
        assert_eq!(parsed.connection_state, ConnectionState::Connected);
        assert_eq!(parsed.active_hsms, 2);
    }
}
