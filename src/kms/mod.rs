//! The bundled mini-KMS: a local KMS engine that real AWS SDKs can talk to.
//!
//! [`engine`] holds keys, aliases and grants and runs KMS operations; [`policy`] authorizes
//! them with IAM semantics, [`crypto`] does the cryptography with aws-lc-rs, and [`audit`]
//! records every call and service action as a CloudTrail record. [`store`] keeps the
//! server's state and records durable, and [`server`] speaks the KMS wire protocol over HTTP.

pub mod audit;
pub mod crypto;
pub mod dispatch;
pub mod engine;
pub mod policy;
pub mod server;
pub mod simulate;
pub mod store;
