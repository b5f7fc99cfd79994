//! The limit for Haven's intake benchmark: the least an actix-web + diesel service must do to
//! take one alert. `POST /rows` parses the same JSON body as `POST /api/v1/alerts`, then inserts
//! one row (a 600-byte blob standing for the sealed narrative, plus a few text columns) in one
//! write transaction and answers 201 with a small JSON object.
//!
//! Everything the storage sees is set up as Haven sets it up (src/db/mod.rs): an r2d2 pool of
//! `DB_MAX_CONNECTIONS` (default 8, clamped to 1..=8 on SQLite as Haven does), opened on
//! demand, with `busy_timeout = 10000; journal_mode = WAL; synchronous = NORMAL;
//! foreign_keys = ON` on SQLite and `SET TIME ZONE 'UTC'; lock_timeout; statement_timeout;
//! random_page_cost` on PostgreSQL; on SQLite one in-process write lock plus `BEGIN
//! IMMEDIATE`; the database work runs in `web::block`. No encryption, no audit, no
//! escalation, no auth.
//!
//! Environment: DATABASE_URL (`sqlite:///path` or `postgres://…`, as Haven's), BIND
//! (default 127.0.0.1:8090), DB_MAX_CONNECTIONS (8), WORKERS (0: one per core, as Haven).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{web, App, HttpResponse, HttpServer};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use rand::RngCore;
use serde::{Deserialize, Serialize};

diesel::table! {
    bench_baseline (id) {
        id -> Text,
        kind -> Text,
        urgency -> Text,
        country -> Text,
        region -> Nullable<Text>,
        consent_scope -> Text,
        narrative_ct -> Binary,
        received_at -> Timestamp,
    }
}

#[derive(Insertable)]
#[diesel(table_name = bench_baseline)]
struct Row {
    id: String,
    kind: String,
    urgency: String,
    country: String,
    region: Option<String>,
    consent_scope: String,
    narrative_ct: Vec<u8>,
    received_at: chrono::NaiveDateTime,
}

const BLOB_BYTES: usize = 600;

enum Conn {
    Sqlite(diesel::SqliteConnection),
    Postgres(diesel::PgConnection),
}

#[derive(Clone)]
enum Target {
    Sqlite(String),
    Postgres(String),
}

struct Manager {
    target: Target,
}

const SQLITE_SETUP: &str = "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;";

impl r2d2::ManageConnection for Manager {
    type Connection = Conn;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<Conn, Self::Error> {
        use diesel::r2d2::Error;
        match &self.target {
            Target::Sqlite(path) => {
                let mut c = diesel::SqliteConnection::establish(path).map_err(Error::ConnectionError)?;
                c.batch_execute(SQLITE_SETUP).map_err(Error::QueryError)?;
                Ok(Conn::Sqlite(c))
            }
            Target::Postgres(url) => {
                let mut c = diesel::PgConnection::establish(url).map_err(Error::ConnectionError)?;
                c.batch_execute(
                    "SET TIME ZONE 'UTC'; SET lock_timeout = '15s'; SET statement_timeout = '60s'; \
                     SET random_page_cost = 1.1",
                )
                .map_err(Error::QueryError)?;
                Ok(Conn::Postgres(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut Conn) -> Result<(), Self::Error> {
        let r = match conn {
            Conn::Sqlite(c) => c.batch_execute("SELECT 1"),
            Conn::Postgres(c) => c.batch_execute("SELECT 1"),
        };
        r.map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut Conn) -> bool {
        std::thread::panicking()
    }
}

struct State {
    pool: r2d2::Pool<Manager>,
    write_lock: Arc<Mutex<()>>,
}

/// The same body as Haven's `POST /api/v1/alerts` (src/api/alerts.rs `AlertCreate`).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct AlertCreate {
    kind: String,
    urgency: String,
    country: String,
    region: Option<String>,
    narrative: String,
    safe_contact: Option<String>,
    consent_scope: Vec<String>,
    defender_id: Option<String>,
}

#[derive(Serialize)]
struct Created {
    id: String,
    kind: String,
    urgency: String,
    country: String,
    status: &'static str,
}

async fn create(state: web::Data<State>, body: web::Json<AlertCreate>) -> HttpResponse {
    let body = body.into_inner();
    let st = state.clone();
    let result = web::block(move || -> Result<Created, String> {
        let mut blob = vec![0u8; BLOB_BYTES];
        rand::thread_rng().fill_bytes(&mut blob);
        let row = Row {
            id: uuid::Uuid::now_v7().to_string(),
            kind: body.kind,
            urgency: body.urgency,
            country: body.country,
            region: body.region,
            consent_scope: serde_json::to_string(&body.consent_scope).map_err(|e| e.to_string())?,
            narrative_ct: blob,
            received_at: chrono::Utc::now().naive_utc(),
        };
        let mut conn = st.pool.get().map_err(|e| e.to_string())?;
        match &mut *conn {
            Conn::Sqlite(c) => {
                let _guard = st.write_lock.lock().unwrap_or_else(|p| p.into_inner());
                c.immediate_transaction(|c| {
                    diesel::insert_into(bench_baseline::table).values(&row).execute(c).map(|_| ())
                })
            }
            Conn::Postgres(c) => {
                c.transaction(|c| diesel::insert_into(bench_baseline::table).values(&row).execute(c).map(|_| ()))
            }
        }
        .map_err(|e| e.to_string())?;
        Ok(Created { id: row.id, kind: row.kind, urgency: row.urgency, country: row.country, status: "received" })
    })
    .await;
    match result {
        Ok(Ok(created)) => HttpResponse::Created().json(created),
        Ok(Err(e)) => HttpResponse::InternalServerError().json(serde_json::json!({ "error": e })),
        Err(e) => HttpResponse::InternalServerError().json(serde_json::json!({ "error": e.to_string() })),
    }
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

fn main() -> std::io::Result<()> {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL (sqlite:///path or postgres://…)");
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:8090".into());
    let max: u32 = std::env::var("DB_MAX_CONNECTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(8);
    let workers: usize = std::env::var("WORKERS").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let target = if let Some(rest) = url.strip_prefix("sqlite://") {
        Target::Sqlite(rest.split('?').next().unwrap_or_default().to_string())
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Target::Postgres(url.clone())
    } else {
        panic!("DATABASE_URL must be sqlite://<path> or postgres://…");
    };
    let sqlite = matches!(target, Target::Sqlite(_));
    let size = if sqlite { max.clamp(1, 8) } else { max.max(1) };
    let pool = r2d2::Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .connection_timeout(Duration::from_secs(10))
        .build(Manager { target })
        .expect("pool");
    {
        let mut c = pool.get().expect("connection");
        let ddl = match &mut *c {
            Conn::Sqlite(c) => c.batch_execute(
                "CREATE TABLE IF NOT EXISTS bench_baseline (id TEXT PRIMARY KEY NOT NULL, kind TEXT NOT NULL, \
                 urgency TEXT NOT NULL, country TEXT NOT NULL, region TEXT, consent_scope TEXT NOT NULL, \
                 narrative_ct BLOB NOT NULL, received_at TIMESTAMP NOT NULL)",
            ),
            Conn::Postgres(c) => c.batch_execute(
                "CREATE TABLE IF NOT EXISTS bench_baseline (id TEXT PRIMARY KEY, kind TEXT NOT NULL, \
                 urgency TEXT NOT NULL, country TEXT NOT NULL, region TEXT, consent_scope TEXT NOT NULL, \
                 narrative_ct BYTEA NOT NULL, received_at TIMESTAMP NOT NULL)",
            ),
        };
        ddl.expect("create table bench_baseline");
    }
    let state = web::Data::new(State { pool, write_lock: Arc::new(Mutex::new(())) });
    let listener = std::net::TcpListener::bind(&bind)?;
    println!("baseline is listening on http://{}", listener.local_addr()?);
    actix_web::rt::System::new().block_on(async move {
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::JsonConfig::default().limit(65536))
                .route("/rows", web::post().to(create))
                .route("/healthz", web::get().to(healthz))
        })
        .listen(listener)?;
        if workers > 0 {
            server = server.workers(workers);
        }
        server.run().await
    })
}
