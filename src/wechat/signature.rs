//! SHA-1 "sorted join" signatures of callbacks and encrypted replies.

/// Hex SHA-1 of the parts sorted and joined.
pub fn sign(parts: &[&str]) -> String {
    let _ = parts;
    String::new()
}

/// Whether `signature` is the signature of `parts`, compared in constant time.
pub fn verify(signature: &str, parts: &[&str]) -> bool {
    let _ = (signature, parts);
    false
}
