//! How a dotted CloudTrail path (`userIdentity.type`, `requestParameters.keyId`) reaches
//! the data in the lake.
//!
//! The lake keeps one row per record. Fields it copies verbatim are columns
//! (`eventName` → `event_name`, `userIdentity.arn` → `principal_arn`); the raw JSON of
//! `requestParameters`, `responseElements`, `additionalEventData`, `resources` and
//! `serviceEventDetails` is kept as text, so any path below them is extracted from that text.
//! Lake columns can also be named directly (`key_arn`, `principal`). Everything else is
//! [`FieldSource::Absent`]: a field CloudTrail has but the lake does not keep (`tlsDetails`,
//! `userIdentity.userName`, whose lake column mixes in the session issuer's name), or a field
//! CloudTrail does not have. An absent field has no value on any event, as Sigma treats a
//! field missing from an event; `rules lint` warns about every one.

use std::borrow::Cow;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::ingest::schema::{self, ColumnKind};
use crate::trail::record::Str;

/// Where the values of a field come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSource {
    /// A lake column that holds the field's value exactly.
    Column {
        /// The column name.
        name: &'static str,
        /// How the column is typed.
        kind: ColumnKind,
    },
    /// A path inside a raw JSON text column; an empty path is the whole JSON text.
    Json {
        /// The JSON text column.
        column: &'static str,
        /// Object keys below the column's top level.
        path: Vec<String>,
    },
    /// Not in the lake: never has a value.
    Absent(Absence),
}

/// Why a field has no source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Absence {
    /// A CloudTrail record field the lake does not keep.
    NotKept,
    /// Not a CloudTrail record field nor a lake column.
    Unknown,
}

/// CloudTrail record fields that lake columns hold exactly.
const COLUMN_FIELDS: &[(&str, &str)] = &[
    ("eventTime", schema::EVENT_TIME),
    ("eventVersion", schema::EVENT_VERSION),
    ("eventSource", schema::EVENT_SOURCE),
    ("eventName", schema::EVENT_NAME),
    ("eventType", schema::EVENT_TYPE),
    ("eventCategory", schema::EVENT_CATEGORY),
    ("awsRegion", schema::AWS_REGION),
    ("recipientAccountId", schema::RECIPIENT_ACCOUNT_ID),
    ("sourceIPAddress", schema::SOURCE_IP),
    ("userAgent", schema::USER_AGENT),
    ("vpcEndpointId", schema::VPC_ENDPOINT_ID),
    ("errorCode", schema::ERROR_CODE),
    ("errorMessage", schema::ERROR_MESSAGE),
    ("eventID", schema::EVENT_ID),
    ("requestID", schema::REQUEST_ID),
    ("sharedEventID", schema::SHARED_EVENT_ID),
    ("readOnly", schema::READ_ONLY),
    ("managementEvent", schema::MANAGEMENT_EVENT),
    ("sessionCredentialFromConsole", schema::CONSOLE_SESSION),
    ("userIdentity.type", schema::PRINCIPAL_TYPE),
    ("userIdentity.arn", schema::PRINCIPAL_ARN),
    ("userIdentity.accountId", schema::PRINCIPAL_ACCOUNT),
    ("userIdentity.principalId", schema::PRINCIPAL_ID),
    ("userIdentity.accessKeyId", schema::ACCESS_KEY_ID),
    ("userIdentity.invokedBy", schema::INVOKED_BY),
    (
        "userIdentity.sessionContext.sessionIssuer.arn",
        schema::SESSION_ISSUER_ARN,
    ),
    (
        "userIdentity.sessionContext.sessionIssuer.type",
        schema::SESSION_ISSUER_TYPE,
    ),
    (
        "userIdentity.sessionContext.attributes.mfaAuthenticated",
        schema::MFA_AUTHENTICATED,
    ),
];

/// CloudTrail record members kept as raw JSON text, and their columns.
const JSON_FIELDS: &[(&str, &str)] = &[
    ("requestParameters", schema::REQUEST_PARAMETERS),
    ("responseElements", schema::RESPONSE_ELEMENTS),
    ("additionalEventData", schema::ADDITIONAL_EVENT_DATA),
    ("resources", schema::RESOURCES),
    ("serviceEventDetails", schema::SERVICE_EVENT_DETAILS),
];

/// Top-level members of a CloudTrail record (CloudTrail User Guide, "CloudTrail record
/// contents"), to tell a field the lake does not keep from one that does not exist.
const RECORD_MEMBERS: &[&str] = &[
    "eventTime",
    "eventVersion",
    "userIdentity",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "eventType",
    "apiVersion",
    "managementEvent",
    "readOnly",
    "resources",
    "recipientAccountId",
    "serviceEventDetails",
    "sharedEventID",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "eventCategory",
    "addendum",
    "sessionCredentialFromConsole",
    "edgeDeviceDetails",
    "tlsDetails",
    "insightDetails",
];

/// Where the field `path` comes from.
pub fn resolve(path: &str) -> FieldSource {
    if let Some(&(_, column)) = COLUMN_FIELDS.iter().find(|(field, _)| *field == path) {
        return column_source(column);
    }
    let (head, tail) = match path.split_once('.') {
        Some((head, tail)) => (head, Some(tail)),
        None => (path, None),
    };
    if let Some(&(_, column)) = JSON_FIELDS.iter().find(|(field, _)| *field == head) {
        let path = match tail {
            Some(tail) => tail.split('.').map(str::to_owned).collect(),
            None => Vec::new(),
        };
        if path.iter().all(|segment| !segment.is_empty()) {
            return FieldSource::Json { column, path };
        }
    }
    if tail.is_none() {
        if let Some(&(name, kind, _)) = schema::COLUMNS.iter().find(|(name, _, _)| *name == path) {
            return FieldSource::Column { name, kind };
        }
    }
    if RECORD_MEMBERS.contains(&head) {
        FieldSource::Absent(Absence::NotKept)
    } else {
        FieldSource::Absent(Absence::Unknown)
    }
}

fn column_source(column: &'static str) -> FieldSource {
    let kind = schema::COLUMNS
        .iter()
        .find(|(name, _, _)| *name == column)
        .map_or(ColumnKind::Text, |(_, kind, _)| *kind);
    FieldSource::Column { name: column, kind }
}

impl FieldSource {
    /// The lake column the values are read from, if any.
    pub fn column(&self) -> Option<&'static str> {
        match self {
            Self::Column { name, .. } => Some(name),
            Self::Json { column, .. } => Some(column),
            Self::Absent(_) => None,
        }
    }

    /// Whether reading the field means parsing JSON text.
    pub fn parses_json(&self) -> bool {
        matches!(self, Self::Json { .. })
    }
}

/// Appends to `out` every value at `path` inside the JSON `text`, as Sigma compares them:
/// strings decoded, numbers and booleans in their JSON spelling, objects as compact JSON
/// whose strings are written decoded (so a policy document held as a string inside
/// `requestParameters` reads `"Effect":"Allow"`, not `\"Effect\":\"Allow\"`); arrays met
/// on the way contribute each element; `null` contributes nothing. Text that is not JSON
/// contributes nothing.
pub fn json_values<'t>(text: &'t str, path: &[String], out: &mut Vec<Cow<'t, str>>) {
    let trimmed = text.trim_start();
    let Some(first) = trimmed.as_bytes().first() else {
        return;
    };
    match (first, path.split_first()) {
        (b'[', _) => {
            if let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(trimmed) {
                for item in items {
                    json_values(item.get(), path, out);
                }
            }
        }
        (b'{', Some((key, rest))) => {
            let mut de = serde_json::Deserializer::from_str(trimmed);
            if let Ok(Some(value)) = (FindKey { key }).deserialize(&mut de) {
                json_values(value.get(), rest, out);
            }
        }
        (_, Some(_)) => {}
        (b'{', None) => {
            let mut rendered = String::with_capacity(trimmed.len());
            let mut de = serde_json::Deserializer::from_str(trimmed);
            if (RenderDecoded { out: &mut rendered })
                .deserialize(&mut de)
                .is_ok()
            {
                out.push(Cow::Owned(rendered));
            }
        }
        (b'"', None) => {
            if let Ok(Str(text)) = serde_json::from_str::<Str<'t>>(trimmed) {
                out.push(text);
            }
        }
        (b'n', None) => {}
        (_, None) => out.push(Cow::Borrowed(trimmed.trim_end())),
    }
}

/// Writes the JSON being deserialized as compact JSON, members in their original order,
/// except that strings (keys and values) are written as they read, without escapes.
struct RenderDecoded<'o> {
    out: &'o mut String,
}

impl<'de> DeserializeSeed<'de> for RenderDecoded<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RenderDecoded<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("JSON")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.out.push_str(if v { "true" } else { "false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.out.push_str(&v.to_string());
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.out.push_str(&v.to_string());
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.out.push_str(&v.to_string());
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.out.push('"');
        self.out.push_str(v);
        self.out.push('"');
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.out.push_str("null");
        Ok(())
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.out.push('[');
        let mut first = true;
        loop {
            let mark = self.out.len();
            if !first {
                self.out.push(',');
            }
            if seq
                .next_element_seed(RenderDecoded { out: self.out })?
                .is_none()
            {
                self.out.truncate(mark);
                break;
            }
            first = false;
        }
        self.out.push(']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.out.push('{');
        let mut first = true;
        while let Some(Str(key)) = map.next_key::<Str<'de>>()? {
            if !first {
                self.out.push(',');
            }
            first = false;
            self.out.push('"');
            self.out.push_str(&key);
            self.out.push_str("\":");
            map.next_value_seed(RenderDecoded { out: self.out })?;
        }
        self.out.push('}');
        Ok(())
    }
}

/// Finds one key of a JSON object, skipping the other members without building them.
struct FindKey<'k> {
    key: &'k str,
}

impl<'de> DeserializeSeed<'de> for FindKey<'_> {
    type Value = Option<&'de RawValue>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for FindKey<'_> {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(Str(key)) = map.next_key::<Str<'de>>()? {
            if found.is_none() && key == self.key {
                found = Some(map.next_value::<&'de RawValue>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(text: &str, path: &str) -> Vec<String> {
        let path: Vec<String> = if path.is_empty() {
            Vec::new()
        } else {
            path.split('.').map(str::to_owned).collect()
        };
        let mut out = Vec::new();
        json_values(text, &path, &mut out);
        out.into_iter().map(Cow::into_owned).collect()
    }

    #[test]
    fn known_fields_map_to_columns() {
        assert_eq!(
            resolve("eventName"),
            FieldSource::Column {
                name: schema::EVENT_NAME,
                kind: ColumnKind::Text
            }
        );
        assert_eq!(
            resolve("userIdentity.sessionContext.attributes.mfaAuthenticated"),
            FieldSource::Column {
                name: schema::MFA_AUTHENTICATED,
                kind: ColumnKind::Bool
            }
        );
        assert_eq!(
            resolve("key_arn"),
            FieldSource::Column {
                name: schema::KEY_ARN,
                kind: ColumnKind::Text
            }
        );
    }

    #[test]
    fn paths_below_raw_json_members_are_json_paths() {
        assert_eq!(
            resolve("requestParameters.keyId"),
            FieldSource::Json {
                column: schema::REQUEST_PARAMETERS,
                path: vec!["keyId".into()]
            }
        );
        assert_eq!(
            resolve("responseElements"),
            FieldSource::Json {
                column: schema::RESPONSE_ELEMENTS,
                path: vec![]
            }
        );
        assert!(resolve("requestParameters.keyId").parses_json());
        assert!(resolve("responseElements").parses_json());
        assert!(!resolve("eventName").parses_json());
    }

    #[test]
    fn other_fields_are_absent_with_a_reason() {
        assert_eq!(
            resolve("tlsDetails.tlsVersion"),
            FieldSource::Absent(Absence::NotKept)
        );
        assert_eq!(
            resolve("userIdentity.userName"),
            FieldSource::Absent(Absence::NotKept)
        );
        assert_eq!(resolve("status"), FieldSource::Absent(Absence::Unknown));
        assert_eq!(
            resolve("requestParameters..x"),
            FieldSource::Absent(Absence::NotKept)
        );
    }

    #[test]
    fn json_values_follow_objects_and_arrays() {
        let text = r#"{"keyId":"k1","enable":false,"n":20,"nested":{"a":{"b":"deep"}},
            "containerDefinitions":[{"command":["sh","-c","echo $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]},{"command":null}],
            "esc":"a\"b","obj":{"x":1},"none":null}"#;
        assert_eq!(values(text, "keyId"), ["k1"]);
        assert_eq!(values(text, "enable"), ["false"]);
        assert_eq!(values(text, "n"), ["20"]);
        assert_eq!(values(text, "nested.a.b"), ["deep"]);
        assert_eq!(
            values(text, "containerDefinitions.command"),
            ["sh", "-c", "echo $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
        );
        assert_eq!(values(text, "esc"), ["a\"b"]);
        assert_eq!(values(text, "obj"), [r#"{"x":1}"#]);
        assert_eq!(
            values(r#"{ "p" : "{\"Effect\": \"Allow\"}", "n": [1, null] }"#, ""),
            [r#"{"p":"{"Effect": "Allow"}","n":[1,null]}"#]
        );
        assert!(values(text, "none").is_empty());
        assert!(values(text, "missing").is_empty());
        assert!(values(text, "keyId.deeper").is_empty());
        assert!(values("not json", "a").is_empty());
        assert!(values("null", "a").is_empty());
        assert_eq!(
            values(r#"[{"ARN":"a1"},{"ARN":"a2"}]"#, "ARN"),
            ["a1", "a2"]
        );
    }
}
