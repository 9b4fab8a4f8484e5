//! KMS identifiers: key ids (UUIDs, `mrk-` ids for multi-Region keys), key and alias ARNs, and
//! the four ways a request may name a key (id, key ARN, alias name, alias ARN).

use rand::Rng;

use crate::kms::engine::error::{KmsError, KmsErrorKind};

/// How a request named a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRef {
    /// `1234abcd-…` or `mrk-…`.
    Id(String),
    /// `arn:aws:kms:<region>:<account>:key/<id>`.
    KeyArn {
        /// Region in the ARN.
        region: String,
        /// Account in the ARN.
        account: String,
        /// The key id.
        id: String,
    },
    /// `alias/<name>`.
    AliasName(String),
    /// `arn:aws:kms:<region>:<account>:alias/<name>`.
    AliasArn {
        /// Region in the ARN.
        region: String,
        /// Account in the ARN.
        account: String,
        /// The alias name, `alias/…`.
        name: String,
    },
}

impl KeyRef {
    /// Parses a `KeyId` request member.
    pub fn parse(text: &str) -> Result<Self, KmsError> {
        if text.is_empty() || text.len() > 2048 {
            return Err(KmsError::validation(
                text,
                "keyId",
                "Member must have length between 1 and 2048",
            ));
        }
        if let Some(rest) = text.strip_prefix("arn:") {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            let [_partition, service, region, account, resource] = parts.as_slice() else {
                return Err(invalid_arn(text));
            };
            if *service != "kms" || region.is_empty() || account.len() != 12 {
                return Err(invalid_arn(text));
            }
            let (region, account) = ((*region).to_owned(), (*account).to_owned());
            return match resource.split_once('/') {
                Some(("key", id)) if !id.is_empty() => Ok(Self::KeyArn {
                    region,
                    account,
                    id: id.to_owned(),
                }),
                Some(("alias", name)) if !name.is_empty() => Ok(Self::AliasArn {
                    region,
                    account,
                    name: format!("alias/{name}"),
                }),
                _ => Err(invalid_arn(text)),
            };
        }
        if text.starts_with("alias/") {
            return Ok(Self::AliasName(text.to_owned()));
        }
        Ok(Self::Id(text.to_owned()))
    }
}

fn invalid_arn(text: &str) -> KmsError {
    KmsError::new(KmsErrorKind::InvalidArn, format!("Invalid arn {text}"))
}

/// The ARN partition of a Region.
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// `arn:<partition>:kms:<region>:<account>:key/<id>`.
pub fn key_arn(region: &str, account: &str, id: &str) -> String {
    format!(
        "arn:{}:kms:{region}:{account}:key/{id}",
        partition_of(region)
    )
}

/// `arn:<partition>:kms:<region>:<account>:alias/<name without alias/>`.
pub fn alias_arn(region: &str, account: &str, alias_name: &str) -> String {
    let name = alias_name.strip_prefix("alias/").unwrap_or(alias_name);
    format!(
        "arn:{}:kms:{region}:{account}:alias/{name}",
        partition_of(region)
    )
}

/// A new key id: a random UUID, or `mrk-` and 32 hex digits for a multi-Region key.
pub fn new_key_id(rng: &mut impl Rng, multi_region: bool) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    if multi_region {
        return format!("mrk-{}", crate::trail::decode::hex(&bytes));
    }
    uuid_text(bytes)
}

/// A random version-4 UUID in lowercase text.
pub fn new_uuid(rng: &mut impl Rng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    uuid_text(bytes)
}

fn uuid_text(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = crate::trail::decode::hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A new grant id: 64 lowercase hex digits, as KMS's.
pub fn new_grant_id(rng: &mut impl Rng) -> String {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    crate::trail::decode::hex(&bytes)
}

/// Checks an alias name: `alias/` then 1–250 of `[a-zA-Z0-9:/_-]`, not `alias/aws/…`.
pub fn check_alias_name(name: &str) -> Result<(), KmsError> {
    let valid_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '_' | '-'));
    if !name.starts_with("alias/") || name.len() <= 6 || name.len() > 256 || !valid_chars {
        return Err(KmsError::new(
            KmsErrorKind::InvalidAliasName,
            format!("Alias {name} is not a valid alias name"),
        ));
    }
    if name.starts_with("alias/aws/") {
        return Err(KmsError::new(
            KmsErrorKind::InvalidAliasName,
            "Alias names that begin with alias/aws/ are reserved for AWS managed keys",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn parses_the_four_key_references() {
        assert_eq!(
            KeyRef::parse("1234abcd-12ab-34cd-56ef-1234567890ab").expect("id"),
            KeyRef::Id("1234abcd-12ab-34cd-56ef-1234567890ab".into())
        );
        assert_eq!(
            KeyRef::parse("arn:aws:kms:us-west-2:111122223333:key/mrk-1234").expect("arn"),
            KeyRef::KeyArn {
                region: "us-west-2".into(),
                account: "111122223333".into(),
                id: "mrk-1234".into()
            }
        );
        assert_eq!(
            KeyRef::parse("alias/app").expect("alias"),
            KeyRef::AliasName("alias/app".into())
        );
        assert_eq!(
            KeyRef::parse("arn:aws:kms:us-west-2:111122223333:alias/app").expect("alias arn"),
            KeyRef::AliasArn {
                region: "us-west-2".into(),
                account: "111122223333".into(),
                name: "alias/app".into()
            }
        );
        for bad in [
            "arn:aws:s3:::bucket",
            "arn:aws:kms:us-west-2:1:key/x",
            "arn:aws:kms:us-west-2:111122223333:thing/x",
        ] {
            assert_eq!(
                KeyRef::parse(bad).expect_err(bad).kind,
                KmsErrorKind::InvalidArn,
                "{bad}"
            );
        }
        assert_eq!(
            KeyRef::parse("").expect_err("empty").kind,
            KmsErrorKind::Validation
        );
    }

    #[test]
    fn ids_and_arns_have_kms_shapes() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let id = new_key_id(&mut rng, false);
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        let mrk = new_key_id(&mut rng, true);
        assert!(mrk.starts_with("mrk-") && mrk.len() == 36);
        assert_eq!(new_grant_id(&mut rng).len(), 64);
        assert_eq!(
            key_arn("cn-north-1", "111122223333", "k"),
            "arn:aws-cn:kms:cn-north-1:111122223333:key/k"
        );
        assert_eq!(
            alias_arn("us-east-1", "111122223333", "alias/app"),
            "arn:aws:kms:us-east-1:111122223333:alias/app"
        );
    }

    #[test]
    fn alias_names() {
        assert!(check_alias_name("alias/my-app_1:prod/x").is_ok());
        for bad in ["app", "alias/", "alias/has space", "alias/aws/s3"] {
            assert_eq!(
                check_alias_name(bad).expect_err(bad).kind,
                KmsErrorKind::InvalidAliasName
            );
        }
    }
}
