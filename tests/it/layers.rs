//! The layers hold: the inner ones (domain, db, crypto, authz, policy, audit) never take
//! the whole `AppState` and never reach into a door (api, form, console), and escalations
//! are started only by the domain, in the change that causes them, and by the engine.

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `path` (or `path` itself), with its code lines: comments and
/// doc comments are left out, since they may name what the code must not use.
fn code_of(path: &Path) -> Vec<(PathBuf, Vec<(usize, String)>)> {
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).expect("read src dir") {
                stack.push(e.expect("dir entry").path());
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(&p).expect("read source");
            let lines = text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim_start().starts_with("//"))
                .map(|(i, l)| (i + 1, l.to_string()))
                .collect();
            out.push((p, lines));
        }
    }
    assert!(!out.is_empty(), "no source under {}", path.display());
    out
}

fn offences(roots: &[&str], bad: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for root in roots {
        for (file, lines) in code_of(&src().join(root)) {
            for (n, line) in lines {
                if let Some(b) = bad.iter().find(|b| line.contains(*b)) {
                    found.push(format!("{}:{n}: `{b}` in {}", file.display(), line.trim()));
                }
            }
        }
    }
    found
}

const INNER: &[&str] = &["domain", "db", "crypto", "authz", "policy", "audit.rs"];

#[test]
fn inner_layers_do_not_take_the_app_state() {
    let found = offences(INNER, &["AppState"]);
    assert!(found.is_empty(), "inner layers take only the parts they need:\n{}", found.join("\n"));
}

#[test]
fn inner_layers_and_the_engine_do_not_import_from_a_door() {
    let mut roots = INNER.to_vec();
    roots.push("escalation/engine.rs");
    roots.push("escalation/mod.rs");
    roots.push("escalation/policy.rs");
    roots.push("escalation/subject.rs");
    roots.push("escalation/event.rs");
    roots.push("escalation/calendar.rs");
    let doors =
        ["crate::api", "crate::form", "crate::console", "use crate::{api", "use crate::{form", "use crate::{console"];
    let found = offences(&roots, &doors);
    assert!(found.is_empty(), "an inner layer imports from a door:\n{}", found.join("\n"));
}

#[test]
fn escalations_are_started_only_by_the_domain_and_the_engine() {
    let doors = ["api", "form", "console", "cli.rs", "lib.rs", "state.rs", "escalation/ack.rs", "metrics.rs"];
    let found = offences(&doors, &["escalation::fire(", "escalation::refresh(", "settle_case(", "settle_alert("]);
    assert!(found.is_empty(), "a door starts or stops escalations itself:\n{}", found.join("\n"));
    // And the domain does: a change that starts a chain says so in its own code.
    let domain = offences(&["domain"], &["escalation::fire("]);
    assert!(domain.len() >= 10, "the domain fires the events: {domain:?}");
}

#[test]
fn queries_live_in_the_db_layer() {
    let outside: Vec<&str> = vec![
        "api",
        "form",
        "console",
        "domain",
        "escalation",
        "auth",
        "authz",
        "crypto",
        "policy",
        "audit.rs",
        "cli.rs",
        "metrics.rs",
        "state.rs",
        "lib.rs",
    ];
    let found = offences(&outside, &["db::schema"]);
    assert!(found.is_empty(), "a query built outside src/db/:\n{}", found.join("\n"));
}
