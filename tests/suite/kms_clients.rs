//! Real AWS clients other than the Rust SDK against a running `kms-audit kms serve`: boto3
//! (tests/clients/boto3_kms.py) and the AWS CLI (v1 or v2), unchanged apart from the endpoint
//! URL. Each test starts the real server on a free loopback port with a temporary data and
//! trail directory, runs the client as two identities (Alice, allowed `kms:*` by an identity
//! policy; Bob, with no policy), checks every answer, and then checks that the server's
//! CloudTrail records name the client's identity and user agent.
//!
//! The clients come from the environment: `KMS_AUDIT_PYTHON` (default `python3`) must import
//! boto3, and `KMS_AUDIT_AWS_CLI` (default `aws`) must run. When one is missing its test skips
//! loudly (it says why on stderr), unless `KMS_AUDIT_REQUIRE_CLIENTS=1`, which `.ci/run` sets
//! after installing both into a virtual environment: then it fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PSS_2048_8192_SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::Value;

use crate::server::{trail_records, ServerProcess};

/// The account both identities belong to, and the server's Region.
const ACCOUNT: &str = "111122223333";
const REGION: &str = "us-east-1";
/// Alice: an IAM user allowed `kms:*` by her identity policy.
const ALICE_KEY_ID: &str = "AKIAEXAMPLEALICE0001";
const ALICE_SECRET: &str = "alice-secret-access-key";
const ALICE_ARN: &str = "arn:aws:iam::111122223333:user/alice";
/// Bob: an IAM user in the same account with no identity policy, so the default key policy
/// (which delegates to IAM) gives him nothing.
const BOB_KEY_ID: &str = "AKIAEXAMPLEBOB000002";
const BOB_SECRET: &str = "bob-secret-access-key";
const BOB_ARN: &str = "arn:aws:iam::111122223333:user/bob";
/// Set to `1` to make a missing client a failure instead of a skip.
const REQUIRE_CLIENTS: &str = "KMS_AUDIT_REQUIRE_CLIENTS";
/// How long to wait for the records of the client's calls to reach the trail directory.
const TRAIL_TIMEOUT: Duration = Duration::from_secs(30);
/// The store's root key (64 hex digits), given through the environment.
const ROOT_KEY_HEX: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

/// The server's configuration: two SigV4 credentials mapped to IAM users, Alice's identity
/// policy, and a trail flushed every second so that the records can be checked.
fn config(trail: &Path) -> String {
    format!(
        r#"region: {REGION}
credentials:
  - access_key_id: {ALICE_KEY_ID}
    secret_access_key: {ALICE_SECRET}
    account: "{ACCOUNT}"
    user: alice
  - access_key_id: {BOB_KEY_ID}
    secret_access_key: {BOB_SECRET}
    account: "{ACCOUNT}"
    user: bob
identity_policies:
  "{ALICE_ARN}":
    - '{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}'
trail:
  dir: {trail}
  flush_interval: 1s
"#,
        trail = trail.display()
    )
}

/// Prints why `test` is skipped and returns `None`, or panics when `KMS_AUDIT_REQUIRE_CLIENTS`
/// is set so that CI cannot skip silently.
fn skip<T>(test: &str, why: &str) -> Option<T> {
    let required = std::env::var(REQUIRE_CLIENTS).is_ok_and(|v| !v.is_empty() && v != "0");
    assert!(
        !required,
        "{test}: {why} ({REQUIRE_CLIENTS} is set, so this fails instead of skipping)"
    );
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
    println!("SKIPPED {test}: {why}");
    None
}

/// The first lines of a process's stderr, for skip and failure messages.
fn stderr_head(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .take(5)
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The Python that imports boto3, or a skip.
fn python_with_boto3(test: &str) -> Option<String> {
    let python = std::env::var("KMS_AUDIT_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    match Command::new(&python)
        .args(["-c", "import boto3, botocore; print(boto3.__version__)"])
        .output()
    {
        Ok(out) if out.status.success() => Some(python),
        Ok(out) => skip(
            test,
            &format!("boto3 not importable by {python}: {}", stderr_head(&out)),
        ),
        Err(err) => skip(test, &format!("{python} cannot run: {err}")),
    }
}

/// The AWS CLI, or a skip.
fn aws_cli(test: &str) -> Option<(String, String)> {
    let aws = std::env::var("KMS_AUDIT_AWS_CLI").unwrap_or_else(|_| "aws".to_owned());
    match Command::new(&aws).arg("--version").output() {
        Ok(out) if out.status.success() => {
            // v1 prints its version on stderr, v2 on stdout.
            let version = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            Some((aws, version.trim().to_owned()))
        }
        Ok(out) => skip(
            test,
            &format!("`{aws} --version` failed: {}", stderr_head(&out)),
        ),
        Err(err) => skip(test, &format!("the AWS CLI ({aws}) cannot run: {err}")),
    }
}

/// A running `kms-audit kms serve` in a temporary directory, stopped when dropped.
struct Server {
    process: ServerProcess,
    endpoint: String,
    trail: PathBuf,
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let trail = dir.path().join("trail");
        let config_path = dir.path().join("kms.yaml");
        std::fs::write(&config_path, config(&trail)).expect("write the config");
        let process = ServerProcess::start(
            &config_path,
            &dir.path().join("data"),
            Some(&trail),
            Some(ROOT_KEY_HEX),
        );
        Self {
            endpoint: process.url.clone(),
            process,
            trail,
            dir,
        }
    }

    fn stderr(&self) -> String {
        self.process.stderr()
    }

    /// Every CloudTrail record delivered so far (log files only, digests skipped).
    fn records(&self) -> Vec<Value> {
        trail_records(&self.trail)
    }

    /// Waits until the trail holds a record for every `(caller ARN, eventName)` in `wanted`
    /// whose userAgent starts with `agent`; returns those records, or panics with what is
    /// missing.
    fn wait_for_records(&self, agent: &str, wanted: &[(&str, &str)]) -> Vec<Value> {
        let deadline = Instant::now() + TRAIL_TIMEOUT;
        loop {
            let records: Vec<Value> = self
                .records()
                .into_iter()
                .filter(|r| {
                    r.get("userAgent")
                        .and_then(Value::as_str)
                        .is_some_and(|ua| ua.starts_with(agent))
                })
                .collect();
            let missing: Vec<_> = wanted
                .iter()
                .filter(|(arn, event)| !records.iter().any(|r| is_call(r, arn, event)))
                .collect();
            if missing.is_empty() {
                return records;
            }
            assert!(
                Instant::now() < deadline,
                "after {TRAIL_TIMEOUT:?} the trail in {} has no record with userAgent `{agent}…` \
                 for {missing:?}; it has {} such records; server stderr:\n{}",
                self.trail.display(),
                records.len(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

fn is_call(record: &Value, arn: &str, event: &str) -> bool {
    record.pointer("/userIdentity/arn").and_then(Value::as_str) == Some(arn)
        && record.get("eventName").and_then(Value::as_str) == Some(event)
}

fn str_at<'v>(value: &'v Value, pointer: &str) -> &'v str {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string at {pointer} in {value:#}"))
}

fn b64(value: &Value, pointer: &str) -> Vec<u8> {
    STANDARD
        .decode(str_at(value, pointer))
        .unwrap_or_else(|e| panic!("{pointer} is not base64 ({e}) in {value:#}"))
}

/// Checks an RSASSA-PSS SHA-256 signature with the public key (DER SubjectPublicKeyInfo) the
/// server handed out, independently of the server's own Verify.
fn pss_signature_is_valid(public_key_der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA256, public_key_der)
        .verify(message, signature)
        .is_ok()
}

fn key_arn(key_id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}")
}

#[test]
fn boto3_drives_the_server_like_aws() {
    const TEST: &str = "boto3_drives_the_server_like_aws";
    let Some(python) = python_with_boto3(TEST) else {
        return;
    };
    let server = Server::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/boto3_kms.py");
    let mut command = Command::new(&python);
    command
        .arg(&script)
        .args(["--endpoint-url", &server.endpoint, "--region", REGION])
        .arg("--alice")
        .arg(format!("{ALICE_KEY_ID}:{ALICE_SECRET}"))
        .arg("--bob")
        .arg(format!("{BOB_KEY_ID}:{BOB_SECRET}"));
    isolate_from_aws_config(&mut command, server.dir.path());
    let out = command.output().expect("run the boto3 script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let seen: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "the boto3 script did not print JSON ({e}); exit {:?}\nstdout:\n{stdout}\nstderr:\n{}\nserver:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            server.stderr()
        )
    });
    let context = format!("boto3 saw:\n{seen:#}\nserver stderr:\n{}", server.stderr());
    assert!(out.status.success(), "the boto3 script failed; {context}");

    // CreateKey, CreateAlias, DescribeKey by alias, ListAliases.
    let key_id = str_at(&seen, "/create_key/KeyMetadata/KeyId").to_owned();
    assert_eq!(
        str_at(&seen, "/create_key/KeyMetadata/Arn"),
        key_arn(&key_id),
        "{context}"
    );
    assert_eq!(
        str_at(&seen, "/create_key/KeyMetadata/KeySpec"),
        "SYMMETRIC_DEFAULT",
        "{context}"
    );
    assert_eq!(
        str_at(&seen, "/create_key/KeyMetadata/KeyState"),
        "Enabled",
        "{context}"
    );
    assert_eq!(
        seen.pointer("/create_alias/_http_status"),
        Some(&Value::from(200)),
        "{context}"
    );
    assert_eq!(
        str_at(&seen, "/describe_alias/KeyMetadata/KeyId"),
        key_id,
        "{context}"
    );
    let aliases = seen
        .pointer("/list_aliases/Aliases")
        .and_then(Value::as_array);
    assert!(
        aliases.is_some_and(|list| list
            .iter()
            .any(|a| a["AliasName"] == "alias/boto3-app" && a["TargetKeyId"] == key_id.as_str())),
        "ListAliases does not show alias/boto3-app → {key_id}; {context}"
    );

    // Encrypt / Decrypt with encryption context; the wrong context is rejected.
    let plaintext = b64(&seen, "/plaintext_sent");
    assert_eq!(
        str_at(&seen, "/encrypt/KeyId"),
        key_arn(&key_id),
        "{context}"
    );
    assert_eq!(
        str_at(&seen, "/encrypt/EncryptionAlgorithm"),
        "SYMMETRIC_DEFAULT",
        "{context}"
    );
    let ciphertext = b64(&seen, "/encrypt/CiphertextBlob");
    assert!(
        ciphertext
            .windows(plaintext.len())
            .all(|w| w != plaintext.as_slice()),
        "the ciphertext contains the plaintext; {context}"
    );
    assert_eq!(b64(&seen, "/decrypt/Plaintext"), plaintext, "{context}");
    assert_eq!(
        str_at(&seen, "/decrypt/KeyId"),
        key_arn(&key_id),
        "{context}"
    );
    assert_eq!(
        str_at(&seen, "/decrypt_wrong_context/error"),
        "InvalidCiphertextException",
        "{context}"
    );

    // GenerateDataKey: 32 bytes of key, and its CiphertextBlob decrypts to them.
    let data_key = b64(&seen, "/generate_data_key/Plaintext");
    assert_eq!(data_key.len(), 32, "{context}");
    assert_eq!(
        b64(&seen, "/decrypt_data_key/Plaintext"),
        data_key,
        "{context}"
    );

    // Sign / Verify with an RSA key; the signature checks out with the public key too.
    assert_eq!(
        str_at(&seen, "/create_rsa_key/KeyMetadata/KeySpec"),
        "RSA_2048",
        "{context}"
    );
    assert_eq!(
        str_at(&seen, "/create_rsa_key/KeyMetadata/KeyUsage"),
        "SIGN_VERIFY",
        "{context}"
    );
    let message = b64(&seen, "/message_signed");
    let signature = b64(&seen, "/sign/Signature");
    assert_eq!(
        str_at(&seen, "/sign/SigningAlgorithm"),
        "RSASSA_PSS_SHA_256",
        "{context}"
    );
    assert_eq!(
        seen.pointer("/verify/SignatureValid"),
        Some(&Value::Bool(true)),
        "{context}"
    );
    assert_eq!(
        str_at(&seen, "/verify_tampered/error"),
        "KMSInvalidSignatureException",
        "{context}"
    );
    assert!(
        pss_signature_is_valid(
            &b64(&seen, "/get_public_key/PublicKey"),
            &message,
            &signature
        ),
        "the signature does not verify with GetPublicKey's key; {context}"
    );

    // Bob is denied, with KMS's typed error.
    assert_eq!(
        str_at(&seen, "/denied_encrypt/error"),
        "AccessDeniedException",
        "{context}"
    );
    assert_eq!(
        seen.pointer("/denied_encrypt/http_status"),
        Some(&Value::from(400)),
        "{context}"
    );
    assert!(
        str_at(&seen, "/denied_encrypt/message").contains(BOB_ARN),
        "the AccessDeniedException message does not name Bob; {context}"
    );

    // The server recorded boto3's calls under the right identities and user agent.
    let records = server.wait_for_records(
        "Boto3/",
        &[
            (ALICE_ARN, "CreateKey"),
            (ALICE_ARN, "CreateAlias"),
            (ALICE_ARN, "Encrypt"),
            (ALICE_ARN, "Decrypt"),
            (ALICE_ARN, "GenerateDataKey"),
            (ALICE_ARN, "Sign"),
            (ALICE_ARN, "Verify"),
            (BOB_ARN, "Encrypt"),
        ],
    );
    let denied = records
        .iter()
        .find(|r| is_call(r, BOB_ARN, "Encrypt"))
        .expect("waited for it");
    assert!(
        denied
            .get("errorCode")
            .and_then(Value::as_str)
            .is_some_and(|c| c.starts_with("AccessDenied")),
        "Bob's Encrypt record has no AccessDenied errorCode: {denied:#}"
    );
    let failed_decrypt = records
        .iter()
        .filter(|r| is_call(r, ALICE_ARN, "Decrypt"))
        .filter_map(|r| r.get("errorCode").and_then(Value::as_str))
        .collect::<Vec<_>>();
    assert_eq!(
        failed_decrypt,
        ["InvalidCiphertextException"],
        "{records:#?}"
    );
}

/// Keeps a client away from the user's AWS configuration and from retries: only the
/// credentials the test passes count.
fn isolate_from_aws_config(command: &mut Command, dir: &Path) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            command.env_remove(name);
        }
    }
    command
        .env("AWS_CONFIG_FILE", dir.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            dir.join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_RETRY_MODE", "standard")
        .env("AWS_PAGER", "")
        .env("AWS_CLI_AUTO_PROMPT", "off");
}

/// Runs the AWS CLI as one identity against the server, with JSON output.
struct Cli<'s> {
    aws: String,
    server: &'s Server,
    files: PathBuf,
}

impl Cli<'_> {
    fn run(&self, credentials: (&str, &str), args: &[&str]) -> Output {
        let mut command = Command::new(&self.aws);
        command
            .args(args)
            .args(["--endpoint-url", &self.server.endpoint])
            .args(["--region", REGION, "--output", "json"]);
        isolate_from_aws_config(&mut command, &self.files);
        command
            .env("AWS_ACCESS_KEY_ID", credentials.0)
            .env("AWS_SECRET_ACCESS_KEY", credentials.1);
        command
            .output()
            .unwrap_or_else(|e| panic!("run {} {args:?}: {e}", self.aws))
    }

    /// Alice's call, which must succeed; its JSON output (`null` for none).
    fn ok(&self, args: &[&str]) -> Value {
        let out = self.run((ALICE_KEY_ID, ALICE_SECRET), args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "aws {args:?} failed ({:?}):\n{}\nserver stderr:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.server.stderr()
        );
        if stdout.trim().is_empty() {
            return Value::Null;
        }
        serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("aws {args:?} printed no JSON ({e}):\n{stdout}"))
    }

    /// A file under the test's directory holding `bytes`, as a `fileb://` argument (the same
    /// in CLI v1 and v2, which read raw bytes from it).
    fn fileb(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.files.join(name);
        std::fs::write(&path, bytes).expect("write a CLI input file");
        format!("fileb://{}", path.display())
    }
}

/// A failed CLI call: its exit status and the `An error occurred (Code) when calling the Op
/// operation: message` line.
fn assert_cli_error(out: &Output, code: &str, operation: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // v1 exits 255 on a service error, v2 254.
    assert!(
        matches!(out.status.code(), Some(254 | 255)),
        "expected the CLI's service-error exit status (254/255), got {:?}; stderr:\n{stderr}",
        out.status
    );
    let wanted = format!("An error occurred ({code}) when calling the {operation} operation");
    assert!(
        stderr.contains(&wanted),
        "stderr lacks `{wanted}`:\n{stderr}"
    );
    stderr
}

#[test]
fn aws_cli_drives_the_server_like_aws() {
    const TEST: &str = "aws_cli_drives_the_server_like_aws";
    let Some((aws, version)) = aws_cli(TEST) else {
        return;
    };
    eprintln!("{TEST}: using {aws}: {version}");
    let server = Server::start();
    let files = server.dir.path().join("cli");
    std::fs::create_dir_all(&files).expect("CLI file directory");
    let cli = Cli {
        aws,
        server: &server,
        files,
    };
    let context = "app=kms-clients,purpose=cli-test";

    // CreateKey, CreateAlias, ListAliases.
    let created = cli.ok(&[
        "kms",
        "create-key",
        "--description",
        "created by the AWS CLI",
    ]);
    let key_id = str_at(&created, "/KeyMetadata/KeyId").to_owned();
    assert_eq!(str_at(&created, "/KeyMetadata/Arn"), key_arn(&key_id));
    assert_eq!(
        cli.ok(&[
            "kms",
            "create-alias",
            "--alias-name",
            "alias/cli-app",
            "--target-key-id",
            &key_id
        ]),
        Value::Null
    );
    let aliases = cli.ok(&["kms", "list-aliases", "--key-id", &key_id]);
    assert_eq!(
        str_at(&aliases, "/Aliases/0/AliasName"),
        "alias/cli-app",
        "{aliases:#}"
    );

    // Encrypt / Decrypt with encryption context, through the alias.
    let plaintext = b"the AWS CLI says hello \x00\xff";
    let pt = cli.fileb("plaintext.bin", plaintext);
    let encrypted = cli.ok(&[
        "kms",
        "encrypt",
        "--key-id",
        "alias/cli-app",
        "--plaintext",
        &pt,
        "--encryption-context",
        context,
    ]);
    assert_eq!(str_at(&encrypted, "/KeyId"), key_arn(&key_id));
    let ct = cli.fileb("ciphertext.bin", &b64(&encrypted, "/CiphertextBlob"));
    let decrypted = cli.ok(&[
        "kms",
        "decrypt",
        "--ciphertext-blob",
        &ct,
        "--encryption-context",
        context,
    ]);
    assert_eq!(b64(&decrypted, "/Plaintext"), plaintext);
    assert_eq!(str_at(&decrypted, "/KeyId"), key_arn(&key_id));
    let wrong = cli.run(
        (ALICE_KEY_ID, ALICE_SECRET),
        &[
            "kms",
            "decrypt",
            "--ciphertext-blob",
            &ct,
            "--encryption-context",
            "app=other",
        ],
    );
    assert_cli_error(&wrong, "InvalidCiphertextException", "Decrypt");

    // GenerateDataKey, and the data key's blob decrypts to it.
    let data_key = cli.ok(&[
        "kms",
        "generate-data-key",
        "--key-id",
        &key_id,
        "--key-spec",
        "AES_256",
        "--encryption-context",
        context,
    ]);
    let key_bytes = b64(&data_key, "/Plaintext");
    assert_eq!(key_bytes.len(), 32);
    let blob = cli.fileb("data-key.bin", &b64(&data_key, "/CiphertextBlob"));
    let opened = cli.ok(&[
        "kms",
        "decrypt",
        "--ciphertext-blob",
        &blob,
        "--encryption-context",
        context,
    ]);
    assert_eq!(b64(&opened, "/Plaintext"), key_bytes);

    // Sign / Verify with an RSA key.
    let rsa = cli.ok(&[
        "kms",
        "create-key",
        "--key-spec",
        "RSA_2048",
        "--key-usage",
        "SIGN_VERIFY",
    ]);
    let rsa_id = str_at(&rsa, "/KeyMetadata/KeyId").to_owned();
    let message = b"a message signed through the AWS CLI";
    let msg = cli.fileb("message.bin", message);
    let signed = cli.ok(&[
        "kms",
        "sign",
        "--key-id",
        &rsa_id,
        "--message",
        &msg,
        "--message-type",
        "RAW",
        "--signing-algorithm",
        "RSASSA_PSS_SHA_256",
    ]);
    let signature = b64(&signed, "/Signature");
    let sig = cli.fileb("signature.bin", &signature);
    let verified = cli.ok(&[
        "kms",
        "verify",
        "--key-id",
        &rsa_id,
        "--message",
        &msg,
        "--message-type",
        "RAW",
        "--signature",
        &sig,
        "--signing-algorithm",
        "RSASSA_PSS_SHA_256",
    ]);
    assert_eq!(
        verified.get("SignatureValid"),
        Some(&Value::Bool(true)),
        "{verified:#}"
    );
    let public = cli.ok(&["kms", "get-public-key", "--key-id", &rsa_id]);
    assert!(
        pss_signature_is_valid(&b64(&public, "/PublicKey"), message, &signature),
        "the CLI's signature does not verify with GetPublicKey's key"
    );

    // Bob is denied: the CLI's service-error exit status and KMS's error code.
    let denied = cli.run(
        (BOB_KEY_ID, BOB_SECRET),
        &[
            "kms",
            "encrypt",
            "--key-id",
            &key_id,
            "--plaintext",
            &pt,
            "--encryption-context",
            context,
        ],
    );
    let stderr = assert_cli_error(&denied, "AccessDeniedException", "Encrypt");
    assert!(
        stderr.contains(BOB_ARN),
        "the message does not name Bob:\n{stderr}"
    );

    // The server recorded the CLI's calls under the right identities and user agent.
    let records = server.wait_for_records(
        "aws-cli/",
        &[
            (ALICE_ARN, "CreateKey"),
            (ALICE_ARN, "CreateAlias"),
            (ALICE_ARN, "Encrypt"),
            (ALICE_ARN, "Decrypt"),
            (ALICE_ARN, "GenerateDataKey"),
            (ALICE_ARN, "Sign"),
            (ALICE_ARN, "Verify"),
            (BOB_ARN, "Encrypt"),
        ],
    );
    let mut by_event: BTreeMap<&str, usize> = BTreeMap::new();
    for record in &records {
        if let Some(event) = record.get("eventName").and_then(Value::as_str) {
            *by_event.entry(event).or_default() += 1;
        }
    }
    // Decrypt: the message, the wrong context, the data key.
    assert_eq!(by_event.get("Decrypt"), Some(&3), "{by_event:?}");
    assert_eq!(by_event.get("Encrypt"), Some(&2), "{by_event:?}");
}
