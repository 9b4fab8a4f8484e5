//! A headless-Chromium page check for the HTML report tests: opens a local HTML file, takes a
//! full-page screenshot and a print (PDF), and reports every console error or warning,
//! uncaught exception, failed load and every resource the page tried to load.
//!
//! How it sees errors: Chromium runs with `--remote-debugging-pipe` and is driven over the
//! DevTools protocol (NUL-separated JSON on its file descriptors 3 and 4, wired to the
//! child's stdin and stdout by `sh`, so no WebSocket client is needed). With the `Runtime`,
//! `Log` and `Network` domains enabled, the browser itself reports `Runtime.exceptionThrown`
//! (uncaught script errors), `Runtime.consoleAPICalled` (`console.error` …), `Log.entryAdded`
//! (browser-side console messages: "Failed to load resource", CSP refusals, interventions),
//! `Network.requestWillBeSent` (every load other than the page itself) and
//! `Network.loadingFailed`. Scraping `--enable-logging=stderr` output was tried first: it shows
//! script errors but not failed resource loads, so it is not used.
//!
//! Chromium is Debian's `chromium` package (`/usr/bin/chromium`; `CHROMIUM` overrides the
//! path). When it is missing the tests skip loudly, unless `KMS_AUDIT_REQUIRE_BROWSER` is set
//! (`.ci/run` sets it after installing Chromium), in which case they fail.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

/// How long one page check may take, start to close.
const DEADLINE: Duration = Duration::from_secs(90);
/// How long the page must stay quiet after `load` before it is judged.
const SETTLE: Duration = Duration::from_millis(750);

/// What the browser saw of one page.
#[derive(Debug, Default)]
pub struct PageCheck {
    /// Console errors and warnings, uncaught exceptions, failed or extra loads; empty for a
    /// clean page.
    pub problems: Vec<String>,
    /// Console messages of other levels (kept for the failure message).
    pub console: Vec<String>,
    /// Every URL the page requested besides itself.
    pub requests: Vec<String>,
    /// The full-page screenshot, PNG.
    pub screenshot: Vec<u8>,
    /// The page printed to PDF (print CSS applied).
    pub pdf: Vec<u8>,
    /// The page's `document.title`.
    pub title: String,
}

/// The Chromium to use: `$CHROMIUM`, else `/usr/bin/chromium`, else `chromium` or
/// `chromium-browser` on the `PATH`.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let fixed = PathBuf::from("/usr/bin/chromium");
    if fixed.is_file() {
        return Some(fixed);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .find(|p| p.is_file())
}

/// The Chromium to use, or `None` after printing why `test` is skipped. Panics instead when
/// `KMS_AUDIT_REQUIRE_BROWSER` is set, so CI cannot skip silently.
pub fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(path) = find_chromium() {
        return Some(path);
    }
    let why = "Chromium not found ($CHROMIUM, /usr/bin/chromium, chromium or chromium-browser \
               on PATH); install Debian's package (`apt-get install chromium`) or set CHROMIUM";
    assert!(
        std::env::var_os("KMS_AUDIT_REQUIRE_BROWSER").is_none(),
        "{test}: {why} (KMS_AUDIT_REQUIRE_BROWSER is set, so this fails instead of skipping)"
    );
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
    println!("SKIPPED {test}: {why}");
    None
}

/// Opens `html` in headless `chromium` at `width`×`height` CSS pixels and reports what
/// happened. `Err` when the browser could not be driven (it did not start, the protocol
/// failed, the deadline passed), with Chromium's stderr.
pub fn check_page(
    chromium: &Path,
    html: &Path,
    width: u32,
    height: u32,
) -> Result<PageCheck, String> {
    let html = html
        .canonicalize()
        .map_err(|e| format!("{}: {e}", html.display()))?;
    let url = format!("file://{}", html.display());
    let profile = tempfile::tempdir().map_err(|e| format!("temporary profile: {e}"))?;
    let mut browser = Browser::start(chromium, profile.path(), width, height)?;
    let result = browser.check(&url, width, height);
    let stderr = browser.close();
    result.map_err(|e| format!("{e}\n--- chromium stderr ---\n{stderr}"))
}

/// A running Chromium and its protocol pipe.
struct Browser {
    child: Child,
    stdin: Option<ChildStdin>,
    messages: Receiver<Value>,
    stderr: Receiver<String>,
    next_id: u64,
    /// Messages read while waiting for a reply, not yet judged.
    events: Vec<Value>,
    deadline: Instant,
}

impl Browser {
    fn start(chromium: &Path, profile: &Path, width: u32, height: u32) -> Result<Self, String> {
        // fd 3 is what Chromium reads commands from, fd 4 where it writes replies: wire them
        // to our pipes on its stdin and stdout, and send its own stdout to stderr.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>&2"#)
            .arg(chromium)
            .args([
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-default-apps",
                "--disable-extensions",
                "--disable-sync",
                "--disable-quic",
                "--mute-audio",
                "--hide-scrollbars",
                "--remote-debugging-pipe",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--window-size={width},{height}"))
            .arg("about:blank")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", chromium.display()))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or("no stdout pipe")?;
        let stderr = child.stderr.take().ok_or("no stderr pipe")?;
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            while reader.read_until(0, &mut buf).is_ok_and(|n| n > 0) {
                if buf.last() == Some(&0) {
                    buf.pop();
                }
                if let Ok(message) = serde_json::from_slice::<Value>(&buf) {
                    if tx.send(message).is_err() {
                        break;
                    }
                }
                buf.clear();
            }
        });
        let (err_tx, stderr_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            let _ = err_tx.send(text);
        });
        Ok(Self {
            child,
            stdin,
            messages,
            stderr: stderr_rx,
            next_id: 0,
            events: Vec::new(),
            deadline: Instant::now() + DEADLINE,
        })
    }

    /// Sends `method` (to `session`, or to the browser) and waits for its reply.
    fn call(
        &mut self,
        method: &str,
        params: Value,
        session: Option<&str>,
    ) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = Value::from(session);
        }
        let stdin = self
            .stdin
            .as_mut()
            .ok_or("the pipe to chromium is closed")?;
        let mut bytes = serde_json::to_vec(&message).map_err(|e| e.to_string())?;
        bytes.push(0);
        stdin
            .write_all(&bytes)
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("{method}: cannot write to chromium: {e}"))?;
        loop {
            let message = self.receive(method)?;
            if message["id"].as_u64() == Some(id) {
                if let Some(error) = message.get("error") {
                    return Err(format!("{method} failed: {error}"));
                }
                return Ok(message["result"].clone());
            }
            self.events.push(message);
        }
    }

    fn receive(&mut self, waiting_for: &str) -> Result<Value, String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.messages.recv_timeout(left) {
            Ok(message) => Ok(message),
            Err(RecvTimeoutError::Timeout) => Err(format!(
                "timed out after {DEADLINE:?} waiting for {waiting_for}"
            )),
            Err(RecvTimeoutError::Disconnected) => Err(format!(
                "chromium closed the pipe while waiting for {waiting_for}"
            )),
        }
    }

    /// Reads events until `done` matches one, then until none arrives for [`SETTLE`].
    fn wait_for(&mut self, what: &str, done: impl Fn(&Value) -> bool) -> Result<(), String> {
        if !self.events.iter().any(&done) {
            loop {
                let message = self.receive(what)?;
                let matched = done(&message);
                self.events.push(message);
                if matched {
                    break;
                }
            }
        }
        loop {
            let left = self.deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(SETTLE.min(left)) {
                Ok(message) => self.events.push(message),
                Err(RecvTimeoutError::Timeout) if left > SETTLE => return Ok(()),
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("the page never settled after {what}"))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err("chromium closed the pipe".to_owned())
                }
            }
        }
    }

    fn check(&mut self, url: &str, width: u32, height: u32) -> Result<PageCheck, String> {
        let target = self.call("Target.createTarget", json!({ "url": "about:blank" }), None)?;
        let target_id = target["targetId"].as_str().ok_or("no targetId")?.to_owned();
        let attached = self.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
            None,
        )?;
        let session = attached["sessionId"]
            .as_str()
            .ok_or("no sessionId")?
            .to_owned();
        let s = Some(session.as_str());
        for domain in [
            "Page.enable",
            "Runtime.enable",
            "Log.enable",
            "Network.enable",
        ] {
            self.call(domain, json!({}), s)?;
        }
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
            s,
        )?;
        let navigated = self.call("Page.navigate", json!({ "url": url }), s)?;
        if let Some(error) = navigated.get("errorText").and_then(Value::as_str) {
            return Err(format!("navigation to {url} failed: {error}"));
        }
        self.wait_for("the load event", |m| {
            m["method"] == "Page.loadEventFired" && m["sessionId"] == session.as_str()
        })?;

        let title = self.call(
            "Runtime.evaluate",
            json!({ "expression": "document.title", "returnByValue": true }),
            s,
        )?;
        let metrics = self.call("Page.getLayoutMetrics", json!({}), s)?;
        let content = &metrics["cssContentSize"];
        let full_height = content["height"]
            .as_f64()
            .unwrap_or(f64::from(height))
            .ceil();
        let shot = self.call(
            "Page.captureScreenshot",
            json!({
                "format": "png",
                "captureBeyondViewport": true,
                "clip": { "x": 0, "y": 0, "width": width, "height": full_height.min(16_000.0), "scale": 1 }
            }),
            s,
        )?;
        let pdf = self.call("Page.printToPDF", json!({ "printBackground": true }), s)?;
        let decode = |v: &Value, what: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(v["data"].as_str().unwrap_or_default())
                .map_err(|e| format!("{what}: {e}"))
        };
        let mut check = PageCheck {
            screenshot: decode(&shot, "screenshot")?,
            pdf: decode(&pdf, "pdf")?,
            title: title["result"]["value"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            ..PageCheck::default()
        };
        // Late arrivals (a load started by printing, say) count too.
        self.wait_for("printing", |_| true)?;
        judge(&self.events, &session, url, &mut check);
        Ok(check)
    }

    /// Closes the browser (killing it if it does not exit) and returns its stderr.
    fn close(mut self) -> String {
        if self.stdin.is_some() {
            self.deadline = Instant::now() + Duration::from_secs(10);
            let _ = self.call("Browser.close", json!({}), None);
        }
        drop(self.stdin.take());
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        self.stderr
            .recv_timeout(Duration::from_secs(5))
            .unwrap_or_default()
    }
}

/// Sorts the events of `session` into problems, console messages and requests.
fn judge(events: &[Value], session: &str, url: &str, check: &mut PageCheck) {
    for event in events.iter().filter(|e| e["sessionId"] == session) {
        let params = &event["params"];
        match event["method"].as_str().unwrap_or_default() {
            "Runtime.exceptionThrown" => {
                let details = &params["exceptionDetails"];
                let text = details["exception"]["description"]
                    .as_str()
                    .or_else(|| details["text"].as_str())
                    .unwrap_or("exception");
                check.problems.push(format!(
                    "uncaught exception: {text} ({}:{})",
                    details["url"].as_str().unwrap_or_default(),
                    details["lineNumber"]
                ));
            }
            "Runtime.consoleAPICalled" => {
                let kind = params["type"].as_str().unwrap_or_default();
                let args: Vec<String> = params["args"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|v| {
                                v["value"]
                                    .as_str()
                                    .map_or_else(|| v["description"].to_string(), str::to_owned)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let line = format!("console.{kind}: {}", args.join(" "));
                if matches!(kind, "error" | "assert" | "warning") {
                    check.problems.push(line);
                } else {
                    check.console.push(line);
                }
            }
            "Log.entryAdded" => {
                let entry = &params["entry"];
                let level = entry["level"].as_str().unwrap_or_default();
                let line = format!(
                    "console {level} ({}): {} {}",
                    entry["source"].as_str().unwrap_or_default(),
                    entry["text"].as_str().unwrap_or_default(),
                    entry["url"].as_str().unwrap_or_default()
                );
                if matches!(level, "error" | "warning") {
                    check.problems.push(line);
                } else {
                    check.console.push(line);
                }
            }
            "Network.requestWillBeSent" => {
                let requested = params["request"]["url"].as_str().unwrap_or_default();
                // The page's own navigation is the request whose id is its loader's.
                let is_page = requested == url || params["requestId"] == params["loaderId"];
                if !is_page {
                    check.requests.push(requested.to_owned());
                    check
                        .problems
                        .push(format!("loaded a resource: {requested}"));
                }
            }
            "Network.loadingFailed" => {
                check.problems.push(format!(
                    "a load failed: {} ({})",
                    params["errorText"].as_str().unwrap_or_default(),
                    params["type"].as_str().unwrap_or_default()
                ));
            }
            _ => {}
        }
    }
}

/// The width and height of a PNG image, from its `IHDR` chunk; `None` when `bytes` is not a PNG.
pub fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    const MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
    if bytes.len() < 24 || !bytes.starts_with(MAGIC) || &bytes[12..16] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes(bytes[16..20].try_into().ok()?);
    let height = u32::from_be_bytes(bytes[20..24].try_into().ok()?);
    Some((width, height))
}
