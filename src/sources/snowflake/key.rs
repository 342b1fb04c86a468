//! Snowflake key-pair authentication: a JWT signed with the user's RSA
//! private key, whose issuer names the public key by the SHA-256 of its
//! DER `SubjectPublicKeyInfo` (what `DESC USER` shows as RSA_PUBLIC_KEY_FP).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::config::ConnectorConfig;
use crate::sources::collect::CollectError;
use crate::sources::http::HttpError;

pub struct KeyPairAuth {
    connector: String,
    /// `ACCOUNT.USER`, upper case, the account without region or cloud.
    qualified_user: String,
    fingerprint: String,
    key: EncodingKey,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: &'a str,
    iat: i64,
    exp: i64,
}

impl KeyPairAuth {
    pub fn load(connector: &ConnectorConfig) -> Result<Self, CollectError> {
        let err = |message: String| CollectError::source(connector, message);
        let pem = match (&connector.private_key, &connector.private_key_path) {
            (Some(pem), _) => pem.expose().to_string(),
            (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
                err(format!(
                    "private_key_path {path}: {e}; point it at the PEM file of the user's RSA key"
                ))
            })?,
            (None, None) => {
                return Err(err(
                    "a snowflake connector needs private_key_path or private_key".into(),
                ));
            }
        };
        let fingerprint = public_key_fingerprint(&pem).map_err(err)?;
        let key = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| {
            err("the private key is not an RSA key in PEM form; export it with openssl pkcs8 -topk8 -nocrypt".into())
        })?;
        let account = connector
            .account
            .as_deref()
            .unwrap_or_default()
            .split('.')
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        let user = connector
            .username
            .as_deref()
            .unwrap_or_default()
            .to_ascii_uppercase();
        Ok(Self {
            connector: connector.name.clone(),
            qualified_user: format!("{account}.{user}"),
            fingerprint,
            key,
        })
    }

    /// A JWT valid for an hour from `now`.
    pub fn token(&self, now: DateTime<Utc>) -> Result<String, HttpError> {
        let iss = format!("{}.{}", self.qualified_user, self.fingerprint);
        let claims = Claims {
            iss: &iss,
            sub: &self.qualified_user,
            iat: now.timestamp(),
            exp: now.timestamp() + 3600,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key).map_err(|_| {
            HttpError::Config {
                connector: self.connector.clone(),
                reason: "signing the key-pair JWT failed; check the private key".into(),
            }
        })
    }
}

/// `SHA256:<base64>` of the public key's DER, from a PKCS#8 (`PRIVATE
/// KEY`) or PKCS#1 (`RSA PRIVATE KEY`) PEM.
pub fn public_key_fingerprint(pem: &str) -> Result<String, String> {
    let (label, der) = pem_body(pem)?;
    let rsa = match label.as_str() {
        "PRIVATE KEY" => {
            // PrivateKeyInfo: SEQUENCE { version, algorithm, OCTET STRING key }.
            let info = der_content(&der, 0x30)?.0;
            let rest = der_skip(info)?;
            let rest = der_skip(rest)?;
            der_content(rest, 0x04)?.0.to_vec()
        }
        "RSA PRIVATE KEY" => der,
        "ENCRYPTED PRIVATE KEY" => {
            return Err("the private key is encrypted; give an unencrypted PEM (openssl pkcs8 -topk8 -nocrypt)".into());
        }
        other => return Err(format!("the PEM holds a {other}, not an RSA private key")),
    };
    // RSAPrivateKey: SEQUENCE { version, modulus, publicExponent, … }.
    let fields = der_content(&rsa, 0x30)?.0;
    let after_version = der_skip(fields)?;
    let (modulus, rest) = der_content(after_version, 0x02)?;
    let (exponent, _) = der_content(rest, 0x02)?;
    let public = der_tlv(
        0x30,
        &[der_tlv(0x02, modulus), der_tlv(0x02, exponent)].concat(),
    );
    let rsa_encryption = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let bit_string = der_tlv(0x03, &[&[0u8][..], &public].concat());
    let spki = der_tlv(0x30, &[&rsa_encryption[..], &bit_string].concat());
    let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
    Ok(format!("SHA256:{}", STANDARD.encode(digest.as_ref())))
}

fn pem_body(pem: &str) -> Result<(String, Vec<u8>), String> {
    let not_pem = || "the private key is not PEM (-----BEGIN PRIVATE KEY-----)".to_string();
    let begin = pem.find("-----BEGIN ").ok_or_else(not_pem)?;
    let after = &pem[begin + 11..];
    let label_end = after.find("-----").ok_or_else(not_pem)?;
    let label = after[..label_end].to_string();
    let body = &after[label_end + 5..];
    let end = body.find("-----END").ok_or_else(not_pem)?;
    let text: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
    let der = STANDARD
        .decode(text)
        .map_err(|_| "the private key's PEM body is not base64".to_string())?;
    Ok((label, der))
}

/// The content of the DER element at the start of `der` with `tag`, and
/// what follows it.
fn der_content(der: &[u8], tag: u8) -> Result<(&[u8], &[u8]), String> {
    let bad = || "the private key's DER does not parse as an RSA key".to_string();
    if der.first() != Some(&tag) {
        return Err(bad());
    }
    let first = *der.get(1).ok_or_else(bad)?;
    let (len, header) = if first < 0x80 {
        (first as usize, 2)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || der.len() < 2 + n {
            return Err(bad());
        }
        let len = der[2..2 + n]
            .iter()
            .fold(0usize, |acc, b| acc << 8 | *b as usize);
        (len, 2 + n)
    };
    let end = header
        .checked_add(len)
        .filter(|e| *e <= der.len())
        .ok_or_else(bad)?;
    Ok((&der[header..end], &der[end..]))
}

/// What follows the DER element at the start of `der`.
fn der_skip(der: &[u8]) -> Result<&[u8], String> {
    let tag = *der.first().ok_or("the private key's DER ends early")?;
    Ok(der_content(der, tag)?.1)
}

fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes: Vec<u8> = len
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}
