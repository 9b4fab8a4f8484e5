//! The errors KMS operations return, named as AWS names them (`__type` on the wire, the
//! `errorCode` in CloudTrail), with the HTTP status the server answers with.

/// A KMS exception: its AWS name and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct KmsError {
    /// Which exception.
    pub kind: KmsErrorKind,
    /// The message, in AWS's wording where known. Never holds key material or plaintext.
    pub message: String,
}

/// The KMS exceptions the engine raises (reference §4.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KmsErrorKind {
    AccessDenied,
    AlreadyExists,
    CloudHsmClusterInvalidConfiguration,
    Conflict,
    CustomKeyStoreInvalidState,
    CustomKeyStoreNotFound,
    Disabled,
    /// `DryRun` was set and the request would have succeeded.
    DryRunOperation,
    ExpiredImportToken,
    IncorrectKey,
    IncorrectKeyMaterial,
    InvalidAliasName,
    InvalidArn,
    InvalidCiphertext,
    InvalidGrantId,
    InvalidGrantToken,
    InvalidImportToken,
    InvalidKeyUsage,
    InvalidMarker,
    Internal,
    InvalidMac,
    InvalidSignature,
    InvalidState,
    LimitExceeded,
    MalformedPolicyDocument,
    NotFound,
    Tag,
    UnsupportedOperation,
    Validation,
}

impl KmsErrorKind {
    /// The exception name: `__type` on the wire and `errorCode` in CloudTrail.
    pub fn code(self) -> &'static str {
        match self {
            Self::AccessDenied => "AccessDeniedException",
            Self::AlreadyExists => "AlreadyExistsException",
            Self::CloudHsmClusterInvalidConfiguration => {
                "CloudHsmClusterInvalidConfigurationException"
            }
            Self::Conflict => "ConflictException",
            Self::CustomKeyStoreInvalidState => "CustomKeyStoreInvalidStateException",
            Self::CustomKeyStoreNotFound => "CustomKeyStoreNotFoundException",
            Self::Disabled => "DisabledException",
            Self::ExpiredImportToken => "ExpiredImportTokenException",
            Self::IncorrectKey => "IncorrectKeyException",
            Self::IncorrectKeyMaterial => "IncorrectKeyMaterialException",
            Self::InvalidAliasName => "InvalidAliasNameException",
            Self::InvalidArn => "InvalidArnException",
            Self::InvalidCiphertext => "InvalidCiphertextException",
            Self::InvalidGrantId => "InvalidGrantIdException",
            Self::InvalidGrantToken => "InvalidGrantTokenException",
            Self::InvalidImportToken => "InvalidImportTokenException",
            Self::InvalidKeyUsage => "InvalidKeyUsageException",
            Self::InvalidMarker => "InvalidMarkerException",
            Self::Internal => "KMSInternalException",
            Self::InvalidMac => "KMSInvalidMacException",
            Self::InvalidSignature => "KMSInvalidSignatureException",
            Self::InvalidState => "KMSInvalidStateException",
            Self::LimitExceeded => "LimitExceededException",
            Self::MalformedPolicyDocument => "MalformedPolicyDocumentException",
            Self::NotFound => "NotFoundException",
            Self::DryRunOperation => "DryRunOperationException",
            Self::Tag => "TagException",
            Self::UnsupportedOperation => "UnsupportedOperationException",
            Self::Validation => "ValidationException",
        }
    }

    /// The HTTP status: 500 for internal failures, 400 for every client error, as KMS and
    /// the SDKs' own expectations have it (reference §4.2: SDKs dispatch on `__type`).
    pub fn http_status(self) -> u16 {
        match self {
            Self::Internal => 500,
            Self::DryRunOperation => 412,
            _ => 400,
        }
    }
}

impl KmsError {
    /// An error of `kind` with `message`.
    pub fn new(kind: KmsErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// `NotFoundException` for a key, as emulators word it: `Key '<arn>' does not exist`.
    pub fn key_not_found(key: &str) -> Self {
        Self::new(
            KmsErrorKind::NotFound,
            format!("Key '{key}' does not exist"),
        )
    }

    /// `ValidationException` in AWS's "1 validation error detected" form.
    pub fn validation(value: &str, member: &str, constraint: &str) -> Self {
        Self::new(
            KmsErrorKind::Validation,
            format!("1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_statuses() {
        assert_eq!(
            KmsErrorKind::InvalidState.code(),
            "KMSInvalidStateException"
        );
        assert_eq!(KmsErrorKind::Internal.http_status(), 500);
        assert_eq!(KmsErrorKind::NotFound.http_status(), 400);
        assert_eq!(KmsErrorKind::DryRunOperation.http_status(), 412);
        assert_eq!(
            KmsErrorKind::DryRunOperation.code(),
            "DryRunOperationException"
        );
        let e = KmsError::validation(
            "5",
            "pendingWindowInDays",
            "Member must have value greater than or equal to 7",
        );
        assert!(e
            .message
            .starts_with("1 validation error detected: Value '5' at 'pendingWindowInDays'"));
    }
}
