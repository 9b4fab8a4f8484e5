//! A borrowed serde view of one CloudTrail record: only the fields the event table needs,
//! pointing into the decoded file buffer instead of copying it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;

/// A JSON string borrowed from the input when it has no escapes, owned otherwise.
///
/// A plain `#[serde(borrow)] Option<Cow<str>>` silently copies every string; this newtype
/// borrows whenever serde_json can hand out the input slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Str<'a>(pub Cow<'a, str>);

impl<'a> Str<'a> {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

/// A boolean that CloudTrail writes either as JSON `true`/`false` or as the strings
/// `"true"`/`"false"` (`sessionCredentialFromConsole`, `mfaAuthenticated`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        impl Visitor<'_> for FlagVisitor {
            type Value = Flag;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean or the string \"true\" or \"false\"")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Flag, E> {
                Ok(Flag(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Flag, E> {
                if v.eq_ignore_ascii_case("true") {
                    Ok(Flag(true))
                } else if v.eq_ignore_ascii_case("false") {
                    Ok(Flag(false))
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
}

/// One CloudTrail event record (CloudTrail User Guide, "CloudTrail record contents").
///
/// Every field is optional here; [`crate::ingest::normalize`] decides which ones a usable
/// record must have. Unknown fields are skipped.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record<'a> {
    #[serde(borrow, default)]
    pub event_version: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub user_identity: Option<UserIdentity<'a>>,
    #[serde(borrow, default)]
    pub event_time: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub event_source: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub event_name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub aws_region: Option<Str<'a>>,
    #[serde(borrow, default, rename = "sourceIPAddress")]
    pub source_ip_address: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub user_agent: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub error_code: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub error_message: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub request_parameters: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub response_elements: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub additional_event_data: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "requestID")]
    pub request_id: Option<Str<'a>>,
    #[serde(borrow, default, rename = "eventID")]
    pub event_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub event_type: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub event_category: Option<Str<'a>>,
    #[serde(default)]
    pub read_only: Option<Flag>,
    #[serde(default)]
    pub management_event: Option<Flag>,
    #[serde(borrow, default)]
    pub resources: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub recipient_account_id: Option<Str<'a>>,
    #[serde(borrow, default, rename = "sharedEventID")]
    pub shared_event_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub vpc_endpoint_id: Option<Str<'a>>,
    #[serde(default)]
    pub session_credential_from_console: Option<Flag>,
    #[serde(borrow, default)]
    pub service_event_details: Option<&'a RawValue>,
}

/// `userIdentity`: who made the request (CloudTrail User Guide, "userIdentity element").
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserIdentity<'a> {
    #[serde(borrow, default, rename = "type")]
    pub kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub principal_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub arn: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub account_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub access_key_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub user_name: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub invoked_by: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub session_context: Option<SessionContext<'a>>,
    /// IAM Identity Center users: `{"userId", "identityStoreArn"}`.
    #[serde(borrow, default)]
    pub on_behalf_of: Option<OnBehalfOf<'a>>,
}

/// `userIdentity.sessionContext`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContext<'a> {
    #[serde(borrow, default)]
    pub session_issuer: Option<SessionIssuer<'a>>,
    #[serde(default)]
    pub attributes: Option<SessionAttributes>,
}

/// `userIdentity.sessionContext.sessionIssuer`: the role or user that issued the session.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionIssuer<'a> {
    #[serde(borrow, default, rename = "type")]
    pub kind: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub arn: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub user_name: Option<Str<'a>>,
}

/// `userIdentity.sessionContext.attributes`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAttributes {
    #[serde(default)]
    pub mfa_authenticated: Option<Flag>,
}

/// `userIdentity.onBehalfOf` of an `IdentityCenterUser`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OnBehalfOf<'a> {
    #[serde(borrow, default)]
    pub user_id: Option<Str<'a>>,
    #[serde(borrow, default)]
    pub identity_store_arn: Option<Str<'a>>,
}

/// One entry of `resources[]`.
#[derive(Debug, Deserialize)]
pub struct Resource<'a> {
    #[serde(borrow, default, rename = "ARN")]
    pub arn: Option<Str<'a>>,
    #[serde(borrow, default, rename = "type")]
    pub kind: Option<Str<'a>>,
}

/// A CloudTrail delivery file, `{"Records": [...]}`, parsed in one pass.
#[derive(Debug, Deserialize)]
pub struct DeliveryFile<'a> {
    #[serde(borrow, rename = "Records")]
    pub records: Vec<Record<'a>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let r: Record = serde_json::from_str(r#"{"eventName":"Decrypt","userAgent":"a\"b"}"#)
            .expect("valid record");
        assert!(matches!(
            r.event_name.map(|s| s.0),
            Some(Cow::Borrowed("Decrypt"))
        ));
        assert_eq!(
            r.user_agent.map(|s| s.0.into_owned()).as_deref(),
            Some("a\"b")
        );
    }

    #[test]
    fn flags_accept_strings_and_booleans() {
        let r: Record = serde_json::from_str(
            r#"{"readOnly":"true","managementEvent":false,"sessionCredentialFromConsole":"TRUE"}"#,
        )
        .expect("valid record");
        assert_eq!(r.read_only, Some(Flag(true)));
        assert_eq!(r.management_event, Some(Flag(false)));
        assert_eq!(r.session_credential_from_console, Some(Flag(true)));
        assert!(serde_json::from_str::<Record>(r#"{"readOnly":"maybe"}"#).is_err());
        assert!(serde_json::from_str::<Record>(r#"{"readOnly":1}"#).is_err());
    }

    #[test]
    fn wrong_types_are_errors() {
        assert!(serde_json::from_str::<Record>(r#"{"eventTime":12}"#).is_err());
        assert!(serde_json::from_str::<Record>(r#"{"userIdentity":"bob"}"#).is_err());
    }

    #[test]
    fn null_raw_fields_are_none() {
        let r: Record =
            serde_json::from_str(r#"{"responseElements":null,"requestParameters":{"a":1}}"#)
                .expect("valid record");
        assert!(r.response_elements.is_none());
        assert_eq!(r.request_parameters.map(RawValue::get), Some(r#"{"a":1}"#));
    }
}
