//! Key material: one generation of a KMS key's secret, with the id KMS reports as
//! `keyMaterialId`, so a key can rotate and keep every old generation for Decrypt.
//!
//! The secret is held parsed, ready for aws-lc-rs, next to the bytes it was built from (raw key
//! bytes for AES and HMAC, PKCS#8 DER for RSA and ECC). Those bytes are zeroized on drop and
//! only leave through [`KeyMaterial::export_for_storage`], for the engine's durable state.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use aws_lc_rs::aead::{LessSafeKey, UnboundKey, AES_256_GCM};
use aws_lc_rs::constant_time::verify_slices_are_equal;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::hmac;
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
};
use aws_lc_rs::signature::{
    EcdsaKeyPair, EcdsaSigningAlgorithm, KeyPair as _, RsaKeyPair,
    ECDSA_P256K1_SHA256_ASN1_SIGNING, ECDSA_P256_SHA256_ASN1_SIGNING,
    ECDSA_P384_SHA384_ASN1_SIGNING, ECDSA_P521_SHA512_ASN1_SIGNING,
};
use rand::CryptoRng;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

use super::spec::{Family, KeySpec};
use super::{CryptoError, Result};

/// Length of a symmetric (`SYMMETRIC_DEFAULT`) key in bytes.
pub const AES_KEY_LEN: usize = 32;

/// A key material id: 32 random bytes, written as 64 lowercase hex digits (`keyMaterialId`,
/// `CurrentKeyMaterialId`; botocore `BackingKeyIdType`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyMaterialId(String);

impl KeyMaterialId {
    /// The id's byte length.
    pub const BYTES: usize = 32;

    /// A fresh random id.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; Self::BYTES];
        rng.fill_bytes(&mut bytes);
        Self::from_bytes(&bytes)
    }

    /// The id of these 32 bytes.
    #[must_use]
    pub fn from_bytes(bytes: &[u8; Self::BYTES]) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = String::with_capacity(2 * Self::BYTES);
        for byte in bytes {
            text.push(char::from(HEX[usize::from(byte >> 4)]));
            text.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        Self(text)
    }

    /// The 32 bytes of the id.
    #[must_use]
    pub fn to_bytes(&self) -> [u8; Self::BYTES] {
        let mut bytes = [0u8; Self::BYTES];
        for (byte, pair) in bytes.iter_mut().zip(self.0.as_bytes().chunks_exact(2)) {
            *byte = (hex_value(pair[0]) << 4) | hex_value(pair[1]);
        }
        bytes
    }

    /// The 64 lowercase hex digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The value of one lowercase hex digit (callers have validated it).
fn hex_value(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => 0,
    }
}

impl fmt::Display for KeyMaterialId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for KeyMaterialId {
    type Err = CryptoError;

    fn from_str(s: &str) -> Result<Self> {
        let valid = s.len() == 2 * Self::BYTES
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if valid {
            Ok(Self(s.to_owned()))
        } else {
            Err(CryptoError::InvalidInput(format!(
                "{s:?} is not a key material id (64 lowercase hex digits)"
            )))
        }
    }
}

impl PartialEq<str> for KeyMaterialId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<KeyMaterialId> for &str {
    fn eq(&self, other: &KeyMaterialId) -> bool {
        *self == other.0
    }
}

impl PartialEq<KeyMaterialId> for str {
    fn eq(&self, other: &KeyMaterialId) -> bool {
        self == other.0
    }
}

impl Serialize for KeyMaterialId {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for KeyMaterialId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// One generation of a KMS key's secret. Cloning shares the secret (it is reference-counted);
/// the secret bytes are zeroized when the last clone is dropped. `Debug` shows the id and
/// spec only.
#[derive(Clone)]
pub struct KeyMaterial {
    id: KeyMaterialId,
    spec: KeySpec,
    secret: Arc<Secret>,
}

/// The parsed secret, per key family. (Variant sizes differ, but it always lives behind an
/// `Arc`, so boxing would only add an indirection.)
#[allow(clippy::large_enum_variant)]
pub(crate) enum Secret {
    /// AES-256-GCM.
    Aes {
        key: Zeroizing<Vec<u8>>,
        aead: LessSafeKey,
    },
    /// HMAC.
    Hmac {
        key: Zeroizing<Vec<u8>>,
        hmac: hmac::Key,
    },
    /// RSA, usable both for OAEP and signatures (the key usage decides which the engine
    /// allows).
    Rsa {
        pkcs8: Zeroizing<Vec<u8>>,
        signing: RsaKeyPair,
        decrypting: OaepPrivateDecryptingKey,
        encrypting: OaepPublicEncryptingKey,
        public_der: Vec<u8>,
    },
    /// ECDSA.
    Ecc {
        pkcs8: Zeroizing<Vec<u8>>,
        signing: EcdsaKeyPair,
        public_der: Vec<u8>,
    },
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyMaterial")
            .field("id", &self.id.as_str())
            .field("spec", &self.spec)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl KeyMaterial {
    /// New material for `spec`: AES and HMAC key bytes and the id come from `rng`; RSA and EC
    /// key pairs from aws-lc's DRBG.
    ///
    /// # Errors
    /// [`CryptoError::Internal`] if aws-lc fails to generate a key pair.
    pub fn generate<R: CryptoRng + ?Sized>(spec: KeySpec, rng: &mut R) -> Result<Self> {
        let id = KeyMaterialId::generate(rng);
        let secret = match spec.family() {
            Family::Aes => {
                let mut key = Zeroizing::new(vec![0u8; AES_KEY_LEN]);
                rng.fill_bytes(&mut key);
                aes_secret(key)?
            }
            Family::Hmac => {
                let (len, _, _) = hmac_lengths(spec)?;
                let mut key = Zeroizing::new(vec![0u8; len]);
                rng.fill_bytes(&mut key);
                hmac_secret(spec, key)?
            }
            Family::Rsa => {
                let pair = RsaKeyPair::generate(rsa_key_size(spec)?)
                    .map_err(|_| CryptoError::Internal("RSA key generation failed"))?;
                let der = pair
                    .as_der()
                    .map_err(|_| CryptoError::Internal("RSA private key encoding failed"))?;
                rsa_secret(spec, Zeroizing::new(der.as_ref().to_vec()))?
            }
            Family::Ecc => {
                let pair = EcdsaKeyPair::generate(ecdsa_algorithm(spec)?)
                    .map_err(|_| CryptoError::Internal("EC key generation failed"))?;
                let der = pair
                    .to_pkcs8v1()
                    .map_err(|_| CryptoError::Internal("EC private key encoding failed"))?;
                ecc_secret(spec, Zeroizing::new(der.as_ref().to_vec()))?
            }
        };
        Ok(Self {
            id,
            spec,
            secret: Arc::new(secret),
        })
    }

    /// Material imported with `ImportKeyMaterial` (origin `EXTERNAL`), with a fresh id:
    /// `SYMMETRIC_DEFAULT` takes exactly 32 bytes; `HMAC_224`/`HMAC_256` 28/32–64 bytes,
    /// `HMAC_384`/`HMAC_512` 48/64–128 bytes; RSA and ECC a PKCS#8 DER private key of the
    /// spec's size or curve.
    ///
    /// # Errors
    /// [`CryptoError::InvalidInput`] when the bytes do not fit the spec.
    pub fn from_imported<R: CryptoRng + ?Sized>(
        spec: KeySpec,
        bytes: &[u8],
        rng: &mut R,
    ) -> Result<Self> {
        Self::from_storage(spec, KeyMaterialId::generate(rng), bytes)
    }

    /// Rebuilds material saved with [`export_for_storage`](Self::export_for_storage) (or
    /// replicated to another Region, which keeps the id).
    ///
    /// # Errors
    /// [`CryptoError::InvalidInput`] when the bytes do not fit the spec.
    pub fn from_storage(spec: KeySpec, id: KeyMaterialId, bytes: &[u8]) -> Result<Self> {
        let secret = match spec.family() {
            Family::Aes => {
                if bytes.len() != AES_KEY_LEN {
                    return Err(CryptoError::InvalidInput(format!(
                        "key material for {spec} must be {AES_KEY_LEN} bytes, not {}",
                        bytes.len()
                    )));
                }
                aes_secret(Zeroizing::new(bytes.to_vec()))?
            }
            Family::Hmac => {
                let (_, min, max) = hmac_lengths(spec)?;
                if !(min..=max).contains(&bytes.len()) {
                    return Err(CryptoError::InvalidInput(format!(
                        "key material for {spec} must be {min} to {max} bytes, not {}",
                        bytes.len()
                    )));
                }
                hmac_secret(spec, Zeroizing::new(bytes.to_vec()))?
            }
            Family::Rsa => rsa_secret(spec, Zeroizing::new(bytes.to_vec()))?,
            Family::Ecc => ecc_secret(spec, Zeroizing::new(bytes.to_vec()))?,
        };
        Ok(Self {
            id,
            spec,
            secret: Arc::new(secret),
        })
    }

    /// The id as 64 lowercase hex digits (what CloudTrail and `DescribeKey` show).
    #[must_use]
    pub fn id(&self) -> &str {
        self.id.as_str()
    }

    /// The typed id.
    #[must_use]
    pub fn material_id(&self) -> &KeyMaterialId {
        &self.id
    }

    /// The key spec.
    #[must_use]
    pub fn spec(&self) -> KeySpec {
        self.spec
    }

    /// The public key as DER `SubjectPublicKeyInfo` (what `GetPublicKey` returns), for RSA
    /// and ECC specs.
    #[must_use]
    pub fn public_key_der(&self) -> Option<&[u8]> {
        match &*self.secret {
            Secret::Rsa { public_der, .. } | Secret::Ecc { public_der, .. } => Some(public_der),
            Secret::Aes { .. } | Secret::Hmac { .. } => None,
        }
    }

    /// The secret as bytes for the engine's durable state: raw key bytes for AES and HMAC,
    /// PKCS#8 DER for RSA and ECC. Read back with [`from_storage`](Self::from_storage).
    #[must_use]
    pub fn export_for_storage(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.secret_bytes().to_vec())
    }

    /// Whether `other` holds the same secret (constant time), as `ImportKeyMaterial` checks
    /// when material is re-imported.
    #[must_use]
    pub fn same_secret(&self, other: &Self) -> bool {
        self.spec == other.spec
            && verify_slices_are_equal(self.secret_bytes(), other.secret_bytes()).is_ok()
    }

    fn secret_bytes(&self) -> &[u8] {
        match &*self.secret {
            Secret::Aes { key, .. } | Secret::Hmac { key, .. } => key,
            Secret::Rsa { pkcs8, .. } | Secret::Ecc { pkcs8, .. } => pkcs8,
        }
    }

    /// The parsed secret, for the operations of this module.
    pub(crate) fn secret(&self) -> &Secret {
        &self.secret
    }
}

fn aes_secret(key: Zeroizing<Vec<u8>>) -> Result<Secret> {
    let unbound = UnboundKey::new(&AES_256_GCM, &key)
        .map_err(|_| CryptoError::Internal("AES key setup failed"))?;
    Ok(Secret::Aes {
        key,
        aead: LessSafeKey::new(unbound),
    })
}

fn hmac_lengths(spec: KeySpec) -> Result<(usize, usize, usize)> {
    spec.hmac_key_lengths()
        .ok_or(CryptoError::Internal("not an HMAC key spec"))
}

fn hmac_secret(spec: KeySpec, key: Zeroizing<Vec<u8>>) -> Result<Secret> {
    let algorithm = match spec {
        KeySpec::Hmac224 => hmac::HMAC_SHA224,
        KeySpec::Hmac256 => hmac::HMAC_SHA256,
        KeySpec::Hmac384 => hmac::HMAC_SHA384,
        KeySpec::Hmac512 => hmac::HMAC_SHA512,
        _ => return Err(CryptoError::Internal("not an HMAC key spec")),
    };
    let hmac = hmac::Key::new(algorithm, &key);
    Ok(Secret::Hmac { key, hmac })
}

pub(crate) fn rsa_key_size(spec: KeySpec) -> Result<KeySize> {
    match spec {
        KeySpec::Rsa2048 => Ok(KeySize::Rsa2048),
        KeySpec::Rsa3072 => Ok(KeySize::Rsa3072),
        KeySpec::Rsa4096 => Ok(KeySize::Rsa4096),
        _ => Err(CryptoError::Internal("not an RSA key spec")),
    }
}

fn rsa_secret(spec: KeySpec, pkcs8: Zeroizing<Vec<u8>>) -> Result<Secret> {
    let rejected =
        || CryptoError::InvalidInput(format!("key material is not a PKCS#8 {spec} private key"));
    let signing = RsaKeyPair::from_pkcs8(&pkcs8).map_err(|_| rejected())?;
    if Some(signing.public_modulus_len() * 8) != spec.rsa_bits() {
        return Err(rejected());
    }
    let private = PrivateDecryptingKey::from_pkcs8(&pkcs8).map_err(|_| rejected())?;
    let encrypting = OaepPublicEncryptingKey::new(private.public_key())
        .map_err(|_| CryptoError::Internal("RSA public key setup failed"))?;
    let decrypting = OaepPrivateDecryptingKey::new(private)
        .map_err(|_| CryptoError::Internal("RSA private key setup failed"))?;
    let public_der = signing
        .public_key()
        .as_der()
        .map_err(|_| CryptoError::Internal("RSA public key encoding failed"))?
        .as_ref()
        .to_vec();
    Ok(Secret::Rsa {
        pkcs8,
        signing,
        decrypting,
        encrypting,
        public_der,
    })
}

/// The aws-lc-rs signing algorithm of an ECC spec: the curve with its matching hash, DER
/// signatures (as KMS returns them).
pub(crate) fn ecdsa_algorithm(spec: KeySpec) -> Result<&'static EcdsaSigningAlgorithm> {
    match spec {
        KeySpec::EccNistP256 => Ok(&ECDSA_P256_SHA256_ASN1_SIGNING),
        KeySpec::EccNistP384 => Ok(&ECDSA_P384_SHA384_ASN1_SIGNING),
        KeySpec::EccNistP521 => Ok(&ECDSA_P521_SHA512_ASN1_SIGNING),
        KeySpec::EccSecgP256k1 => Ok(&ECDSA_P256K1_SHA256_ASN1_SIGNING),
        _ => Err(CryptoError::Internal("not an ECC key spec")),
    }
}

fn ecc_secret(spec: KeySpec, pkcs8: Zeroizing<Vec<u8>>) -> Result<Secret> {
    let signing = EcdsaKeyPair::from_pkcs8(ecdsa_algorithm(spec)?, &pkcs8).map_err(|_| {
        CryptoError::InvalidInput(format!("key material is not a PKCS#8 {spec} private key"))
    })?;
    let public_der = signing
        .public_key()
        .as_der()
        .map_err(|_| CryptoError::Internal("EC public key encoding failed"))?
        .as_ref()
        .to_vec();
    Ok(Secret::Ecc {
        pkcs8,
        signing,
        public_der,
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::rng;
    use super::*;

    #[test]
    fn ids_are_64_lowercase_hex_and_round_trip() {
        let mut rng = rng();
        let id = KeyMaterialId::generate(&mut rng);
        assert_eq!(id.as_str().len(), 64);
        assert!(id
            .as_str()
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert_eq!(KeyMaterialId::from_bytes(&id.to_bytes()), id);
        assert_eq!(id.as_str().parse::<KeyMaterialId>().unwrap(), id);
        assert!(id.as_str().to_uppercase().parse::<KeyMaterialId>().is_err());
        assert!("abc".parse::<KeyMaterialId>().is_err());
        assert!(id.as_str() == id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<KeyMaterialId>(&json).unwrap(), id);
    }

    #[test]
    fn every_spec_generates_and_survives_storage() {
        let mut rng = rng();
        for spec in KeySpec::ALL {
            let material = KeyMaterial::generate(*spec, &mut rng).unwrap();
            assert_eq!(material.spec(), *spec);
            assert_eq!(material.public_key_der().is_some(), spec.is_asymmetric());
            let stored = material.export_for_storage();
            let back =
                KeyMaterial::from_storage(*spec, material.material_id().clone(), &stored).unwrap();
            assert_eq!(back.id(), material.id());
            assert!(back.same_secret(&material));
            assert_eq!(back.public_key_der(), material.public_key_der());
            let other = KeyMaterial::generate(*spec, &mut rng).unwrap();
            assert!(!other.same_secret(&material));
            assert_ne!(other.id(), material.id());
        }
    }

    #[test]
    fn generated_key_lengths_match_kms() {
        let mut rng = rng();
        for (spec, len) in [
            (KeySpec::SymmetricDefault, 32),
            (KeySpec::Hmac224, 28),
            (KeySpec::Hmac256, 32),
            (KeySpec::Hmac384, 48),
            (KeySpec::Hmac512, 64),
        ] {
            let material = KeyMaterial::generate(spec, &mut rng).unwrap();
            assert_eq!(material.export_for_storage().len(), len, "{spec}");
        }
    }

    #[test]
    fn imported_material_is_checked_against_the_spec() {
        let mut rng = rng();
        assert!(KeyMaterial::from_imported(KeySpec::SymmetricDefault, &[7; 32], &mut rng).is_ok());
        for len in [0, 16, 31, 33, 64] {
            assert!(matches!(
                KeyMaterial::from_imported(KeySpec::SymmetricDefault, &vec![7; len], &mut rng),
                Err(CryptoError::InvalidInput(_))
            ));
        }
        assert!(KeyMaterial::from_imported(KeySpec::Hmac256, &[1; 64], &mut rng).is_ok());
        assert!(KeyMaterial::from_imported(KeySpec::Hmac256, &[1; 65], &mut rng).is_err());
        assert!(KeyMaterial::from_imported(KeySpec::Hmac512, &[1; 63], &mut rng).is_err());
        let p256 = KeyMaterial::generate(KeySpec::EccNistP256, &mut rng).unwrap();
        let pkcs8 = p256.export_for_storage();
        let imported = KeyMaterial::from_imported(KeySpec::EccNistP256, &pkcs8, &mut rng).unwrap();
        assert!(imported.same_secret(&p256));
        assert_ne!(imported.id(), p256.id());
        assert!(KeyMaterial::from_imported(KeySpec::EccNistP384, &pkcs8, &mut rng).is_err());
        assert!(KeyMaterial::from_imported(KeySpec::Rsa2048, &pkcs8, &mut rng).is_err());
        let rsa = KeyMaterial::generate(KeySpec::Rsa2048, &mut rng).unwrap();
        let rsa_pkcs8 = rsa.export_for_storage();
        assert!(KeyMaterial::from_imported(KeySpec::Rsa2048, &rsa_pkcs8, &mut rng).is_ok());
        let err = KeyMaterial::from_imported(KeySpec::Rsa3072, &rsa_pkcs8, &mut rng).unwrap_err();
        assert_eq!(
            err.to_string(),
            "key material is not a PKCS#8 RSA_3072 private key"
        );
    }

    #[test]
    fn debug_does_not_print_the_secret() {
        let mut rng = rng();
        let material =
            KeyMaterial::from_imported(KeySpec::SymmetricDefault, &[0xab; 32], &mut rng).unwrap();
        let shown = format!("{material:?}");
        assert!(shown.contains(material.id()));
        assert!(shown.contains("<redacted>"));
        let without_id = shown.replace(material.id(), "");
        assert!(!without_id.to_lowercase().contains("abab"));
        assert!(!without_id.contains("171"));
        let hmac = KeyMaterial::generate(KeySpec::Hmac256, &mut rng).unwrap();
        let key = hmac.export_for_storage();
        let shown = format!("{hmac:?}");
        assert!(!shown.contains(&format!("{:?}", &key[..4])));
    }
}
