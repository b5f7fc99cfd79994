//! Mail transports (lettre): SMTP with STARTTLS or TLS from a URL, or `.eml` files under the
//! data directory for development. Mails carry a case reference, a rule's description and an
//! acknowledgement link, never case content.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
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

    pub fn from_config(config: &Config) -> anyhow::Result<Mailer> {
        let timeout = Duration::from_secs(config.mail_timeout_seconds);
        if config.smtp_url.is_empty() {
            let dir = config.data_dir.join("mail");
            create_private_dir(&dir)?;
            return Ok(Mailer::File(dir));
        }
        let builder = SmtpTransport::from_url(config.smtp_url.expose()).map_err(|_| anyhow::anyhow!("bad smtp_url"))?;
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

fn smtp_error(e: &lettre::transport::smtp::Error) -> String {
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
