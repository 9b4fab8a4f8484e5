//! Runs a parsed command line: turns clap types into library options, calls the library and
//! renders the result on stdout.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use kms_audit::ingest::lake::Lake;
use kms_audit::ingest::{ingest, IngestOptions};
use kms_audit::report::{
    findings_csv, findings_jsonl, findings_junit, findings_sarif, findings_table, ingest_table,
    simulate_table, summary_table, write_json,
};
use kms_audit::rules::views::inventory::Inventory;
use kms_audit::rules::EvalOptions;
use kms_audit::scan::{
    default_cache_dir, scan, EventFilter, FindingOptions, LakeChoice, ScanOptions,
};
use kms_audit::trail::discover::discover;

use crate::cli::{
    Cli, Command, IngestArgs, InputArgs, OutputFormat, ScanArgs, ScanFormat, SimulateArgs,
};
use crate::progress::Terminal;

/// Runs `cli`; returns the exit code of a run that completed.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => run_scan(&args),
        Command::Ingest(args) => run_ingest(&args),
        Command::Simulate(args) => run_simulate(&args),
        Command::Rules(command) => run_rules(&command),
        Command::Frameworks(command) => run_frameworks(&command),
        Command::Report(args) => run_report(&args),
        Command::Pull(args) => run_pull(&args),
        Command::Kms(args) => run_kms(args),
    }
}

fn ingest_options(input: &InputArgs) -> IngestOptions {
    let defaults = IngestOptions::default();
    IngestOptions {
        strict: input.strict,
        threads: input.threads.unwrap_or(defaults.threads).max(1),
        ..defaults
    }
}

fn run_scan(args: &ScanArgs) -> Result<ExitCode> {
    let choice = match (&args.lake, args.no_cache) {
        (Some(dir), _) => LakeChoice::Dir(dir.clone()),
        (None, true) => LakeChoice::None,
        (None, false) => LakeChoice::Cache(default_cache_dir()),
    };
    let options = ScanOptions {
        ingest: ingest_options(&args.input),
        top: args.top,
        findings: finding_options(args)?,
    };
    let terminal = Terminal::new(args.input.strict, args.input.max_warnings);
    let result = scan(&args.input.paths, &choice, &options, &terminal);
    if let Ok(summary) = &result {
        let live = terminal.problems_seen();
        for problem in summary.problems.iter().skip(live) {
            terminal.warn(problem, " (recorded when the file was ingested)");
        }
    }
    terminal.finish();
    let mut summary = result?;
    match (args.timings, summary.timings) {
        (true, Some(t)) => eprintln!(
            "timings: ingest {:.3} s, summary {:.3} s, rules {:.3} s, total {:.3} s",
            t.ingest_s, t.summary_s, t.rules_s, t.total_s
        ),
        _ => summary.timings = None,
    }
    let mut out = std::io::stdout().lock();
    let findings = &summary.findings;
    match args.format {
        ScanFormat::Table => {
            summary_table::render(&summary, &mut out)?;
            findings_table::render(findings, &mut out)?;
        }
        ScanFormat::Json => write_json(&summary, &mut out)?,
        ScanFormat::Jsonl => findings_jsonl::render(findings, &mut out)?,
        ScanFormat::Csv => findings_csv::render(findings, &mut out)?,
        ScanFormat::Sarif => findings_sarif::render(findings, &summary.tool_version, &mut out)?,
        ScanFormat::Junit => findings_junit::render(findings, &mut out)?,
    }
    out.flush()?;
    if args
        .fail_on
        .is_some_and(|threshold| findings.fails(threshold))
    {
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The rules `scan` evaluates (bundled pack and --rules, with --config and --param
/// applied), its event filter, waivers and key inventory; any problem is an input error
/// (exit 2).
fn finding_options(args: &ScanArgs) -> Result<FindingOptions> {
    use kms_audit::rules::config::RuleSettings;

    if let Some(missing) = args.rules.iter().find(|p| !p.exists()) {
        anyhow::bail!("rule path {} does not exist", missing.display());
    }
    let mut loaded = if args.no_bundled_rules {
        kms_audit::rules::Loaded::default()
    } else {
        kms_audit::rules::load_bundled()
    };
    if !args.rules.is_empty() {
        let extra = kms_audit::rules::load_paths(&args.rules);
        loaded.rules.extend(extra.rules);
        loaded.errors.extend(extra.errors);
        // Ids must stay unique across the pack and the extra rules.
        kms_audit::rules::loader::finish(&mut loaded);
    }
    if !loaded.is_ok() {
        for err in &loaded.errors {
            eprintln!("error: {err}");
        }
        anyhow::bail!(
            "{} rule problem(s); `kms-audit rules lint` checks rule files",
            loaded.errors.len()
        );
    }
    let mut settings = RuleSettings::new();
    if let Some(config) = &args.config {
        settings.load_file(config)?;
    }
    for param in &args.params {
        settings.add_arg(param)?;
    }
    let rules = settings.apply(loaded.rules)?;
    let waivers = match &args.waivers {
        Some(file) => kms_audit::rules::waiver::load(file)?,
        None => Vec::new(),
    };
    let inventory = match &args.inventory {
        Some(file) => Some(std::sync::Arc::new(Inventory::read(file)?)),
        None => None,
    };
    Ok(FindingOptions {
        rules,
        filter: EventFilter {
            since: args.since,
            until: args.until,
            accounts: args.accounts.clone(),
            regions: args.regions.clone(),
        },
        waivers,
        eval: EvalOptions {
            max_evidence: args.max_evidence,
            inventory,
            ..EvalOptions::default()
        },
        ..FindingOptions::default()
    })
}

fn run_ingest(args: &IngestArgs) -> Result<ExitCode> {
    let discovery = discover(&args.input.paths)?;
    let mut lake = Lake::open(&args.lake)?;
    let terminal = Terminal::new(args.input.strict, args.input.max_warnings);
    let result = ingest(
        &discovery,
        &mut lake,
        &ingest_options(&args.input),
        &terminal,
    );
    terminal.finish();
    let report = result?;
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Table => {
            ingest_table::render(&report, &args.lake.display().to_string(), &mut out)?
        }
        OutputFormat::Json => write_json(&report, &mut out)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `kms-audit pull`: LookupEvents into a lake, progress on stderr, the summary on stdout.
fn run_pull(args: &crate::cli::PullArgs) -> Result<ExitCode> {
    use kms_audit::pull::{pull, render_table, Pacing, PullOptions, ALL_SOURCES};

    let now = chrono::Utc::now();
    let lake = args
        .lake
        .clone()
        .unwrap_or_else(|| default_cache_dir().join("pull"));
    let options = PullOptions {
        endpoint_url: args.endpoint_url.clone(),
        region: args.region.clone(),
        profile: args.profile.clone(),
        start: args.since.resolve(now),
        end: args.until.map_or(now, |until| until.resolve(now)),
        event_source: (args.event_source != ALL_SOURCES).then(|| args.event_source.clone()),
        lake,
        max_attempts: args.max_attempts,
        pacing: Pacing::default(),
        ingest: IngestOptions::default(),
    };
    let progress = crate::progress::PullProgress::new();
    let terminal = Terminal::new(false, 50);
    let result = pull(&options, &progress, &terminal);
    progress.finish();
    terminal.finish();
    let report = result?;
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Table => render_table(&report, &mut out)?,
        OutputFormat::Json => write_json(&report, &mut out)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn run_simulate(args: &SimulateArgs) -> Result<ExitCode> {
    use kms_audit::kms::simulate::{simulate, Options, Scenario};
    let scenario = Scenario::load(&args.scenario)?;
    let options = Options {
        seed: args.seed,
        file_window_minutes: args.file_minutes,
        ..Options::new(&args.out)
    };
    let bar = crate::progress::days_bar(u64::from(scenario.days));
    let result = simulate(&scenario, &options, &mut |done, _| {
        bar.set_position(u64::from(done))
    });
    bar.finish_and_clear();
    let summary = result?;
    let mut out = std::io::stdout().lock();
    match args.format {
        OutputFormat::Table => simulate_table::render(&summary, &args.out, &mut out)?,
        OutputFormat::Json => write_json(&summary, &mut out)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `kms-audit rules …`: load the bundled pack or the given paths, then list, explain, lint
/// or test.
fn run_rules(command: &crate::cli::RulesCommand) -> Result<ExitCode> {
    use crate::cli::RulesCommand;
    use kms_audit::rules::{lint, render, testing};

    let load = |paths: &[std::path::PathBuf]| -> Result<kms_audit::rules::Loaded> {
        if paths.is_empty() {
            return Ok(kms_audit::rules::load_bundled());
        }
        if let Some(missing) = paths.iter().find(|p| !p.exists()) {
            anyhow::bail!("rule path {} does not exist", missing.display());
        }
        Ok(kms_audit::rules::load_paths(paths))
    };
    // list and explain need valid rules: report the invalid ones as an input error.
    let require_valid = |loaded: &kms_audit::rules::Loaded| -> Result<()> {
        if loaded.is_ok() {
            return Ok(());
        }
        for err in &loaded.errors {
            eprintln!("error: {err}");
        }
        anyhow::bail!(
            "{} rule problem(s); `kms-audit rules lint` checks rule files",
            loaded.errors.len()
        )
    };
    let mut out = std::io::stdout().lock();
    let code = match command {
        RulesCommand::List(args) => {
            let loaded = load(&args.paths)?;
            require_valid(&loaded)?;
            match args.format {
                OutputFormat::Table => render::list(&loaded.rules, &mut out)?,
                OutputFormat::Json => write_json(&render::summaries(&loaded.rules), &mut out)?,
            }
            ExitCode::SUCCESS
        }
        RulesCommand::Explain(args) => {
            let loaded = load(&args.paths)?;
            require_valid(&loaded)?;
            let Some(rule) = loaded.find(&args.id) else {
                anyhow::bail!(
                    "no rule has the id or name `{}`; `kms-audit rules list` shows them",
                    args.id
                );
            };
            render::explain(rule, &mut out)?;
            ExitCode::SUCCESS
        }
        RulesCommand::Lint(args) => {
            let loaded = load(&args.paths)?;
            let mut diagnostics = lint::lint(&loaded);
            // Catalog mappings are checked against the rules a report would use: the
            // bundled pack plus the PATHs.
            let catalogs = load_catalogs(args.paths.is_empty(), &args.catalogs)?;
            let bundled = (!args.paths.is_empty()).then(kms_audit::rules::load_bundled);
            let reference: Vec<&kms_audit::rules::Rule> = loaded
                .rules
                .iter()
                .chain(bundled.iter().flat_map(|b| &b.rules))
                .collect();
            diagnostics.extend(lint::catalogs(&catalogs, &reference));
            match args.format {
                OutputFormat::Table => {
                    render::diagnostics(&diagnostics, loaded.files, loaded.rules.len(), &mut out)?;
                    kms_audit::frameworks::render::lint_summary(&catalogs, &mut out)?;
                }
                OutputFormat::Json => write_json(&diagnostics, &mut out)?,
            }
            if lint::has_errors(&diagnostics) {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        RulesCommand::Test(args) => {
            let loaded = load(&args.paths)?;
            for err in &loaded.errors {
                eprintln!("error: {err}");
            }
            let results = testing::run_tests(&loaded.rules);
            match args.format {
                OutputFormat::Table => render::test_results(&results, &mut out)?,
                OutputFormat::Json => write_json(&results, &mut out)?,
            }
            if loaded.is_ok() && results.iter().all(testing::CaseResult::passed) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
    };
    out.flush()?;
    Ok(code)
}

/// The bundled catalogs (when `bundled`) and the catalog files and directories `paths`; a
/// path that does not exist is a usage error.
fn load_catalogs(
    bundled: bool,
    paths: &[std::path::PathBuf],
) -> Result<kms_audit::frameworks::LoadedCatalogs> {
    if let Some(missing) = paths.iter().find(|p| !p.exists()) {
        anyhow::bail!("catalog path {} does not exist", missing.display());
    }
    Ok(kms_audit::frameworks::load(bundled, paths))
}

/// `kms-audit frameworks …`: load the bundled catalogs and any `--catalog`, then list or
/// show.
fn run_frameworks(command: &crate::cli::FrameworksCommand) -> Result<ExitCode> {
    use crate::cli::FrameworksCommand;
    use kms_audit::frameworks::render;

    let (paths, format) = match command {
        FrameworksCommand::List(args) => (&args.catalogs, args.format),
        FrameworksCommand::Show(args) => (&args.catalogs, args.format),
    };
    let loaded = load_catalogs(true, paths)?;
    if !loaded.is_ok() {
        for err in &loaded.errors {
            eprintln!("error: {err}");
        }
        anyhow::bail!(
            "{} catalog problem(s); `kms-audit rules lint --catalog PATH` checks catalog files",
            loaded.errors.len()
        );
    }
    let mut out = std::io::stdout().lock();
    match command {
        FrameworksCommand::List(_) => match format {
            OutputFormat::Table => render::list(&loaded.catalogs, &mut out)?,
            OutputFormat::Json => write_json(&render::summaries(&loaded.catalogs), &mut out)?,
        },
        FrameworksCommand::Show(args) => {
            let Some(catalog) = loaded.find(&args.id) else {
                anyhow::bail!(
                    "no framework catalog has the id `{}`; `kms-audit frameworks list` shows them",
                    args.id
                );
            };
            match format {
                OutputFormat::Table => render::show(catalog, &mut out)?,
                OutputFormat::Json => write_json(catalog, &mut out)?,
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Environment variable fixing the report date (`YYYY-MM-DD`) of `kms-audit report`: the
/// reports' file names, `generated_at` (midnight of that day) and the day waiver expiry is
/// judged on. For reproducible reports and tests; without it the date is today (UTC).
pub const REPORT_DATE_ENV: &str = "KMS_AUDIT_REPORT_DATE";

/// `kms-audit report`: load the catalogs and rules, gather the evidence once, then build,
/// compare and write each framework's report.
fn run_report(args: &crate::cli::ReportArgs) -> Result<ExitCode> {
    use crate::cli::ReportFormat;
    use kms_audit::assess::{assess, AssessOptions, LakeSource};
    use kms_audit::report::compliance::{self, evaluate, Format};
    use kms_audit::rules::config::RuleSettings;

    let (today, generated_at) = match std::env::var(REPORT_DATE_ENV) {
        Ok(text) => {
            let date =
                chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
                    anyhow::anyhow!("${REPORT_DATE_ENV}: `{text}` is not a date (YYYY-MM-DD)")
                })?;
            (date, format!("{}T00:00:00Z", date.format("%Y-%m-%d")))
        }
        Err(_) => {
            let now = chrono::Utc::now();
            (
                now.date_naive(),
                now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            )
        }
    };
    let mut formats: Vec<Format> = args
        .formats
        .iter()
        .map(|f| match f {
            ReportFormat::Md => Format::Markdown,
            ReportFormat::Json => Format::Json,
            ReportFormat::Csv => Format::Csv,
            ReportFormat::Html => Format::Html,
            ReportFormat::Oscal => Format::Oscal,
        })
        .collect();
    formats.sort();
    formats.dedup();
    if let Some(format) = formats.iter().find(|f| !f.is_available()) {
        anyhow::bail!("format {} is not available yet", format.name());
    }

    let catalogs = load_catalogs(true, &args.catalogs)?;
    if !catalogs.is_ok() {
        for err in &catalogs.errors {
            eprintln!("error: {err}");
        }
        anyhow::bail!(
            "{} catalog problem(s); `kms-audit rules lint --catalog PATH` checks catalog files",
            catalogs.errors.len()
        );
    }
    let mut selected = Vec::new();
    for id in &args.frameworks {
        let Some(catalog) = catalogs.find(id) else {
            anyhow::bail!(
                "no framework catalog has the id `{id}`; `kms-audit frameworks list` shows them"
            );
        };
        if !selected
            .iter()
            .any(|c: &&kms_audit::frameworks::Catalog| c.id == catalog.id)
        {
            selected.push(catalog);
        }
    }

    if let Some(missing) = args.rules.iter().find(|p| !p.exists()) {
        anyhow::bail!("rule path {} does not exist", missing.display());
    }
    let mut loaded = if args.no_bundled_rules {
        kms_audit::rules::Loaded::default()
    } else {
        kms_audit::rules::load_bundled()
    };
    if !args.rules.is_empty() {
        let extra = kms_audit::rules::load_paths(&args.rules);
        loaded.rules.extend(extra.rules);
        loaded.errors.extend(extra.errors);
        kms_audit::rules::loader::finish(&mut loaded);
    }
    if !loaded.is_ok() {
        for err in &loaded.errors {
            eprintln!("error: {err}");
        }
        anyhow::bail!(
            "{} rule problem(s); `kms-audit rules lint` checks rule files",
            loaded.errors.len()
        );
    }
    let before: Vec<String> = loaded.rules.iter().map(|r| r.id.clone()).collect();
    let mut rule_settings = RuleSettings::new();
    if let Some(config) = &args.config {
        rule_settings.load_file(config)?;
    }
    for param in &args.params {
        rule_settings.add_arg(param)?;
    }
    let rules = rule_settings.apply(loaded.rules)?;
    let disabled: Vec<String> = before
        .into_iter()
        .filter(|id| !rules.iter().any(|r| &r.id == id))
        .collect();
    let waivers = match &args.waivers {
        Some(file) => kms_audit::rules::waiver::load(file)?,
        None => Vec::new(),
    };
    let inventory = match &args.inventory {
        Some(file) => Some(std::sync::Arc::new(Inventory::read(file)?)),
        None => None,
    };
    let mut settings_files = Vec::new();
    for (role, path) in [
        ("config", args.config.as_ref()),
        ("waivers", args.waivers.as_ref()),
        ("inventory", args.inventory.as_ref()),
    ] {
        if let Some(path) = path {
            settings_files.push(evaluate::settings_file(role, path).map_err(|err| {
                anyhow::anyhow!("{role} file {}: cannot be read: {err}", path.display())
            })?);
        }
    }

    let source = match &args.lake {
        Some(dir) => {
            if args.paths.is_empty() && !dir.is_dir() {
                anyhow::bail!(
                    "lake {} does not exist: give the log PATHs to read into it",
                    dir.display()
                );
            }
            LakeSource::Dir(dir.clone())
        }
        None => LakeSource::Temporary,
    };
    let defaults = IngestOptions::default();
    let options = AssessOptions {
        ingest: IngestOptions {
            strict: args.strict,
            threads: args.threads.unwrap_or(defaults.threads).max(1),
            ..defaults
        },
        rules,
        filter: EventFilter {
            since: args.since.map(|t| t.resolve(today, false)),
            until: args.until.map(|t| t.resolve(today, true)),
            ..EventFilter::default()
        },
        waivers,
        today,
        eval: EvalOptions {
            max_evidence: args.max_evidence,
            inventory,
            ..EvalOptions::default()
        },
    };
    let terminal = Terminal::new(args.strict, args.max_warnings);
    let result = assess(&args.paths, &source, &options, &terminal);
    if let Ok(evidence) = &result {
        let live = terminal.problems_seen();
        for problem in evidence.problems.iter().skip(live) {
            terminal.warn(problem, " (recorded when the file was ingested)");
        }
    }
    terminal.finish();
    let evidence = result?;
    if let Some(lake) = &evidence.lake {
        eprintln!(
            "lake {lake}: {} new log file(s) read, {} already in the lake",
            evidence.ingest.files_ingested, evidence.ingest.files_unchanged
        );
    }

    let report_settings = evaluate::ReportSettings {
        rules: &options.rules,
        disabled_rules: &disabled,
        waivers: &options.waivers,
        today,
        generated_at,
        settings_files: &settings_files,
        has_inventory: options.eval.inventory.is_some(),
    };
    let mut out = std::io::stdout().lock();
    for catalog in selected {
        let written =
            compliance::produce(catalog, &evidence, &report_settings, &args.out, &formats)?;
        let summary = &written.report.summary;
        let counts = &summary.requirements;
        let score = summary
            .score
            .map_or_else(|| "n/a".to_owned(), |s| format!("{s:.1} %"));
        writeln!(
            out,
            "{}: score {score}; {} satisfied, {} not-satisfied, {} insufficient-evidence, {} manual, {} not-applicable",
            catalog.id,
            counts.satisfied,
            counts.not_satisfied,
            counts.insufficient_evidence,
            counts.manual,
            counts.not_applicable
        )?;
        for file in &written.files {
            writeln!(out, "  {}", file.display())?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn run_kms(args: crate::cli::KmsArgs) -> Result<ExitCode> {
    use kms_audit::kms::server::{serve, ServeOptions};

    match args.command {
        crate::cli::KmsCommand::Serve(serve_args) => {
            let options = ServeOptions {
                config: serve_args.config,
                data_dir: serve_args.data_dir,
                trail_dir: serve_args.trail_dir,
                listen: serve_args.listen,
                root_key_file: serve_args.root_key_file,
            };
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(serve(options))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
