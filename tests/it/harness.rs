//! The test harness: the real app on a real socket, over a real database.
//!
//! Every database test runs twice (see `db_test!`): on a fresh SQLite file in a temp dir,
//! and on a fresh PostgreSQL schema selected through `options=--search_path=` in the URL and
//! dropped afterwards. PostgreSQL comes from HAVEN_TEST_POSTGRES_URL (set by default in
//! .cargo/config.toml); if it is unreachable the PostgreSQL half is skipped with a message on
//! stderr, except under CI=true, where it fails.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use actix_web::dev::ServerHandle;
use actix_web::web;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use haven::clock::{Clock, ManualClock};
use haven::config::{Config, Secret};
use haven::state::AppState;
use serde_json::Value;

pub const ADMIN_EMAIL: &str = "admin@haven.test";
pub const ADMIN_PASSWORD: &str = "admin password for tests";
/// The HS256 key of every test app, so tests can forge tokens signed with the right key.
pub const JWT_SECRET: &str = "test-jwt-secret-0123456789abcdef0123456789";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Writes straight to the process's stderr: libtest captures `eprintln!`, not this.
fn say(msg: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{msg}");
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The PostgreSQL server URL, or None (with a one-time notice) when the half is skipped.
pub fn postgres_url() -> Option<String> {
    static URL: OnceLock<Option<String>> = OnceLock::new();
    URL.get_or_init(|| {
        let url = std::env::var("HAVEN_TEST_POSTGRES_URL").unwrap_or_default();
        let problem = if url.is_empty() || url == "off" {
            Some("HAVEN_TEST_POSTGRES_URL is not set".to_string())
        } else {
            match diesel::PgConnection::establish(&url) {
                Ok(_) => None,
                Err(e) => Some(format!(
                    "PostgreSQL is unreachable ({})",
                    e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
                )),
            }
        };
        match problem {
            None => Some(url),
            Some(p) if ci() => panic!("CI=true and {p}: the PostgreSQL half of the suite must run in CI"),
            Some(p) => {
                say(&format!("\n*** {p}: the PostgreSQL half of every database test is SKIPPED (SQLite only). ***\n"));
                None
            }
        }
    })
    .clone()
}

/// An isolated PostgreSQL schema, dropped when this is dropped.
pub struct PgSchema {
    server_url: String,
    pub name: String,
}

impl PgSchema {
    pub fn create(server_url: &str) -> PgSchema {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut c = diesel::PgConnection::establish(server_url).expect("connect to PostgreSQL");
        c.batch_execute(&format!("CREATE SCHEMA {name}")).expect("create schema");
        PgSchema { server_url: server_url.to_string(), name }
    }

    /// The server URL with this schema first on the search path.
    pub fn url(&self) -> String {
        let sep = if self.server_url.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=--search_path%3D{}", self.server_url, self.name)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        if let Ok(mut c) = diesel::PgConnection::establish(&self.server_url) {
            let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
        }
    }
}

/// The shipped policies, as a fresh install runs them (admins and coordinators must enrol a
/// second factor). The tests of two-factor sign-in use these.
pub fn shipped_policies() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")
}

/// The shipped policies except that no role must enrol a second factor: what every other
/// test runs with, so that each need not play an authenticator (tests/it/mfa.rs covers the
/// gate on every route with the shipped file).
pub fn test_policies() -> std::path::PathBuf {
    static DIR: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("policies-without-mfa-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("policies dir");
        for entry in std::fs::read_dir(shipped_policies()).expect("policies") {
            let entry = entry.expect("entry");
            let text = std::fs::read_to_string(entry.path()).expect("policy file");
            let text = if entry.file_name() == "access.toml" {
                let shipped = "required_roles = [\"admin\", \"coordinator\"]";
                assert!(text.contains(shipped), "access.toml names the roles that must enrol");
                text.replace(shipped, "required_roles = []")
            } else {
                text
            };
            std::fs::write(dir.join(entry.file_name()), text).expect("write policy");
        }
        dir
    })
    .clone()
}

/// A place for one test's data: a temp dir, and the database URL for the backend.
pub struct TestDb {
    pub backend: Backend,
    pub dir: tempfile::TempDir,
    pub url: String,
    // Dropped after everything that holds connections (fields drop in order).
    _schema: Option<PgSchema>,
}

impl TestDb {
    pub fn new(backend: Backend) -> Option<TestDb> {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, schema) = match backend {
            Backend::Sqlite => (format!("sqlite://{}", dir.path().join("haven.db").display()), None),
            Backend::Postgres => {
                let schema = PgSchema::create(&postgres_url()?);
                (schema.url(), Some(schema))
            }
        };
        Some(TestDb { backend, dir, url, _schema: schema })
    }

    /// The same database for a second instance (its own temp dir; the schema stays owned
    /// by `self`). Give the instance `self`'s data dir so it shares the key files.
    pub fn share(&self) -> TestDb {
        TestDb {
            backend: self.backend,
            dir: tempfile::tempdir().expect("temp dir"),
            url: self.url.clone(),
            _schema: None,
        }
    }

    /// A SQLite database at `<dir>/haven.db` that already exists (a restored backup, say).
    pub fn sqlite_in(dir: tempfile::TempDir) -> TestDb {
        let url = format!("sqlite://{}", dir.path().join("haven.db").display());
        TestDb { backend: Backend::Sqlite, dir, url, _schema: None }
    }

    pub fn config(&self) -> Config {
        let mut c = Config {
            database_url: Secret::new(self.url.clone()),
            data_dir: self.dir.path().join("data"),
            policies_dir: test_policies(),
            db_max_connections: 4,
            ..Config::default()
        };
        c.jwt.secret = Secret::new(JWT_SECRET);
        c.admin.email = ADMIN_EMAIL.into();
        c.admin.password = Secret::new(ADMIN_PASSWORD);
        c
    }

    /// Environment for running the `haven` binary against this database.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("HAVEN_DATABASE_URL".into(), self.url.clone()),
            ("HAVEN_DATA_DIR".into(), self.dir.path().join("data").display().to_string()),
            ("HAVEN_POLICIES_DIR".into(), test_policies().display().to_string()),
            ("HAVEN_JWT_SECRET".into(), JWT_SECRET.into()),
            ("HAVEN_LOG".into(), "warn".into()),
        ]
    }
}

pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    pub fn code(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_string()
    }
}

impl std::fmt::Debug for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.text)
    }
}

/// The real app, migrated and bootstrapped, on a real socket.
pub struct TestApp {
    pub base: String,
    pub clock: ManualClock,
    pub state: Option<web::Data<AppState>>,
    handle: Option<ServerHandle>,
    thread: Option<std::thread::JoinHandle<()>>,
    agent: ureq::Agent,
    // Last: the schema is dropped only after the server and pool are gone.
    pub db: TestDb,
}

impl TestApp {
    pub fn start(backend: Backend) -> Option<TestApp> {
        let db = TestDb::new(backend)?;
        Some(Self::start_with(db, |_| {}))
    }

    pub fn start_with(db: TestDb, tweak: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = db.config();
        tweak(&mut config);
        let clock = ManualClock::default();
        let dyn_clock: Arc<dyn Clock> = Arc::new(clock.clone());
        let state = AppState::build(config, dyn_clock).expect("app state");
        state.prepare().expect("migrate and sync keys");
        let admin = state.config.admin.clone();
        state
            .db
            .write_blocking(|c| {
                haven::domain::accounts::bootstrap(c, state.clock.now(), &admin, haven::auth::password::hash)
            })
            .expect("bootstrap");
        // The web form takes alerts only while someone can read them: a coordinator in the
        // organisation made on first start (what a real first setup does next), so that tests
        // of the form find it open. tests/it/intake.rs covers the form without one.
        state
            .db
            .write_blocking(|c| {
                let Some(org) = haven::db::models::Organization::find_by_name(c, &admin.organization_name)? else {
                    return Ok(());
                };
                // A second app on the same database (a restore, a second instance) has it.
                if haven::db::models::User::find_by_email(c, "intake-coordinator@haven.test")?.is_some() {
                    return Ok(());
                }
                let input = haven::domain::accounts::NewUser {
                    email: "intake-coordinator@haven.test".into(),
                    name: "Intake coordinator".into(),
                    role: haven::domain::Role::Coordinator,
                    organization_id: org.id,
                };
                let hash = haven::auth::password::hash("intake coordinator password")?;
                haven::domain::accounts::create_user(c, state.clock.now(), None, input, hash, false).map(|_| ())
            })
            .expect("intake coordinator");
        let state = web::Data::new(state);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let (tx, rx) = std::sync::mpsc::channel();
        let server_state = state.clone();
        let thread = std::thread::spawn(move || {
            actix_web::rt::System::new().block_on(async move {
                let server = haven::server(server_state, listener, 1, false).expect("server");
                tx.send(server.handle()).expect("send handle");
                let _ = server.await;
            })
        });
        let handle = rx.recv().expect("server handle");
        let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
        TestApp { base, clock, state: Some(state), handle: Some(handle), thread: Some(thread), agent, db }
    }

    pub fn state(&self) -> &AppState {
        self.state.as_ref().expect("state")
    }

    pub fn request(&self, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
        let raw = body.map(|b| b.to_string());
        self.raw(method, path, token, raw.as_deref().map(|s| ("application/json", s.as_bytes())))
    }

    /// Any method, any body bytes and content type.
    pub fn raw(&self, method: &str, path: &str, token: Option<&str>, body: Option<(&str, &[u8])>) -> Resp {
        self.raw_with_headers(method, path, token, &[], body)
    }

    /// A JSON request with extra headers (Idempotency-Key, If-Match, …).
    pub fn request_with_headers(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Resp {
        let raw = body.map(|b| b.to_string());
        self.raw_with_headers(method, path, token, headers, raw.as_deref().map(|s| ("application/json", s.as_bytes())))
    }

    pub fn raw_with_headers(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<(&str, &[u8])>,
    ) -> Resp {
        let url = format!("{}{}", self.base, path);
        let mut req = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let result = match body {
            Some((ct, bytes)) => self.agent.run(req.header("Content-Type", ct).body(bytes.to_vec()).expect("request")),
            None => self.agent.run(req.body(()).expect("request")),
        };
        let mut res = result.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = res.status().as_u16();
        let headers = res
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let text = res.body_mut().read_to_string().unwrap_or_default();
        let resp = Resp { status, headers, text };
        crate::contract::check(method, path, &resp);
        resp
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Resp {
        self.request("GET", path, token, None)
    }
    pub fn post(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request("POST", path, token, Some(&body))
    }
    pub fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Resp {
        self.request("PATCH", path, token, Some(&body))
    }

    /// Logs in; panics unless it works. Returns the whole token response.
    pub fn login(&self, email: &str, password: &str) -> Value {
        let r = self.post("/api/v1/auth/login", None, serde_json::json!({ "email": email, "password": password }));
        assert_eq!(r.status, 200, "login {email}: {r:?}");
        r.json()
    }

    pub fn admin_token(&self) -> String {
        token_of(&self.login(ADMIN_EMAIL, ADMIN_PASSWORD))
    }

    /// The bootstrap organisation's id.
    pub fn admin_org(&self) -> String {
        let t = self.admin_token();
        self.get("/api/v1/me", Some(&t)).json()["organization_id"].as_str().expect("org id").to_string()
    }

    /// Creates an account straight through the domain layer (with a chosen password, no
    /// one-time password to change) and returns (user id, email, password).
    pub fn user(&self, role: haven::domain::Role, organization_id: &str) -> (String, String, String) {
        let email = format!("{}-{}@haven.test", role.as_str(), uuid::Uuid::new_v4().simple());
        let password = "user password for tests".to_string();
        let hash = haven::auth::password::hash(&password).expect("hash");
        let st = self.state();
        let input = haven::domain::accounts::NewUser {
            email: email.clone(),
            name: format!("Test {}", role.as_str()),
            role,
            organization_id: organization_id.to_string(),
        };
        let u = st
            .db
            .write_blocking(|c| haven::domain::accounts::create_user(c, st.clock.now(), None, input, hash, false))
            .expect("create user");
        (u.id, email, password)
    }

    /// Runs SQL on this test's database (to tamper with rows, say).
    pub fn sql(&self, sql: &str) {
        let mut conn = self.state().db.get().expect("connection");
        conn.batch_execute(sql).expect("sql");
    }

    /// `SELECT COUNT(*) FROM <from>`, where `from` may carry a WHERE clause.
    pub fn count(&self, from: &str) -> i64 {
        use diesel::prelude::*;
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.state().db.get().expect("connection");
        let q = format!("SELECT COUNT(*) AS n FROM {from}");
        let rows: Vec<N> = match &mut *conn {
            haven::db::DbConn::Sqlite(c) => diesel::sql_query(q).load(c).expect("count"),
            haven::db::DbConn::Postgres(c) => diesel::sql_query(q).load(c).expect("count"),
        };
        rows[0].n
    }

    /// Stops this app, runs `between` on its database with nothing else connected (an
    /// upgrade, a restore), and starts it again on the same database and key files.
    pub fn restart(self, between: impl FnOnce(&TestDb)) -> TestApp {
        self.restart_with(between, |_| {})
    }

    /// `restart`, with the configuration changed by `tweak` for the new start.
    pub fn restart_with(mut self, between: impl FnOnce(&TestDb), tweak: impl FnOnce(&mut Config)) -> TestApp {
        let placeholder = TestDb {
            backend: self.db.backend,
            dir: tempfile::tempdir().expect("temp dir"),
            url: String::new(),
            _schema: None,
        };
        let db = std::mem::replace(&mut self.db, placeholder);
        drop(self);
        between(&db);
        TestApp::start_with(db, tweak)
    }
}

pub fn token_of(login: &Value) -> String {
    login["access_token"].as_str().expect("access_token").to_string()
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            actix_web::rt::System::new().block_on(h.stop(false));
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.state.take();
    }
}

/// Declares one test per backend: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! db_test {
    ($name:ident, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run($app: $crate::harness::TestApp) $body

            #[test]
            fn sqlite() {
                run($crate::harness::TestApp::start($crate::harness::Backend::Sqlite).expect("sqlite app"));
            }

            #[test]
            fn postgres() {
                if let Some(app) = $crate::harness::TestApp::start($crate::harness::Backend::Postgres) {
                    run(app);
                }
            }
        }
    };
}

/// Like `db_test!`, with the configuration changed by `$tweak` before the app starts.
#[macro_export]
macro_rules! db_test_with {
    ($name:ident, $tweak:expr, |$app:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run($app: $crate::harness::TestApp) $body

            #[test]
            fn sqlite() {
                let db = $crate::harness::TestDb::new($crate::harness::Backend::Sqlite).expect("sqlite db");
                run($crate::harness::TestApp::start_with(db, $tweak));
            }

            #[test]
            fn postgres() {
                if let Some(db) = $crate::harness::TestDb::new($crate::harness::Backend::Postgres) {
                    run($crate::harness::TestApp::start_with(db, $tweak));
                }
            }
        }
    };
}

/// Like `db_test!` but hands the test a bare database (no server), for migration and CLI tests.
#[macro_export]
macro_rules! db_only_test {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            fn run($db: $crate::harness::TestDb) $body

            #[test]
            fn sqlite() {
                run($crate::harness::TestDb::new($crate::harness::Backend::Sqlite).expect("sqlite db"));
            }

            #[test]
            fn postgres() {
                if let Some(db) = $crate::harness::TestDb::new($crate::harness::Backend::Postgres) {
                    run(db);
                }
            }
        }
    };
}

/// Every byte the database holds, as text: the SQLite files, or every row of every table in
/// the test's PostgreSQL schema (what a pg_dump would carry).
pub fn everything_stored(app: &TestApp) -> String {
    match app.db.backend {
        Backend::Sqlite => {
            let mut all = Vec::new();
            for entry in std::fs::read_dir(app.db.dir.path()).unwrap() {
                let p = entry.unwrap().path();
                if p.is_file() {
                    all.extend(std::fs::read(&p).unwrap());
                }
            }
            String::from_utf8_lossy(&all).into_owned()
        }
        Backend::Postgres => {
            use diesel::prelude::*;
            #[derive(QueryableByName)]
            struct Row {
                #[diesel(sql_type = diesel::sql_types::Text)]
                t: String,
            }
            let mut conn = app.state().db.get().unwrap();
            let haven::db::DbConn::Postgres(pg) = &mut *conn else { panic!("postgres") };
            let tables: Vec<Row> = diesel::sql_query(
                "SELECT table_name::text AS t FROM information_schema.tables WHERE table_schema = current_schema()",
            )
            .load(pg)
            .unwrap();
            assert!(tables.len() >= 8, "schema has its tables");
            let mut out = String::new();
            for table in tables {
                // Binary columns come out as hex; add their decoded bytes too.
                let rows: Vec<Row> =
                    diesel::sql_query(format!("SELECT x::text AS t FROM \"{}\" x", table.t)).load(pg).unwrap();
                for r in rows {
                    out.push_str(&r.t);
                    out.push('\n');
                }
            }
            let mut decoded = String::new();
            for part in out.split("\\\\x").skip(1) {
                let hexpart: String = part.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
                if let Ok(bytes) = hex::decode(&hexpart[..hexpart.len() / 2 * 2]) {
                    decoded.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
            out + &decoded
        }
    }
}

/// The people around one case, for the tests of its protection records: two coordinators of
/// the owning organisation, an officer assigned to the case, a coordinator of an unrelated
/// organisation, and an officer of an embassy the case is shared with.
/// One account of the cast: who she is, how she signs in, and a token valid now.
pub struct Person {
    pub id: String,
    pub email: String,
    pub password: String,
    pub token: String,
}

impl Person {
    pub fn new(app: &TestApp, role: haven::domain::Role, org: &str) -> Person {
        let (id, email, password) = app.user(role, org);
        let token = token_of(&app.login(&email, &password));
        Person { id, email, password, token }
    }

    /// A token valid now (after the clock moved past the first one's lifetime).
    pub fn fresh(&self, app: &TestApp) -> String {
        token_of(&app.login(&self.email, &self.password))
    }
}

/// The one cast of the integration tests: three organisations and someone in every role and
/// relation the need-to-know rules tell apart. Test files use it (or `team`, which adds a
/// shared case) instead of each building its own.
pub struct Cast {
    /// "UN Human Rights Office" (un_agency): owns the cases.
    pub owner_org: String,
    /// "Embassy of Ireland" (embassy): cases are shared with it.
    pub partner_org: String,
    pub admin: String,
    /// In the admin's organisation.
    pub auditor: Person,
    pub owner_coord: Person,
    pub second_coord: Person,
    /// In the owner organisation; assigned to the cases `shared_case` opens.
    pub assigned_officer: Person,
    pub sharing_officer: Person,
    pub other_coord: Person,
    pub unrelated_officer: Person,
}

pub fn cast(app: &TestApp) -> Cast {
    use haven::domain::Role;
    let admin = app.admin_token();
    let org = |name: &str, kind: &str| {
        let r = app.post(
            "/api/v1/organizations",
            Some(&admin),
            serde_json::json!({ "name": name, "kind": kind, "country": "CO" }),
        );
        assert_eq!(r.status, 201, "{r:?}");
        r.json()["id"].as_str().expect("organization id").to_string()
    };
    let owner_org = org("UN Human Rights Office", "un_agency");
    let partner_org = org("Embassy of Ireland", "embassy");
    // "Unrelated NGO" (ngo): its people have no relation to any case.
    let unrelated_org = org("Unrelated NGO", "ngo");
    let admin_org = app.admin_org();
    Cast {
        auditor: Person::new(app, Role::Auditor, &admin_org),
        owner_coord: Person::new(app, Role::Coordinator, &owner_org),
        second_coord: Person::new(app, Role::Coordinator, &owner_org),
        assigned_officer: Person::new(app, Role::Officer, &owner_org),
        sharing_officer: Person::new(app, Role::Officer, &partner_org),
        other_coord: Person::new(app, Role::Coordinator, &unrelated_org),
        unrelated_officer: Person::new(app, Role::Officer, &unrelated_org),
        owner_org,
        partner_org,
        admin,
    }
}

impl Cast {
    /// The access token of one member, by the name the matrices use (None: anonymous).
    pub fn token(&self, who: &str) -> Option<String> {
        let p = match who {
            "anonymous" => return None,
            "admin" => return Some(self.admin.clone()),
            "auditor" => &self.auditor,
            "owner_coordinator" => &self.owner_coord,
            "second_coordinator" => &self.second_coord,
            "other_coordinator" => &self.other_coord,
            "assigned_officer" => &self.assigned_officer,
            "sharing_officer" => &self.sharing_officer,
            "unrelated_officer" => &self.unrelated_officer,
            other => panic!("no such member of the cast: {other}"),
        };
        Some(p.token.clone())
    }

    /// A case of the owner organisation (severity high, consent to embassies and UN
    /// agencies), assigned to the assigned officer and shared with the partner for 30 days.
    pub fn shared_case(&self, app: &TestApp) -> String {
        let body = serde_json::json!({
            "severity": "high", "country": "CO", "consent_scope": ["embassy", "un_agency"],
            "summary": "Threats after a land-rights hearing"
        });
        let r = app.post("/api/v1/cases", Some(&self.owner_coord.token), body);
        assert_eq!(r.status, 201, "{r:?}");
        let id = r.json()["id"].as_str().expect("case id").to_string();
        let r = app.post(
            &format!("/api/v1/cases/{id}/assignees"),
            Some(&self.owner_coord.token),
            serde_json::json!({ "user_id": self.assigned_officer.id }),
        );
        assert_eq!(r.status, 200, "{r:?}");
        let expires = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
        let share = serde_json::json!({
            "organization_id": self.partner_org, "consent_reference": "consent form 2026-11-20", "expires_at": expires
        });
        let r = app.post(&format!("/api/v1/cases/{id}/shares"), Some(&self.owner_coord.token), share);
        assert_eq!(r.status, 200, "{r:?}");
        id
    }
}

/// The cast's tokens and a shared case, for the protection-record tests: `coord` (owner
/// coordinator), `second_coord`, `officer` (assigned), `other` (unrelated coordinator) and
/// `partner` (the sharing officer).
pub struct Team {
    pub coord: String,
    pub second_coord: String,
    pub officer: String,
    pub officer_id: String,
    pub other: String,
    pub partner: String,
    pub case_id: String,
}

pub fn team(app: &TestApp) -> Team {
    let c = cast(app);
    let case_id = c.shared_case(app);
    Team {
        coord: c.owner_coord.token,
        second_coord: c.second_coord.token,
        officer: c.assigned_officer.token,
        officer_id: c.assigned_officer.id,
        other: c.other_coord.token,
        partner: c.sharing_officer.token,
        case_id,
    }
}

/// Haven's log lines, as the service would write them (the same `fmt` layer), kept in memory
/// for one call under `tracing::subscriber::with_default`.
#[derive(Clone, Default)]
pub struct LogCapture(Arc<std::sync::Mutex<Vec<u8>>>);

impl LogCapture {
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
        let sink = self.clone();
        tracing_subscriber::fmt().with_writer(move || sink.clone()).with_ansi(false).with_target(false).finish()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

impl std::io::Write for LogCapture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
