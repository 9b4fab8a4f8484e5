//! Text output of the `frameworks` commands (the catalog list, one catalog's requirements)
//! and the catalog line of `rules lint`, each written to any `impl Write`.

use std::io::Write;

use serde::Serialize;
use tabled::builder::Builder;
use tabled::settings::Style;

use crate::frameworks::catalog::{Catalog, CatalogStatus, StatusCounts};
use crate::frameworks::LoadedCatalogs;

/// A catalog as `frameworks list --format json` shows it.
#[derive(Debug, Serialize)]
pub struct CatalogSummary<'a> {
    /// Stable id.
    pub id: &'a str,
    /// Framework name.
    pub name: &'a str,
    /// Framework version.
    pub version: &'a str,
    /// Requirement counts by status.
    pub requirements: StatusCounts,
    /// The file, as shown to the user.
    pub file: &'a str,
}

/// The JSON view of `catalogs`.
pub fn summaries(catalogs: &[Catalog]) -> Vec<CatalogSummary<'_>> {
    catalogs
        .iter()
        .map(|c| CatalogSummary {
            id: &c.id,
            name: &c.name,
            version: &c.version,
            requirements: c.counts(),
            file: &c.file,
        })
        .collect()
}

/// Writes the catalogs as a table.
pub fn list(catalogs: &[Catalog], out: &mut impl Write) -> std::io::Result<()> {
    let mut builder = Builder::default();
    builder.push_record([
        "id",
        "name",
        "version",
        "requirements",
        "automated",
        "manual",
        "not applicable",
    ]);
    for catalog in catalogs {
        let counts = catalog.counts();
        builder.push_record([
            catalog.id.as_str(),
            catalog.name.as_str(),
            catalog.version.as_str(),
            &counts.total().to_string(),
            &counts.automated.to_string(),
            &counts.manual.to_string(),
            &counts.not_applicable.to_string(),
        ]);
    }
    let mut table = builder.build();
    table.with(Style::sharp());
    writeln!(out, "{table}")?;
    writeln!(
        out,
        "{} catalog(s); `kms-audit frameworks show ID` lists one's requirements.",
        catalogs.len()
    )
}

/// Writes a catalog: its source and scope, then every requirement by section with its
/// status, and its rules, thresholds and log coverage or its reason.
pub fn show(catalog: &Catalog, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{} {} ({})", catalog.name, catalog.version, catalog.id)?;
    writeln!(out, "source: {}", catalog.source.document.trim())?;
    writeln!(out, "        {}", catalog.source.url)?;
    writeln!(out, "file:   {}", catalog.location())?;
    let counts = catalog.counts();
    writeln!(
        out,
        "{} requirements: {} automated, {} manual, {} not applicable",
        counts.total(),
        counts.automated,
        counts.manual,
        counts.not_applicable
    )?;
    if let Some(scope) = &catalog.scope {
        writeln!(out)?;
        for line in wrap(scope, WIDTH) {
            writeln!(out, "{line}")?;
        }
    }
    for section in &catalog.sections {
        writeln!(out)?;
        writeln!(out, "{}  {}", section.id, section.title)?;
        for requirement in &section.requirements {
            writeln!(
                out,
                "  {}  {}  [{}]",
                requirement.display_id(),
                requirement.title,
                requirement.status
            )?;
            let mut details: Vec<(&str, String)> = Vec::new();
            if requirement.status == CatalogStatus::Automated {
                if !requirement.rules.is_empty() {
                    details.push(("rules", requirement.rules.join(", ")));
                }
                for threshold in &requirement.thresholds {
                    details.push((
                        "threshold",
                        format!(
                            "{} {} {}",
                            threshold.rule,
                            threshold.param,
                            threshold.bound()
                        ),
                    ));
                }
                if let Some(days) = requirement.log_coverage_days {
                    details.push(("logs", format!("cover at least {days} days")));
                }
                if let Some(note) = &requirement.note {
                    details.push(("note", note.clone()));
                }
            } else if let Some(reason) = &requirement.reason {
                let label = match requirement.status {
                    CatalogStatus::NotApplicable => "reason",
                    _ => "assessor",
                };
                details.push((label, reason.clone()));
            }
            for (label, text) in details {
                let lines = wrap(&text, WIDTH - INDENT - label.len() - 2);
                for (i, line) in lines.iter().enumerate() {
                    if i == 0 {
                        writeln!(out, "{:INDENT$}{label}: {line}", "")?;
                    } else {
                        writeln!(out, "{:width$}{line}", "", width = INDENT + label.len() + 2)?;
                    }
                }
            }
        }
    }
    Ok(())
}

/// The line `rules lint` adds about the catalogs it checked.
pub fn lint_summary(catalogs: &LoadedCatalogs, out: &mut impl Write) -> std::io::Result<()> {
    let requirements: usize = catalogs.catalogs.iter().map(|c| c.counts().total()).sum();
    writeln!(
        out,
        "{} framework catalog(s) checked ({} valid, {requirements} requirement(s))",
        catalogs.files,
        catalogs.catalogs.len()
    )
}

/// Width of wrapped prose in `show`.
const WIDTH: usize = 92;

/// Indentation of a requirement's details in `show`.
const INDENT: usize = 6;

/// Splits `text` into lines of at most `width` characters at spaces (longer words stay
/// whole).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frameworks::load_bundled;

    #[test]
    fn show_lists_every_requirement_with_its_mapping() {
        let loaded = load_bundled();
        let catalog = loaded.find("pci-dss-4.0.1").expect("bundled");
        let mut out = Vec::new();
        show(catalog, &mut out).expect("written");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(
            text.starts_with("PCI DSS 4.0.1 (pci-dss-4.0.1)\n"),
            "{text}"
        );
        assert!(text.contains(
            "  3.7.4  Keys are changed at the end of their defined cryptoperiod  [automated]\n"
        ));
        assert!(
            text.contains("      threshold: KMS.ROT.1 max_age_days ≤ 365\n"),
            "{text}"
        );
        assert!(
            text.contains("      logs: cover at least 365 days\n"),
            "{text}"
        );
        assert!(text.contains(
            "  11.5.1  Network intrusions are detected or prevented  [not-applicable]\n"
        ));
        for (_, requirement) in catalog.requirements() {
            assert!(
                text.contains(&format!("  {}  ", requirement.display_id())),
                "{}",
                requirement.id
            );
        }
    }

    #[test]
    fn list_counts_requirements_by_status() {
        let loaded = load_bundled();
        let mut out = Vec::new();
        list(&loaded.catalogs, &mut out).expect("written");
        let text = String::from_utf8(out).expect("utf-8");
        assert!(text.contains("fedramp-rev5-moderate"), "{text}");
        assert!(text.contains("3 catalog(s)"), "{text}");
        assert_eq!(wrap("aa bb cc", 5), ["aa bb", "cc"]);
    }
}
