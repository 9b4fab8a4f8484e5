//! `gen-trail` — a deterministic generator of a large, realistic, KMS-heavy AWS CloudTrail trail.
//!
//! Why it exists: kms-audit's hot path (gzip, JSON parsing, Arrow/Parquet) must be measured and
//! tested on trails far larger and more varied than anything we can commit to the repository or
//! borrow from a real AWS account. This binary writes such a trail, exactly as CloudTrail delivers
//! it to S3:
//!
//! ```text
//! DIR/AWSLogs/[o-xxxxxxxxxx/]<account>/CloudTrail/<region>/YYYY/MM/DD/
//!     <account>_CloudTrail_<region>_<YYYYMMDDTHHmmZ>_<16 alnum>.json.gz
//! DIR/AWSLogs/[o-xxxxxxxxxx/]<account>/CloudTrail-Digest/<region>/YYYY/MM/DD/...json.gz
//! ```
//!
//! Each log file is gzip (header mtime 0) of one compact line `{"Records":[...]}`. The records follow
//! the current (2025+) shapes and key order documented in `reference/cloudtrail-and-kms-formats.md`
//! (§1–2, Appendix B/C): about 80% KMS cryptographic calls (Decrypt dominant) made by principals
//! with stable habits (their keys, services, networks, SDKs), about 5% KMS management and read
//! calls, KMS service events (RotateKey, DeleteKey), about 12% other services (STS, S3 data
//! events, EC2, CloudTrail, IAM, Secrets Manager, SSM), about 3% errors, console sessions, and
//! ~0.2% records delivered twice with the same `eventID`, as CloudTrail occasionally does.
//!
//! It deliberately does not use the `kms_audit` library, so that the benchmark input never depends
//! on the code under test.
//!
//! Determinism: the world (accounts, keys, aliases, principals and their habits) and the file plan
//! (names, sizes, time windows, duplicates) are drawn serially from `--seed`; every record is drawn
//! from its own ChaCha8 stream seeded by (seed, file index, record index). Files are therefore
//! generated in parallel with rayon and the output is byte-identical across runs and thread
//! counts for the same options.
//!
//! What is synthetic on purpose: digest files have the right shape but random hashes and
//! signatures (they exist so readers are exercised on skipping them, not for validation); the two
//! copies of a cross-account call (caller and key owner) are generated independently, so their
//! `sharedEventID`s do not pair up.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};
use chrono::NaiveDate;
use clap::Parser;
use libdeflater::{CompressionLvl, Compressor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Command-line options of `gen-trail`.
#[derive(Parser, Debug)]
#[command(
    name = "gen-trail",
    version,
    about = "Generate a deterministic, realistic, KMS-heavy CloudTrail trail (S3 layout, .json.gz)"
)]
pub struct Args {
    /// Output directory; `AWSLogs/` is created inside it and must not exist yet.
    #[arg(long)]
    pub out: PathBuf,
    /// Total number of CloudTrail records to write (duplicated deliveries included).
    #[arg(long, default_value_t = 100_000)]
    pub events: u64,
    /// Seed: the same seed and options give byte-identical output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of AWS accounts (1–20); with two or more, the last one is delivered under an
    /// organization-trail prefix `AWSLogs/o-…/<account>/`.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub accounts: u32,
    /// Number of regions per account (1–8).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=8))]
    pub regions: u32,
    /// Number of days covered, starting at --start (UTC).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=3660))]
    pub days: u32,
    /// First day covered by the trail (UTC), YYYY-MM-DD.
    #[arg(long, default_value = "2026-01-01")]
    pub start: NaiveDate,
    /// Average records per log file; each file varies ±50% deterministically. Lowered
    /// automatically so that every account/region stream gets at least one file per day.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u32).range(1..))]
    pub records_per_file: u32,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// gzip compression level (1–12, libdeflate).
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(i32).range(1..=12))]
    pub level: i32,
}

// ---------------------------------------------------------------------------------------------
// Randomness and small text helpers
// ---------------------------------------------------------------------------------------------

/// Deterministic RNG (ChaCha8) with the few draws the generator needs.
struct R(ChaCha8Rng);

impl R {
    fn new(seed: u64) -> Self {
        R(ChaCha8Rng::seed_from_u64(seed))
    }
    fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in `0..n` (n > 0, n < 2^32).
    fn below(&mut self, n: usize) -> usize {
        (((self.u64() >> 32) * n as u64) >> 32) as usize
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below((hi - lo + 1) as usize) as u64
    }
    fn f64(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0)
    }
    fn chance(&mut self, p: f64) -> bool {
        self.f64() < p
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len())]
    }
    /// Index drawn with the given integer weights.
    fn weighted(&mut self, w: &[u32]) -> usize {
        let total: u32 = w.iter().sum();
        let mut x = self.below(total as usize) as u32;
        for (i, &wi) in w.iter().enumerate() {
            if x < wi {
                return i;
            }
            x -= wi;
        }
        w.len() - 1
    }
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn mix(a: u64, b: u64) -> u64 {
    splitmix(a ^ splitmix(b.wrapping_add(0x51_7CC1_B727_220A)))
}

const HEX: &[u8; 16] = b"0123456789abcdef";
const B32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const UPPER_NUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_NUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn push_hex(s: &mut String, r: &mut R, n: usize) {
    let mut left = n;
    while left > 0 {
        let mut x = r.u64();
        let take = left.min(16);
        for _ in 0..take {
            s.push(HEX[(x & 15) as usize] as char);
            x >>= 4;
        }
        left -= take;
    }
}

fn push_from(s: &mut String, r: &mut R, n: usize, alphabet: &[u8]) {
    for _ in 0..n {
        s.push(alphabet[r.below(alphabet.len())] as char);
    }
}

/// `n` characters of `alphabet` derived from a hash (stable identifiers such as access keys).
fn push_hashed(s: &mut String, h: u64, n: usize, alphabet: &[u8]) {
    let mut x = h;
    for i in 0..n {
        x = splitmix(x ^ i as u64);
        s.push(alphabet[((x >> 32) * alphabet.len() as u64 >> 32) as usize] as char);
    }
}

fn hashed(h: u64, n: usize, alphabet: &[u8]) -> String {
    let mut s = String::with_capacity(n);
    push_hashed(&mut s, h, n, alphabet);
    s
}

fn push_uuid(s: &mut String, r: &mut R) {
    let a = r.u64();
    let b = r.u64();
    let mut nib = [0u8; 32];
    for i in 0..16 {
        nib[i] = ((a >> (i * 4)) & 15) as u8;
        nib[16 + i] = ((b >> (i * 4)) & 15) as u8;
    }
    nib[12] = 4;
    nib[16] = 8 | (nib[16] & 3);
    for (i, n) in nib.iter().enumerate() {
        if i == 8 || i == 12 || i == 16 || i == 20 {
            s.push('-');
        }
        s.push(HEX[*n as usize] as char);
    }
}

fn uuid(r: &mut R) -> String {
    let mut s = String::with_capacity(36);
    push_uuid(&mut s, r);
    s
}

fn push_num(s: &mut String, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &c in &buf[i..] {
        s.push(c as char);
    }
}

fn push2(s: &mut String, n: u32) {
    s.push((b'0' + (n / 10) as u8) as char);
    s.push((b'0' + (n % 10) as u8) as char);
}

/// JSON string body escaping (quotes, backslashes, control characters).
fn push_esc(s: &mut String, v: &str) {
    if !v.bytes().any(|b| b == b'"' || b == b'\\' || b < 0x20) {
        s.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                s.push_str("\\u00");
                s.push(HEX[(c as usize) >> 4] as char);
                s.push(HEX[(c as usize) & 15] as char);
            }
            c => s.push(c),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Time formatting (seconds since the Unix epoch, UTC)
// ---------------------------------------------------------------------------------------------

/// (year, month, day, hour, minute, second) of a Unix time.
fn civil(t: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = t.div_euclid(86_400);
    let sod = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    (
        y,
        m,
        d,
        (sod / 3600) as u32,
        (sod / 60 % 60) as u32,
        (sod % 60) as u32,
    )
}

/// `2026-01-02T03:04:05Z`
fn push_iso(s: &mut String, t: i64) {
    let (y, mo, d, h, mi, se) = civil(t);
    push_num(s, y as u64);
    s.push('-');
    push2(s, mo);
    s.push('-');
    push2(s, d);
    s.push('T');
    push2(s, h);
    s.push(':');
    push2(s, mi);
    s.push(':');
    push2(s, se);
    s.push('Z');
}

/// `20260102T0304Z` (log file names) or `20260102T030405Z` (digest names).
fn push_compact(s: &mut String, t: i64, seconds: bool) {
    let (y, mo, d, h, mi, se) = civil(t);
    push_num(s, y as u64);
    push2(s, mo);
    push2(s, d);
    s.push('T');
    push2(s, h);
    push2(s, mi);
    if seconds {
        push2(s, se);
    }
    s.push('Z');
}

/// `2026/01/02`
fn push_ymd_path(s: &mut String, t: i64) {
    let (y, mo, d, ..) = civil(t);
    push_num(s, y as u64);
    s.push('/');
    push2(s, mo);
    s.push('/');
    push2(s, d);
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Java `DateFormat` text used inside KMS request/response elements: `Aug 10, 2022, 10:38:27 PM`.
fn push_java(s: &mut String, t: i64) {
    let (y, mo, d, h, mi, se) = civil(t);
    s.push_str(MONTHS[(mo - 1) as usize]);
    s.push(' ');
    push_num(s, d as u64);
    s.push_str(", ");
    push_num(s, y as u64);
    s.push_str(", ");
    let h12 = if h % 12 == 0 { 12 } else { h % 12 };
    push_num(s, h12 as u64);
    s.push(':');
    push2(s, mi);
    s.push(':');
    push2(s, se);
    s.push_str(if h < 12 { " AM" } else { " PM" });
}

// ---------------------------------------------------------------------------------------------
// The world: accounts, keys, principals with habits
// ---------------------------------------------------------------------------------------------

const REGIONS: [&str; 8] = [
    "us-east-1",
    "eu-west-1",
    "us-west-2",
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "us-east-2",
    "ca-central-1",
];
const ACCOUNT_LABELS: [&str; 6] = ["prod", "data", "shared", "staging", "sandbox", "security"];
const ACCOUNT_TZ: [i64; 6] = [-5, 1, -8, 9, 0, 10];
const TEAMS: [&str; 20] = [
    "orders",
    "payments",
    "billing",
    "checkout",
    "inventory",
    "search",
    "catalog",
    "users",
    "auth",
    "notifications",
    "analytics",
    "reporting",
    "etl",
    "ledger",
    "fraud",
    "shipping",
    "pricing",
    "media",
    "documents",
    "audit",
];
const COMPONENTS: [&str; 10] = [
    "api",
    "worker",
    "consumer",
    "scheduler",
    "gateway",
    "backend",
    "sync",
    "exporter",
    "ingest",
    "processor",
];
const PURPOSES: [&str; 10] = [
    "data", "secrets", "s3", "kafka", "backup", "logs", "tokens", "pii", "config", "archive",
];
const FIRST: [&str; 16] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil",
];
const LAST: [&str; 12] = [
    "smith", "jones", "garcia", "martin", "kowalski", "tanaka", "silva", "nguyen", "muller",
    "rossi", "dubois", "okafor",
];
const SSO_SETS: [&str; 5] = [
    "AdministratorAccess",
    "PowerUserAccess",
    "ReadOnlyAccess",
    "KMSKeyAdministrators",
    "SecurityAudit",
];
/// AWS managed keys created per account and region, `alias/aws/<name>`.
const MANAGED: [&str; 6] = ["s3", "ebs", "lambda", "secretsmanager", "rds", "dynamodb"];
const M_S3: usize = 0;
const M_EBS: usize = 1;
const M_LAMBDA: usize = 2;
const M_SECRETS: usize = 3;
const M_RDS: usize = 4;
const M_DDB: usize = 5;

const SDK_UAS: [&str; 8] = [
    "aws-sdk-java/2.25.60 Linux/5.10.219-208.866.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS Java/17.0.11 vendor/Amazon.com_Inc. md/internal exec-env/AWS_ECS_FARGATE io/sync http/Apache cfg/retry-mode/legacy",
    "Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#5.10.220-209.869.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.4 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144",
    "aws-sdk-go-v2/1.30.3 ua/2.0 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/kms#1.35.3",
    "aws-sdk-js/3.614.0 ua/2.1 os/linux#5.10.219-208.866.amzn2.x86_64 lang/js md/nodejs#20.15.1 api/kms#3.614.0 m/E",
    "aws-sdk-java/1.12.767 Linux/5.10.223-211.872.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/11.0.24+8-LTS java/11.0.24 vendor/Amazon.com_Inc. cfg/retry-mode/standard",
    "aws-sdk-rust/1.3.3 os/linux lang/rust/1.80.0 api/kms/1.40.0 ua/2.1 m/E",
    "aws-sdk-dotnet-coreclr/3.7.400.1 .NET_Core/8.0.7 OS/Linux_5.10.219-208.866.amzn2.x86_64 ClientAsync",
    "aws-encryption-sdk-java/2.4.1 aws-sdk-java/2.25.60 Linux/5.10.219-208.866.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.11+9-LTS Java/17.0.11",
];
const LAMBDA_UAS: [&str; 2] = [
    "Boto3/1.34.145 md/Botocore#1.34.145 ua/2.0 os/linux#5.10.223-233.882.amzn2.x86_64 md/arch#x86_64 lang/python#3.12.4 md/pyimpl#CPython exec-env/AWS_Lambda_python3.12 cfg/retry-mode#legacy Botocore/1.34.145",
    "aws-sdk-js/3.600.0 ua/2.1 os/linux#5.10.223-233.882.amzn2.x86_64 lang/js md/nodejs#20.15.0 exec-env/AWS_Lambda_nodejs20.x api/kms#3.600.0 m/E,O",
];
const CLI_UAS: [&str; 3] = [
    "aws-cli/2.17.20 md/awscrt#0.20.11 ua/2.0 os/linux#6.5.0-1024-aws md/arch#x86_64 lang/python#3.11.9 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/distrib#ubuntu.22 md/prompt#off md/command#kms.decrypt",
    "aws-cli/2.15.40 md/awscrt#0.19.19 ua/2.0 os/macos#23.4.0 md/arch#arm64 lang/python#3.11.8 md/pyimpl#CPython cfg/retry-mode#standard md/installer#source md/prompt#off md/command#kms.describe-key",
    "aws-cli/1.33.27 md/Botocore#1.34.145 ua/2.0 os/linux#5.15.0-1066-aws md/arch#x86_64 lang/python#3.10.12 md/pyimpl#CPython cfg/retry-mode#legacy botocore/1.34.145",
];
const BROWSER_UAS: [&str; 3] = [
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/134.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/133.0.0.0 Safari/537.36 Edg/133.0.0.0",
    "Mozilla/5.0 (X11; Linux x86_64; rv:135.0) Gecko/20100101 Firefox/135.0",
];
const TERRAFORM_UA: &str = "APN/1.0 HashiCorp/1.0 Terraform/1.9.2 (+https://www.terraform.io) terraform-provider-aws/5.60.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.30.3 ua/2.0 os/linux lang/go#1.22.5 md/GOOS#linux md/GOARCH#amd64 api/kms#1.35.3";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KeyClass {
    Sym,
    Managed,
    Rsa,
    Ecc,
    Hmac,
}

/// A KMS key (single-Region, or a multi-Region `mrk-` key present in every Region).
struct Key {
    id: String,
    /// Bit mask of the region indices the key exists in.
    regions: u32,
    class: KeyClass,
    alias: Option<String>,
    material: String,
    prev_material: String,
}

/// A key of some account.
#[derive(Clone, Copy, Debug)]
struct KeyRef {
    acct: u16,
    key: u16,
}

/// A principal's habitual key: a concrete key, or the AWS managed key of a service in whatever
/// region the call happens.
#[derive(Clone, Copy)]
enum KeySel {
    K(KeyRef),
    Managed(usize),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    App,
    Lambda,
    S3,
    Ebs,
    Secrets,
    Rds,
    Dynamo,
    Sqs,
    Logs,
    Signer,
    Mac,
    Human,
    IamUser,
    Ci,
    Root,
    Federated,
    XOwner,
    XCaller,
    Trail,
}

impl Kind {
    fn is_person(self) -> bool {
        matches!(self, Kind::Human | Kind::IamUser | Kind::Root)
    }
}

enum Ident {
    Role {
        role: String,
        role_id: String,
        session: String,
        invoked_by: Option<&'static str>,
        in_scope: Option<String>,
    },
    User {
        name: String,
        user_id: String,
        akid: String,
    },
    Root,
    Federated {
        name: String,
        broker: String,
        broker_id: String,
    },
    Account {
        principal_id: String,
        account: String,
    },
    Service(&'static str),
}

enum Via {
    Direct {
        ip: String,
        ua: &'static str,
        vpce: Option<String>,
    },
    Service(&'static str),
}

/// Someone (or something) that calls AWS, with habits.
struct Principal {
    kind: Kind,
    ident: Ident,
    via: Via,
    regions: u32,
    keys: Vec<KeySel>,
    /// How the key is named in requests: 0 key id, 1 key ARN, 2 alias name, 3 alias ARN.
    style: u8,
    w_crypto: f64,
    w_admin: f64,
    w_other: f64,
    console: bool,
    mfa: bool,
    /// The principal ARN, as used in AccessDenied messages.
    arn: String,
    /// Kind-specific resource name: bucket, function, secret, table, queue, log group, app.
    res: String,
    seed: u64,
    /// 0: TLSv1.3 with ML-KEM key exchange, 1: TLSv1.3, 2: TLSv1.2.
    tls: u8,
    esdk: bool,
}

struct Account {
    id: String,
    org: bool,
    label: &'static str,
    tz: i64,
    keys: Vec<Key>,
    principals: Vec<Principal>,
}

/// A weighted choice of actors (principal + the keys it uses in one region).
#[derive(Default)]
struct Picker {
    items: Vec<Actor>,
    cum: Vec<f64>,
}

struct Actor {
    p: u32,
    keys: Vec<KeyRef>,
}

impl Picker {
    fn push(&mut self, a: Actor, w: f64) {
        if w <= 0.0 {
            return;
        }
        let last = self.cum.last().copied().unwrap_or(0.0);
        self.items.push(a);
        self.cum.push(last + w);
    }
    fn pick(&self, r: &mut R) -> Option<&Actor> {
        let total = *self.cum.last()?;
        let x = r.f64() * total;
        let i = self
            .cum
            .partition_point(|&c| c <= x)
            .min(self.items.len() - 1);
        Some(&self.items[i])
    }
}

/// One (account, region) pair: the unit CloudTrail delivers files for.
struct Stream {
    acct: usize,
    region: usize,
    crypto: Picker,
    admin: Picker,
    other: Picker,
    /// Customer managed keys of the account present in the region (any class).
    cust: Vec<KeyRef>,
    /// Customer managed symmetric keys of the account present in the region.
    sym: Vec<KeyRef>,
    weight: f64,
}

/// Everything a record depends on besides its own random stream.
struct World {
    seed: u64,
    start: i64,
    hours: usize,
    regions: Vec<&'static str>,
    accounts: Vec<Account>,
    streams: Vec<Stream>,
    /// Per account: cumulative activity over the hours of the period (business hours, weekends).
    cdf: Vec<Vec<f64>>,
    org_id: String,
    trail_bucket: String,
    trail_name: &'static str,
}

impl World {
    fn key(&self, k: KeyRef) -> &Key {
        &self.accounts[k.acct as usize].keys[k.key as usize]
    }

    /// Event time at quantile `u` of the account's activity curve.
    fn time_at(&self, acct: usize, u: f64) -> i64 {
        let cdf = &self.cdf[acct];
        let total = cdf[self.hours];
        let x = u.clamp(0.0, 1.0) * total;
        let h = cdf
            .partition_point(|&c| c <= x)
            .saturating_sub(1)
            .min(self.hours - 1);
        let w = cdf[h + 1] - cdf[h];
        let frac = if w > 0.0 { (x - cdf[h]) / w } else { 0.0 };
        self.start + h as i64 * 3600 + ((frac * 3600.0) as i64).clamp(0, 3599)
    }

    fn off_hours(&self, acct: usize, t: i64) -> bool {
        let local = t + self.accounts[acct].tz * 3600;
        let hour = local.rem_euclid(86_400) / 3600;
        let dow = (local.div_euclid(86_400) + 4).rem_euclid(7); // 0 = Sunday
        !(7..20).contains(&hour) || dow == 0 || dow == 6
    }

    /// Picks an actor; people are mostly active in their business hours.
    fn pick<'a>(&'a self, pk: &'a Picker, st: &Stream, r: &mut R, t: i64) -> Option<&'a Actor> {
        let mut a = pk.pick(r)?;
        for _ in 0..3 {
            let p = &self.accounts[st.acct].principals[a.p as usize];
            if !p.kind.is_person() || !self.off_hours(st.acct, t) || r.chance(0.15) {
                break;
            }
            a = pk.pick(r)?;
        }
        Some(a)
    }
}

fn account_id(r: &mut R) -> String {
    let mut s = String::with_capacity(12);
    s.push((b'1' + r.below(9) as u8) as char);
    push_from(&mut s, r, 11, b"0123456789");
    s
}

fn aws_id(r: &mut R, prefix: &str, n: usize) -> String {
    let mut s = String::from(prefix);
    push_from(&mut s, r, n, B32);
    s
}

fn hex_string(r: &mut R, n: usize) -> String {
    let mut s = String::with_capacity(n);
    push_hex(&mut s, r, n);
    s
}

fn private_ip(r: &mut R) -> String {
    format!("10.{}.{}.{}", r.below(64), r.below(256), 4 + r.below(250))
}

fn public_ip(r: &mut R) -> String {
    const FIRST_OCTETS: [u32; 10] = [3, 18, 34, 35, 44, 52, 54, 81, 91, 185];
    format!(
        "{}.{}.{}.{}",
        r.pick(&FIRST_OCTETS),
        r.below(256),
        r.below(256),
        1 + r.below(254)
    )
}

fn region_bit(i: usize) -> u32 {
    1 << i
}

/// Draws a home region, favouring the first one.
fn home_region(r: &mut R, nreg: usize) -> usize {
    if nreg == 1 || r.chance(0.6) {
        0
    } else {
        r.below(nreg)
    }
}

fn build_world(args: &Args) -> Result<World> {
    let mut r = R::new(mix(args.seed, 0x0057_0B1D));
    let nacc = args.accounts as usize;
    let nreg = args.regions as usize;
    let all_regions: u32 = (1u32 << nreg) - 1;
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).ok_or_else(|| anyhow!("epoch"))?;
    let start = (args.start - epoch).num_days() * 86_400;
    let hours = args.days as usize * 24;

    let mut org_id = String::from("o-");
    push_from(&mut org_id, &mut r, 10, LOWER_NUM);

    let mut accounts: Vec<Account> = Vec::with_capacity(nacc);
    for ai in 0..nacc {
        let id = account_id(&mut r);
        let mut keys = Vec::new();
        // AWS managed keys, one per service and region.
        for reg in 0..nreg {
            for svc in MANAGED.iter() {
                keys.push(Key {
                    id: uuid(&mut r),
                    regions: region_bit(reg),
                    class: KeyClass::Managed,
                    alias: Some(format!("alias/aws/{svc}")),
                    material: hex_string(&mut r, 64),
                    prev_material: hex_string(&mut r, 64),
                });
            }
        }
        // Customer managed keys.
        let ncust = (14 + r.below(35)).max(2 * nreg + 4);
        let mut used_alias = BTreeSet::new();
        for ki in 0..ncust {
            let class = if ki < 2 {
                if ki == 0 {
                    KeyClass::Rsa
                } else {
                    KeyClass::Ecc
                }
            } else if ki == 2 {
                KeyClass::Hmac
            } else {
                match r.below(100) {
                    0..=4 => KeyClass::Rsa,
                    5..=7 => KeyClass::Ecc,
                    8..=10 => KeyClass::Hmac,
                    _ => KeyClass::Sym,
                }
            };
            let multi = class == KeyClass::Sym && r.chance(0.15);
            let keyid = if multi {
                let mut s = String::from("mrk-");
                push_hex(&mut s, &mut r, 32);
                s
            } else {
                uuid(&mut r)
            };
            let regions = if multi {
                all_regions
            } else if ki >= 3 && ki < 3 + 2 * nreg {
                region_bit((ki - 3) % nreg)
            } else {
                region_bit(home_region(&mut r, nreg))
            };
            let alias = if r.chance(0.75) {
                let team = r.pick(&TEAMS);
                let purpose = match class {
                    KeyClass::Rsa | KeyClass::Ecc => "signing",
                    KeyClass::Hmac => "hmac",
                    _ => r.pick(&PURPOSES),
                };
                let a = format!("alias/{team}-{purpose}");
                if used_alias.insert(a.clone()) {
                    Some(a)
                } else {
                    None
                }
            } else {
                None
            };
            keys.push(Key {
                id: keyid,
                regions,
                class,
                alias,
                material: hex_string(&mut r, 64),
                prev_material: hex_string(&mut r, 64),
            });
        }
        accounts.push(Account {
            id,
            org: nacc >= 2 && ai == nacc - 1,
            label: ACCOUNT_LABELS[ai % ACCOUNT_LABELS.len()],
            tz: ACCOUNT_TZ[ai % ACCOUNT_TZ.len()],
            keys,
            principals: Vec::new(),
        });
    }

    // Trail key (account 0, first region): used by CloudTrail itself to encrypt log files.
    let trail_key = {
        let a = &mut accounts[0];
        a.keys.push(Key {
            id: uuid(&mut r),
            regions: region_bit(0),
            class: KeyClass::Sym,
            alias: Some("alias/cloudtrail-logs".to_string()),
            material: hex_string(&mut r, 64),
            prev_material: hex_string(&mut r, 64),
        });
        KeyRef {
            acct: 0,
            key: (a.keys.len() - 1) as u16,
        }
    };

    let account_ids: Vec<String> = accounts.iter().map(|a| a.id.clone()).collect();
    for ai in 0..nacc {
        let principals = make_principals(&mut r, ai, &accounts, &account_ids, nreg, trail_key);
        accounts[ai].principals = principals;
    }

    // Activity curve per account: business hours in the account's time zone, quieter weekends,
    // some day-to-day variation and the occasional busy day.
    let mut cdf = Vec::with_capacity(nacc);
    let day_factor: Vec<f64> = (0..args.days)
        .map(|_| {
            let f = 0.8 + 0.4 * r.f64();
            if r.chance(0.05) {
                f * 1.7
            } else {
                f
            }
        })
        .collect();
    for a in &accounts {
        let mut c = Vec::with_capacity(hours + 1);
        c.push(0.0);
        for h in 0..hours {
            let t = start + h as i64 * 3600 + a.tz * 3600;
            let lh = t.rem_euclid(86_400) / 3600;
            let dow = (t.div_euclid(86_400) + 4).rem_euclid(7);
            let mut w = match lh {
                0..=5 => 0.35,
                6 | 7 => 0.6,
                8..=17 => 1.0,
                18..=20 => 0.7,
                _ => 0.45,
            };
            if dow == 0 || dow == 6 {
                w *= 0.55;
            }
            w *= day_factor[h / 24];
            let last = c[h];
            c.push(last + w);
        }
        cdf.push(c);
    }

    let mut world = World {
        seed: args.seed,
        start,
        hours,
        regions: REGIONS[..nreg].to_vec(),
        accounts,
        streams: Vec::new(),
        cdf,
        org_id,
        trail_bucket: format!(
            "aws-cloudtrail-logs-{}-{}",
            account_ids[0],
            hashed(mix(args.seed, 7), 8, LOWER_NUM)
        ),
        trail_name: "org-management-events",
    };
    world.streams = build_streams(&world, &mut r);
    Ok(world)
}

#[allow(clippy::too_many_arguments)]
fn new_principal(
    r: &mut R,
    kind: Kind,
    ident: Ident,
    via: Via,
    regions: u32,
    keys: Vec<KeySel>,
    w: (f64, f64, f64),
    arn: String,
    res: String,
) -> Principal {
    let tls = match r.below(10) {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    };
    Principal {
        kind,
        ident,
        via,
        regions,
        keys,
        style: r.weighted(&[30, 35, 30, 5]) as u8,
        w_crypto: w.0 * (0.5 + r.f64()),
        w_admin: w.1 * (0.5 + r.f64()),
        w_other: w.2 * (0.5 + r.f64()),
        console: false,
        mfa: false,
        arn,
        res,
        seed: r.u64(),
        tls,
        esdk: false,
    }
}

fn role_ident(
    r: &mut R,
    acct: &str,
    role: String,
    session: String,
    invoked_by: Option<&'static str>,
) -> (Ident, String) {
    let role_id = aws_id(r, "AROA", 17);
    let arn = format!("arn:aws:sts::{acct}:assumed-role/{role}/{session}");
    (
        Ident::Role {
            role,
            role_id,
            session,
            invoked_by,
            in_scope: None,
        },
        arn,
    )
}

/// Zipf-like popularity by rank.
fn zipf(rank: usize) -> f64 {
    1.0 / ((rank + 1) as f64).powf(0.9)
}

fn sym_keys_of(a: &Account) -> Vec<usize> {
    a.keys
        .iter()
        .enumerate()
        .filter(|(_, k)| {
            k.class == KeyClass::Sym && k.alias.as_deref() != Some("alias/cloudtrail-logs")
        })
        .map(|(i, _)| i)
        .collect()
}

/// 1–3 habitual symmetric keys, preferring keys present in the home region.
fn habitual_keys(r: &mut R, ai: usize, a: &Account, home: usize) -> Vec<KeySel> {
    let sym = sym_keys_of(a);
    let local: Vec<usize> = sym
        .iter()
        .copied()
        .filter(|&k| a.keys[k].regions & region_bit(home) != 0)
        .collect();
    let pool = if local.is_empty() { &sym } else { &local };
    let n = 1 + r.weighted(&[50, 35, 15]);
    let mut out = Vec::new();
    for _ in 0..n {
        let k = r.pick(pool);
        out.push(KeySel::K(KeyRef {
            acct: ai as u16,
            key: k as u16,
        }));
    }
    out
}

fn service_keys(r: &mut R, ai: usize, a: &Account, home: usize, managed: usize) -> Vec<KeySel> {
    if r.chance(0.5) {
        vec![KeySel::Managed(managed)]
    } else {
        habitual_keys(r, ai, a, home)
    }
}

fn make_principals(
    r: &mut R,
    ai: usize,
    accounts: &[Account],
    account_ids: &[String],
    nreg: usize,
    trail_key: KeyRef,
) -> Vec<Principal> {
    let a = &accounts[ai];
    let acct = a.id.as_str();
    let label = a.label;
    let all: u32 = (1u32 << nreg) - 1;
    let mut ps: Vec<Principal> = Vec::new();
    let regions_for = |r: &mut R, home: usize| -> u32 {
        if r.chance(0.2) {
            all
        } else {
            region_bit(home)
        }
    };

    // Applications calling KMS directly (envelope encryption, Encryption SDK).
    let n_app = 18 + r.below(20);
    for j in 0..n_app {
        let team = TEAMS[(j + ai * 3) % TEAMS.len()];
        let comp = r.pick(&COMPONENTS);
        let role = format!("{team}-{comp}-{label}");
        let session = match r.below(4) {
            0 => {
                let mut s = String::from("i-0");
                push_hex(&mut s, r, 16);
                s
            }
            1 => hex_string(r, 32),
            2 => format!("botocore-session-{}", 1_767_000_000 + r.below(900_000)),
            _ => format!("{team}-{comp}"),
        };
        let (ident, arn) = role_ident(r, acct, role, session, None);
        let vpce = if r.chance(0.3) {
            let mut s = String::from("vpce-0");
            push_hex(&mut s, r, 16);
            Some(s)
        } else {
            None
        };
        let ip = if vpce.is_some() || r.chance(0.6) {
            private_ip(r)
        } else {
            public_ip(r)
        };
        let via = Via::Direct {
            ip,
            ua: r.pick(&SDK_UAS),
            vpce,
        };
        let home = home_region(r, nreg);
        let keys = habitual_keys(r, ai, a, home);
        let regions = regions_for(r, home);
        let mut p = new_principal(
            r,
            Kind::App,
            ident,
            via,
            regions,
            keys,
            (1.0 * zipf(j), 0.05, 1.0),
            arn,
            team.to_string(),
        );
        p.esdk = r.chance(0.3);
        ps.push(p);
    }

    // Lambda functions whose environment variables are decrypted by Lambda.
    let n_lambda = 8 + r.below(13);
    for j in 0..n_lambda {
        let team = r.pick(&TEAMS);
        let comp = r.pick(&COMPONENTS);
        let function = format!("{team}-{comp}-{label}-{}", hashed(r.u64(), 6, LOWER_NUM));
        let role = format!("{team}-{comp}-lambda-role");
        let (ident, arn) = role_ident(
            r,
            acct,
            role,
            function.clone(),
            Some("lambda.amazonaws.com"),
        );
        let home = home_region(r, nreg);
        let keys = service_keys(r, ai, a, home, M_LAMBDA);
        ps.push(new_principal(
            r,
            Kind::Lambda,
            ident,
            Via::Service("lambda.amazonaws.com"),
            region_bit(home),
            keys,
            (0.8 * zipf(j), 0.0, 0.8),
            arn,
            function,
        ));
    }

    // Roles whose S3 requests make S3 call KMS (SSE-KMS).
    let n_s3 = 6 + r.below(9);
    for j in 0..n_s3 {
        let team = r.pick(&TEAMS);
        let role = format!("{team}-data-pipeline-{label}");
        let bucket = format!("{team}-{label}-{}-{}", r.pick(&PURPOSES), &acct[8..]);
        let inv = if r.chance(0.7) {
            "s3.amazonaws.com"
        } else {
            "AWS Internal"
        };
        let session = format!("{team}-etl-{}", hashed(r.u64(), 8, LOWER_NUM));
        let (ident, arn) = role_ident(r, acct, role, session, Some(inv));
        let home = home_region(r, nreg);
        let keys = service_keys(r, ai, a, home, M_S3);
        ps.push(new_principal(
            r,
            Kind::S3,
            ident,
            Via::Service(inv),
            region_bit(home),
            keys,
            (1.2 * zipf(j), 0.0, 0.5),
            arn,
            bucket,
        ));
    }

    // EC2/EBS: volumes encrypted on behalf of instance roles and operators.
    let n_ebs = 3 + r.below(4);
    for j in 0..n_ebs {
        let team = r.pick(&TEAMS);
        let home = home_region(r, nreg);
        let (ident, arn, via) = if r.chance(0.5) {
            let instance = format!("i-0{}", hex_string(r, 16));
            let role = "aws:ec2-infrastructure".to_string();
            let pid = format!("{acct}:aws:ec2-infrastructure");
            let arn = format!("arn:aws:sts::{acct}:assumed-role/{role}/{instance}");
            let inst_arn = format!("arn:aws:ec2:{}:{acct}:instance/{instance}", REGIONS[home]);
            (
                Ident::Role {
                    role,
                    role_id: pid,
                    session: instance,
                    invoked_by: Some("AWS Internal"),
                    in_scope: Some(inst_arn),
                },
                arn,
                Via::Service("AWS Internal"),
            )
        } else {
            let role = format!("{team}-ec2-operator");
            let session = format!("{}-{}", r.pick(&FIRST), r.pick(&LAST));
            let (i, a) = role_ident(
                r,
                acct,
                role,
                session,
                Some("ec2-frontend-api.amazonaws.com"),
            );
            (i, a, Via::Service("ec2-frontend-api.amazonaws.com"))
        };
        let keys = service_keys(r, ai, a, home, M_EBS);
        ps.push(new_principal(
            r,
            Kind::Ebs,
            ident,
            via,
            region_bit(home),
            keys,
            (0.4 * zipf(j), 0.8 * zipf(j), 0.3),
            arn,
            team.to_string(),
        ));
    }

    // Other services calling KMS on a role's behalf.
    let svc_kinds: [(Kind, &'static str, usize, f64); 5] = [
        (
            Kind::Secrets,
            "secretsmanager.amazonaws.com",
            M_SECRETS,
            0.5,
        ),
        (Kind::Rds, "rds.amazonaws.com", M_RDS, 0.3),
        (Kind::Dynamo, "dynamodb.amazonaws.com", M_DDB, 0.4),
        (Kind::Sqs, "sqs.amazonaws.com", usize::MAX, 0.3),
        (Kind::Logs, "logs.amazonaws.com", usize::MAX, 0.2),
    ];
    for (kind, svc, managed, w) in svc_kinds {
        let n = 2 + r.below(if kind == Kind::Secrets { 6 } else { 3 });
        for j in 0..n {
            let team = r.pick(&TEAMS);
            let home = home_region(r, nreg);
            let res = match kind {
                Kind::Secrets => format!(
                    "{label}/{team}/db-credentials-{}",
                    hashed(r.u64(), 6, ALNUM)
                ),
                Kind::Rds => format!("db-{}", hashed(r.u64(), 26, UPPER_NUM)),
                Kind::Dynamo => format!(
                    "{team}-{}",
                    r.pick(&["events", "sessions", "state", "items"])
                ),
                Kind::Sqs => format!("{team}-{}-queue", r.pick(&COMPONENTS)),
                _ => format!("/aws/lambda/{team}-{}", r.pick(&COMPONENTS)),
            };
            let (ident, arn, via) = if kind == Kind::Logs {
                (
                    Ident::Service("logs.amazonaws.com"),
                    String::new(),
                    Via::Service("logs.amazonaws.com"),
                )
            } else {
                let role = format!("{team}-{}-{label}", r.pick(&COMPONENTS));
                let session = format!("{team}-{}", hashed(r.u64(), 10, LOWER_NUM));
                let (i, a) = role_ident(r, acct, role, session, Some(svc));
                (i, a, Via::Service(svc))
            };
            let keys = if managed == usize::MAX {
                habitual_keys(r, ai, a, home)
            } else {
                service_keys(r, ai, a, home, managed)
            };
            ps.push(new_principal(
                r,
                kind,
                ident,
                via,
                region_bit(home),
                keys,
                (w * zipf(j), if kind == Kind::Rds { 0.3 } else { 0.0 }, 0.2),
                arn,
                res,
            ));
        }
    }

    // Signing and MAC applications (asymmetric and HMAC keys).
    for (kind, n, class) in [
        (Kind::Signer, 2 + r.below(3), None),
        (Kind::Mac, 1 + r.below(2), Some(KeyClass::Hmac)),
    ] {
        for j in 0..n {
            let team = r.pick(&TEAMS);
            let role = format!(
                "{team}-{}-{label}",
                if kind == Kind::Mac {
                    "tokens"
                } else {
                    "signer"
                }
            );
            let session = hex_string(r, 32);
            let (ident, arn) = role_ident(r, acct, role, session, None);
            let cands: Vec<usize> = a
                .keys
                .iter()
                .enumerate()
                .filter(|(_, k)| match class {
                    Some(c) => k.class == c,
                    None => matches!(k.class, KeyClass::Rsa | KeyClass::Ecc),
                })
                .map(|(i, _)| i)
                .collect();
            let keys = cands
                .iter()
                .map(|&k| {
                    KeySel::K(KeyRef {
                        acct: ai as u16,
                        key: k as u16,
                    })
                })
                .collect();
            let via = Via::Direct {
                ip: private_ip(r),
                ua: r.pick(&SDK_UAS),
                vpce: None,
            };
            ps.push(new_principal(
                r,
                kind,
                ident,
                via,
                all,
                keys,
                (0.15 * zipf(j), 0.1, 0.3),
                arn,
                team.to_string(),
            ));
        }
    }

    // People: IAM Identity Center (SSO) roles, console or CLI.
    let n_human = 8 + r.below(9);
    let office = public_ip(r);
    for j in 0..n_human {
        let first = FIRST[(j + ai * 5) % FIRST.len()];
        let last = r.pick(&LAST);
        let set = SSO_SETS[r.weighted(&[30, 25, 25, 10, 10])];
        let role = format!("AWSReservedSSO_{set}_{}", hex_string(r, 16));
        let session = format!("{first}.{last}@example.com");
        let (ident, arn) = role_ident(r, acct, role, session, None);
        let console = r.chance(0.55);
        let ip = if r.chance(0.6) {
            office.clone()
        } else {
            public_ip(r)
        };
        let via = Via::Direct {
            ip,
            ua: if console {
                r.pick(&BROWSER_UAS)
            } else {
                r.pick(&CLI_UAS)
            },
            vpce: None,
        };
        let mut p = new_principal(
            r,
            Kind::Human,
            ident,
            via,
            all,
            Vec::new(),
            (0.01, 1.0 * zipf(j), 0.6 * zipf(j)),
            arn,
            String::new(),
        );
        p.console = console;
        p.mfa = console && r.chance(0.5);
        ps.push(p);
    }

    // Legacy IAM users with long-term access keys.
    let n_users = 3 + r.below(4);
    let user_names = [
        "svc-backup",
        "jenkins",
        "legacy-etl",
        "reporting-bot",
        "break-glass",
        "datadog-integration",
    ];
    for j in 0..n_users {
        let name = user_names[(j + ai) % user_names.len()].to_string();
        let arn = format!("arn:aws:iam::{acct}:user/{name}");
        let ident = Ident::User {
            name,
            user_id: aws_id(r, "AIDA", 17),
            akid: aws_id(r, "AKIA", 16),
        };
        let via = Via::Direct {
            ip: public_ip(r),
            ua: if r.chance(0.5) {
                r.pick(&CLI_UAS)
            } else {
                r.pick(&SDK_UAS)
            },
            vpce: None,
        };
        let keys = habitual_keys(r, ai, a, 0);
        ps.push(new_principal(
            r,
            Kind::IamUser,
            ident,
            via,
            all,
            keys,
            (0.03, 0.4 * zipf(j), 0.3),
            arn,
            String::new(),
        ));
    }

    // Infrastructure as code from CI.
    {
        let (ident, arn) = role_ident(
            r,
            acct,
            "github-actions-terraform".to_string(),
            "GitHubActions".to_string(),
            None,
        );
        let via = Via::Direct {
            ip: public_ip(r),
            ua: TERRAFORM_UA,
            vpce: None,
        };
        ps.push(new_principal(
            r,
            Kind::Ci,
            ident,
            via,
            all,
            Vec::new(),
            (0.01, 2.0, 0.6),
            arn,
            String::new(),
        ));
    }

    // The root user, rarely.
    {
        let via = Via::Direct {
            ip: public_ip(r),
            ua: BROWSER_UAS[0],
            vpce: None,
        };
        let mut p = new_principal(
            r,
            Kind::Root,
            Ident::Root,
            via,
            region_bit(0),
            Vec::new(),
            (0.0, 0.04, 0.01),
            format!("arn:aws:iam::{acct}:root"),
            String::new(),
        );
        p.console = true;
        p.mfa = true;
        ps.push(p);
    }

    // A federated user (GetFederationToken broker).
    {
        let name = "partner-portal".to_string();
        let arn = format!("arn:aws:sts::{acct}:federated-user/{name}");
        let ident = Ident::Federated {
            name,
            broker: "federation-broker".to_string(),
            broker_id: aws_id(r, "AIDA", 17),
        };
        let via = Via::Direct {
            ip: public_ip(r),
            ua: SDK_UAS[1],
            vpce: None,
        };
        let keys = habitual_keys(r, ai, a, 0);
        ps.push(new_principal(
            r,
            Kind::Federated,
            ident,
            via,
            region_bit(0),
            keys,
            (0.02, 0.02, 0.05),
            arn,
            "partner".to_string(),
        ));
    }

    // Cross-account use of this account's keys (the key owner's copy: AWSAccount identity) and of
    // another account's keys (the caller's copy).
    if accounts.len() >= 2 {
        let other = (ai + 1) % accounts.len();
        let oid = &account_ids[other];
        for j in 0..1 + r.below(2) {
            let team = r.pick(&TEAMS);
            let session = format!("{team}-{}", hashed(r.u64(), 8, LOWER_NUM));
            let principal_id = format!("{}:{session}", aws_id(r, "AROA", 17));
            let arn = format!("arn:aws:sts::{oid}:assumed-role/{team}-cross-account/{session}");
            let via = Via::Direct {
                ip: private_ip(r),
                ua: r.pick(&SDK_UAS),
                vpce: None,
            };
            let keys = habitual_keys(r, ai, a, 0);
            ps.push(new_principal(
                r,
                Kind::XOwner,
                Ident::Account {
                    principal_id,
                    account: oid.clone(),
                },
                via,
                all,
                keys,
                (0.15 * zipf(j), 0.0, 0.0),
                arn,
                team.to_string(),
            ));
        }
        for j in 0..1 + r.below(2) {
            let team = r.pick(&TEAMS);
            let role = format!("{team}-shared-key-user");
            let session = hashed(r.u64(), 32, b"0123456789abcdef");
            let (ident, arn) = role_ident(r, acct, role, session, None);
            let via = Via::Direct {
                ip: private_ip(r),
                ua: r.pick(&SDK_UAS),
                vpce: None,
            };
            let keys = habitual_keys(r, other, &accounts[other], 0);
            ps.push(new_principal(
                r,
                Kind::XCaller,
                ident,
                via,
                all,
                keys,
                (0.15 * zipf(j), 0.0, 0.1),
                arn,
                team.to_string(),
            ));
        }
    }

    // CloudTrail encrypting the organization trail's log files with the trail key.
    if ai == 0 {
        ps.push(new_principal(
            r,
            Kind::Trail,
            Ident::Service("cloudtrail.amazonaws.com"),
            Via::Service("cloudtrail.amazonaws.com"),
            region_bit(0),
            vec![KeySel::K(trail_key)],
            (0.25, 0.0, 0.0),
            String::new(),
            String::new(),
        ));
    }
    ps
}

fn build_streams(w: &World, r: &mut R) -> Vec<Stream> {
    let mut out = Vec::new();
    for (ai, a) in w.accounts.iter().enumerate() {
        for reg in 0..w.regions.len() {
            let bit = region_bit(reg);
            let mut cust = Vec::new();
            let mut sym = Vec::new();
            let mut by_managed = [usize::MAX; MANAGED.len()];
            for (ki, k) in a.keys.iter().enumerate() {
                if k.regions & bit == 0 {
                    continue;
                }
                let kr = KeyRef {
                    acct: ai as u16,
                    key: ki as u16,
                };
                match k.class {
                    KeyClass::Managed => {
                        if let Some(m) = k.alias.as_deref().and_then(|al| {
                            MANAGED.iter().position(|x| al == format!("alias/aws/{x}"))
                        }) {
                            by_managed[m] = ki;
                        }
                    }
                    KeyClass::Sym => {
                        if k.alias.as_deref() != Some("alias/cloudtrail-logs") {
                            sym.push(kr);
                            cust.push(kr);
                        }
                    }
                    _ => cust.push(kr),
                }
            }
            let mut st = Stream {
                acct: ai,
                region: reg,
                crypto: Picker::default(),
                admin: Picker::default(),
                other: Picker::default(),
                cust,
                sym,
                weight: [1.0, 0.55, 0.35, 0.25][ai.min(3)] * [1.0, 0.4, 0.25, 0.2][reg.min(3)],
            };
            for (pi, p) in a.principals.iter().enumerate() {
                if p.regions & bit == 0 {
                    continue;
                }
                let mut keys: Vec<KeyRef> = Vec::new();
                for sel in &p.keys {
                    match *sel {
                        KeySel::K(kr) => {
                            if w.key(kr).regions & bit != 0 {
                                keys.push(kr);
                            }
                        }
                        KeySel::Managed(m) => {
                            if by_managed[m] != usize::MAX {
                                keys.push(KeyRef {
                                    acct: ai as u16,
                                    key: by_managed[m] as u16,
                                });
                            }
                        }
                    }
                }
                if keys.is_empty()
                    && !p.keys.is_empty()
                    && p.kind != Kind::XCaller
                    && !st.sym.is_empty()
                {
                    keys.push(r.pick(&st.sym));
                }
                let needs_keys = !matches!(p.kind, Kind::Human | Kind::Ci | Kind::Root);
                if !keys.is_empty() || !needs_keys {
                    let crypto_keys = if keys.is_empty() {
                        st.sym.clone()
                    } else {
                        keys.clone()
                    };
                    if !crypto_keys.is_empty() {
                        st.crypto.push(
                            Actor {
                                p: pi as u32,
                                keys: crypto_keys,
                            },
                            p.w_crypto,
                        );
                    }
                }
                if p.kind != Kind::XCaller && p.kind != Kind::XOwner {
                    st.admin.push(
                        Actor {
                            p: pi as u32,
                            keys: keys.clone(),
                        },
                        p.w_admin,
                    );
                    st.other.push(Actor { p: pi as u32, keys }, p.w_other);
                }
            }
            out.push(st);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/// The parts of one CloudTrail record, written in CloudTrail's key order by [`Ev::write`].
#[derive(Default)]
struct Ev {
    version: &'static str,
    ident: String,
    time: i64,
    source: &'static str,
    name: &'static str,
    region: &'static str,
    ip: String,
    ua: String,
    err_code: Option<&'static str>,
    err_msg: String,
    req: String,
    resp: String,
    add: String,
    request_id: String,
    event_id: String,
    read_only: bool,
    resources: String,
    event_type: &'static str,
    management: bool,
    recipient: String,
    service_details: String,
    shared: String,
    vpce: String,
    vpce_account: String,
    category: &'static str,
    tls: String,
    console: bool,
    ctx: String,
}

impl Ev {
    fn reset(&mut self) {
        self.version = "1.11";
        self.ident.clear();
        self.ip.clear();
        self.ua.clear();
        self.err_code = None;
        self.err_msg.clear();
        self.req.clear();
        self.resp.clear();
        self.add.clear();
        self.request_id.clear();
        self.event_id.clear();
        self.resources.clear();
        self.recipient.clear();
        self.service_details.clear();
        self.shared.clear();
        self.vpce.clear();
        self.vpce_account.clear();
        self.tls.clear();
        self.console = false;
        self.ctx.clear();
        self.event_type = "AwsApiCall";
        self.management = true;
        self.category = "Management";
        self.read_only = true;
    }

    fn write(&self, s: &mut String) {
        s.push_str("{\"eventVersion\":\"");
        s.push_str(self.version);
        s.push_str("\",\"userIdentity\":");
        s.push_str(&self.ident);
        s.push_str(",\"eventTime\":\"");
        push_iso(s, self.time);
        s.push_str("\",\"eventSource\":\"");
        s.push_str(self.source);
        s.push_str("\",\"eventName\":\"");
        s.push_str(self.name);
        s.push_str("\",\"awsRegion\":\"");
        s.push_str(self.region);
        s.push_str("\",\"sourceIPAddress\":\"");
        s.push_str(&self.ip);
        s.push_str("\",\"userAgent\":\"");
        push_esc(s, &self.ua);
        s.push('"');
        if let Some(code) = self.err_code {
            s.push_str(",\"errorCode\":\"");
            s.push_str(code);
            s.push('"');
            if !self.err_msg.is_empty() {
                s.push_str(",\"errorMessage\":\"");
                push_esc(s, &self.err_msg);
                s.push('"');
            }
        }
        s.push_str(",\"requestParameters\":");
        s.push_str(if self.req.is_empty() {
            "null"
        } else {
            &self.req
        });
        s.push_str(",\"responseElements\":");
        s.push_str(if self.resp.is_empty() {
            "null"
        } else {
            &self.resp
        });
        if !self.add.is_empty() {
            s.push_str(",\"additionalEventData\":");
            s.push_str(&self.add);
        }
        if !self.request_id.is_empty() {
            s.push_str(",\"requestID\":\"");
            s.push_str(&self.request_id);
            s.push('"');
        }
        s.push_str(",\"eventID\":\"");
        s.push_str(&self.event_id);
        s.push_str("\",\"readOnly\":");
        s.push_str(if self.read_only { "true" } else { "false" });
        if !self.resources.is_empty() {
            s.push_str(",\"resources\":");
            s.push_str(&self.resources);
        }
        s.push_str(",\"eventType\":\"");
        s.push_str(self.event_type);
        s.push_str("\",\"managementEvent\":");
        s.push_str(if self.management { "true" } else { "false" });
        s.push_str(",\"recipientAccountId\":\"");
        s.push_str(&self.recipient);
        s.push('"');
        if !self.service_details.is_empty() {
            s.push_str(",\"serviceEventDetails\":");
            s.push_str(&self.service_details);
        }
        if !self.shared.is_empty() {
            s.push_str(",\"sharedEventID\":\"");
            s.push_str(&self.shared);
            s.push('"');
        }
        if !self.vpce.is_empty() {
            s.push_str(",\"vpcEndpointId\":\"");
            s.push_str(&self.vpce);
            s.push_str("\",\"vpcEndpointAccountId\":\"");
            s.push_str(&self.vpce_account);
            s.push('"');
        }
        s.push_str(",\"eventCategory\":\"");
        s.push_str(self.category);
        s.push('"');
        if !self.tls.is_empty() {
            s.push_str(",\"tlsDetails\":");
            s.push_str(&self.tls);
        }
        if self.console {
            s.push_str(",\"sessionCredentialFromConsole\":\"true\"");
        }
        s.push('}');
    }
}

/// Session start and a hash identifying the session (temporary credentials rotate).
fn session(p: &Principal, t: i64) -> (i64, u64) {
    let len: i64 = match p.kind {
        Kind::Human | Kind::Root => 8 * 3600,
        Kind::Ci => 3600,
        Kind::Lambda => 12 * 3600,
        _ => 6 * 3600,
    };
    let phase = (p.seed % len as u64) as i64;
    let start = (t - phase).div_euclid(len) * len + phase;
    (start, mix(p.seed, start as u64))
}

fn write_ident(s: &mut String, acct: &str, p: &Principal, t: i64) {
    match &p.ident {
        Ident::Role {
            role,
            role_id,
            session: sess,
            invoked_by,
            in_scope,
        } => {
            let (start, h) = session(p, t);
            s.push_str("{\"type\":\"AssumedRole\",\"principalId\":\"");
            s.push_str(role_id);
            s.push(':');
            s.push_str(sess);
            s.push_str("\",\"arn\":\"arn:aws:sts::");
            s.push_str(acct);
            s.push_str(":assumed-role/");
            s.push_str(role);
            s.push('/');
            s.push_str(sess);
            s.push_str("\",\"accountId\":\"");
            s.push_str(acct);
            s.push_str("\",\"accessKeyId\":\"ASIA");
            push_hashed(s, h, 16, B32);
            s.push_str(
                "\",\"sessionContext\":{\"sessionIssuer\":{\"type\":\"Role\",\"principalId\":\"",
            );
            s.push_str(role_id);
            s.push_str("\",\"arn\":\"arn:aws:iam::");
            s.push_str(acct);
            s.push_str(":role/");
            s.push_str(role);
            s.push_str("\",\"accountId\":\"");
            s.push_str(acct);
            s.push_str("\",\"userName\":\"");
            s.push_str(role);
            s.push_str("\"},\"attributes\":{\"creationDate\":\"");
            push_iso(s, start);
            s.push_str("\",\"mfaAuthenticated\":\"");
            s.push_str(if p.mfa { "true" } else { "false" });
            s.push_str("\"}}");
            if let Some(inv) = invoked_by {
                s.push_str(",\"invokedBy\":\"");
                s.push_str(inv);
                s.push('"');
            }
            if let Some(arn) = in_scope {
                s.push_str(",\"inScopeOf\":{\"issuerType\":\"AWS::EC2::Instance\",\"credentialsIssuedTo\":\"");
                s.push_str(arn);
                s.push_str("\"}");
            }
            s.push('}');
        }
        Ident::User {
            name,
            user_id,
            akid,
        } => {
            s.push_str("{\"type\":\"IAMUser\",\"principalId\":\"");
            s.push_str(user_id);
            s.push_str("\",\"arn\":\"arn:aws:iam::");
            s.push_str(acct);
            s.push_str(":user/");
            s.push_str(name);
            s.push_str("\",\"accountId\":\"");
            s.push_str(acct);
            s.push_str("\",\"accessKeyId\":\"");
            s.push_str(akid);
            s.push_str("\",\"userName\":\"");
            s.push_str(name);
            s.push_str("\"}");
        }
        Ident::Root => {
            let (start, h) = session(p, t);
            s.push_str("{\"type\":\"Root\",\"principalId\":\"");
            s.push_str(acct);
            s.push_str("\",\"arn\":\"arn:aws:iam::");
            s.push_str(acct);
            s.push_str(":root\",\"accountId\":\"");
            s.push_str(acct);
            s.push_str("\",\"accessKeyId\":\"ASIA");
            push_hashed(s, h, 16, B32);
            s.push_str("\",\"sessionContext\":{\"attributes\":{\"creationDate\":\"");
            push_iso(s, start);
            s.push_str("\",\"mfaAuthenticated\":\"true\"}}}");
        }
        Ident::Federated {
            name,
            broker,
            broker_id,
        } => {
            let (start, h) = session(p, t);
            s.push_str("{\"type\":\"FederatedUser\",\"principalId\":\"");
            s.push_str(acct);
            s.push(':');
            s.push_str(name);
            s.push_str("\",\"arn\":\"arn:aws:sts::");
            s.push_str(acct);
            s.push_str(":federated-user/");
            s.push_str(name);
            s.push_str("\",\"accountId\":\"");
            s.push_str(acct);
            s.push_str("\",\"accessKeyId\":\"ASIA");
            push_hashed(s, h, 16, B32);
            s.push_str(
                "\",\"sessionContext\":{\"sessionIssuer\":{\"type\":\"IAMUser\",\"principalId\":\"",
            );
            s.push_str(broker_id);
            s.push_str("\",\"arn\":\"arn:aws:iam::");
            s.push_str(acct);
            s.push_str(":user/");
            s.push_str(broker);
            s.push_str("\",\"accountId\":\"");
            s.push_str(acct);
            s.push_str("\",\"userName\":\"");
            s.push_str(broker);
            s.push_str("\"},\"attributes\":{\"creationDate\":\"");
            push_iso(s, start);
            s.push_str("\",\"mfaAuthenticated\":\"false\"}}}");
        }
        Ident::Account {
            principal_id,
            account,
        } => {
            s.push_str("{\"type\":\"AWSAccount\",\"principalId\":\"");
            s.push_str(principal_id);
            s.push_str("\",\"accountId\":\"");
            s.push_str(account);
            s.push_str("\"}");
        }
        Ident::Service(name) => {
            s.push_str("{\"type\":\"AWSService\",\"invokedBy\":\"");
            s.push_str(name);
            s.push_str("\"}");
        }
    }
}

fn write_tls(s: &mut String, p: &Principal, host_service: &str, region: &str) {
    let (ver, suite) = match p.tls {
        0 | 1 => ("TLSv1.3", "TLS_AES_128_GCM_SHA256"),
        _ => ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256"),
    };
    s.push_str("{\"tlsVersion\":\"");
    s.push_str(ver);
    s.push_str("\",\"cipherSuite\":\"");
    s.push_str(suite);
    s.push_str("\",\"clientProvidedHostHeader\":\"");
    s.push_str(host_service);
    s.push('.');
    s.push_str(region);
    s.push_str(".amazonaws.com\"");
    if p.tls == 0 {
        s.push_str(",\"keyExchange\":\"X25519MLKEM768\"");
    }
    s.push('}');
}

/// Fills identity, source IP, user agent, TLS, VPC endpoint and console flag. With `direct`, a
/// principal that normally acts through a service is shown calling the API itself (non-KMS calls).
#[allow(clippy::too_many_arguments)]
fn fill_caller(
    e: &mut Ev,
    w: &World,
    st: &Stream,
    p: &Principal,
    t: i64,
    host_service: &str,
    direct: bool,
) {
    let acct = &w.accounts[st.acct].id;
    let region = w.regions[st.region];
    write_ident(&mut e.ident, acct, p, t);
    e.recipient.push_str(acct);
    match (&p.via, &p.ident) {
        (_, Ident::Service(name)) => {
            e.ip.push_str(name);
            e.ua.push_str(name);
        }
        (Via::Service(name), _) if !direct => {
            e.ip.push_str(name);
            e.ua.push_str(name);
        }
        (Via::Service(_), _) => {
            let h = mix(p.seed, 0x1b);
            e.ip.push_str(&format!(
                "10.{}.{}.{}",
                h % 64,
                (h >> 8) % 256,
                4 + (h >> 16) % 250
            ));
            let uas: &[&str] = if p.kind == Kind::Lambda {
                &LAMBDA_UAS
            } else {
                &SDK_UAS
            };
            e.ua.push_str(uas[((h >> 32) % uas.len() as u64) as usize]);
            write_tls(&mut e.tls, p, host_service, region);
        }
        (Via::Direct { ip, ua, vpce }, _) => {
            e.ip.push_str(ip);
            e.ua.push_str(ua);
            if let Some(v) = vpce {
                if host_service == "kms" {
                    e.vpce.push_str(v);
                    e.vpce_account.push_str(acct);
                }
            }
            write_tls(&mut e.tls, p, host_service, region);
        }
    }
    e.console = p.console;
}

fn push_key_arn(s: &mut String, w: &World, k: KeyRef, region: &str) {
    s.push_str("arn:aws:kms:");
    s.push_str(region);
    s.push(':');
    s.push_str(&w.accounts[k.acct as usize].id);
    s.push_str(":key/");
    s.push_str(&w.key(k).id);
}

fn key_arn(w: &World, k: KeyRef, region: &str) -> String {
    let mut s = String::with_capacity(80);
    push_key_arn(&mut s, w, k, region);
    s
}

fn push_key_resource(s: &mut String, w: &World, k: KeyRef, region: &str) {
    s.push_str("{\"accountId\":\"");
    s.push_str(&w.accounts[k.acct as usize].id);
    s.push_str("\",\"type\":\"AWS::KMS::Key\",\"ARN\":\"");
    push_key_arn(s, w, k, region);
    s.push_str("\"}");
}

fn set_key_resources(e: &mut Ev, w: &World, keys: &[KeyRef], region: &str) {
    e.resources.push('[');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            e.resources.push(',');
        }
        push_key_resource(&mut e.resources, w, *k, region);
    }
    e.resources.push(']');
}

/// The key identifier as the caller sent it (key id, key ARN, alias name or alias ARN).
fn push_key_ref(s: &mut String, w: &World, k: KeyRef, region: &str, style: u8, cross: bool) {
    let key = w.key(k);
    let mut style = style;
    if cross && style % 2 == 0 {
        style += 1;
    }
    match (style, &key.alias) {
        (2, Some(alias)) => s.push_str(alias),
        (3, Some(alias)) => {
            s.push_str("arn:aws:kms:");
            s.push_str(region);
            s.push(':');
            s.push_str(&w.accounts[k.acct as usize].id);
            s.push(':');
            s.push_str(alias);
        }
        (0, _) | (2, None) => s.push_str(&key.id),
        _ => push_key_arn(s, w, k, region),
    }
}

fn push_kv(s: &mut String, first: &mut bool, k: &str) {
    if !*first {
        s.push(',');
    }
    *first = false;
    s.push('"');
    s.push_str(k);
    s.push_str("\":");
}

/// Writes the encryption context a principal habitually uses into `e.ctx` (may stay empty).
fn make_ctx(e: &mut Ev, w: &World, st: &Stream, p: &Principal, r: &mut R, t: i64) {
    let acct = &w.accounts[st.acct].id;
    let region = w.regions[st.region];
    let c = &mut e.ctx;
    match p.kind {
        Kind::S3 => {
            c.push_str("{\"aws:s3:arn\":\"arn:aws:s3:::");
            c.push_str(&p.res);
            if p.seed % 3 != 0 {
                c.push_str("/raw/");
                push_ymd_path(c, t);
                c.push_str("/part-");
                push_num(c, r.below(2000) as u64);
                c.push('-');
                push_uuid(c, r);
                c.push_str(".snappy.parquet");
            }
            c.push_str("\"}");
        }
        Kind::Lambda => {
            c.push_str("{\"aws:lambda:FunctionArn\":\"arn:aws:lambda:");
            c.push_str(region);
            c.push(':');
            c.push_str(acct);
            c.push_str(":function:");
            c.push_str(&p.res);
            c.push_str("\"}");
        }
        Kind::Ebs => {
            c.push_str("{\"aws:ebs:id\":\"vol-0");
            push_hashed(c, mix(p.seed, r.below(12) as u64), 16, b"0123456789abcdef");
            c.push_str("\"}");
        }
        Kind::Secrets => {
            c.push_str("{\"SecretARN\":\"arn:aws:secretsmanager:");
            c.push_str(region);
            c.push(':');
            c.push_str(acct);
            c.push_str(":secret:");
            c.push_str(&p.res);
            c.push_str("\",\"SecretVersionId\":\"");
            push_uuid(c, r);
            c.push_str("\"}");
        }
        Kind::Rds => {
            c.push_str("{\"aws:rds:db-id\":\"");
            c.push_str(&p.res);
            c.push_str("\"}");
        }
        Kind::Dynamo => {
            c.push_str("{\"aws:dynamodb:tableName\":\"");
            c.push_str(&p.res);
            c.push_str("\",\"aws:dynamodb:subscriberId\":\"");
            c.push_str(acct);
            c.push_str("\"}");
        }
        Kind::Sqs => {
            c.push_str("{\"aws:sqs:arn\":\"arn:aws:sqs:");
            c.push_str(region);
            c.push(':');
            c.push_str(acct);
            c.push(':');
            c.push_str(&p.res);
            c.push_str("\"}");
        }
        Kind::Logs => {
            c.push_str("{\"aws:logs:arn\":\"arn:aws:logs:");
            c.push_str(region);
            c.push(':');
            c.push_str(acct);
            c.push_str(":log-group:");
            c.push_str(&p.res);
            c.push_str("\"}");
        }
        Kind::Trail => {
            // CloudTrail encrypting one log file of some account of the organization.
            let ai = r.below(w.accounts.len());
            let a = &w.accounts[ai];
            let reg = w.regions[r.below(w.regions.len())];
            let delivered = t + 60 + r.below(300) as i64;
            c.push_str("{\"aws:cloudtrail:arn\":\"arn:aws:cloudtrail:");
            c.push_str(w.regions[0]);
            c.push(':');
            c.push_str(acct);
            c.push_str(":trail/");
            c.push_str(w.trail_name);
            c.push_str("\",\"aws:s3:arn\":\"arn:aws:s3:::");
            c.push_str(&w.trail_bucket);
            c.push_str("/AWSLogs/");
            c.push_str(&w.org_id);
            c.push('/');
            c.push_str(&a.id);
            c.push_str("/CloudTrail/");
            c.push_str(reg);
            c.push('/');
            push_ymd_path(c, delivered);
            c.push('/');
            c.push_str(&a.id);
            c.push_str("_CloudTrail_");
            c.push_str(reg);
            c.push('_');
            push_compact(c, delivered, false);
            c.push('_');
            push_from(c, r, 16, ALNUM);
            c.push_str(".json.gz\"}");
        }
        Kind::App | Kind::Federated | Kind::XOwner | Kind::XCaller => {
            if p.esdk {
                c.push_str("{\"aws-crypto-public-key\":\"A");
                push_from(c, r, 87, B64);
                c.push_str("\"}");
            } else if r.chance(0.9) {
                c.push_str("{\"tenant\":\"t-");
                push_num(c, 10_000 + r.below(90_000) as u64);
                c.push_str("\",\"dataClass\":\"");
                c.push_str(r.pick(&["pii", "payment", "internal", "confidential"]));
                c.push_str("\",\"service\":\"");
                c.push_str(&p.res);
                c.push_str("\"}");
            }
        }
        _ => {
            if r.chance(0.4) {
                c.push_str("{\"Department\":\"");
                c.push_str(r.pick(&["Engineering", "Finance", "Security", "Operations"]));
                c.push_str("\"}");
            }
        }
    }
}

fn kms_api(e: &mut Ev, name: &'static str, read_only: bool) {
    e.source = "kms.amazonaws.com";
    e.name = name;
    e.read_only = read_only;
}

fn new_ids(e: &mut Ev, r: &mut R) {
    push_uuid(&mut e.request_id, r);
    push_uuid(&mut e.event_id, r);
}

/// Turns the record into a failure with an AWS-style error code and message.
fn set_error(e: &mut Ev, w: &World, p: &Principal, r: &mut R, k: KeyRef, region: &str) {
    // Cross-account calls denied by the key owner are logged only in the caller's account, and
    // AWS services acting on their own are not denied here.
    let deny_ok = !matches!(p.ident, Ident::Account { .. } | Ident::Service(_));
    let customer_key = w.key(k).class != KeyClass::Managed;
    let decrypt = e.name == "Decrypt";
    // AccessDenied, InvalidState, IncorrectKey, InvalidCiphertext, Throttling
    let weights = [
        if deny_ok { 55 } else { 0 },
        if customer_key { 15 } else { 0 },
        if decrypt { 8 } else { 0 },
        if decrypt { 4 } else { 0 },
        18,
    ];
    e.add.clear();
    e.resp.clear();
    let karn = key_arn(w, k, region);
    match r.weighted(&weights) {
        0 => {
            e.err_code = Some("AccessDeniedException");
            let why = if r.chance(0.85) {
                format!(
                    "because no identity-based policy allows the kms:{} action",
                    e.name
                )
            } else {
                "with an explicit deny in a resource-based policy".to_string()
            };
            e.err_msg = format!(
                "User: {} is not authorized to perform: kms:{} on resource: {} {}",
                p.arn, e.name, karn, why
            );
        }
        1 => {
            e.err_code = Some("KMSInvalidStateException");
            e.err_msg = if r.chance(0.6) {
                format!("{karn} is disabled.")
            } else {
                format!("{karn} is pending deletion.")
            };
        }
        2 => {
            e.err_code = Some("IncorrectKeyException");
            e.err_msg = "The key ID in the request does not identify a CMK that can perform this operation.".to_string();
        }
        3 => e.err_code = Some("InvalidCiphertextException"),
        _ => {
            e.err_code = Some("ThrottlingException");
            e.err_msg = "You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.".to_string();
        }
    }
}

fn key_material(e: &mut Ev, w: &World, k: KeyRef) {
    e.add.push_str("{\"keyMaterialId\":\"");
    e.add.push_str(&w.key(k).material);
    e.add.push_str("\"}");
}

/// A KMS cryptographic call by a principal with habits.
fn gen_crypto(w: &World, st: &Stream, r: &mut R, t: i64, e: &mut Ev) -> bool {
    let Some(a) = w.pick(&st.crypto, st, r, t) else {
        return false;
    };
    let p = &w.accounts[st.acct].principals[a.p as usize];
    let region = w.regions[st.region];
    let k = r.pick(&a.keys);
    let class = w.key(k).class;
    let op: &'static str = match (p.kind, class) {
        (_, KeyClass::Rsa | KeyClass::Ecc) => ["Sign", "Verify"][r.weighted(&[55, 45])],
        (_, KeyClass::Hmac) => ["GenerateMac", "VerifyMac"][r.weighted(&[70, 30])],
        (Kind::S3, _) => ["Decrypt", "GenerateDataKey"][r.weighted(&[62, 38])],
        (Kind::Lambda, _) => "Decrypt",
        (Kind::Ebs, _) => ["Decrypt", "GenerateDataKeyWithoutPlaintext"][r.weighted(&[65, 35])],
        (Kind::Secrets, _) => ["Decrypt", "GenerateDataKey"][r.weighted(&[78, 22])],
        (Kind::Rds | Kind::Dynamo | Kind::Sqs | Kind::Logs, _) => {
            ["Decrypt", "GenerateDataKey"][r.weighted(&[60, 40])]
        }
        (Kind::Trail, _) => "GenerateDataKey",
        (Kind::App | Kind::Federated | Kind::XOwner | Kind::XCaller, _) => [
            "Decrypt",
            "GenerateDataKey",
            "Encrypt",
            "GenerateDataKeyWithoutPlaintext",
            "ReEncrypt",
        ][r.weighted(&[50, 24, 14, 7, 5])],
        _ => ["Decrypt", "Encrypt", "GenerateDataKey"][r.weighted(&[50, 30, 20])],
    };
    e.time = t;
    e.region = region;
    kms_api(e, op, true);
    fill_caller(e, w, st, p, t, "kms", false);
    let cross = k.acct as usize != st.acct;
    let style = if r.chance(0.2) {
        r.below(4) as u8
    } else {
        p.style
    };
    make_ctx(e, w, st, p, r, t);
    let ctx = std::mem::take(&mut e.ctx);
    let s = &mut e.req;
    let mut first = true;
    s.push('{');
    let mut keys_used = [k, k];
    let mut nkeys = 1;
    match op {
        "Decrypt" => {
            push_kv(s, &mut first, "encryptionAlgorithm");
            s.push_str("\"SYMMETRIC_DEFAULT\"");
            if cross || matches!(p.kind, Kind::App | Kind::IamUser | Kind::Human) && r.chance(0.35)
            {
                push_kv(s, &mut first, "keyId");
                s.push('"');
                push_key_ref(s, w, k, region, style, cross);
                s.push('"');
            }
            if !ctx.is_empty() {
                push_kv(s, &mut first, "encryptionContext");
                s.push_str(&ctx);
            }
        }
        "Encrypt" => {
            push_kv(s, &mut first, "keyId");
            s.push('"');
            push_key_ref(s, w, k, region, style, cross);
            s.push('"');
            push_kv(s, &mut first, "encryptionAlgorithm");
            s.push_str("\"SYMMETRIC_DEFAULT\"");
            if !ctx.is_empty() {
                push_kv(s, &mut first, "encryptionContext");
                s.push_str(&ctx);
            }
        }
        "GenerateDataKey" => {
            push_kv(s, &mut first, "keyId");
            s.push('"');
            let st2 = if matches!(p.kind, Kind::S3 | Kind::Trail) {
                1
            } else {
                style
            };
            push_key_ref(s, w, k, region, st2, cross);
            s.push('"');
            if !ctx.is_empty() {
                push_kv(s, &mut first, "encryptionContext");
                s.push_str(&ctx);
            }
            if r.chance(0.85) {
                push_kv(s, &mut first, "keySpec");
                s.push_str("\"AES_256\"");
            } else {
                push_kv(s, &mut first, "numberOfBytes");
                s.push_str("32");
            }
        }
        "GenerateDataKeyWithoutPlaintext" => {
            if !ctx.is_empty() {
                push_kv(s, &mut first, "encryptionContext");
                s.push_str(&ctx);
            }
            if p.kind == Kind::Ebs {
                push_kv(s, &mut first, "numberOfBytes");
                s.push_str("64");
            } else {
                push_kv(s, &mut first, "keySpec");
                s.push_str("\"AES_256\"");
            }
            push_kv(s, &mut first, "keyId");
            s.push('"');
            push_key_ref(
                s,
                w,
                k,
                region,
                if p.kind == Kind::Ebs { 1 } else { style },
                cross,
            );
            s.push('"');
        }
        "ReEncrypt" => {
            let dest = if a.keys.len() > 1 && r.chance(0.7) {
                r.pick(&a.keys)
            } else if !st.sym.is_empty() && !cross {
                r.pick(&st.sym)
            } else {
                k
            };
            keys_used[1] = dest;
            nkeys = 2;
            push_kv(s, &mut first, "sourceEncryptionAlgorithm");
            s.push_str("\"SYMMETRIC_DEFAULT\"");
            push_kv(s, &mut first, "sourceEncryptionContext");
            s.push_str(if ctx.is_empty() { "{}" } else { &ctx });
            push_kv(s, &mut first, "destinationKeyId");
            s.push('"');
            push_key_ref(s, w, dest, region, style, dest.acct as usize != st.acct);
            s.push('"');
            push_kv(s, &mut first, "destinationEncryptionAlgorithm");
            s.push_str("\"SYMMETRIC_DEFAULT\"");
            push_kv(s, &mut first, "destinationEncryptionContext");
            s.push_str(if ctx.is_empty() { "{}" } else { &ctx });
        }
        "Sign" | "Verify" => {
            push_kv(s, &mut first, "messageType");
            s.push_str(if r.chance(0.7) {
                "\"DIGEST\""
            } else {
                "\"RAW\""
            });
            push_kv(s, &mut first, "keyId");
            s.push('"');
            push_key_ref(s, w, k, region, style, cross);
            s.push('"');
            push_kv(s, &mut first, "signingAlgorithm");
            s.push_str(if class == KeyClass::Rsa {
                "\"RSASSA_PSS_SHA_256\""
            } else {
                "\"ECDSA_SHA_256\""
            });
        }
        _ => {
            // GenerateMac / VerifyMac
            push_kv(s, &mut first, "macAlgorithm");
            s.push_str("\"HMAC_SHA_256\"");
            push_kv(s, &mut first, "keyId");
            s.push('"');
            push_key_ref(s, w, k, region, style, cross);
            s.push('"');
        }
    }
    s.push('}');
    e.ctx = ctx;
    if matches!(
        op,
        "Decrypt" | "Encrypt" | "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext"
    ) {
        key_material(e, w, k);
    }
    new_ids(e, r);
    set_key_resources(e, w, &keys_used[..nkeys], region);
    if cross || p.kind == Kind::XOwner {
        push_uuid(&mut e.shared, r);
    }
    if r.chance(0.036) {
        set_error(e, w, p, r, k, region);
    }
    true
}

/// A key policy document as CloudTrail logs it: the JSON text the caller sent.
fn policy_text(w: &World, st: &Stream, r: &mut R) -> String {
    let acct = &w.accounts[st.acct].id;
    let user_role = {
        let ps = &w.accounts[st.acct].principals;
        match &ps[r.below(ps.len())].ident {
            Ident::Role { role, .. } => format!("arn:aws:iam::{acct}:role/{role}"),
            _ => format!("arn:aws:iam::{acct}:role/app-role"),
        }
    };
    let user_principal = if r.chance(0.05) {
        "\"*\"".to_string()
    } else {
        format!("{{\n        \"AWS\": \"{user_role}\"\n      }}")
    };
    format!(
        "{{\n  \"Version\": \"2012-10-17\",\n  \"Id\": \"key-consolepolicy-3\",\n  \"Statement\": [\n    {{\n      \"Sid\": \"Enable IAM User Permissions\",\n      \"Effect\": \"Allow\",\n      \"Principal\": {{\n        \"AWS\": \"arn:aws:iam::{acct}:root\"\n      }},\n      \"Action\": \"kms:*\",\n      \"Resource\": \"*\"\n    }},\n    {{\n      \"Sid\": \"Allow access for Key Administrators\",\n      \"Effect\": \"Allow\",\n      \"Principal\": {{\n        \"AWS\": \"arn:aws:iam::{acct}:role/github-actions-terraform\"\n      }},\n      \"Action\": [\n        \"kms:Create*\",\n        \"kms:Describe*\",\n        \"kms:Enable*\",\n        \"kms:List*\",\n        \"kms:Put*\",\n        \"kms:Update*\",\n        \"kms:Revoke*\",\n        \"kms:Disable*\",\n        \"kms:Get*\",\n        \"kms:Delete*\",\n        \"kms:TagResource\",\n        \"kms:UntagResource\",\n        \"kms:ScheduleKeyDeletion\",\n        \"kms:CancelKeyDeletion\",\n        \"kms:RotateKeyOnDemand\"\n      ],\n      \"Resource\": \"*\"\n    }},\n    {{\n      \"Sid\": \"Allow use of the key\",\n      \"Effect\": \"Allow\",\n      \"Principal\": {user_principal},\n      \"Action\": [\n        \"kms:Encrypt\",\n        \"kms:Decrypt\",\n        \"kms:ReEncrypt*\",\n        \"kms:GenerateDataKey*\",\n        \"kms:DescribeKey\"\n      ],\n      \"Resource\": \"*\"\n    }}\n  ]\n}}"
    )
}

/// A KMS management or read call (people, CI, and services creating grants).
fn gen_mgmt(w: &World, st: &Stream, r: &mut R, t: i64, e: &mut Ev) -> bool {
    let Some(a) = w.pick(&st.admin, st, r, t) else {
        return false;
    };
    let p = &w.accounts[st.acct].principals[a.p as usize];
    let acct = &w.accounts[st.acct].id;
    let region = w.regions[st.region];
    const ADMIN_OPS: [(&str, u32); 23] = [
        ("DescribeKey", 220),
        ("ListAliases", 100),
        ("ListKeys", 50),
        ("GetKeyPolicy", 100),
        ("GetKeyRotationStatus", 100),
        ("ListResourceTags", 50),
        ("ListGrants", 50),
        ("CreateGrant", 40),
        ("RetireGrant", 20),
        ("RevokeGrant", 10),
        ("EnableKeyRotation", 30),
        ("DisableKeyRotation", 5),
        ("DisableKey", 8),
        ("EnableKey", 6),
        ("ScheduleKeyDeletion", 6),
        ("CancelKeyDeletion", 3),
        ("CreateKey", 12),
        ("CreateAlias", 10),
        ("PutKeyPolicy", 15),
        ("TagResource", 15),
        ("RotateKeyOnDemand", 4),
        ("UpdateKeyDescription", 3),
        ("GetPublicKey", 5),
    ];
    let op: &'static str = match p.kind {
        Kind::Ebs => ["CreateGrant", "RetireGrant", "DescribeKey"][r.weighted(&[45, 20, 35])],
        Kind::Rds => ["CreateGrant", "DescribeKey"][r.weighted(&[40, 60])],
        Kind::Signer => ["DescribeKey", "GetPublicKey"][r.weighted(&[60, 40])],
        Kind::Human | Kind::IamUser | Kind::Ci | Kind::Root | Kind::Federated => {
            let ws: Vec<u32> = ADMIN_OPS.iter().map(|x| x.1).collect();
            ADMIN_OPS[r.weighted(&ws)].0
        }
        _ => "DescribeKey",
    };
    let pool: &[KeyRef] = if !a.keys.is_empty() {
        &a.keys
    } else if op == "GetPublicKey" {
        &st.cust
    } else {
        &st.sym
    };
    if pool.is_empty() {
        return false;
    }
    let mut k = r.pick(pool);
    if op == "GetPublicKey" {
        if let Some(x) = st
            .cust
            .iter()
            .find(|x| matches!(w.key(**x).class, KeyClass::Rsa | KeyClass::Ecc))
        {
            k = *x;
        }
    }
    e.time = t;
    e.region = region;
    let read_only = matches!(
        op,
        "DescribeKey"
            | "ListAliases"
            | "ListKeys"
            | "GetKeyPolicy"
            | "GetKeyRotationStatus"
            | "ListResourceTags"
            | "ListGrants"
            | "GetPublicKey"
    );
    kms_api(e, op, read_only);
    fill_caller(e, w, st, p, t, "kms", false);
    let style = if p.kind == Kind::Ci { 1 } else { p.style };
    let mut resources = true;
    let karn = key_arn(w, k, region);
    {
        let s = &mut e.req;
        let mut first = true;
        s.push('{');
        let key_id = |s: &mut String, first: &mut bool| {
            push_kv(s, first, "keyId");
            s.push('"');
            push_key_ref(s, w, k, region, style, false);
            s.push('"');
        };
        match op {
            "ListAliases" | "ListKeys" => {
                resources = false;
                push_kv(s, &mut first, "limit");
                s.push_str(if p.console { "1000" } else { "100" });
            }
            "GetKeyPolicy" => {
                key_id(s, &mut first);
                push_kv(s, &mut first, "policyName");
                s.push_str("\"default\"");
            }
            "ListGrants" => {
                key_id(s, &mut first);
                push_kv(s, &mut first, "limit");
                s.push_str("100");
            }
            "CreateGrant" => {
                if p.kind == Kind::Ebs {
                    push_kv(s, &mut first, "constraints");
                    s.push_str("{\"encryptionContextSubset\":{\"aws:ebs:id\":\"vol-0");
                    push_hashed(s, mix(p.seed, r.below(12) as u64), 16, b"0123456789abcdef");
                    s.push_str("\"}}");
                    push_kv(s, &mut first, "retiringPrincipal");
                    s.push_str("\"ec2.");
                    s.push_str(region);
                    s.push_str(".amazonaws.com\"");
                    push_kv(s, &mut first, "operations");
                    s.push_str("[\"Decrypt\"]");
                    push_kv(s, &mut first, "keyId");
                    s.push('"');
                    s.push_str(&karn);
                    s.push('"');
                    push_kv(s, &mut first, "granteePrincipal");
                    s.push_str("\"arn:aws:sts::");
                    s.push_str(acct);
                    s.push_str(":assumed-role/aws:ec2-infrastructure/i-0");
                    push_hex(s, r, 16);
                    s.push('"');
                } else {
                    key_id(s, &mut first);
                    push_kv(s, &mut first, "granteePrincipal");
                    if p.kind == Kind::Rds {
                        s.push_str("\"rds.");
                        s.push_str(region);
                        s.push_str(".amazonaws.com\"");
                    } else {
                        s.push_str("\"arn:aws:iam::");
                        s.push_str(acct);
                        s.push_str(":role/");
                        s.push_str(r.pick(&TEAMS));
                        s.push_str("-worker-role\"");
                    }
                    push_kv(s, &mut first, "operations");
                    s.push_str(r.pick(&[
                        "[\"Decrypt\",\"GenerateDataKey\"]",
                        "[\"Encrypt\",\"Decrypt\",\"ReEncryptFrom\",\"ReEncryptTo\",\"GenerateDataKey\",\"DescribeKey\"]",
                        "[\"Decrypt\",\"RetireGrant\"]",
                    ]));
                }
                e.resp.push_str("{\"grantId\":\"");
                push_hex(&mut e.resp, r, 64);
                e.resp.push_str("\",\"keyId\":\"");
                e.resp.push_str(&karn);
                e.resp.push_str("\"}");
            }
            "RetireGrant" => {
                e.add.push_str("{\"grantId\":\"");
                push_hex(&mut e.add, r, 64);
                e.add.push_str("\"}");
            }
            "RevokeGrant" => {
                key_id(s, &mut first);
                push_kv(s, &mut first, "grantId");
                s.push('"');
                push_hex(s, r, 64);
                s.push('"');
            }
            "EnableKeyRotation" => {
                key_id(s, &mut first);
                push_kv(s, &mut first, "rotationPeriodInDays");
                push_num(s, r.pick(&[365u64, 365, 365, 180, 90, 730]));
            }
            "ScheduleKeyDeletion" => {
                let days = r.range(7, 30);
                key_id(s, &mut first);
                push_kv(s, &mut first, "pendingWindowInDays");
                push_num(s, days);
                e.resp.push_str("{\"keyId\":\"");
                e.resp.push_str(&karn);
                e.resp
                    .push_str("\",\"keyState\":\"PendingDeletion\",\"deletionDate\":\"");
                push_java(&mut e.resp, (t / 86_400 + days as i64 + 1) * 86_400);
                e.resp.push_str("\",\"pendingWindowInDays\":");
                push_num(&mut e.resp, days);
                e.resp.push('}');
            }
            "CreateKey" => {
                let team = r.pick(&TEAMS);
                let purpose = r.pick(&PURPOSES);
                let new_id = uuid(r);
                let desc = format!("{team} {purpose} encryption key");
                push_kv(s, &mut first, "description");
                s.push('"');
                s.push_str(&desc);
                s.push('"');
                push_kv(s, &mut first, "keyUsage");
                s.push_str("\"ENCRYPT_DECRYPT\"");
                push_kv(s, &mut first, "keySpec");
                s.push_str("\"SYMMETRIC_DEFAULT\"");
                push_kv(s, &mut first, "customerMasterKeySpec");
                s.push_str("\"SYMMETRIC_DEFAULT\"");
                push_kv(s, &mut first, "origin");
                s.push_str("\"AWS_KMS\"");
                push_kv(s, &mut first, "bypassPolicyLockoutSafetyCheck");
                s.push_str("false");
                if p.kind == Kind::Ci {
                    push_kv(s, &mut first, "policy");
                    s.push('"');
                    let pol = policy_text(w, st, r);
                    push_esc(s, &pol);
                    s.push('"');
                }
                push_kv(s, &mut first, "multiRegion");
                s.push_str("false");
                push_kv(s, &mut first, "tags");
                s.push_str("[{\"tagKey\":\"team\",\"tagValue\":\"");
                s.push_str(team);
                s.push_str("\"}]");
                let arn = format!("arn:aws:kms:{region}:{acct}:key/{new_id}");
                let m = &mut e.resp;
                m.push_str("{\"keyMetadata\":{\"aWSAccountId\":\"");
                m.push_str(acct);
                m.push_str("\",\"keyId\":\"");
                m.push_str(&new_id);
                m.push_str("\",\"arn\":\"");
                m.push_str(&arn);
                m.push_str("\",\"creationDate\":\"");
                push_java(m, t);
                m.push_str("\",\"enabled\":true,\"description\":\"");
                m.push_str(&desc);
                m.push_str("\",\"keyUsage\":\"ENCRYPT_DECRYPT\",\"keyState\":\"Enabled\",\"origin\":\"AWS_KMS\",\"keyManager\":\"CUSTOMER\",\"customerMasterKeySpec\":\"SYMMETRIC_DEFAULT\",\"keySpec\":\"SYMMETRIC_DEFAULT\",\"encryptionAlgorithms\":[\"SYMMETRIC_DEFAULT\"],\"multiRegion\":false,\"currentKeyMaterialId\":\"");
                push_hex(m, r, 64);
                m.push_str("\"}}");
                e.resources.push_str("[{\"accountId\":\"");
                e.resources.push_str(acct);
                e.resources
                    .push_str("\",\"type\":\"AWS::KMS::Key\",\"ARN\":\"");
                e.resources.push_str(&arn);
                e.resources.push_str("\"}]");
                resources = false;
            }
            "CreateAlias" => {
                let alias = format!(
                    "alias/{}-{}-{}",
                    r.pick(&TEAMS),
                    r.pick(&PURPOSES),
                    r.below(100)
                );
                push_kv(s, &mut first, "aliasName");
                s.push('"');
                s.push_str(&alias);
                s.push('"');
                push_kv(s, &mut first, "targetKeyId");
                s.push('"');
                s.push_str(&w.key(k).id);
                s.push('"');
                e.resources.push('[');
                push_key_resource(&mut e.resources, w, k, region);
                e.resources.push_str(",{\"accountId\":\"");
                e.resources.push_str(acct);
                e.resources
                    .push_str("\",\"type\":\"AWS::KMS::Key\",\"ARN\":\"arn:aws:kms:");
                e.resources.push_str(region);
                e.resources.push(':');
                e.resources.push_str(acct);
                e.resources.push(':');
                e.resources.push_str(&alias);
                e.resources.push_str("\"}]");
                resources = false;
            }
            "PutKeyPolicy" => {
                key_id(s, &mut first);
                push_kv(s, &mut first, "policyName");
                s.push_str("\"default\"");
                push_kv(s, &mut first, "policy");
                s.push('"');
                let pol = policy_text(w, st, r);
                push_esc(s, &pol);
                s.push('"');
                push_kv(s, &mut first, "bypassPolicyLockoutSafetyCheck");
                s.push_str("false");
            }
            "TagResource" => {
                key_id(s, &mut first);
                push_kv(s, &mut first, "tags");
                s.push_str("[{\"tagKey\":\"cost-center\",\"tagValue\":\"cc-");
                push_num(s, 1000 + r.below(9000) as u64);
                s.push_str("\"}]");
            }
            "UpdateKeyDescription" => {
                key_id(s, &mut first);
                push_kv(s, &mut first, "description");
                s.push_str("\"");
                s.push_str(r.pick(&TEAMS));
                s.push_str(" data key (managed by terraform)\"");
            }
            _ => key_id(s, &mut first),
        }
        s.push('}');
    }
    if e.req == "{}" {
        e.req.clear();
    }
    // December 2022 rule: state-changing calls that return nothing log the key ARN.
    if matches!(
        op,
        "EnableKeyRotation"
            | "DisableKeyRotation"
            | "DisableKey"
            | "EnableKey"
            | "CancelKeyDeletion"
            | "PutKeyPolicy"
            | "RevokeGrant"
            | "TagResource"
            | "UpdateKeyDescription"
    ) {
        e.resp.push_str("{\"keyId\":\"");
        e.resp.push_str(&karn);
        e.resp.push_str("\"}");
    }
    if op == "RotateKeyOnDemand" {
        e.resp.push_str("{\"keyId\":\"");
        push_key_ref(&mut e.resp, w, k, region, style, false);
        e.resp.push_str("\"}");
    }
    new_ids(e, r);
    if resources {
        set_key_resources(e, w, &[k], region);
    }
    if r.chance(0.03) {
        if op == "DescribeKey" && r.chance(0.5) {
            e.resp.clear();
            e.err_code = Some("NotFoundException");
            e.err_msg = format!(
                "Alias arn:aws:kms:{region}:{acct}:alias/{}-{} is not found.",
                r.pick(&TEAMS),
                r.pick(&PURPOSES)
            );
        } else {
            set_error(e, w, p, r, k, region);
            if op == "CreateKey" {
                e.resources.clear();
            }
        }
    }
    true
}

/// A KMS service event: automatic rotation or the end of a deletion window.
fn gen_service_event(w: &World, st: &Stream, r: &mut R, t: i64, e: &mut Ev) -> bool {
    if st.sym.is_empty() {
        return false;
    }
    let k = r.pick(&st.sym);
    let key = w.key(k);
    let acct = &w.accounts[st.acct].id;
    let region = w.regions[st.region];
    let rotate = r.chance(0.9);
    e.time = t;
    e.region = region;
    kms_api(e, if rotate { "RotateKey" } else { "DeleteKey" }, false);
    e.event_type = "AwsServiceEvent";
    e.ident.push_str("{\"accountId\":\"");
    e.ident.push_str(acct);
    e.ident.push_str("\",\"invokedBy\":\"AWS Internal\"}");
    e.ip.push_str("AWS Internal");
    e.ua.push_str("AWS Internal");
    e.recipient.push_str(acct);
    push_uuid(&mut e.event_id, r);
    set_key_resources(e, w, &[k], region);
    if rotate {
        let d = &mut e.service_details;
        d.push_str("{\"rotationType\":\"");
        d.push_str(if r.chance(0.9) {
            "AUTOMATIC"
        } else {
            "ON_DEMAND"
        });
        d.push_str("\",\"keyOrigin\":\"AWS_KMS\",\"previousKeyMaterialId\":\"");
        d.push_str(&key.prev_material);
        d.push_str("\",\"currentKeyMaterialId\":\"");
        d.push_str(&key.material);
        d.push_str("\",\"keyId\":\"");
        d.push_str(&key.id);
        d.push_str("\"}");
    }
    true
}

/// A call to another AWS service (STS, S3 data events, EC2, CloudTrail, IAM, Secrets Manager, SSM).
fn gen_other(w: &World, st: &Stream, r: &mut R, t: i64, e: &mut Ev) -> bool {
    let Some(a) = w.pick(&st.other, st, r, t) else {
        return false;
    };
    let p = &w.accounts[st.acct].principals[a.p as usize];
    let acct = &w.accounts[st.acct].id;
    let region = w.regions[st.region];
    let person = matches!(
        p.kind,
        Kind::Human | Kind::IamUser | Kind::Ci | Kind::Root | Kind::Federated
    );
    let mut which = if person {
        ["ec2", "cloudtrail", "iam", "s3get", "whoami"][r.weighted(&[35, 20, 20, 10, 15])]
    } else {
        [
            "assume", "s3get", "s3put", "secrets", "ssm", "whoami", "ec2",
        ][r.weighted(&[30, 25, 15, 10, 10, 5, 5])]
    };
    if which == "iam" && region != "us-east-1" {
        which = "ec2";
    }
    let role = match &p.ident {
        Ident::Role { role, .. } => Some(role.as_str()),
        _ => None,
    };
    if which == "assume" && (role.is_none() || matches!(p.kind, Kind::Ebs)) {
        which = "s3get";
    }
    if let Ident::Service(_) = p.ident {
        return false;
    }
    e.time = t;
    e.region = region;
    e.read_only = true;
    match which {
        "assume" => {
            let role = role.unwrap_or("app-role");
            let svc = match p.kind {
                Kind::Lambda => "lambda.amazonaws.com",
                Kind::App if p.seed % 2 == 0 => "ecs-tasks.amazonaws.com",
                _ => "ec2.amazonaws.com",
            };
            e.version = "1.08";
            e.source = "sts.amazonaws.com";
            e.name = "AssumeRole";
            e.ident
                .push_str("{\"type\":\"AWSService\",\"invokedBy\":\"");
            e.ident.push_str(svc);
            e.ident.push_str("\"}");
            e.ip.push_str(svc);
            e.ua.push_str(svc);
            e.recipient.push_str(acct);
            let sess = match &p.ident {
                Ident::Role { session, .. } => session.as_str(),
                _ => "session",
            };
            let (_, h) = session(p, t);
            let q = &mut e.req;
            q.push_str("{\"roleArn\":\"arn:aws:iam::");
            q.push_str(acct);
            q.push_str(":role/");
            q.push_str(role);
            q.push_str("\",\"roleSessionName\":\"");
            q.push_str(sess);
            q.push_str("\"}");
            let s = &mut e.resp;
            s.push_str("{\"credentials\":{\"accessKeyId\":\"ASIA");
            push_hashed(s, h, 16, B32);
            s.push_str("\",\"expiration\":\"");
            push_java(s, t + 3600);
            s.push_str("\"},\"assumedRoleUser\":{\"assumedRoleId\":\"");
            if let Ident::Role { role_id, .. } = &p.ident {
                s.push_str(role_id);
            }
            s.push(':');
            s.push_str(sess);
            s.push_str("\",\"arn\":\"");
            s.push_str(&p.arn);
            s.push_str("\"}}");
            new_ids(e, r);
            e.resources.push_str("[{\"accountId\":\"");
            e.resources.push_str(acct);
            e.resources
                .push_str("\",\"type\":\"AWS::IAM::Role\",\"ARN\":\"arn:aws:iam::");
            e.resources.push_str(acct);
            e.resources.push_str(":role/");
            e.resources.push_str(role);
            e.resources.push_str("\"}]");
            push_uuid(&mut e.shared, r);
        }
        "s3get" | "s3put" => {
            let put = which == "s3put";
            fill_caller(e, w, st, p, t, "s3", true);
            e.version = "1.10";
            e.source = "s3.amazonaws.com";
            e.name = if put { "PutObject" } else { "GetObject" };
            e.read_only = !put;
            e.management = false;
            e.category = "Data";
            let bucket = if p.kind == Kind::S3 {
                p.res.clone()
            } else {
                format!(
                    "{}-{}-artifacts-{}",
                    p.res.split('/').next().unwrap_or("app"),
                    w.accounts[st.acct].label,
                    &acct[8..]
                )
            };
            let mut key = String::new();
            key.push_str(r.pick(&["raw", "exports", "reports", "uploads"]));
            key.push('/');
            push_ymd_path(&mut key, t);
            key.push('/');
            push_hex(&mut key, r, 12);
            key.push_str(r.pick(&[".json", ".csv.gz", ".parquet", ".pdf"]));
            let q = &mut e.req;
            q.push_str("{\"bucketName\":\"");
            q.push_str(&bucket);
            q.push_str("\",\"Host\":\"");
            q.push_str(&bucket);
            q.push_str(".s3.");
            q.push_str(region);
            q.push_str(".amazonaws.com\",\"key\":\"");
            q.push_str(&key);
            q.push('"');
            if put {
                q.push_str(",\"x-amz-server-side-encryption\":\"aws:kms\"");
            }
            q.push('}');
            if put && !a.keys.is_empty() {
                e.resp
                    .push_str("{\"x-amz-server-side-encryption-aws-kms-key-id\":\"");
                push_key_arn(&mut e.resp, w, a.keys[0], region);
                e.resp
                    .push_str("\",\"x-amz-server-side-encryption\":\"aws:kms\"}");
            }
            let ad = &mut e.add;
            ad.push_str("{\"SignatureVersion\":\"SigV4\",\"CipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"bytesTransferredIn\":");
            let bytes = 200 + r.below(5_000_000) as u64;
            push_num(ad, if put { bytes } else { 0 });
            ad.push_str(",\"SSEApplied\":\"SSE_KMS\",\"AuthenticationMethod\":\"AuthHeader\",\"x-amz-id-2\":\"");
            push_from(ad, r, 76, B64);
            ad.push_str("\",\"bytesTransferredOut\":");
            push_num(ad, if put { 0 } else { bytes });
            ad.push('}');
            push_from(&mut e.request_id, r, 16, UPPER_NUM);
            push_uuid(&mut e.event_id, r);
            let rs = &mut e.resources;
            rs.push_str("[{\"type\":\"AWS::S3::Object\",\"ARN\":\"arn:aws:s3:::");
            rs.push_str(&bucket);
            rs.push('/');
            rs.push_str(&key);
            rs.push_str("\"},{\"accountId\":\"");
            rs.push_str(acct);
            rs.push_str("\",\"type\":\"AWS::S3::Bucket\",\"ARN\":\"arn:aws:s3:::");
            rs.push_str(&bucket);
            rs.push_str("\"}]");
            if r.chance(0.01) {
                e.err_code = Some("AccessDenied");
                e.err_msg = "Access Denied".to_string();
                e.resp.clear();
            }
        }
        "ec2" => {
            fill_caller(e, w, st, p, t, "ec2", true);
            e.version = "1.10";
            e.source = "ec2.amazonaws.com";
            let i = r.below(4);
            e.name = [
                "DescribeInstances",
                "DescribeVolumes",
                "DescribeSecurityGroups",
                "DescribeSnapshots",
            ][i];
            e.req.push_str(
                [
                    "{\"instancesSet\":{},\"filterSet\":{}}",
                    "{\"volumeSet\":{},\"filterSet\":{}}",
                    "{\"securityGroupSet\":{},\"securityGroupIdSet\":{},\"filterSet\":{}}",
                    "{\"snapshotSet\":{},\"ownersSet\":{\"items\":[{\"owner\":\"self\"}]},\"sharedUsersSet\":{},\"filterSet\":{}}",
                ][i],
            );
            new_ids(e, r);
            if r.chance(0.02) {
                e.err_code = Some("Client.UnauthorizedOperation");
                e.err_msg = "You are not authorized to perform this operation. User: ".to_string()
                    + &p.arn
                    + " is not authorized to perform: ec2:"
                    + e.name
                    + " because no identity-based policy allows the ec2:"
                    + e.name
                    + " action";
            }
        }
        "cloudtrail" => {
            fill_caller(e, w, st, p, t, "cloudtrail", true);
            e.source = "cloudtrail.amazonaws.com";
            let i = r.weighted(&[50, 25, 25]);
            e.name = ["LookupEvents", "DescribeTrails", "GetTrailStatus"][i];
            match i {
                0 => {
                    e.req.push_str("{\"lookupAttributes\":[{\"attributeKey\":\"EventSource\",\"attributeValue\":\"kms.amazonaws.com\"}],\"startTime\":\"");
                    push_java(&mut e.req, t - 86_400);
                    e.req.push_str("\",\"endTime\":\"");
                    push_java(&mut e.req, t);
                    e.req.push_str("\",\"maxResults\":50}");
                }
                1 => e
                    .req
                    .push_str("{\"trailNameList\":[],\"includeShadowTrails\":true}"),
                _ => {
                    e.req.push_str("{\"name\":\"arn:aws:cloudtrail:");
                    e.req.push_str(w.regions[0]);
                    e.req.push(':');
                    e.req.push_str(&w.accounts[0].id);
                    e.req.push_str(":trail/");
                    e.req.push_str(w.trail_name);
                    e.req.push_str("\"}");
                }
            }
            new_ids(e, r);
        }
        "iam" => {
            fill_caller(e, w, st, p, t, "iam", true);
            e.version = "1.09";
            e.source = "iam.amazonaws.com";
            let i = r.below(3);
            e.name = ["GetRole", "ListRoles", "ListAttachedRolePolicies"][i];
            let ps = &w.accounts[st.acct].principals;
            let target = match &ps[r.below(ps.len())].ident {
                Ident::Role { role, .. } => role.clone(),
                _ => "github-actions-terraform".to_string(),
            };
            match i {
                1 => e.req.push_str("{\"maxItems\":1000}"),
                _ => {
                    e.req.push_str("{\"roleName\":\"");
                    e.req.push_str(&target);
                    e.req.push_str("\"}");
                }
            }
            new_ids(e, r);
            // IAM is global; its events are recorded in us-east-1 with the IAM endpoint.
            e.tls.clear();
            e.tls.push_str("{\"tlsVersion\":\"TLSv1.3\",\"cipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"clientProvidedHostHeader\":\"iam.amazonaws.com\"}");
        }
        "secrets" => {
            fill_caller(e, w, st, p, t, "secretsmanager", true);
            e.source = "secretsmanager.amazonaws.com";
            e.name = "GetSecretValue";
            e.req.push_str("{\"secretId\":\"arn:aws:secretsmanager:");
            e.req.push_str(region);
            e.req.push(':');
            e.req.push_str(acct);
            e.req.push_str(":secret:");
            e.req.push_str(w.accounts[st.acct].label);
            e.req.push('/');
            e.req.push_str(p.res.split('/').next().unwrap_or("app"));
            e.req.push_str("/api-key-");
            push_hashed(&mut e.req, p.seed, 6, ALNUM);
            e.req.push_str("\"}");
            new_ids(e, r);
        }
        "ssm" => {
            fill_caller(e, w, st, p, t, "ssm", true);
            e.version = "1.09";
            e.source = "ssm.amazonaws.com";
            e.name = "GetParameter";
            e.req.push_str("{\"name\":\"/");
            e.req.push_str(w.accounts[st.acct].label);
            e.req.push('/');
            e.req.push_str(p.res.split('/').next().unwrap_or("app"));
            e.req.push_str("/db-url\",\"withDecryption\":true}");
            new_ids(e, r);
        }
        _ => {
            fill_caller(e, w, st, p, t, "sts", true);
            e.version = "1.08";
            e.source = "sts.amazonaws.com";
            e.name = "GetCallerIdentity";
            new_ids(e, r);
        }
    }
    true
}

/// Generates record `rec` of file `fi` into `out` (the same inputs always give the same bytes).
fn gen_record(w: &World, files: &[FilePlan], fi: usize, rec: u32, out: &mut String, e: &mut Ev) {
    let f = &files[fi];
    let st = &w.streams[f.stream];
    let mut r = R::new(mix(mix(w.seed ^ 0x5EC0_4D00, fi as u64), rec as u64));
    let u = (f.k as f64 + r.f64()) / f.nfiles as f64;
    let t = w.time_at(st.acct, u);
    for _ in 0..8 {
        e.reset();
        let x = r.f64();
        let ok = if x < 0.82 {
            gen_crypto(w, st, &mut r, t, e)
        } else if x < 0.871 {
            gen_mgmt(w, st, &mut r, t, e)
        } else if x < 0.874 {
            gen_service_event(w, st, &mut r, t, e)
        } else {
            gen_other(w, st, &mut r, t, e)
        };
        if ok {
            e.write(out);
            return;
        }
    }
    // Fallback: a KMS service event never fails when the region has keys; otherwise STS.
    e.reset();
    e.time = t;
    e.region = w.regions[st.region];
    e.source = "sts.amazonaws.com";
    e.name = "GetCallerIdentity";
    e.version = "1.08";
    write_ident(
        &mut e.ident,
        &w.accounts[st.acct].id,
        &w.accounts[st.acct].principals[0],
        t,
    );
    e.ip.push_str("10.0.0.10");
    e.ua.push_str(SDK_UAS[0]);
    e.recipient.push_str(&w.accounts[st.acct].id);
    new_ids(e, &mut r);
    e.write(out);
}

// ---------------------------------------------------------------------------------------------
// File plan and output
// ---------------------------------------------------------------------------------------------

/// One log file to write: where, when, how many records, and which earlier records it repeats.
struct FilePlan {
    stream: usize,
    /// Index of this file within its stream and the stream's file count (time window).
    k: u32,
    nfiles: u32,
    count: u32,
    /// Positions in this file that repeat a record of an earlier file: (position, file, record).
    dups: Vec<(u32, usize, u32)>,
    delivery: i64,
    path: String,
}

fn stream_prefix(w: &World, st: &Stream) -> String {
    let a = &w.accounts[st.acct];
    if a.org {
        format!("AWSLogs/{}/{}", w.org_id, a.id)
    } else {
        format!("AWSLogs/{}", a.id)
    }
}

fn plan_files(w: &World, args: &Args) -> Vec<FilePlan> {
    let mut r = R::new(mix(args.seed, 0xF11E));
    let n = args.events;
    let ns = w.streams.len() as u64;
    let per_day = (n / (ns * args.days as u64)).max(20);
    let k_eff = (args.records_per_file as u64).min(per_day).max(1);
    let mut nf = n.div_ceil(k_eff).max(ns.min(n)).max(1);
    if n == 0 {
        nf = 0;
    }
    // Files per stream, proportional to the stream's weight, at least one each when possible.
    let total_w: f64 = w.streams.iter().map(|s| s.weight).sum();
    let mut per_stream: Vec<u64> = w
        .streams
        .iter()
        .map(|s| ((nf as f64 * s.weight / total_w).floor() as u64).max(u64::from(nf >= ns)))
        .collect();
    let mut assigned: u64 = per_stream.iter().sum();
    let mut i = 0;
    while assigned < nf {
        let len = per_stream.len();
        per_stream[i % len] += 1;
        assigned += 1;
        i += 1;
    }
    while assigned > nf {
        let j = (0..per_stream.len())
            .max_by_key(|&j| per_stream[j])
            .unwrap_or(0);
        per_stream[j] -= 1;
        assigned -= 1;
    }
    // Records per file: ±50% around the mean, summing exactly to n.
    let factors: Vec<f64> = (0..nf).map(|_| 0.5 + r.f64()).collect();
    let fsum: f64 = factors.iter().sum();
    let mut counts: Vec<u64> = factors
        .iter()
        .map(|f| ((n as f64 * f / fsum).floor() as u64).max(1))
        .collect();
    let mut total: u64 = counts.iter().sum();
    let mut i = 0usize;
    while total < n {
        let len = counts.len();
        counts[i % len] += 1;
        total += 1;
        i += 1;
    }
    while total > n {
        let j = (0..counts.len()).max_by_key(|&j| counts[j]).unwrap_or(0);
        counts[j] -= 1;
        total -= 1;
    }

    let mut files: Vec<FilePlan> = Vec::with_capacity(nf as usize);
    let mut ci = 0usize;
    for (si, st) in w.streams.iter().enumerate() {
        let nfs = per_stream[si] as u32;
        let prefix = stream_prefix(w, st);
        let acct = &w.accounts[st.acct].id;
        let region = w.regions[st.region];
        for k in 0..nfs {
            let end = w.time_at(st.acct, (k + 1) as f64 / nfs as f64);
            let delivery = end + 60 + r.below(300) as i64;
            let mut path = String::with_capacity(160);
            path.push_str(&prefix);
            path.push_str("/CloudTrail/");
            path.push_str(region);
            path.push('/');
            push_ymd_path(&mut path, delivery);
            path.push('/');
            path.push_str(acct);
            path.push_str("_CloudTrail_");
            path.push_str(region);
            path.push('_');
            push_compact(&mut path, delivery, false);
            path.push('_');
            push_from(&mut path, &mut r, 16, ALNUM);
            path.push_str(".json.gz");
            let count = counts[ci] as u32;
            ci += 1;
            // CloudTrail occasionally delivers a record twice: repeat ~0.2% of records from the
            // previous file of the same stream.
            let mut dups = Vec::new();
            if k > 0 {
                let prev = files.len() - 1;
                let prev_fresh = files[prev].count - files[prev].dups.len() as u32;
                let lambda = 0.002 * count as f64;
                let mut nd = lambda.floor() as u32 + u32::from(r.chance(lambda.fract()));
                nd = nd.min(count.saturating_sub(1)).min(prev_fresh);
                let mut pos: BTreeSet<u32> = BTreeSet::new();
                while (pos.len() as u32) < nd {
                    pos.insert(r.below(count as usize) as u32);
                }
                for p in pos {
                    dups.push((p, prev, r.below(prev_fresh as usize) as u32));
                }
            }
            files.push(FilePlan {
                stream: si,
                k,
                nfiles: nfs,
                count,
                dups,
                delivery,
                path,
            });
        }
    }
    files
}

/// Writes the records of one file into `json` as `{"Records":[...]}`.
fn render_file(w: &World, files: &[FilePlan], fi: usize, json: &mut String, e: &mut Ev) {
    let f = &files[fi];
    json.clear();
    json.push_str("{\"Records\":[");
    let mut fresh = 0u32;
    let mut d = 0usize;
    for pos in 0..f.count {
        if pos > 0 {
            json.push(',');
        }
        if d < f.dups.len() && f.dups[d].0 == pos {
            gen_record(w, files, f.dups[d].1, f.dups[d].2, json, e);
            d += 1;
        } else {
            gen_record(w, files, fi, fresh, json, e);
            fresh += 1;
        }
    }
    json.push_str("]}");
}

fn gzip(c: &mut Compressor, data: &[u8], out: &mut Vec<u8>) -> Result<usize> {
    let bound = c.gzip_compress_bound(data.len());
    if out.len() < bound {
        out.resize(bound, 0);
    }
    c.gzip_compress(data, out)
        .map_err(|e| anyhow!("gzip compression failed: {e:?}"))
}

/// Writes a few CloudTrail-Digest files per stream (plausible shape, random hashes).
fn write_digests(w: &World, files: &[FilePlan], out: &Path, level: i32) -> Result<(u64, u64)> {
    let mut r = R::new(mix(w.seed, 0xD16E57));
    let lvl = CompressionLvl::new(level).map_err(|e| anyhow!("bad level: {e:?}"))?;
    let mut c = Compressor::new(lvl);
    let mut gz = Vec::new();
    let fingerprint = hex_string(&mut r, 32);
    let mut n = 0;
    let mut bytes = 0;
    for (si, st) in w.streams.iter().enumerate() {
        let acct = &w.accounts[st.acct].id;
        let region = w.regions[st.region];
        let prefix = stream_prefix(w, st);
        let first_hour = w.start.div_euclid(3600) * 3600;
        let mut prev: Option<(String, String, String)> = None;
        for d in 0..3i64 {
            let end = first_hour + (d + 1) * 3600 + 91;
            let start = end - 3600;
            let mut key = String::new();
            key.push_str(&prefix);
            key.push_str("/CloudTrail-Digest/");
            key.push_str(region);
            key.push('/');
            push_ymd_path(&mut key, end);
            key.push('/');
            key.push_str(acct);
            key.push_str("_CloudTrail-Digest_");
            key.push_str(region);
            key.push('_');
            key.push_str(w.trail_name);
            key.push('_');
            key.push_str(w.regions[0]);
            key.push('_');
            push_compact(&mut key, end, true);
            key.push_str(".json.gz");
            let listed: Vec<&FilePlan> = files
                .iter()
                .filter(|f| f.stream == si && f.delivery >= start && f.delivery < end)
                .collect();
            let mut s = String::new();
            s.push_str("{\"awsAccountId\":\"");
            s.push_str(acct);
            s.push_str("\",\"digestStartTime\":\"");
            push_iso(&mut s, start);
            s.push_str("\",\"digestEndTime\":\"");
            push_iso(&mut s, end);
            s.push_str("\",\"digestS3Bucket\":\"");
            s.push_str(&w.trail_bucket);
            s.push_str("\",\"digestS3Object\":\"");
            s.push_str(&key);
            s.push_str("\",\"digestPublicKeyFingerprint\":\"");
            s.push_str(&fingerprint);
            s.push_str("\",\"digestSignatureAlgorithm\":\"SHA256withRSA\",\"newestEventTime\":");
            let times = |f: &FilePlan| {
                (
                    w.time_at(st.acct, f.k as f64 / f.nfiles as f64),
                    w.time_at(st.acct, (f.k + 1) as f64 / f.nfiles as f64),
                )
            };
            if listed.is_empty() {
                s.push_str("null,\"oldestEventTime\":null");
            } else {
                let oldest = listed.iter().map(|f| times(f).0).min().unwrap_or(start);
                let newest = listed.iter().map(|f| times(f).1).max().unwrap_or(end);
                s.push('"');
                push_iso(&mut s, newest);
                s.push_str("\",\"oldestEventTime\":\"");
                push_iso(&mut s, oldest);
                s.push('"');
            }
            match &prev {
                None => s.push_str(",\"previousDigestS3Bucket\":null,\"previousDigestS3Object\":null,\"previousDigestHashValue\":null,\"previousDigestHashAlgorithm\":null,\"previousDigestSignature\":null"),
                Some((obj, hash, sig)) => {
                    s.push_str(",\"previousDigestS3Bucket\":\"");
                    s.push_str(&w.trail_bucket);
                    s.push_str("\",\"previousDigestS3Object\":\"");
                    s.push_str(obj);
                    s.push_str("\",\"previousDigestHashValue\":\"");
                    s.push_str(hash);
                    s.push_str("\",\"previousDigestHashAlgorithm\":\"SHA-256\",\"previousDigestSignature\":\"");
                    s.push_str(sig);
                    s.push('"');
                }
            }
            s.push_str(",\"logFiles\":[");
            for (i, f) in listed.iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                let (o, nw) = times(f);
                s.push_str("{\"s3Bucket\":\"");
                s.push_str(&w.trail_bucket);
                s.push_str("\",\"s3Object\":\"");
                s.push_str(&f.path);
                s.push_str("\",\"hashValue\":\"");
                push_hex(&mut s, &mut r, 64);
                s.push_str("\",\"hashAlgorithm\":\"SHA-256\",\"newestEventTime\":\"");
                push_iso(&mut s, nw);
                s.push_str("\",\"oldestEventTime\":\"");
                push_iso(&mut s, o);
                s.push_str("\"}");
            }
            s.push_str("]}");
            let path = out.join(&key);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            let len = gzip(&mut c, s.as_bytes(), &mut gz)?;
            fs::write(&path, &gz[..len]).with_context(|| format!("writing {}", path.display()))?;
            n += 1;
            bytes += len as u64;
            prev = Some((key, hex_string(&mut r, 64), hex_string(&mut r, 512)));
        }
    }
    Ok((n, bytes))
}

fn human_bytes(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.2} GB", b as f64 / 1e9)
    } else {
        format!("{:.1} MB", b as f64 / 1e6)
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    let t0 = Instant::now();
    let logs = args.out.join("AWSLogs");
    if logs.exists() {
        bail!(
            "{} already exists; remove it first (gen-trail never mixes two trails)",
            logs.display()
        );
    }
    let world = build_world(&args)?;
    let files = plan_files(&world, &args);

    let dirs: BTreeSet<PathBuf> = files
        .iter()
        .filter_map(|f| args.out.join(&f.path).parent().map(Path::to_path_buf))
        .collect();
    for d in &dirs {
        fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }

    let lvl = CompressionLvl::new(args.level).map_err(|e| anyhow!("bad --level: {e:?}"))?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads)
        .build()
        .context("building the thread pool")?;
    let (raw, packed) = pool.install(|| {
        (0..files.len())
            .into_par_iter()
            .map_init(
                || {
                    (
                        Compressor::new(lvl),
                        String::with_capacity(2 << 20),
                        Vec::new(),
                        Ev::default(),
                    )
                },
                |(c, json, gz, e), fi| -> Result<(u64, u64)> {
                    render_file(&world, &files, fi, json, e);
                    let len = gzip(c, json.as_bytes(), gz)?;
                    let path = args.out.join(&files[fi].path);
                    fs::write(&path, &gz[..len])
                        .with_context(|| format!("writing {}", path.display()))?;
                    Ok((json.len() as u64, len as u64))
                },
            )
            .try_reduce(|| (0, 0), |a, b| Ok((a.0 + b.0, a.1 + b.1)))
    })?;
    let (ndigests, digest_bytes) = write_digests(&world, &files, &args.out, args.level)?;
    let dups: usize = files.iter().map(|f| f.dups.len()).sum();
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "gen-trail: files={} digests={} events={} duplicates={} uncompressed_bytes={} compressed_bytes={} seconds={:.1} ({} JSON -> {} gzip, {:.0} MB/s)",
        files.len(),
        ndigests,
        args.events,
        dups,
        raw,
        packed + digest_bytes,
        secs,
        human_bytes(raw),
        human_bytes(packed + digest_bytes),
        raw as f64 / 1e6 / secs.max(1e-9)
    );
    Ok(())
}
