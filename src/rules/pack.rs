//! The default rule pack, built into the binary so an installed `kms-audit` needs no rule
//! files beside it. Each entry is a file under `rules/` of the source tree; adding a rule
//! means adding its YAML file and one line here (a test fails when the two disagree).

/// `(path shown to users, file content)` of every bundled rule file, by path.
pub const FILES: &[(&str, &str)] = &[
    (
        "rules/audit-integrity/trail-logging-stopped-or-changed.yml",
        include_str!("../../rules/audit-integrity/trail-logging-stopped-or-changed.yml"),
    ),
    (
        "rules/least-privilege/key-policy-allows-any-principal.yml",
        include_str!("../../rules/least-privilege/key-policy-allows-any-principal.yml"),
    ),
    (
        "rules/least-privilege/root-account-kms-use.yml",
        include_str!("../../rules/least-privilege/root-account-kms-use.yml"),
    ),
    (
        "rules/lifecycle/key-disabled-or-scheduled-for-deletion.yml",
        include_str!("../../rules/lifecycle/key-disabled-or-scheduled-for-deletion.yml"),
    ),
    (
        "rules/rotation/key-rotation-disabled.yml",
        include_str!("../../rules/rotation/key-rotation-disabled.yml"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `.yml` under `rules/` (outside `frameworks/`) is bundled, and nothing else.
    #[test]
    fn the_bundled_list_matches_the_rules_directory() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk: Vec<String> = walkdir::WalkDir::new(root.join("rules"))
            .into_iter()
            .filter_entry(|e| e.file_name() != "frameworks")
            .filter_map(Result::ok)
            .filter(|e| {
                e.file_type().is_file()
                    && e.path()
                        .extension()
                        .is_some_and(|x| x == "yml" || x == "yaml")
            })
            .filter_map(|e| {
                e.path()
                    .strip_prefix(root)
                    .ok()
                    .map(|p| p.to_string_lossy().replace('\\', "/"))
            })
            .collect();
        on_disk.sort();
        let bundled: Vec<String> = FILES.iter().map(|(p, _)| (*p).to_owned()).collect();
        assert_eq!(
            bundled, on_disk,
            "src/rules/pack.rs must list every rule file under rules/, sorted"
        );
    }
}
