//! A small Chrome DevTools Protocol client for tests: starts headless Chromium on a
//! loopback port, opens one page, and records what the page logged and requested.
//! Blocking (tungstenite over a `TcpStream` with a read timeout), every wait bounded
//! by a deadline.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// Where Chromium is: `HARNESS_CHROMIUM`, else `chromium` on PATH. A missing browser
/// is a failure naming the install step, never a skip.
pub fn chromium() -> PathBuf {
    if let Some(path) = std::env::var_os("HARNESS_CHROMIUM") {
        return PathBuf::from(path);
    }
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!(
            "chromium is not installed, and the report's browser test needs it: run `bash lab/install` \
             (it installs Debian's `chromium` package), or set HARNESS_CHROMIUM to a Chromium binary"
        )
    })
}

/// A running headless Chromium, killed and reaped on drop.
pub struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    next_id: u64,
    /// Every event received so far (`method`, `params`, `sessionId`).
    pub events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const STARTUP: Duration = Duration::from_secs(60);
const CALL: Duration = Duration::from_secs(60);

impl Browser {
    pub fn start() -> Browser {
        let binary = chromium();
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new(&binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--force-color-profile=srgb",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", binary.display()));
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.split_whitespace().find(|w| w.starts_with("ws://")) {
                    let _ = tx.send(url.to_string());
                }
            }
        });
        let url = match rx.recv_timeout(STARTUP) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "{} printed no DevTools address within {STARTUP:?} (exit: {status:?})",
                    binary.display()
                )
            }
        };
        let authority = url
            .trim_start_matches("ws://")
            .split('/')
            .next()
            .expect("host:port")
            .to_string();
        let stream = TcpStream::connect(&authority).expect("connect to DevTools");
        // A long timeout for the handshake (a short one interrupts it), then a short one
        // so that reads come back to check their deadlines.
        stream
            .set_read_timeout(Some(STARTUP))
            .expect("read timeout");
        let (socket, _) = tungstenite::client(url.as_str(), stream).expect("DevTools handshake");
        socket
            .get_ref()
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("read timeout");
        Browser {
            child,
            socket,
            next_id: 0,
            events: Vec::new(),
            _profile: profile,
        }
    }

    /// Reads one message, if one arrives before the read timeout.
    fn read(&mut self) -> Option<Value> {
        match self.socket.read() {
            Ok(Message::Text(text)) => serde_json::from_str(text.as_str()).ok(),
            Ok(_) => None,
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("DevTools connection: {e}"),
        }
    }

    /// Calls a method (on a page when `session` is given) and returns its result.
    pub fn call(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = session.into();
        }
        self.socket
            .send(Message::text(message.to_string()))
            .expect("send to DevTools");
        let deadline = Instant::now() + CALL;
        while Instant::now() < deadline {
            let Some(reply) = self.read() else { continue };
            if reply["id"] == id {
                if let Some(error) = reply.get("error") {
                    panic!("{method}: {error}");
                }
                return reply["result"].clone();
            }
            if reply.get("method").is_some() {
                self.events.push(reply);
            }
        }
        panic!("{method}: no answer within {CALL:?}")
    }

    /// Waits for an event of `method` on `session`.
    pub fn wait_for(&mut self, method: &str, session: &str) {
        let matches = |e: &Value| e["method"] == method && e["sessionId"] == session;
        let deadline = Instant::now() + CALL;
        while !self.events.iter().any(matches) {
            assert!(Instant::now() < deadline, "no {method} within {CALL:?}");
            if let Some(message) = self.read().filter(|m| m.get("method").is_some()) {
                self.events.push(message);
            }
        }
    }

    /// Opens a page with the protocol domains that report console messages, exceptions
    /// and requests enabled, `width` CSS pixels wide; returns its session id.
    pub fn page(&mut self, width: u32) -> String {
        let target = self.call("Target.createTarget", json!({ "url": "about:blank" }), None);
        let target_id = target["targetId"].as_str().expect("targetId").to_string();
        let attached = self.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
            None,
        );
        let session = attached["sessionId"]
            .as_str()
            .expect("sessionId")
            .to_string();
        for domain in [
            "Page.enable",
            "Runtime.enable",
            "Log.enable",
            "Network.enable",
        ] {
            self.call(domain, json!({}), Some(&session));
        }
        self.resize(&session, width, 800);
        session
    }

    pub fn resize(&mut self, session: &str, width: u32, height: u32) {
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": height, "deviceScaleFactor": 1, "mobile": false }),
            Some(session),
        );
    }

    /// Navigates to a local file and waits for its load event.
    pub fn open(&mut self, session: &str, file: &Path) -> String {
        let url = format!(
            "file://{}",
            file.canonicalize().expect("file exists").display()
        );
        self.call("Page.navigate", json!({ "url": url }), Some(session));
        self.wait_for("Page.loadEventFired", session);
        url
    }

    /// Evaluates an expression in the page and returns its value.
    pub fn eval(&mut self, session: &str, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
            Some(session),
        );
        result["result"]["value"].clone()
    }

    /// A PNG screenshot of the viewport.
    pub fn screenshot(&mut self, session: &str) -> Vec<u8> {
        use base64::Engine;
        let shot = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png" }),
            Some(session),
        );
        base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 screenshot")
    }

    /// Events of `method` on `session`.
    pub fn events_of<'a>(
        &'a self,
        method: &'a str,
        session: &'a str,
    ) -> impl Iterator<Item = &'a Value> {
        self.events
            .iter()
            .filter(move |e| e["method"] == method && e["sessionId"] == session)
    }
}
