//! A token signer without cryptography: the token is `jwt-<jti>` and verifying looks up the
//! claims it was issued with.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use grantd_domain::{AccessTokenClaims, Kid, Timestamp};
use grantd_ports::{SignError, SignedToken, TokenSigner, VerifyError};

use crate::lock;

/// Signs with kid `k1`, keeping every token's claims; `fail` makes signing fail, `ready` is what
/// [`TokenSigner::ready`] answers and `jwks` what [`TokenSigner::public_jwks`] lists.
#[derive(Debug)]
pub struct FakeSigner {
    pub issued: Mutex<HashMap<String, AccessTokenClaims>>,
    pub jwks: Mutex<Vec<String>>,
    pub ready: AtomicBool,
    pub fail: Mutex<Option<SignError>>,
}

impl Default for FakeSigner {
    /// Ready, no published keys, nothing issued.
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

impl FakeSigner {
    /// Ready, publishing `jwks` (each a JSON object text).
    pub fn new(jwks: Vec<String>) -> Self {
        Self {
            issued: Mutex::new(HashMap::new()),
            jwks: Mutex::new(jwks),
            ready: AtomicBool::new(true),
            fail: Mutex::new(None),
        }
    }

    /// The claims of every token signed so far, in no particular order.
    pub fn signed(&self) -> Vec<AccessTokenClaims> {
        lock(&self.issued).values().cloned().collect()
    }
}

impl TokenSigner for FakeSigner {
    fn sign(&self, claims: &AccessTokenClaims) -> Result<SignedToken, SignError> {
        if let Some(e) = lock(&self.fail).clone() {
            return Err(e);
        }
        let token = format!("jwt-{}", claims.jti);
        lock(&self.issued).insert(token.clone(), claims.clone());
        Ok(SignedToken {
            token,
            kid: Kid::parse("k1").unwrap_or_else(|e| panic!("FakeSigner: {e}")),
        })
    }
    fn verify(&self, token: &str, _: Timestamp) -> Result<AccessTokenClaims, VerifyError> {
        lock(&self.issued)
            .get(token)
            .cloned()
            .ok_or(VerifyError::Malformed)
    }
    fn public_jwks(&self) -> Vec<String> {
        lock(&self.jwks).clone()
    }
    fn ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }
}
