//! Mail transports (lettre): SMTP with STARTTLS or TLS from a URL, or `.eml` files under the
//! data directory for development. Mails carry a case reference, a rule's description and an
//! acknowledgement link, never case content.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};

use crate::config::Config;

pub enum Mailer {
    Smtp(SmtpTransport),
    /// `<data_dir>/mail`: one `.eml` file per mail, readable by Haven's user only.
    File(PathBuf),
}

/// One mail ready to go.
pub struct Outgoing<'a> {
    /// The fixed Message-ID (without angle brackets): a retry carries the same one.
    pub message_id: String,
    pub to: &'a str,
    pub subject: &'a str,
    pub body: String,
}

impl Mailer {
    /// Refuses a URL lettre cannot use, naming the scheme but never echoing credentials.
    pub fn check_url(url: &str) -> Result<(), String> {
        SmtpTransport::from_url(url).map(|_| ()).map_err(|_| {
            "smtp_url must look like smtp://host:25, smtp://user:pass@host:587?tls=required or smtps://host:465"
                .to_string()
        })
    }

    /// Whether the URL asks for TLS: `smtps://` (TLS from the first byte) or `?tls=required`
    /// / `?tls=opportunistic` (STARTTLS).
    pub fn url_uses_tls(url: &str) -> bool {
        tls_mode(url).is_some()
    }

    pub fn from_config(config: &Config) -> anyhow::Result<Mailer> {
        let timeout = Duration::from_secs(config.mail_timeout_seconds);
        if config.smtp_url.is_empty() {
            let dir = config.data_dir.join("mail");
            create_private_dir(&dir)?;
            return Ok(Mailer::File(dir));
        }
        let url = config.smtp_url.expose();
        let mut builder = SmtpTransport::from_url(url).map_err(|_| anyhow::anyhow!("bad smtp_url"))?;
        if !config.smtp_ca_file.is_empty() {
            let pem = std::fs::read(&config.smtp_ca_file)
                .map_err(|e| anyhow::anyhow!("smtp_ca_file {}: {}", config.smtp_ca_file, e.kind()))?;
            let ca = Certificate::from_pem(&pem)
                .map_err(|_| anyhow::anyhow!("smtp_ca_file {}: no PEM certificate in it", config.smtp_ca_file))?;
            let host = url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(|h| h.trim_start_matches('[').trim_end_matches(']').to_string()))
                .ok_or_else(|| anyhow::anyhow!("bad smtp_url"))?;
            let params = TlsParameters::builder(host)
                .add_root_certificate(ca)
                .build()
                .map_err(|_| anyhow::anyhow!("smtp_ca_file {}: not usable for TLS", config.smtp_ca_file))?;
            builder = builder.tls(match tls_mode(url) {
                Some(TlsMode::Wrapper) => Tls::Wrapper(params),
                Some(TlsMode::Required) => Tls::Required(params),
                Some(TlsMode::Opportunistic) => Tls::Opportunistic(params),
                None => anyhow::bail!("smtp_ca_file is set, but smtp_url uses no TLS"),
            });
        }
        Ok(Mailer::Smtp(builder.timeout(Some(timeout)).build()))
    }

    /// Sends one mail; the error is a short description fit for the log (no addresses).
    pub fn send(&self, from: &str, mail: &Outgoing<'_>) -> Result<(), String> {
        let from: Mailbox = from.parse().map_err(|_| "mail_from is not a mailbox".to_string())?;
        let to: Mailbox = mail.to.parse().map_err(|_| "recipient is not an address".to_string())?;
        let message = Message::builder()
            .from(from)
            .to(to)
            .subject(mail.subject)
            .message_id(Some(format!("<{}>", mail.message_id)))
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| format!("building the message: {e}"))?;
        match self {
            Mailer::Smtp(t) => t.send(&message).map(|_| ()).map_err(|e| smtp_error(&e)),
            Mailer::File(dir) => write_private(dir, &mail.message_id, &message.formatted())
                .map_err(|e| format!("writing the mail file: {}", e.kind())),
        }
    }
}

enum TlsMode {
    Wrapper,
    Required,
    Opportunistic,
}

/// The TLS lettre's `from_url` chooses for a URL: `smtps` wraps, `tls=` asks for STARTTLS.
fn tls_mode(url: &str) -> Option<TlsMode> {
    let u = url::Url::parse(url).ok()?;
    if u.scheme() == "smtps" {
        return Some(TlsMode::Wrapper);
    }
    match u.query_pairs().find(|(k, _)| k == "tls").map(|(_, v)| v.into_owned()).as_deref() {
        Some("required") => Some(TlsMode::Required),
        Some("opportunistic") => Some(TlsMode::Opportunistic),
        _ => None,
    }
}

/// Whether the failure was the server's certificate not verifying (unknown issuer, wrong
/// name, expired): rustls reports it as an I/O error of kind InvalidData under lettre's
/// network error.
fn certificate_refused(e: &lettre::transport::smtp::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(rustls::Error::InvalidCertificate(_)) = inner.downcast_ref::<rustls::Error>() {
                    return true;
                }
            }
        }
        if let Some(rustls::Error::InvalidCertificate(_)) = s.downcast_ref::<rustls::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
    if certificate_refused(e) {
        return "TLS error: the SMTP server's certificate does not verify (see smtp_ca_file)".to_string();
    }
    let kind = if e.is_transient() {
        "transient SMTP error"
    } else if e.is_permanent() {
        "permanent SMTP error"
    } else if e.is_timeout() {
        "SMTP timeout"
    } else if e.is_tls() {
        "TLS error"
    } else {
        "SMTP connection error"
    };
    match e.status() {
        Some(code) => format!("{kind} ({code})"),
        None => kind.to_string(),
    }
}

/// Writes one mail as `<dir>/<message id>.eml`, mode 0600 whatever the umask: written to a
/// temporary name first and renamed, so a reader never sees half a mail and a retry of the
/// same message replaces its earlier file instead of adding a second.
fn write_private(dir: &Path, message_id: &str, bytes: &[u8]) -> std::io::Result<()> {
    let name: String =
        message_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    #[cfg(unix)]
    {
        // `mode` only applies to a new file: a leftover temporary keeps its old mode.
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&tmp, dir.join(format!("{name}.eml")))
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
