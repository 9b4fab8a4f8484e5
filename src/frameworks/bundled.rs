//! The framework catalogs built into the binary, so `rules lint`, `frameworks` and reports
//! need no files beside an installed `kms-audit`. Each entry is a file under
//! `rules/frameworks/` of the source tree; adding a catalog means adding its YAML file and
//! one line here (a test fails when the two disagree).

/// `(path shown to users, file content)` of every bundled catalog, by path.
pub const FILES: &[(&str, &str)] = &[
    (
        "rules/frameworks/fedramp-rev5-moderate.yml",
        include_str!("../../rules/frameworks/fedramp-rev5-moderate.yml"),
    ),
    (
        "rules/frameworks/hipaa-security-rule.yml",
        include_str!("../../rules/frameworks/hipaa-security-rule.yml"),
    ),
    (
        "rules/frameworks/pci-dss-4.0.1.yml",
        include_str!("../../rules/frameworks/pci-dss-4.0.1.yml"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.yml` / `.yaml` in `rules/frameworks/` is bundled, and nothing else.
    #[test]
    fn the_bundled_frameworks_list_matches_the_directory() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let dir = root.join("rules/frameworks");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
                    .filter_map(|p| {
                        p.strip_prefix(root)
                            .ok()
                            .map(|p| p.to_string_lossy().replace('\\', "/"))
                    })
                    .collect()
            })
            .unwrap_or_default();
        on_disk.sort();
        let bundled: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        assert_eq!(
            bundled, on_disk,
            "src/frameworks/bundled.rs must list every catalog under rules/frameworks/, sorted"
        );
    }
}
