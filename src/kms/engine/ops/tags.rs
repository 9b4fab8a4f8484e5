//! Key tags: `TagResource` (adds or replaces; at most 50 tags per key, no `aws:` keys),
//! `UntagResource` and `ListResourceTags` (pages of `Limit` 1–50, default 50).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ops::key_id::on_key_by_id;
use crate::kms::engine::ops::list_keys::paging_parameters;
use crate::kms::engine::ops::{paging, Tag};
use crate::kms::engine::state::{Key, KeyState, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// How many tags a key may carry.
pub const MAX_TAGS: usize = 50;

/// `TagResource` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagRequest {
    pub key_id: String,
    pub tags: Vec<Tag>,
}

/// `UntagResource` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagRequest {
    pub key_id: String,
    pub tag_keys: Vec<String>,
}

/// The (empty) response of `TagResource` and `UntagResource`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Empty {}

/// `ListResourceTags` request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListRequest {
    pub key_id: String,
    #[serde(default)]
    pub limit: Option<i64>,
    #[serde(default)]
    pub marker: Option<String>,
}

/// `ListResourceTags` response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResponse {
    pub tags: Vec<Tag>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<String>,
    pub truncated: bool,
}

/// `TagResource`.
pub struct TagResource;
/// `UntagResource`.
pub struct UntagResource;
/// `ListResourceTags`.
pub struct ListResourceTags;

fn check_tag_key(key: &str, member: &str) -> Result<(), KmsError> {
    let len = key.chars().count();
    if len == 0 {
        return Err(KmsError::validation(
            key,
            member,
            "Member must have length greater than or equal to 1",
        ));
    }
    if len > 128 {
        return Err(KmsError::validation(
            key,
            member,
            "Member must have length less than or equal to 128",
        ));
    }
    Ok(())
}

/// Validates the tags of a `TagResource`/`CreateKey` request.
pub fn check_tags(tags: &[Tag]) -> Result<(), KmsError> {
    let mut seen = BTreeSet::new();
    for (i, tag) in tags.iter().enumerate() {
        let n = i + 1;
        check_tag_key(&tag.tag_key, &format!("tags.{n}.member.tagKey"))?;
        if tag.tag_value.chars().count() > 256 {
            return Err(KmsError::validation(
                &tag.tag_value,
                &format!("tags.{n}.member.tagValue"),
                "Member must have length less than or equal to 256",
            ));
        }
        if tag
            .tag_key
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case("aws:"))
        {
            return Err(KmsError::new(
                KmsErrorKind::Tag,
                format!("Tag key {} uses the reserved prefix aws:", tag.tag_key),
            ));
        }
        if !seen.insert(tag.tag_key.as_str()) {
            return Err(KmsError::new(
                KmsErrorKind::Tag,
                format!("Duplicate tag key {}", tag.tag_key),
            ));
        }
    }
    Ok(())
}

fn not_pending_deletion(key: &Key) -> Result<(), KmsError> {
    if key.state == KeyState::PendingDeletion {
        return Err(KmsError::new(
            KmsErrorKind::InvalidState,
            format!("{} is pending deletion.", key.arn),
        ));
    }
    Ok(())
}

impl Operation for TagResource {
    const NAME: &'static str = "TagResource";
    const READ_ONLY: bool = false;
    type Request = TagRequest;
    type Response = Empty;

    fn request_parameters(r: &TagRequest) -> Value {
        let tags: Vec<Value> = r
            .tags
            .iter()
            .map(|t| json!({ "tagKey": t.tag_key, "tagValue": t.tag_value }))
            .collect();
        json!({ "keyId": r.key_id, "tags": tags })
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &TagRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key_by_id(state, region, caller, &r.key_id, "kms:TagResource")
    }

    fn run(ctx: &mut Context<'_>, r: TagRequest) -> Result<Outcome<Empty>, KmsError> {
        check_tags(&r.tags)?;
        let key = ctx.key(&r.key_id)?;
        not_pending_deletion(key)?;
        let mut changed = key.clone();
        for tag in r.tags {
            changed.tags.insert(tag.tag_key, tag.tag_value);
        }
        if changed.tags.len() > MAX_TAGS {
            return Err(KmsError::new(
                KmsErrorKind::Tag,
                format!(
                    "A KMS key can have at most {MAX_TAGS} tags; {} would have {}",
                    key.arn,
                    changed.tags.len()
                ),
            ));
        }
        Ok(Outcome::key_updated(Empty {}, key, changed))
    }
}

impl Operation for UntagResource {
    const NAME: &'static str = "UntagResource";
    const READ_ONLY: bool = false;
    type Request = UntagRequest;
    type Response = Empty;

    fn request_parameters(r: &UntagRequest) -> Value {
        json!({ "keyId": r.key_id, "tagKeys": r.tag_keys })
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &UntagRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key_by_id(state, region, caller, &r.key_id, "kms:UntagResource")
    }

    fn run(ctx: &mut Context<'_>, r: UntagRequest) -> Result<Outcome<Empty>, KmsError> {
        for (i, k) in r.tag_keys.iter().enumerate() {
            check_tag_key(k, &format!("tagKeys.{}.member", i + 1))?;
        }
        let key = ctx.key(&r.key_id)?;
        not_pending_deletion(key)?;
        let mut changed = key.clone();
        for k in &r.tag_keys {
            changed.tags.remove(k);
        }
        Ok(Outcome::key_updated(Empty {}, key, changed))
    }
}

impl Operation for ListResourceTags {
    const NAME: &'static str = "ListResourceTags";
    const READ_ONLY: bool = true;
    type Request = ListRequest;
    type Response = ListResponse;

    fn request_parameters(r: &ListRequest) -> Value {
        let mut p = paging_parameters(r.limit, r.marker.as_deref())
            .as_object()
            .cloned()
            .unwrap_or_default();
        p.insert("keyId".into(), json!(r.key_id));
        Value::Object(p)
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &ListRequest,
    ) -> Result<Vec<Authorization>, KmsError> {
        on_key_by_id(state, region, caller, &r.key_id, "kms:ListResourceTags")
    }

    fn run(ctx: &mut Context<'_>, r: ListRequest) -> Result<Outcome<ListResponse>, KmsError> {
        // ListResourceTags pages by at most 50 (default 50), unlike the other List calls.
        let limit = match r.limit {
            None => MAX_TAGS,
            Some(n) if n > 50 => {
                return Err(KmsError::validation(
                    &n.to_string(),
                    "limit",
                    "Member must have value less than or equal to 50",
                ))
            }
            Some(n) => paging::limit(Some(n))?,
        };
        let key = ctx.key(&r.key_id)?;
        let items = key
            .tags
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    Tag {
                        tag_key: k.clone(),
                        tag_value: v.clone(),
                    },
                )
            })
            .collect();
        let (tags, next_marker) = paging::page(items, limit, r.marker.as_deref())?;
        Ok(Outcome::respond(ListResponse {
            tags,
            truncated: next_marker.is_some(),
            next_marker,
        }))
    }
}
