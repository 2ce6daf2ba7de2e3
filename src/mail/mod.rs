//! Mail: messages composed from the directory's templates (a text and an HTML part, headers
//! encoded by lettre so no value from a user can add one), and the transport that delivers
//! them: an SMTP server (lettre; STARTTLS or implicit TLS, authentication) or, without one,
//! `.eml` files in `data/mail` for a directory tried out alone. The outbox that orders and
//! retries deliveries is `services::mail`'s.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use askama::Template;
use lettre::address::Envelope;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;

/// A message to write into the outbox: to whom, about what, and what it says.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// What it is about (`password_reset`, `organisation.approved`, …).
    pub kind: &'static str,
    pub to: String,
    pub subject: String,
    /// The paragraphs of the message, plain text (escaped in the HTML part).
    pub paragraphs: Vec<String>,
    /// A button (label and link) under the paragraphs, when the message has one.
    pub action: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "mail/message.txt")]
struct TextPart<'a> {
    name: &'a str,
    public_url: &'a str,
    paragraphs: &'a [String],
    action: &'a Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "mail/message.html")]
struct HtmlPart<'a> {
    name: &'a str,
    public_url: &'a str,
    subject: &'a str,
    paragraphs: &'a [String],
    action: &'a Option<(String, String)>,
}

/// A header value as one safe line: control characters (CR, LF, …) become spaces and the
/// value is cut at `max` characters.
fn one_line(value: &str, max: usize) -> String {
    let line: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    line.trim().to_owned()
}

/// Builds messages as the directory signs them: its name, its sender, its public URL.
#[derive(Clone)]
pub struct Composer {
    from: Mailbox,
    name: String,
    public_url: String,
    host: String,
}

impl Composer {
    /// The composer of the configuration: `mail_from`, or `no-reply@` the public URL's host.
    pub fn new(config: &Config, public_url: &str) -> anyhow::Result<Self> {
        let host = url::Url::parse(public_url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_owned))
            .unwrap_or_else(|| "localhost".into());
        let name = one_line(&config.directory_name, 80);
        let from = match &config.mail_from {
            Some(from) => from
                .parse::<Mailbox>()
                .map_err(|e| anyhow!("mail_from {from:?} is not an address: {e}"))?,
            None => {
                // An address literal makes no envelope sender: a directory reached at an IP
                // address (the quick start) sends as localhost.
                let mailbox_host = if host.parse::<std::net::IpAddr>().is_ok() {
                    "localhost".to_owned()
                } else {
                    host.clone()
                };
                let address = format!("no-reply@{mailbox_host}")
                    .parse::<Address>()
                    .or_else(|_| "no-reply@localhost".parse::<Address>())
                    .map_err(|e| anyhow!("no sender address: {e}"))?;
                Mailbox::new(Some(name.clone()), address)
            }
        };
        Ok(Self {
            from,
            name,
            public_url: public_url.to_owned(),
            host,
        })
    }

    /// The directory's name, as its mail says it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The public URL links in mail start with.
    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// The sender's address (the envelope's too).
    pub fn sender(&self) -> &Address {
        &self.from.email
    }

    /// The message `id` (its `Message-ID` is `<id@host>`), formatted as it is sent.
    pub fn compose(&self, id: &str, outgoing: &Outgoing) -> anyhow::Result<Vec<u8>> {
        let to: Mailbox = outgoing
            .to
            .parse()
            .with_context(|| format!("{:?} is not a mail address", outgoing.to))?;
        let subject = one_line(&format!("{}: {}", self.name, outgoing.subject), 150);
        let text = TextPart {
            name: &self.name,
            public_url: &self.public_url,
            paragraphs: &outgoing.paragraphs,
            action: &outgoing.action,
        }
        .render()?;
        let html = HtmlPart {
            name: &self.name,
            public_url: &self.public_url,
            subject: &subject,
            paragraphs: &outgoing.paragraphs,
            action: &outgoing.action,
        }
        .render()?;
        let message = Message::builder()
            .message_id(Some(format!("<{id}@{}>", self.host)))
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .multipart(MultiPart::alternative_plain_html(text, html))
            .context("composing a message")?;
        Ok(message.formatted())
    }
}

/// The directory's mail: how messages are composed and where they go.
#[derive(Clone)]
pub struct Mailer {
    pub composer: Composer,
    pub transport: Transport,
}

impl Mailer {
    /// The mailer of the configuration (see [`Composer::new`], [`Transport::configured`]).
    pub fn configured(config: &Config, public_url: &str) -> anyhow::Result<Self> {
        Ok(Self {
            composer: Composer::new(config, public_url)?,
            transport: Transport::configured(config)?,
        })
    }
}

/// Why a delivery did not happen: `permanent` when sending the same bytes again would be
/// refused again (an SMTP 5xx).
#[derive(Debug)]
pub struct Undelivered {
    pub permanent: bool,
    pub reason: String,
}

/// Where mail goes.
#[derive(Clone)]
pub enum Transport {
    /// An SMTP server.
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `.eml` files in this folder (0700; each file 0600), named by the message's id.
    Files(PathBuf),
}

impl Transport {
    /// The transport of the configuration: `smtp_url` (with `smtp_ca_file` trusted for its
    /// TLS), or files in `data_dir/mail`.
    pub fn configured(config: &Config) -> anyhow::Result<Self> {
        let Some(url) = &config.smtp_url else {
            return Ok(Transport::Files(config.data_dir.join("mail")));
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
            .map_err(|e| anyhow!("smtp_url is not an SMTP URL lettre reads: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(30)));
        if let Some(ca_file) = &config.smtp_ca_file {
            let parsed =
                url::Url::parse(url.expose()).map_err(|e| anyhow!("smtp_url is not a URL: {e}"))?;
            let host = parsed.host_str().unwrap_or_default().to_owned();
            let pem = std::fs::read(ca_file)
                .with_context(|| format!("cannot read smtp_ca_file {}", ca_file.display()))?;
            let parameters = TlsParameters::builder(host)
                .add_root_certificate(
                    Certificate::from_pem(&pem)
                        .map_err(|e| anyhow!("smtp_ca_file {}: {e}", ca_file.display()))?,
                )
                .build()
                .map_err(|e| anyhow!("TLS for smtp_url: {e}"))?;
            let tls = parsed
                .query_pairs()
                .find(|(k, _)| k == "tls")
                .map(|(_, v)| v.into_owned());
            builder = match (parsed.scheme(), tls.as_deref()) {
                ("smtps", _) => builder.tls(Tls::Wrapper(parameters)),
                ("smtp", Some("required")) => builder.tls(Tls::Required(parameters)),
                ("smtp", Some("opportunistic")) => builder.tls(Tls::Opportunistic(parameters)),
                _ => builder,
            };
        }
        Ok(Transport::Smtp(builder.build()))
    }

    /// Where this transport delivers, for the log (never with credentials).
    pub fn describe(&self) -> String {
        match self {
            Transport::Smtp(_) => "the SMTP server of smtp_url".into(),
            Transport::Files(folder) => format!("files in {}", folder.display()),
        }
    }

    /// Delivers the message `id` (its bytes) from `from` to `to`.
    pub async fn send(
        &self,
        id: &str,
        from: &Address,
        to: &str,
        message: &[u8],
    ) -> Result<(), Undelivered> {
        let to: Address = to.parse().map_err(|e| Undelivered {
            permanent: true,
            reason: format!("{to:?} is not a mail address: {e}"),
        })?;
        match self {
            Transport::Smtp(smtp) => {
                let envelope =
                    Envelope::new(Some(from.clone()), vec![to]).map_err(|e| Undelivered {
                        permanent: true,
                        reason: e.to_string(),
                    })?;
                smtp.send_raw(&envelope, message)
                    .await
                    .map(drop)
                    .map_err(|e| Undelivered {
                        permanent: e.is_permanent(),
                        reason: e.to_string(),
                    })
            }
            Transport::Files(folder) => {
                let (folder, id, message) = (folder.clone(), id.to_owned(), message.to_vec());
                tokio::task::spawn_blocking(move || write_file(&folder, &id, &message))
                    .await
                    .map_err(|e| anyhow!("the mail file task failed: {e}"))
                    .and_then(|written| written)
                    .map_err(|e| Undelivered {
                        permanent: false,
                        reason: format!("{e:#}"),
                    })
            }
        }
    }
}

/// Writes `folder/id.eml` (0600) in a folder made 0700: complete, or not at all.
fn write_file(folder: &Path, id: &str, message: &[u8]) -> anyhow::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    let path = folder.join(format!("{id}.eml"));
    let partial = folder.join(format!(".{id}.eml.partial"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&partial)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    file.write_all(message)?;
    file.sync_all()?;
    std::fs::rename(&partial, &path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_at_an_address_sends_as_localhost() {
        let composer = Composer::new(&Config::default(), "http://127.0.0.1:8080").unwrap();
        assert_eq!(composer.sender().to_string(), "no-reply@localhost");
        let outgoing = Outgoing {
            kind: "test",
            to: "dev@fintech.example".into(),
            subject: "s".into(),
            paragraphs: vec![],
            action: None,
        };
        assert!(composer.compose("id-3", &outgoing).is_ok());
    }

    fn composer() -> Composer {
        let config = Config {
            directory_name: "Test\r\nBcc: evil@example.com".into(),
            ..Config::default()
        };
        Composer::new(&config, "https://directory.example").unwrap()
    }

    #[test]
    fn no_value_from_a_user_adds_a_header() {
        let outgoing = Outgoing {
            kind: "test",
            to: "dev@fintech.example".into(),
            subject: "Acme\r\nBcc: evil@example.com\nX-Evil: 1".into(),
            paragraphs: vec!["<script>alert(1)</script>\r\nBcc: evil@example.com".into()],
            action: Some(("Open".into(), "https://directory.example/x?a=1&b=2".into())),
        };
        let bytes = composer().compose("id-1", &outgoing).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        let headers = &text[..text.find("\r\n\r\n").unwrap()];
        assert!(
            !headers
                .lines()
                .any(|l| l.starts_with("Bcc:") || l.starts_with("X-Evil:")),
            "{headers}"
        );
        assert!(
            headers.contains("Message-ID: <id-1@directory.example>"),
            "{headers}"
        );
        assert!(
            headers.contains("From: \"Test  Bcc: evil@example.com\" <no-reply@directory.example>")
                || headers.contains("no-reply@directory.example"),
            "{headers}"
        );
        let parsed = mail_parser::MessageParser::default().parse(&bytes).unwrap();
        let html = parsed.body_html(0).unwrap();
        assert!(
            html.contains("&#60;script&#62;") && !html.contains("<script>"),
            "escaped in the HTML part: {html}"
        );
        let plain = parsed.body_text(0).unwrap();
        assert!(
            plain.contains("<script>"),
            "the text part is plain text: {plain}"
        );
    }

    #[test]
    fn an_address_that_is_not_one_is_refused() {
        let outgoing = Outgoing {
            kind: "test",
            to: "not an address\r\nBcc: x@y".into(),
            subject: "s".into(),
            paragraphs: vec![],
            action: None,
        };
        assert!(composer().compose("id-2", &outgoing).is_err());
    }
}
