//! Mail transports (lettre): SMTP with STARTTLS or TLS from a URL, or `.eml` files under the
//! data directory for development. Mails carry a case reference, a rule's description and an
//! acknowledgement link, never case content.

use std::path::Path;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::{FileTransport, Message, SmtpTransport, Transport};

use crate::config::Config;

pub enum Mailer {
    Smtp(SmtpTransport),
    File(FileTransport),
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
            return Ok(Mailer::File(FileTransport::new(dir)));
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
            Mailer::File(t) => t.send(&message).map(|_| ()).map_err(|e| format!("writing the mail file: {e}")),
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

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
