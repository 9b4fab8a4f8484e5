//! The bundled mini-KMS: a local KMS engine that real AWS SDKs can talk to.
//!
//! Only the authorization layer exists so far: [`policy`] evaluates key policies, identity
//! policies and grants with IAM semantics.

pub mod policy;
