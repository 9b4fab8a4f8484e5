//! The ways the library can fail, each naming the input at fault.

use std::path::PathBuf;

use crate::trail::problem::Problem;

/// A failure that stops the current command.
///
/// Problems with single input files or records are not errors: they are [`Problem`]s,
/// reported and counted while the work goes on (unless strict mode turns the first one into
/// [`Error::Strict`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An input path given on the command line does not exist or cannot be listed.
    #[error("input {path}: {source}")]
    Input {
        /// The path as given.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// Reading or writing the Parquet lake failed.
    #[error("lake {path}: {message}")]
    Lake {
        /// The lake file or directory at fault.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The lake was written by an incompatible version of the schema.
    #[error(
        "lake {path} has schema version {found}; this kms-audit reads and writes version {expected}: ingest into a new lake directory"
    )]
    LakeVersion {
        /// The lake directory.
        path: PathBuf,
        /// The version recorded in its manifest.
        found: u32,
        /// The version this build supports.
        expected: u32,
    },
    /// Strict mode was on and an input problem occurred.
    #[error("{0} (stopped by --strict)")]
    Strict(Problem),
    /// A Polars query over the lake failed.
    #[error("analysis of lake {path}: {source}")]
    Analysis {
        /// The lake directory.
        path: PathBuf,
        /// The Polars error.
        source: polars::error::PolarsError,
    },
    /// Writing output failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
