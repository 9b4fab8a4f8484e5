//! The root key that encrypts the store's keys, aliases, grants and import parameters, and
//! where it comes from: a file (`--root-key-file`, config `store.root_key_file`) or the
//! environment (`KMS_AUDIT_ROOT_KEY`), never the data directory itself, so that a copy of
//! the data directory alone reveals no key material.
//!
//! Entities are sealed with AES-256-GCM (aws-lc-rs) under the root key: a version byte, a
//! random 96-bit nonce, then the ciphertext and its tag. The associated data is the table
//! name and the entity's id, so a sealed value moved to another row or table fails to open.

use std::fmt;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine as _;
use zeroize::Zeroizing;

use super::StoreError;

/// The environment variable holding the root key (64 hex digits or base64 of 32 bytes).
pub const ROOT_KEY_ENV: &str = "KMS_AUDIT_ROOT_KEY";
/// Length of the root key in bytes.
pub const ROOT_KEY_LEN: usize = 32;
/// How to make a root key, for messages.
pub const CREATE_ROOT_KEY_HINT: &str =
    "create one outside the data directory with `head -c 32 /dev/urandom > root.key && chmod 600 root.key` and pass `--root-key-file root.key` (or set KMS_AUDIT_ROOT_KEY to 64 hex digits or base64 of 32 bytes)";

/// Version byte of a sealed value.
const SEALED_VERSION: u8 = 1;
/// AES-GCM tag length.
const TAG_LEN: usize = 16;

/// The 32-byte root key. `Debug` does not show it; the bytes are zeroized on drop.
pub struct RootKey(Zeroizing<[u8; ROOT_KEY_LEN]>);

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

impl RootKey {
    /// A root key from its bytes (tests, or a caller with its own key source).
    pub fn from_bytes(bytes: [u8; ROOT_KEY_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A root key from a file's contents or a variable's text: exactly 32 raw bytes, or
    /// (surrounding whitespace ignored) 64 hex digits or the base64 of 32 bytes.
    pub fn parse(data: &[u8]) -> Option<Self> {
        if let Ok(raw) = <[u8; ROOT_KEY_LEN]>::try_from(data) {
            return Some(Self::from_bytes(raw));
        }
        let text = std::str::from_utf8(data).ok()?.trim();
        let decoded = Zeroizing::new(if text.len() == 2 * ROOT_KEY_LEN {
            hex_decode(text)?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(text))
                .ok()?
        });
        let raw = <[u8; ROOT_KEY_LEN]>::try_from(decoded.as_slice()).ok()?;
        Some(Self::from_bytes(raw))
    }

    /// Reads the root key from `path`.
    pub fn from_file(path: &Path) -> Result<Self, StoreError> {
        let data = Zeroizing::new(std::fs::read(path).map_err(|source| StoreError::Io {
            path: path.to_owned(),
            source,
        })?);
        Self::parse(&data).ok_or_else(|| StoreError::RootKey {
            source_name: path.display().to_string(),
            reason: "it is not 32 raw bytes, 64 hex digits or the base64 of 32 bytes".into(),
        })
    }

    /// The root key in `KMS_AUDIT_ROOT_KEY`, if the variable is set.
    pub fn from_env() -> Result<Option<Self>, StoreError> {
        let Some(text) = std::env::var_os(ROOT_KEY_ENV) else {
            return Ok(None);
        };
        let text = Zeroizing::new(text.into_encoded_bytes());
        Self::parse(&text)
            .map(Some)
            .ok_or_else(|| StoreError::RootKey {
                source_name: ROOT_KEY_ENV.into(),
                reason: "it is not 64 hex digits or the base64 of 32 bytes".into(),
            })
    }

    /// The root key for the store in `data_dir`: from `file` when given (which must not lie
    /// inside `data_dir`), else from `KMS_AUDIT_ROOT_KEY`. Without either, an error that says
    /// how to make one: the server never makes up a key it would have to store beside the
    /// data.
    pub fn locate(file: Option<&Path>, data_dir: &Path) -> Result<Self, StoreError> {
        if let Some(file) = file {
            if inside(file, data_dir) {
                return Err(StoreError::RootKey {
                    source_name: file.display().to_string(),
                    reason: format!(
                        "the root key must not be kept in the data directory {} it protects",
                        data_dir.display()
                    ),
                });
            }
            return Self::from_file(file);
        }
        Self::from_env()?.ok_or_else(|| StoreError::NoRootKey {
            dir: data_dir.to_owned(),
        })
    }

    pub(crate) fn sealer(&self) -> Result<Sealer, StoreError> {
        let key = UnboundKey::new(&AES_256_GCM, self.0.as_slice())
            .map_err(|_| StoreError::Crypto("the root key cannot be used with AES-256-GCM"))?;
        Ok(Sealer {
            key: LessSafeKey::new(key),
        })
    }
}

/// Whether `path` is `dir` or lies under it (after resolving both where possible).
fn inside(path: &Path, dir: &Path) -> bool {
    let resolve = |p: &Path| -> PathBuf {
        match (p.parent(), p.file_name()) {
            (Some(parent), Some(name)) => std::fs::canonicalize(if parent.as_os_str().is_empty() {
                Path::new(".")
            } else {
                parent
            })
            .map(|parent| parent.join(name))
            .unwrap_or_else(|_| p.to_owned()),
            _ => p.to_owned(),
        }
    };
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    resolve(path).starts_with(dir)
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let digits = text.as_bytes();
    if digits.len() % 2 != 0 {
        return None;
    }
    let value = |d: u8| char::from(d).to_digit(16);
    digits
        .chunks(2)
        .map(|pair| Some(u8::try_from(value(pair[0])? * 16 + value(pair[1])?).ok()?))
        .collect()
}

/// Seals and opens values under the root key.
pub(crate) struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    /// `plaintext` sealed with `aad`: version, nonce, ciphertext and tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, StoreError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| StoreError::Crypto("the system random generator failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(SEALED_VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let mut body = out.split_off(1 + NONCE_LEN);
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| StoreError::Crypto("AES-GCM encryption failed"))?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// The plaintext of `sealed`, or `None` if it was not sealed under this key with `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let (&version, rest) = sealed.split_first()?;
        if version != SEALED_VERSION || rest.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buffer = Zeroizing::new(body.to_vec());
        let len = self
            .key
            .open_in_place(nonce, Aad::from(aad), &mut buffer)
            .ok()?
            .len();
        buffer.truncate(len);
        Some(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_keys_parse_as_raw_hex_or_base64() {
        let raw = [7u8; ROOT_KEY_LEN];
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        for data in [
            raw.to_vec(),
            format!("{hex}\n").into_bytes(),
            hex.to_uppercase().into_bytes(),
            format!("  {b64}\n").into_bytes(),
        ] {
            let key = RootKey::parse(&data).expect("parses");
            assert_eq!(*key.0, raw);
        }
        for bad in [
            &b"short"[..],
            &[1u8; 31][..],
            &[1u8; 33][..],
            b"zz".repeat(32).as_slice(),
        ] {
            assert!(RootKey::parse(bad).is_none());
        }
        assert_eq!(
            format!("{:?}", RootKey::from_bytes(raw)),
            "RootKey(<redacted>)"
        );
    }

    #[test]
    fn a_root_key_file_inside_the_data_dir_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("mkdir");
        let inner = data.join("root.key");
        std::fs::write(&inner, [1u8; 32]).expect("write");
        let err = RootKey::locate(Some(&inner), &data).expect_err("refused");
        assert!(err.to_string().contains("must not be kept"), "{err}");
        let outer = dir.path().join("root.key");
        std::fs::write(&outer, [1u8; 32]).expect("write");
        RootKey::locate(Some(&outer), &data).expect("accepted");
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_associated_data() {
        let sealer = RootKey::from_bytes([1; 32]).sealer().expect("sealer");
        let other = RootKey::from_bytes([2; 32]).sealer().expect("sealer");
        let sealed = sealer.seal(b"keys\0a", b"secret").expect("seal");
        assert_eq!(
            sealer.open(b"keys\0a", &sealed).expect("opens").as_slice(),
            b"secret"
        );
        assert!(sealer.open(b"keys\0b", &sealed).is_none());
        assert!(other.open(b"keys\0a", &sealed).is_none());
        assert!(!sealed.windows(6).any(|w| w == b"secret"));
    }
}
