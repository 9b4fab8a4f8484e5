//! Runs a parsed command line: turns clap types into library options, calls the library and
//! renders the result on stdout.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use kms_audit::ingest::lake::Lake;
use kms_audit::ingest::{ingest, IngestOptions};
use kms_audit::report::{ingest_table, summary_table, write_json};
use kms_audit::scan::{default_cache_dir, scan, LakeChoice, ScanOptions};
use kms_audit::trail::discover::discover;

use crate::cli::{Cli, Command, IngestArgs, InputArgs, OutputFormat, ScanArgs};
use crate::progress::Terminal;

/// Runs `cli`; returns the exit code of a run that completed.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Scan(args) => run_scan(&args),
        Command::Ingest(args) => run_ingest(&args),
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
    match args.input.format {
        OutputFormat::Table => summary_table::render(&summary, &mut out)?,
        OutputFormat::Json => write_json(&summary, &mut out)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
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
    match args.input.format {
        OutputFormat::Table => {
            ingest_table::render(&report, &args.lake.display().to_string(), &mut out)?
        }
        OutputFormat::Json => write_json(&report, &mut out)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
