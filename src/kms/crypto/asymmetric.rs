//! Asymmetric KMS keys: RSA-OAEP encryption and RSA/ECDSA signatures, in the formats KMS
//! produces so that SDKs and offline verifiers (OpenSSL, the AWS Encryption SDK) accept them.
//!
//! - Encryption ciphertext is the raw RSA-OAEP output (modulus length), no header: KMS
//!   requires the `KeyId` for asymmetric `Decrypt`.
//! - RSA signatures are the raw modulus-length value; ECDSA signatures are DER
//!   (`Ecdsa-Sig-Value`), as KMS returns them.
//! - `Verify` reports a bad signature as [`CryptoError::InvalidSignature`]
//!   (`KMSInvalidSignatureException`), not as `false`.

use aws_lc_rs::digest::Digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{OaepAlgorithm, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256};
use aws_lc_rs::signature::{
    RsaEncoding, UnparsedPublicKey, VerificationAlgorithm, ECDSA_P256K1_SHA256_ASN1,
    ECDSA_P256_SHA256_ASN1, ECDSA_P384_SHA384_ASN1, ECDSA_P521_SHA512_ASN1,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_2048_8192_SHA384, RSA_PKCS1_2048_8192_SHA512,
    RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PKCS1_SHA512, RSA_PSS_2048_8192_SHA256,
    RSA_PSS_2048_8192_SHA384, RSA_PSS_2048_8192_SHA512, RSA_PSS_SHA256, RSA_PSS_SHA384,
    RSA_PSS_SHA512,
};
use zeroize::Zeroizing;

use super::material::{KeyMaterial, Secret};
use super::spec::{EncryptionAlgorithm, KeySpec, KeyUsage, MessageType, SigningAlgorithm};
use super::{CryptoError, Result};

/// The largest `RAW` message of `Sign`/`Verify` (botocore `PlaintextType`).
pub const MAX_MESSAGE_LEN: usize = 4096;

/// The largest plaintext KMS accepts for RSA encryption: modulus bytes − 2·hash − 2
/// (`RSA_2048`: 214 with `RSAES_OAEP_SHA_1`, 190 with `RSAES_OAEP_SHA_256`). `None` when
/// the pair does not encrypt.
#[must_use]
pub fn max_plaintext_len(spec: KeySpec, algorithm: EncryptionAlgorithm) -> Option<usize> {
    let hash_len = match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => 20,
        EncryptionAlgorithm::RsaesOaepSha256 => 32,
        EncryptionAlgorithm::SymmetricDefault => return None,
    };
    spec.rsa_bits().map(|bits| bits / 8 - 2 * hash_len - 2)
}

fn unsupported(algorithm: &str, spec: KeySpec) -> CryptoError {
    CryptoError::UnsupportedAlgorithm {
        algorithm: algorithm.to_owned(),
        spec: spec.as_str().to_owned(),
    }
}

fn oaep(algorithm: EncryptionAlgorithm, spec: KeySpec) -> Result<&'static OaepAlgorithm> {
    match algorithm {
        EncryptionAlgorithm::RsaesOaepSha1 => Ok(&OAEP_SHA1_MGF1SHA1),
        EncryptionAlgorithm::RsaesOaepSha256 => Ok(&OAEP_SHA256_MGF1SHA256),
        EncryptionAlgorithm::SymmetricDefault => Err(unsupported(algorithm.as_str(), spec)),
    }
}

/// `Encrypt` with an RSA key (also what a caller does offline with `GetPublicKey`'s key).
///
/// # Errors
/// [`CryptoError::UnsupportedAlgorithm`] for a non-RSA key or `SYMMETRIC_DEFAULT`;
/// [`CryptoError::InvalidInput`] for an empty or too long plaintext.
pub fn rsa_encrypt(
    material: &KeyMaterial,
    algorithm: EncryptionAlgorithm,
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let spec = material.spec();
    let Secret::Rsa { encrypting, .. } = material.secret() else {
        return Err(unsupported(algorithm.as_str(), spec));
    };
    let oaep = oaep(algorithm, spec)?;
    let max = encrypting.max_plaintext_size(oaep);
    if plaintext.is_empty() || plaintext.len() > max {
        return Err(CryptoError::InvalidInput(format!(
            "plaintext for {algorithm} with {spec} must be 1 to {max} bytes, not {}",
            plaintext.len()
        )));
    }
    let mut out = vec![0u8; encrypting.ciphertext_size()];
    let len = encrypting
        .encrypt(oaep, plaintext, &mut out, None)
        .map_err(|_| CryptoError::Internal("RSA-OAEP encryption failed"))?
        .len();
    out.truncate(len);
    Ok(out)
}

/// `Decrypt` with an RSA key.
///
/// # Errors
/// [`CryptoError::InvalidCiphertext`] when the ciphertext does not decrypt under this key and
/// algorithm; [`CryptoError::UnsupportedAlgorithm`] for a non-RSA key or `SYMMETRIC_DEFAULT`.
pub fn rsa_decrypt(
    material: &KeyMaterial,
    algorithm: EncryptionAlgorithm,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let spec = material.spec();
    let Secret::Rsa { decrypting, .. } = material.secret() else {
        return Err(unsupported(algorithm.as_str(), spec));
    };
    let oaep = oaep(algorithm, spec)?;
    if ciphertext.len() != decrypting.key_size_bytes() {
        return Err(CryptoError::InvalidCiphertext);
    }
    let mut out = Zeroizing::new(vec![0u8; decrypting.min_output_size()]);
    let len = decrypting
        .decrypt(oaep, ciphertext, &mut out, None)
        .map_err(|_| CryptoError::InvalidCiphertext)?
        .len();
    out.truncate(len);
    Ok(out)
}

/// Checks that `algorithm` suits the key and the message its type, and returns the digest
/// for `DIGEST` messages.
fn prepare(
    spec: KeySpec,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Option<Digest>> {
    if !spec
        .signing_algorithms(KeyUsage::SignVerify)
        .contains(&algorithm)
    {
        return Err(unsupported(algorithm.as_str(), spec));
    }
    let hash = algorithm.digest_algorithm();
    match message_type {
        MessageType::Raw => {
            if message.is_empty() || message.len() > MAX_MESSAGE_LEN {
                return Err(CryptoError::InvalidInput(format!(
                    "message must be 1 to {MAX_MESSAGE_LEN} bytes, not {}",
                    message.len()
                )));
            }
            Ok(None)
        }
        MessageType::Digest => Digest::import_less_safe(message, hash)
            .map(Some)
            .map_err(|_| {
                CryptoError::InvalidInput(format!(
                    "digest for {algorithm} must be {} bytes, not {}",
                    hash.output_len(),
                    message.len()
                ))
            }),
    }
}

fn rsa_encoding(algorithm: SigningAlgorithm) -> Option<&'static dyn RsaEncoding> {
    match algorithm {
        SigningAlgorithm::RsassaPssSha256 => Some(&RSA_PSS_SHA256),
        SigningAlgorithm::RsassaPssSha384 => Some(&RSA_PSS_SHA384),
        SigningAlgorithm::RsassaPssSha512 => Some(&RSA_PSS_SHA512),
        SigningAlgorithm::RsassaPkcs1V15Sha256 => Some(&RSA_PKCS1_SHA256),
        SigningAlgorithm::RsassaPkcs1V15Sha384 => Some(&RSA_PKCS1_SHA384),
        SigningAlgorithm::RsassaPkcs1V15Sha512 => Some(&RSA_PKCS1_SHA512),
        SigningAlgorithm::EcdsaSha256
        | SigningAlgorithm::EcdsaSha384
        | SigningAlgorithm::EcdsaSha512 => None,
    }
}

/// The aws-lc-rs verification algorithm KMS's `algorithm` means for a key of `spec`.
fn verification(
    spec: KeySpec,
    algorithm: SigningAlgorithm,
) -> Result<&'static dyn VerificationAlgorithm> {
    Ok(match (spec, algorithm) {
        (_, SigningAlgorithm::RsassaPssSha256) => &RSA_PSS_2048_8192_SHA256,
        (_, SigningAlgorithm::RsassaPssSha384) => &RSA_PSS_2048_8192_SHA384,
        (_, SigningAlgorithm::RsassaPssSha512) => &RSA_PSS_2048_8192_SHA512,
        (_, SigningAlgorithm::RsassaPkcs1V15Sha256) => &RSA_PKCS1_2048_8192_SHA256,
        (_, SigningAlgorithm::RsassaPkcs1V15Sha384) => &RSA_PKCS1_2048_8192_SHA384,
        (_, SigningAlgorithm::RsassaPkcs1V15Sha512) => &RSA_PKCS1_2048_8192_SHA512,
        (KeySpec::EccNistP256, SigningAlgorithm::EcdsaSha256) => &ECDSA_P256_SHA256_ASN1,
        (KeySpec::EccSecgP256k1, SigningAlgorithm::EcdsaSha256) => &ECDSA_P256K1_SHA256_ASN1,
        (KeySpec::EccNistP384, SigningAlgorithm::EcdsaSha384) => &ECDSA_P384_SHA384_ASN1,
        (KeySpec::EccNistP521, SigningAlgorithm::EcdsaSha512) => &ECDSA_P521_SHA512_ASN1,
        _ => return Err(unsupported(algorithm.as_str(), spec)),
    })
}

/// `Sign`: RSA (PSS with salt = hash length, or PKCS#1 v1.5) or ECDSA with the curve's hash.
/// A `RAW` message (1–4096 bytes) is hashed here; a `DIGEST` message must be exactly the
/// hash's length.
///
/// # Errors
/// [`CryptoError::UnsupportedAlgorithm`] when the key cannot sign with `algorithm`;
/// [`CryptoError::InvalidInput`] for a message of the wrong length.
pub fn sign(
    material: &KeyMaterial,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
) -> Result<Vec<u8>> {
    let spec = material.spec();
    let digest = prepare(spec, algorithm, message_type, message)?;
    let failed = |_| CryptoError::Internal("signing failed");
    match material.secret() {
        Secret::Rsa { signing, .. } => {
            let encoding =
                rsa_encoding(algorithm).ok_or_else(|| unsupported(algorithm.as_str(), spec))?;
            let mut signature = vec![0u8; signing.public_modulus_len()];
            match digest {
                // The random source is ignored by aws-lc-rs (it uses its own DRBG for PSS salt).
                None => signing.sign(encoding, &SystemRandom::new(), message, &mut signature),
                Some(digest) => signing.sign_digest(encoding, &digest, &mut signature),
            }
            .map_err(failed)?;
            Ok(signature)
        }
        Secret::Ecc { signing, .. } => {
            let signature = match digest {
                None => signing.sign(&SystemRandom::new(), message),
                Some(digest) => signing.sign_digest(&digest),
            }
            .map_err(failed)?;
            Ok(signature.as_ref().to_vec())
        }
        Secret::Aes { .. } | Secret::Hmac { .. } => Err(unsupported(algorithm.as_str(), spec)),
    }
}

/// `Verify` against the key's public key.
///
/// # Errors
/// [`CryptoError::InvalidSignature`] when the signature does not verify;
/// [`CryptoError::UnsupportedAlgorithm`] and [`CryptoError::InvalidInput`] as for [`sign`].
pub fn verify(
    material: &KeyMaterial,
    algorithm: SigningAlgorithm,
    message_type: MessageType,
    message: &[u8],
    signature: &[u8],
) -> Result<()> {
    let spec = material.spec();
    let digest = prepare(spec, algorithm, message_type, message)?;
    let public_der = material
        .public_key_der()
        .ok_or_else(|| unsupported(algorithm.as_str(), spec))?;
    let key = UnparsedPublicKey::new(verification(spec, algorithm)?, public_der);
    match digest {
        None => key.verify(message, signature),
        Some(digest) => key.verify_digest(&digest, signature),
    }
    .map_err(|_| CryptoError::InvalidSignature)
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::digest;
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey};

    use super::super::tests::rng;
    use super::*;

    fn signing_specs() -> Vec<KeyMaterial> {
        let mut rng = rng();
        [
            KeySpec::Rsa2048,
            KeySpec::Rsa3072,
            KeySpec::Rsa4096,
            KeySpec::EccNistP256,
            KeySpec::EccNistP384,
            KeySpec::EccNistP521,
            KeySpec::EccSecgP256k1,
        ]
        .iter()
        .map(|spec| KeyMaterial::generate(*spec, &mut rng).unwrap())
        .collect()
    }

    #[test]
    fn sign_verify_every_spec_and_algorithm() {
        for material in signing_specs() {
            let spec = material.spec();
            let algorithms = spec.signing_algorithms(KeyUsage::SignVerify);
            assert!(!algorithms.is_empty());
            for algorithm in algorithms {
                let message = b"the quick brown fox";
                let signature = sign(&material, *algorithm, MessageType::Raw, message).unwrap();
                verify(&material, *algorithm, MessageType::Raw, message, &signature).unwrap();
                assert_eq!(
                    verify(
                        &material,
                        *algorithm,
                        MessageType::Raw,
                        b"other",
                        &signature
                    ),
                    Err(CryptoError::InvalidSignature),
                    "{spec} {algorithm}"
                );
                let mut bad = signature.clone();
                let last = bad.len() - 1;
                bad[last] ^= 1;
                assert_eq!(
                    verify(&material, *algorithm, MessageType::Raw, message, &bad),
                    Err(CryptoError::InvalidSignature)
                );
                if let Some(bits) = spec.rsa_bits() {
                    assert_eq!(signature.len(), bits / 8, "raw RSA signature");
                } else {
                    assert_eq!(signature[0], 0x30, "DER SEQUENCE");
                }
                // As an SDK would: verify with the exported public key.
                let public = material.public_key_der().unwrap();
                UnparsedPublicKey::new(verification(spec, *algorithm).unwrap(), public)
                    .verify(message, &signature)
                    .unwrap();
            }
        }
    }

    #[test]
    fn digest_and_raw_are_equivalent() {
        for material in signing_specs() {
            let spec = material.spec();
            for algorithm in spec.signing_algorithms(KeyUsage::SignVerify) {
                let message = b"message to hash";
                let hashed = digest::digest(algorithm.digest_algorithm(), message);
                let from_digest =
                    sign(&material, *algorithm, MessageType::Digest, hashed.as_ref()).unwrap();
                verify(
                    &material,
                    *algorithm,
                    MessageType::Raw,
                    message,
                    &from_digest,
                )
                .unwrap();
                let from_raw = sign(&material, *algorithm, MessageType::Raw, message).unwrap();
                verify(
                    &material,
                    *algorithm,
                    MessageType::Digest,
                    hashed.as_ref(),
                    &from_raw,
                )
                .unwrap();
                if *algorithm == SigningAlgorithm::RsassaPkcs1V15Sha256 {
                    // PKCS#1 v1.5 is deterministic: both paths give the same bytes.
                    assert_eq!(from_digest, from_raw);
                }
                let short = &hashed.as_ref()[1..];
                assert!(matches!(
                    sign(&material, *algorithm, MessageType::Digest, short),
                    Err(CryptoError::InvalidInput(_))
                ));
            }
        }
    }

    #[test]
    fn wrong_algorithms_and_message_sizes() {
        let mut rng = rng();
        let p256 = KeyMaterial::generate(KeySpec::EccNistP256, &mut rng).unwrap();
        for algorithm in [
            SigningAlgorithm::EcdsaSha384,
            SigningAlgorithm::EcdsaSha512,
            SigningAlgorithm::RsassaPssSha256,
        ] {
            assert!(matches!(
                sign(&p256, algorithm, MessageType::Raw, b"m"),
                Err(CryptoError::UnsupportedAlgorithm { .. })
            ));
        }
        for message in [vec![], vec![0; MAX_MESSAGE_LEN + 1]] {
            assert!(matches!(
                sign(
                    &p256,
                    SigningAlgorithm::EcdsaSha256,
                    MessageType::Raw,
                    &message
                ),
                Err(CryptoError::InvalidInput(_))
            ));
        }
        assert!(sign(
            &p256,
            SigningAlgorithm::EcdsaSha256,
            MessageType::Raw,
            &[0; MAX_MESSAGE_LEN]
        )
        .is_ok());
        let aes = KeyMaterial::generate(KeySpec::SymmetricDefault, &mut rng).unwrap();
        assert!(matches!(
            sign(&aes, SigningAlgorithm::EcdsaSha256, MessageType::Raw, b"m"),
            Err(CryptoError::UnsupportedAlgorithm { .. })
        ));
        assert!(matches!(
            rsa_encrypt(&aes, EncryptionAlgorithm::RsaesOaepSha256, b"m"),
            Err(CryptoError::UnsupportedAlgorithm { .. })
        ));
    }

    #[test]
    fn rsa_encryption_round_trips_and_limits() {
        let mut rng = rng();
        for spec in [KeySpec::Rsa2048, KeySpec::Rsa3072, KeySpec::Rsa4096] {
            let material = KeyMaterial::generate(spec, &mut rng).unwrap();
            for algorithm in spec.encryption_algorithms(KeyUsage::EncryptDecrypt) {
                let max = max_plaintext_len(spec, *algorithm).unwrap();
                let plaintext = vec![0x42; max];
                let ciphertext = rsa_encrypt(&material, *algorithm, &plaintext).unwrap();
                assert_eq!(ciphertext.len(), spec.rsa_bits().unwrap() / 8);
                assert_eq!(
                    *rsa_decrypt(&material, *algorithm, &ciphertext).unwrap(),
                    plaintext
                );
                assert!(matches!(
                    rsa_encrypt(&material, *algorithm, &vec![0; max + 1]),
                    Err(CryptoError::InvalidInput(_))
                ));
                let mut tampered = ciphertext.clone();
                tampered[10] ^= 1;
                assert_eq!(
                    rsa_decrypt(&material, *algorithm, &tampered),
                    Err(CryptoError::InvalidCiphertext)
                );
                assert_eq!(
                    rsa_decrypt(&material, *algorithm, &ciphertext[1..]),
                    Err(CryptoError::InvalidCiphertext)
                );

                // As a caller would offline: encrypt with GetPublicKey's DER.
                let public =
                    PublicEncryptingKey::from_der(material.public_key_der().unwrap()).unwrap();
                let public = OaepPublicEncryptingKey::new(public).unwrap();
                let oaep = oaep(*algorithm, spec).unwrap();
                let mut out = vec![0; public.ciphertext_size()];
                let offline = public.encrypt(oaep, b"offline", &mut out, None).unwrap();
                assert_eq!(
                    &*rsa_decrypt(&material, *algorithm, offline).unwrap(),
                    b"offline"
                );
            }
        }
        assert_eq!(
            max_plaintext_len(KeySpec::Rsa2048, EncryptionAlgorithm::RsaesOaepSha1),
            Some(214)
        );
        assert_eq!(
            max_plaintext_len(KeySpec::Rsa4096, EncryptionAlgorithm::RsaesOaepSha256),
            Some(446)
        );
        let material = KeyMaterial::generate(KeySpec::Rsa2048, &mut rng).unwrap();
        let sha1 = rsa_encrypt(&material, EncryptionAlgorithm::RsaesOaepSha1, b"cross").unwrap();
        assert!(rsa_decrypt(&material, EncryptionAlgorithm::RsaesOaepSha256, &sha1).is_err());
    }
}
