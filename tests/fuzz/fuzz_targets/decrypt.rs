//! Message decryption: arbitrary `Encrypt` text and ciphertext under a fixed key,
//! arbitrary EncodingAESKeys, and a round trip that must give back what went in. The
//! checks live in decrypt_check.rs, which the stable corpus replay runs too.

#![no_main]

use libfuzzer_sys::fuzz_target;

mod decrypt_check;

fuzz_target!(|data: &[u8]| {
    decrypt_check::check(data);
});
