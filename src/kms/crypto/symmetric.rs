//! `SYMMETRIC_DEFAULT` encryption: the ciphertext blob `Encrypt` and the data-key operations
//! return and `Decrypt` accepts without a `KeyId`.
//!
//! The blob names its key and key material in a clear header, so `Decrypt` finds the key by
//! itself and ciphertext made before a rotation still decrypts (the engine keeps old
//! material). Format, version 1 (all integers big-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 3 | magic `KMA` |
//! | 3 | 1 | version `0x01` |
//! | 4 | 2 | key id length `N`, 1–2048 |
//! | 6 | `N` | key id (the key ARN), UTF-8 |
//! | 6+N | 32 | key material id (the bytes of its 64 hex digits) |
//! | 38+N | 12 | AES-GCM nonce, random |
//! | 50+N | … | AES-256-GCM ciphertext, then the 16-byte tag |
//!
//! The additional authenticated data is the header (bytes `0..50+N`) followed by the
//! canonical encryption context: the pair count as u32, then for each pair in byte order of
//! the keys, the key length (u32), key bytes, value length (u32), value bytes. Any change to
//! the header, the ciphertext or the context fails authentication.
//!
//! Nonces are random (96 bits); AES-GCM stays within its bounds for up to 2^32 encryptions
//! per key material, far beyond what a mini-KMS key sees between rotations.

use std::collections::BTreeMap;
use std::fmt;

use aws_lc_rs::aead::{Aad, Nonce, NONCE_LEN};
use rand::CryptoRng;
use zeroize::Zeroizing;

use super::material::{KeyMaterial, KeyMaterialId, Secret};
use super::spec::{DataKeyPairSpec, EncryptionAlgorithm};
use super::{CryptoError, Result, MAX_RANDOM_LEN};

/// The largest plaintext of `Encrypt` (botocore `PlaintextType`, 1–4096 bytes); checked by
/// [`encrypt`].
pub const MAX_PLAINTEXT_LEN: usize = 4096;

/// The longest key id a blob can name (botocore `KeyIdType`).
pub const MAX_KEY_ID_LEN: usize = 2048;

const MAGIC: &[u8; 3] = b"KMA";
const VERSION: u8 = 1;
const TAG_LEN: usize = 16;

/// What a ciphertext blob's header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobHeader {
    /// The key the blob was encrypted under (its ARN).
    pub key_id: String,
    /// The key material generation.
    pub material_id: KeyMaterialId,
}

impl BlobHeader {
    /// Checks that the blob was made under `key_arn` (what `Decrypt` with a `KeyId` and
    /// `ReEncrypt`'s `SourceKeyId` require).
    ///
    /// # Errors
    /// [`CryptoError::IncorrectKey`] when it names another key.
    pub fn ensure_key(&self, key_arn: &str) -> Result<()> {
        if self.key_id == key_arn {
            Ok(())
        } else {
            Err(CryptoError::IncorrectKey {
                expected: key_arn.to_owned(),
            })
        }
    }
}

/// A blob split into its parts.
struct ParsedBlob<'a> {
    header: BlobHeader,
    /// The header's bytes, the first part of the AAD.
    header_bytes: &'a [u8],
    nonce: [u8; NONCE_LEN],
    /// Ciphertext and tag.
    sealed: &'a [u8],
}

/// Reads the header of a ciphertext blob, without decrypting it.
///
/// # Errors
/// [`CryptoError::InvalidCiphertext`] when the blob is not one of ours.
pub fn parse_blob(blob: &[u8]) -> Result<BlobHeader> {
    parse(blob).map(|parsed| parsed.header)
}

fn parse(blob: &[u8]) -> Result<ParsedBlob<'_>> {
    let mut reader = Reader { rest: blob };
    if reader.take(MAGIC.len())? != MAGIC || reader.take(1)? != [VERSION] {
        return Err(CryptoError::InvalidCiphertext);
    }
    let key_id_len = usize::from(u16::from_be_bytes(reader.array()?));
    if key_id_len == 0 || key_id_len > MAX_KEY_ID_LEN {
        return Err(CryptoError::InvalidCiphertext);
    }
    let key_id = std::str::from_utf8(reader.take(key_id_len)?)
        .map_err(|_| CryptoError::InvalidCiphertext)?
        .to_owned();
    let material_id = KeyMaterialId::from_bytes(&reader.array()?);
    let nonce = reader.array()?;
    let header_bytes = &blob[..blob.len() - reader.rest.len()];
    if reader.rest.len() < TAG_LEN {
        return Err(CryptoError::InvalidCiphertext);
    }
    Ok(ParsedBlob {
        header: BlobHeader {
            key_id,
            material_id,
        },
        header_bytes,
        nonce,
        sealed: reader.rest,
    })
}

/// A cursor over blob bytes that fails with `InvalidCiphertext` when they run out.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8]> {
        if self.rest.len() < len {
            return Err(CryptoError::InvalidCiphertext);
        }
        let (head, tail) = self.rest.split_at(len);
        self.rest = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
}

/// The AAD: header bytes, then the canonical encryption context.
fn additional_data(header: &[u8], context: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let too_large = || CryptoError::InvalidInput("encryption context is too large".to_owned());
    let mut aad = Vec::with_capacity(header.len() + 4 + context.len() * 16);
    aad.extend_from_slice(header);
    aad.extend_from_slice(
        &u32::try_from(context.len())
            .map_err(|_| too_large())?
            .to_be_bytes(),
    );
    // BTreeMap<String, _> iterates in byte order of the keys, which makes this canonical.
    for (key, value) in context {
        for text in [key, value] {
            let len = u32::try_from(text.len()).map_err(|_| too_large())?;
            aad.extend_from_slice(&len.to_be_bytes());
            aad.extend_from_slice(text.as_bytes());
        }
    }
    Ok(aad)
}

/// The symmetric secret of a material, or the error KMS gives for a non-symmetric key.
fn aes_key(material: &KeyMaterial) -> Result<&aws_lc_rs::aead::LessSafeKey> {
    match material.secret() {
        Secret::Aes { aead, .. } => Ok(aead),
        Secret::Hmac { .. } | Secret::Rsa { .. } | Secret::Ecc { .. } => {
            Err(CryptoError::UnsupportedAlgorithm {
                algorithm: EncryptionAlgorithm::SymmetricDefault.as_str().to_owned(),
                spec: material.spec().as_str().to_owned(),
            })
        }
    }
}

/// `Encrypt` with `SYMMETRIC_DEFAULT`: seals `plaintext` (1–4096 bytes) under `material` into
/// a blob naming `key_id` (the key ARN) and the material, bound to `context`.
///
/// # Errors
/// [`CryptoError::InvalidInput`] for an empty or too long plaintext or key id;
/// [`CryptoError::UnsupportedAlgorithm`] when `material` is not symmetric.
pub fn encrypt<R: CryptoRng + ?Sized>(
    material: &KeyMaterial,
    key_id: &str,
    plaintext: &[u8],
    context: &BTreeMap<String, String>,
    rng: &mut R,
) -> Result<Vec<u8>> {
    if plaintext.is_empty() || plaintext.len() > MAX_PLAINTEXT_LEN {
        return Err(CryptoError::InvalidInput(format!(
            "plaintext must be 1 to {MAX_PLAINTEXT_LEN} bytes, not {}",
            plaintext.len()
        )));
    }
    seal(material, key_id, plaintext, context, rng)
}

/// [`encrypt`] without the plaintext limit of the `Encrypt` API, for data keys and data key
/// pairs the engine generates itself.
fn seal<R: CryptoRng + ?Sized>(
    material: &KeyMaterial,
    key_id: &str,
    plaintext: &[u8],
    context: &BTreeMap<String, String>,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let key = aes_key(material)?;
    let key_id_len = u16::try_from(key_id.len())
        .ok()
        .filter(|len| (1..=MAX_KEY_ID_LEN).contains(&usize::from(*len)))
        .ok_or_else(|| {
            CryptoError::InvalidInput(format!(
                "key id must be 1 to {MAX_KEY_ID_LEN} bytes, not {}",
                key_id.len()
            ))
        })?;
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill_bytes(&mut nonce);

    let mut blob = Vec::with_capacity(50 + key_id.len() + plaintext.len() + TAG_LEN);
    blob.extend_from_slice(MAGIC);
    blob.push(VERSION);
    blob.extend_from_slice(&key_id_len.to_be_bytes());
    blob.extend_from_slice(key_id.as_bytes());
    blob.extend_from_slice(&material.material_id().to_bytes());
    blob.extend_from_slice(&nonce);
    let aad = additional_data(&blob, context)?;

    let mut sealed = plaintext.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad.as_slice()),
        &mut sealed,
    )
    .map_err(|_| CryptoError::Internal("AES-GCM encryption failed"))?;
    blob.extend_from_slice(&sealed);
    Ok(blob)
}

/// `Decrypt` of a `SYMMETRIC_DEFAULT` blob with the material its header names (find it with
/// [`parse_blob`]) and the encryption context it was made with.
///
/// # Errors
/// [`CryptoError::InvalidCiphertext`] when the blob is malformed or tampered with, names other
/// material, or the context differs; [`CryptoError::UnsupportedAlgorithm`] when `material`
/// is not symmetric.
pub fn decrypt(
    material: &KeyMaterial,
    blob: &[u8],
    context: &BTreeMap<String, String>,
) -> Result<Zeroizing<Vec<u8>>> {
    let key = aes_key(material)?;
    let parsed = parse(blob)?;
    if parsed.header.material_id != *material.material_id() {
        return Err(CryptoError::InvalidCiphertext);
    }
    let aad = additional_data(parsed.header_bytes, context)?;
    let mut buffer = Zeroizing::new(parsed.sealed.to_vec());
    let plaintext_len = key
        .open_in_place(
            Nonce::assume_unique_for_key(parsed.nonce),
            Aad::from(aad.as_slice()),
            &mut buffer,
        )
        .map_err(|_| CryptoError::InvalidCiphertext)?
        .len();
    buffer.truncate(plaintext_len);
    Ok(buffer)
}

/// A data key: the plaintext for the caller and its blob under the KMS key.
pub struct DataKey {
    /// The key (`Plaintext`); `GenerateDataKeyWithoutPlaintext` drops it.
    pub plaintext: Zeroizing<Vec<u8>>,
    /// The key encrypted under the KMS key (`CiphertextBlob`).
    pub ciphertext_blob: Vec<u8>,
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKey")
            .field("plaintext", &"<redacted>")
            .field("ciphertext_blob_len", &self.ciphertext_blob.len())
            .finish()
    }
}

/// `GenerateDataKey`: `number_of_bytes` (1–1024; `AES_256` is 32, `AES_128` 16, see
/// [`DataKeySpec::key_len`](super::DataKeySpec::key_len)) random bytes and their blob under
/// `material`.
///
/// # Errors
/// [`CryptoError::InvalidInput`] for a length out of range;
/// [`CryptoError::UnsupportedAlgorithm`] when `material` is not symmetric.
pub fn generate_data_key<R: CryptoRng + ?Sized>(
    material: &KeyMaterial,
    key_id: &str,
    number_of_bytes: usize,
    context: &BTreeMap<String, String>,
    rng: &mut R,
) -> Result<DataKey> {
    aes_key(material)?;
    let plaintext = super::generate_random(rng, number_of_bytes).map_err(|_| {
        CryptoError::InvalidInput(format!(
            "NumberOfBytes must be 1 to {MAX_RANDOM_LEN}, not {number_of_bytes}"
        ))
    })?;
    let ciphertext_blob = seal(material, key_id, &plaintext, context, rng)?;
    Ok(DataKey {
        plaintext,
        ciphertext_blob,
    })
}

/// A data key pair.
pub struct DataKeyPair {
    /// The private key, PKCS#8 DER (`PrivateKeyPlaintext`).
    pub private_key_plaintext: Zeroizing<Vec<u8>>,
    /// The private key encrypted under the KMS key (`PrivateKeyCiphertextBlob`).
    pub private_key_ciphertext_blob: Vec<u8>,
    /// The public key, DER `SubjectPublicKeyInfo` (`PublicKey`).
    pub public_key: Vec<u8>,
}

impl fmt::Debug for DataKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataKeyPair")
            .field("private_key_plaintext", &"<redacted>")
            .field(
                "private_key_ciphertext_blob_len",
                &self.private_key_ciphertext_blob.len(),
            )
            .field("public_key_len", &self.public_key.len())
            .finish()
    }
}

/// `GenerateDataKeyPair`: a fresh key pair of `spec`, its private key also encrypted under
/// `material`.
///
/// # Errors
/// [`CryptoError::UnsupportedAlgorithm`] when `material` is not symmetric;
/// [`CryptoError::Internal`] when key generation fails.
pub fn generate_data_key_pair<R: CryptoRng + ?Sized>(
    material: &KeyMaterial,
    key_id: &str,
    spec: DataKeyPairSpec,
    context: &BTreeMap<String, String>,
    rng: &mut R,
) -> Result<DataKeyPair> {
    aes_key(material)?;
    let pair = KeyMaterial::generate(spec.key_spec(), rng)?;
    let public_key = pair
        .public_key_der()
        .ok_or(CryptoError::Internal("data key pair has no public key"))?
        .to_vec();
    let private_key_plaintext = pair.export_for_storage();
    let private_key_ciphertext_blob = seal(material, key_id, &private_key_plaintext, context, rng)?;
    Ok(DataKeyPair {
        private_key_plaintext,
        private_key_ciphertext_blob,
        public_key,
    })
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{
        UnparsedPublicKey, ECDSA_P384_SHA384_ASN1, RSA_PSS_2048_8192_SHA256,
    };

    use super::super::tests::rng;
    use super::super::{sign, KeySpec, MessageType, SigningAlgorithm};
    use super::*;

    const ARN: &str = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab";

    fn context(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn round_trip_and_header() {
        let mut rng = rng();
        let material = KeyMaterial::generate(KeySpec::SymmetricDefault, &mut rng).unwrap();
        let ctx = context(&[("purpose", "test"), ("a", "")]);
        for len in [1, 17, MAX_PLAINTEXT_LEN] {
            let plaintext = vec![0x5a; len];
            let blob = encrypt(&material, ARN, &plaintext, &ctx, &mut rng).unwrap();
            assert_eq!(blob.len(), 50 + ARN.len() + len + TAG_LEN);
            let header = parse_blob(&blob).unwrap();
            assert_eq!(header.key_id, ARN);
            assert_eq!(header.material_id, *material.material_id());
            assert!(header.ensure_key(ARN).is_ok());
            assert!(matches!(
                header.ensure_key("arn:aws:kms:us-east-1:111122223333:key/other"),
                Err(CryptoError::IncorrectKey { .. })
            ));
            assert_eq!(*decrypt(&material, &blob, &ctx).unwrap(), plaintext);
        }
        let again = encrypt(&material, ARN, b"x", &ctx, &mut rng).unwrap();
        let twice = encrypt(&material, ARN, b"x", &ctx, &mut rng).unwrap();
        assert_ne!(again, twice, "nonces differ");
    }

    #[test]
    fn plaintext_and_key_id_limits() {
        let mut rng = rng();
        let material = KeyMaterial::generate(KeySpec::SymmetricDefault, &mut rng).unwrap();
        let ctx = BTreeMap::new();
        for plaintext in [vec![], vec![0; MAX_PLAINTEXT_LEN + 1]] {
            assert!(matches!(
                encrypt(&material, ARN, &plaintext, &ctx, &mut rng),
                Err(CryptoError::InvalidInput(_))
            ));
        }
        assert!(encrypt(&material, "", b"x", &ctx, &mut rng).is_err());
        let long = "k".repeat(MAX_KEY_ID_LEN + 1);
        assert!(encrypt(&material, &long, b"x", &ctx, &mut rng).is_err());
    }

    #[test]
    fn old_material_still_decrypts() {
        let mut rng = rng();
        let first = KeyMaterial::generate(KeySpec::SymmetricDefault, &mut rng).unwrap();
        let second = KeyMaterial::generate(KeySpec::SymmetricDefault, &mut rng).unwrap();
        let ctx = context(&[("k", "v")]);
        let blob = encrypt(&first, ARN, b"before rotation", &ctx, &mut rng).unwrap();
        // The engine rotates, keeps both, and picks the material the blob names.
        let generations = [first.clone(), second.clone()];
        let header = parse_blob(&blob).unwrap();
        let named = generations
            .iter()
            .find(|m| m.id() == header.material_id)
            .unwrap();
        assert_eq!(named.id(), first.id());
        assert_eq!(&*decrypt(named, &blob, &ctx).unwrap(), b"before rotation");
        assert_eq!(
            decrypt(&second, &blob, &ctx),
            Err(CryptoError::InvalidCiphertext)
        );
    }

    #[test]
    fn wrong_context_fails() {
        let mut rng = rng();
        let material = KeyMaterial::generate(KeySpec::SymmetricDefault, &mut rng).unwrap();
        let ctx = context(&[("a", "bc")]);
        let blob = encrypt(&material, ARN, b"secret", &ctx, &mut rng).unwrap();
        for wrong in [
            BTreeMap::new(),
            context(&[("a", "b")]),
            context(&[("ab", "c")]),
            context(&[("a", "bc"), ("d", "e")]),
            context(&[("A", "bc")]),
        ] {
            assert_eq!(
                decrypt(&material, &blob, &wrong),
                Err(CryptoError::InvalidCiphertext)
            );
        }
        // Length prefixes keep shifted boundaries apart.
        let shifted = context(&[("a", "b"), ("c", "")]);
        let blob = encrypt(&material, ARN, b"s", &shifted, &mut rng).unwrap();
        assert!(decrypt(&material, &blob, &context(&[("a", "bc")])).is_err());
        assert!(decrypt(&material, &blob, &shifted).is_ok());
    }

    #[test]
    fn tampered_blob_fails() {
        let mut rng = rng();
        let material = KeyMaterial::generate(KeySpec::SymmetricDefault, &mut rng).unwrap();
        let ctx = BTreeMap::new();
        let blob = encrypt(&material, ARN, b"secret message", &ctx, &mut rng).unwrap();
        for index in 0..blob.len() {
            let mut tampered = blob.clone();
            tampered[index] ^= 0x01;
            assert!(decrypt(&material, &tampered, &ctx).is_err(), "byte {index}");
        }
        for len in 0..blob.len() {
            assert!(
                decrypt(&material, &blob[..len], &ctx).is_err(),
                "length {len}"
            );
        }
        let mut longer = blob.clone();
        longer.push(0);
        assert!(decrypt(&material, &longer, &ctx).is_err());
        // A header rewritten to name other material fails authentication under it.
        let other = KeyMaterial::generate(KeySpec::SymmetricDefault, &mut rng).unwrap();
        let mut renamed = blob.clone();
        let at = 6 + ARN.len();
        renamed[at..at + 32].copy_from_slice(&other.material_id().to_bytes());
        assert_eq!(
            parse_blob(&renamed).unwrap().material_id,
            *other.material_id()
        );
        assert_eq!(
            decrypt(&other, &renamed, &ctx),
            Err(CryptoError::InvalidCiphertext)
        );
        assert_eq!(parse_blob(b"garbage"), Err(CryptoError::InvalidCiphertext));
    }

    #[test]
    fn non_symmetric_material_is_refused() {
        let mut rng = rng();
        let hmac = KeyMaterial::generate(KeySpec::Hmac256, &mut rng).unwrap();
        assert!(matches!(
            encrypt(&hmac, ARN, b"x", &BTreeMap::new(), &mut rng),
            Err(CryptoError::UnsupportedAlgorithm { .. })
        ));
    }

    #[test]
    fn data_keys() {
        let mut rng = rng();
        let material = KeyMaterial::generate(KeySpec::SymmetricDefault, &mut rng).unwrap();
        let ctx = context(&[("app", "x")]);
        for len in [1, 16, 32, 64, 1024] {
            let key = generate_data_key(&material, ARN, len, &ctx, &mut rng).unwrap();
            assert_eq!(key.plaintext.len(), len);
            assert_eq!(
                *decrypt(&material, &key.ciphertext_blob, &ctx).unwrap(),
                *key.plaintext
            );
            assert!(!format!("{key:?}").contains("plaintext: ["));
        }
        for len in [0, 1025] {
            assert!(generate_data_key(&material, ARN, len, &ctx, &mut rng).is_err());
        }
    }

    #[test]
    fn data_key_pair_halves_match() {
        let mut rng = rng();
        let material = KeyMaterial::generate(KeySpec::SymmetricDefault, &mut rng).unwrap();
        let ctx = BTreeMap::new();
        for spec in DataKeyPairSpec::ALL {
            let pair = generate_data_key_pair(&material, ARN, *spec, &ctx, &mut rng).unwrap();
            let decrypted = decrypt(&material, &pair.private_key_ciphertext_blob, &ctx).unwrap();
            assert_eq!(*decrypted, *pair.private_key_plaintext, "{spec}");
            // The private half, loaded as a caller would, signs what the public half verifies.
            let private =
                KeyMaterial::from_imported(spec.key_spec(), &decrypted, &mut rng).unwrap();
            assert_eq!(private.public_key_der(), Some(pair.public_key.as_slice()));
            let algorithm = spec
                .key_spec()
                .signing_algorithms(super::super::KeyUsage::SignVerify)[0];
            let signature = sign(&private, algorithm, MessageType::Raw, b"message").unwrap();
            let verifier = match algorithm {
                SigningAlgorithm::RsassaPssSha256 => {
                    &RSA_PSS_2048_8192_SHA256 as &dyn aws_lc_rs::signature::VerificationAlgorithm
                }
                SigningAlgorithm::EcdsaSha384 => &ECDSA_P384_SHA384_ASN1,
                _ => continue,
            };
            UnparsedPublicKey::new(verifier, &pair.public_key)
                .verify(b"message", &signature)
                .unwrap();
        }
    }
}
