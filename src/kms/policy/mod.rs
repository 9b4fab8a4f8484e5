//! Authorization for every mini-KMS call: key policies, identity policies and grants
//! evaluated with IAM semantics.
//!
//! Policies are parsed and validated once ([`PolicyDocument::parse`]); evaluation
//! ([`evaluate()`]) then only compares. The pieces:
//! - [`document`]: the JSON policy grammar and its validation,
//! - [`wildcard`]: `*`/`?` matching for actions, resources and `…Like` operators,
//! - [`condition`]: condition operators, `…IfExists` and `ForAnyValue:`/`ForAllValues:`,
//! - [`context`]: what is known about a request ([`RequestContext`]) and its condition keys,
//! - [`grant`]: grants, their constraints and who may retire them,
//! - [`mod@evaluate`]: KMS's decision (explicit deny wins; key policy, root delegation to IAM,
//!   cross-account, grants),
//! - [`default_policy`]: the default key policy and the policy lockout safety check,
//! - [`message`]: AWS's `AccessDeniedException` message text.

pub mod condition;
pub mod context;
pub mod default_policy;
pub mod document;
pub mod error;
pub mod evaluate;
pub mod grant;
pub mod message;
pub mod wildcard;

pub use context::RequestContext;
pub use default_policy::{default_key_policy, lockout_check};
pub use document::{Effect, PolicyDocument, Statement};
pub use error::PolicyError;
pub use evaluate::{evaluate, evaluate_account_action, Decision, PolicyType, Source};
pub use grant::{Grant, GrantConstraints};
pub use message::access_denied_message;
