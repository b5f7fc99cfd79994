//! Rules kept as files in `policies/`: loaded and checked at start and by
//! `haven policies check`. A file that does not check stops the start; the built-in copy of
//! each file is used when the directory does not have it.

pub mod funding;
pub mod risk;

use std::path::Path;

/// A policy file's text: from `dir` if present there, else the built-in copy.
/// Where `name` is read from: its path in `dir`, or the copy built into the binary.
pub fn source(dir: Option<&Path>, name: &str) -> String {
    match dir.map(|d| d.join(name)).filter(|p| p.exists()) {
        Some(p) => p.display().to_string(),
        None => format!("built-in {name}"),
    }
}

pub fn read(dir: Option<&Path>, name: &str, builtin: &'static str) -> Result<(String, String), String> {
    match dir.map(|d| d.join(name)).filter(|p| p.exists()) {
        Some(p) => std::fs::read_to_string(&p)
            .map(|t| (t, p.display().to_string()))
            .map_err(|e| format!("{}: {e}", p.display())),
        None => Ok((builtin.to_string(), format!("built-in {name}"))),
    }
}
