//! The default rule pack, built into the binary so an installed `kms-audit` needs no rule
//! files beside it. Each entry is a file under `rules/` of the source tree; adding a rule
//! means adding its YAML file and one line here (a test fails when the two disagree).

/// `(path shown to users, file content)` of every bundled rule file, by path.
pub const FILES: &[(&str, &str)] = &[
    (
        "rules/audit-integrity/digest-chain-broken.yml",
        include_str!("../../rules/audit-integrity/digest-chain-broken.yml"),
    ),
    (
        "rules/audit-integrity/kms-events-excluded-from-trail.yml",
        include_str!("../../rules/audit-integrity/kms-events-excluded-from-trail.yml"),
    ),
    (
        "rules/audit-integrity/log-coverage-gap.yml",
        include_str!("../../rules/audit-integrity/log-coverage-gap.yml"),
    ),
    (
        "rules/audit-integrity/log-file-missing-or-modified.yml",
        include_str!("../../rules/audit-integrity/log-file-missing-or-modified.yml"),
    ),
    (
        "rules/audit-integrity/trail-log-file-validation-disabled.yml",
        include_str!("../../rules/audit-integrity/trail-log-file-validation-disabled.yml"),
    ),
    (
        "rules/audit-integrity/trail-logging-stopped-or-changed.yml",
        include_str!("../../rules/audit-integrity/trail-logging-stopped-or-changed.yml"),
    ),
    (
        "rules/audit-integrity/trail-logs-not-encrypted-with-kms.yml",
        include_str!("../../rules/audit-integrity/trail-logs-not-encrypted-with-kms.yml"),
    ),
    (
        "rules/least-privilege/access-denied-probing.yml",
        include_str!("../../rules/least-privilege/access-denied-probing.yml"),
    ),
    (
        "rules/least-privilege/grant-never-retired.yml",
        include_str!("../../rules/least-privilege/grant-never-retired.yml"),
    ),
    (
        "rules/least-privilege/grant-to-other-account.yml",
        include_str!("../../rules/least-privilege/grant-to-other-account.yml"),
    ),
    (
        "rules/least-privilege/iam-policy-allows-decrypt-on-all-keys.yml",
        include_str!("../../rules/least-privilege/iam-policy-allows-decrypt-on-all-keys.yml"),
    ),
    (
        "rules/least-privilege/iam-policy-grants-full-kms-access.yml",
        include_str!("../../rules/least-privilege/iam-policy-grants-full-kms-access.yml"),
    ),
    (
        "rules/least-privilege/key-access-granted-but-unused.yml",
        include_str!("../../rules/least-privilege/key-access-granted-but-unused.yml"),
    ),
    (
        "rules/least-privilege/key-policy-allows-any-principal.yml",
        include_str!("../../rules/least-privilege/key-policy-allows-any-principal.yml"),
    ),
    (
        "rules/least-privilege/key-policy-allows-other-account.yml",
        include_str!("../../rules/least-privilege/key-policy-allows-other-account.yml"),
    ),
    (
        "rules/least-privilege/key-policy-full-access-to-non-admin.yml",
        include_str!("../../rules/least-privilege/key-policy-full-access-to-non-admin.yml"),
    ),
    (
        "rules/least-privilege/key-policy-lockout-safety-check-bypassed.yml",
        include_str!("../../rules/least-privilege/key-policy-lockout-safety-check-bypassed.yml"),
    ),
    (
        "rules/least-privilege/key-policy-statement-any-principal-unconditioned.yml",
        include_str!(
            "../../rules/least-privilege/key-policy-statement-any-principal-unconditioned.yml"
        ),
    ),
    (
        "rules/least-privilege/principal-administers-and-uses-key.yml",
        include_str!("../../rules/least-privilege/principal-administers-and-uses-key.yml"),
    ),
    (
        "rules/least-privilege/root-account-kms-use.yml",
        include_str!("../../rules/least-privilege/root-account-kms-use.yml"),
    ),
    (
        "rules/lifecycle/imported-key-material-expiring.yml",
        include_str!("../../rules/lifecycle/imported-key-material-expiring.yml"),
    ),
    (
        "rules/lifecycle/key-disabled-or-scheduled-for-deletion.yml",
        include_str!("../../rules/lifecycle/key-disabled-or-scheduled-for-deletion.yml"),
    ),
    (
        "rules/lifecycle/key-used-after-disable-or-deletion-schedule.yml",
        include_str!("../../rules/lifecycle/key-used-after-disable-or-deletion-schedule.yml"),
    ),
    (
        "rules/rotation/key-material-older-than-cryptoperiod.yml",
        include_str!("../../rules/rotation/key-material-older-than-cryptoperiod.yml"),
    ),
    (
        "rules/rotation/key-rotation-disabled.yml",
        include_str!("../../rules/rotation/key-rotation-disabled.yml"),
    ),
    (
        "rules/rotation/rotatable-key-without-rotation.yml",
        include_str!("../../rules/rotation/rotatable-key-without-rotation.yml"),
    ),
    (
        "rules/rotation/rotation-period-longer-than-cryptoperiod.yml",
        include_str!("../../rules/rotation/rotation-period-longer-than-cryptoperiod.yml"),
    ),
    (
        "rules/unusual-usage/cross-account-key-use.yml",
        include_str!("../../rules/unusual-usage/cross-account-key-use.yml"),
    ),
    (
        "rules/unusual-usage/decrypt-burst.yml",
        include_str!("../../rules/unusual-usage/decrypt-burst.yml"),
    ),
    (
        "rules/unusual-usage/key-usage-volume-spike.yml",
        include_str!("../../rules/unusual-usage/key-usage-volume-spike.yml"),
    ),
    (
        "rules/unusual-usage/new-principal-on-key.yml",
        include_str!("../../rules/unusual-usage/new-principal-on-key.yml"),
    ),
    (
        "rules/unusual-usage/new-region-for-principal.yml",
        include_str!("../../rules/unusual-usage/new-region-for-principal.yml"),
    ),
    (
        "rules/unusual-usage/new-source-network-for-principal.yml",
        include_str!("../../rules/unusual-usage/new-source-network-for-principal.yml"),
    ),
    (
        "rules/unusual-usage/off-hours-key-use.yml",
        include_str!("../../rules/unusual-usage/off-hours-key-use.yml"),
    ),
    (
        "rules/unusual-usage/reencrypt-to-foreign-account-key.yml",
        include_str!("../../rules/unusual-usage/reencrypt-to-foreign-account-key.yml"),
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
