//! `GenerateRandom`: 1–1024 random bytes. An account-level operation: no key to authorize
//! against, and no `resources` in its record.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kms::crypto::{self, MAX_RANDOM_LEN};
use crate::kms::engine::error::{KmsError, KmsErrorKind};
use crate::kms::engine::key_store::ConnectionState;
use crate::kms::engine::ops::blob::Blob;
use crate::kms::engine::ops::crypto_error::from_crypto;
use crate::kms::engine::state::State;
use crate::kms::engine::{
    AccountAuthorization, Authorization, Caller, Context, Operation, Outcome,
};

/// The request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Request {
    #[serde(default)]
    pub number_of_bytes: Option<i64>,
    #[serde(default)]
    pub custom_key_store_id: Option<String>,
}

/// The response.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Response {
    pub plaintext: Blob,
}

/// The operation.
pub struct GenerateRandom;

impl Operation for GenerateRandom {
    const NAME: &'static str = "GenerateRandom";
    const READ_ONLY: bool = true;
    type Request = Request;
    type Response = Response;

    fn request_parameters(r: &Request) -> Value {
        // Appendix A (ct-generaterandom): KMS logs `"requestParameters": null`; a custom key
        // store, when named, is logged (camelCase, as every request member).
        match &r.custom_key_store_id {
            Some(id) => json!({ "customKeyStoreId": id }),
            None => Value::Null,
        }
    }

    fn authorizations(
        _: &State,
        _: &str,
        _: &Caller,
        _: &Request,
    ) -> Result<Vec<Authorization>, KmsError> {
        // An account-level action (IAM only, resource "*"): no key policy takes part.
        Ok(Vec::new())
    }

    fn account_authorizations(_: &Request) -> Vec<AccountAuthorization> {
        vec![AccountAuthorization::action("kms:GenerateRandom")]
    }

    fn run(ctx: &mut Context<'_>, r: Request) -> Result<Outcome<Response>, KmsError> {
        let n = r.number_of_bytes.ok_or_else(|| {
            KmsError::validation("null", "numberOfBytes", "Member must not be null")
        })?;
        if n < 1 {
            return Err(KmsError::validation(
                &n.to_string(),
                "numberOfBytes",
                "Member must have value greater than or equal to 1",
            ));
        }
        let len = usize::try_from(n)
            .ok()
            .filter(|len| *len <= MAX_RANDOM_LEN)
            .ok_or_else(|| {
                KmsError::validation(
                    &n.to_string(),
                    "numberOfBytes",
                    "Member must have value less than or equal to 1024",
                )
            })?;
        // Random bytes "from" a CloudHSM key store's cluster: the store must exist in the
        // caller's account and Region and be connected.
        let store = match &r.custom_key_store_id {
            None => None,
            Some(id) => {
                let store = ctx
                    .state
                    .custom_key_stores
                    .get(id)
                    .filter(|s| s.account_id == ctx.caller.account && s.region == ctx.region)
                    .ok_or_else(|| {
                        KmsError::new(
                            KmsErrorKind::CustomKeyStoreNotFound,
                            format!("Custom key store {id} does not exist."),
                        )
                    })?;
                if store.connection_state != ConnectionState::Connected {
                    return Err(KmsError::new(
                        KmsErrorKind::CustomKeyStoreInvalidState,
                        format!(
                            "Custom key store {id} is {}; GenerateRandom needs a CONNECTED key store.",
                            store.connection_state.as_str()
                        ),
                    ));
                }
                Some(id.clone())
            }
        };
        let bytes = crypto::generate_random(ctx.rng, len).map_err(from_crypto)?;
        let mut outcome = Outcome::respond(Response {
            plaintext: Blob(bytes),
        });
        outcome.additional_event_data = store.map(|id| json!({ "customKeyStoreId": id }));
        Ok(outcome)
    }
}
