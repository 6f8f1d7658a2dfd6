//! Operators' revocation of one session: the token it backs stops at once (introspection and
//! grantd's own admin API read the session row), as with RFC 7009 revocation by the client.

use grantd_domain::{SessionId, SessionRecord};

use super::input::invalid_id;
use super::{Admin, AdminError, Missing};

/// The reason stored on a session revoked by an operator.
pub(super) const OPERATOR_REVOCATION: &str = "revoked by operator";

impl Admin {
    /// Revokes the session `id` and returns it as stored afterwards. Revoking a revoked session
    /// changes nothing (the first revocation's time and reason stay).
    pub async fn revoke_session(&self, id: &str) -> Result<SessionRecord, AdminError> {
        let id = SessionId::parse(id.trim()).map_err(|e| invalid_id(id, e))?;
        let now = self.ports.clock.now();
        let found = self
            .ports
            .sessions
            .revoke_session(&id, now, OPERATOR_REVOCATION)
            .await
            .map_err(|e| AdminError::store("revoking session", e))?;
        if !found {
            return Err(AdminError::NotFound(Missing::Session(id)));
        }
        self.audit(|| super::audit::session_revoked(id.to_string()));
        self.ports
            .sessions
            .find_session(&id)
            .await
            .map_err(|e| AdminError::store("loading session", e))?
            .ok_or(AdminError::NotFound(Missing::Session(id)))
    }
}
