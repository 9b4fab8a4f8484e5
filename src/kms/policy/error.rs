//! Why a policy document was rejected, naming the statement and field at fault.

use std::fmt;

/// Where in a policy document a problem was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementRef {
    /// Zero-based position in the `Statement` array (0 when `Statement` is an object).
    pub index: usize,
    /// The statement's `Sid`, when it has one.
    pub sid: Option<String>,
}

impl fmt::Display for StatementRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.sid {
            Some(sid) => write!(f, "statement {} (Sid \"{sid}\")", self.index),
            None => write!(f, "statement {}", self.index),
        }
    }
}

/// A policy that KMS would refuse with `MalformedPolicyDocumentException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The text is not JSON.
    #[error("policy is not valid JSON: {0}")]
    Json(String),
    /// A top-level element (`Version`, `Id`, `Statement`, …) is missing or wrong.
    #[error("policy element {field}: {reason}")]
    Document {
        /// The element at fault.
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An element of one statement is missing or wrong.
    #[error("{statement}: {field}: {reason}")]
    Statement {
        /// Which statement.
        statement: StatementRef,
        /// The element at fault (`Effect`, `Action`, `Condition.StringEquals`, …).
        field: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The policy lockout safety check failed (`PutKeyPolicy`/`CreateKey` without
    /// `BypassPolicyLockoutSafetyCheck`). The text is KMS's own message, as quoted verbatim
    /// in many user reports, e.g. github.com/terraform-aws-modules/terraform-aws-kms/issues/14
    /// and a `CloudTrail` record (errorCode `MalformedPolicyDocumentException`) in
    /// github.com/aws-solutions/innovation-sandbox-on-aws/issues/31.
    #[error("The new key policy will not allow you to update the key policy in the future.")]
    Lockout,
}

impl PolicyError {
    /// The AWS error type (`__type`) KMS returns for every variant.
    #[must_use]
    pub fn aws_error_code(&self) -> &'static str {
        "MalformedPolicyDocumentException"
    }
}
