//! The per-run access token: 32 random bytes from the operating system, written in hex, and
//! a comparison whose time does not depend on where a guess first differs.

use std::fmt::Write as _;

/// A fresh token, or why the operating system gave no random bytes.
pub fn generate() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no random bytes for the token: {e}"))?;
    let mut text = String::with_capacity(64);
    for b in bytes {
        let _ = write!(text, "{b:02x}");
    }
    Ok(text)
}

/// Whether `given` is `expected`, in time that depends only on the lengths (the token's length
/// is public: every token has 64 characters).
pub fn matches(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_hex_characters_and_differ() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }

    #[test]
    fn only_the_same_token_matches() {
        let t = generate().unwrap();
        assert!(matches(&t, &t.clone()));
        let mut wrong = t.clone().into_bytes();
        wrong[63] = if wrong[63] == b'0' { b'1' } else { b'0' };
        assert!(!matches(&t, std::str::from_utf8(&wrong).unwrap()));
        assert!(!matches(&t, &t[..63]));
        assert!(!matches(&t, ""));
    }
}
