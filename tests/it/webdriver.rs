//! A minimal W3C WebDriver client (ureq + serde_json) driving headless Chromium with page
//! JavaScript turned OFF, for tests of the server-rendered, script-free HTML forms.
//!
//! Needs `/usr/bin/chromedriver` and `/usr/bin/chromium` (Debian: `apt-get install -y chromium
//! chromium-driver`). `Browser::start*` return None when they are missing; tests should begin
//! with `if !chromium_available("test name") { return; }`, which prints a SKIPPED notice, or
//! panics under CI=true.
//!
//! What was checked against Chromium/ChromeDriver 156 with JavaScript disabled through the pref
//! `profile.managed_default_content_settings.javascript = 2` (the self-test at the bottom
//! re-checks the important ones on every run):
//! - Page scripts really do not run: `<script>` does not touch the DOM or the title, and
//!   `<noscript>` content is parsed into real, visible elements (`noscript p` can be found).
//! - Every WebDriver command still works: find element(s) by CSS and XPath, send keys (Arabic,
//!   accents and astral-plane characters included; `\n` in a textarea is submitted as CRLF),
//!   clear, click (buttons, checkboxes, radios and `<option>`s), get text / attribute /
//!   property / css value / rect / selected / displayed, title, URL, page source, window rect,
//!   page and element screenshots. ChromeDriver runs its own helper scripts through the DevTools
//!   protocol, which the content setting does not block. Even `POST /execute/sync` works; it is
//!   used here only to *measure* (`page_width`, `viewport_width`), never to act on the page.
//!   No alternative endpoint was needed, with ONE exception:
//! - Mobile emulation WITH touch (`deviceMetrics.touch = true`, chromedriver's default) makes
//!   every element click hang (chromedriver: "Timed out receiving message from renderer: 600")
//!   when page JavaScript is off; with JavaScript on it works. `start_mobile()` therefore
//!   emulates a phone without touch: same viewport and meta-viewport handling, mouse clicks.
//! - `GET /element/{id}/attribute/value` is the HTML attribute (None for a field the user typed
//!   into); the current value of a field is the *property*: `Element::value()`.
//!
//! Gotchas:
//! - A click that submits a form returns before the navigation has started: right after the
//!   click, `source()`/`find()` still see the OLD page, and a form re-rendered with validation
//!   errors has the same selectors as the original. Use `Element::click_and_wait()` (or
//!   `Browser::wait_for_navigation`), which waits until the old `<html>` element is stale.
//! - Client-side constraint validation (`required`, `type=email`, `pattern`, ...) still works
//!   without JavaScript and silently blocks a submission; `click_and_wait` then panics and lists
//!   the `:invalid` fields. Use `novalidate` to test the server-side validation.
//! - Pages must be UTF-8 (`Content-Type: text/html; charset=utf-8` or `<meta charset>`): on a
//!   page without a charset Chromium submits Arabic as percent-encoded `&#1578;` references.
//! - `--window-size` below 500 px is raised to 500 by Chromium; desktop windows are resized
//!   through `POST /window/rect` instead, which does reach 320. The viewport of a desktop window
//!   is ~143 px shorter than the window. `start_mobile()` uses mobile emulation instead: an
//!   exact 320 x 640 viewport where `<meta name=viewport content="width=device-width">` is
//!   honoured; without that tag a phone lays the page out 980 px wide (`viewport_width()`
//!   then says 980, and a test should fail).
//! - Chromium fetches `/favicon.ico` after every page.
//! - Dropping a `Browser` deletes the session (Chromium exits), kills chromedriver, then kills by
//!   pid any process still running with this browser's private profile directory in its command
//!   line (e.g. when the session was broken), so no Chromium outlives its test. Chromium's
//!   crashpad handlers are daemonised (their parent is PID 1) and exit on their own with the
//!   browser; a PID 1 that reaps late can show them briefly as zombies. A test process killed
//!   by a signal (Ctrl-C, `timeout`) runs no Drop and can leave its Chromium behind.
//! - Every command gives up after 40 s (page loads after 30 s) instead of hanging the suite.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// The W3C key under which an element reference is returned.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";
/// Longest wait for one WebDriver command (page loads time out after 30 s inside Chromium).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(40);

/// Writes straight to the process's stderr: libtest captures `eprintln!`, not this.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// True if Chromium and chromedriver are installed. Otherwise prints a SKIPPED notice for
/// `test` and returns false, or panics under CI=true, where browser tests must run.
pub fn chromium_available(test: &str) -> bool {
    if Browser::installed() {
        return true;
    }
    let problem = format!("{CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install -y chromium chromium-driver)");
    if ci() {
        panic!("CI=true and {problem}: browser tests must run in CI");
    }
    say(&format!("\n*** {test}: SKIPPED: chromium not installed: {problem} ***\n"));
    false
}

/// How to start the browser.
#[derive(Debug, Clone)]
pub struct Options {
    /// Window width (desktop) or viewport width (mobile), CSS pixels.
    pub width: u32,
    pub height: u32,
    /// Chromium's mobile emulation: exact viewport, `<meta name=viewport>` honoured, touch.
    pub mobile: bool,
    /// Page JavaScript on or off (off unless a test wants a control experiment).
    pub javascript: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { width: 1280, height: 900, mobile: false, javascript: false }
    }
}

/// An error answered by chromedriver, or a transport failure (`status` 0).
#[derive(Debug, Clone)]
pub struct WdError {
    pub status: u16,
    /// The W3C error code: "no such element", "stale element reference", ...
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let first_line = self.message.lines().next().unwrap_or("");
        write!(f, "{} (HTTP {}): {first_line}", self.error, self.status)
    }
}

fn request(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    body: Option<&Value>,
    timeout: Option<Duration>,
) -> Result<Value, WdError> {
    let transport =
        |e: ureq::Error| WdError { status: 0, error: "transport".into(), message: format!("{method} {url}: {e}") };
    // The agent's own timeout applies unless this request has a shorter one.
    let timeout = timeout.or(Some(COMMAND_TIMEOUT));
    let response = match method {
        "GET" => agent.get(url).config().timeout_global(timeout).build().call(),
        "DELETE" => agent.delete(url).config().timeout_global(timeout).build().call(),
        "POST" => agent.post(url).config().timeout_global(timeout).build().send_json(body.unwrap_or(&json!({}))),
        _ => unreachable!("unsupported method {method}"),
    };
    let mut response = response.map_err(transport)?;
    let status = response.status().as_u16();
    let bytes = response.body_mut().with_config().limit(512 << 20).read_to_vec().map_err(transport)?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| WdError {
        status,
        error: "invalid json".into(),
        message: format!("{method} {url}: {e}: {}", String::from_utf8_lossy(&bytes)),
    })?;
    let value = v.get("value").cloned().unwrap_or(Value::Null);
    if status >= 400 || value.get("error").is_some_and(Value::is_string) {
        return Err(WdError {
            status,
            error: value["error"].as_str().unwrap_or("unknown error").to_string(),
            message: value["message"].as_str().unwrap_or("").to_string(),
        });
    }
    Ok(value)
}

/// One chromedriver process with one Chromium session. Dropping it cleans everything up.
pub struct Browser {
    agent: ureq::Agent,
    base: String,
    session: String,
    driver: Child,
    dir: tempfile::TempDir,
    /// How long `find` waits for a selector to match.
    pub find_timeout: Duration,
    /// How long `wait_for_navigation` waits for a new page.
    pub navigation_timeout: Duration,
}

impl Browser {
    pub fn installed() -> bool {
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists()
    }

    /// A 1280 x 900 desktop window with JavaScript off; None if Chromium is not installed.
    pub fn start() -> Option<Browser> {
        Browser::start_with(Options::default())
    }

    /// A 320 x 640 phone (mobile emulation) with JavaScript off.
    pub fn start_mobile() -> Option<Browser> {
        Browser::start_with(Options { width: 320, height: 640, mobile: true, ..Options::default() })
    }

    /// None if Chromium is not installed; panics if it is installed but cannot be started.
    pub fn start_with(opts: Options) -> Option<Browser> {
        if !Browser::installed() {
            return None;
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .proxy(None)
            .timeout_global(Some(COMMAND_TIMEOUT))
            .build()
            .into();
        let dir = tempfile::Builder::new().prefix("haven-chromium-").tempdir().expect("tempdir for Chromium");
        let log = dir.path().join("chromedriver.log");
        let profile = dir.path().join("profile");
        std::fs::create_dir(&profile).expect("create the Chromium profile dir");
        let (driver, base) = start_driver(&agent, &log);
        let mut browser = Browser {
            agent,
            base,
            session: String::new(),
            driver,
            dir,
            find_timeout: Duration::from_secs(5),
            navigation_timeout: Duration::from_secs(10),
        };

        let mut args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            // Containers often have a 64 MB /dev/shm, too small for Chromium.
            "--disable-dev-shm-usage".into(),
            "--no-proxy-server".into(),
            format!("--user-data-dir={}", profile.display()),
        ];
        let mut chrome = json!({
            "binary": CHROMIUM,
            "prefs": { "profile.managed_default_content_settings.javascript": if opts.javascript { 1 } else { 2 } },
        });
        if opts.mobile {
            chrome["mobileEmulation"] = json!({ "deviceMetrics": {
                // Touch emulation makes every click hang when page JavaScript is off (see the top).
                "width": opts.width, "height": opts.height, "pixelRatio": 1.0, "mobile": true, "touch": false,
            }});
        } else {
            args.push(format!("--window-size={},{}", opts.width.max(500), opts.height));
        }
        chrome["args"] = json!(args);
        let caps = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": { "implicit": 0, "pageLoad": 30_000, "script": 10_000 },
            "goog:chromeOptions": chrome,
        }}});
        match request(&browser.agent, "POST", &format!("{}/session", browser.base), Some(&caps), None) {
            Ok(v) => browser.session = v["sessionId"].as_str().expect("sessionId in the new session").to_string(),
            Err(e) => {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                let tail = log.lines().rev().take(40).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>();
                panic!(
                    "webdriver: cannot create a Chromium session: {e}\n{}\nchromedriver log:\n{}",
                    e.message,
                    tail.join("\n")
                );
            }
        }
        if !opts.mobile && opts.width < 500 {
            browser.set_window_size(opts.width, opts.height);
        }
        Some(browser)
    }

    /// The private temp dir of this browser (holds the Chromium profile and chromedriver.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    /// A raw WebDriver command on this session; `path` is what follows `/session/{id}`.
    pub fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WdError> {
        request(&self.agent, method, &self.url(path), body.as_ref(), None)
    }

    fn must(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.cmd(method, path, body).unwrap_or_else(|e| panic!("webdriver: {method} {path}: {e}"))
    }

    /// A GET for an error message: short timeout, never panics.
    fn quick(&self, path: &str) -> String {
        match request(&self.agent, "GET", &self.url(path), None, Some(Duration::from_secs(5))) {
            Ok(v) => v.as_str().unwrap_or_default().to_string(),
            Err(e) => format!("<{e}>"),
        }
    }

    fn must_str(&self, path: &str) -> String {
        self.must("GET", path, None).as_str().unwrap_or_default().to_string()
    }

    /// Loads `url` and waits for it to finish loading.
    pub fn goto(&self, url: &str) {
        self.must("POST", "/url", Some(json!({ "url": url })));
    }

    pub fn back(&self) {
        self.must("POST", "/back", None);
    }

    pub fn current_url(&self) -> String {
        self.must_str("/url")
    }

    pub fn title(&self) -> String {
        self.must_str("/title")
    }

    /// The current DOM serialised as HTML (not the bytes the server sent).
    pub fn source(&self) -> String {
        self.must_str("/source")
    }

    fn element(&self, v: &Value, selector: &str) -> Element<'_> {
        let id = v[ELEMENT_KEY].as_str().unwrap_or_else(|| panic!("webdriver: not an element: {v}")).to_string();
        Element { browser: self, id, selector: selector.to_string() }
    }

    /// Polls `attempt` until it finds something or `find_timeout` passes, then panics.
    fn wait_find<'a>(&'a self, css: &str, attempt: impl Fn() -> Result<Element<'a>, WdError>) -> Element<'a> {
        let deadline = Instant::now() + self.find_timeout;
        loop {
            match attempt() {
                Ok(e) => return e,
                Err(e) if e.error == "no such element" && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Err(e) if e.error != "no such element" => panic!("webdriver: finding `{css}`: {e}"),
                Err(e) => {
                    let page = self.quick("/source");
                    let mut end = page.len().min(3000);
                    while !page.is_char_boundary(end) {
                        end -= 1;
                    }
                    panic!(
                        "webdriver: nothing matches the CSS selector `{css}` on {} (title {:?}) after {:?}: {e}\npage:\n{}",
                        self.quick("/url"),
                        self.quick("/title"),
                        self.find_timeout,
                        &page[..end]
                    )
                }
            }
        }
    }

    /// The first element matching `css` right now, without waiting.
    pub fn try_find(&self, css: &str) -> Result<Element<'_>, WdError> {
        let v = self.cmd("POST", "/element", Some(json!({ "using": "css selector", "value": css })))?;
        Ok(self.element(&v, css))
    }

    /// The first element matching `css`, waiting up to `find_timeout`; panics naming the selector.
    pub fn find(&self, css: &str) -> Element<'_> {
        self.wait_find(css, || self.try_find(css))
    }

    /// All elements matching `css` right now (possibly none).
    pub fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let v = self.must("POST", "/elements", Some(json!({ "using": "css selector", "value": css })));
        v.as_array().expect("an array of elements").iter().map(|e| self.element(e, css)).collect()
    }

    /// Runs `action` (a click, Enter in a field, ...) and waits until it has replaced the current
    /// document by a new one (the old `<html>` element goes stale) and that one has loaded.
    pub fn wait_for_navigation<T>(&self, action: impl FnOnce() -> T) -> T {
        let old = self.find("html");
        let before = self.current_url();
        let result = action();
        let deadline = Instant::now() + self.navigation_timeout;
        loop {
            match old.cmd("GET", "/name", None) {
                Err(e) if e.error == "stale element reference" || e.error == "no such element" => break,
                // Asked while the old document is being torn down: it is gone.
                Err(e) if e.message.contains("does not belong to the document") => break,
                Err(e) => panic!("webdriver: waiting for a new page after {before}: {e}"),
                Ok(_) if Instant::now() > deadline => {
                    let invalid: Vec<String> = self
                        .find_all("input:invalid, select:invalid, textarea:invalid")
                        .iter()
                        .map(|e| e.attr("name").or_else(|| e.attr("id")).unwrap_or_else(|| "?".into()))
                        .collect();
                    panic!(
                        "webdriver: no new page within {:?} of the action on {before}; fields failing the \
                         browser's own validation (required, type, pattern...), which blocks submission: {invalid:?}",
                        self.navigation_timeout
                    );
                }
                Ok(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        // Any command waits for a pending load; this one also proves the new page is usable.
        self.find("html");
        result
    }

    /// The PNG of the viewport.
    pub fn screenshot_png(&self) -> Vec<u8> {
        let b64 = self.must_str("/screenshot");
        base64::engine::general_purpose::STANDARD.decode(b64).expect("screenshot: invalid base64")
    }

    /// Writes the PNG of the viewport to `path` (creating its directory); returns its pixel size.
    pub fn screenshot(&self, path: impl AsRef<Path>) -> (u32, u32) {
        let png = self.screenshot_png();
        let path = path.as_ref();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        }
        std::fs::write(path, &png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        png_size(&png)
    }

    pub fn window_rect(&self) -> Rect {
        Rect::from(&self.must("GET", "/window/rect", None))
    }

    /// Outer window size (desktop mode only; the viewport is shorter than the window).
    pub fn set_window_size(&self, width: u32, height: u32) {
        self.must("POST", "/window/rect", Some(json!({ "width": width, "height": height })));
    }

    /// Measures the page with a driver-side script (allowed even with page JavaScript off).
    fn measure(&self, expression: &str) -> f64 {
        let v =
            self.must("POST", "/execute/sync", Some(json!({ "script": format!("return {expression};"), "args": [] })));
        v.as_f64().unwrap_or_else(|| panic!("webdriver: {expression} gave {v}"))
    }

    /// Width of the laid-out page, CSS px (`scrollWidth`): more than `viewport_width()` means
    /// the page scrolls sideways.
    pub fn page_width(&self) -> f64 {
        self.measure("document.documentElement.scrollWidth")
    }

    /// Width of the layout viewport, CSS px, without the scrollbar (`clientWidth`).
    pub fn viewport_width(&self) -> f64 {
        self.measure("document.documentElement.clientWidth")
    }

    /// Live processes whose command line mentions this browser's private directory.
    pub fn processes(&self) -> Vec<u32> {
        processes_mentioning(self.dir.path())
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = request(&self.agent, "DELETE", &self.url(""), None, Some(Duration::from_secs(15)));
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Normally nothing is left; after a broken session Chromium would outlive chromedriver.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = self.processes();
            if left.is_empty() || Instant::now() > deadline {
                break;
            }
            for pid in left {
                let _ = Command::new("sh").arg("-c").arg(format!("kill -9 {pid} 2>/dev/null")).status();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Pids of live processes whose command line contains `dir`.
pub fn processes_mentioning(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            String::from_utf8_lossy(&cmdline).contains(&needle)
        })
        .collect()
}

fn start_driver(agent: &ureq::Agent, log: &Path) -> (Child, String) {
    let mut last = String::new();
    for _ in 0..3 {
        // Ask the kernel for a free port, release it, hand it to chromedriver (retried if taken).
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let mut child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("webdriver: cannot run {CHROMEDRIVER}: {e}"));
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                last = format!("chromedriver exited ({status})");
                break;
            }
            match request(agent, "GET", &format!("{base}/status"), None, Some(Duration::from_secs(2))) {
                Ok(v) if v["ready"] == json!(true) => return (child, base),
                Ok(v) => last = format!("not ready: {v}"),
                Err(e) => last = e.to_string(),
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }
    panic!("webdriver: chromedriver did not become ready: {last}");
}

/// Width and height of a PNG, from its IHDR chunk.
pub fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    let be = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    (be(16), be(20))
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
}

impl From<&Value> for Rect {
    fn from(v: &Value) -> Rect {
        let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        Rect { x: f("x"), y: f("y"), width: f("width"), height: f("height") }
    }
}

/// An element of the current page (stale once the browser has navigated away).
pub struct Element<'a> {
    browser: &'a Browser,
    pub id: String,
    selector: String,
}

impl Element<'_> {
    /// A raw WebDriver command on this element; `rest` is what follows `/element/{id}`.
    pub fn cmd(&self, method: &str, rest: &str, body: Option<Value>) -> Result<Value, WdError> {
        self.browser.cmd(method, &format!("/element/{}{rest}", self.id), body)
    }

    fn must(&self, method: &str, rest: &str, body: Option<Value>) -> Value {
        self.cmd(method, rest, body)
            .unwrap_or_else(|e| panic!("webdriver: {method} {rest} on `{}`: {e}", self.selector))
    }

    /// The first descendant matching `css`, waiting up to `find_timeout`.
    pub fn find(&self, css: &str) -> Element<'_> {
        let selector = format!("{} {css}", self.selector);
        self.browser.wait_find(&selector, || {
            let v = self.cmd("POST", "/element", Some(json!({ "using": "css selector", "value": css })))?;
            Ok(self.browser.element(&v, &selector))
        })
    }

    /// Types `text` (any Unicode; `\n` is Enter) at the end of the field's current value.
    pub fn send_keys(&self, text: &str) {
        self.must("POST", "/value", Some(json!({ "text": text })));
    }

    pub fn clear(&self) {
        self.must("POST", "/clear", None);
    }

    pub fn click(&self) {
        self.must("POST", "/click", None);
    }

    /// Clicks and waits for the new page (see `Browser::wait_for_navigation`).
    pub fn click_and_wait(&self) {
        self.browser.wait_for_navigation(|| self.click());
    }

    /// The rendered, visible text ("" for a hidden element).
    pub fn text(&self) -> String {
        self.must("GET", "/text", None).as_str().unwrap_or_default().to_string()
    }

    /// The HTML attribute as written in the markup (not what the user typed: see `value`).
    pub fn attr(&self, name: &str) -> Option<String> {
        self.must("GET", &format!("/attribute/{name}"), None).as_str().map(str::to_string)
    }

    /// A DOM property (`value`, `checked`, `validationMessage`, ...).
    pub fn prop(&self, name: &str) -> Value {
        self.must("GET", &format!("/property/{name}"), None)
    }

    /// The current value of a form field.
    pub fn value(&self) -> String {
        self.prop("value").as_str().unwrap_or_default().to_string()
    }

    pub fn tag_name(&self) -> String {
        self.must("GET", "/name", None).as_str().unwrap_or_default().to_string()
    }

    /// Checked (checkbox, radio) or selected (option).
    pub fn is_selected(&self) -> bool {
        self.must("GET", "/selected", None).as_bool().unwrap_or(false)
    }

    pub fn is_displayed(&self) -> bool {
        self.must("GET", "/displayed", None).as_bool().unwrap_or(false)
    }

    /// Position and size in CSS px, relative to the page.
    pub fn rect(&self) -> Rect {
        Rect::from(&self.must("GET", "/rect", None))
    }

    /// Ticks or unticks a checkbox (or ticks a radio) by clicking it, like a user.
    pub fn set_checked(&self, checked: bool) {
        if self.is_selected() != checked {
            self.click();
        }
        assert_eq!(self.is_selected(), checked, "webdriver: clicking `{}` did not change its state", self.selector);
    }

    /// On a `<select>`: picks the `<option>` with this value attribute, by clicking it.
    pub fn select_by_value(&self, value: &str) {
        let css = format!("option[value=\"{}\"]", value.replace('\\', "\\\\").replace('"', "\\\""));
        let option = self.find(&css);
        option.click();
        assert!(option.is_selected(), "webdriver: `{}` {css} is not selected after a click", self.selector);
    }

    /// On a `<select>`: picks the `<option>` whose text (trimmed) is `text`, by clicking it.
    pub fn select_by_text(&self, text: &str) {
        let literal = if text.contains('\'') { format!("\"{text}\"") } else { format!("'{text}'") };
        assert!(!(text.contains('\'') && text.contains('"')), "select_by_text: text with both quote kinds");
        let xpath = format!(".//option[normalize-space(.)={literal}]");
        let v = self.must("POST", "/element", Some(json!({ "using": "xpath", "value": xpath }))).clone();
        let option = self.browser.element(&v, &format!("{} option {text:?}", self.selector));
        option.click();
        assert!(
            option.is_selected(),
            "webdriver: option {text:?} of `{}` is not selected after a click",
            self.selector
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Self-test: a hand-written HTTP/1.1 server with a form, filled in and submitted by Chromium.

const SELFTEST_FORM: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Self-test form</title>
<style>main { max-width: 40rem; margin: 0 auto; } input, textarea, select { max-width: 100%; }</style>
</head><body><main>
<h1>Report an incident</h1>
<p id="js-state">no-js</p>
<noscript><p id="noscript-shown">JavaScript is off</p></noscript>
<form method="post" action="/echo">
<p><label for="summary">Summary</label><input id="summary" name="summary" type="text" value="prefilled"></p>
<p><label for="notes">Notes</label><textarea id="notes" name="notes"></textarea></p>
<p><label for="channel">Channel</label><select id="channel" name="channel">
<option value="">Choose</option><option value="phone">Phone call</option><option value="online">Online</option>
</select></p>
<p><input id="urgent" name="urgent" type="checkbox" value="yes"><label for="urgent">Urgent</label></p>
<p><input id="r-sms" name="reply" type="radio" value="sms"><label for="r-sms">SMS</label>
<input id="r-signal" name="reply" type="radio" value="signal"><label for="r-signal">Signal</label></p>
<p><button id="send" type="submit">Send</button></p>
</form></main>
<script>document.title = 'js-ran'; document.getElementById('js-state').textContent = 'js-ran';</script>
</body></html>
"#;

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// application/x-www-form-urlencoded, as browsers encode a UTF-8 form.
fn form_urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => (b as char).to_string(),
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn selftest_respond(mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return, // e.g. a speculative connection that never sends anything
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + 4 + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let body = String::from_utf8_lossy(&buf[head_end + 4..head_end + 4 + length]).into_owned();
    let mut request_line = head.lines().next().unwrap_or("").split(' ');
    let (status, html) = match (request_line.next(), request_line.next()) {
        (Some("GET"), Some("/")) => ("200 OK", SELFTEST_FORM.to_string()),
        (Some("POST"), Some("/echo")) => (
            "200 OK",
            format!(
                "<!doctype html><html><head><meta charset=\"utf-8\"><title>Echo</title></head><body>\
                 <pre id=\"echo\">{}</pre><script>document.title = 'js-ran';</script></body></html>",
                html_escape(&body)
            ),
        ),
        _ => ("404 Not Found", "<!doctype html><title>Not found</title>".to_string()),
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n{html}",
        html.len()
    );
    let _ = stream.flush();
}

/// Serves the self-test site on a free port, one thread per connection; returns its base URL.
fn selftest_site() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the self-test site");
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || selftest_respond(stream));
        }
    });
    url
}

fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("test-artifacts")
}

#[test]
fn webdriver_drives_a_form_without_javascript() {
    if !chromium_available("webdriver_drives_a_form_without_javascript") {
        return;
    }
    let site = selftest_site();
    let arabic = "تهديد عبر الهاتف";
    let notes = "Line one\nLigne deux: é ü – 😀";

    let browser = Browser::start().expect("Chromium is installed");
    let dir = browser.dir().to_path_buf();
    browser.goto(&format!("{site}/"));
    assert_eq!(browser.current_url(), format!("{site}/"));

    // Page JavaScript is off: the script changed nothing and <noscript> is rendered.
    assert_eq!(browser.title(), "Self-test form", "page JavaScript ran");
    assert_eq!(browser.find("#js-state").text(), "no-js");
    let noscript = browser.find("noscript #noscript-shown");
    assert!(noscript.is_displayed());
    assert_eq!(noscript.text(), "JavaScript is off");
    assert!(browser.source().contains("id=\"noscript-shown\""));

    let summary = browser.find("#summary");
    assert_eq!(summary.attr("value").as_deref(), Some("prefilled"));
    summary.clear();
    summary.send_keys(arabic);
    assert_eq!(summary.value(), arabic);
    browser.find("#notes").send_keys(notes);
    let channel = browser.find("#channel");
    channel.select_by_text("Online");
    channel.select_by_value("phone");
    assert_eq!(channel.value(), "phone");
    browser.find("#urgent").set_checked(true);
    browser.find("#r-signal").click();
    assert!(browser.find("#r-signal").is_selected());
    assert!(!browser.find("#r-sms").is_selected());
    let main = browser.find("main").rect();
    assert!(main.width > 0.0 && main.width <= 1280.0, "{main:?}");

    let shot = artifacts_dir().join("webdriver-selftest.png");
    let (w, h) = browser.screenshot(&shot);
    assert!(w >= 500 && h > 100, "screenshot is {w}x{h}");
    assert_eq!(png_size(&std::fs::read(&shot).unwrap()), (w, h));

    browser.find("#send").click_and_wait();
    assert_eq!(browser.current_url(), format!("{site}/echo"));
    let expected = format!(
        "summary={}&notes={}&channel=phone&urgent=yes&reply=signal",
        form_urlencode(arabic),
        form_urlencode(&notes.replace('\n', "\r\n")),
    );
    assert_eq!(browser.find("#echo").text(), expected);
    assert!(expected.contains("summary=%D8%AA%D9%87%D8%AF%D9%8A%D8%AF+%D8%B9%D8%A8%D8%B1+"));
    assert_eq!(browser.title(), "Echo", "page JavaScript ran");

    // The same desktop window narrowed to 320 px (below Chromium's 500 px --window-size floor).
    browser.set_window_size(320, 640);
    browser.goto(&format!("{site}/"));
    let viewport = browser.viewport_width();
    assert!(viewport > 280.0 && viewport <= 320.0, "viewport {viewport}");
    assert!(browser.page_width() <= 320.0, "the page is {} px wide", browser.page_width());
    assert!(browser.find("main").rect().width <= viewport);

    drop(browser);
    assert_eq!(processes_mentioning(&dir), Vec::<u32>::new(), "Chromium processes outlived the Browser");
    assert!(!dir.exists(), "the browser's temp dir is left behind");

    // A 320 px phone: the page fits, and the form can still be used.
    let phone = Browser::start_mobile().expect("Chromium is installed");
    phone.goto(&format!("{site}/"));
    assert_eq!(phone.viewport_width(), 320.0);
    assert!(phone.page_width() <= 320.0, "the page is {} px wide", phone.page_width());
    let main = phone.find("main").rect();
    assert!(main.x >= 0.0 && main.x + main.width <= 320.0, "{main:?}");
    let (w, _) = phone.screenshot(artifacts_dir().join("webdriver-selftest-320.png"));
    assert_eq!(w, 320);
    phone.find("#summary").send_keys(" ☎");
    phone.find("#urgent").set_checked(true);
    phone.find("#send").click_and_wait();
    assert_eq!(phone.find("#echo").text(), "summary=prefilled+%E2%98%8E&notes=&channel=&urgent=yes");
    assert_eq!(phone.title(), "Echo");
}
