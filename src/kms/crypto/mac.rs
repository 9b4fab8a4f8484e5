//! HMAC KMS keys (`GenerateMac`, `VerifyMac`), so a mini-KMS caller gets the tags real KMS
//! would compute (standard HMAC, RFC 2104) and a constant-time check.

use aws_lc_rs::hmac;

use super::material::{KeyMaterial, Secret};
use super::spec::{KeyUsage, MacAlgorithm};
use super::{CryptoError, Result};

/// The largest message of `GenerateMac`/`VerifyMac` (botocore `PlaintextType`).
pub const MAX_MAC_MESSAGE_LEN: usize = 4096;

/// The HMAC key of `material` once `algorithm` and `message` are checked.
fn key<'m>(
    material: &'m KeyMaterial,
    algorithm: MacAlgorithm,
    message: &[u8],
) -> Result<&'m hmac::Key> {
    let spec = material.spec();
    let Secret::Hmac { hmac, .. } = material.secret() else {
        return Err(unsupported(algorithm, material));
    };
    if !spec
        .mac_algorithms(KeyUsage::GenerateVerifyMac)
        .contains(&algorithm)
    {
        return Err(unsupported(algorithm, material));
    }
    if message.is_empty() || message.len() > MAX_MAC_MESSAGE_LEN {
        return Err(CryptoError::InvalidInput(format!(
            "message must be 1 to {MAX_MAC_MESSAGE_LEN} bytes, not {}",
            message.len()
        )));
    }
    Ok(hmac)
}

fn unsupported(algorithm: MacAlgorithm, material: &KeyMaterial) -> CryptoError {
    CryptoError::UnsupportedAlgorithm {
        algorithm: algorithm.as_str().to_owned(),
        spec: material.spec().as_str().to_owned(),
    }
}

/// `GenerateMac`: the HMAC of `message` (1–4096 bytes) with the key's own hash.
///
/// # Errors
/// [`CryptoError::UnsupportedAlgorithm`] when `algorithm` is not the key spec's;
/// [`CryptoError::InvalidInput`] for a message of the wrong length.
pub fn generate_mac(
    material: &KeyMaterial,
    algorithm: MacAlgorithm,
    message: &[u8],
) -> Result<Vec<u8>> {
    let key = key(material, algorithm, message)?;
    Ok(hmac::sign(key, message).as_ref().to_vec())
}

/// `VerifyMac`, in constant time.
///
/// # Errors
/// [`CryptoError::InvalidMac`] (`KMSInvalidMacException`) when `mac` does not match; the
/// errors of [`generate_mac`] otherwise.
pub fn verify_mac(
    material: &KeyMaterial,
    algorithm: MacAlgorithm,
    message: &[u8],
    mac: &[u8],
) -> Result<()> {
    let key = key(material, algorithm, message)?;
    hmac::verify(key, message, mac).map_err(|_| CryptoError::InvalidMac)
}

#[cfg(test)]
mod tests {
    use super::super::tests::rng;
    use super::super::KeySpec;
    use super::*;

    #[test]
    fn every_hmac_spec_round_trips() {
        let mut rng = rng();
        for (spec, algorithm, len) in [
            (KeySpec::Hmac224, MacAlgorithm::HmacSha224, 28),
            (KeySpec::Hmac256, MacAlgorithm::HmacSha256, 32),
            (KeySpec::Hmac384, MacAlgorithm::HmacSha384, 48),
            (KeySpec::Hmac512, MacAlgorithm::HmacSha512, 64),
        ] {
            let material = KeyMaterial::generate(spec, &mut rng).unwrap();
            let mac = generate_mac(&material, algorithm, b"message").unwrap();
            assert_eq!(mac.len(), len);
            verify_mac(&material, algorithm, b"message", &mac).unwrap();
            assert_eq!(
                verify_mac(&material, algorithm, b"massage", &mac),
                Err(CryptoError::InvalidMac)
            );
            assert_eq!(
                verify_mac(&material, algorithm, b"message", &mac[1..]),
                Err(CryptoError::InvalidMac)
            );
            for other in MacAlgorithm::ALL.iter().filter(|a| **a != algorithm) {
                assert!(matches!(
                    generate_mac(&material, *other, b"m"),
                    Err(CryptoError::UnsupportedAlgorithm { .. })
                ));
            }
            assert!(matches!(
                generate_mac(&material, algorithm, b""),
                Err(CryptoError::InvalidInput(_))
            ));
        }
    }

    #[test]
    fn matches_rfc_4231_test_case_2() {
        // RFC 4231 §4.3: key "Jefe", data "what do ya want for nothing?", HMAC-SHA-256
        // (imported HMAC keys must be at least 32 bytes, so pad as HMAC itself does).
        let mut rng = rng();
        let mut key = b"Jefe".to_vec();
        key.resize(32, 0);
        let material = KeyMaterial::from_imported(KeySpec::Hmac256, &key, &mut rng).unwrap();
        let mac = generate_mac(
            &material,
            MacAlgorithm::HmacSha256,
            b"what do ya want for nothing?",
        )
        .unwrap();
        let hex = mac.iter().fold(String::new(), |mut hex, b| {
            use std::fmt::Write as _;
            let _ = write!(hex, "{b:02x}");
            hex
        });
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
