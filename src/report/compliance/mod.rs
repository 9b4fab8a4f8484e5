//! Compliance reports (`kms-audit report`): the report model ([`model`]), built from a
//! framework catalog and the evidence of one run ([`evaluate`], from
//! [`crate::assess::Evidence`]), compared with the previous report of the same framework
//! ([`history`]), and rendered in each format by its own module, each writing to any
//! `impl Write`: [`markdown`], [`json`], [`csv`], [`html`] (with [`charts`]), [`oscal`].
//!
//! Reports go to `<out>/<framework id>/<YYYY-MM-DD>.<ext>`, written atomically (a temporary
//! file renamed), so a scheduled run never leaves half a report for the next one to read.

pub mod charts;
pub mod csv;
pub mod error;
pub mod evaluate;
pub mod history;
pub mod html;
pub mod json;
pub mod markdown;
pub mod model;
pub mod oscal;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use error::ReportError;
pub use model::ComplianceReport;

use crate::assess::Evidence;
use crate::frameworks::Catalog;

/// A report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// Markdown, for repositories (`.md`).
    Markdown,
    /// The model as JSON (`.json`); the next report compares with it.
    Json,
    /// One row per requirement and finding (`.csv`).
    Csv,
    /// One self-contained HTML file with charts (`.html`).
    Html,
    /// OSCAL assessment-results JSON (`.oscal.json`).
    Oscal,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 5] = [
        Self::Markdown,
        Self::Json,
        Self::Csv,
        Self::Html,
        Self::Oscal,
    ];

    /// The name used on the command line (`md`, `json`, `csv`, `html`, `oscal`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Markdown => "md",
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Html => "html",
            Self::Oscal => "oscal",
        }
    }

    /// The file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Markdown => "md",
            Self::Json => history::JSON_EXTENSION,
            Self::Csv => "csv",
            Self::Html => "html",
            Self::Oscal => "oscal.json",
        }
    }

    /// Whether this build can write the format.
    pub fn is_available(self) -> bool {
        true
    }
}

/// Writes `report` in `format` to `out`.
pub fn render(
    format: Format,
    report: &ComplianceReport,
    out: &mut impl Write,
) -> Result<(), RenderError> {
    match format {
        Format::Markdown => markdown::write(report, out)?,
        Format::Json => json::write(report, out)?,
        Format::Csv => csv::write(report, out)?,
        Format::Html => html::write(report, out)?,
        Format::Oscal => oscal::write(report, out)?,
    }
    Ok(())
}

/// Why a format could not be written.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The format is not built in.
    #[error("format {0} is not available yet")]
    Unavailable(&'static str),
    /// A renderer failed for another reason.
    #[error("{0}")]
    Other(String),
}

/// The report of one framework, as written.
#[derive(Debug, Clone)]
pub struct Written {
    /// The report.
    pub report: ComplianceReport,
    /// The files written, in format order.
    pub files: Vec<PathBuf>,
}

/// Builds the report of `catalog` from `evidence`, compares it with the previous JSON
/// report in `<out>/<catalog id>/`, and writes it there in every format of `formats`.
pub fn produce(
    catalog: &Catalog,
    evidence: &Evidence,
    settings: &evaluate::ReportSettings<'_>,
    out: &Path,
    formats: &[Format],
) -> Result<Written, ReportError> {
    if let Some(format) = formats.iter().find(|f| !f.is_available()) {
        return Err(ReportError::Unavailable(format.name()));
    }
    let mut report = evaluate::build(catalog, evidence, settings);
    let folder = history::folder(out, &catalog.id);
    if let Some((path, _)) = history::find_previous(&folder, settings.today)? {
        let previous = history::load_previous(&path)?;
        report.comparison = Some(history::compare(
            &report,
            &previous,
            &path.display().to_string(),
        ));
    }
    std::fs::create_dir_all(&folder).map_err(|source| ReportError::CreateFolder {
        path: folder.clone(),
        source,
    })?;
    let mut files = Vec::with_capacity(formats.len());
    for format in formats {
        let path = history::report_path(out, &catalog.id, settings.today, format.extension());
        write_atomically(&path, |file| render(*format, &report, file))?;
        files.push(path);
    }
    Ok(Written { report, files })
}

/// Writes `path` through a temporary file beside it, renamed into place when complete.
fn write_atomically(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), RenderError>,
) -> Result<(), ReportError> {
    let failed = |source: std::io::Error| ReportError::Write {
        path: path.to_path_buf(),
        source,
    };
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let file = std::fs::File::create(&tmp).map_err(failed)?;
    let mut writer = std::io::BufWriter::new(file);
    let written = fill(&mut writer).and_then(|()| writer.flush().map_err(RenderError::Io));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(match err {
            RenderError::Io(source) => failed(source),
            RenderError::Unavailable(name) => ReportError::Unavailable(name),
            RenderError::Other(message) => failed(std::io::Error::other(message)),
        });
    }
    drop(writer);
    std::fs::rename(&tmp, path).map_err(failed)
}
