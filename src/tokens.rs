//! API tokens: random, recognizable by their prefix, stored only as a sha256.

use sha2::{Digest, Sha256};

/// Every token starts with this, so a leaked one is easy to spot (and to grep for).
pub const PREFIX: &str = "tb_";

/// A new random token: the prefix and 32 random bytes in hex.
pub fn generate() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness available: {e}"))?;
    Ok(format!("{PREFIX}{}", hex::encode(bytes)))
}

/// What the index stores and looks up. Looking up a hash, not comparing secrets, means no
/// secret-dependent timing.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_prefixed_random_and_hashed() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64);
        assert_ne!(a, b);
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(hash(&a), hash(&a.clone()));
    }
}
