//! A key inventory snapshot (`--inventory FILE`): what DescribeKey, GetKeyRotationStatus and
//! GetKeyPolicy said about each key at one time. It covers keys created before the logs
//! begin; the events replayed after it take precedence.

use std::path::Path;

use serde::Deserialize;

/// Why an inventory file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    /// The file cannot be read.
    #[error("{file}: cannot be read: {source}")]
    Io {
        /// The file.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not an inventory.
    #[error("{file}: not a key inventory: {source}")]
    Format {
        /// The file.
        file: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A time that is not RFC 3339.
    #[error("{file}: keys[{index}].{field}: `{value}` is not an RFC 3339 time")]
    Time {
        /// The file.
        file: String,
        /// The key's position.
        index: usize,
        /// The field.
        field: &'static str,
        /// The text.
        value: String,
    },
}

/// One key of the snapshot. Times are RFC 3339 texts in the file.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InventoryKey {
    /// The key ARN.
    pub arn: String,
    /// `CreationDate`.
    #[serde(default)]
    pub created: Option<String>,
    /// `KeySpec`.
    #[serde(default)]
    pub key_spec: Option<String>,
    /// `KeyUsage`.
    #[serde(default)]
    pub key_usage: Option<String>,
    /// `Origin`.
    #[serde(default)]
    pub origin: Option<String>,
    /// `KeyManager`.
    #[serde(default)]
    pub key_manager: Option<String>,
    /// `CustomKeyStoreId`.
    #[serde(default)]
    pub custom_key_store_id: Option<String>,
    /// `MultiRegion`.
    #[serde(default)]
    pub multi_region: Option<bool>,
    /// `KeyState`.
    #[serde(default)]
    pub state: Option<String>,
    /// `KeyRotationEnabled`.
    #[serde(default)]
    pub rotation_enabled: Option<bool>,
    /// `RotationPeriodInDays`.
    #[serde(default)]
    pub rotation_period_days: Option<i64>,
    /// The latest rotation (ListKeyRotations) or material import.
    #[serde(default)]
    pub last_material_change: Option<String>,
    /// `ValidTo` of imported material.
    #[serde(default)]
    pub valid_to: Option<String>,
    /// The key policy text.
    #[serde(default)]
    pub policy: Option<String>,
}

/// The snapshot file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryFile {
    #[serde(default)]
    taken: Option<String>,
    keys: Vec<InventoryKey>,
}

/// A key inventory snapshot.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    /// When it was taken (µs).
    pub as_of: Option<i64>,
    /// The keys.
    pub keys: Vec<InventoryKey>,
    /// Times parsed, per key: (created, last material change, valid to) in µs.
    pub times: Vec<(Option<i64>, Option<i64>, Option<i64>)>,
}

fn parse_time(text: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.timestamp_micros())
}

impl Inventory {
    /// Reads `path`.
    pub fn read(path: &Path) -> Result<Self, InventoryError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| InventoryError::Io {
            file: file.clone(),
            source,
        })?;
        Self::parse(&file, &text)
    }

    /// Reads the text of inventory `file`.
    pub fn parse(file: &str, text: &str) -> Result<Self, InventoryError> {
        let raw: InventoryFile =
            serde_json::from_str(text).map_err(|source| InventoryError::Format {
                file: file.to_owned(),
                source,
            })?;
        let time = |index: usize, field: &'static str, value: &Option<String>| match value {
            None => Ok(None),
            Some(v) => parse_time(v).map(Some).ok_or_else(|| InventoryError::Time {
                file: file.to_owned(),
                index,
                field,
                value: v.clone(),
            }),
        };
        let mut times = Vec::with_capacity(raw.keys.len());
        for (i, key) in raw.keys.iter().enumerate() {
            times.push((
                time(i, "created", &key.created)?,
                time(i, "last_material_change", &key.last_material_change)?,
                time(i, "valid_to", &key.valid_to)?,
            ));
        }
        Ok(Self {
            as_of: time(0, "taken", &raw.taken)?,
            keys: raw.keys,
            times,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_names_the_bad_field() {
        let ok = Inventory::parse(
            "inv.json",
            r#"{"taken":"2026-01-01T00:00:00Z","keys":[{"arn":"arn:aws:kms:us-east-1:111122223333:key/k","created":"2020-01-01T00:00:00Z","rotation_enabled":false}]}"#,
        )
        .expect("valid");
        assert_eq!(ok.keys.len(), 1);
        assert!(ok.times[0].0.is_some());
        let bad = Inventory::parse(
            "inv.json",
            r#"{"keys":[{"arn":"a","created":"yesterday"}]}"#,
        )
        .expect_err("bad time");
        assert!(bad.to_string().contains("keys[0].created"), "{bad}");
        let unknown = Inventory::parse("inv.json", r#"{"keys":[{"arn":"a","colour":1}]}"#)
            .expect_err("unknown field");
        assert!(unknown.to_string().starts_with("inv.json: "), "{unknown}");
    }
}
