//! Fault tolerance under load: the server killed with SIGKILL mid-intake, PostgreSQL
//! connections dropped under it, and two instances on one database racing each other.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{token_of, Backend, TestApp, TestDb, ADMIN_EMAIL, ADMIN_PASSWORD};

/// A response's status and its Retry-After, if any.
type Outcome = (u16, Option<String>);

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .new_agent()
}

/// The real binary on `db`; returns the child and its base URL.
fn spawn(db: &TestDb) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_haven"))
        .envs(db.env())
        .env("HAVEN_BIND", "127.0.0.1:0")
        .env("HAVEN_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("HAVEN_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("HAVEN_JWT_ACCESS_TTL_SECONDS", "3600")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start haven");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = loop {
        let line = lines.next().expect("haven exited before listening").expect("stdout line");
        if let Some(u) = line.strip_prefix("Haven is listening on ") {
            break u.trim().to_string();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, base)
}

fn post(agent: &ureq::Agent, url: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut req = agent.post(url);
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    match req.send_json(body) {
        Ok(mut r) => {
            let status = r.status().as_u16();
            (status, r.body_mut().read_json::<Value>().unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

fn get(agent: &ureq::Agent, url: &str, token: &str) -> (u16, Value) {
    match agent.get(url).header("Authorization", format!("Bearer {token}")).call() {
        Ok(mut r) => {
            let status = r.status().as_u16();
            (status, r.body_mut().read_json::<Value>().unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

/// An organisation and a coordinator with a password of her own, through the API.
fn coordinator(agent: &ureq::Agent, base: &str) -> String {
    let (s, login) = post(
        agent,
        &format!("{base}/api/v1/auth/login"),
        None,
        &json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
    );
    assert_eq!(s, 200, "{login}");
    let admin = token_of(&login);
    let (s, org) = post(
        agent,
        &format!("{base}/api/v1/organizations"),
        Some(&admin),
        &json!({ "name": format!("Org {}", uuid::Uuid::new_v4().simple()), "kind": "un_agency", "country": "KE" }),
    );
    assert_eq!(s, 201, "{org}");
    let email = format!("coord-{}@haven.test", uuid::Uuid::new_v4().simple());
    let (s, user) = post(
        agent,
        &format!("{base}/api/v1/users"),
        Some(&admin),
        &json!({ "email": email, "name": "Coordinator", "role": "coordinator", "organization_id": org["id"] }),
    );
    assert_eq!(s, 201, "{user}");
    let otp = user["one_time_password"].as_str().expect("one-time password").to_string();
    let (s, login) =
        post(agent, &format!("{base}/api/v1/auth/login"), None, &json!({ "email": email, "password": otp }));
    assert_eq!(s, 200, "{login}");
    let t = token_of(&login);
    let pw = "a long enough password for faults";
    let (s, _) = post(
        agent,
        &format!("{base}/api/v1/me/password"),
        Some(&t),
        &json!({ "current_password": otp, "new_password": pw }),
    );
    assert!(s == 200 || s == 204, "password change: {s}");
    let (s, login) =
        post(agent, &format!("{base}/api/v1/auth/login"), None, &json!({ "email": email, "password": pw }));
    assert_eq!(s, 200, "{login}");
    token_of(&login)
}

fn alert_body(i: usize, worker: usize) -> Value {
    json!({
        "kind": "threat_received", "urgency": "high", "country": "KE", "region": null,
        "narrative": format!("intake under fire, worker {worker}, alert {i}"),
        "safe_contact": null, "consent_scope": ["ngo"], "defender_id": null,
    })
}

/// SIGKILL in the middle of an intake load, then a restart on the same data: every alert
/// that was answered 2xx is there and decrypts, nothing half-written breaks the audit
/// chain, and every stored alert opens.
fn kill_9_during_intake(backend: Backend) {
    let Some(db) = TestDb::new(backend) else { return };
    let (mut child, base) = spawn(&db);
    let a = agent();
    let token = coordinator(&a, &base);
    let acked: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let (base, token, acked, stop) = (base.clone(), token.clone(), acked.clone(), stop.clone());
            std::thread::spawn(move || {
                let a = agent();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let body = alert_body(i, w);
                    let (s, v) = post(&a, &format!("{base}/api/v1/alerts"), Some(&token), &body);
                    if (200..300).contains(&s) {
                        let id = v["id"].as_str().expect("id").to_string();
                        acked.lock().unwrap().push((id, body["narrative"].as_str().unwrap().to_string()));
                    } else if s == 0 {
                        return; // the server is gone
                    }
                    i += 1;
                }
            })
        })
        .collect();
    let started = Instant::now();
    while acked.lock().unwrap().len() < 60 && started.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    child.wait().expect("reaped");
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 60, "the load ran ({} acknowledged)", acked.len());

    let (mut child, base) = spawn(&db);
    let a = agent();
    let login = post(
        &a,
        &format!("{base}/api/v1/auth/login"),
        None,
        &json!({ "email": ADMIN_EMAIL, "password": ADMIN_PASSWORD }),
    )
    .1;
    assert!(login["access_token"].is_string(), "the restarted server answers");
    // The same coordinator's token still works (same key, session in the database).
    for (id, narrative) in &acked {
        let (s, v) = get(&a, &format!("{base}/api/v1/alerts/{id}"), &token);
        assert_eq!(s, 200, "acknowledged alert {id} lost after SIGKILL: {v}");
        assert_eq!(v["narrative"], narrative.as_str());
    }
    // Every alert stored at all (acknowledged or not) opens: none is half-written.
    let mut cursor: Option<String> = None;
    let mut stored = 0;
    loop {
        let q = cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
        let (s, page) = get(&a, &format!("{base}/api/v1/alerts?limit=100{q}"), &token);
        assert_eq!(s, 200);
        for item in page["items"].as_array().expect("items") {
            let id = item["id"].as_str().unwrap();
            let (s, v) = get(&a, &format!("{base}/api/v1/alerts/{id}"), &token);
            assert_eq!(s, 200, "stored alert {id} does not open: {v}");
            stored += 1;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert!(stored >= acked.len(), "{stored} stored, {} acknowledged", acked.len());
    assert!(stored <= acked.len() + 6, "at most one unacknowledged alert per worker: {stored} vs {}", acked.len());
    child.kill().unwrap();
    child.wait().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_haven")).args(["audit", "verify"]).envs(db.env()).output().unwrap();
    assert!(out.status.success(), "audit chain after SIGKILL: {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn kill_9_during_intake_loses_no_acknowledged_alert_sqlite() {
    kill_9_during_intake(Backend::Sqlite);
}

#[test]
fn kill_9_during_intake_loses_no_acknowledged_alert_postgres() {
    kill_9_during_intake(Backend::Postgres);
}

/// Every PostgreSQL connection of the app is terminated three times under load: requests
/// fail with 503 and a Retry-After (never a 500), and the service recovers on its own.
#[test]
fn postgres_connections_dropped_mid_load_give_503_and_recover() {
    let Some(db) = TestDb::new(Backend::Postgres) else { return };
    let tag = format!("haven_fault_{}", uuid::Uuid::new_v4().simple());
    let app = TestApp::start_with(db, |c| {
        let url = format!("{}&application_name={tag}", c.database_url.expose());
        c.database_url = haven::config::Secret::new(url);
    });
    let org = app.admin_org();
    let (_, email, pw) = app.user(haven::domain::Role::Coordinator, &org);
    let token = token_of(&app.login(&email, &pw));
    let statuses: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (base, token, statuses, stop) = (app.base.clone(), token.clone(), statuses.clone(), stop.clone());
            std::thread::spawn(move || {
                let a = agent();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let r = a
                        .post(format!("{base}/api/v1/alerts"))
                        .header("Authorization", format!("Bearer {token}"))
                        .send_json(alert_body(i, w));
                    let entry = match r {
                        Ok(r) => (
                            r.status().as_u16(),
                            r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string),
                        ),
                        Err(_) => (0, None),
                    };
                    statuses.lock().unwrap().push(entry);
                    i += 1;
                }
            })
        })
        .collect();
    let server = crate::harness::postgres_url().expect("postgres url");
    let mut admin = {
        use diesel::Connection;
        diesel::PgConnection::establish(&server).expect("admin connection")
    };
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(400));
        use diesel::RunQueryDsl;
        diesel::sql_query(format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '{tag}'"
        ))
        .execute(&mut admin)
        .expect("terminate");
    }
    std::thread::sleep(Duration::from_millis(600));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    let statuses = statuses.lock().unwrap().clone();
    let failed: Vec<_> = statuses.iter().filter(|(s, _)| *s != 201).collect();
    assert!(statuses.len() > 20, "the load ran");
    for (s, retry) in &failed {
        assert_eq!(*s, 503, "a dropped connection is a 503, not {s}");
        assert!(retry.is_some(), "503 carries Retry-After");
    }
    println!("connections dropped 3 times under load: {} requests, {} answered 503", statuses.len(), failed.len());
    // Recovered without a restart.
    for i in 0..5 {
        let r = app.post("/api/v1/alerts", Some(&token), alert_body(i, 99));
        assert_eq!(r.status, 201, "after the drops: {r:?}");
    }
}

/// Two instances on one PostgreSQL database under load: case references stay unique, and
/// of concurrent transitions of one case with the same If-Match exactly one wins.
#[test]
fn two_instances_on_one_postgres_keep_references_unique_and_updates_safe() {
    let Some(db) = TestDb::new(Backend::Postgres) else { return };
    let data_dir = db.dir.path().join("data");
    let second_db = db.share();
    let a = TestApp::start_with(db, |_| {});
    let b = TestApp::start_with(second_db, |c| c.data_dir = data_dir.clone());
    let org = a.admin_org();
    let (_, email, pw) = a.user(haven::domain::Role::Coordinator, &org);
    let token = token_of(&a.login(&email, &pw));
    let bases = [a.base.clone(), b.base.clone()];
    let ids: Vec<(String, String)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|w| {
                let base = bases[w % 2].clone();
                let token = token.clone();
                s.spawn(move || {
                    let ag = agent();
                    (0..15)
                        .map(|_| {
                            let (st, v) = post(
                                &ag,
                                &format!("{base}/api/v1/cases"),
                                Some(&token),
                                &json!({ "severity": "high", "country": "KE", "consent_scope": [] }),
                            );
                            assert_eq!(st, 201, "{v}");
                            (v["id"].as_str().unwrap().to_string(), v["reference"].as_str().unwrap().to_string())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let refs: std::collections::HashSet<&str> = ids.iter().map(|(_, r)| r.as_str()).collect();
    assert_eq!(refs.len(), ids.len(), "duplicate case references across instances");

    // Concurrent transitions with the same If-Match, half through each instance.
    for (case_id, _) in ids.iter().take(10) {
        let (s, case) = get(&agent(), &format!("{}/api/v1/cases/{case_id}", a.base), &token);
        assert_eq!(s, 200);
        let etag = format!("\"v{}\"", case["version"]);
        let results: Vec<u16> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..6)
                .map(|w| {
                    let base = bases[w % 2].clone();
                    let (token, etag) = (token.clone(), etag.clone());
                    s.spawn(move || {
                        agent()
                            .post(format!("{base}/api/v1/cases/{case_id}/transitions"))
                            .header("Authorization", format!("Bearer {token}"))
                            .header("If-Match", &etag)
                            .send_json(json!({ "to": "acknowledged" }))
                            .map(|r| r.status().as_u16())
                            .unwrap_or(0)
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert_eq!(results.iter().filter(|s| **s == 200).count(), 1, "exactly one transition wins: {results:?}");
        assert!(results.iter().all(|s| [200, 409, 412].contains(s)), "{results:?}");
        let (_, case) = get(&agent(), &format!("{}/api/v1/cases/{case_id}", b.base), &token);
        let acks = case["transitions"].as_array().unwrap().iter().filter(|t| t["to"] == "acknowledged").count();
        assert_eq!(acks, 1, "one transition recorded: {case}");
    }
}

/// Runs `mount` with these arguments; false if this machine does not allow it.
fn mount(args: &[&str]) -> bool {
    Command::new("mount").args(args).output().map(|o| o.status.success()).unwrap_or(false)
}

/// SQLite on a disk that fills up: writes answer 503 with a Retry-After and a log line that
/// says why, never a 500; freeing the space brings the service back without a restart, and
/// nothing is lost or corrupted. On a file system that is read-only at start, Haven refuses
/// to start and says why. The data directory is a 6 MB tmpfs mounted by the test (root only: skipped
/// with a notice elsewhere).
#[test]
fn sqlite_disk_full_or_read_only_gives_503_and_no_corruption() {
    let db = TestDb::new(Backend::Sqlite).expect("sqlite");
    let dir = db.dir.path().to_path_buf();
    if !mount(&["-t", "tmpfs", "-o", "size=6m,mode=0700", "tmpfs", dir.to_str().unwrap()]) {
        eprintln!("*** sqlite_disk_full_or_read_only: SKIPPED: cannot mount a tmpfs here (needs root) ***");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(dir.clone());
    let log = dir.with_extension("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_haven"))
        .envs(db.env())
        .env("HAVEN_BIND", "127.0.0.1:0")
        .env("HAVEN_ADMIN_EMAIL", ADMIN_EMAIL)
        .env("HAVEN_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("HAVEN_JWT_ACCESS_TTL_SECONDS", "3600")
        .env("HAVEN_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("listening").unwrap();
        if let Some(u) = line.strip_prefix("Haven is listening on ") {
            break u.trim().to_string();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    let a = agent();
    let token = coordinator(&a, &base);
    let mut acked: Vec<(String, String)> = Vec::new();
    let mut intake = |i: usize, tag: usize| -> (u16, Option<String>) {
        let body = alert_body(i, tag);
        match a
            .post(format!("{base}/api/v1/alerts"))
            .header("Authorization", format!("Bearer {token}"))
            .send_json(&body)
        {
            Ok(mut r) => {
                let s = r.status().as_u16();
                let retry = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
                if s == 201 {
                    let v: Value = r.body_mut().read_json().unwrap();
                    acked
                        .push((v["id"].as_str().unwrap().to_string(), body["narrative"].as_str().unwrap().to_string()));
                }
                (s, retry)
            }
            Err(e) => panic!("transport: {e}"),
        }
    };
    for i in 0..20 {
        assert_eq!(intake(i, 0).0, 201);
    }

    // Fill the disk to the last byte.
    let filler = dir.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
        let _ = f.sync_all();
    }
    let mut full = Vec::new();
    for i in 0..200 {
        let (s, retry) = intake(i, 1);
        assert!(s == 201 || s == 503, "disk full: {s}, never a 500");
        if s == 503 {
            assert!(retry.is_some(), "503 carries Retry-After");
            full.push(s);
            if full.len() >= 5 {
                break;
            }
        }
    }
    assert!(full.len() >= 5, "a full disk turns writes into 503s");
    std::fs::remove_file(&filler).unwrap();
    let mut recovered = false;
    for i in 0..20 {
        if intake(i, 2).0 == 201 {
            recovered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(recovered, "space freed: writes work again without a restart");

    // Nothing lost, nothing corrupt.
    for (id, narrative) in &acked {
        let (s, v) = get(&a, &format!("{base}/api/v1/alerts/{id}"), &token);
        assert_eq!(s, 200, "{id}: {v}");
        assert_eq!(v["narrative"], narrative.as_str());
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("database or disk is full"), "a clear log line for the full disk: {logged}");

    // A read-only file system (a file system cannot be made read-only under a process that
    // holds files open for writing, so this is at start): a clear refusal, and the data
    // intact once it is writable again.
    assert!(mount(&["-o", "remount,ro", dir.to_str().unwrap()]), "remount read-only");
    let out = Command::new(env!("CARGO_BIN_EXE_haven"))
        .envs(db.env())
        .env("HAVEN_BIND", "127.0.0.1:0")
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "refuses to serve on a read-only database");
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("read-only") || err.contains("readonly"), "says why: {err}");
    assert!(mount(&["-o", "remount,rw", dir.to_str().unwrap()]), "remount read-write");
    {
        use diesel::{Connection, RunQueryDsl};
        #[derive(diesel::QueryableByName)]
        struct Check {
            #[diesel(sql_type = diesel::sql_types::Text)]
            integrity_check: String,
        }
        let mut c = diesel::SqliteConnection::establish(dir.join("haven.db").to_str().unwrap()).unwrap();
        let r: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(&mut c).unwrap();
        assert_eq!(r[0].integrity_check, "ok");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_haven")).args(["audit", "verify"]).envs(db.env()).output().unwrap();
    assert!(out.status.success(), "audit chain: {}", String::from_utf8_lossy(&out.stdout));
}

/// Whether this PostgreSQL server can speak French: its host needs the fr_FR.UTF-8 locale
/// (and the server its message catalogue). Says so when it cannot.
fn server_speaks_french(server: &str) -> bool {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let mut c = diesel::PgConnection::establish(server).expect("connect");
    let ok = c.batch_execute("SET lc_messages = 'fr_FR.UTF-8'").is_ok()
        && c.batch_execute("SELECT 1/0").err().is_some_and(|e| e.to_string().contains("division par z"));
    if !ok {
        println!(
            "NOTE: this PostgreSQL server has no French messages (no fr_FR.UTF-8 locale on its host, \
             e.g. `localedef --no-archive -i fr_FR -f UTF-8 fr_FR.UTF-8`): the server's default language is used"
        );
    }
    ok
}

/// An embassy's PostgreSQL answers in French (lc_messages = fr_FR.UTF-8 by default for the
/// session). A lock timeout and a cancelled statement are still a 503 to retry, not a 500:
/// Haven's sessions ask for untranslated messages. The same errors on a session Haven did not
/// set up come in French, which is why.
#[test]
fn postgres_timeouts_are_503_whatever_the_servers_language() {
    use actix_web::ResponseError;
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let Some(server) = crate::harness::postgres_url() else { return };
    let french = server_speaks_french(&server);
    let mut db = TestDb::new(Backend::Postgres).expect("postgres");
    if french {
        db.url = format!("{}%20--lc_messages%3Dfr_FR.UTF-8", db.url);
    }
    let app = TestApp::start_with(db, |_| {});
    let url = app.db.url.clone();

    // A session as the server hands it out: French, when the server has it.
    let mut raw = diesel::PgConnection::establish(&url).expect("raw session");
    let holder_url = url.clone();
    let mut holder = diesel::PgConnection::establish(&holder_url).expect("lock holder");
    holder.batch_execute("BEGIN; LOCK TABLE cases IN ACCESS EXCLUSIVE MODE").expect("lock cases");

    let mut conn = app.state().db.get().expect("pooled connection");
    conn.batch_execute("SET lock_timeout = '200ms'").unwrap();
    let e = conn.batch_execute("SELECT count(*) FROM cases").expect_err("lock timeout");
    assert!(e.to_string().contains("canceling statement due to lock timeout"), "{e}");
    assert_eq!(haven::error::AppError::from(e).status_code(), 503);

    raw.batch_execute("SET lock_timeout = '200ms'").unwrap();
    let e = raw.batch_execute("SELECT count(*) FROM cases").expect_err("lock timeout");
    if french {
        assert!(e.to_string().contains("verrous"), "the server's own language: {e}");
        assert_eq!(haven::error::AppError::from(e).status_code(), 500, "a translated message is not recognised");
    }
    holder.batch_execute("ROLLBACK").unwrap();

    conn.batch_execute("SET statement_timeout = '100ms'").unwrap();
    let e = conn.batch_execute("SELECT pg_sleep(2)").expect_err("statement timeout");
    assert_eq!(haven::error::AppError::from(e).status_code(), 503);
    conn.batch_execute("RESET lock_timeout; SET statement_timeout = '60s'").unwrap();
}

/// A role that may not set lc_messages, whose messages are French: Haven cannot fix the
/// language itself and says what the operator must do (the startup warning).
#[test]
fn postgres_a_role_that_cannot_set_lc_messages_is_reported() {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let Some(server) = crate::harness::postgres_url() else { return };
    if !server_speaks_french(&server) {
        return;
    }
    let role = format!("haven_t_{}", uuid::Uuid::new_v4().simple());
    let mut admin = diesel::PgConnection::establish(&server).expect("connect");
    admin
        .batch_execute(&format!("CREATE ROLE {role} LOGIN; ALTER ROLE {role} SET lc_messages = 'fr_FR.UTF-8'"))
        .expect("create role");
    let mut u = url::Url::parse(&server).expect("server url");
    u.set_username(&role).expect("username");
    let result = diesel::PgConnection::establish(u.as_str()).map(|mut c| haven::db::english_messages(&mut c));
    let _ = admin.batch_execute(&format!("DROP ROLE {role}"));
    assert_eq!(result.expect("connect as the role"), Err("fr_FR.UTF-8".to_string()));
    // The superuser the tests run as may set it: nothing to report.
    assert_eq!(haven::db::english_messages(&mut admin), Ok(()));
}
