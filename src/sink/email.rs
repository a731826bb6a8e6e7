//! `kind = "email"`: one mail per alert or per digest, over SMTP (lettre): STARTTLS
//! required, opportunistic or off on `smtp://`, TLS from the start on `smtps://`, with the
//! system's CAs and the sink's `ca_file`. The `Message-ID` comes from the alert id (a
//! digest: from its alert ids), so a mail sent twice after a lost answer is one thread
//! entry that mail clients and list servers can drop.

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::Failure;
use crate::config::{EmailSink, Starttls};
use crate::message::{Markup, Message};

/// Longest body, in characters; a digest that would be longer lists fewer alerts.
const MAX_CHARS: usize = 100_000;

pub(super) async fn send(
    e: &EmailSink,
    timeout: std::time::Duration,
    msg: &Message<'_>,
) -> Result<String, Failure> {
    let shown = format!(
        "sending mail via {}://{}:{}",
        if e.implicit_tls { "smtps" } else { "smtp" },
        e.host,
        e.port
    );
    let fail = |what: String| Failure::from(format!("{shown}: {what}"));
    let mut params = TlsParameters::builder(e.host.clone());
    if let Some(pem) = &e.ca_pem {
        let cert = Certificate::from_pem(pem).map_err(|x| fail(format!("ca_file: {x}")))?;
        params = params.add_root_certificate(cert);
    }
    let params = params
        .build_rustls()
        .map_err(|x| fail(format!("TLS setup: {x}")))?;
    let tls = match (e.implicit_tls, e.starttls) {
        (true, _) => Tls::Wrapper(params),
        (false, Starttls::Required) => Tls::Required(params),
        (false, Starttls::Opportunistic) => Tls::Opportunistic(params),
        (false, Starttls::Off) => Tls::None,
    };
    let hello = e
        .from
        .rsplit_once('@')
        .map(|(_, d)| d.trim_end_matches('>').to_string())
        .unwrap_or_else(|| "localhost".into());
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&e.host)
        .port(e.port)
        .tls(tls)
        .hello_name(ClientId::Domain(hello.clone()))
        .timeout(Some(timeout));
    if let (Some(u), Some(p)) = (&e.username, &e.password) {
        transport = transport.credentials(Credentials::new(u.clone(), p.clone()));
    }
    let transport = transport.build();
    let mut builder = lettre::Message::builder()
        .from(e.from.parse().map_err(|x| fail(format!("from: {x}")))?)
        .subject(msg.title_line())
        .message_id(Some(format!("<{}@{hello}>", msg.key())));
    for to in &e.to {
        builder = builder.to(to.parse().map_err(|x| fail(format!("to {to}: {x}")))?);
    }
    let mail = builder
        .header(ContentType::TEXT_PLAIN)
        .body(msg.render(Markup::Plain, MAX_CHARS)?)
        .map_err(|x| fail(format!("building the mail: {x}")))?;
    let response = transport
        .send(mail)
        .await
        .map_err(|x| fail(x.to_string()))?;
    Ok(format!(
        "{} {}",
        response.code(),
        response.message().collect::<Vec<_>>().join(" ")
    ))
}
