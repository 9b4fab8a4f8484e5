//! The AWS KMS enumerations that decide which cryptography a key does, with their exact wire
//! names, so the engine, the CloudTrail writer and `DescribeKey` all speak AWS's words.
//!
//! Values are those of botocore (reference §4.4) that the mini-KMS implements; China-Region
//! (`SM2`), post-quantum (`ML_DSA_*`) and Edwards-curve specs are not supported and do not
//! parse.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::CryptoError;

/// Declares a fieldless enum with AWS wire names: `ALL`, `as_str`, `Display`, `FromStr` and
/// serde as the wire string.
macro_rules! aws_enum {
    (
        $(#[$meta:meta])*
        $name:ident, $kind:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every supported value, in botocore's order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The AWS wire name.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = CryptoError;

            fn from_str(s: &str) -> Result<Self, CryptoError> {
                match s {
                    $( $text => Ok(Self::$variant), )+
                    _ => Err(CryptoError::InvalidInput(format!(
                        "{s:?} is not a supported {}",
                        $kind
                    ))),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

aws_enum! {
    /// `KeySpec` (and its deprecated twin `CustomerMasterKeySpec`): what kind of key material a
    /// KMS key has.
    KeySpec, "KeySpec" {
        /// RSA, 2048-bit modulus.
        Rsa2048 => "RSA_2048",
        /// RSA, 3072-bit modulus.
        Rsa3072 => "RSA_3072",
        /// RSA, 4096-bit modulus.
        Rsa4096 => "RSA_4096",
        /// ECDSA on NIST P-256.
        EccNistP256 => "ECC_NIST_P256",
        /// ECDSA on NIST P-384.
        EccNistP384 => "ECC_NIST_P384",
        /// ECDSA on NIST P-521.
        EccNistP521 => "ECC_NIST_P521",
        /// ECDSA on secp256k1.
        EccSecgP256k1 => "ECC_SECG_P256K1",
        /// AES-256-GCM (KMS's symmetric encryption key).
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        /// HMAC with SHA-224.
        Hmac224 => "HMAC_224",
        /// HMAC with SHA-256.
        Hmac256 => "HMAC_256",
        /// HMAC with SHA-384.
        Hmac384 => "HMAC_384",
        /// HMAC with SHA-512.
        Hmac512 => "HMAC_512",
    }
}

aws_enum! {
    /// `KeyUsage`: the cryptographic operations a KMS key is for.
    KeyUsage, "KeyUsage" {
        /// `SIGN_VERIFY`.
        SignVerify => "SIGN_VERIFY",
        /// `ENCRYPT_DECRYPT`.
        EncryptDecrypt => "ENCRYPT_DECRYPT",
        /// `GENERATE_VERIFY_MAC`.
        GenerateVerifyMac => "GENERATE_VERIFY_MAC",
    }
}

aws_enum! {
    /// `EncryptionAlgorithmSpec`.
    EncryptionAlgorithm, "EncryptionAlgorithmSpec" {
        /// AES-256-GCM with this module's ciphertext blob.
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        /// RSA-OAEP with SHA-1 (hash and MGF1).
        RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
        /// RSA-OAEP with SHA-256 (hash and MGF1).
        RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
    }
}

aws_enum! {
    /// `SigningAlgorithmSpec`.
    SigningAlgorithm, "SigningAlgorithmSpec" {
        /// RSASSA-PSS, SHA-256, MGF1 SHA-256, 32-byte salt.
        RsassaPssSha256 => "RSASSA_PSS_SHA_256",
        /// RSASSA-PSS, SHA-384, MGF1 SHA-384, 48-byte salt.
        RsassaPssSha384 => "RSASSA_PSS_SHA_384",
        /// RSASSA-PSS, SHA-512, MGF1 SHA-512, 64-byte salt.
        RsassaPssSha512 => "RSASSA_PSS_SHA_512",
        /// RSASSA-PKCS1-v1_5 with SHA-256.
        RsassaPkcs1V15Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
        /// RSASSA-PKCS1-v1_5 with SHA-384.
        RsassaPkcs1V15Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
        /// RSASSA-PKCS1-v1_5 with SHA-512.
        RsassaPkcs1V15Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
        /// ECDSA with SHA-256 (P-256 and secp256k1).
        EcdsaSha256 => "ECDSA_SHA_256",
        /// ECDSA with SHA-384 (P-384).
        EcdsaSha384 => "ECDSA_SHA_384",
        /// ECDSA with SHA-512 (P-521).
        EcdsaSha512 => "ECDSA_SHA_512",
    }
}

aws_enum! {
    /// `MacAlgorithmSpec`.
    MacAlgorithm, "MacAlgorithmSpec" {
        /// HMAC-SHA-224.
        HmacSha224 => "HMAC_SHA_224",
        /// HMAC-SHA-256.
        HmacSha256 => "HMAC_SHA_256",
        /// HMAC-SHA-384.
        HmacSha384 => "HMAC_SHA_384",
        /// HMAC-SHA-512.
        HmacSha512 => "HMAC_SHA_512",
    }
}

aws_enum! {
    /// `MessageType` of `Sign` and `Verify`.
    MessageType, "MessageType" {
        /// The message itself; it is hashed here (up to 4096 bytes).
        Raw => "RAW",
        /// The message is already the digest of the algorithm's hash.
        Digest => "DIGEST",
    }
}

aws_enum! {
    /// `DataKeySpec` of `GenerateDataKey`.
    DataKeySpec, "DataKeySpec" {
        /// A 256-bit key.
        Aes256 => "AES_256",
        /// A 128-bit key.
        Aes128 => "AES_128",
    }
}

aws_enum! {
    /// `DataKeyPairSpec` of `GenerateDataKeyPair`.
    DataKeyPairSpec, "DataKeyPairSpec" {
        /// RSA 2048.
        Rsa2048 => "RSA_2048",
        /// RSA 3072.
        Rsa3072 => "RSA_3072",
        /// RSA 4096.
        Rsa4096 => "RSA_4096",
        /// NIST P-256.
        EccNistP256 => "ECC_NIST_P256",
        /// NIST P-384.
        EccNistP384 => "ECC_NIST_P384",
        /// NIST P-521.
        EccNistP521 => "ECC_NIST_P521",
        /// secp256k1.
        EccSecgP256k1 => "ECC_SECG_P256K1",
    }
}

aws_enum! {
    /// `WrappingKeySpec` of `GetParametersForImport`.
    WrappingKeySpec, "WrappingKeySpec" {
        /// RSA 2048.
        Rsa2048 => "RSA_2048",
        /// RSA 3072.
        Rsa3072 => "RSA_3072",
        /// RSA 4096.
        Rsa4096 => "RSA_4096",
    }
}

aws_enum! {
    /// `AlgorithmSpec` of `GetParametersForImport`: how imported key material is wrapped.
    /// (`RSAES_PKCS1_V1_5` is deprecated by KMS and not supported.)
    WrappingAlgorithm, "AlgorithmSpec" {
        /// RSA-OAEP with SHA-1 over the key material.
        RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
        /// RSA-OAEP with SHA-256 over the key material.
        RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        /// RSA-OAEP SHA-1 over an ephemeral AES-256 key, then AES key wrap with padding
        /// (RFC 5649) over the key material.
        RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
        /// RSA-OAEP SHA-256 over an ephemeral AES-256 key, then AES key wrap with padding
        /// (RFC 5649) over the key material.
        RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
    }
}

/// The broad family of a key spec, which decides what its material is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Aes,
    Rsa,
    Ecc,
    Hmac,
}

impl KeySpec {
    pub(crate) const fn family(self) -> Family {
        match self {
            Self::SymmetricDefault => Family::Aes,
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => Family::Rsa,
            Self::EccNistP256 | Self::EccNistP384 | Self::EccNistP521 | Self::EccSecgP256k1 => {
                Family::Ecc
            }
            Self::Hmac224 | Self::Hmac256 | Self::Hmac384 | Self::Hmac512 => Family::Hmac,
        }
    }

    /// Whether the key is asymmetric (has a public key for `GetPublicKey`).
    #[must_use]
    pub const fn is_asymmetric(self) -> bool {
        matches!(self.family(), Family::Rsa | Family::Ecc)
    }

    /// The RSA modulus length in bits, for RSA specs.
    #[must_use]
    pub const fn rsa_bits(self) -> Option<usize> {
        match self {
            Self::Rsa2048 => Some(2048),
            Self::Rsa3072 => Some(3072),
            Self::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    /// The key usages KMS accepts for this spec. (KMS also allows `KEY_AGREEMENT` for NIST
    /// curves; the mini-KMS does not implement `DeriveSharedSecret`.)
    #[must_use]
    pub const fn allowed_usages(self) -> &'static [KeyUsage] {
        match self.family() {
            Family::Aes => &[KeyUsage::EncryptDecrypt],
            Family::Rsa => &[KeyUsage::EncryptDecrypt, KeyUsage::SignVerify],
            Family::Ecc => &[KeyUsage::SignVerify],
            Family::Hmac => &[KeyUsage::GenerateVerifyMac],
        }
    }

    /// Whether `usage` is allowed for this spec.
    #[must_use]
    pub fn allows_usage(self, usage: KeyUsage) -> bool {
        self.allowed_usages().contains(&usage)
    }

    /// The `KeyUsage` `CreateKey` assumes when the request has none: always `ENCRYPT_DECRYPT`,
    /// KMS's documented default, so an ECC or HMAC spec without a usage is rejected by
    /// [`allows_usage`](Self::allows_usage) as KMS rejects it.
    #[must_use]
    pub const fn default_usage(self) -> KeyUsage {
        KeyUsage::EncryptDecrypt
    }

    /// `EncryptionAlgorithms` as `DescribeKey`/`GetPublicKey` report them (empty: omit the
    /// field).
    #[must_use]
    pub const fn encryption_algorithms(self, usage: KeyUsage) -> &'static [EncryptionAlgorithm] {
        match (self.family(), usage) {
            (Family::Aes, KeyUsage::EncryptDecrypt) => &[EncryptionAlgorithm::SymmetricDefault],
            (Family::Rsa, KeyUsage::EncryptDecrypt) => &[
                EncryptionAlgorithm::RsaesOaepSha1,
                EncryptionAlgorithm::RsaesOaepSha256,
            ],
            _ => &[],
        }
    }

    /// `SigningAlgorithms` as `DescribeKey`/`GetPublicKey` report them (empty: omit the field).
    #[must_use]
    pub const fn signing_algorithms(self, usage: KeyUsage) -> &'static [SigningAlgorithm] {
        if !matches!(usage, KeyUsage::SignVerify) {
            return &[];
        }
        match self {
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => &[
                SigningAlgorithm::RsassaPssSha256,
                SigningAlgorithm::RsassaPssSha384,
                SigningAlgorithm::RsassaPssSha512,
                SigningAlgorithm::RsassaPkcs1V15Sha256,
                SigningAlgorithm::RsassaPkcs1V15Sha384,
                SigningAlgorithm::RsassaPkcs1V15Sha512,
            ],
            Self::EccNistP256 | Self::EccSecgP256k1 => &[SigningAlgorithm::EcdsaSha256],
            Self::EccNistP384 => &[SigningAlgorithm::EcdsaSha384],
            Self::EccNistP521 => &[SigningAlgorithm::EcdsaSha512],
            _ => &[],
        }
    }

    /// `MacAlgorithms` as `DescribeKey` reports them (empty: omit the field).
    #[must_use]
    pub const fn mac_algorithms(self, usage: KeyUsage) -> &'static [MacAlgorithm] {
        if !matches!(usage, KeyUsage::GenerateVerifyMac) {
            return &[];
        }
        match self {
            Self::Hmac224 => &[MacAlgorithm::HmacSha224],
            Self::Hmac256 => &[MacAlgorithm::HmacSha256],
            Self::Hmac384 => &[MacAlgorithm::HmacSha384],
            Self::Hmac512 => &[MacAlgorithm::HmacSha512],
            _ => &[],
        }
    }

    /// The length KMS generates for HMAC keys (the hash's output length), and the range of
    /// lengths it accepts for imported HMAC material.
    pub(crate) const fn hmac_key_lengths(self) -> Option<(usize, usize, usize)> {
        match self {
            Self::Hmac224 => Some((28, 28, 64)),
            Self::Hmac256 => Some((32, 32, 64)),
            Self::Hmac384 => Some((48, 48, 128)),
            Self::Hmac512 => Some((64, 64, 128)),
            _ => None,
        }
    }
}

impl SigningAlgorithm {
    /// The hash the algorithm uses; a `DIGEST` message must be this long.
    pub(crate) fn digest_algorithm(self) -> &'static digest::Algorithm {
        match self {
            Self::RsassaPssSha256 | Self::RsassaPkcs1V15Sha256 | Self::EcdsaSha256 => {
                &digest::SHA256
            }
            Self::RsassaPssSha384 | Self::RsassaPkcs1V15Sha384 | Self::EcdsaSha384 => {
                &digest::SHA384
            }
            Self::RsassaPssSha512 | Self::RsassaPkcs1V15Sha512 | Self::EcdsaSha512 => {
                &digest::SHA512
            }
        }
    }
}

impl DataKeySpec {
    /// The key length in bytes.
    #[must_use]
    pub const fn key_len(self) -> usize {
        match self {
            Self::Aes256 => 32,
            Self::Aes128 => 16,
        }
    }
}

impl DataKeyPairSpec {
    /// The key spec of the same key pair kind.
    #[must_use]
    pub const fn key_spec(self) -> KeySpec {
        match self {
            Self::Rsa2048 => KeySpec::Rsa2048,
            Self::Rsa3072 => KeySpec::Rsa3072,
            Self::Rsa4096 => KeySpec::Rsa4096,
            Self::EccNistP256 => KeySpec::EccNistP256,
            Self::EccNistP384 => KeySpec::EccNistP384,
            Self::EccNistP521 => KeySpec::EccNistP521,
            Self::EccSecgP256k1 => KeySpec::EccSecgP256k1,
        }
    }
}

impl WrappingKeySpec {
    /// The RSA modulus length in bits.
    #[must_use]
    pub const fn bits(self) -> usize {
        match self {
            Self::Rsa2048 => 2048,
            Self::Rsa3072 => 3072,
            Self::Rsa4096 => 4096,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for spec in KeySpec::ALL {
            assert_eq!(spec.as_str().parse::<KeySpec>().unwrap(), *spec);
            assert_eq!(spec.to_string(), spec.as_str());
        }
        for alg in SigningAlgorithm::ALL {
            assert_eq!(alg.as_str().parse::<SigningAlgorithm>().unwrap(), *alg);
        }
        for usage in KeyUsage::ALL {
            assert_eq!(usage.as_str().parse::<KeyUsage>().unwrap(), *usage);
        }
        assert!("SM2".parse::<KeySpec>().is_err());
        assert!("symmetric_default".parse::<KeySpec>().is_err());
        let json = serde_json::to_string(&KeySpec::EccSecgP256k1).unwrap();
        assert_eq!(json, "\"ECC_SECG_P256K1\"");
        assert_eq!(
            serde_json::from_str::<KeySpec>(&json).unwrap(),
            KeySpec::EccSecgP256k1
        );
        assert!(serde_json::from_str::<KeySpec>("\"RSA_1024\"").is_err());
    }

    #[test]
    fn usages_and_algorithms() {
        assert!(KeySpec::SymmetricDefault.allows_usage(KeyUsage::EncryptDecrypt));
        assert!(!KeySpec::SymmetricDefault.allows_usage(KeyUsage::SignVerify));
        assert!(KeySpec::Rsa3072.allows_usage(KeyUsage::SignVerify));
        assert!(!KeySpec::EccNistP256.allows_usage(KeySpec::EccNistP256.default_usage()));
        assert!(KeySpec::Hmac384.allows_usage(KeyUsage::GenerateVerifyMac));
        assert_eq!(
            KeySpec::SymmetricDefault.encryption_algorithms(KeyUsage::EncryptDecrypt),
            &[EncryptionAlgorithm::SymmetricDefault]
        );
        assert!(KeySpec::Rsa2048
            .encryption_algorithms(KeyUsage::SignVerify)
            .is_empty());
        assert_eq!(
            KeySpec::Rsa2048
                .signing_algorithms(KeyUsage::SignVerify)
                .len(),
            6
        );
        assert_eq!(
            KeySpec::EccSecgP256k1.signing_algorithms(KeyUsage::SignVerify),
            &[SigningAlgorithm::EcdsaSha256]
        );
        assert_eq!(
            KeySpec::Hmac512.mac_algorithms(KeyUsage::GenerateVerifyMac),
            &[MacAlgorithm::HmacSha512]
        );
        for pair in DataKeyPairSpec::ALL {
            assert_eq!(pair.key_spec().as_str(), pair.as_str());
        }
    }
}
