//! Configuration: built-in defaults (mirrored, with comments, in `config/default.toml`), an
//! optional TOML file, then `HAVEN_*` environment variables. Unknown keys, in the file or the
//! environment, are errors that name the key. Secrets never appear in `Debug` output.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A secret string: serialises as itself (config files), prints as `<redacted>`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "<unset>" } else { "<redacted>" })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `sqlite://<path>` (embedded default) or `postgres://…`. May carry a password.
    pub database_url: Secret,
    pub bind: String,
    pub data_dir: PathBuf,
    /// Where `access.toml` (and later the escalation rules) live; built-in rules otherwise.
    pub policies_dir: PathBuf,
    pub log: String,
    /// `text` (one line per event) or `json` (one JSON object per line, for log shippers).
    pub log_format: String,
    pub max_body_bytes: usize,
    pub workers: usize,
    pub db_max_connections: u32,
    /// Protects the service key file (age scrypt). Empty: the file is plain, mode 0600.
    pub key_passphrase: Secret,
    /// An age X25519 public key (age1…) whose identity is kept offline: every case key is
    /// also wrapped to it, for recovery. Empty: no escrow.
    pub escrow_recipient: String,
    /// How many unwrapped case keys stay in memory.
    pub key_cache_capacity: usize,
    /// Where escalation mail goes, in lettre's URL form: `smtp://host:25`,
    /// `smtp://user:pass@host:587?tls=required` (STARTTLS), `smtps://host:465` (TLS). Empty:
    /// mails are written as files under `<data_dir>/mail` (development). May carry a password.
    pub smtp_url: Secret,
    /// A PEM file of certificate authorities (or a self-signed certificate) to trust for the
    /// SMTP server's TLS certificate, besides the system's (a relay with a private CA). Empty:
    /// the system's roots only. Needs a URL with TLS (`?tls=required` or `smtps://`).
    pub smtp_ca_file: String,
    /// The From of escalation mail.
    pub mail_from: String,
    /// The base of acknowledgement links in mail, as users reach Haven. Empty: `http://` and
    /// `bind` (`localhost` for an unspecified address such as 0.0.0.0); behind a proxy or TLS,
    /// set it.
    pub public_url: String,
    /// How often each instance runs the escalation engine and the mail sender.
    pub escalation_interval_ms: u64,
    /// One SMTP attempt gives up after this long.
    pub mail_timeout_seconds: u64,
    /// A mail not delivered within this many hours is marked failed (and audited).
    pub mail_deadline_hours: u64,
    /// How long an acknowledgement link in a mail works.
    pub ack_link_hours: u64,
    /// A console session unused for this long ends (it also ends with the session's
    /// lifetime, `jwt.session_ttl_seconds`).
    pub console_idle_minutes: u64,
    /// Bearer token a Prometheus scraper sends to `/metrics`; empty: `/metrics` is off (404).
    pub metrics_token: Secret,
    pub jwt: JwtConfig,
    pub admin: AdminConfig,
    pub login: LoginConfig,
    pub form: FormConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JwtConfig {
    pub issuer: String,
    pub audience: String,
    pub access_ttl_seconds: u64,
    pub session_ttl_seconds: u64,
    pub leeway_seconds: u64,
    /// HS256 key, at least 32 bytes. Empty: generated into `<data_dir>/jwt-signing.key`.
    pub secret: Secret,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    pub email: String,
    pub password: Secret,
    pub organization_name: String,
    pub organization_country: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoginConfig {
    /// Failures of one account over all addresses within the window: a high bound, so that
    /// a stranger alone cannot lock her out.
    pub max_failures_per_account: u32,
    /// Failures from one address over all accounts within the window.
    pub max_failures_per_address: u32,
    /// Failures of one account from one address before each further attempt waits, 30 s
    /// and doubling up to the window.
    pub free_failures_per_account_and_address: u32,
    pub window_seconds: u64,
    /// Behind a reverse proxy every client has the proxy's address; with this set, the
    /// address is the last one the proxy appended to `X-Forwarded-For`. Leave false when
    /// clients reach Haven directly, or they could pick their own address.
    pub trust_forwarded_for: bool,
}

/// The public alert form and receipt portal (`/report`, `/status`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FormConfig {
    /// The organisation (id or exact name) that receives alerts from the form. Empty: the
    /// organisation created on first start (`admin.organization_name`).
    pub organization: String,
    /// A receipt not used for this many days stops working; staff keep the case.
    pub receipt_days: u32,
    /// Where the quick-exit link on every page goes: somewhere neutral.
    pub quick_exit_url: String,
    /// The `<title>` of every form page, in every language: what a browser tab, the history
    /// and a bookmark show to anyone who picks up her phone. Something neutral.
    pub page_title: String,
    /// Pepper of the receipt hashes and key of the form's tokens, at least 32 bytes. Empty:
    /// generated into `<data_dir>/form.key`. Several instances must share it.
    pub secret: Secret,
    /// Alerts accepted from one client address per hour (counted in memory only).
    pub reports_per_address_per_hour: u32,
    /// Wrong receipts or PINs tolerated from one address per 15 minutes.
    pub receipt_failures_per_address: u32,
}

impl Default for FormConfig {
    fn default() -> Self {
        FormConfig {
            organization: String::new(),
            receipt_days: 180,
            quick_exit_url: "https://www.wikipedia.org/".into(),
            page_title: "Haven".into(),
            secret: Secret::default(),
            reports_per_address_per_hour: 20,
            receipt_failures_per_address: 10,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: Secret::new("sqlite://haven-data/haven.db"),
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("haven-data"),
            policies_dir: PathBuf::from("policies"),
            log: "info".into(),
            log_format: "text".into(),
            max_body_bytes: 64 * 1024,
            workers: 0,
            db_max_connections: 8,
            key_passphrase: Secret::default(),
            escrow_recipient: String::new(),
            key_cache_capacity: 1024,
            smtp_url: Secret::default(),
            smtp_ca_file: String::new(),
            mail_from: "Haven <haven@localhost>".into(),
            public_url: String::new(),
            escalation_interval_ms: 5000,
            mail_timeout_seconds: 30,
            mail_deadline_hours: 72,
            console_idle_minutes: 30,
            ack_link_hours: 72,
            metrics_token: Secret::default(),
            jwt: JwtConfig::default(),
            admin: AdminConfig::default(),
            login: LoginConfig::default(),
            form: FormConfig::default(),
        }
    }
}

impl Default for JwtConfig {
    fn default() -> Self {
        JwtConfig {
            issuer: "haven".into(),
            audience: "haven-api".into(),
            access_ttl_seconds: 900,
            session_ttl_seconds: 12 * 3600,
            leeway_seconds: 5,
            secret: Secret::default(),
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            email: String::new(),
            password: Secret::default(),
            organization_name: "Haven administration".into(),
            organization_country: "CH".into(),
        }
    }
}

impl Default for LoginConfig {
    fn default() -> Self {
        LoginConfig {
            max_failures_per_account: 100,
            max_failures_per_address: 20,
            free_failures_per_account_and_address: 5,
            window_seconds: 900,
            trust_forwarded_for: false,
        }
    }
}

/// Environment variables that start with `HAVEN_` but are not configuration keys.
const NON_CONFIG_ENV: &[&str] = &["HAVEN_CONFIG"];
const NON_CONFIG_ENV_PREFIXES: &[&str] = &["HAVEN_TEST_"];
const SECTIONS: &[&str] = &["jwt", "admin", "login", "form"];

impl Config {
    /// Defaults, then `file` (if any), then the given environment.
    pub fn load(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Config, String> {
        let mut value = toml::Value::try_from(Config::default()).map_err(|e| e.to_string())?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            let from_file: toml::Value =
                toml::from_str(&text).map_err(|e| format!("config file {}: {e}", path.display()))?;
            merge(&mut value, from_file, "").map_err(|e| format!("config file {}: {e}", path.display()))?;
        }
        let mut env: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k.starts_with("HAVEN_")).collect();
        env.sort();
        for (key, raw) in env {
            if NON_CONFIG_ENV.contains(&key.as_str()) || NON_CONFIG_ENV_PREFIXES.iter().any(|p| key.starts_with(p)) {
                continue;
            }
            apply_env(&mut value, &key, &raw)?;
        }
        let config: Config = value.try_into().map_err(|e: toml::de::Error| format!("configuration: {e}"))?;
        config.validate()?;
        Ok(config)
    }

    /// Loads from the process environment and `HAVEN_CONFIG` / the `--config` flag.
    pub fn from_process(file: Option<&Path>) -> Result<Config, String> {
        let env_file = std::env::var_os("HAVEN_CONFIG").map(PathBuf::from);
        Config::load(file.or(env_file.as_deref()), std::env::vars())
    }

    /// Where users reach Haven: `public_url`, or else the address Haven listens on.
    pub fn public_base(&self) -> String {
        if !self.public_url.is_empty() {
            return self.public_url.clone();
        }
        match self.bind.parse::<SocketAddr>() {
            Ok(a) if a.ip().is_unspecified() => format!("http://localhost:{}", a.port()),
            Ok(a) => format!("http://{a}"),
            Err(_) => format!("http://{}", self.bind),
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        crate::db::DbTarget::parse(self.database_url.expose())?;
        self.bind
            .parse::<SocketAddr>()
            .map_err(|_| format!("bind: `{}` is not an address like 127.0.0.1:8080", self.bind))?;
        if !(1..=3650).contains(&self.form.receipt_days) {
            return Err("form.receipt_days must be between 1 and 3650".into());
        }
        if !self.form.quick_exit_url.starts_with("https://") || self.form.quick_exit_url.len() > 200 {
            return Err("form.quick_exit_url must be an https:// address".into());
        }
        let title = self.form.page_title.trim();
        if title.is_empty() || title.chars().count() > 100 || title.chars().any(char::is_control) {
            return Err("form.page_title must be 1 to 100 characters on one line".into());
        }
        if !self.form.secret.is_empty() && self.form.secret.expose().len() < 32 {
            return Err("form.secret must be at least 32 bytes (or empty to generate one)".into());
        }
        if self.form.reports_per_address_per_hour == 0 || self.form.receipt_failures_per_address == 0 {
            return Err(
                "form.reports_per_address_per_hour and form.receipt_failures_per_address must be at least 1".into()
            );
        }
        if !["text", "json"].contains(&self.log_format.as_str()) {
            return Err("log_format must be text or json".into());
        }
        if !(1024..=16 * 1024 * 1024).contains(&self.max_body_bytes) {
            return Err("max_body_bytes must be between 1024 and 16777216".into());
        }
        if self.jwt.access_ttl_seconds == 0 || self.jwt.access_ttl_seconds > 3600 {
            return Err("jwt.access_ttl_seconds must be between 1 and 3600: access tokens are short-lived".into());
        }
        if self.jwt.session_ttl_seconds < self.jwt.access_ttl_seconds || self.jwt.session_ttl_seconds > 30 * 86_400 {
            return Err("jwt.session_ttl_seconds must be between jwt.access_ttl_seconds and 2592000 (30 days)".into());
        }
        if self.jwt.leeway_seconds > 60 {
            return Err("jwt.leeway_seconds must be at most 60".into());
        }
        if self.key_cache_capacity > 1_000_000 {
            return Err("key_cache_capacity must be at most 1000000".into());
        }
        if !self.jwt.secret.is_empty() && self.jwt.secret.expose().len() < 32 {
            return Err("jwt.secret must be at least 32 bytes (or empty to generate one)".into());
        }
        if self.jwt.issuer.is_empty() || self.jwt.audience.is_empty() {
            return Err("jwt.issuer and jwt.audience must not be empty".into());
        }
        if !crate::domain::country::is_valid(&self.admin.organization_country) {
            return Err(format!(
                "admin.organization_country: `{}` is not an ISO 3166-1 alpha-2 code",
                self.admin.organization_country
            ));
        }
        if self.login.max_failures_per_account == 0
            || self.login.max_failures_per_address == 0
            || self.login.free_failures_per_account_and_address == 0
        {
            return Err(
                "login.max_failures_* and login.free_failures_per_account_and_address must be at least 1".into()
            );
        }
        if !self.escrow_recipient.is_empty() && !self.escrow_recipient.starts_with("age1") {
            return Err("escrow_recipient must be an age X25519 public key (age1…)".into());
        }
        if !self.smtp_url.is_empty() {
            crate::mail::Mailer::check_url(self.smtp_url.expose())?;
        }
        if !self.smtp_ca_file.is_empty() && !crate::mail::Mailer::url_uses_tls(self.smtp_url.expose()) {
            return Err("smtp_ca_file is set, but smtp_url uses no TLS: use smtps://… or ?tls=required".into());
        }
        self.mail_from
            .parse::<lettre::message::Mailbox>()
            .map_err(|_| format!("mail_from: `{}` is not a mailbox like Haven <haven@example.org>", self.mail_from))?;
        if !self.public_url.is_empty()
            && (!(self.public_url.starts_with("https://") || self.public_url.starts_with("http://"))
                || self.public_url.ends_with('/'))
        {
            return Err("public_url must start with https:// (or http://) and not end with /".into());
        }
        if !(1..=24 * 60).contains(&self.console_idle_minutes) {
            return Err("console_idle_minutes must be between 1 and 1440".into());
        }
        if !(100..=3_600_000).contains(&self.escalation_interval_ms) {
            return Err("escalation_interval_ms must be between 100 and 3600000".into());
        }
        if !(1..=600).contains(&self.mail_timeout_seconds) {
            return Err("mail_timeout_seconds must be between 1 and 600".into());
        }
        if !(1..=24 * 30).contains(&self.mail_deadline_hours) || !(1..=24 * 30).contains(&self.ack_link_hours) {
            return Err("mail_deadline_hours and ack_link_hours must be between 1 and 720".into());
        }
        if !self.metrics_token.is_empty() && self.metrics_token.expose().len() < 16 {
            return Err("metrics_token must be at least 16 characters (or empty to turn /metrics off)".into());
        }
        if self.db_max_connections == 0 {
            return Err("db_max_connections must be at least 1".into());
        }
        Ok(())
    }
}

/// Overlays `from` on `into`, refusing keys the defaults do not have.
fn merge(into: &mut toml::Value, from: toml::Value, prefix: &str) -> Result<(), String> {
    match (into, from) {
        (toml::Value::Table(into), toml::Value::Table(from)) => {
            for (k, v) in from {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                match into.get_mut(&k) {
                    Some(slot @ toml::Value::Table(_)) => merge(slot, v, &path)?,
                    Some(slot) => *slot = v,
                    None => return Err(format!("unknown key `{path}`")),
                }
            }
            Ok(())
        }
        (_, _) => Err(format!("`{prefix}` must be a table")),
    }
}

/// `HAVEN_JWT_ACCESS_TTL_SECONDS=60` sets `jwt.access_ttl_seconds`; the value is typed by
/// the default it replaces.
fn apply_env(value: &mut toml::Value, key: &str, raw: &str) -> Result<(), String> {
    let name = key["HAVEN_".len()..].to_ascii_lowercase();
    let (section, field) = match SECTIONS.iter().find(|s| name.starts_with(&format!("{s}_"))) {
        Some(s) => (Some(*s), name[s.len() + 1..].to_string()),
        None => (None, name.clone()),
    };
    let table = match section {
        Some(s) => value.get_mut(s),
        None => Some(&mut *value),
    }
    .and_then(|t| t.as_table_mut())
    .ok_or_else(|| format!("unknown environment variable {key}"))?;
    let slot = match table.get_mut(&field) {
        Some(slot) if !slot.is_table() => slot,
        _ => return Err(format!("unknown environment variable {key}")),
    };
    *slot = match slot {
        toml::Value::Integer(_) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| format!("{key} must be a whole number"))?)
        }
        toml::Value::Boolean(_) => {
            toml::Value::Boolean(raw.trim().parse().map_err(|_| format!("{key} must be true or false"))?)
        }
        _ => toml::Value::String(raw.to_string()),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn checked_in_defaults_match_the_code() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let text = std::fs::read_to_string(&path).expect("config/default.toml");
        let file: toml::Value = toml::from_str(&text).expect("config/default.toml parses");
        let code = toml::Value::try_from(Config::default()).expect("defaults serialise");
        assert_eq!(file, code, "config/default.toml is out of date with Config::default()");
    }

    #[test]
    fn env_overrides_are_typed() {
        let c = Config::load(
            None,
            env(&[
                ("HAVEN_BIND", "0.0.0.0:9000"),
                ("HAVEN_JWT_ACCESS_TTL_SECONDS", "60"),
                ("HAVEN_ADMIN_EMAIL", "a@b.org"),
            ]),
        )
        .unwrap();
        assert_eq!(c.bind, "0.0.0.0:9000");
        assert_eq!(c.jwt.access_ttl_seconds, 60);
        assert_eq!(c.admin.email, "a@b.org");
    }

    #[test]
    fn the_form_page_title_is_neutral_by_default_and_checked() {
        assert_eq!(Config::default().form.page_title, "Haven");
        let c = Config::load(None, env(&[("HAVEN_FORM_PAGE_TITLE", "Notes")])).unwrap();
        assert_eq!(c.form.page_title, "Notes");
        for bad in ["", "   ", "two\nlines", &"x".repeat(101)] {
            let err = Config::load(None, env(&[("HAVEN_FORM_PAGE_TITLE", bad)])).unwrap_err();
            assert!(err.contains("form.page_title"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn unknown_env_key_is_named() {
        let err = Config::load(None, env(&[("HAVEN_DATABSE_URL", "x")])).unwrap_err();
        assert!(err.contains("HAVEN_DATABSE_URL"), "{err}");
        let err = Config::load(None, env(&[("HAVEN_JWT_NOPE", "x")])).unwrap_err();
        assert!(err.contains("HAVEN_JWT_NOPE"), "{err}");
        let err = Config::load(None, env(&[("HAVEN_JWT_ACCESS_TTL_SECONDS", "soon")])).unwrap_err();
        assert!(err.contains("whole number"), "{err}");
    }

    #[test]
    fn unknown_file_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.toml");
        std::fs::write(&p, "bind = \"127.0.0.1:1\"\n[jwt]\nisuer = \"x\"\n").unwrap();
        let err = Config::load(Some(&p), env(&[])).unwrap_err();
        assert!(err.contains("jwt.isuer"), "{err}");
    }

    #[test]
    fn mail_settings_are_checked_without_echoing_credentials() {
        let err = Config::load(None, env(&[("HAVEN_SMTP_URL", "gopher://user:hunter2@host")])).unwrap_err();
        assert!(err.contains("smtp_url") && !err.contains("hunter2"), "{err}");
        let err = Config::load(None, env(&[("HAVEN_MAIL_FROM", "not a mailbox")])).unwrap_err();
        assert!(err.contains("mail_from"), "{err}");
        let err = Config::load(None, env(&[("HAVEN_PUBLIC_URL", "haven.example.org/")])).unwrap_err();
        assert!(err.contains("public_url"), "{err}");
        let ok = Config::load(None, env(&[("HAVEN_SMTP_URL", "smtp://u:p@mail.example.org:587?tls=required")]));
        assert!(ok.is_ok(), "{ok:?}");
        assert!(Config::load(None, env(&[("HAVEN_SMTP_URL", "smtps://mail.example.org:465")])).is_ok());
        // A CA to trust only makes sense over TLS.
        let ca = ("HAVEN_SMTP_CA_FILE", "/etc/haven/relay-ca.pem");
        let err =
            Config::load(None, env(&[("HAVEN_SMTP_URL", "smtp://u:hunter2@mail.example.org:25"), ca])).unwrap_err();
        assert!(err.contains("smtp_ca_file") && !err.contains("hunter2"), "{err}");
        assert!(Config::load(None, env(&[ca])).is_err(), "no smtp_url at all");
        for url in ["smtps://mail.example.org:465", "smtp://mail.example.org:587?tls=required"] {
            let c = Config::load(None, env(&[("HAVEN_SMTP_URL", url), ca])).unwrap();
            assert_eq!(c.smtp_ca_file, "/etc/haven/relay-ca.pem");
        }
    }

    #[test]
    fn ack_links_follow_bind_unless_public_url_is_set() {
        let c = Config::load(None, env(&[("HAVEN_BIND", "127.0.0.1:9123")])).unwrap();
        assert_eq!(c.public_base(), "http://127.0.0.1:9123");
        let c = Config::load(None, env(&[("HAVEN_BIND", "0.0.0.0:9000")])).unwrap();
        assert_eq!(c.public_base(), "http://localhost:9000");
        let c = Config::load(None, env(&[("HAVEN_BIND", "[::]:9000")])).unwrap();
        assert_eq!(c.public_base(), "http://localhost:9000");
        let c = Config::load(
            None,
            env(&[("HAVEN_BIND", "0.0.0.0:9000"), ("HAVEN_PUBLIC_URL", "https://haven.example.org")]),
        )
        .unwrap();
        assert_eq!(c.public_base(), "https://haven.example.org");
    }

    #[test]
    fn unknown_database_scheme_is_refused() {
        let err = Config::load(None, env(&[("HAVEN_DATABASE_URL", "mysql://x/y")])).unwrap_err();
        assert!(err.contains("mysql"), "{err}");
        let err = Config::load(None, env(&[("HAVEN_DATABASE_URL", "haven.db")])).unwrap_err();
        assert!(err.contains("unsupported scheme"), "{err}");
    }

    #[test]
    fn secrets_are_redacted_in_debug() {
        let c = Config::load(
            None,
            env(&[
                ("HAVEN_ADMIN_PASSWORD", "correct horse battery"),
                ("HAVEN_JWT_SECRET", "0123456789abcdef0123456789abcdef-secret"),
                ("HAVEN_DATABASE_URL", "postgres://u:pw-sekrit@h/db"),
            ]),
        )
        .unwrap();
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("correct horse"));
        assert!(!dbg.contains("-secret"));
        assert!(!dbg.contains("pw-sekrit"));
    }
}
