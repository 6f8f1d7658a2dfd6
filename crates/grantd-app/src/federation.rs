//! Federated workload identities: the ports and configuration the token and admin use cases
//! need to accept a platform token as a client's credential. Off (no issuer trusted) unless
//! the binary hands them in with `with_federation`.

use std::fmt;
use std::sync::Arc;

use grantd_domain::Federation;
use grantd_ports::{FederatedCredentialStore, FederatedTokens, IssuerKeys};

/// The trusted issuers and the ports federation runs on.
#[derive(Clone)]
pub struct FederationPorts {
    pub issuers: Arc<Federation>,
    pub credentials: Arc<dyn FederatedCredentialStore>,
    pub tokens: Arc<dyn FederatedTokens>,
    pub keys: Arc<dyn IssuerKeys>,
}

impl fmt::Debug for FederationPorts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FederationPorts")
            .field("issuers", &self.issuers.issuers().len())
            .finish_non_exhaustive()
    }
}
