//! The mail transport, per `SMTP_URL`: SMTP with lettre (STARTTLS, implicit TLS, or plain for a
//! local relay), or with no `SMTP_URL` lettre's file transport, which writes each message as an
//! RFC 5322 `.eml` file into `MAIL_SPOOL_DIR`.

use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, MailTransport, SmtpTls};

#[derive(Clone)]
pub enum Mailer {
    Spool(AsyncFileTransport<Tokio1Executor>),
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

impl Mailer {
    /// The transport `config` names. The spool directory is created (owner-only: messages hold
    /// password-reset links) if missing.
    pub fn new(config: &MailConfig) -> Result<Self, String> {
        match &config.transport {
            MailTransport::Spool(dir) => {
                create_private_dir(dir).map_err(|e| {
                    format!("MAIL_SPOOL_DIR {} cannot be created: {e}", dir.display())
                })?;
                Ok(Self::Spool(AsyncFileTransport::new(dir)))
            }
            MailTransport::Smtp(smtp) => {
                let builder = match smtp.tls {
                    SmtpTls::Implicit => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host),
                    SmtpTls::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                    }
                    SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
                        &smtp.host,
                    )),
                }
                .map_err(|e| format!("SMTP_URL: TLS cannot be set up for {}: {e}", smtp.host))?;
                let mut builder = builder.port(smtp.port).timeout(Some(smtp.timeout));
                if let Some((user, password)) = &smtp.credentials {
                    builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
                }
                Ok(Self::Smtp(builder.build()))
            }
        }
    }

    /// Hands `message` over; an error says why it was not accepted (it will be retried).
    pub async fn send(&self, message: Message) -> Result<(), String> {
        match self {
            Self::Spool(spool) => spool
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Self::Smtp(smtp) => smtp
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
        }
    }
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
