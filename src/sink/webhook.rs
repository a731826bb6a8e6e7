//! `kind = "webhook"`: the alert JSON (a digest: a JSON array) POSTed as it is, signed
//! with HMAC-SHA256 when the sink has a `secret`.

use sha2::{Digest, Sha256};
use url::Url;

use super::{Failure, http};

/// The header that carries the signature: `sha256=` and the hex HMAC of the body.
pub const SIGNATURE_HEADER: &str = "X-Feedwatch-Signature";

/// HMAC-SHA256 (RFC 2104) of `message` under `key`, as lowercase hex.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    let outer = Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// POSTs `body` to `url`, signed with `secret`; the server's answer.
pub(super) async fn send(
    client: &reqwest::Client,
    url: &Url,
    secret: Option<&str>,
    body: String,
) -> Result<String, Failure> {
    let mut req = client
        .post(url.clone())
        .header("Content-Type", "application/json");
    if let Some(secret) = secret {
        req = req.header(
            SIGNATURE_HEADER,
            format!(
                "sha256={}",
                hmac_sha256_hex(secret.as_bytes(), body.as_bytes())
            ),
        );
    }
    let shown = format!("POST {}", crate::redact::redact_url(url.as_str()));
    http::answer(&shown, req.body(body).send().await).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231, test case 2
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // test case 6: a key longer than the block
        assert_eq!(
            hmac_sha256_hex(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }
}
