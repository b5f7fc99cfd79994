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

#[test]
fn sqlite_backend_is_chosen_by_url() {
    let db = TestDb::new(Backend::Sqlite).unwrap();
    let pool = haven::db::Db::connect(&db.url, 1).unwrap();
    assert_eq!(pool.backend(), haven::db::Backend::Sqlite);
    assert!(db.dir.path().join("haven.db").exists());
}
