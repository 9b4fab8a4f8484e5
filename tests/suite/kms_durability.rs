//! Durability of the mini-KMS server: a server killed with `kill -9` under load from several
//! concurrent `aws-sdk-kms` clients restarts on the same data directory with every
//! acknowledged key and ciphertext, and delivers a CloudTrail record for every acknowledged
//! call. Also: the server refuses to run without its root key, or with another one.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;

use crate::server::{trail_records, ServerProcess, StartFailure};

const ACCOUNT: &str = "111122223333";
const ACCESS_KEY: &str = "AKIAEXAMPLEALICE0001";
const SECRET_KEY: &str = "alice-secret";
const ROOT_KEY_HEX: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";
/// Concurrent clients during the load.
const CLIENTS: usize = 8;
/// Acknowledged calls to wait for before the kill.
const CALLS_BEFORE_KILL: usize = 400;

fn config_text(trail: &Path) -> String {
    format!(
        r#"
region: us-east-1
credentials:
  - {{ access_key_id: {ACCESS_KEY}, secret_access_key: {SECRET_KEY}, account: "{ACCOUNT}", user: alice }}
identity_policies:
  "arn:aws:iam::{ACCOUNT}:user/alice":
    - {{ Version: "2012-10-17", Statement: [{{ Effect: Allow, Action: "kms:*", Resource: "*" }}] }}
trail:
  dir: {trail}
  flush_interval: 1s
"#,
        trail = trail.display()
    )
}

/// Starts `kms-audit kms serve` on a free port over `dir/data` and `dir/trail`, with the
/// root key in the environment (`root_key`: `None` leaves it out).
fn spawn(dir: &Path, root_key: Option<&str>) -> Result<ServerProcess, StartFailure> {
    let config = dir.join("kms.yml");
    std::fs::write(&config, config_text(&dir.join("trail"))).expect("config");
    ServerProcess::spawn(&config, &dir.join("data"), None, root_key)
}

/// [`spawn`] with the right root key, failing the test when the server does not start.
fn start(dir: &Path) -> ServerProcess {
    spawn(dir, Some(ROOT_KEY_HEX))
        .unwrap_or_else(|failure| panic!("the server did not start: {failure:?}"))
}

/// A client signing as the configured identity.
fn client(server: &ServerProcess) -> Client {
    server.client((ACCESS_KEY, SECRET_KEY))
}

/// The `requestID`s in the trail.
fn trail_request_ids(trail: &Path) -> BTreeSet<String> {
    trail_records(trail)
        .iter()
        .filter_map(|r| r["requestID"].as_str().map(str::to_owned))
        .collect()
}

/// What a client saw acknowledged.
#[derive(Default)]
struct Acknowledged {
    /// Key ids of `CreateKey` calls that succeeded.
    keys: Vec<String>,
    /// (ciphertext, plaintext) of `Encrypt` calls that succeeded.
    ciphertexts: Vec<(Blob, Vec<u8>)>,
    /// The request ids of every acknowledged call.
    request_ids: Vec<String>,
}

/// One client's loop: a key, then encryptions under it, a new key every tenth call, until
/// the server stops answering.
async fn load(
    client: Client,
    worker: usize,
    acked: Arc<Mutex<Acknowledged>>,
    count: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) {
    let mut key: Option<String> = None;
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let Some(key_id) = key.clone().filter(|_| n % 10 != 0) else {
            match client
                .create_key()
                .description(format!("worker {worker}"))
                .send()
                .await
            {
                Ok(created) => {
                    let id = created.key_metadata().map(|m| m.key_id().to_owned());
                    let mut acked = acked.lock().expect("acked");
                    acked.keys.extend(id.clone());
                    acked
                        .request_ids
                        .extend(created.request_id().map(str::to_owned));
                    key = id;
                    count.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => return,
            }
            continue;
        };
        let plaintext = format!("worker {worker} message {n}").into_bytes();
        match client
            .encrypt()
            .key_id(&key_id)
            .plaintext(Blob::new(plaintext.clone()))
            .send()
            .await
        {
            Ok(encrypted) => {
                let mut acked = acked.lock().expect("acked");
                if let Some(blob) = encrypted.ciphertext_blob() {
                    acked.ciphertexts.push((blob.clone(), plaintext));
                }
                acked
                    .request_ids
                    .extend(encrypted.request_id().map(str::to_owned));
                count.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => return,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_acknowledged_call_survives_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path());
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|worker| {
            tokio::spawn(load(
                client(&server),
                worker,
                Arc::clone(&acked),
                Arc::clone(&count),
                Arc::clone(&stop),
            ))
        })
        .collect();
    let started = Instant::now();
    while count.load(Ordering::Relaxed) < CALLS_BEFORE_KILL {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {} calls acknowledged",
            count.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Mid-load: the clients are still sending.
    server.kill_9();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("client task");
    }
    let acked = std::mem::take(&mut *acked.lock().expect("acked"));
    assert!(acked.keys.len() >= CLIENTS, "{} keys", acked.keys.len());
    assert!(acked.ciphertexts.len() >= CALLS_BEFORE_KILL / 2);

    let server = start(dir.path());
    let client = client(&server);
    for key_id in &acked.keys {
        let described = client
            .describe_key()
            .key_id(key_id)
            .send()
            .await
            .unwrap_or_else(|err| panic!("acknowledged key {key_id} is gone: {err:?}"));
        assert_eq!(
            described.key_metadata().map(|m| m.key_id()),
            Some(key_id.as_str())
        );
    }
    let decrypts: Vec<_> = acked
        .ciphertexts
        .chunks(acked.ciphertexts.len().div_ceil(CLIENTS))
        .map(|chunk| {
            let (client, chunk) = (client.clone(), chunk.to_vec());
            tokio::spawn(async move {
                for (blob, plaintext) in chunk {
                    let decrypted = client
                        .decrypt()
                        .ciphertext_blob(blob)
                        .send()
                        .await
                        .expect("an acknowledged ciphertext decrypts after the restart");
                    assert_eq!(
                        decrypted.plaintext().map(Blob::as_ref),
                        Some(&plaintext[..])
                    );
                }
            })
        })
        .collect();
    for task in decrypts {
        task.await.expect("decrypt task");
    }
    // A clean stop delivers what is left; every acknowledged call has its record.
    server.stop();
    let delivered = trail_request_ids(&dir.path().join("trail"));
    let missing: Vec<&String> = acked
        .request_ids
        .iter()
        .filter(|id| !delivered.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged calls have no record, e.g. {:?}",
        missing.len(),
        acked.request_ids.len(),
        missing.first()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_reach_the_trail_within_the_flush_interval() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(dir.path());
    let client = client(&server);
    let created = client.create_key().send().await.expect("create");
    let request_id = created.request_id().expect("request id").to_owned();
    let trail = dir.path().join("trail");
    let started = Instant::now();
    // The server keeps running: the 1 s delivery interval brings the record out.
    while !trail_request_ids(&trail).contains(&request_id) {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the CreateKey record was not delivered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.stop();
}

#[test]
fn the_server_needs_its_root_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    // None: it says how to make one.
    let Err(failure) = spawn(dir.path(), None) else {
        panic!("started without a root key");
    };
    assert_eq!(failure.code, Some(2), "{failure:?}");
    let text = failure.stderr;
    assert!(text.contains("head -c 32 /dev/urandom"), "{text}");

    // The right one opens the store; another one is refused, naming the data directory.
    start(dir.path()).stop();
    let other = "ff".repeat(32);
    let Err(failure) = spawn(dir.path(), Some(&other)) else {
        panic!("started with another root key");
    };
    assert_eq!(failure.code, Some(2), "{failure:?}");
    let text = failure.stderr;
    assert!(text.contains("does not open the store"), "{text}");
    assert!(
        text.contains(&dir.path().join("data").display().to_string()),
        "{text}"
    );
    start(dir.path()).stop();
}
