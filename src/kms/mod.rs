//! The bundled mini-KMS: a local KMS engine that real AWS SDKs can talk to.
//!
//! [`policy`] authorizes KMS operations with IAM semantics, [`crypto`] does the cryptography
//! with aws-lc-rs, and [`audit`] records every call and service action as a CloudTrail record.
//! The engine that ties them together is under way.

pub mod audit;
pub mod crypto;
pub mod policy;
