//! The policy loaders: escalation rules (TOML + CEL, with their calendars and embedded
//! `[[test]]`s), the access policy, the funding caps and the risk formula.
//!
//! Input: one selector byte, then the file's text (UTF-8; anything else is skipped).
//! - `a`: `AccessPolicy::parse`
//! - `f`: `FundingPolicy::parse`
//! - `r`: `RiskPolicy::parse`
//! - anything else: `Rules::from_texts`. The text may hold several files, separated by a
//!   line `#@@file` (at most 4), to reach the cross-file checks (a calendar or policy defined
//!   twice, holidays from another file).
//!
//! A loader may refuse any text, but must never panic, hang or run out of memory; a rule
//! set it accepts must then be usable (due times, targets, CEL evaluation) without panicking.
#![no_main]

use chrono::Duration;
use haven::authz::{AccessPolicy, Action, Relation};
use haven::domain::Role;
use haven::escalation::policy::{test_epoch, Rules, EVENTS};
use haven::escalation::subject;
use haven::policy::funding::{FundingPolicy, GrantCategory};
use haven::policy::risk::{FactorCategory, Inputs, RiskPolicy};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    match selector {
        b'a' => access(text),
        b'f' => funding(text),
        b'r' => risk(text),
        _ => escalation(text),
    }
});

fn escalation(text: &str) {
    let files: Vec<(String, String)> = text
        .split("\n#@@file\n")
        .take(4)
        .enumerate()
        .map(|(i, t)| (format!("fuzz-{i}.toml"), t.to_string()))
        .collect();
    let Ok(rules) = Rules::from_texts(&files) else { return };
    let epoch = test_epoch();
    for p in &rules.policies {
        let vars = EVENTS.iter().find(|(e, _, _)| *e == p.on).map(|(_, _, v)| *v).unwrap_or(&[]);
        for sample in [subject::zero_vars(vars), subject::set_vars(vars)] {
            // Both expressions were checked to evaluate on these two subjects when loading.
            for e in [&p.when, &p.stop_when].into_iter().flatten() {
                assert!(e.eval(&sample, epoch).is_ok(), "a checked expression failed to evaluate: {e:?}");
            }
            let _ = p.targets_at(&sample, epoch, epoch + Duration::days(30));
        }
        // Walk the start of the chain as the engine does.
        let mut pos = Some((0u32, 0usize));
        for _ in 0..16 {
            let Some((l, s)) = pos else { break };
            let _ = p.due_at(epoch, l, s);
            pos = p.next(l, s);
        }
        for s in &p.steps {
            assert!(!s.notify.is_empty(), "a step without targets was accepted");
            for t in &s.notify {
                // A target prints back as text that parses to the same target.
                let again = haven::escalation::policy::Target::parse(&t.to_string());
                assert_eq!(again.as_ref(), Ok(t), "target does not round-trip");
            }
        }
    }
}

fn access(text: &str) {
    let Ok(p) = AccessPolicy::parse(text) else { return };
    for role in Role::ALL {
        for action in Action::PROTECTED {
            let _ = p.permits(role, action);
        }
    }
    for action in Action::ON_OBJECT {
        let _ = p.decide_on_object(&Relation::ALL, action);
        let _ = p.decide_on_object(&[], action);
    }
}

fn funding(text: &str) {
    let Ok(p) = FundingPolicy::parse(text) else { return };
    for cur in ["EUR", "USD", "CHF", "XOF", "", "eur"] {
        for c in GrantCategory::ALL {
            if let Some(cap) = p.cap(cur, c) {
                assert!(cap > 0 && cap <= 1_000_000_000_000, "cap out of range: {cap}");
            }
        }
    }
}

fn risk(text: &str) {
    let Ok(p) = RiskPolicy::parse(text) else { return };
    let all = FactorCategory::ALL;
    // Scores the API accepts are 1 to 5; every accepted policy must give a finite score.
    for (threats, lo, hi) in [(&[(1u8, 1u8)][..], 1u8, 5u8), (&[(5, 5), (2, 3)][..], 5, 1), (&[][..], 3, 3)] {
        let v: Vec<(FactorCategory, u8)> = all.iter().map(|c| (*c, lo)).collect();
        let c: Vec<(FactorCategory, u8)> = all.iter().map(|c| (*c, hi)).collect();
        let (score, _) = p.score(&Inputs { threats, vulnerabilities: &v, capacities: &c });
        assert!(score.is_finite() && score >= 0.0, "score {score}");
        let (score, _) = p.score(&Inputs { threats, vulnerabilities: &[], capacities: &[] });
        assert!(score.is_finite() && score >= 0.0, "score {score}");
    }
}
