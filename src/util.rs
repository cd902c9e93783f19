//! Small pure helpers shared across layers (no I/O).

use sha2::{Digest, Sha256};

/// The SHA-256 of `bytes`, lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
