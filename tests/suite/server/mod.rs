//! A `kms-audit kms serve` process for the tests that drive the server over HTTP (kms_server,
//! kms_durability, pull, kms_clients): started on a free loopback port with a configuration
//! file, a data directory and a root key; its stderr drained, so that it never blocks on a
//! full pipe, and kept for failure messages; stopped with SIGTERM, which delivers the trail,
//! or killed with SIGKILL. Also: the records a trail directory holds.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex, PoisonError};
use std::time::Duration;

use aws_sdk_kms::config::{Credentials, Region};
use serde_json::Value;

/// The variable the server reads its root key from.
pub const ROOT_KEY_ENV: &str = "KMS_AUDIT_ROOT_KEY";

/// What the server prints on stderr once it accepts connections, before its address.
const LISTENING: &str = "listening on ";

/// How long a server may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a stopping server may take to deliver its trail and exit before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server, stopped with SIGTERM when dropped.
pub struct ServerProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The port it listens on.
    pub port: u16,
    stderr: Arc<Mutex<String>>,
}

/// A server that did not start listening.
#[derive(Debug)]
pub struct StartFailure {
    /// Its exit code; `None` when it was still running at the timeout (then it is killed),
    /// or died of a signal.
    pub code: Option<i32>,
    /// What it printed on stderr.
    pub stderr: String,
}

impl ServerProcess {
    /// Starts `kms-audit kms serve` on a free loopback port with `config`, data directory
    /// `data`, `--trail-dir trail` when given (otherwise the configuration's), and the root
    /// key `root_key` in the environment (`None`: none at all).
    pub fn spawn(
        config: &Path,
        data: &Path,
        trail: Option<&Path>,
        root_key: Option<&str>,
    ) -> Result<Self, StartFailure> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kms-audit"));
        command
            .args(["kms", "serve", "--listen", "127.0.0.1:0", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data)
            .env_remove(ROOT_KEY_ENV)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(trail) = trail {
            command.arg("--trail-dir").arg(trail);
        }
        if let Some(key) = root_key {
            command.env(ROOT_KEY_ENV, key);
        }
        let mut child = command.spawn().expect("start kms-audit kms serve");
        let pipe = child.stderr.take().expect("stderr is piped");
        let stderr = Arc::new(Mutex::new(String::new()));
        let log = Arc::clone(&stderr);
        let (listening, address) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find(LISTENING) {
                    let _ = listening.send(line[at + LISTENING.len()..].trim().to_owned());
                }
                let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
                log.push_str(&line);
                log.push('\n');
            }
        });
        let printed = || {
            stderr
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
        };
        match address.recv_timeout(START_TIMEOUT) {
            Ok(url) => {
                let port = url
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| panic!("no port in `{url}`"));
                Ok(Self {
                    child,
                    url,
                    port,
                    stderr,
                })
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                // stderr closed before the server listened: it exited.
                let code = child.wait().ok().and_then(|status| status.code());
                Err(StartFailure {
                    code,
                    stderr: printed(),
                })
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(StartFailure {
                    code: None,
                    stderr: printed(),
                })
            }
        }
    }

    /// [`ServerProcess::spawn`], failing the test when the server does not start.
    pub fn start(config: &Path, data: &Path, trail: Option<&Path>, root_key: Option<&str>) -> Self {
        Self::spawn(config, data, trail, root_key).unwrap_or_else(|failure| {
            panic!(
                "the server did not start (exit code {:?}); stderr:\n{}",
                failure.code, failure.stderr
            )
        })
    }

    /// What the server has printed on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// An `aws-sdk-kms` client of the server in us-east-1 with the access key `(id, secret)`.
    pub fn client(&self, (key, secret): (&str, &str)) -> aws_sdk_kms::Client {
        let config = aws_sdk_kms::Config::builder()
            .behavior_version_latest()
            .endpoint_url(&self.url)
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new(key, secret, None, None, "test"))
            .build();
        aws_sdk_kms::Client::from_conf(config)
    }

    /// Stops the server with SIGTERM (it delivers the trail first) and waits for it.
    pub fn stop(mut self) {
        terminate(&mut self.child);
    }

    /// `kill -9`: no chance to flush or deliver anything.
    pub fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        terminate(&mut self.child);
    }
}

/// SIGTERM, then SIGKILL if the server has not exited within [`STOP_TIMEOUT`].
fn terminate(child: &mut Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let polls = STOP_TIMEOUT.as_millis() / 100;
    for _ in 0..polls {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Every record of the log files under `trail` (digest files skipped). A file still being
/// written is skipped too, so tests that wait for records can poll.
pub fn trail_records(trail: &Path) -> Vec<Value> {
    let mut records = Vec::new();
    for entry in walkdir::WalkDir::new(trail)
        .into_iter()
        .filter_map(Result::ok)
    {
        let path = entry.path();
        let name = path.to_string_lossy();
        if !name.ends_with(".json.gz") || name.contains("CloudTrail-Digest") {
            continue;
        }
        let Ok(file) = std::fs::File::open(path) else {
            continue;
        };
        let mut text = String::new();
        if flate2::read::MultiGzDecoder::new(file)
            .read_to_string(&mut text)
            .is_err()
        {
            continue;
        }
        if let Ok(body) = serde_json::from_str::<Value>(&text) {
            if let Some(list) = body.get("Records").and_then(Value::as_array) {
                records.extend(list.iter().cloned());
            }
        }
    }
    records
}
