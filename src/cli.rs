//! The command-line surface of kms-audit, as clap types only.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Proves AWS KMS keys are governed: reads CloudTrail logs of KMS activity into a Parquet
/// lake and reports what they contain.
#[derive(Debug, Parser)]
#[command(name = "kms-audit", version, propagate_version = true)]
#[command(after_help = "Examples:
  kms-audit scan sample-logs/                    summarize a trail (cached for the next scan)
  kms-audit scan logs/ --format json > out.json  the same summary as JSON
  kms-audit scan logs/ --no-cache                use a temporary lake instead of the cache
  kms-audit scan logs/ --lake lake/              add to and summarize a lake of your own
  kms-audit ingest logs/ --lake lake/            add new files to a durable Parquet lake
  aws s3 cp s3://bucket/AWSLogs/ - --recursive | kms-audit scan -   (read standard input)

Exit codes: 0 success; 2 usage or input error (including --strict stopping at a problem).")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read CloudTrail files and summarize them: time window, accounts, regions, files and
    /// records read or skipped, events by source, name and error, top principals and keys.
    ///
    /// PATHs are CloudTrail files (.json, .json.gz, JSON Lines, EventBridge envelopes) or
    /// directories, walked recursively in the S3 layout; CloudTrail-Digest folders are
    /// skipped. `-` reads standard input. Files go through a Parquet lake: by default a cache
    /// per set of inputs, so scanning the same logs again reads only new files.
    Scan(ScanArgs),
    /// Add CloudTrail files to a Parquet lake (Hive-partitioned by account, region and date)
    /// that Athena, Spark, DuckDB or Polars can read.
    ///
    /// Files already in the lake (same path, size and modification time, or same content) are
    /// not read again; a record whose eventID is already stored is not stored twice.
    Ingest(IngestArgs),
}

/// Options shared by every command that reads input.
#[derive(Debug, Args)]
pub struct InputArgs {
    /// Files or directories to read; `-` for standard input.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Stop at the first input problem (unreadable file, invalid JSON, bad record) with exit
    /// code 2, instead of warning, counting it and going on.
    #[arg(long)]
    pub strict: bool,
    /// Files read in parallel [default: the number of CPUs].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Warnings printed on stderr before the rest are only counted (every problem is in the
    /// JSON output).
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub max_warnings: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `kms-audit scan`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Use this lake directory: the inputs are added to it and everything in it is
    /// summarized [default: a cache under $KMS_AUDIT_CACHE_DIR or ~/.cache/kms-audit].
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    pub lake: Option<PathBuf>,
    /// Use a temporary lake, deleted afterwards, instead of the cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Values listed per breakdown (event names, principals, keys…).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
}

/// `kms-audit ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The lake directory (created if missing).
    #[arg(long, value_name = "DIR", required = true)]
    pub lake: PathBuf,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Tables for a terminal.
    Table,
    /// Pretty JSON, stable field names.
    Json,
}
