//! The ways writing a compliance report can fail, each naming the file or folder at fault.

use std::path::PathBuf;

/// A failure of `kms-audit report` after the evidence is gathered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The report folder cannot be listed to find the previous report.
    #[error("report folder {}: cannot be listed: {source}", path.display())]
    ListFolder {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The previous report cannot be read.
    #[error("previous report {}: cannot be read: {source}", path.display())]
    PreviousUnreadable {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The previous report is not a kms-audit compliance report.
    #[error("previous report {}: is not a kms-audit compliance report ({message}); move it out of the folder or fix it", path.display())]
    PreviousInvalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The report folder cannot be created.
    #[error("report folder {}: cannot be created: {source}", path.display())]
    CreateFolder {
        /// The folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A report file cannot be written.
    #[error("report {}: cannot be written: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The format is not built into this kms-audit yet.
    #[error("format {0} is not available yet")]
    Unavailable(&'static str),
}
