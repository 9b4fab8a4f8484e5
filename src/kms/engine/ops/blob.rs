//! Binary members (`Plaintext`, `CiphertextBlob`, …): base64 text in the JSON protocol.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// Bytes carried as base64; wiped from memory when dropped (they may be plaintext or keys).
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Blob(pub Zeroizing<Vec<u8>>);

impl Blob {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Blob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Blob({} bytes)", self.0.len())
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(&*self.0))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        STANDARD
            .decode(text.as_bytes())
            .map(Blob::new)
            .map_err(|_| serde::de::Error::custom("a blob member is not valid base64"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_and_redacted_debug() {
        let blob: Blob = serde_json::from_str("\"aGVsbG8=\"").expect("base64");
        assert_eq!(blob.bytes(), b"hello");
        assert_eq!(serde_json::to_string(&blob).expect("json"), "\"aGVsbG8=\"");
        assert_eq!(format!("{blob:?}"), "Blob(5 bytes)");
        assert!(serde_json::from_str::<Blob>("\"***\"").is_err());
    }
}
