//! Operators' use cases: users, clients and their secrets, sessions, and `explain` (a dry run of
//! the token decision).
//!
//! Every operation validates all of its input before its first write, so a refused command
//! never leaves half-written rows. Scopes and roles are checked against the same catalog, and
//! `explain` calls the same [`grantd_domain::decide`] with the same inputs as the token endpoint,
//! so the CLI can neither accept what the token endpoint would reject nor explain a decision
//! the endpoint would not make.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use grantd_domain::{
    AudienceRequest, AuthMethod, Client, ClientId, ClientSecret, DomainError, GrantType,
    GrantTypes, Owner, ScopeCatalog, ScopeDef, ScopeProblem, StoredScopes, Tier, Timestamp,
    TokenPolicy, UserId, Verdict, decide,
};
use grantd_ports::{SecretError, StoreError};

use crate::token::Ports;

mod sessions;

pub use sessions::{PurgeCutoff, SessionExport, SessionQuery};

/// Why an admin operation was refused or failed. `Display` is one line, fit for the CLI's
/// stderr; no variant ever carries a secret or a hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminError {
    /// Bad input: unknown scope, malformed id or email, grace period too long, ...
    Invalid(String),
    /// A named user or client does not exist.
    NotFound(String),
    /// The operation collides with existing data (duplicate email, taken client id).
    Conflict(String),
    /// The store is unreachable or overloaded; retrying later may work.
    Unavailable(String),
    /// Anything else; the detail is for the operator, not a caller.
    Internal(String),
}

impl AdminError {
    /// Maps a store failure, saying what was being done. Conflicts and missing rows that an
    /// operation can name precisely are mapped at the call site instead.
    fn store(context: &str, e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => AdminError::Conflict(format!("{context}: {m}")),
            StoreError::NotFound(m) => AdminError::NotFound(format!("{context}: {m}")),
            StoreError::Invalid(m) => AdminError::Invalid(format!("{context}: {m}")),
            StoreError::Unavailable(m) => AdminError::Unavailable(format!("{context}: {m}")),
            StoreError::Internal(m) => AdminError::Internal(format!("{context}: {m}")),
        }
    }
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, message) = match self {
            AdminError::Invalid(m) => ("invalid input", m),
            AdminError::NotFound(m) => ("not found", m),
            AdminError::Conflict(m) => ("conflict", m),
            AdminError::Unavailable(m) => ("store unavailable", m),
            AdminError::Internal(m) => ("internal error", m),
        };
        f.write_str(kind)?;
        f.write_str(": ")?;
        // One line, whatever a store message or echoed input contains.
        for c in message.chars() {
            f.write_char(if c.is_control() { ' ' } else { c })?;
        }
        Ok(())
    }
}

impl std::error::Error for AdminError {}

/// A user to create.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUserSpec {
    pub name: String,
    pub email: String,
    /// Delegated scopes of the catalog; an element may hold several, space-separated.
    pub roles: Vec<String>,
}

/// A client to create.
#[derive(Clone, PartialEq, Eq)]
pub struct NewClientSpec {
    pub name: String,
    /// The owning user's id (a UUID).
    pub owner: String,
    /// Catalog scopes; an element may hold several, space-separated (`"a b"`).
    pub scopes: Vec<String>,
    pub auth_method: AuthMethod,
    /// Empty means `[ClientCredentials]`.
    pub grant_types: Vec<GrantType>,
    /// An operator-supplied secret (a client migrated from another server); `None` generates
    /// one.
    pub supplied_secret: Option<String>,
}

impl fmt::Debug for NewClientSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewClientSpec")
            .field("name", &self.name)
            .field("owner", &self.owner)
            .field("scopes", &self.scopes)
            .field("auth_method", &self.auth_method)
            .field("grant_types", &self.grant_types)
            .field(
                "supplied_secret",
                &self.supplied_secret.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// A created client and its secret's plaintext, which exists nowhere else: show it once.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCreated {
    pub client: Client,
    pub secret_plaintext: String,
    /// Things the operator should know because the token endpoint will act on them, e.g. a
    /// delegated scope the owner does not hold (never granted until the owner gets the role).
    pub warnings: Vec<String>,
}

impl fmt::Debug for ClientCreated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCreated")
            .field("client", &self.client)
            .field("secret_plaintext", &"<redacted>")
            .field("warnings", &self.warnings)
            .finish()
    }
}

/// A rotated client secret: the new plaintext (show it once) and until when the previous
/// secret(s) keep working.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRotated {
    pub client_id: ClientId,
    pub secret_plaintext: String,
    pub previous_valid_until: Timestamp,
}

impl fmt::Debug for SecretRotated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretRotated")
            .field("client_id", &self.client_id)
            .field("secret_plaintext", &"<redacted>")
            .field("previous_valid_until", &self.previous_valid_until)
            .finish()
    }
}

/// The facts about one scope of an `explain` request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeExplanation {
    pub name: String,
    pub tier: Tier,
    pub level: u16,
    pub in_client_grant: bool,
    pub held_by_owner: bool,
    /// The audience the scope requires, if any.
    pub audience_required: Option<String>,
    /// `None` when the scope requires no audience or the decision stopped before audiences.
    pub audience_met: Option<bool>,
    /// [`Verdict::as_str`]: `granted`, or why not.
    pub verdict: String,
}

/// What the token endpoint would answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExplainOutcome {
    /// A token would be issued with this `scope` string and `aud` list.
    Ok {
        scope: String,
        audience: Vec<String>,
    },
    /// The request would be refused with this OAuth `error` and `error_description`.
    Err { error: String, description: String },
}

/// A dry run of the token decision for one client: no session, no token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    pub client_id: String,
    /// `None`: there is no such client (or the id is malformed).
    pub client_active: Option<bool>,
    /// The owner id as stored on the client.
    pub owner_id: Option<String>,
    /// `None`: the owner does not exist or its stored id is not a UUID.
    pub owner_active: Option<bool>,
    /// One row per requested scope (the client's scopes when none is requested). Empty when
    /// the request cannot even be parsed or the client does not exist.
    pub scopes: Vec<ScopeExplanation>,
    pub outcome: ExplainOutcome,
}

/// The admin use cases over a set of ports and the policy in force.
#[derive(Clone, Debug)]
pub struct Admin {
    ports: Ports,
    policy: Arc<TokenPolicy>,
}

const NAME_MAX_CHARS: usize = 200;
const EMAIL_MAX_BYTES: usize = 320;
/// Longest piece of operator input quoted back in an error.
const ECHO_MAX_CHARS: usize = 80;

impl Admin {
    /// Longest grace period for a rotated-out secret: 30 days.
    pub const MAX_GRACE_SECS: u64 = 30 * 24 * 3600;

    pub fn new(ports: Ports, policy: Arc<TokenPolicy>) -> Self {
        Self { ports, policy }
    }

    pub fn policy(&self) -> &TokenPolicy {
        &self.policy
    }

    // ---------- users ----------

    /// Creates an active user. Roles must be delegated scopes of the catalog.
    pub async fn create_user(&self, spec: NewUserSpec) -> Result<Owner, AdminError> {
        let name = validate_name("user", &spec.name)?;
        validate_email(&spec.email)?;
        let roles = self.parse_roles(&spec.roles)?;

        let now = self.ports.clock.now();
        let user = Owner {
            id: self.ports.ids.user_id(),
            name,
            email: spec.email,
            roles,
            active: true,
            created_at: now,
            updated_at: now,
        };
        match self.ports.users.create_user(&user).await {
            Ok(()) => Ok(user),
            Err(StoreError::Conflict(_)) => Err(AdminError::Conflict(format!(
                "email already registered: {}",
                quote(&user.email)
            ))),
            Err(e) => Err(AdminError::store("creating user", e)),
        }
    }

    pub async fn list_users(&self) -> Result<Vec<Owner>, AdminError> {
        self.ports
            .users
            .list_users()
            .await
            .map_err(|e| AdminError::store("listing users", e))
    }

    pub async fn show_user(&self, id: &str) -> Result<Owner, AdminError> {
        let id = parse_user_id(id)?;
        self.find_user(&id).await
    }

    /// Activates or deactivates a user and returns it as stored afterwards.
    pub async fn set_user_active(&self, id: &str, active: bool) -> Result<Owner, AdminError> {
        let id = parse_user_id(id)?;
        let now = self.ports.clock.now();
        let found = self
            .ports
            .users
            .set_user_active(&id, active, now)
            .await
            .map_err(|e| AdminError::store("updating user", e))?;
        if !found {
            return Err(no_such_user(&id));
        }
        self.find_user(&id).await
    }

    // ---------- clients ----------

    /// Creates an active client with one secret (generated, or the operator's own).
    pub async fn create_client(&self, spec: NewClientSpec) -> Result<ClientCreated, AdminError> {
        let name = validate_name("client", &spec.name)?;
        let owner_id = parse_user_id(&spec.owner)?;
        let catalog = &self.policy.catalog;
        let scopes = parse_scope_list(catalog, "scope", &spec.scopes)?;
        if scopes.is_empty() {
            return Err(AdminError::Invalid(
                "a client needs at least one scope".to_owned(),
            ));
        }
        let grant_types = if spec.grant_types.is_empty() {
            GrantTypes::from(vec![GrantType::ClientCredentials])
        } else {
            GrantTypes::from(spec.grant_types.clone())
        };
        let owner = self.find_user(&owner_id).await?;
        let warnings = self.client_warnings(&scopes, &owner);

        let (secret_plaintext, hash) = match spec.supplied_secret {
            Some(plaintext) => {
                let hash = self
                    .ports
                    .secrets
                    .hash_supplied(&plaintext)
                    .await
                    .map_err(|e| secret_error(e, &plaintext))?;
                (plaintext, hash)
            }
            None => {
                let g = self.ports.secrets.generate();
                (g.plaintext, g.hash)
            }
        };

        let now = self.ports.clock.now();
        let client = Client {
            id: self.ports.ids.client_id(),
            name,
            owner_id: owner.id.clone().into(),
            scopes: StoredScopes::parse(
                catalog,
                &scopes.iter().map(|s| s.name()).collect::<Vec<_>>(),
            ),
            grant_types,
            auth_method: spec.auth_method,
            active: true,
            secrets: vec![ClientSecret {
                hash,
                created_at: now,
                valid_until: None,
            }],
            created_at: now,
            updated_at: now,
            limits: Default::default(),
        };
        match self.ports.clients.create_client(&client).await {
            Ok(()) => Ok(ClientCreated {
                client,
                secret_plaintext,
                warnings,
            }),
            Err(StoreError::Conflict(_)) => Err(AdminError::Conflict(format!(
                "client id already taken: {}",
                client.id
            ))),
            Err(StoreError::NotFound(_)) => Err(no_such_user(&owner.id)),
            Err(e) => Err(AdminError::store("creating client", e)),
        }
    }

    pub async fn list_clients(&self) -> Result<Vec<Client>, AdminError> {
        self.ports
            .clients
            .list_clients()
            .await
            .map_err(|e| AdminError::store("listing clients", e))
    }

    pub async fn show_client(&self, id: &str) -> Result<Client, AdminError> {
        let id = parse_client_id(id)?;
        self.find_client(&id).await
    }

    /// Enables or disables a client and returns it as stored afterwards.
    pub async fn set_client_active(&self, id: &str, active: bool) -> Result<Client, AdminError> {
        let id = parse_client_id(id)?;
        let now = self.ports.clock.now();
        let found = self
            .ports
            .clients
            .set_client_active(&id, active, now)
            .await
            .map_err(|e| AdminError::store("updating client", e))?;
        if !found {
            return Err(no_such_client(&id));
        }
        self.find_client(&id).await
    }

    /// Gives the client a new generated secret; its current secret(s) keep working for
    /// `grace_secs` more seconds (0: they stop now).
    pub async fn rotate_secret(
        &self,
        client_id: &str,
        grace_secs: u64,
    ) -> Result<SecretRotated, AdminError> {
        let id = parse_client_id(client_id)?;
        let grace = i64::try_from(grace_secs)
            .ok()
            .filter(|_| grace_secs <= Self::MAX_GRACE_SECS)
            .ok_or_else(|| {
                AdminError::Invalid(format!(
                    "grace period must be at most {} seconds (30 days), got {grace_secs}",
                    Self::MAX_GRACE_SECS
                ))
            })?;
        let generated = self.ports.secrets.generate();
        let now = self.ports.clock.now();
        let previous_valid_until = now.plus_secs(grace);
        let secret = ClientSecret {
            hash: generated.hash,
            created_at: now,
            valid_until: None,
        };
        let found = self
            .ports
            .clients
            .rotate_secret(&id, &secret, previous_valid_until)
            .await
            .map_err(|e| AdminError::store("rotating secret", e))?;
        if !found {
            return Err(no_such_client(&id));
        }
        Ok(SecretRotated {
            client_id: id,
            secret_plaintext: generated.plaintext,
            previous_valid_until,
        })
    }

    // ---------- explain ----------

    /// What the token endpoint would answer a correctly authenticated `client_id` asking for
    /// `scope` and `audience`, and why, scope by scope. Loads client and owner as
    /// `TokenService::issue` does and runs the same [`decide`]. Only store failures are
    /// errors; an unknown client is an outcome (`invalid_client`), as at the endpoint.
    pub async fn explain(
        &self,
        client_id: &str,
        scope: Option<&str>,
        audience: Option<&str>,
    ) -> Result<Explanation, AdminError> {
        let unknown_client = || Explanation {
            client_id: client_id.to_owned(),
            client_active: None,
            owner_id: None,
            owner_active: None,
            scopes: Vec::new(),
            outcome: refusal(&grantd_domain::DomainError::InvalidClient(
                grantd_domain::ClientRejection::UnknownClient,
            )),
        };
        let Ok(id) = ClientId::parse(client_id) else {
            return Ok(unknown_client());
        };
        let Some(client) = self
            .ports
            .clients
            .find_client(&id)
            .await
            .map_err(|e| AdminError::store("loading client", e))?
        else {
            return Ok(unknown_client());
        };
        let owner = crate::token::load_owner(&*self.ports.users, &client)
            .await
            .map_err(|e| AdminError::store("loading owner", e))?;
        // `decide` ignores an owner whose id is not the client's; so do the facts.
        let owner = owner.filter(|o| Some(&o.id) == client.owner_id.user());

        let policy = &*self.policy;
        let request = AudienceRequest {
            audience,
            resources: vec![],
        };
        let decision = decide(policy, &client, owner.as_ref(), scope, &request);

        let scopes: Vec<ScopeExplanation> = if decision.verdicts.is_empty() {
            // Refused before scopes were weighed: still show the facts of each scope asked
            // for, none of which would be issued.
            facts_without_verdicts(&policy.catalog, &client, owner.as_ref(), scope)
        } else {
            decision
                .verdicts
                .iter()
                .map(|v| ScopeExplanation {
                    audience_met: v.audience_met,
                    verdict: v.verdict.as_str().to_owned(),
                    ..scope_row(v.scope, v.in_client_grant, v.held_by_owner)
                })
                .collect()
        };
        let outcome = match &decision.outcome {
            Ok(grant) => ExplainOutcome::Ok {
                scope: grant.scope_string(),
                audience: grant
                    .audience
                    .iter()
                    .map(|a| a.as_str().to_owned())
                    .collect(),
            },
            Err(e) => refusal(e),
        };
        Ok(Explanation {
            client_id: client.id.as_str().to_owned(),
            client_active: Some(client.active),
            owner_id: Some(client.owner_id.as_str().to_owned()),
            owner_active: owner.as_ref().map(|o| o.active),
            scopes,
            outcome,
        })
    }

    // ---------- helpers ----------

    async fn find_user(&self, id: &UserId) -> Result<Owner, AdminError> {
        self.ports
            .users
            .find_user(id)
            .await
            .map_err(|e| AdminError::store("loading user", e))?
            .ok_or_else(|| no_such_user(id))
    }

    async fn find_client(&self, id: &ClientId) -> Result<Client, AdminError> {
        self.ports
            .clients
            .find_client(id)
            .await
            .map_err(|e| AdminError::store("loading client", e))?
            .ok_or_else(|| no_such_client(id))
    }

    fn parse_roles(&self, roles: &[String]) -> Result<StoredScopes, AdminError> {
        let catalog = &self.policy.catalog;
        if let Some(blank) = roles.iter().find(|r| r.trim().is_empty()) {
            return Err(AdminError::Invalid(format!("empty role {}", quote(blank))));
        }
        let scopes = parse_scope_list(catalog, "role", roles)?;
        if let Some(service) = scopes.iter().find(|s| s.tier() != Tier::Delegated) {
            let delegated: Vec<&str> = catalog
                .iter()
                .filter(|s| s.tier() == Tier::Delegated)
                .map(ScopeDef::name)
                .collect();
            return Err(AdminError::Invalid(format!(
                "role {} is a {}-tier scope; roles must be delegated scopes ({})",
                quote(service.name()),
                service.tier(),
                delegated.join(", ")
            )));
        }
        let names: Vec<&str> = scopes.iter().map(|s| s.name()).collect();
        Ok(StoredScopes::parse(catalog, &names))
    }

    /// What the token endpoint will do differently from what the operator probably expects.
    fn client_warnings(&self, scopes: &[&ScopeDef], owner: &Owner) -> Vec<String> {
        let roles = &owner.roles;
        let mut warnings = Vec::new();
        if !owner.active {
            warnings.push(format!(
                "owner {} is inactive: the token endpoint refuses this client until the owner is activated",
                owner.id
            ));
        }
        for s in scopes {
            if s.tier() == Tier::Delegated && !roles.contains(s.name()) {
                warnings.push(format!(
                    "scope {} is delegated and owner {} does not hold it: it will not be granted until the owner has that role",
                    s.name(),
                    owner.id
                ));
            }
            if let Some(required) = s.requires_audience() {
                let rules = &self.policy.audiences;
                let reachable =
                    rules.allowed().contains(required) || rules.defaults().contains(required);
                if !reachable {
                    warnings.push(format!(
                        "scope {} requires audience {}, which the audience configuration neither defaults to nor allows: it can never be granted",
                        s.name(),
                        required
                    ));
                }
            }
        }
        warnings
    }
}

/// Parses each element strictly through the catalog; duplicates across elements collapse and
/// the first-given order is kept.
fn parse_scope_list<'c>(
    catalog: &'c ScopeCatalog,
    what: &str,
    items: &[String],
) -> Result<Vec<&'c ScopeDef>, AdminError> {
    let mut out: Vec<&'c ScopeDef> = Vec::new();
    for item in items {
        let parsed = catalog.parse_request(item).map_err(|p| match p {
            ScopeProblem::Unknown(t) => AdminError::Invalid(format!(
                "unknown {what} {}: not in the scope catalog",
                quote(&t)
            )),
            ScopeProblem::Malformed(t) => AdminError::Invalid(format!(
                "malformed {what} {}: not a valid scope token",
                quote(&t)
            )),
            other => AdminError::Invalid(format!(
                "invalid {what}: {}",
                DomainError::InvalidScope(other).description()
            )),
        })?;
        for s in parsed.into_vec() {
            if !out.iter().any(|o| o.name() == s.name()) {
                out.push(s);
            }
        }
    }
    Ok(out)
}

fn validate_name(what: &str, name: &str) -> Result<String, AdminError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AdminError::Invalid(format!(
            "{what} name must not be blank"
        )));
    }
    if name.chars().count() > NAME_MAX_CHARS {
        return Err(AdminError::Invalid(format!(
            "{what} name must be at most {NAME_MAX_CHARS} characters"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!(
            "{what} name must not contain control characters"
        )));
    }
    Ok(name.to_owned())
}

/// A sanity check, not RFC 5322: exactly one `@` with something on both sides, no whitespace
/// or control characters, at most 320 bytes.
fn validate_email(email: &str) -> Result<(), AdminError> {
    let bad = |why: &str| {
        Err(AdminError::Invalid(format!(
            "invalid email {}: {why}",
            quote(email)
        )))
    };
    if email.len() > EMAIL_MAX_BYTES {
        return bad("longer than 320 bytes");
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("must not contain spaces or control characters");
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(())
        }
        _ => bad("must be local@domain with exactly one @"),
    }
}

fn parse_user_id(s: &str) -> Result<UserId, AdminError> {
    UserId::parse(s.trim()).map_err(|e| AdminError::Invalid(format!("{e}: {}", quote(s))))
}

fn parse_client_id(s: &str) -> Result<ClientId, AdminError> {
    ClientId::parse(s.trim()).map_err(|e| AdminError::Invalid(format!("{e}: {}", quote(s))))
}

fn no_such_user(id: &UserId) -> AdminError {
    AdminError::NotFound(format!("no user with id {id}"))
}

fn no_such_client(id: &ClientId) -> AdminError {
    AdminError::NotFound(format!("no client with id {id}"))
}

/// A hasher's refusal, with the plaintext scrubbed should an adapter ever echo it.
fn secret_error(e: SecretError, plaintext: &str) -> AdminError {
    let scrub = |m: String| {
        if plaintext.is_empty() {
            m
        } else {
            m.replace(plaintext, "<redacted>")
        }
    };
    match e {
        SecretError::Rejected(m) => AdminError::Invalid(format!("secret rejected: {}", scrub(m))),
        SecretError::Failed(m) => {
            AdminError::Internal(format!("secret hashing failed: {}", scrub(m)))
        }
    }
}

/// Operator input quoted for an error message: bounded, escaped (so one line).
fn quote(s: &str) -> String {
    if s.chars().count() <= ECHO_MAX_CHARS {
        format!("{s:?}")
    } else {
        let cut: String = s.chars().take(ECHO_MAX_CHARS).collect();
        format!("{cut:?}…")
    }
}

fn refusal(e: &grantd_domain::DomainError) -> ExplainOutcome {
    ExplainOutcome::Err {
        error: e.code().to_owned(),
        description: e.description(),
    }
}

fn scope_row(s: &ScopeDef, in_client_grant: bool, held_by_owner: bool) -> ScopeExplanation {
    ScopeExplanation {
        name: s.name().to_owned(),
        tier: s.tier(),
        level: s.level(),
        in_client_grant,
        held_by_owner,
        audience_required: s.requires_audience().map(|a| a.as_str().to_owned()),
        audience_met: None,
        verdict: Verdict::NotIssued.as_str().to_owned(),
    }
}

/// The per-scope facts when `decide` refused before weighing scopes (client disabled, grant
/// type not registered, owner missing or inactive). The requested set is what `decide` would
/// have weighed; an unparsable scope string yields no rows.
fn facts_without_verdicts(
    catalog: &ScopeCatalog,
    client: &Client,
    owner: Option<&Owner>,
    scope: Option<&str>,
) -> Vec<ScopeExplanation> {
    let client_grant = &client.scopes;
    let requested = match scope.map(|s| catalog.parse_request(s)) {
        Some(Ok(r)) if !r.is_empty() => r.into_vec(),
        Some(Err(_)) => return Vec::new(),
        _ => client_grant.known().collect(),
    };
    let no_roles = StoredScopes::default();
    let roles = owner.map_or(&no_roles, |o| &o.roles);
    requested
        .into_iter()
        .map(|s| scope_row(s, client_grant.contains(s.name()), roles.contains(s.name())))
        .collect()
}

#[cfg(test)]
mod tests;
