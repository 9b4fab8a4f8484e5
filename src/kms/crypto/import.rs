//! Wrapping key pairs for imported key material (`GetParametersForImport`,
//! `ImportKeyMaterial`): the engine hands out the public key, the caller wraps its key
//! material with it as AWS documents, and [`WrappingKeyPair::unwrap`] recovers the material.
//!
//! Supported wrapping algorithms: `RSAES_OAEP_SHA_1` and `RSAES_OAEP_SHA_256` (the material is
//! the OAEP plaintext: symmetric and HMAC keys), and `RSA_AES_KEY_WRAP_SHA_1` /
//! `RSA_AES_KEY_WRAP_SHA_256` (an ephemeral AES-256 key under RSA-OAEP, followed by the
//! material wrapped with AES key wrap with padding, RFC 5649: needed for RSA and ECC private
//! keys, which are too long for OAEP).

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use aws_lc_rs::rsa::{
    OaepAlgorithm, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1,
    OAEP_SHA256_MGF1SHA256,
};
use zeroize::Zeroizing;

use super::material::rsa_key_size;
use super::spec::{KeySpec, WrappingAlgorithm, WrappingKeySpec};
use super::{CryptoError, Result};

/// Length of the ephemeral AES key of the `RSA_AES_KEY_WRAP_*` algorithms.
const EPHEMERAL_KEY_LEN: usize = 32;

/// An RSA key pair whose public key wraps key material for import. `Debug` shows the spec
/// only.
pub struct WrappingKeyPair {
    spec: WrappingKeySpec,
    private: OaepPrivateDecryptingKey,
    pkcs8: Zeroizing<Vec<u8>>,
    public_der: Vec<u8>,
}

impl fmt::Debug for WrappingKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappingKeyPair")
            .field("spec", &self.spec)
            .field("private", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl WrappingKeyPair {
    /// A fresh wrapping key pair (aws-lc's DRBG).
    ///
    /// # Errors
    /// [`CryptoError::Internal`] when key generation fails.
    pub fn generate(spec: WrappingKeySpec) -> Result<Self> {
        let size = rsa_key_size(match spec {
            WrappingKeySpec::Rsa2048 => KeySpec::Rsa2048,
            WrappingKeySpec::Rsa3072 => KeySpec::Rsa3072,
            WrappingKeySpec::Rsa4096 => KeySpec::Rsa4096,
        })?;
        let private = PrivateDecryptingKey::generate(size)
            .map_err(|_| CryptoError::Internal("RSA key generation failed"))?;
        let pkcs8 = private
            .as_der()
            .map_err(|_| CryptoError::Internal("RSA private key encoding failed"))?;
        Self::from_storage(spec, pkcs8.as_ref())
    }

    /// Rebuilds a pair saved with [`export_for_storage`](Self::export_for_storage), so an
    /// import token outlives a restart.
    ///
    /// # Errors
    /// [`CryptoError::InvalidInput`] when the bytes are not a PKCS#8 RSA key of `spec`.
    pub fn from_storage(spec: WrappingKeySpec, pkcs8: &[u8]) -> Result<Self> {
        let rejected =
            || CryptoError::InvalidInput(format!("not a PKCS#8 {spec} wrapping private key"));
        let private = PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(|_| rejected())?;
        if private.key_size_bits() != spec.bits() {
            return Err(rejected());
        }
        let public_der = private
            .public_key()
            .as_der()
            .map_err(|_| CryptoError::Internal("RSA public key encoding failed"))?
            .as_ref()
            .to_vec();
        let private = OaepPrivateDecryptingKey::new(private)
            .map_err(|_| CryptoError::Internal("RSA private key setup failed"))?;
        Ok(Self {
            spec,
            private,
            pkcs8: Zeroizing::new(pkcs8.to_vec()),
            public_der,
        })
    }

    /// The spec.
    #[must_use]
    pub fn spec(&self) -> WrappingKeySpec {
        self.spec
    }

    /// The public key, DER `SubjectPublicKeyInfo` (`GetParametersForImport`'s `PublicKey`).
    #[must_use]
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    /// The private key as PKCS#8 DER, for the engine's durable state.
    #[must_use]
    pub fn export_for_storage(&self) -> Zeroizing<Vec<u8>> {
        self.pkcs8.clone()
    }

    /// Recovers key material wrapped with `algorithm` (`EncryptedKeyMaterial`). Pass the
    /// result to [`KeyMaterial::from_imported`](super::KeyMaterial::from_imported).
    ///
    /// # Errors
    /// [`CryptoError::InvalidCiphertext`] (`InvalidCiphertextException`) when it does not
    /// unwrap.
    pub fn unwrap(
        &self,
        algorithm: WrappingAlgorithm,
        encrypted_key_material: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        match algorithm {
            WrappingAlgorithm::RsaesOaepSha1 => {
                self.oaep_decrypt(&OAEP_SHA1_MGF1SHA1, encrypted_key_material)
            }
            WrappingAlgorithm::RsaesOaepSha256 => {
                self.oaep_decrypt(&OAEP_SHA256_MGF1SHA256, encrypted_key_material)
            }
            WrappingAlgorithm::RsaAesKeyWrapSha1 => {
                self.key_wrap_decrypt(&OAEP_SHA1_MGF1SHA1, encrypted_key_material)
            }
            WrappingAlgorithm::RsaAesKeyWrapSha256 => {
                self.key_wrap_decrypt(&OAEP_SHA256_MGF1SHA256, encrypted_key_material)
            }
        }
    }

    fn oaep_decrypt(
        &self,
        oaep: &'static OaepAlgorithm,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        if ciphertext.len() != self.private.key_size_bytes() {
            return Err(CryptoError::InvalidCiphertext);
        }
        let mut out = Zeroizing::new(vec![0u8; self.private.min_output_size()]);
        let len = self
            .private
            .decrypt(oaep, ciphertext, &mut out, None)
            .map_err(|_| CryptoError::InvalidCiphertext)?
            .len();
        out.truncate(len);
        Ok(out)
    }

    fn key_wrap_decrypt(
        &self,
        oaep: &'static OaepAlgorithm,
        encrypted: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let split = self.private.key_size_bytes();
        if encrypted.len() <= split {
            return Err(CryptoError::InvalidCiphertext);
        }
        let (wrapped_key, wrapped_material) = encrypted.split_at(split);
        let aes_key = self.oaep_decrypt(oaep, wrapped_key)?;
        if aes_key.len() != EPHEMERAL_KEY_LEN {
            return Err(CryptoError::InvalidCiphertext);
        }
        let kek = AesKek::new(&AES_256, &aes_key).map_err(|_| CryptoError::InvalidCiphertext)?;
        let mut out = Zeroizing::new(vec![0u8; wrapped_material.len()]);
        let len = kek
            .unwrap_with_padding(wrapped_material, &mut out)
            .map_err(|_| CryptoError::InvalidCiphertext)?
            .len();
        out.truncate(len);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};

    use super::super::tests::rng;
    use super::super::{decrypt, encrypt, KeyMaterial, MessageType, SigningAlgorithm};
    use super::*;

    /// Wraps material as a caller does with the public key (OpenSSL in AWS's instructions).
    fn oaep_wrap(public_der: &[u8], oaep: &'static OaepAlgorithm, material: &[u8]) -> Vec<u8> {
        let public =
            OaepPublicEncryptingKey::new(PublicEncryptingKey::from_der(public_der).unwrap())
                .unwrap();
        let mut out = vec![0; public.ciphertext_size()];
        public
            .encrypt(oaep, material, &mut out, None)
            .unwrap()
            .to_vec()
    }

    fn key_wrap(public_der: &[u8], oaep: &'static OaepAlgorithm, material: &[u8]) -> Vec<u8> {
        let aes_key = [0x3c; EPHEMERAL_KEY_LEN];
        let mut wrapped = oaep_wrap(public_der, oaep, &aes_key);
        let kek = AesKek::new(&AES_256, &aes_key).unwrap();
        let mut out = vec![0; material.len() + 16];
        wrapped.extend_from_slice(kek.wrap_with_padding(material, &mut out).unwrap());
        wrapped
    }

    #[test]
    fn oaep_import_round_trip() {
        let mut rng = rng();
        let pair = WrappingKeyPair::generate(WrappingKeySpec::Rsa2048).unwrap();
        assert!(!format!("{pair:?}").contains("pkcs8"));
        let material = [0x11u8; 32];
        for (algorithm, oaep) in [
            (WrappingAlgorithm::RsaesOaepSha1, &OAEP_SHA1_MGF1SHA1),
            (WrappingAlgorithm::RsaesOaepSha256, &OAEP_SHA256_MGF1SHA256),
        ] {
            let wrapped = oaep_wrap(pair.public_key_der(), oaep, &material);
            let unwrapped = pair.unwrap(algorithm, &wrapped).unwrap();
            assert_eq!(*unwrapped, material);
            let imported =
                KeyMaterial::from_imported(KeySpec::SymmetricDefault, &unwrapped, &mut rng)
                    .unwrap();
            let ctx = std::collections::BTreeMap::new();
            let blob = encrypt(&imported, "arn:k", b"hello", &ctx, &mut rng).unwrap();
            assert_eq!(&*decrypt(&imported, &blob, &ctx).unwrap(), b"hello");

            let mut tampered = wrapped.clone();
            tampered[3] ^= 1;
            assert_eq!(
                pair.unwrap(algorithm, &tampered),
                Err(CryptoError::InvalidCiphertext)
            );
        }
        let sha1 = oaep_wrap(pair.public_key_der(), &OAEP_SHA1_MGF1SHA1, &material);
        assert!(pair
            .unwrap(WrappingAlgorithm::RsaesOaepSha256, &sha1)
            .is_err());
        let other = WrappingKeyPair::generate(WrappingKeySpec::Rsa2048).unwrap();
        assert!(other
            .unwrap(WrappingAlgorithm::RsaesOaepSha1, &sha1)
            .is_err());
    }

    #[test]
    fn key_wrap_import_of_an_asymmetric_key() {
        let mut rng = rng();
        let pair = WrappingKeyPair::generate(WrappingKeySpec::Rsa3072).unwrap();
        let source = KeyMaterial::generate(KeySpec::Rsa2048, &mut rng).unwrap();
        let pkcs8 = source.export_for_storage();
        for (algorithm, oaep) in [
            (WrappingAlgorithm::RsaAesKeyWrapSha1, &OAEP_SHA1_MGF1SHA1),
            (
                WrappingAlgorithm::RsaAesKeyWrapSha256,
                &OAEP_SHA256_MGF1SHA256,
            ),
        ] {
            let wrapped = key_wrap(pair.public_key_der(), oaep, &pkcs8);
            let unwrapped = pair.unwrap(algorithm, &wrapped).unwrap();
            let imported =
                KeyMaterial::from_imported(KeySpec::Rsa2048, &unwrapped, &mut rng).unwrap();
            assert!(imported.same_secret(&source));
            let signature = super::super::sign(
                &imported,
                SigningAlgorithm::RsassaPssSha256,
                MessageType::Raw,
                b"m",
            )
            .unwrap();
            super::super::verify(
                &source,
                SigningAlgorithm::RsassaPssSha256,
                MessageType::Raw,
                b"m",
                &signature,
            )
            .unwrap();
            let mut tampered = wrapped.clone();
            let last = tampered.len() - 1;
            tampered[last] ^= 1;
            assert_eq!(
                pair.unwrap(algorithm, &tampered),
                Err(CryptoError::InvalidCiphertext)
            );
            assert!(pair.unwrap(algorithm, &wrapped[..384]).is_err());
        }
    }

    #[test]
    fn storage_round_trip() {
        let pair = WrappingKeyPair::generate(WrappingKeySpec::Rsa2048).unwrap();
        let stored = pair.export_for_storage();
        let back = WrappingKeyPair::from_storage(WrappingKeySpec::Rsa2048, &stored).unwrap();
        assert_eq!(back.public_key_der(), pair.public_key_der());
        assert!(WrappingKeyPair::from_storage(WrappingKeySpec::Rsa4096, &stored).is_err());
    }
}
