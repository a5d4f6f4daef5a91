//! AES-256-CBC message encryption keyed by the account's EncodingAESKey, as WeChat's
//! "message encryption" guide describes it, with the previous key kept for rotation.

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// Characters in an EncodingAESKey: 32 bytes in base64 without the final `=`.
const ENCODED_KEY_CHARS: usize = 43;
/// The AES block, the unit of CBC.
const AES_BLOCK_BYTES: usize = 16;
/// WeChat pads with PKCS#7 over 32-byte blocks, not over the 16-byte AES block.
const PAD_BLOCK_BYTES: usize = 32;
/// The random prefix of every plaintext.
const RANDOM_BYTES: usize = 16;
/// Random prefix plus the 4-byte big-endian message length.
const HEADER_BYTES: usize = RANDOM_BYTES + 4;

/// EncodingAESKeys carry two surplus bits in their last character, and WeChat does not
/// keep them zero, so the decoder must ignore them rather than reject the key.
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Why a key or a ciphertext was refused. No variant ever carries key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    /// The configured EncodingAESKey is not 43 characters of base64.
    #[error("encoding_aes_key must be 43 characters of base64")]
    BadKey,
    /// The `Encrypt` text is not base64.
    #[error("encrypted message is not valid base64")]
    Base64(#[source] base64::DecodeError),
    /// The ciphertext cannot be whole AES blocks.
    #[error("encrypted message is {len} bytes, not a non-zero multiple of 16")]
    Length {
        /// Decoded ciphertext length.
        len: usize,
    },
    /// The PKCS#7 padding is wrong, which is what a wrong key usually looks like.
    #[error("decrypted message has invalid padding: check encoding_aes_key")]
    Padding,
    /// The declared message length does not fit the plaintext.
    #[error("decrypted message is shorter than its declared length: check encoding_aes_key")]
    Buffer,
    /// The AppID trailing the message is not UTF-8.
    #[error("app_id inside the decrypted message is not utf-8: check encoding_aes_key")]
    Utf8,
    /// The message was encrypted for another account.
    #[error("decrypted message is addressed to another app_id: check wechat.app_id")]
    AppIdMismatch,
}

/// A decoded EncodingAESKey: the AES-256 key, whose first 16 bytes are also the IV.
///
/// Parsing validates once; holding an `AesKey` means the key is usable.
#[derive(Clone, PartialEq, Eq)]
pub struct AesKey([u8; 32]);

impl std::fmt::Debug for AesKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AesKey(<redacted>)")
    }
}

impl AesKey {
    /// Decodes the 43-character EncodingAESKey shown in the account's console.
    pub fn parse(encoded: &str) -> Result<AesKey, CryptoError> {
        if encoded.len() != ENCODED_KEY_CHARS {
            return Err(CryptoError::BadKey);
        }

        let padded = format!("{encoded}=");
        let bytes = KEY_ENGINE.decode(padded).map_err(|_| CryptoError::BadKey)?;

        bytes
            .try_into()
            .map(AesKey)
            .map_err(|_| CryptoError::BadKey)
    }

    fn iv(&self) -> [u8; AES_BLOCK_BYTES] {
        let mut iv = [0; AES_BLOCK_BYTES];
        iv.copy_from_slice(&self.0[..AES_BLOCK_BYTES]);
        iv
    }
}

/// A decrypted message and the AppID it was addressed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decrypted {
    /// The message itself: the inner XML (or JSON) document.
    pub message: Vec<u8>,
    /// The AppID trailing the message, to be compared with ours.
    pub app_id: String,
}

/// Encrypts `message` for `app_id` and returns the base64 `Encrypt` text.
///
/// `random` is the 16-byte prefix WeChat asks for; callers pass fresh random bytes,
/// tests pass fixed ones to reproduce published vectors.
pub fn encrypt(key: &AesKey, message: &[u8], app_id: &str, random: &[u8; 16]) -> String {
    // A length past u32 cannot be sent: WeChat caps request bodies far below 4 GiB.
    let declared = u32::try_from(message.len()).unwrap_or(u32::MAX);
    let mut plain = Vec::with_capacity(HEADER_BYTES + message.len() + app_id.len() + 32);
    plain.extend_from_slice(random);
    plain.extend_from_slice(&declared.to_be_bytes());
    plain.extend_from_slice(message);
    plain.extend_from_slice(app_id.as_bytes());

    pad(&mut plain);

    let mut cipher = Aes256CbcEnc::new(&key.0.into(), &key.iv().into());
    // `pad` leaves a multiple of 32 bytes, so every chunk is one whole 16-byte block.
    for block in plain.chunks_exact_mut(AES_BLOCK_BYTES) {
        cipher.encrypt_block_mut(block.into());
    }

    STANDARD.encode(plain)
}

/// Decrypts an `Encrypt` text, checking every length before trusting it.
///
/// The AppID is returned, not checked: [`Keyring::open`] compares it.
pub fn decrypt(key: &AesKey, encrypted: &str) -> Result<Decrypted, CryptoError> {
    let mut plain = STANDARD.decode(encrypted).map_err(CryptoError::Base64)?;
    if plain.is_empty() || plain.len() % AES_BLOCK_BYTES != 0 {
        return Err(CryptoError::Length { len: plain.len() });
    }

    let mut cipher = Aes256CbcDec::new(&key.0.into(), &key.iv().into());
    // The length was just checked to be a multiple of 16: every chunk is a whole block.
    for block in plain.chunks_exact_mut(AES_BLOCK_BYTES) {
        cipher.decrypt_block_mut(block.into());
    }

    let content = unpad(&plain)?;

    split_content(content)
}

/// Appends PKCS#7 padding over 32-byte blocks: 1 to 32 bytes, each equal to the count.
fn pad(plain: &mut Vec<u8>) {
    let count = PAD_BLOCK_BYTES - plain.len() % PAD_BLOCK_BYTES;
    // `count` is 1..=32, so it fits a byte.
    plain.resize(plain.len() + count, count as u8);
}

/// Strips the 32-byte PKCS#7 padding, refusing a count outside 1..=32 or bytes that
/// disagree with it.
fn unpad(plain: &[u8]) -> Result<&[u8], CryptoError> {
    let count = usize::from(*plain.last().ok_or(CryptoError::Padding)?);
    if !(1..=PAD_BLOCK_BYTES).contains(&count) || count > plain.len() {
        return Err(CryptoError::Padding);
    }

    let (content, padding) = plain.split_at(plain.len() - count);
    if padding.iter().any(|&byte| usize::from(byte) != count) {
        return Err(CryptoError::Padding);
    }

    Ok(content)
}

/// Splits `random | length | message | app_id` with the declared length checked.
fn split_content(content: &[u8]) -> Result<Decrypted, CryptoError> {
    let (header, rest) = content
        .split_at_checked(HEADER_BYTES)
        .ok_or(CryptoError::Buffer)?;

    let mut length = [0; 4];
    length.copy_from_slice(&header[RANDOM_BYTES..]);
    let length = usize::try_from(u32::from_be_bytes(length)).map_err(|_| CryptoError::Buffer)?;

    let (message, app_id) = rest.split_at_checked(length).ok_or(CryptoError::Buffer)?;
    let app_id = std::str::from_utf8(app_id).map_err(|_| CryptoError::Utf8)?;

    Ok(Decrypted {
        message: message.to_vec(),
        app_id: app_id.to_owned(),
    })
}

/// The current EncodingAESKey and, during a rotation, the previous one.
///
/// WeChat's FAQ on key changes: try the current key, fall back to the previous one,
/// and encrypt the reply with whichever key opened the message.
#[derive(Debug, Clone)]
pub struct Keyring {
    /// The key configured now.
    pub current: AesKey,
    /// The key configured before the last change, kept until WeChat stops using it.
    pub previous: Option<AesKey>,
}

/// A message opened by a [`Keyring`], with the key that opened it.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The decrypted message.
    pub message: Vec<u8>,
    /// The key that worked: encrypt the reply with it.
    pub key: AesKey,
}

impl Keyring {
    /// A keyring over the current key and an optional previous one.
    pub fn new(current: AesKey, previous: Option<AesKey>) -> Keyring {
        Keyring { current, previous }
    }

    /// Decrypts `encrypted` and checks that it was addressed to `app_id`.
    ///
    /// Any failure with the current key, an AppID mismatch included, falls back to the
    /// previous key; if both fail the current key's error is returned.
    pub fn open(&self, encrypted: &str, app_id: &str) -> Result<Opened, CryptoError> {
        let current = open_with(&self.current, encrypted, app_id);
        if current.is_ok() {
            return current;
        }

        match &self.previous {
            Some(previous) => open_with(previous, encrypted, app_id).or(current),
            None => current,
        }
    }
}

fn open_with(key: &AesKey, encrypted: &str, app_id: &str) -> Result<Opened, CryptoError> {
    let decrypted = decrypt(key, encrypted)?;
    if decrypted.app_id != app_id {
        return Err(CryptoError::AppIdMismatch);
    }

    Ok(Opened {
        message: decrypted.message,
        key: key.clone(),
    })
}

#[cfg(test)]
mod tests;
