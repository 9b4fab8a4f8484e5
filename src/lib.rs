//! kms-audit proves that AWS KMS keys are governed.
//!
//! The pipeline: CloudTrail files are discovered and decoded ([`trail`]), normalized into one
//! flat event table and stored in a Parquet lake ([`ingest`]), analysed with Polars
//! ([`summary`]) and rendered for people and machines ([`report`]). Compliance framework
//! catalogs map rules to requirements ([`frameworks`]).

pub mod assess;
pub mod error;
pub mod frameworks;
pub mod ingest;
pub mod kms;
pub mod pull;
pub mod report;
pub mod rules;
pub mod scan;
pub mod summary;
pub mod trail;

pub use error::{Error, Result};
