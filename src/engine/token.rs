//! Session tokens and handles (the split-token scheme).
//!
//! A token is base64url(selector 8 bytes ‖ verifier 24 bytes) from the OS
//! CSPRNG. The selector finds the session; only a SHA-256 of the verifier is
//! kept, and it is checked in constant time. The handle, the selector in hex,
//! is public; the token is secret and never leaves the login/renew answer.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const SELECTOR_LEN: usize = 8;
const VERIFIER_LEN: usize = 24;
const TOKEN_BYTES: usize = SELECTOR_LEN + VERIFIER_LEN;
/// Length of a token in base64url without padding.
pub const TOKEN_LEN: usize = 43;

/// The public name of a session: its selector, shown as 16 hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle(pub u64);

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl FromStr for Handle {
    type Err = InvalidHandle;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(InvalidHandle);
        }
        u64::from_str_radix(s, 16)
            .map(Handle)
            .map_err(|_| InvalidHandle)
    }
}

impl serde::Serialize for Handle {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Handle {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a handle is 16 hexadecimal characters")]
pub struct InvalidHandle;

/// A freshly minted secret token. Its `Debug` never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// The secret itself, to hand to the client once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// SHA-256 of a verifier: all the engine keeps of the secret.
pub type VerifierHash = [u8; 32];

/// A token as presented by a client, split into its parts.
pub struct PresentedToken {
    pub selector: u64,
    verifier: [u8; VERIFIER_LEN],
}

impl PresentedToken {
    /// Splits a presented token; `None` for anything that is not a well-formed token.
    pub fn parse(token: &str) -> Option<Self> {
        if token.len() != TOKEN_LEN {
            return None;
        }
        let mut bytes = [0u8; TOKEN_BYTES];
        let written = URL_SAFE_NO_PAD
            .decode_slice(token.as_bytes(), &mut bytes)
            .ok()?;
        if written != TOKEN_BYTES {
            return None;
        }
        let (selector, verifier) = bytes.split_at(SELECTOR_LEN);
        Some(PresentedToken {
            selector: u64::from_be_bytes(selector.try_into().ok()?),
            verifier: verifier.try_into().ok()?,
        })
    }

    /// Whether this token's verifier matches `stored`, in constant time.
    pub fn verifies(&self, stored: &VerifierHash) -> bool {
        let hash: VerifierHash = Sha256::digest(self.verifier).into();
        hash.ct_eq(stored).into()
    }
}

/// Mints tokens from the OS CSPRNG, fetching randomness in blocks so a login
/// does not pay for a system call each time.
pub struct TokenMint {
    pool: Box<[u8; POOL_BYTES]>,
    used: usize,
}

const POOL_BYTES: usize = TOKEN_BYTES * 128;

impl Default for TokenMint {
    fn default() -> Self {
        TokenMint {
            pool: Box::new([0; POOL_BYTES]),
            used: POOL_BYTES,
        }
    }
}

impl TokenMint {
    fn random_bytes(&mut self) -> [u8; TOKEN_BYTES] {
        if self.used == POOL_BYTES {
            // Without the OS CSPRNG no token can be trusted; there is nothing safe to fall back to.
            getrandom::fill(&mut self.pool[..]).expect("the OS random number generator failed");
            self.used = 0;
        }
        let mut out = [0u8; TOKEN_BYTES];
        let chunk = &mut self.pool[self.used..self.used + TOKEN_BYTES];
        out.copy_from_slice(chunk);
        chunk.fill(0);
        self.used += TOKEN_BYTES;
        out
    }

    /// A new token with a fresh selector.
    pub fn mint(&mut self) -> (Token, u64, VerifierHash) {
        let bytes = self.random_bytes();
        let selector = u64::from_be_bytes(bytes[..SELECTOR_LEN].try_into().expect("8 bytes"));
        let (token, hash) = Self::assemble(selector, &bytes[SELECTOR_LEN..]);
        (token, selector, hash)
    }

    /// A new token that keeps `selector` (so the handle stays) with a fresh verifier.
    pub fn remint(&mut self, selector: u64) -> (Token, VerifierHash) {
        let bytes = self.random_bytes();
        Self::assemble(selector, &bytes[SELECTOR_LEN..])
    }

    fn assemble(selector: u64, verifier: &[u8]) -> (Token, VerifierHash) {
        let mut raw = [0u8; TOKEN_BYTES];
        raw[..SELECTOR_LEN].copy_from_slice(&selector.to_be_bytes());
        raw[SELECTOR_LEN..].copy_from_slice(verifier);
        let hash: VerifierHash = Sha256::digest(verifier).into();
        (Token(URL_SAFE_NO_PAD.encode(raw)), hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_token_parses_and_verifies() {
        let mut mint = TokenMint::default();
        let (token, selector, hash) = mint.mint();
        assert_eq!(token.expose().len(), TOKEN_LEN);
        let presented = PresentedToken::parse(token.expose()).unwrap();
        assert_eq!(presented.selector, selector);
        assert!(presented.verifies(&hash));
    }

    #[test]
    fn reminted_token_keeps_selector_and_old_verifier_fails() {
        let mut mint = TokenMint::default();
        let (old, selector, old_hash) = mint.mint();
        let (new, new_hash) = mint.remint(selector);
        let old = PresentedToken::parse(old.expose()).unwrap();
        let new = PresentedToken::parse(new.expose()).unwrap();
        assert_eq!(new.selector, selector);
        assert!(new.verifies(&new_hash));
        assert!(!old.verifies(&new_hash));
        assert!(old.verifies(&old_hash));
    }

    #[test]
    fn malformed_tokens_do_not_parse() {
        for bad in [
            "",
            "short",
            &"A".repeat(44),
            &"!".repeat(43),
            &"é".repeat(21),
        ] {
            assert!(PresentedToken::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn tokens_differ_and_debug_hides_them() {
        let mut mint = TokenMint::default();
        let (a, _, _) = mint.mint();
        let (b, _, _) = mint.mint();
        assert_ne!(a, b);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn handle_round_trips_through_hex() {
        let handle = Handle(0x00ab_cdef_0123_4567);
        assert_eq!(handle.to_string(), "00abcdef01234567");
        assert_eq!("00abcdef01234567".parse::<Handle>(), Ok(handle));
        assert!("xyz".parse::<Handle>().is_err());
        assert!("+0abcdef01234567".parse::<Handle>().is_err());
    }
}
