//! Durability of the mini-KMS server: a server killed with `kill -9` under load from several
//! concurrent `aws-sdk-kms` clients restarts on the same data directory with every
//! acknowledged key and ciphertext, and delivers a CloudTrail record for every acknowledged
//! call. Also: the server refuses to run without its root key, or with another one.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_kms::config::{Credentials, Region};
use aws_sdk_kms::operation::RequestId;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::Client;
use serde_json::Value;

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

/// A running server process.
struct Server {
    child: Child,
    url: String,
}

/// Starts `kms-audit kms serve` on a free port over `dir/data` and `dir/trail`, with the
/// root key in the environment (`root_key`: `None` leaves it out); the server's stderr, or
/// the lines it printed before failing.
fn spawn(dir: &Path, root_key: Option<&str>) -> Result<Server, (Option<i32>, Vec<String>)> {
    let config = dir.join("kms.yml");
    std::fs::write(&config, config_text(&dir.join("trail"))).expect("config");
    let mut command = Command::new(env!("CARGO_BIN_EXE_kms-audit"));
    command
        .args(["kms", "serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.join("data"))
        .env_remove("KMS_AUDIT_ROOT_KEY")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(key) = root_key {
        command.env("KMS_AUDIT_ROOT_KEY", key);
    }
    let mut child = command.spawn().expect("start the server");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            let started = line.strip_prefix("listening on ").map(str::to_owned);
            let _ = tx.send((line, started.is_some()));
            if started.is_some() {
                break;
            }
        }
        // Keep draining so the server never blocks on a full pipe.
        for _ in lines {}
    });
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok((line, true)) => {
                let url = line.trim_start_matches("listening on ").to_owned();
                return Ok(Server { child, url });
            }
            Ok((line, false)) => seen.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // stderr closed before the server listened: it exited.
                let status = child.wait().ok();
                return Err((status.and_then(|s| s.code()), seen));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err((None, seen));
            }
        }
    }
}

impl Server {
    fn start(dir: &Path) -> Self {
        spawn(dir, Some(ROOT_KEY_HEX)).unwrap_or_else(|(code, lines)| {
            panic!("the server did not start ({code:?}): {lines:?}")
        })
    }

    fn client(&self) -> Client {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version_latest()
            .endpoint_url(&self.url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .build();
        Client::from_conf(config)
    }

    /// `kill -9`: no chance to flush or deliver anything.
    fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM, and wait for the clean stop (which delivers the trail).
    fn stop(mut self) {
        terminate(&mut self.child);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    for _ in 0..600 {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Every record delivered under `trail` (log files, not digests).
fn trail_records(trail: &Path) -> Vec<Value> {
    let mut records = Vec::new();
    let mut stack = vec![trail.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path: PathBuf = entry.path();
            let name = path.to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.ends_with("CloudTrail-Digest") {
                    stack.push(path);
                }
            } else if name.ends_with(".json.gz") {
                let mut text = String::new();
                flate2::read::GzDecoder::new(std::fs::File::open(&path).expect("trail file"))
                    .read_to_string(&mut text)
                    .expect("gzip");
                let json: Value = serde_json::from_str(&text).expect("json");
                records.extend(json["Records"].as_array().cloned().unwrap_or_default());
            }
        }
    }
    records
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
    let server = Server::start(dir.path());
    let acked = Arc::new(Mutex::new(Acknowledged::default()));
    let count = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|worker| {
            tokio::spawn(load(
                server.client(),
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

    let server = Server::start(dir.path());
    let client = server.client();
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
    let server = Server::start(dir.path());
    let client = server.client();
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
    let Err((code, lines)) = spawn(dir.path(), None) else {
        panic!("started without a root key");
    };
    assert_eq!(code, Some(2), "{lines:?}");
    let text = lines.join("\n");
    assert!(text.contains("head -c 32 /dev/urandom"), "{text}");

    // The right one opens the store; another one is refused, naming the data directory.
    Server::start(dir.path()).stop();
    let other = "ff".repeat(32);
    let Err((code, lines)) = spawn(dir.path(), Some(&other)) else {
        panic!("started with another root key");
    };
    assert_eq!(code, Some(2), "{lines:?}");
    let text = lines.join("\n");
    assert!(text.contains("does not open the store"), "{text}");
    assert!(
        text.contains(&dir.path().join("data").display().to_string()),
        "{text}"
    );
    Server::start(dir.path()).stop();
}
