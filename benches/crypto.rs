//! Encryption-at-rest figures: seal and open throughput for a 1 KiB note on one core with a
//! warm key cache, and the cost of a cold case-key unwrap. Run with `cargo bench --bench crypto`.
//! Every operation goes through the real API (`Crypto::seal` / `Crypto::open`) against a real
//! SQLite file, so the figures include the per-call key lookup in the database.

use std::sync::Arc;
use std::time::Instant;

use haven::clock::SystemClock;
use haven::config::{Config, Secret};
use haven::crypto::Sealed;
use haven::state::AppState;

fn state(dir: &std::path::Path, cache: usize) -> AppState {
    let cfg = Config {
        database_url: Secret::new(format!("sqlite://{}", dir.join("bench.db").display())),
        data_dir: dir.join("data"),
        key_cache_capacity: cache,
        db_max_connections: 1,
        ..Config::default()
    };
    let st = AppState::build(cfg, Arc::new(SystemClock)).expect("state");
    st.prepare().expect("prepare");
    st
}

fn per_second(n: usize, secs: f64) -> f64 {
    n as f64 / secs
}

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    let st = state(dir.path(), 4096);
    let now = st.clock.now();
    let note = vec![b'x'; 1024];

    // Case keys for the cold-unwrap measurement, plus one busy case.
    const CASES: usize = 400;
    let mut cases = Vec::with_capacity(CASES);
    let started = Instant::now();
    for _ in 0..CASES {
        let id = haven::domain::new_id();
        let c = id.clone();
        st.db.write_blocking(|conn| Ok(st.crypto.create_case_key(conn, &c, now)?)).expect("case key");
        cases.push(id);
    }
    let create_us = started.elapsed().as_secs_f64() * 1e6 / CASES as f64;

    let mut conn = st.db.get().expect("conn");
    let case = &cases[0];
    const N: usize = 3000;

    let started = Instant::now();
    let mut sealed: Vec<Sealed> = Vec::with_capacity(N);
    for i in 0..N {
        sealed.push(st.crypto.seal(&mut conn, case, &format!("note-{i}"), &note).expect("seal"));
    }
    let seal_s = started.elapsed().as_secs_f64();

    let started = Instant::now();
    for (i, s) in sealed.iter().enumerate() {
        let p = st.crypto.open(&mut conn, case, &format!("note-{i}"), s).expect("open");
        assert_eq!(p.len(), 1024);
    }
    let open_s = started.elapsed().as_secs_f64();

    // Cold: a state with no cache unwraps the case key from its grant on every open.
    let one: Vec<Sealed> = cases.iter().map(|c| st.crypto.seal(&mut conn, c, "n", &note).expect("seal")).collect();
    drop(conn);
    let cold = state(dir.path(), 0);
    let mut conn = cold.db.get().expect("conn");
    let started = Instant::now();
    for (c, s) in cases.iter().zip(&one) {
        cold.crypto.open(&mut conn, c, "n", s).expect("cold open");
    }
    let cold_open_us = started.elapsed().as_secs_f64() * 1e6 / CASES as f64;
    let warm_open_us = open_s * 1e6 / N as f64;

    // The age primitives alone, without the database lookups the API does per call.
    let id = age::x25519::Identity::generate();
    let to = id.to_public();
    let started = Instant::now();
    let raw: Vec<Vec<u8>> = (0..N).map(|_| age::encrypt(&to, &note).expect("encrypt")).collect();
    let raw_seal_us = started.elapsed().as_secs_f64() * 1e6 / N as f64;
    let started = Instant::now();
    for ct in &raw {
        age::decrypt(&id, ct).expect("decrypt");
    }
    let raw_open_us = started.elapsed().as_secs_f64() * 1e6 / N as f64;

    println!("haven crypto bench (1 KiB note, one thread, SQLite file, release build)");
    println!(
        "  seal, warm:            {:>9.0} notes/s  ({:.1} µs each)",
        per_second(N, seal_s),
        seal_s * 1e6 / N as f64
    );
    println!("  open, warm key cache:  {:>9.0} notes/s  ({:.1} µs each)", per_second(N, open_s), warm_open_us);
    println!("  open, cold (unwrap):   {:>9.0} notes/s  ({:.1} µs each)", 1e6 / cold_open_us, cold_open_us);
    println!("  cold case-key unwrap:  {:>9.1} µs (cold open minus warm open)", cold_open_us - warm_open_us);
    println!("  case key creation:     {:>9.1} µs (identity + service grant, in a transaction)", create_us);
    println!("  age encrypt alone:     {:>9.1} µs   age decrypt alone: {:.1} µs", raw_seal_us, raw_open_us);
}
