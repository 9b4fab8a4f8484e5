//! What the cryptographic operations share: AWS exceptions for [`CryptoError`]s, enum
//! validation worded as AWS words it, and the key usage and key material checks.

use std::str::FromStr;

use crate::kms::crypto::{CryptoError, KeyUsage};
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::state::{Generation, Key};

/// The AWS exception for a [`CryptoError`], as the crypto module documents the mapping.
pub fn from_crypto(err: CryptoError) -> KmsError {
    match err {
        CryptoError::InvalidCiphertext => KmsError::new(KmsErrorKind::InvalidCiphertext, ""),
        CryptoError::IncorrectKey { .. } => KmsError::new(
            KmsErrorKind::IncorrectKey,
            "The key ID in the request does not identify a CMK that can perform this operation.",
        ),
        CryptoError::InvalidSignature => KmsError::new(KmsErrorKind::InvalidSignature, ""),
        CryptoError::InvalidMac => KmsError::new(KmsErrorKind::InvalidMac, ""),
        CryptoError::UnsupportedAlgorithm { algorithm, spec } => KmsError::new(
            KmsErrorKind::InvalidKeyUsage,
            format!("{algorithm} is not supported for key spec {spec}."),
        ),
        CryptoError::InvalidInput(text) => KmsError::new(KmsErrorKind::Validation, text),
        CryptoError::Internal(text) => KmsError::new(KmsErrorKind::Internal, text),
    }
}

/// Parses an AWS enum member, or a `ValidationException` naming the allowed values.
pub fn parse_enum<T: FromStr>(value: &str, member: &str, allowed: &[&str]) -> Result<T, KmsError> {
    value.parse().map_err(|_| {
        KmsError::validation(
            value,
            member,
            &format!(
                "Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        )
    })
}

/// `InvalidKeyUsageException` unless `key` has `usage`.
pub fn require_usage(key: &Key, usage: KeyUsage, operation: &str) -> Result<(), KmsError> {
    if key.usage == usage {
        Ok(())
    } else {
        Err(KmsError::new(
            KmsErrorKind::InvalidKeyUsage,
            format!(
                "{} key usage is {} which is not valid for {operation}.",
                key.arn,
                key.usage.as_str()
            ),
        ))
    }
}

/// The current key material, or `KMSInvalidStateException` for a key without any.
pub fn current(key: &Key) -> Result<&Generation, KmsError> {
    key.current().ok_or_else(|| {
        KmsError::new(
            KmsErrorKind::InvalidState,
            format!("{} is pending import.", key.arn),
        )
    })
}

/// `ValidationException` for a binary member outside `min..=max` bytes.
pub fn check_length(len: usize, member: &str, min: usize, max: usize) -> Result<(), KmsError> {
    if len < min {
        return Err(KmsError::validation(
            "…",
            member,
            &format!("Member must have length greater than or equal to {min}"),
        ));
    }
    if len > max {
        return Err(KmsError::validation(
            "…",
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}
