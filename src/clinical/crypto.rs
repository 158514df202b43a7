//! Encryption at rest for health data: XChaCha20-Poly1305 (RustCrypto) under the 32-byte
//! `HEALTH_DATA_KEY`. Every sealed record carries the id of the key that sealed it and its own
//! random 24-byte nonce (random nonces of this size never realistically repeat), and is bound
//! to its row by associated data (`inspine:<kind>:<row id>`), so a ciphertext copied into
//! another row, or another table, fails to open. A wrong key or a tampered row is an error,
//! never garbage.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// What the log and the operator are told when a record does not open.
pub const CANNOT_DECRYPT: &str = "health data cannot be decrypted with HEALTH_DATA_KEY";

/// The kinds of sealed record; part of the associated data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Intake,
    TreatmentNote,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Intake => "intake",
            Self::TreatmentNote => "treatment_note",
        }
    }
}

/// The key and its public fingerprint (`key_id`), which is stored beside each ciphertext.
#[derive(Clone)]
pub struct HealthKey {
    cipher: XChaCha20Poly1305,
    id: String,
}

impl std::fmt::Debug for HealthKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A sealed record as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Why a record did not open.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("{CANNOT_DECRYPT}: the record was sealed under key id {found}, this key is {expected}")]
    OtherKey { found: String, expected: String },
    #[error("{CANNOT_DECRYPT}: the record does not authenticate (wrong key, or altered or moved)")]
    Inauthentic,
}

impl HealthKey {
    pub fn new(bytes: &[u8; KEY_LEN]) -> Self {
        let digest = Sha256::new()
            .chain_update(b"inspine health key id\0")
            .chain_update(bytes)
            .finalize();
        Self {
            cipher: XChaCha20Poly1305::new(&(*bytes).into()),
            id: hex::encode(&digest[..8]),
        }
    }

    /// A key written as 64 hex digits or as base64 (standard or URL-safe, padded or not) of
    /// exactly 32 bytes.
    pub fn parse(raw: &str) -> Result<[u8; KEY_LEN], String> {
        let raw = raw.trim();
        let decoded = if raw.len() == 2 * KEY_LEN && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(raw).ok()
        } else {
            use base64::engine::general_purpose::{
                STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
            };
            [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
                .iter()
                .find_map(|engine| engine.decode(raw).ok())
        };
        decoded
            .and_then(|bytes| <[u8; KEY_LEN]>::try_from(bytes).ok())
            .ok_or_else(|| {
                "expected 32 bytes written as 64 hex digits or as base64 (e.g. from `openssl rand -base64 32`)".to_owned()
            })
    }

    /// A fresh random key, as base64.
    pub fn generate() -> String {
        let mut bytes = [0u8; KEY_LEN];
        rand::rng().fill_bytes(&mut bytes);
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    fn aad(kind: Kind, row_id: &str) -> Vec<u8> {
        format!("inspine:{}:{row_id}", kind.as_str()).into_bytes()
    }

    pub fn seal(&self, kind: Kind, row_id: &str, plaintext: &[u8]) -> Result<Sealed, String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = Self::aad(kind, row_id);
        let ciphertext = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| "health data could not be encrypted".to_owned())?;
        Ok(Sealed {
            key_id: self.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    pub fn open(&self, kind: Kind, row_id: &str, sealed: &Sealed) -> Result<Vec<u8>, OpenError> {
        if sealed.key_id != self.id {
            return Err(OpenError::OtherKey {
                found: sealed.key_id.clone(),
                expected: self.id.clone(),
            });
        }
        let nonce = <[u8; NONCE_LEN]>::try_from(sealed.nonce.as_slice())
            .map_err(|_| OpenError::Inauthentic)?;
        let aad = Self::aad(kind, row_id);
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Inauthentic)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> HealthKey {
        HealthKey::new(&[byte; KEY_LEN])
    }

    #[test]
    fn seals_and_opens_and_binds_the_row() {
        let k = key(7);
        let sealed = k
            .seal(Kind::Intake, "row-1", b"allergic to arnica")
            .unwrap();
        assert_eq!(sealed.key_id, k.id());
        assert!(
            !sealed
                .ciphertext
                .windows(7)
                .any(|w| w == b"arnica\0" || w.starts_with(b"arnica"))
        );
        assert_eq!(
            k.open(Kind::Intake, "row-1", &sealed).unwrap(),
            b"allergic to arnica"
        );
        assert_eq!(
            k.open(Kind::Intake, "row-2", &sealed),
            Err(OpenError::Inauthentic)
        );
        assert_eq!(
            k.open(Kind::TreatmentNote, "row-1", &sealed),
            Err(OpenError::Inauthentic)
        );
    }

    #[test]
    fn nonces_are_fresh_per_record() {
        let k = key(1);
        let a = k.seal(Kind::Intake, "r", b"same").unwrap();
        let b = k.seal(Kind::Intake, "r", b"same").unwrap();
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
    }

    #[test]
    fn a_wrong_key_fails_loudly() {
        let sealed = key(1).seal(Kind::TreatmentNote, "r", b"x").unwrap();
        let err = key(2).open(Kind::TreatmentNote, "r", &sealed).unwrap_err();
        assert!(err.to_string().contains(CANNOT_DECRYPT), "{err}");
        // Same id claimed but a different key (a forged key_id): the tag still fails.
        let mut forged = sealed.clone();
        forged.key_id = key(2).id().to_owned();
        assert_eq!(
            key(2).open(Kind::TreatmentNote, "r", &forged),
            Err(OpenError::Inauthentic)
        );
    }

    #[test]
    fn keys_parse_from_hex_and_base64_only_at_32_bytes() {
        let hex = "00".repeat(32);
        assert_eq!(HealthKey::parse(&hex).unwrap(), [0u8; 32]);
        let generated = HealthKey::generate();
        assert!(HealthKey::parse(&generated).is_ok());
        assert!(HealthKey::parse(generated.trim_end_matches('=')).is_ok());
        for bad in ["", "short", &"00".repeat(31), &"zz".repeat(32)] {
            assert!(HealthKey::parse(bad).is_err(), "{bad}");
        }
    }
}
