//! `UpdateAlias`: points an existing alias at another key of the same account and Region.
//! The caller needs `kms:UpdateAlias` on both the current and the new key; the new key must
//! have the same key usage and the same kind (symmetric, asymmetric or HMAC) as the current.
//! The record names the alias, then the new key, as AWS's example (ct-updatealias) does: the
//! current key is authorized while the operation runs, without being named.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::KeySpec;
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::ids::{alias_arn, check_alias_name};
use crate::kms::engine::ops::key_id::key_id_or_arn;
use crate::kms::engine::ops::on_key;
use crate::kms::engine::state::{Alias, Change, Key, KeyState, State};
use crate::kms::engine::{Authorization, Caller, Context, Operation, Outcome};

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    pub alias_name: String,
    pub target_key_id: String,
}

/// The (empty) response.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Response {}

/// The operation.
pub struct UpdateAlias;

/// The key ARN an alias of the caller's account and Region points at.
pub fn alias_target(
    state: &State,
    region: &str,
    account: &str,
    alias_name: &str,
) -> Result<(String, String), KmsError> {
    check_alias_name(alias_name)?;
    let alias = alias_arn(region, account, alias_name);
    let target = state
        .aliases
        .get(&alias)
        .map(|a| a.key_arn.clone())
        .ok_or_else(|| {
            KmsError::new(
                KmsErrorKind::NotFound,
                format!("Alias {alias} is not found."),
            )
        })?;
    Ok((alias, target))
}

/// The kind KMS compares when an alias moves: symmetric encryption, asymmetric or HMAC.
fn kind(key: &Key) -> &'static str {
    if key.spec == KeySpec::SymmetricDefault {
        "symmetric"
    } else if key.spec.as_str().starts_with("HMAC_") {
        "HMAC"
    } else {
        "asymmetric"
    }
}

impl Operation for UpdateAlias {
    const NAME: &'static str = "UpdateAlias";
    const READ_ONLY: bool = false;
    type Request = Request;
    type Response = Response;

    /// The alias, named before the new key as in AWS's example (ct-updatealias).
    fn leading_resources(region: &str, caller: &Caller, r: &Request) -> Vec<(String, String)> {
        vec![(
            caller.account.clone(),
            crate::kms::engine::ids::alias_arn(region, &caller.account, &r.alias_name),
        )]
    }

    fn request_parameters(r: &Request) -> Value {
        json!({ "aliasName": r.alias_name, "targetKeyId": r.target_key_id })
    }

    fn authorizations(
        state: &State,
        region: &str,
        caller: &Caller,
        r: &Request,
    ) -> Result<Vec<Authorization>, KmsError> {
        // The current key's permission is checked in `run`: AWS's record does not name it.
        alias_target(state, region, &caller.account, &r.alias_name)?;
        key_id_or_arn(&r.target_key_id)?;
        on_key(
            state,
            region,
            caller,
            &r.target_key_id,
            "kms:UpdateAlias",
            None,
        )
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let (alias, current) =
            alias_target(ctx.state, ctx.region, &ctx.caller.account, &r.alias_name)?;
        let key = ctx.key(&r.target_key_id)?;
        if current != key.arn {
            ctx.authorize(&Authorization {
                action: "kms:UpdateAlias".into(),
                key_arn: current.clone(),
                encryption_context: BTreeMap::new(),
                condition_keys: BTreeMap::new(),
            })?;
        }
        if key.account != ctx.caller.account || key.region != ctx.region {
            return Err(KmsError::key_not_found(&key.arn));
        }
        if key.state == KeyState::PendingDeletion {
            return Err(KmsError::new(
                KmsErrorKind::InvalidState,
                format!("{} is pending deletion.", key.arn),
            ));
        }
        if let Some(old) = ctx.state.keys.get(&current) {
            if old.usage != key.usage || kind(old) != kind(key) {
                return Err(KmsError::new(
                    KmsErrorKind::Validation,
                    format!(
                        "Alias {alias} cannot be changed from a {} {} key to a {} {} key",
                        kind(old),
                        old.usage.as_str(),
                        kind(key),
                        key.usage.as_str()
                    ),
                ));
            }
        }
        Ok(Outcome {
            response: Response {},
            response_elements: None,
            key_material_id: None,
            additional_event_data: None,
            changes: vec![Change::PutAlias {
                alias: Alias {
                    key_arn: key.arn.clone(),
                    created: ctx.state.aliases.get(&alias).map_or(ctx.now, |a| a.created),
                    last_updated: ctx.now,
                },
                alias_arn: alias,
            }],
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::kms::audit::{CallerIdentity, MemorySink};
    use crate::kms::engine::clock::SimulatedClock;
    use crate::kms::engine::ops::create_alias::{self, CreateAlias};
    use crate::kms::engine::ops::create_key::{self, CreateKey};
    use crate::kms::engine::{Engine, EngineConfig};

    const ACCOUNT: &str = "111122223333";
    const REGION: &str = "us-east-1";

    fn user(name: &str) -> Caller {
        Caller {
            identity: CallerIdentity::iam_user(ACCOUNT, name),
            principal: format!("arn:aws:iam::{ACCOUNT}:user/{name}"),
            account: ACCOUNT.into(),
            org_id: None,
            source_ip: "192.0.2.10".into(),
            user_agent: "aws-cli/2.15.0".into(),
            via_service: None,
        }
    }

    /// The record names the alias and the new key only, yet the caller still needs
    /// `kms:UpdateAlias` on the key the alias points at now.
    #[test]
    fn the_current_key_is_authorized_but_not_named() {
        let sink = Arc::new(MemorySink::default());
        let clock = Arc::new(SimulatedClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 9, 0, 0).unwrap(),
        ));
        let mut config = EngineConfig {
            seed: Some(7),
            ..EngineConfig::default()
        };
        config.identity_policies.insert(
            format!("arn:aws:iam::{ACCOUNT}:user/admin"),
            vec![r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#.into()],
        );
        let engine = Engine::new(clock, sink.clone(), config).expect("engine");
        let create = |policy: Option<String>| {
            engine
                .call::<CreateKey>(
                    &user("admin"),
                    REGION,
                    create_key::Request {
                        policy,
                        ..Default::default()
                    },
                )
                .expect("create")
                .key_metadata
                .arn
        };
        // `ops` may move aliases to the new key, and nothing on the old one.
        let old = create(None);
        let new = create(Some(format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"kms:*","Resource":"*"}},{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/ops"}},"Action":"kms:UpdateAlias","Resource":"*"}}]}}"#
        )));
        engine
            .call::<CreateAlias>(
                &user("admin"),
                REGION,
                create_alias::Request {
                    alias_name: "alias/app".into(),
                    target_key_id: old.clone(),
                },
            )
            .expect("alias");
        let alias = format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/app");
        let update = |caller: &Caller| {
            engine.call::<UpdateAlias>(
                caller,
                REGION,
                Request {
                    alias_name: "alias/app".into(),
                    target_key_id: new.clone(),
                },
            )
        };
        let last = || {
            let event = sink.events().pop().expect("a record");
            let resources: Vec<String> = event.resources.iter().map(|r| r.arn.clone()).collect();
            (resources, event.error_code)
        };
        let target = || {
            engine.snapshot().expect("state").aliases[&alias]
                .key_arn
                .clone()
        };

        let denied = update(&user("ops")).expect_err("no permission on the current key");
        assert_eq!(denied.kind, KmsErrorKind::AccessDenied);
        assert!(denied.message.contains(&old), "{}", denied.message);
        assert_eq!(
            last(),
            (
                vec![alias.clone(), new.clone()],
                Some("AccessDeniedException".into())
            )
        );
        assert_eq!(target(), old);

        update(&user("admin")).expect("update");
        assert_eq!(last(), (vec![alias.clone(), new.clone()], None));
        assert_eq!(target(), new);
    }
}
