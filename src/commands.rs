//! Runs a parsed command line: turns clap types into library options, calls the library and
//! renders the result on stdout.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use kms_audit::ingest::lake::Lake;
use kms_audit::ingest::{ingest, IngestOptions};
use kms_audit::report::{
    findings_csv, findings_jsonl, findings_junit, findings_sarif, findings_table, ingest_table,
    simulate_table, summary_table, write_json,
};
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
    let summary = result?;
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
/// applied), its event filter and waivers; any problem is an input error (exit 2).
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
            let diagnostics = lint::lint(&loaded);
            match args.format {
                OutputFormat::Table => {
                    render::diagnostics(&diagnostics, loaded.files, loaded.rules.len(), &mut out)?
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
