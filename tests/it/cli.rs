//! The `haven` binary: first start, the admin commands, refusals on a bad setup.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::json;

use crate::db_only_test;
use crate::harness::{Backend, TestApp, TestDb};

fn haven(db: &TestDb, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_haven")).args(args).envs(db.env()).output().expect("run haven")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

db_only_test!(cli_creates_organizations_and_users_with_one_time_passwords, |db| {
    let o = haven(&db, &["migrate"]);
    assert!(o.status.success(), "{o:?}");
    let o =
        haven(&db, &["org", "create", "--name", "UN Verification Mission", "--kind", "un_agency", "--country", "CO"]);
    assert!(o.status.success(), "{o:?}");
    let o = haven(&db, &["org", "create", "--name", "Bad", "--kind", "club", "--country", "CO"]);
    assert!(!o.status.success());
    let o = haven(
        &db,
        &[
            "user",
            "create",
            "--email",
            "coord@un.test",
            "--name",
            "Coordinator",
            "--role",
            "coordinator",
            "--org",
            "UN Verification Mission",
        ],
    );
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    let otp = out
        .lines()
        .find_map(|l| l.strip_prefix("one-time password: "))
        .expect("one-time password printed")
        .trim()
        .to_string();
    let o = haven(&db, &["org", "list"]);
    assert!(stdout(&o).contains("UN Verification Mission"));

    // The printed password works once, and must be changed.
    let app = TestApp::start_with(db, |_| {});
    let login = app.login("coord@un.test", &otp);
    let me = app.get("/api/v1/me", Some(login["access_token"].as_str().unwrap())).json();
    assert_eq!(me["role"], "coordinator");
    assert_eq!(me["must_change_password"], true);
});

db_only_test!(audit_verify_on_an_empty_chain_passes, |db| {
    haven(&db, &["migrate"]);
    let o = haven(&db, &["audit", "verify"]);
    assert!(o.status.success(), "{o:?}");
    assert!(stdout(&o).contains("0 event(s)"));
});

#[test]
fn unknown_database_scheme_is_refused_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for url in ["mysql://localhost/haven", "haven.db", "sqlite:haven.db"] {
        let o = Command::new(env!("CARGO_BIN_EXE_haven"))
            .arg("migrate")
            .current_dir(dir.path())
            .env("HAVEN_DATABASE_URL", url)
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(2), "{url}: {o:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("scheme"), "{url}: {o:?}");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no stray files");
}

#[test]
fn unknown_haven_variable_is_refused() {
    let o = Command::new(env!("CARGO_BIN_EXE_haven")).arg("migrate").env("HAVEN_BINDD", "x").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("HAVEN_BINDD"));
}

/// `haven` with no arguments in an empty directory: the README's first command.
#[test]
fn first_start_on_a_fresh_directory() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_haven"))
        .current_dir(dir.path())
        .env("HAVEN_BIND", "127.0.0.1:0")
        .env("HAVEN_POLICIES_DIR", Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut password = None;
    let mut base = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(p) = line.trim().strip_prefix("password: ") {
            password = Some(p.trim().to_string());
        }
        if let Some(u) = line.strip_prefix("Haven is listening on ") {
            base = Some(u.trim().to_string());
            break;
        }
    }
    let (password, base) = (password.expect("generated password printed"), base.expect("listening line"));
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let health = agent.get(format!("{base}/healthz")).call().unwrap();
    assert_eq!(health.status(), 200);
    let mut r = agent
        .post(format!("{base}/api/v1/auth/login"))
        .send_json(json!({ "email": "admin@haven.invalid", "password": password }))
        .unwrap();
    assert_eq!(r.status(), 200);
    let token = r.body_mut().read_json::<serde_json::Value>().unwrap()["access_token"].as_str().unwrap().to_string();
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains(&password), "the password must not reach the log");
    assert!(!log.contains(&token), "tokens must not reach the log");
    assert!(log.contains("/api/v1/auth/login"), "requests are logged (by route): {log}");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let data = dir.path().join("haven-data");
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("haven.db")), 0o600);
        assert_eq!(mode(&data.join("jwt-signing.key")), 0o600);
        assert_eq!(mode(&data.join("form.key")), 0o600);

        // A key file others can read stops the next start.
        std::fs::set_permissions(data.join("jwt-signing.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_haven"))
            .current_dir(dir.path())
            .env("HAVEN_BIND", "127.0.0.1:0")
            .output()
            .unwrap();
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stderr).contains("chmod 600"), "{o:?}");
    }
}

/// A first start on a busy port fails before it makes the admin, so the next start still
/// prints the one-time password; and `user reset-password` is the way back in after all.
#[test]
fn a_failed_first_start_keeps_the_way_in() {
    let dir = tempfile::tempdir().unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let start = |bind: &str| {
        Command::new(env!("CARGO_BIN_EXE_haven"))
            .current_dir(dir.path())
            .env("HAVEN_BIND", bind)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let failed = start(&busy.local_addr().unwrap().to_string()).wait_with_output().unwrap();
    assert!(!failed.status.success());
    assert!(String::from_utf8_lossy(&failed.stderr).contains("cannot listen on"), "{failed:?}");
    assert!(!stdout(&failed).contains("password"), "no admin made: {failed:?}");
    drop(busy);

    let mut child = start("127.0.0.1:0");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut password = None;
    let mut base = None;
    let mut closed_note = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        closed_note |= line.starts_with("Note: the web form is closed");
        if let Some(p) = line.trim().strip_prefix("password: ") {
            password = Some(p.trim().to_string());
        }
        if let Some(u) = line.strip_prefix("Haven is listening on ") {
            base = Some(u.trim().to_string());
            break;
        }
    }
    let (password, base) = (password.expect("the second start prints the password"), base.expect("listening"));
    assert!(closed_note, "the start says the form is closed and why");
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let login = |pw: &str| {
        agent
            .post(format!("{base}/api/v1/auth/login"))
            .send_json(json!({ "email": "admin@haven.invalid", "password": pw }))
            .unwrap()
            .status()
    };
    assert_eq!(login(&password), 200);

    // Nobody could read a report yet: the form is closed, and everything says why.
    let status = |path: &str| agent.get(format!("{base}{path}")).call().unwrap().status();
    assert_eq!(status("/report"), 503);
    let ready: serde_json::Value = agent.get(format!("{base}/readyz")).call().unwrap().body_mut().read_json().unwrap();
    assert_eq!(ready["form"], "closed", "{ready}");
    let haven =
        |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_haven")).current_dir(dir.path()).args(args).output().unwrap();
    let o = haven(&["form", "intake"]);
    assert!(stdout(&o).contains("has no active coordinator"), "{o:?}");
    let o = haven(&["form", "intake", "--org", "Haven administration"]);
    assert!(!o.status.success() && String::from_utf8_lossy(&o.stderr).contains("no active coordinator"), "{o:?}");
    let o = haven(&[
        "user",
        "create",
        "--email",
        "coord@first.test",
        "--name",
        "C",
        "--role",
        "coordinator",
        "--org",
        "Haven administration",
    ]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(status("/report"), 200, "open as soon as someone can read it");
    let o = haven(&["form", "intake", "--org", "Haven administration"]);
    assert!(o.status.success() && stdout(&o).contains("the web form is open"), "{o:?}");

    // Lost it anyway: the command line gives a new one, while the service runs.
    let o = Command::new(env!("CARGO_BIN_EXE_haven"))
        .current_dir(dir.path())
        .args(["user", "reset-password", "Admin@Haven.invalid"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    let fresh = out
        .lines()
        .find_map(|l| l.split_once("): ").map(|(_, p)| p.trim().to_string()))
        .expect("new one-time password printed");
    assert_eq!(login(&password), 401, "the old password is gone");
    assert_eq!(login(&fresh), 200);
    let o = Command::new(env!("CARGO_BIN_EXE_haven"))
        .current_dir(dir.path())
        .args(["user", "reset-password", "nobody@haven.invalid"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("no account has the email address"), "{o:?}");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!log.contains(&password) && !log.contains(&fresh), "passwords never reach the log");
}

#[test]
fn sqlite_backend_is_chosen_by_url() {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    let pool = haven::db::Db::connect(&db.url, 1).unwrap();
    assert_eq!(pool.backend(), haven::db::Backend::Sqlite);
    assert!(db.dir.path().join("haven.db").exists());
}

/// A whole flow through the real binary with the most verbose logging: the log holds no
/// case content, no password, no token.
#[test]
fn the_log_of_a_case_flow_holds_no_content_or_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let admin_pw = "admin password for the log test";
    let mut child = Command::new(env!("CARGO_BIN_EXE_haven"))
        .current_dir(dir.path())
        .env("HAVEN_BIND", "127.0.0.1:0")
        .env("HAVEN_LOG", "trace")
        .env("HAVEN_ADMIN_EMAIL", "admin@log.test")
        .env("HAVEN_ADMIN_PASSWORD", admin_pw)
        .env("HAVEN_POLICIES_DIR", crate::harness::test_policies())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = lines
        .by_ref()
        .map(|l| l.unwrap())
        .find_map(|l| l.strip_prefix("Haven is listening on ").map(|u| u.trim().to_string()))
        .expect("listening line");
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let call = |method: &str, path: &str, token: Option<&str>, body: serde_json::Value| -> serde_json::Value {
        let mut req = ureq::http::Request::builder().method(method).uri(format!("{base}{path}"));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let req = req.header("Content-Type", "application/json").body(body.to_string().into_bytes()).unwrap();
        let mut res = agent.run(req).unwrap();
        res.body_mut().read_json().unwrap_or(serde_json::Value::Null)
    };
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let admin = call("POST", "/api/v1/auth/login", None, json!({ "email": "admin@log.test", "password": admin_pw }));
    let admin_token = admin["access_token"].as_str().unwrap().to_string();
    let org = call(
        "POST",
        "/api/v1/organizations",
        Some(&admin_token),
        json!({ "name": "Log Org", "kind": "ngo", "country": "KE" }),
    );
    let user = call(
        "POST",
        "/api/v1/users",
        Some(&admin_token),
        json!({ "email": "coord@log.test", "name": "C", "role": "coordinator", "organization_id": org["id"] }),
    );
    let otp = user["one_time_password"].as_str().unwrap().to_string();
    let login = call("POST", "/api/v1/auth/login", None, json!({ "email": "coord@log.test", "password": otp }));
    let t = login["access_token"].as_str().unwrap().to_string();
    let new_pw = "coordinator passphrase";
    call("POST", "/api/v1/me/password", Some(&t), json!({ "current_password": otp, "new_password": new_pw }));
    let case = call(
        "POST",
        "/api/v1/cases",
        Some(&t),
        json!({ "severity": "critical", "country": "KE", "consent_scope": ["ngo"], "summary": format!("summary {canary}") }),
    );
    let id = case["id"].as_str().expect("case created").to_string();
    call(
        "POST",
        &format!("/api/v1/cases/{id}/notes"),
        Some(&t),
        json!({ "kind": "note", "body": format!("note {canary}") }),
    );
    call(
        "POST",
        &format!("/api/v1/cases/{id}/transitions"),
        Some(&t),
        json!({ "to": "closed", "reason": format!("reason {canary}") }),
    );
    let defender = call(
        "POST",
        "/api/v1/defenders",
        Some(&t),
        json!({ "pseudonym": "P", "country": "KE", "profile": { "legal_name": format!("legal {canary}"), "dependants": [{ "name": format!("child {canary}"), "relation": "son", "age": 4 }] } }),
    );
    assert!(defender["id"].is_string(), "{defender}");
    let alert = call(
        "POST",
        "/api/v1/alerts",
        Some(&t),
        json!({ "kind": "other", "urgency": "low", "country": "KE", "narrative": format!("narrative {canary}"), "safe_contact": format!("contact {canary}"), "consent_scope": [] }),
    );
    assert!(alert["id"].is_string(), "{alert}");
    let read = call("GET", &format!("/api/v1/cases/{id}/notes"), Some(&t), json!(null));
    assert_eq!(read["items"][0]["body"], format!("note {canary}"), "the flow really ran");
    // Refused bodies and queries: actix's extractors log the concrete path at debug level.
    let bad = call("POST", &format!("/api/v1/cases/{id}/relocations"), Some(&t), json!({ "nope": 1 }));
    assert_eq!(bad["error"], "invalid_body", "{bad}");
    let bad = call("GET", &format!("/api/v1/cases/{id}/notes?limit=many"), Some(&t), json!(null));
    assert_eq!(bad["error"], "invalid_query", "{bad}");
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("/api/v1/cases/{id}/notes"), "requests are logged by route pattern: {log}");
    for secret in [
        canary.as_str(),
        admin_pw,
        otp.as_str(),
        new_pw,
        t.as_str(),
        admin_token.as_str(),
        login["refresh_token"].as_str().unwrap(),
        id.as_str(),
    ] {
        assert!(!log.contains(secret), "the log contains {secret}");
    }
    let db = std::fs::read(dir.path().join("haven-data/haven.db")).unwrap();
    let wal = std::fs::read(dir.path().join("haven-data/haven.db-wal")).unwrap_or_default();
    for bytes in [db, wal] {
        assert!(!String::from_utf8_lossy(&bytes).contains(&canary));
    }
}

// `haven backup` while the service runs, then the README's restore: the copy and the key
// file in place, and everything reads back.
crate::db_test!(backup_is_online_and_restores, |app| {
    let coord_org = {
        let admin = app.admin_token();
        let r = app.post("/api/v1/organizations", Some(&admin), json!({ "name": "B", "kind": "ngo", "country": "CO" }));
        r.json()["id"].as_str().unwrap().to_string()
    };
    let (_, email, pw) = app.user(haven::domain::Role::Coordinator, &coord_org);
    let t = crate::harness::token_of(&app.login(&email, &pw));
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let case = app.post(
        "/api/v1/cases",
        Some(&t),
        json!({ "severity": "high", "country": "CO", "consent_scope": [], "summary": canary }),
    );
    assert_eq!(case.status, 201, "{case:?}");
    let case_id = case.json()["id"].as_str().unwrap().to_string();
    let out_dir = tempfile::tempdir().unwrap();
    let file = out_dir.path().join("haven-backup.db");
    let o = haven(&app.db, &["backup", file.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    if app.db.backend == crate::harness::Backend::Postgres {
        assert!(!o.status.success() && stderr.contains("pg_dump"), "{stderr}");
        return;
    }
    assert!(o.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("service-keys"), "the key file reminder: {stdout}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let again = haven(&app.db, &["backup", file.to_str().unwrap()]);
    assert!(!again.status.success(), "never overwrites");
    assert!(!String::from_utf8_lossy(&std::fs::read(&file).unwrap()).contains(&canary), "sealed in the copy");

    // Restore into a new place: the copy as the database, the key file beside it.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&file, restored.path().join("haven.db")).unwrap();
    std::fs::create_dir(restored.path().join("data")).unwrap();
    for entry in std::fs::read_dir(app.db.dir.path().join("data")).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            std::fs::copy(&p, restored.path().join("data").join(p.file_name().unwrap())).unwrap();
        }
    }
    let db = crate::harness::TestDb::sqlite_in(restored);
    let verify = haven(&db, &["audit", "verify"]);
    assert!(verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    let back = crate::harness::TestApp::start_with(db, |_| {});
    let t = crate::harness::token_of(&back.login(&email, &pw));
    let r = back.get(&format!("/api/v1/cases/{case_id}"), Some(&t));
    assert_eq!((r.status, r.json()["summary"].clone()), (200, json!(canary)), "{r:?}");
});

#[test]
fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_haven"))
        .current_dir(dir.path())
        .env("HAVEN_BIND", "127.0.0.1:0")
        .env("HAVEN_POLICIES_DIR", Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"))
        .env("HAVEN_LOG_FORMAT", "json")
        .env("HAVEN_ADMIN_PASSWORD", "admin password for tests")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let base = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("Haven is listening on ").map(|u| u.trim().to_string()))
        .expect("listening line");
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    assert_eq!(agent.get(format!("{base}/healthz")).call().unwrap().status(), 200);
    std::thread::sleep(std::time::Duration::from_millis(200));
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let events: Vec<serde_json::Value> =
        log.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert!(events.iter().any(|e| e["route"] == "/healthz" && e["status"] == 200), "{log}");
    assert!(events.iter().all(|e| e["level"].is_string() && e["timestamp"].is_string()), "{log}");
    let bad = Command::new(env!("CARGO_BIN_EXE_haven")).arg("migrate").env("HAVEN_LOG_FORMAT", "xml").output().unwrap();
    assert!(String::from_utf8_lossy(&bad.stderr).contains("log_format must be text or json"));
}
