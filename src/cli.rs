//! The command-line surface of kms-audit, as clap types only.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use kms_audit::rules::Severity;

/// Proves AWS KMS keys are governed: reads CloudTrail logs of KMS activity into a Parquet
/// lake and reports what they contain.
#[derive(Debug, Parser)]
#[command(name = "kms-audit", version, propagate_version = true)]
#[command(after_help = "Examples:
  kms-audit scan sample-logs/                    summarize a trail (cached for the next scan)
  kms-audit scan logs/ --format json > out.json  the same summary as JSON
  kms-audit scan logs/ --no-cache                use a temporary lake instead of the cache
  kms-audit scan logs/ --lake lake/              add to and summarize a lake of your own
  kms-audit scan logs/ --format sarif --fail-on high > kms.sarif   findings for CI
  kms-audit ingest logs/ --lake lake/            add new files to a durable Parquet lake
  kms-audit report --framework pci-dss-4.0.1 logs/   compliance report (reports/pci-dss-4.0.1/)
  kms-audit pull --since 30d --lake lake/        KMS events from CloudTrail's LookupEvents API
  aws s3 cp s3://bucket/AWSLogs/ - --recursive | kms-audit scan -   (read standard input)

Exit codes: 0 success; 1 `scan --fail-on` found an unwaived finding at or above the
severity; 2 usage or input error (including --strict stopping at a problem).")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read CloudTrail files, summarize them (time window, accounts, regions, files and
    /// records read or skipped, events by source, name and error, top principals and keys)
    /// and evaluate the detection rules over them: findings by severity, with waivers.
    ///
    /// PATHs are CloudTrail files (.json, .json.gz, JSON Lines, EventBridge envelopes) or
    /// directories, walked recursively in the S3 layout; CloudTrail-Digest folders are
    /// skipped. `-` reads standard input. Files go through a Parquet lake: by default a cache
    /// per set of inputs, so scanning the same logs again reads only new files.
    #[command(after_help = "Examples:
  kms-audit scan logs/                                  summary and findings as tables
  kms-audit scan logs/ --format sarif > kms.sarif       findings for code scanning
  kms-audit scan logs/ --format junit --fail-on high    CI: exit 1 on high or critical
  kms-audit scan logs/ --waivers waivers.yml --config kms-audit.yml
  kms-audit scan logs/ --inventory inventory.json       keys created before the logs
  kms-audit scan logs/ --param KMS.LC.1.exempt_principals=arn:aws:iam::1:role/decom
  kms-audit scan logs/ --since 2024-05-01 --until 2024-05-31 --account 111122223333

Exit codes: 0 success (and no finding at or above --fail-on); 1 an unwaived finding at or
above --fail-on; 2 usage or input error.")]
    Scan(ScanArgs),
    /// Add CloudTrail files to a Parquet lake (Hive-partitioned by account, region and date)
    /// that Athena, Spark, DuckDB or Polars can read.
    ///
    /// Files already in the lake (same path, size and modification time, or same content) are
    /// not read again; a record whose eventID is already stored is not stored twice.
    Ingest(IngestArgs),
    /// Simulate KMS use: drive the bundled mini-KMS on a simulated clock from a scenario and
    /// write the CloudTrail trail it records, plus ground-truth.json listing the injected
    /// incidents and the rule family expected to flag each.
    ///
    /// A scenario (YAML, see scenarios/README.md) lists accounts, principals with their
    /// habits (keys, operations, daily volume, working hours, networks, user agents), keys
    /// (spec, rotation, age, administrators and users) and incidents to inject. The same
    /// scenario and seed give the same bytes.
    #[command(after_help = "Examples:
  kms-audit simulate --scenario scenarios/sample.yaml --out /tmp/trail
  kms-audit simulate --scenario scenarios/large.yaml --out /tmp/big --seed 42
  kms-audit scan /tmp/trail                                 read the simulated trail")]
    Simulate(SimulateArgs),
    /// Detection rules: list them, explain one, lint rule files, run the rules' own tests.
    ///
    /// Without PATH the commands work on the rule pack built into kms-audit (rules/ in the
    /// source tree). PATHs are rule files or directories, walked for .yml and .yaml;
    /// kms-audit rules and Sigma rules (logsource product aws, service cloudtrail) are both
    /// read. See rules/README.md for the rule format.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Compliance framework catalogs (PCI DSS v4.0.1, HIPAA Security Rule, FedRAMP Rev5
    /// Moderate, and your own): list them, show one's requirements with their rules,
    /// thresholds and reasons. See rules/frameworks/README.md for the catalog format.
    #[command(subcommand)]
    Frameworks(FrameworksCommand),
    /// Write compliance reports: every requirement of a framework catalog with its status
    /// (satisfied, not-satisfied, insufficient-evidence, manual, not-applicable), the
    /// findings with evidence and remediation, thresholds, waivers, key inventory, log
    /// coverage and the comparison with the previous report.
    ///
    /// Reports go to OUT/FRAMEWORK/YYYY-MM-DD.EXT (the report date: today, or
    /// $KMS_AUDIT_REPORT_DATE); each compares itself with the latest earlier JSON report in
    /// its folder. With --lake, only log files the lake does not hold yet are read, so a
    /// daily run over a synced trail is quick.
    #[command(after_help = "Examples:
  kms-audit report --framework pci-dss-4.0.1 logs/
  kms-audit report --framework pci-dss-4.0.1 --framework fedramp-rev5-moderate logs/ --out reports/
  kms-audit report --framework hipaa-security-rule --lake /var/lib/kms-audit/lake /data/trail/ --since 30d
  kms-audit report --framework pci-dss-4.0.1 logs/ --param KMS.ROT.1.max_age_days=180 --waivers waivers.yml

Exit codes: 0 reports written; 2 usage or input error.")]
    Report(ReportArgs),
    /// Read CloudTrail events with the LookupEvents API (CloudTrail's event history, or the
    /// mini-KMS server's) into a lake.
    ///
    /// Uses the standard AWS configuration: credentials and Region from the environment
    /// (AWS_ACCESS_KEY_ID, AWS_REGION, AWS_PROFILE…), ~/.aws/config and ~/.aws/credentials,
    /// or an instance role. The events are written as a CloudTrail log file under
    /// LAKE/pulled/ and ingested like any other: events already in the lake are not stored
    /// again. Requests are paced to CloudTrail's two per second and retried with backoff
    /// when throttled. Event history keeps 90 days of management events per Region.
    #[command(after_help = "Examples:
  kms-audit pull --since 30d --lake lake/                  KMS events of the last 30 days
  kms-audit pull --since 2026-11-01 --until 2026-11-30 --region eu-west-1 --profile audit
  kms-audit pull --since 1h --event-source all             every service's events
  kms-audit pull --endpoint-url http://127.0.0.1:4599 --since 1h --lake lake/   the mini-KMS server
  kms-audit scan lake/pulled --lake lake/                  then summarize and evaluate the rules

Exit codes: 0 pulled (possibly nothing new); 2 usage error, or no Region or credentials, or
CloudTrail unreachable or refusing.")]
    Pull(PullArgs),
    /// The bundled mini-KMS: a local AWS KMS that the AWS SDKs, the AWS CLI and boto3 use
    /// unchanged through an endpoint override.
    Kms(KmsArgs),
}

/// `kms-audit kms`.
#[derive(Debug, Args)]
pub struct KmsArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: KmsCommand,
}

/// `kms-audit kms` subcommands.
#[derive(Debug, Subcommand)]
pub enum KmsCommand {
    /// Run the mini-KMS server: the AWS KMS JSON API on POST / (X-Amz-Target
    /// TrentService.<Operation>) with SigV4 signatures checked against the configured access
    /// keys, every call and every refused request recorded as a CloudTrail record, state and
    /// records committed before a call is answered, the trail delivered to --trail-dir in the
    /// S3 layout with digest files, and CloudTrail LookupEvents answered from the records.
    ///
    /// Without --config one access key is built in: `test` / `test`, an IAM user `admin` of
    /// account 111122223333 whose identity policy allows kms:*. Key material is stored
    /// encrypted under a root key kept outside the data directory: --root-key-file (or
    /// store.root_key_file in the configuration) or $KMS_AUDIT_ROOT_KEY (64 hex digits or the
    /// base64 of 32 bytes). See docs/kms-server.md for the configuration file (credentials,
    /// identity policies, seeded keys, aliases and grants, trail and store settings).
    #[command(after_help = "Examples:
  head -c 32 /dev/urandom > ~/.kms-root.key && chmod 600 ~/.kms-root.key
  kms-audit kms serve --root-key-file ~/.kms-root.key
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \\
    aws kms create-key --endpoint-url http://127.0.0.1:4599
  kms-audit kms serve --config kms.yml --data-dir /var/lib/kms --trail-dir /var/log/kms-trail
  kms-audit kms serve --config kms.yml --listen 127.0.0.1:0    any free port (printed on stderr)
  kms-audit scan kms-trail/                                    audit what the server recorded

The server prints `listening on http://ADDRESS` on stderr once it accepts connections, and
stops on Ctrl-C or SIGTERM after delivering the records it holds to the trail directory.

Exit codes: 0 stopped cleanly; 2 configuration, store or address error.")]
    Serve(ServeArgs),
}

/// `kms-audit kms serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The configuration file (YAML) [default: the built-in `test`/`test` access key].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Where keys, aliases, grants and records are stored [default: store.data_dir of the
    /// configuration, else ./kms-data].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Where the CloudTrail trail is delivered (AWSLogs/<account>/CloudTrail/<region>/…)
    /// [default: trail.dir of the configuration, else ./kms-trail].
    #[arg(long, value_name = "DIR")]
    pub trail_dir: Option<PathBuf>,
    /// The address to listen on; port 0 picks a free one [default: listen of the
    /// configuration, else 127.0.0.1:4599 (loopback only)].
    #[arg(long, value_name = "ADDRESS:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// The file holding the store's root key: 32 bytes, 64 hex digits or base64; it must
    /// not lie inside the data directory [default: store.root_key_file of the
    /// configuration, else $KMS_AUDIT_ROOT_KEY].
    #[arg(long, value_name = "FILE")]
    pub root_key_file: Option<PathBuf>,
}

/// `kms-audit pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The CloudTrail endpoint, e.g. the mini-KMS server's http://127.0.0.1:PORT [default:
    /// AWS's, or $AWS_ENDPOINT_URL].
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// The AWS Region [default: $AWS_REGION, else the profile's].
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// The profile of ~/.aws/config and ~/.aws/credentials [default: $AWS_PROFILE, else
    /// `default`].
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// Pull events at or after this time: RFC 3339, YYYY-MM-DD, or a span before now (30m,
    /// 12h, 30d, 2w).
    #[arg(long, value_name = "TIME", value_parser = parse_pull_since)]
    pub since: kms_audit::pull::TimeArg,
    /// Pull events at or before this time: RFC 3339, YYYY-MM-DD (its end), or a span before
    /// now [default: now].
    #[arg(long, value_name = "TIME", value_parser = parse_pull_until)]
    pub until: Option<kms_audit::pull::TimeArg>,
    /// The lake directory (created if missing) [default: `pull` under $KMS_AUDIT_CACHE_DIR
    /// or ~/.cache/kms-audit].
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
    /// The eventSource to pull, or `all` for every source.
    #[arg(long, value_name = "SOURCE", default_value = kms_audit::pull::KMS_EVENT_SOURCE)]
    pub event_source: String,
    /// Attempts per request, retries of throttled and failed requests included.
    #[arg(long, value_name = "N", default_value_t = kms_audit::pull::DEFAULT_MAX_ATTEMPTS,
          value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

fn parse_pull_since(text: &str) -> Result<kms_audit::pull::TimeArg, String> {
    kms_audit::pull::TimeArg::parse(text, false)
}

fn parse_pull_until(text: &str) -> Result<kms_audit::pull::TimeArg, String> {
    kms_audit::pull::TimeArg::parse(text, true)
}

/// `kms-audit report`.
#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The framework catalog's id (repeatable): pci-dss-4.0.1, hipaa-security-rule,
    /// fedramp-rev5-moderate, or the id of a --catalog file.
    #[arg(long = "framework", value_name = "ID", required = true)]
    pub frameworks: Vec<String>,
    /// CloudTrail files or directories to read; `-` for standard input. Optional with
    /// --lake (the lake's events are reported).
    #[arg(value_name = "PATH", required_unless_present = "lake")]
    pub paths: Vec<PathBuf>,
    /// Use this lake directory: the PATHs are added to it (only files it does not hold yet
    /// are read) and all of it is reported [default: a temporary lake].
    #[arg(long, value_name = "DIR")]
    pub lake: Option<PathBuf>,
    /// Evaluate events at or after this time: RFC 3339, YYYY-MM-DD, or Nd (N days before
    /// the report date, from 00:00 UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_report_since)]
    pub since: Option<kms_audit::assess::TimeSpec>,
    /// Evaluate events at or before this time: RFC 3339, YYYY-MM-DD (its end), or Nd.
    #[arg(long, value_name = "TIME", value_parser = parse_report_until)]
    pub until: Option<kms_audit::assess::TimeSpec>,
    /// The folder receiving FRAMEWORK/YYYY-MM-DD.EXT.
    #[arg(long, value_name = "DIR", default_value = "reports")]
    pub out: PathBuf,
    /// Formats to write, comma-separated. The next report compares itself with the JSON
    /// one, so keep json for the trend.
    #[arg(
        long = "format",
        value_enum,
        value_delimiter = ',',
        value_name = "FORMATS",
        default_value = "md,json,csv,html,oscal"
    )]
    pub formats: Vec<ReportFormat>,
    /// Extra rule files or directories, evaluated with the bundled pack (repeatable), for
    /// catalogs that map rules of your own.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Evaluate only the --rules files, not the bundled pack.
    #[arg(long)]
    pub no_bundled_rules: bool,
    /// Rule settings file (YAML): `rules: { KMS.ROT.1: { params: { max_age_days: 180 } } }`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Set a rule parameter, after --config (repeatable): KMS.ROT.1.max_age_days=180.
    #[arg(long = "param", value_name = "RULE.PARAM=VALUE")]
    pub params: Vec<String>,
    /// Waiver file (YAML list of rule, resource, principal, reason, owner, expires).
    #[arg(long, value_name = "FILE")]
    pub waivers: Option<PathBuf>,
    /// Key inventory snapshot (JSON) for keys created before the logs begin (see `scan
    /// --help`).
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Framework catalog file or directory to add to the bundled catalogs (repeatable).
    #[arg(long = "catalog", value_name = "PATH")]
    pub catalogs: Vec<PathBuf>,
    /// Evidence events kept per finding.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_evidence: usize,
    /// Stop at the first input problem with exit code 2, instead of warning and going on.
    #[arg(long)]
    pub strict: bool,
    /// Files read in parallel [default: the number of CPUs].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Warnings printed on stderr before the rest are only counted.
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub max_warnings: usize,
}

/// Formats of `report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// Markdown, for repositories.
    Md,
    /// The report model as JSON (stable, documented in docs/report-formats.md).
    Json,
    /// One row per requirement and finding.
    Csv,
    /// One self-contained HTML file with charts.
    Html,
    /// OSCAL assessment-results JSON.
    Oscal,
}

fn parse_report_since(text: &str) -> Result<kms_audit::assess::TimeSpec, String> {
    kms_audit::assess::TimeSpec::parse(text, false)
}

fn parse_report_until(text: &str) -> Result<kms_audit::assess::TimeSpec, String> {
    kms_audit::assess::TimeSpec::parse(text, true)
}

/// `kms-audit simulate`.
#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// The scenario file (YAML).
    #[arg(long, value_name = "FILE")]
    pub scenario: PathBuf,
    /// The output directory: receives AWSLogs/... and ground-truth.json. It must not already
    /// hold a trail.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Seed of every random choice [default: the scenario's `seed`].
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Minutes of event time one log file covers [default: the scenario's file_minutes,
    /// else 5, as CloudTrail delivers about every 5 minutes].
    #[arg(long, value_name = "MINUTES", value_parser = clap::value_parser!(i64).range(1..=10080))]
    pub file_minutes: Option<i64>,
    /// Output format of the run's summary.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
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
    /// Output format: the summary and findings as tables or JSON, or the findings alone as
    /// JSON Lines, CSV, SARIF 2.1.0 or JUnit XML.
    #[arg(long, value_enum, default_value_t = ScanFormat::Table)]
    pub format: ScanFormat,
    /// Extra rule files or directories, evaluated with the bundled pack (repeatable).
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Evaluate only the --rules files, not the bundled pack.
    #[arg(long)]
    pub no_bundled_rules: bool,
    /// Rule settings file (YAML): `rules: { KMS.LC.1: { enabled: false, params: { … } } }`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Set a rule parameter, after --config (repeatable): KMS.LC.1.exempt_principals=arn1,arn2.
    #[arg(long = "param", value_name = "RULE.PARAM=VALUE")]
    pub params: Vec<String>,
    /// Waiver file (YAML list of rule, resource, principal, reason, owner, expires).
    #[arg(long, value_name = "FILE")]
    pub waivers: Option<PathBuf>,
    /// Key inventory snapshot (JSON) for keys created before the logs begin: their creation,
    /// rotation, key policy and grants; scripts/kms-inventory.sh builds it.
    ///
    /// The file is `{"taken": TIME, "keys": [{"DescribeKey": …, "KeyPolicy": …, "Grants": …,
    /// "RotationStatus": …, "KeyRotations": …}]}`: per key, the JSON output of `aws kms
    /// describe-key`, `get-key-policy`, `list-grants`, `get-key-rotation-status` and
    /// `list-key-rotations`, pasted unchanged (only DescribeKey is required). TIME is
    /// RFC 3339 or epoch seconds, like the dates inside. What the snapshot says replaces
    /// what earlier events said; events after `taken` take precedence. See
    /// docs/rule-views.md.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
    /// Exit with code 1 when an unwaived finding is at or above this severity.
    #[arg(long, value_name = "SEVERITY", value_parser = parse_severity)]
    pub fail_on: Option<Severity>,
    /// Evaluate rules over events at or after this time (RFC 3339, or YYYY-MM-DD for the
    /// start of that day, UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_since)]
    pub since: Option<DateTime<Utc>>,
    /// Evaluate rules over events at or before this time (RFC 3339, or YYYY-MM-DD for the
    /// end of that day, UTC).
    #[arg(long, value_name = "TIME", value_parser = parse_until)]
    pub until: Option<DateTime<Utc>>,
    /// Evaluate rules over events of this account (recipientAccountId; repeatable).
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,
    /// Evaluate rules over events of this region (awsRegion; repeatable).
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// Evidence events kept per finding.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub max_evidence: usize,
    /// Report how long each phase took (ingest, summary, rules): a line on stderr, and a
    /// `timings` object in `--format json`.
    #[arg(long)]
    pub timings: bool,
}

/// Output formats of `scan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScanFormat {
    /// Tables for a terminal: the summary, then findings by severity.
    Table,
    /// Pretty JSON: the summary with its `findings` (stable field names).
    Json,
    /// One finding per line (JSON Lines), open then waived.
    Jsonl,
    /// One finding per row, stable header.
    Csv,
    /// SARIF 2.1.0, for code-scanning dashboards.
    Sarif,
    /// JUnit XML: a test case per rule, a failure per finding.
    Junit,
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::from_name(&text.to_ascii_lowercase())
        .ok_or_else(|| format!("`{text}` is not a severity: info, low, medium, high, critical"))
}

fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    kms_audit::scan::parse_time(text, false)
}

fn parse_until(text: &str) -> Result<DateTime<Utc>, String> {
    kms_audit::scan::parse_time(text, true)
}

/// `kms-audit ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// The lake directory (created if missing).
    #[arg(long, value_name = "DIR", required = true)]
    pub lake: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Tables for a terminal.
    Table,
    /// Pretty JSON, stable field names.
    Json,
}

/// `kms-audit rules …`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// List the rules: id, severity, kind, name, title and number of test cases.
    List(RulesListArgs),
    /// Print a rule's documentation: what it flags, why it matters, what to do, its
    /// parameters and test cases, then the rule file itself.
    Explain(RulesExplainArgs),
    /// Check rule files: YAML syntax, required fields, ids (KMS.ROT.1 style, unique),
    /// severities, kinds, Sigma detections and modifiers, parameters, test cases, names
    /// that describe the flagged pattern, and fields the lake does not keep (warnings).
    ///
    /// Exit codes: 0 no errors (warnings allowed); 1 errors found; 2 usage error.
    #[command(after_help = "Examples:
  kms-audit rules lint                      the bundled pack
  kms-audit rules lint my-rules/            your own rules, e.g. in CI
  kms-audit rules lint sigma/rules/cloud/aws/cloudtrail/   Sigma rules, read unchanged
  kms-audit rules lint my-rules/ --catalog my-framework.yml   a catalog mapping your rules")]
    Lint(RulesLintArgs),
    /// Run every rule's own test cases: each case's events are ingested into a throwaway
    /// lake and the rule is evaluated over it, exactly as `scan` would.
    ///
    /// Exit codes: 0 every case passed; 1 a case failed or a rule file is invalid; 2 usage
    /// error.
    #[command(after_help = "Examples:
  kms-audit rules test                      the bundled pack
  kms-audit rules test my-rules/ --format json")]
    Test(RulesCheckArgs),
}

/// `kms-audit rules list`.
#[derive(Debug, Args)]
pub struct RulesListArgs {
    /// Rule files or directories [default: the bundled pack].
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `kms-audit rules explain`.
#[derive(Debug, Args)]
pub struct RulesExplainArgs {
    /// The rule's id (case-insensitive) or name.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Rule files or directories to look in [default: the bundled pack].
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

/// `kms-audit rules lint`.
#[derive(Debug, Args)]
pub struct RulesLintArgs {
    /// Rule files or directories [default: the bundled pack].
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Framework catalog file or directory to check as well (repeatable): every rule it
    /// maps must exist in the bundled pack or the PATHs. Without PATH the bundled catalogs
    /// are checked too.
    #[arg(long = "catalog", value_name = "PATH")]
    pub catalogs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `kms-audit frameworks …`.
#[derive(Debug, Subcommand)]
pub enum FrameworksCommand {
    /// List the framework catalogs: id, name, version and requirements by status.
    List(FrameworksListArgs),
    /// Show a catalog: its source and scope, and every requirement with its status, its
    /// rules, thresholds and log coverage, or the reason it is manual or not applicable.
    Show(FrameworksShowArgs),
}

/// `kms-audit frameworks list`.
#[derive(Debug, Args)]
pub struct FrameworksListArgs {
    /// Catalog file or directory to add to the bundled catalogs (repeatable).
    #[arg(long = "catalog", value_name = "PATH")]
    pub catalogs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `kms-audit frameworks show`.
#[derive(Debug, Args)]
pub struct FrameworksShowArgs {
    /// The catalog's id (case-insensitive), e.g. pci-dss-4.0.1.
    #[arg(value_name = "ID")]
    pub id: String,
    /// Catalog file or directory to add to the bundled catalogs (repeatable).
    #[arg(long = "catalog", value_name = "PATH")]
    pub catalogs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `kms-audit rules test`.
#[derive(Debug, Args)]
pub struct RulesCheckArgs {
    /// Rule files or directories [default: the bundled pack].
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}
