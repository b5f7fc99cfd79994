//! A real SMTP server for tests (mailin-embedded), on a loopback port, that keeps every mail
//! it accepts: plain, with STARTTLS, or with TLS from the first byte (implicit TLS), the
//! last two with a self-signed certificate made for the test.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use mailin_embedded::{response, Action, AuthMechanism, Handler, Response, Server, SslConfig};

/// The one account the TLS sinks accept (AUTH PLAIN or LOGIN, only over TLS).
pub const SMTP_USER: &str = "haven-relay";
pub const SMTP_PASSWORD: &str = "relay-password-7f3a9c";

#[derive(Debug, Clone)]
pub struct Mail {
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    pub fn header(&self, name: &str) -> Option<String> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        // Headers end at the first empty line; folded ones continue on indented lines.
        let head = self.data.split("\r\n\r\n").next().unwrap_or_default().replace("\r\n ", " ").replace("\r\n\t", " ");
        head.lines().find(|l| l.to_ascii_lowercase().starts_with(&prefix)).map(|l| l[prefix.len()..].trim().to_string())
    }

    /// The message as text, quoted-printable decoded.
    pub fn text(&self) -> String {
        let joined = self.data.replace("=\r\n", "").replace("=\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
            match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'=', Some(b)) => {
                    out.push(b);
                    i += 3;
                }
                (b, _) => {
                    out.push(b);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// The acknowledgement link's path (`/ack/…`).
    pub fn ack_path(&self) -> String {
        let text = self.text();
        let start = text.find("/ack/").expect("ack link in mail");
        text[start..].split_whitespace().next().expect("link").to_string()
    }
}

#[derive(Clone)]
struct Collector {
    mails: Arc<Mutex<Vec<Mail>>>,
    to: Vec<String>,
    data: Vec<u8>,
}

impl Handler for Collector {
    fn auth_plain(&mut self, _authz: &str, user: &str, password: &str) -> Response {
        self.auth_login(user, password)
    }

    fn auth_login(&mut self, user: &str, password: &str) -> Response {
        if user == SMTP_USER && password == SMTP_PASSWORD {
            response::AUTH_OK
        } else {
            response::INVALID_CREDENTIALS
        }
    }

    fn data_start(&mut self, _domain: &str, _from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.to = to.to_vec();
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        let mail = Mail { to: std::mem::take(&mut self.to), data: String::from_utf8_lossy(&self.data).into_owned() };
        self.mails.lock().unwrap().push(mail);
        response::OK
    }
}

/// An SMTP server running for the rest of the test process (its thread never returns).
pub struct SmtpSink {
    pub port: u16,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpSink {
    pub fn start() -> SmtpSink {
        Self::on(TcpListener::bind("127.0.0.1:0").expect("bind smtp"))
    }

    pub fn on(listener: TcpListener) -> SmtpSink {
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let handler = Collector { mails: mails.clone(), to: vec![], data: vec![] };
        let mut server = Server::new(handler);
        server.with_name("sink.test").with_ssl(SslConfig::None).expect("ssl config").with_num_threads(4);
        server.with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        SmtpSink { port, mails }
    }

    /// A server that offers STARTTLS with `cert` (mailin-embedded's own TLS), and AUTH once
    /// TLS is on.
    pub fn starttls(cert: &TestCert) -> SmtpSink {
        install_crypto_provider();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind smtp");
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let handler = Collector { mails: mails.clone(), to: vec![], data: vec![] };
        let mut server = Server::new(handler);
        let ssl = SslConfig::SelfSigned {
            cert_path: cert.cert_file.to_string_lossy().into_owned(),
            key_path: cert.key_file.to_string_lossy().into_owned(),
        };
        server.with_name("sink.test").with_ssl(ssl).expect("ssl config").with_num_threads(4);
        server.with_auth(AuthMechanism::Plain).with_auth(AuthMechanism::Login);
        server.with_tcp_listener(listener);
        std::thread::spawn(move || {
            let _ = server.serve();
        });
        SmtpSink { port, mails }
    }

    /// A server that speaks TLS from the first byte (SMTPS, port 465 style): our own accept
    /// loop around mailin's session, since mailin-embedded only does STARTTLS.
    pub fn implicit_tls(cert: &TestCert) -> SmtpSink {
        use rustls::pki_types::pem::PemObject;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("cert pem");
        let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).expect("key pem");
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .expect("tls versions")
                .with_no_client_auth()
                .with_single_cert(certs, key)
                .expect("server cert"),
        );
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind smtps");
        let port = listener.local_addr().unwrap().port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let mut builder = mailin::SessionBuilder::new("sink.test");
        builder.enable_auth(AuthMechanism::Plain).enable_auth(AuthMechanism::Login);
        let collector = Collector { mails: mails.clone(), to: vec![], data: vec![] };
        std::thread::spawn(move || {
            for tcp in listener.incoming().flatten() {
                let (config, builder, handler) = (config.clone(), builder.clone(), collector.clone());
                std::thread::spawn(move || -> std::io::Result<()> {
                    let remote = tcp.peer_addr()?.ip();
                    let conn = rustls::ServerConnection::new(config).map_err(std::io::Error::other)?;
                    let mut stream = BufReader::new(rustls::StreamOwned::new(conn, tcp));
                    let mut session = builder.build(remote, handler);
                    session.tls_active();
                    session.greeting().write_to(stream.get_mut())?;
                    stream.get_mut().flush()?;
                    let mut line = Vec::new();
                    loop {
                        line.clear();
                        if stream.read_until(b'\n', &mut line)? == 0 {
                            return Ok(());
                        }
                        let res = session.process(&line);
                        match res.action {
                            Action::NoReply => {}
                            Action::Reply | Action::UpgradeTls => {
                                res.write_to(stream.get_mut())?;
                                stream.get_mut().flush()?;
                            }
                            Action::Close => {
                                res.write_to(stream.get_mut())?;
                                stream.get_mut().conn.send_close_notify();
                                stream.get_mut().flush()?;
                                return Ok(());
                            }
                        }
                    }
                });
            }
        });
        SmtpSink { port, mails }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }

    /// Mails to `address`.
    pub fn to(&self, address: &str) -> Vec<Mail> {
        self.mails().into_iter().filter(|m| m.to.iter().any(|t| t.eq_ignore_ascii_case(address))).collect()
    }
}

/// mailin-embedded builds its TLS config with the process-wide rustls provider; the test
/// build links two (ring through lettre, aws-lc-rs through mailin-embedded), so one is named.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A self-signed certificate for 127.0.0.1 and localhost, made for one test, with its PEM
/// files in a temporary directory (the CA file Haven is told to trust is the certificate).
pub struct TestCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    _dir: tempfile::TempDir,
}

impl TestCert {
    pub fn new() -> TestCert {
        let rcgen::CertifiedKey { cert, signing_key } =
            rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
                .expect("self-signed certificate");
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert_pem, key_pem) = (cert.pem(), signing_key.serialize_pem());
        let cert_file = dir.path().join("cert.pem");
        let key_file = dir.path().join("key.pem");
        std::fs::write(&cert_file, &cert_pem).expect("write cert");
        std::fs::write(&key_file, &key_pem).expect("write key");
        TestCert { cert_pem, key_pem, cert_file, key_file, _dir: dir }
    }
}
