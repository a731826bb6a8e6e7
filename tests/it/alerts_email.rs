//! Email sinks (issue 14) against a loopback SMTP server that speaks EHLO, STARTTLS,
//! AUTH, MAIL, RCPT and DATA, with TLS from a test CA (tests/fixtures/smtp) that the sink
//! trusts through `ca_file`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::*;

const CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp/ca.pem");

/// One command the server got, and whether TLS protected it.
#[derive(Clone, Debug)]
struct Said {
    line: String,
    tls: bool,
}

#[derive(Default)]
struct Conversation {
    said: Vec<Said>,
    /// The DATA of each mail received.
    mails: Vec<String>,
}

struct Smtp {
    port: u16,
    state: Arc<Mutex<Conversation>>,
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Conn {
    fn stream(&mut self) -> (&mut dyn ReadWrite, bool) {
        match self {
            Conn::Plain(s) => (s, false),
            Conn::Tls(s) => (s.as_mut(), true),
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

fn tls_config() -> Arc<rustls::ServerConfig> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/smtp/");
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_file_iter(format!("{dir}server.pem"))
            .unwrap()
            .map(|c| c.unwrap())
            .collect();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap(),
    )
}

impl Smtp {
    /// A server that offers STARTTLS (`starttls`), or speaks TLS from the start
    /// (`implicit`), or neither.
    fn start(starttls: bool, implicit: bool) -> Smtp {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(Conversation::default()));
        let s = state.clone();
        let config = tls_config();
        thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (s, config) = (s.clone(), config.clone());
                thread::spawn(move || {
                    let _ = converse(conn, &s, config, starttls, implicit);
                });
            }
        });
        Smtp { port, state }
    }

    fn said(&self) -> Vec<Said> {
        self.state.lock().unwrap().said.clone()
    }

    fn mails(&self) -> Vec<String> {
        self.state.lock().unwrap().mails.clone()
    }
}

fn read_line(s: &mut dyn ReadWrite) -> std::io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while !line.ends_with(b"\r\n") {
        if s.read(&mut byte)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        line.push(byte[0]);
    }
    line.truncate(line.len() - 2);
    Ok(String::from_utf8_lossy(&line).into_owned())
}

fn converse(
    tcp: TcpStream,
    state: &Mutex<Conversation>,
    config: Arc<rustls::ServerConfig>,
    starttls: bool,
    implicit: bool,
) -> std::io::Result<()> {
    tcp.set_read_timeout(Some(Duration::from_secs(20)))?;
    let tls = |tcp| {
        Conn::Tls(Box::new(rustls::StreamOwned::new(
            rustls::ServerConnection::new(config.clone()).unwrap(),
            tcp,
        )))
    };
    let mut conn = if implicit { tls(tcp) } else { Conn::Plain(tcp) };
    conn.stream().0.write_all(b"220 test.local ESMTP\r\n")?;
    loop {
        let (s, on_tls) = conn.stream();
        let line = read_line(s)?;
        state.lock().unwrap().said.push(Said {
            line: line.clone(),
            tls: on_tls,
        });
        let verb = line.split_whitespace().next().unwrap_or("").to_uppercase();
        match verb.as_str() {
            "EHLO" => {
                let offer = if starttls && !on_tls {
                    "250-STARTTLS\r\n"
                } else {
                    ""
                };
                write!(s, "250-test.local\r\n{offer}250 AUTH PLAIN LOGIN\r\n")?;
            }
            "STARTTLS" if starttls && !on_tls => {
                s.write_all(b"220 go ahead\r\n")?;
                s.flush()?;
                let Conn::Plain(tcp) = conn else {
                    unreachable!()
                };
                conn = tls(tcp);
            }
            "AUTH" => s.write_all(b"235 2.7.0 accepted\r\n")?,
            "MAIL" | "RCPT" | "NOOP" | "RSET" => s.write_all(b"250 ok\r\n")?,
            "DATA" => {
                s.write_all(b"354 end with .\r\n")?;
                let mut data = String::new();
                loop {
                    let l = read_line(s)?;
                    if l == "." {
                        break;
                    }
                    data.push_str(&l);
                    data.push('\n');
                }
                state.lock().unwrap().mails.push(data);
                s.write_all(b"250 2.0.0 queued as 42\r\n")?;
            }
            "QUIT" => {
                s.write_all(b"221 bye\r\n")?;
                return s.flush();
            }
            _ => s.write_all(b"502 not here\r\n")?,
        }
        conn.stream().0.flush()?;
    }
}

fn base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let Some(v) = ALPHABET.iter().position(|a| *a == c) else {
            continue;
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// A header's value, unfolded, its RFC 2047 `=?utf-8?b?...?=` words decoded.
fn header(mail: &str, name: &str) -> String {
    let head = &mail[..mail.find("\n\n").unwrap()];
    let unfolded = head.replace("\n ", " ").replace("\n\t", " ");
    let value = unfolded
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| panic!("no {name} in {mail}"));
    // words between encoded words are joined without their space (RFC 2047, 6.2)
    let mut out = String::new();
    let mut last_encoded = false;
    for (i, word) in value.split(' ').enumerate() {
        let encoded = word.to_ascii_lowercase().starts_with("=?utf-8?b?") && word.ends_with("?=");
        if i > 0 && !(encoded && last_encoded) {
            out.push(' ');
        }
        if encoded {
            out.push_str(&String::from_utf8(base64(&word[10..word.len() - 2])).unwrap());
        } else {
            out.push_str(word);
        }
        last_encoded = encoded;
    }
    out
}

/// The body, decoded from its transfer encoding, with `\n` line ends (mail has CRLF).
fn body(mail: &str) -> String {
    body_crlf(mail).replace("\r\n", "\n")
}

fn body_crlf(mail: &str) -> String {
    let raw = &mail[mail.find("\n\n").unwrap() + 2..];
    match header(mail, "Content-Transfer-Encoding")
        .to_lowercase()
        .as_str()
    {
        "base64" => String::from_utf8(base64(raw)).unwrap(),
        "quoted-printable" => {
            let joined = raw.replace("=\n", "");
            let mut out = Vec::new();
            let b = joined.as_bytes();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'=' && i + 2 < b.len() + 1 {
                    out.push(u8::from_str_radix(&joined[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        }
        _ => raw.to_string(),
    }
}

/// STARTTLS required, offered: EHLO, STARTTLS, EHLO again and AUTH under TLS, one mail to
/// both recipients with a Message-ID from the alert id, a UTF-8 subject, and the message
/// text with `<`, `&` and Cyrillic as they are.
#[test]
fn email_upgrades_with_starttls_logs_in_and_sends_one_mail_per_alert() {
    let smtp = Smtp::start(true, false);
    let feeds = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("smtp-password");
    std::fs::write(&password, "p4ss-secret\n").unwrap();
    feeds.set(
        "/feed",
        Route::feed(
            "<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>t</title><item><title>CSTO: Минск &amp; Москва, 1 &lt; 2</title><link>https://example.org/1</link><guid>g1</guid></item></channel></rss>",
        ),
    );
    let setup = Setup::with_watches(
        &[("news", &feeds.url("/feed"), "all")],
        "",
        "[[watch]]\nname = \"csto\"\nterms = [\"CSTO\"]\n",
    );
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    config.push_str(&format!(
        "\n[[sinks]]\nname = \"mail\"\nkind = \"email\"\nsmtp = \"smtp://127.0.0.1:{}\"\nstarttls = \"required\"\nusername = \"feedwatch\"\npassword_file = \"{}\"\nfrom = \"feedwatch <feedwatch@example.org>\"\nto = [\"a@example.org\", \"b@example.org\"]\nca_file = \"{CA}\"\n",
        smtp.port,
        password.display()
    ));
    std::fs::write(&setup.config, config).unwrap();
    let check = stdout(&setup.run(&["check"]));
    assert!(check.contains("mail: email smtp://127.0.0.1"), "{check}");
    assert!(!check.contains("p4ss-secret"), "{check}");
    let mut d = command(Some(&setup.config))
        .arg("run")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map(Daemon)
        .unwrap();
    wait_for("the mail", Duration::from_secs(30), || {
        !smtp.mails().is_empty()
    });
    wait_for("QUIT", Duration::from_secs(10), || {
        smtp.said().iter().any(|s| s.line == "QUIT")
    });
    let _ = d.kill();
    let said = smtp.said();
    let verbs: Vec<(String, bool)> = said
        .iter()
        .map(|s| (s.line.split_whitespace().next().unwrap().to_string(), s.tls))
        .collect();
    let expected: Vec<(String, bool)> = [
        ("EHLO", false),
        ("STARTTLS", false),
        ("EHLO", true),
        ("AUTH", true),
        ("MAIL", true),
        ("RCPT", true),
        ("RCPT", true),
        ("DATA", true),
        ("QUIT", true),
    ]
    .iter()
    .map(|(v, t)| (v.to_string(), *t))
    .collect();
    assert_eq!(verbs, expected, "{said:?}");
    assert_eq!(said[0].line, "EHLO example.org");
    let auth = said[3].line.split_whitespace().collect::<Vec<_>>();
    assert_eq!(auth[..2], ["AUTH", "PLAIN"]);
    assert_eq!(base64(auth[2]), b"\0feedwatch\0p4ss-secret");
    assert_eq!(said[4].line, "MAIL FROM:<feedwatch@example.org>");
    assert_eq!(said[5].line, "RCPT TO:<a@example.org>");
    assert_eq!(said[6].line, "RCPT TO:<b@example.org>");
    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    let alert = &setup.alerts()[0];
    assert_eq!(
        header(mail, "Message-ID"),
        format!("<{}@example.org>", alert["id"].as_str().unwrap())
    );
    assert_eq!(
        header(mail, "Subject"),
        "[csto] CSTO: Минск & Москва, 1 < 2"
    );
    assert_eq!(header(mail, "To"), "a@example.org, b@example.org");
    assert!(header(mail, "Content-Type").starts_with("text/plain; charset=utf-8"));
    let text = body(mail);
    assert!(
        text.starts_with("[csto] CSTO: Минск & Москва, 1 < 2\nCSTO: "),
        "{text}"
    );
    assert!(text.contains("https://example.org/1"), "{text}");
}

/// `starttls = "required"` never sends to a server that does not offer it (no MAIL, no
/// AUTH, the password never leaves); `smtps://` speaks TLS from the first byte;
/// `starttls = "opportunistic"` sends in clear text when the server has no STARTTLS.
#[test]
fn email_starttls_required_refuses_a_plain_server_and_smtps_and_opportunistic_deliver() {
    let plain = Smtp::start(false, false);
    let implicit = Smtp::start(false, true);
    let loose = Smtp::start(false, false);
    let feeds = Server::start();
    feeds.set("/rss/news", Route::feed(SAMPLE));
    let setup = Setup::new(&[("moscow-times", &feeds.url("/rss/news"), "all")]);
    let pw = setup.dir.path().join("pw");
    std::fs::write(&pw, "never-sent").unwrap();
    let mut config = std::fs::read_to_string(&setup.config).unwrap();
    let table = |name: &str, smtp: &str, extra: &str| {
        format!(
            "\n[[sinks]]\nname = \"{name}\"\nkind = \"email\"\nsmtp = \"{smtp}\"\nfrom = \"feedwatch@example.org\"\nto = [\"a@example.org\"]\nca_file = \"{CA}\"\nwatches = [\"csto\"]\n{extra}"
        )
    };
    config.push_str(&table(
        "strict",
        &format!("smtp://127.0.0.1:{}", plain.port),
        &format!("username = \"u\"\npassword_file = \"{}\"\n", pw.display()),
    ));
    config.push_str(&table(
        "wrapped",
        &format!("smtps://localhost:{}", implicit.port),
        "",
    ));
    config.push_str(&table(
        "loose",
        &format!("smtp://127.0.0.1:{}", loose.port),
        "starttls = \"opportunistic\"\n",
    ));
    std::fs::write(&setup.config, config).unwrap();
    let mut d = command(Some(&setup.config))
        .arg("run")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map(Daemon)
        .unwrap();
    wait_for(
        "the smtps and opportunistic mails",
        Duration::from_secs(30),
        || !implicit.mails().is_empty() && !loose.mails().is_empty(),
    );
    // the strict sink has tried (EHLO) and retried after its refusal
    wait_for(
        "two attempts of the strict sink",
        Duration::from_secs(30),
        || {
            plain
                .said()
                .iter()
                .filter(|s| s.line.starts_with("EHLO"))
                .count()
                >= 2
        },
    );
    let _ = d.kill();
    let strict = plain.said();
    assert!(
        strict
            .iter()
            .all(|s| s.line.starts_with("EHLO") || s.line == "QUIT"),
        "the strict sink went on without STARTTLS: {strict:?}"
    );
    assert!(plain.mails().is_empty());
    assert!(implicit.said().iter().all(|s| s.tls));
    assert!(loose.said().iter().all(|s| !s.tls));
    for server in [&implicit, &loose] {
        let mails = server.mails();
        assert_eq!(mails.len(), 1);
        assert!(header(&mails[0], "Subject").starts_with("[csto] "));
    }
}
