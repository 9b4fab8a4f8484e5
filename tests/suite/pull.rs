//! CloudTrail `LookupEvents` on the mini-KMS server and `kms-audit pull`, end to end: the real
//! binary serves on a loopback port, aws-sdk-kms makes calls as two identities of one account
//! and one of another, aws-sdk-cloudtrail looks the events up (attributes, time range,
//! paging, typed errors), and `kms-audit pull` brings them into a lake that `scan` reads.

use std::path::Path;
use std::process::{Command, Output};

use aws_sdk_cloudtrail::primitives::DateTime as SdkTime;
use aws_sdk_cloudtrail::types::{Event, LookupAttribute, LookupAttributeKey};
use aws_sdk_kms::primitives::Blob;
use serde_json::Value;

use crate::server::ServerProcess;

const BIN: &str = env!("CARGO_BIN_EXE_kms-audit");
const REGION: &str = "us-east-1";
const ACCOUNT: &str = "111122223333";
const OTHER_ACCOUNT: &str = "444455556666";
const ALICE: (&str, &str) = ("AKIAEXAMPLEALICE0001", "alice-secret");
const DEPLOYER: (&str, &str) = ("ASIAEXAMPLEDEPLOY001", "deployer-secret");
const BOB: (&str, &str) = ("AKIAEXAMPLEBOBOTHER1", "bob-secret");
/// A root key for the store (64 hex digits), given through the environment.
const ROOT_KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const ALLOW_ALL_KMS: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}"#;

/// A running `kms-audit kms serve` over a temporary directory, stopped when dropped.
struct Server {
    process: ServerProcess,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("kms.yaml");
        std::fs::write(
            &config,
            format!(
                r#"region: {REGION}
credentials:
  - access_key_id: {alice_key}
    secret_access_key: {alice_secret}
    account: "{ACCOUNT}"
    user: alice
  - access_key_id: {deployer_key}
    secret_access_key: {deployer_secret}
    account: "{ACCOUNT}"
    role: deployer
    session: ci-42
  - access_key_id: {bob_key}
    secret_access_key: {bob_secret}
    account: "{OTHER_ACCOUNT}"
    user: bob
identity_policies:
  "arn:aws:iam::{ACCOUNT}:user/alice": ['{ALLOW_ALL_KMS}']
  "arn:aws:iam::{ACCOUNT}:role/deployer": ['{ALLOW_ALL_KMS}']
  "arn:aws:iam::{OTHER_ACCOUNT}:user/bob": ['{ALLOW_ALL_KMS}']
"#,
                alice_key = ALICE.0,
                alice_secret = ALICE.1,
                deployer_key = DEPLOYER.0,
                deployer_secret = DEPLOYER.1,
                bob_key = BOB.0,
                bob_secret = BOB.1,
            ),
        )
        .expect("config");
        let process = ServerProcess::start(
            &config,
            &dir.path().join("data"),
            Some(&dir.path().join("trail")),
            Some(ROOT_KEY),
        );
        Self { process, _dir: dir }
    }
}

impl std::ops::Deref for Server {
    type Target = ServerProcess;

    fn deref(&self) -> &ServerProcess {
        &self.process
    }
}

fn credentials((key, secret): (&str, &str)) -> aws_sdk_kms::config::Credentials {
    aws_sdk_kms::config::Credentials::new(key, secret, None, None, "tests/suite/pull.rs")
}

fn cloudtrail(server: &Server, who: (&str, &str)) -> aws_sdk_cloudtrail::Client {
    let config = aws_sdk_cloudtrail::config::Builder::new()
        .behavior_version(aws_sdk_cloudtrail::config::BehaviorVersion::latest())
        .endpoint_url(&server.url)
        .region(aws_sdk_cloudtrail::config::Region::new(REGION))
        .credentials_provider(credentials(who))
        .build();
    aws_sdk_cloudtrail::Client::from_conf(config)
}

fn attribute(key: LookupAttributeKey, value: &str) -> LookupAttribute {
    LookupAttribute::builder()
        .attribute_key(key)
        .attribute_value(value)
        .build()
        .expect("attribute")
}

/// Every event of a lookup, following NextToken.
async fn all(client: &aws_sdk_cloudtrail::Client, attr: Option<LookupAttribute>) -> Vec<Event> {
    let mut events = Vec::new();
    let mut token = None;
    loop {
        let page = client
            .lookup_events()
            .set_lookup_attributes(attr.clone().map(|a| vec![a]))
            .set_next_token(token)
            .send()
            .await
            .expect("LookupEvents");
        events.extend(page.events().iter().cloned());
        match page.next_token {
            Some(next) => token = Some(next),
            None => return events,
        }
    }
}

fn names(events: &[Event]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e.event_name().unwrap_or("?"))
        .collect()
}

/// The KMS calls every test looks up: alice creates two keys and encrypts and decrypts under
/// the first; the deployer session describes the second and encrypts under it; bob, in
/// another account, creates a key of his own. Returns the two key ARNs of alice's account.
async fn make_calls(server: &Server) -> (String, String) {
    let alice = server.client(ALICE);
    let first = alice.create_key().send().await.expect("CreateKey");
    let first = first
        .key_metadata()
        .expect("metadata")
        .arn()
        .expect("arn")
        .to_owned();
    let second = alice.create_key().send().await.expect("CreateKey");
    let second = second
        .key_metadata()
        .expect("metadata")
        .arn()
        .expect("arn")
        .to_owned();
    let sealed = alice
        .encrypt()
        .key_id(&first)
        .plaintext(Blob::new(b"pull me".to_vec()))
        .send()
        .await
        .expect("Encrypt");
    alice
        .decrypt()
        .ciphertext_blob(sealed.ciphertext_blob().expect("ciphertext").clone())
        .send()
        .await
        .expect("Decrypt");
    let deployer = server.client(DEPLOYER);
    deployer
        .describe_key()
        .key_id(&second)
        .send()
        .await
        .expect("DescribeKey");
    deployer
        .encrypt()
        .key_id(&second)
        .plaintext(Blob::new(b"deploy".to_vec()))
        .send()
        .await
        .expect("Encrypt");
    server
        .client(BOB)
        .create_key()
        .send()
        .await
        .expect("bob's CreateKey");
    (first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookup_events_answers_the_cloudtrail_sdk() {
    let server = Server::start();
    let before = SdkTime::from_secs(chrono::Utc::now().timestamp() - 1);
    let (first, second) = make_calls(&server).await;
    let trail = cloudtrail(&server, ALICE);

    // Everything of alice's account, newest first; bob's event is his account's only.
    let events = all(&trail, None).await;
    assert_eq!(
        names(&events),
        [
            "Encrypt",
            "DescribeKey",
            "Decrypt",
            "Encrypt",
            "CreateKey",
            "CreateKey"
        ]
    );
    let times: Vec<SdkTime> = events
        .iter()
        .map(|e| *e.event_time().expect("time"))
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {times:?}"
    );
    for event in &events {
        let record: Value =
            serde_json::from_str(event.cloud_trail_event().expect("record")).expect("JSON");
        assert_eq!(record["eventID"].as_str(), event.event_id());
        assert_eq!(record["eventName"].as_str(), event.event_name());
        assert_eq!(record["recipientAccountId"], ACCOUNT);
        assert_eq!(event.event_source(), Some("kms.amazonaws.com"));
        assert!(matches!(event.read_only(), Some("true" | "false")));
        assert!(*event.event_time().expect("time") >= before);
    }
    let bob = all(&cloudtrail(&server, BOB), None).await;
    assert_eq!(names(&bob), ["CreateKey"]);
    assert_eq!(bob[0].username(), Some("bob"));

    // One attribute at a time.
    let by = |key: LookupAttributeKey, value: &str| all(&trail, Some(attribute(key, value)));
    let alices = by(LookupAttributeKey::Username, "alice").await;
    assert_eq!(
        names(&alices),
        ["Decrypt", "Encrypt", "CreateKey", "CreateKey"]
    );
    assert!(alices.iter().all(|e| e.access_key_id() == Some(ALICE.0)));
    let sessions = by(LookupAttributeKey::Username, "ci-42").await;
    assert_eq!(names(&sessions), ["Encrypt", "DescribeKey"]);
    assert_eq!(
        names(&by(LookupAttributeKey::AccessKeyId, DEPLOYER.0).await),
        ["Encrypt", "DescribeKey"]
    );
    assert_eq!(
        names(&by(LookupAttributeKey::EventName, "Encrypt").await),
        ["Encrypt", "Encrypt"]
    );
    let on_second = by(LookupAttributeKey::ResourceName, &second).await;
    assert_eq!(names(&on_second), ["Encrypt", "DescribeKey", "CreateKey"]);
    assert!(on_second.iter().all(|e| {
        e.resources().iter().any(|r| {
            r.resource_type() == Some("AWS::KMS::Key") && r.resource_name() == Some(&second)
        })
    }));
    assert_eq!(by(LookupAttributeKey::ResourceName, &first).await.len(), 3);
    let read = by(LookupAttributeKey::ReadOnly, "true").await.len();
    let written = by(LookupAttributeKey::ReadOnly, "false").await.len();
    assert_eq!(read + written, events.len());
    assert!(written >= 2, "CreateKey writes");
    assert_eq!(
        by(LookupAttributeKey::EventSource, "kms.amazonaws.com")
            .await
            .len(),
        6
    );
    assert!(by(LookupAttributeKey::EventSource, "s3.amazonaws.com")
        .await
        .is_empty());
    let id = events[2].event_id().expect("id");
    assert_eq!(
        names(&by(LookupAttributeKey::EventId, id).await),
        ["Decrypt"]
    );

    // Time range: both ends inclusive.
    let newest = *events[0].event_time().expect("time");
    let at_newest = trail
        .lookup_events()
        .start_time(newest)
        .end_time(newest)
        .send()
        .await
        .expect("range");
    assert!(!at_newest.events().is_empty());
    assert!(at_newest
        .events()
        .iter()
        .all(|e| e.event_time() == Some(&newest)));
    let later = SdkTime::from_secs(newest.secs() + 3600);
    let none = trail
        .lookup_events()
        .start_time(SdkTime::from_secs(newest.secs() + 1))
        .end_time(later)
        .send()
        .await
        .expect("future");
    assert!(none.events().is_empty() && none.next_token().is_none());

    // MaxResults 2: three pages, the same events.
    let mut paged = Vec::new();
    let mut token = None;
    let mut pages = 0;
    loop {
        let page = trail
            .lookup_events()
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .expect("page");
        pages += 1;
        assert!(page.events().len() <= 2);
        paged.extend(
            page.events()
                .iter()
                .map(|e| e.event_id().map(str::to_owned)),
        );
        match page.next_token {
            Some(next) => token = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let ids: Vec<Option<String>> = events
        .iter()
        .map(|e| e.event_id().map(str::to_owned))
        .collect();
    assert_eq!(paged, ids);
    // The SDK's paginator walks the same pages.
    let mut items = trail
        .lookup_events()
        .max_results(2)
        .into_paginator()
        .items()
        .send();
    let mut walked = 0;
    while let Some(item) = items.next().await {
        item.expect("paginated");
        walked += 1;
    }
    assert_eq!(walked, events.len());

    // Errors as CloudTrail types them.
    let err = trail
        .lookup_events()
        .lookup_attributes(attribute(LookupAttributeKey::Username, "alice"))
        .lookup_attributes(attribute(LookupAttributeKey::EventName, "Encrypt"))
        .send()
        .await
        .expect_err("two attributes")
        .into_service_error();
    assert!(err.is_invalid_lookup_attributes_exception(), "{err:?}");
    let err = trail
        .lookup_events()
        .lookup_attributes(attribute(LookupAttributeKey::from("Colour"), "red"))
        .send()
        .await
        .expect_err("unknown key")
        .into_service_error();
    assert!(err.is_invalid_lookup_attributes_exception(), "{err:?}");
    let err = trail
        .lookup_events()
        .max_results(51)
        .send()
        .await
        .expect_err("51")
        .into_service_error();
    assert!(err.is_invalid_max_results_exception(), "{err:?}");
    let err = trail
        .lookup_events()
        .start_time(later)
        .end_time(newest)
        .send()
        .await
        .expect_err("reversed")
        .into_service_error();
    assert!(err.is_invalid_time_range_exception(), "{err:?}");
    let first_page = trail
        .lookup_events()
        .max_results(2)
        .send()
        .await
        .expect("page");
    let token = first_page.next_token().expect("token").to_owned();
    let err = trail
        .lookup_events()
        .max_results(2)
        .next_token(&token)
        .lookup_attributes(attribute(LookupAttributeKey::Username, "alice"))
        .send()
        .await
        .expect_err("token of other parameters")
        .into_service_error();
    assert!(err.is_invalid_next_token_exception(), "{err:?}");
    let err = trail
        .lookup_events()
        .event_category(aws_sdk_cloudtrail::types::EventCategory::from("management"))
        .send()
        .await
        .expect_err("category")
        .into_service_error();
    assert!(err.is_invalid_event_category_exception(), "{err:?}");
    let insights = trail
        .lookup_events()
        .event_category(aws_sdk_cloudtrail::types::EventCategory::Insight)
        .send()
        .await
        .expect("insight");
    assert!(insights.events().is_empty());
}

/// Runs the binary with a clean environment: only `env`, and a HOME without ~/.aws.
fn kms_audit(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_clear()
        .env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("no-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("KMS_AUDIT_CACHE_DIR", home.join("cache"));
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("kms-audit runs")
}

fn alice_env() -> [(&'static str, &'static str); 3] {
    [
        ("AWS_ACCESS_KEY_ID", ALICE.0),
        ("AWS_SECRET_ACCESS_KEY", ALICE.1),
        ("AWS_REGION", REGION),
    ]
}

fn json_stdout(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_brings_events_into_a_lake_once() {
    let server = Server::start();
    make_calls(&server).await;
    let home = tempfile::tempdir().expect("home");
    let lake = home.path().join("lake");
    let lake_arg = lake.to_str().expect("utf-8 path");
    let pull = [
        "pull",
        "--endpoint-url",
        &server.url,
        "--since",
        "1h",
        "--lake",
        lake_arg,
        "--format",
        "json",
    ];
    let first = json_stdout(&kms_audit(home.path(), &pull, &alice_env()));
    assert_eq!(first["events_received"], 6, "{first:#}");
    assert_eq!(first["events_new"], 6);
    assert_eq!(first["events_known"], 0);
    assert_eq!(first["region"], REGION);
    assert_eq!(first["endpoint"], server.url.as_str());
    assert_eq!(first["event_source"], "kms.amazonaws.com");
    assert_eq!(first["ingest"]["records_stored"], 6);
    let files = first["files"].as_array().expect("pulled files");
    assert_eq!(files.len(), 1);
    let file = files[0].as_str().expect("path");
    assert!(Path::new(file).starts_with(lake.join("pulled")), "{file}");

    let pulled = lake.join("pulled");
    let scan = |home: &Path| {
        json_stdout(&kms_audit(
            home,
            &[
                "scan",
                pulled.to_str().expect("utf-8"),
                "--lake",
                lake_arg,
                "--format",
                "json",
            ],
            &[],
        ))
    };
    let summary = scan(home.path());
    assert_eq!(summary["events"]["events"], 6, "{:#}", summary["events"]);
    let event_names: Vec<(&str, u64)> = summary["events"]["event_names"]["top"]
        .as_array()
        .expect("names")
        .iter()
        .map(|c| {
            (
                c["value"].as_str().unwrap_or("?"),
                c["events"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert!(event_names.contains(&("CreateKey", 2)), "{event_names:?}");
    assert!(event_names.contains(&("Encrypt", 2)), "{event_names:?}");

    // The same window again: nothing new, no new file, the lake unchanged.
    let second = json_stdout(&kms_audit(home.path(), &pull, &alice_env()));
    assert_eq!(second["events_received"], 6);
    assert_eq!(second["events_new"], 0);
    assert_eq!(second["events_known"], 6);
    assert_eq!(second["files"], serde_json::json!([]));
    assert!(second["ingest"].is_null());
    let files = walkdir::WalkDir::new(&pulled)
        .into_iter()
        .flatten()
        .filter(|e| e.file_type().is_file())
        .count();
    assert_eq!(files, 1);
    assert_eq!(scan(home.path())["events"]["events"], 6);

    // New calls: only they are added.
    server
        .client(DEPLOYER)
        .list_keys()
        .send()
        .await
        .expect("ListKeys");
    let third = json_stdout(&kms_audit(home.path(), &pull, &alice_env()));
    assert_eq!(
        (third["events_new"].as_u64(), third["events_known"].as_u64()),
        (Some(1), Some(6))
    );
    assert_eq!(scan(home.path())["events"]["events"], 7);

    // Every source: the server holds KMS events only.
    let mut every = pull.to_vec();
    every.extend(["--event-source", "all"]);
    let all_sources = json_stdout(&kms_audit(home.path(), &every, &alice_env()));
    assert!(all_sources["event_source"].is_null());
    assert_eq!(all_sources["events_received"], 7);

    // The table output says where the events went.
    let table = kms_audit(
        home.path(),
        &[
            "pull",
            "--endpoint-url",
            &server.url,
            "--since",
            "1h",
            "--lake",
            lake_arg,
        ],
        &alice_env(),
    );
    assert!(table.status.success());
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.contains("already in the lake: 7"), "{text}");
    assert!(text.contains("kms-audit scan"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_names_what_is_missing() {
    let server = Server::start();
    let home = tempfile::tempdir().expect("home");
    let lake = home.path().join("lake");
    let lake_arg = lake.to_str().expect("utf-8 path");
    let args = [
        "pull",
        "--endpoint-url",
        server.url.as_str(),
        "--since",
        "1h",
        "--lake",
        lake_arg,
    ];
    let stderr = |output: &Output| {
        assert_eq!(output.status.code(), Some(2), "{output:?}");
        String::from_utf8_lossy(&output.stderr).into_owned()
    };

    let no_region = kms_audit(
        home.path(),
        &args,
        &[
            ("AWS_ACCESS_KEY_ID", ALICE.0),
            ("AWS_SECRET_ACCESS_KEY", ALICE.1),
        ],
    );
    let text = stderr(&no_region);
    assert!(
        text.contains("no AWS Region") && text.contains("--region"),
        "{text}"
    );
    assert!(!lake.exists(), "a pull that cannot start leaves no lake");

    let no_credentials = kms_audit(home.path(), &args, &[("AWS_REGION", REGION)]);
    let text = stderr(&no_credentials);
    assert!(
        text.contains("no AWS credentials") && text.contains("AWS_ACCESS_KEY_ID"),
        "{text}"
    );

    let wrong_secret = kms_audit(
        home.path(),
        &args,
        &[
            ("AWS_ACCESS_KEY_ID", ALICE.0),
            ("AWS_SECRET_ACCESS_KEY", "not-the-secret"),
            ("AWS_REGION", REGION),
        ],
    );
    let text = stderr(&wrong_secret);
    assert!(text.contains("refused LookupEvents"), "{text}");

    // A port nobody listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    let unreachable = kms_audit(
        home.path(),
        &[
            "pull",
            "--endpoint-url",
            &closed,
            "--since",
            "1h",
            "--lake",
            lake_arg,
            "--max-attempts",
            "1",
        ],
        &alice_env(),
    );
    let text = stderr(&unreachable);
    assert!(
        text.contains("cannot be reached") && text.contains(&closed),
        "{text}"
    );

    let reversed = kms_audit(
        home.path(),
        &[
            "pull",
            "--endpoint-url",
            server.url.as_str(),
            "--since",
            "1h",
            "--until",
            "2h",
            "--lake",
            lake_arg,
        ],
        &alice_env(),
    );
    let text = stderr(&reversed);
    assert!(text.contains("is after its end"), "{text}");
}
