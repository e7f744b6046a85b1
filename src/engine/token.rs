//! Session tokens and handles (the split-token scheme).
//!
//! A token is base64url(selector 8 bytes ‖ verifier 24 bytes). The verifier,
//! 192 bits from the OS CSPRNG, is the secret; only its SHA-256 is kept, and it
//! is checked in constant time. The selector finds the session. The handle, the selector in hex,
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
        hashes_match(&self.verifier_hash(), stored)
    }

    /// The SHA-256 of the presented verifier, for a store that compares it
    /// where the stored hash lives (the Redis store compares it in its script).
    pub fn verifier_hash(&self) -> VerifierHash {
        Sha256::digest(self.verifier).into()
    }
}

/// Whether two verifier hashes are equal, compared in constant time.
/// The bytes are compared eight at a time, all of them whatever differs, and
/// only the folded difference is looked at.
pub fn hashes_match(presented: &VerifierHash, stored: &VerifierHash) -> bool {
    let word = |bytes: &[u8]| u64::from_ne_bytes(bytes.try_into().expect("eight bytes"));
    let difference = presented
        .chunks_exact(8)
        .zip(stored.chunks_exact(8))
        .fold(0, |acc, (a, b)| acc | (word(a) ^ word(b)));
    difference.ct_eq(&0).into()
}

/// Turns a session's storage slot into its selector and back.
///
/// The selector is a keyed pseudorandom permutation (a four-round Feistel
/// network over SipHash, with keys from the OS CSPRNG) of the slot and a
/// per-slot generation. Selectors therefore look random and cannot be guessed,
/// yet finding a session from a token needs no index: decode, then one array
/// read. Reusing a slot bumps its generation, so an old handle never names a
/// new session. The secret part of a token is the verifier, not the selector.
pub struct SelectorCodec {
    keys: [(u64, u64); 4],
}

impl Default for SelectorCodec {
    fn default() -> Self {
        let mut raw = [0u8; 64];
        getrandom::fill(&mut raw).expect("the OS random number generator failed");
        let word =
            |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        SelectorCodec {
            keys: [
                (word(0), word(1)),
                (word(2), word(3)),
                (word(4), word(5)),
                (word(6), word(7)),
            ],
        }
    }
}

impl SelectorCodec {
    /// A codec with keys a store kept, so handles issued before a restart still decode.
    pub fn from_keys(keys: [(u64, u64); 4]) -> Self {
        SelectorCodec { keys }
    }

    pub fn keys(&self) -> [(u64, u64); 4] {
        self.keys
    }

    fn round(&self, round: usize, half: u32) -> u32 {
        use std::hash::Hasher;
        let (k0, k1) = self.keys[round];
        let mut hasher = siphasher::sip::SipHasher13::new_with_keys(k0, k1);
        hasher.write_u32(half);
        hasher.finish() as u32
    }

    pub fn encode(&self, slot: u32, generation: u32) -> u64 {
        let (mut left, mut right) = (slot, generation);
        for round in 0..4 {
            (left, right) = (right, left ^ self.round(round, right));
        }
        (u64::from(left) << 32) | u64::from(right)
    }

    /// The slot and generation a selector names.
    pub fn decode(&self, selector: u64) -> (u32, u32) {
        let (mut left, mut right) = ((selector >> 32) as u32, selector as u32);
        for round in (0..4).rev() {
            (left, right) = (right ^ self.round(round, left), left);
        }
        (left, right)
    }
}

/// Mints tokens with verifiers from the OS CSPRNG, fetching randomness in
/// blocks so a login does not pay for a system call each time.
pub struct TokenMint {
    pool: Box<[u8; POOL_BYTES]>,
    used: usize,
}

const POOL_BYTES: usize = VERIFIER_LEN * 128;

impl Default for TokenMint {
    fn default() -> Self {
        TokenMint {
            pool: Box::new([0; POOL_BYTES]),
            used: POOL_BYTES,
        }
    }
}

impl TokenMint {
    fn random_verifier(&mut self) -> [u8; VERIFIER_LEN] {
        if self.used == POOL_BYTES {
            // Without the OS CSPRNG no token can be trusted; there is nothing safe to fall back to.
            getrandom::fill(&mut self.pool[..]).expect("the OS random number generator failed");
            self.used = 0;
        }
        let mut out = [0u8; VERIFIER_LEN];
        let chunk = &mut self.pool[self.used..self.used + VERIFIER_LEN];
        out.copy_from_slice(chunk);
        chunk.fill(0);
        self.used += VERIFIER_LEN;
        out
    }

    /// A new token for `selector` with a fresh verifier, and the verifier's hash.
    pub fn issue(&mut self, selector: u64) -> (Token, VerifierHash) {
        let verifier = self.random_verifier();
        let mut raw = [0u8; TOKEN_BYTES];
        raw[..SELECTOR_LEN].copy_from_slice(&selector.to_be_bytes());
        raw[SELECTOR_LEN..].copy_from_slice(&verifier);
        let hash: VerifierHash = Sha256::digest(verifier).into();
        (Token(URL_SAFE_NO_PAD.encode(raw)), hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_token_parses_and_verifies() {
        let mut mint = TokenMint::default();
        let (token, hash) = mint.issue(0x0123_4567_89ab_cdef);
        assert_eq!(token.expose().len(), TOKEN_LEN);
        let presented = PresentedToken::parse(token.expose()).unwrap();
        assert_eq!(presented.selector, 0x0123_4567_89ab_cdef);
        assert!(presented.verifies(&hash));
    }

    #[test]
    fn a_reissued_token_keeps_the_selector_and_the_old_verifier_fails() {
        let mut mint = TokenMint::default();
        let (old, old_hash) = mint.issue(42);
        let (new, new_hash) = mint.issue(42);
        let old = PresentedToken::parse(old.expose()).unwrap();
        let new = PresentedToken::parse(new.expose()).unwrap();
        assert_eq!(new.selector, 42);
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
    fn hashes_match_only_when_every_byte_does() {
        let hash: VerifierHash = std::array::from_fn(|i| i as u8 * 7);
        assert!(hashes_match(&hash, &hash.clone()));
        for i in 0..hash.len() {
            for bit in [0x01, 0x80] {
                let mut other = hash;
                other[i] ^= bit;
                assert!(!hashes_match(&hash, &other), "byte {i}");
            }
        }
    }

    #[test]
    fn tokens_differ_and_debug_hides_them() {
        let mut mint = TokenMint::default();
        let (a, _) = mint.issue(1);
        let (b, _) = mint.issue(1);
        assert_ne!(a, b);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn selectors_decode_to_their_slot_and_generation() {
        let codec = SelectorCodec::default();
        for (slot, generation) in [(0, 0), (1, 0), (0, 1), (999_999, 7), (u32::MAX, u32::MAX)] {
            let selector = codec.encode(slot, generation);
            assert_eq!(codec.decode(selector), (slot, generation));
        }
    }

    #[test]
    fn neighbouring_slots_get_unrelated_selectors() {
        let codec = SelectorCodec::default();
        let a = codec.encode(1, 0);
        let b = codec.encode(2, 0);
        let c = codec.encode(1, 1);
        // Roughly half the bits differ; a counter would differ in one or two.
        for (x, y) in [(a, b), (a, c), (b, c)] {
            let differing = (x ^ y).count_ones();
            assert!((12..=52).contains(&differing), "{x:016x} {y:016x}");
        }
        let other = SelectorCodec::default();
        assert_ne!(other.encode(1, 0), a, "keys differ per engine");
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
