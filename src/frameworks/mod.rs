//! Compliance framework catalogs: PCI DSS v4.0.1, the HIPAA Security Rule and FedRAMP Rev5
//! Moderate (`rules/frameworks/`, built into the binary by [`bundled`]), and catalogs users
//! write themselves in the same format.
//!
//! A catalog lists a framework's requirements in scope, each decided by the findings of
//! rules (with parameter thresholds and a minimum log coverage the framework sets), or marked
//! manual or not applicable with a reason ([`catalog`]). Catalogs are validated when loaded;
//! their mappings are checked against the loaded rules by [`catalog::check_rules`], which
//! `rules lint` runs. Reports group findings by these requirements.

pub mod bundled;
pub mod catalog;
pub mod error;
pub mod render;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub use catalog::{check_rules, Catalog, CatalogStatus, Requirement, RuleCheck, Section};
pub use error::{CatalogError, CatalogErrorKind};

/// Catalogs loaded from the bundled set and from users' files.
#[derive(Debug, Clone, Default)]
pub struct LoadedCatalogs {
    /// The valid catalogs, in load order.
    pub catalogs: Vec<Catalog>,
    /// The files or catalogs that could not be used.
    pub errors: Vec<CatalogError>,
    /// Files read.
    pub files: usize,
}

impl LoadedCatalogs {
    /// Whether every file loaded.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }

    /// The catalog with id `id`, compared case-insensitively.
    pub fn find(&self, id: &str) -> Option<&Catalog> {
        self.catalogs.iter().find(|c| c.id.eq_ignore_ascii_case(id))
    }

    /// Parses `text`, the content of `file` (as shown to the user), and adds the catalog or
    /// its errors.
    pub fn add_text(&mut self, file: &str, text: &str) {
        self.files += 1;
        match catalog::parse(file, text) {
            Ok(catalog) => self.catalogs.push(catalog),
            Err(mut errors) => self.errors.append(&mut errors),
        }
    }

    /// Reads and adds the catalog file `path`.
    pub fn add_file(&mut self, path: &Path) {
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => self.add_text(&shown, &text),
            Err(err) => {
                self.files += 1;
                self.errors.push(CatalogError {
                    file: shown,
                    line: 1,
                    column: 1,
                    field: String::new(),
                    requirement: None,
                    kind: CatalogErrorKind::Io(err.to_string()),
                });
            }
        }
    }

    /// Checks what only the whole set can show: catalog ids used twice. The later catalog
    /// of a pair is dropped with an error.
    pub fn finish(&mut self) {
        let mut first: HashMap<String, String> = HashMap::new();
        let mut kept = Vec::with_capacity(self.catalogs.len());
        for catalog in std::mem::take(&mut self.catalogs) {
            let key = catalog.id.to_ascii_lowercase();
            if let Some(location) = first.get(&key) {
                let (line, column) = catalog.id_position();
                self.errors.push(CatalogError {
                    file: catalog.file.clone(),
                    line,
                    column,
                    field: catalog::field::ID.to_owned(),
                    requirement: None,
                    kind: CatalogErrorKind::DuplicateCatalog {
                        id: catalog.id.clone(),
                        first: location.clone(),
                    },
                });
                continue;
            }
            first.insert(key, catalog.location());
            kept.push(catalog);
        }
        self.catalogs = kept;
    }
}

/// Loads the catalogs built into the binary.
pub fn load_bundled() -> LoadedCatalogs {
    load(true, &[])
}

/// Loads the bundled catalogs (when `bundled`) and then the catalog files and directories
/// `paths` (walked for `.yml` / `.yaml`, skipping hidden entries), and checks that catalog
/// ids are unique.
pub fn load(bundled: bool, paths: &[PathBuf]) -> LoadedCatalogs {
    let mut loaded = LoadedCatalogs::default();
    if bundled {
        for (file, text) in bundled::FILES {
            loaded.add_text(file, text);
        }
    }
    for path in paths {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = walkdir::WalkDir::new(path)
                .into_iter()
                .filter_entry(|e| {
                    e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')
                })
                .filter_map(Result::ok)
                .filter(|e| e.file_type().is_file())
                .map(walkdir::DirEntry::into_path)
                .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
                .collect();
            files.sort();
            for file in files {
                loaded.add_file(&file);
            }
        } else {
            loaded.add_file(path);
        }
    }
    loaded.finish();
    loaded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_frameworks_load() {
        let loaded = load_bundled();
        let shown: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        assert!(loaded.is_ok(), "{shown:#?}");
        assert_eq!(loaded.files, bundled::FILES.len());
        for id in [
            "pci-dss-4.0.1",
            "hipaa-security-rule",
            "fedramp-rev5-moderate",
        ] {
            assert!(loaded.find(id).is_some(), "{id}");
        }
    }

    #[test]
    fn a_catalog_id_used_twice_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let copy = dir.path().join("pci.yml");
        std::fs::write(&copy, bundled::FILES[2].1).expect("write");
        let loaded = load(true, &[dir.path().to_path_buf()]);
        assert_eq!(loaded.catalogs.len(), 3);
        let shown: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 1, "{shown:#?}");
        assert!(
            shown[0].ends_with("pci.yml:4:1: id: catalog id `pci-dss-4.0.1` is already used by rules/frameworks/pci-dss-4.0.1.yml:4"),
            "{shown:#?}"
        );
    }

    #[test]
    fn an_unreadable_file_is_an_error() {
        let loaded = load(false, &[PathBuf::from("/nonexistent/catalog.yml")]);
        assert_eq!(loaded.errors.len(), 1);
        assert!(loaded.errors[0]
            .to_string()
            .starts_with("/nonexistent/catalog.yml:1:1: cannot be read:"));
    }
}
