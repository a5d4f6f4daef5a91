//! AES-256-CBC message encryption keyed by the account's EncodingAESKey.

/// A decoded EncodingAESKey: 32 bytes of AES-256 key, the first 16 also the IV.
#[derive(Clone)]
pub struct AesKey([u8; 32]);

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

/// Why a key or a ciphertext was refused.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("encoding_aes_key must be 43 characters of base64")]
    BadKey,
}

impl AesKey {
    /// Decodes the 43-character EncodingAESKey.
    pub fn parse(encoded: &str) -> Result<AesKey, CryptoError> {
        if encoded.len() != 43 {
            return Err(CryptoError::BadKey);
        }
        Ok(AesKey([0; 32]))
    }
}

/// Placeholder.
#[derive(Debug, Clone)]
pub struct Keyring;
/// Placeholder.
pub struct Opened {
    pub message: Vec<u8>,
}
impl Keyring {
    /// Placeholder.
    pub fn new(_current: AesKey, _previous: Option<AesKey>) -> Keyring {
        Keyring
    }
    /// Placeholder.
    pub fn open(&self, _e: &str, _a: &str) -> Result<Opened, CryptoError> {
        Err(CryptoError::BadKey)
    }
}
