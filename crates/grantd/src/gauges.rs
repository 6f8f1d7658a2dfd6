//! Gauges sampled when `/metrics` is scraped: the database pools (deadpool's `status()`) and
//! the signing-key ring. Reading them costs a few atomic loads and a read lock, once per
//! scrape, nothing on the request path.

use grantd_jwt::JwtService;
use grantd_ports::KeyState;
use grantd_store::Store;

/// Sets every sampled gauge to its value now.
pub fn sample(store: &Store, jwt: &JwtService) {
    for p in store.pool_status() {
        let pool = p.pool;
        metrics::gauge!("grantd_db_pool_connections_in_use", "pool" => pool).set(p.in_use() as f64);
        metrics::gauge!("grantd_db_pool_connections_idle", "pool" => pool).set(p.available as f64);
        metrics::gauge!("grantd_db_pool_waiting", "pool" => pool).set(p.waiting as f64);
        metrics::gauge!("grantd_db_pool_max_connections", "pool" => pool).set(p.max_size as f64);
    }
    keys(jwt);
}

/// Published keys (what the JWKS serves) and the active key's age.
fn keys(jwt: &JwtService) {
    let summaries = jwt.key_summaries();
    let published = summaries.iter().filter(|k| k.published).count();
    metrics::gauge!("grantd_signing_keys_published").set(published as f64);
    let activated = summaries
        .iter()
        .filter(|k| k.state == KeyState::Active)
        .filter_map(|k| k.activated_at)
        .max();
    let now = chrono::Utc::now().timestamp_micros();
    // No active key (not loaded yet): the gauge is left out rather than set to a false age.
    if let Some(at) = activated {
        let age = (now - at.as_micros()).max(0) as f64 / 1e6;
        metrics::gauge!("grantd_signing_key_active_age_seconds").set(age);
    }
}
