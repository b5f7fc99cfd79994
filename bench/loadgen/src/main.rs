//! A small closed-loop HTTP/1.1 load generator for bench/run: N keep-alive connections, one
//! thread each, each sending its next request as soon as the previous answer is read. Unlike
//! oha it can send a different body per request (one per line of a file, each used once with
//! `--once`), which the form benchmark needs: a form token works only once.
//!
//! ```text
//! loadgen run --url http://127.0.0.1:8080/report [--method POST] [-H 'name: value']...
//!             [--body TEXT | --body-file FILE [--once]] [--connections 16] [--duration 20]
//!             [--requests N] [--json OUT]
//! loadgen tokens --url http://127.0.0.1:8080/report --count N [--connections 16] --out FILE
//! ```
//!
//! `run` prints one JSON object: requests, status counts, transport errors, elapsed seconds,
//! requests/s (all answers, and 2xx/3xx only) and latency percentiles in milliseconds. Latency is
//! from the first byte written to the last byte of the answer read. `tokens` fetches the form
//! N times and writes the hidden `token` of each page, one per line.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Target {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Target {
    let rest = url.strip_prefix("http://").unwrap_or_else(|| die("only http:// URLs"));
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap_or_else(|_| die("bad port"))),
        None => (authority.to_string(), 80),
    };
    Target { host, port, path: path.to_string() }
}

fn die(msg: &str) -> ! {
    eprintln!("loadgen: {msg}");
    std::process::exit(2)
}

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(t: &Target) -> std::io::Result<Conn> {
        let s = TcpStream::connect((t.host.as_str(), t.port))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Conn { reader: BufReader::with_capacity(64 * 1024, s.try_clone()?), writer: s })
    }

    /// Sends one request and reads the whole answer: (status, body, server wants to close).
    fn exchange(&mut self, head: &[u8], body: &[u8]) -> std::io::Result<(u16, Vec<u8>, bool)> {
        let mut req = Vec::with_capacity(head.len() + body.len() + 32);
        req.extend_from_slice(head);
        req.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        req.extend_from_slice(body);
        self.writer.write_all(&req)?;
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed"));
        }
        let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        let mut length: Option<usize> = None;
        let mut chunked = false;
        let mut close = false;
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "closed in headers"));
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                match k.as_str() {
                    "content-length" => length = v.parse().ok(),
                    "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                    "connection" => close = v.eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                line.clear();
                self.reader.read_line(&mut line)?;
                let n = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16).unwrap_or(0);
                let mut chunk = vec![0u8; n + 2];
                self.reader.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
        } else if let Some(n) = length {
            out.resize(n, 0);
            self.reader.read_exact(&mut out)?;
        } else {
            self.reader.read_to_end(&mut out)?;
            close = true;
        }
        Ok((status, out, close))
    }
}

#[derive(Default)]
struct Opts {
    url: String,
    method: String,
    headers: Vec<String>,
    body: Option<String>,
    body_file: Option<String>,
    once: bool,
    connections: usize,
    duration: f64,
    requests: usize,
    json: Option<String>,
    count: usize,
    out: Option<String>,
}

fn parse_opts(args: &[String]) -> Opts {
    let mut o = Opts { method: "GET".into(), connections: 16, duration: 20.0, ..Default::default() };
    let mut i = 0;
    let val = |i: &mut usize| -> String {
        *i += 1;
        args.get(*i).cloned().unwrap_or_else(|| die(&format!("{} needs a value", args[*i - 1])))
    };
    while i < args.len() {
        match args[i].as_str() {
            "--url" => o.url = val(&mut i),
            "--method" | "-m" => o.method = val(&mut i),
            "--header" | "-H" => o.headers.push(val(&mut i)),
            "--body" | "-d" => o.body = Some(val(&mut i)),
            "--body-file" => o.body_file = Some(val(&mut i)),
            "--once" => o.once = true,
            "--connections" | "-c" => o.connections = val(&mut i).parse().unwrap_or_else(|_| die("bad -c")),
            "--duration" | "-z" => o.duration = val(&mut i).parse().unwrap_or_else(|_| die("bad --duration")),
            "--requests" | "-n" => o.requests = val(&mut i).parse().unwrap_or_else(|_| die("bad -n")),
            "--json" => o.json = Some(val(&mut i)),
            "--count" => o.count = val(&mut i).parse().unwrap_or_else(|_| die("bad --count")),
            "--out" => o.out = Some(val(&mut i)),
            other => die(&format!("unknown argument {other}")),
        }
        i += 1;
    }
    if o.url.is_empty() {
        die("--url is required");
    }
    o
}

fn request_head(t: &Target, method: &str, headers: &[String]) -> Vec<u8> {
    let mut h = format!("{method} {} HTTP/1.1\r\nHost: {}:{}\r\n", t.path, t.host, t.port);
    for x in headers {
        h.push_str(x);
        h.push_str("\r\n");
    }
    h.into_bytes()
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

fn run(o: Opts) {
    let target = Arc::new(parse_url(&o.url));
    let head = Arc::new(request_head(&target, &o.method, &o.headers));
    let bodies: Arc<Vec<Vec<u8>>> = Arc::new(match (&o.body, &o.body_file) {
        (Some(b), None) => vec![b.clone().into_bytes()],
        (None, Some(f)) => std::fs::read_to_string(f)
            .unwrap_or_else(|e| die(&format!("{f}: {e}")))
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| l.as_bytes().to_vec())
            .collect(),
        (None, None) => vec![Vec::new()],
        _ => die("give --body or --body-file, not both"),
    });
    if bodies.is_empty() {
        die("the body file is empty");
    }
    let next = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, u64>::new()));
    let lat_all = Arc::new(Mutex::new(Vec::<u64>::new()));
    let errors = Arc::new(AtomicUsize::new(0));
    let exhausted = Arc::new(AtomicBool::new(false));
    let deadline = Instant::now() + Duration::from_secs_f64(o.duration);
    let started = Instant::now();
    let mut threads = Vec::new();
    for _ in 0..o.connections {
        let (target, head, bodies, next, stop) = (target.clone(), head.clone(), bodies.clone(), next.clone(), stop.clone());
        let (statuses, lat_all, errors, exhausted) = (statuses.clone(), lat_all.clone(), errors.clone(), exhausted.clone());
        let (once, requests) = (o.once, o.requests);
        threads.push(std::thread::spawn(move || {
            let mut lat = Vec::with_capacity(1 << 16);
            let mut mine: BTreeMap<u16, u64> = BTreeMap::new();
            let mut conn: Option<Conn> = None;
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if requests > 0 && i >= requests {
                    break;
                }
                if once && i >= bodies.len() {
                    exhausted.store(true, Ordering::Relaxed);
                    break;
                }
                let body = &bodies[i % bodies.len()];
                if conn.is_none() {
                    match Conn::open(&target) {
                        Ok(c) => conn = Some(c),
                        Err(_) => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(Duration::from_millis(50));
                            continue;
                        }
                    }
                }
                let t0 = Instant::now();
                match conn.as_mut().map(|c| c.exchange(&head, body)) {
                    Some(Ok((status, _, close))) => {
                        lat.push(t0.elapsed().as_micros() as u64);
                        *mine.entry(status).or_default() += 1;
                        if close {
                            conn = None;
                        }
                    }
                    _ => {
                        errors.fetch_add(1, Ordering::Relaxed);
                        conn = None;
                    }
                }
            }
            lat_all.lock().unwrap().extend(lat);
            let mut s = statuses.lock().unwrap();
            for (k, v) in mine {
                *s.entry(k).or_default() += v;
            }
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let mut lat = std::mem::take(&mut *lat_all.lock().unwrap());
    lat.sort_unstable();
    let statuses = statuses.lock().unwrap().clone();
    // Success is any 2xx or 3xx: the form answers a stored report with `303 See Other`.
    let ok: u64 = statuses.iter().filter(|(k, _)| (200..400).contains(*k)).map(|(_, v)| v).sum();
    let total = lat.len() as u64;
    let status_json: Vec<String> = statuses.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    let json = format!(
        "{{\"tool\":\"loadgen\",\"url\":\"{}\",\"method\":\"{}\",\"connections\":{},\"requests\":{},\"ok\":{},\
         \"statuses\":{{{}}},\"errors\":{},\"elapsed_s\":{:.3},\"rps\":{:.1},\"ok_rps\":{:.1},\"p50_ms\":{:.3},\
         \"p90_ms\":{:.3},\"p99_ms\":{:.3},\"p999_ms\":{:.3},\"max_ms\":{:.3},\"bodies_exhausted\":{}}}",
        o.url,
        o.method,
        o.connections,
        total,
        ok,
        status_json.join(","),
        errors.load(Ordering::Relaxed),
        elapsed,
        total as f64 / elapsed,
        ok as f64 / elapsed,
        percentile(&lat, 50.0),
        percentile(&lat, 90.0),
        percentile(&lat, 99.0),
        percentile(&lat, 99.9),
        lat.last().copied().unwrap_or(0) as f64 / 1000.0,
        exhausted.load(Ordering::Relaxed),
    );
    println!("{json}");
    if let Some(path) = o.json {
        std::fs::write(&path, format!("{json}\n")).unwrap_or_else(|e| die(&format!("{path}: {e}")));
    }
}

/// Extracts the form's hidden token from a page.
fn token_of(page: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(page).ok()?;
    let at = text.find("name=\"token\" value=\"")? + "name=\"token\" value=\"".len();
    let end = text[at..].find('"')?;
    Some(text[at..at + end].to_string())
}

fn tokens(o: Opts) {
    let out = o.out.clone().unwrap_or_else(|| die("--out is required"));
    let target = Arc::new(parse_url(&o.url));
    let head = Arc::new(request_head(&target, "GET", &o.headers));
    let next = Arc::new(AtomicUsize::new(0));
    let found = Arc::new(Mutex::new(Vec::<String>::with_capacity(o.count)));
    let count = o.count;
    let mut threads = Vec::new();
    for _ in 0..o.connections {
        let (target, head, next, found) = (target.clone(), head.clone(), next.clone(), found.clone());
        threads.push(std::thread::spawn(move || {
            let mut conn = Conn::open(&target).unwrap_or_else(|e| die(&format!("connect: {e}")));
            let mut mine = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let (status, page, close) = conn.exchange(&head, b"").unwrap_or_else(|e| die(&format!("GET: {e}")));
                if status != 200 {
                    die(&format!("GET {} answered {status}", target.path));
                }
                mine.push(token_of(&page).unwrap_or_else(|| die("no token in the form page")));
                if close {
                    conn = Conn::open(&target).unwrap_or_else(|e| die(&format!("connect: {e}")));
                }
            }
            found.lock().unwrap().extend(mine);
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    let found = found.lock().unwrap();
    let mut text = found.join("\n");
    text.push('\n');
    std::fs::write(&out, text).unwrap_or_else(|e| die(&format!("{out}: {e}")));
    eprintln!("loadgen: wrote {} tokens to {out}", found.len());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("run") => run(parse_opts(&args[1..])),
        Some("tokens") => tokens(parse_opts(&args[1..])),
        _ => die("usage: loadgen run … | loadgen tokens … (see the source's header)"),
    }
}
