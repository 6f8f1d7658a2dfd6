//! The cache's rules against a scripted source and a clock the test moves; the HTTP source
//! against a server on loopback.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use super::*;

const X: &str = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
const Y: &str = "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0";

fn jwks(kid: &str) -> String {
    format!(r#"{{"keys":[{{"kty":"EC","crv":"P-256","x":"{X}","y":"{Y}","kid":"{kid}"}}]}}"#)
}

fn kids(keys: &ClientKeys) -> Vec<String> {
    keys.keys().iter().filter_map(|k| k.kid.clone()).collect()
}

/// A clock the test sets, in seconds.
#[derive(Default)]
struct TestClock(AtomicI64);

impl TestClock {
    fn set(&self, secs: i64) {
        self.0.store(secs, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_secs(self.0.load(Ordering::SeqCst))
    }
}

/// Answers what the test last scripted, counting fetches; optionally holds each fetch until
/// the test releases it.
struct Script {
    answer: Mutex<Result<(String, Option<u64>), JwksFailure>>,
    fetches: AtomicUsize,
    gate: tokio::sync::Semaphore,
}

impl Script {
    fn new(kid: &str, max_age: Option<u64>) -> Arc<Self> {
        Arc::new(Self {
            answer: Mutex::new(Ok((kid.to_owned(), max_age))),
            fetches: AtomicUsize::new(0),
            gate: tokio::sync::Semaphore::new(tokio::sync::Semaphore::MAX_PERMITS),
        })
    }
    fn serve(&self, answer: Result<(&str, Option<u64>), JwksFailure>) {
        *self.answer.lock().unwrap() = answer.map(|(k, a)| (k.to_owned(), a));
    }
    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Source for Script {
    async fn fetch(&self, _: &JwksUri) -> Result<Fetched, JwksFailure> {
        self.fetches.fetch_add(1, Ordering::SeqCst);
        self.gate.acquire().await.unwrap().forget();
        let answer = self.answer.lock().unwrap().clone();
        let (kid, max_age) = answer?;
        Ok(Fetched {
            keys: grantd_jwt::parse_remote_jwks(&jwks(&kid)).unwrap().0,
            max_age: max_age.map(Duration::from_secs),
        })
    }
}

fn policy() -> FetchPolicy {
    FetchPolicy {
        min_cache: Duration::from_secs(60),
        max_cache: Duration::from_secs(3600),
        refetch_interval: Duration::from_secs(10),
        stale_grace: Duration::from_secs(300),
        ..FetchPolicy::default()
    }
}

fn fetcher(script: &Arc<Script>, clock: &Arc<TestClock>) -> JwksFetcher {
    JwksFetcher::with_source(policy(), clock.clone(), script.clone())
}

fn uri() -> JwksUri {
    JwksUri::parse("https://client.example/jwks.json").unwrap()
}

const CURRENT: KeysWanted = KeysWanted::Current;
const NOT_FOUND: KeysWanted = KeysWanted::KeyNotFound;

#[tokio::test]
async fn a_set_is_fetched_once_and_kept_for_its_max_age() {
    let (script, clock) = (Script::new("a", Some(120)), Arc::new(TestClock::default()));
    let f = fetcher(&script, &clock);
    assert_eq!(kids(&f.keys(&uri(), CURRENT).await.unwrap()), ["a"]);
    clock.set(119);
    f.keys(&uri(), CURRENT).await.unwrap();
    assert_eq!(script.fetches(), 1);
    script.serve(Ok(("b", Some(120))));
    clock.set(120);
    assert_eq!(kids(&f.keys(&uri(), CURRENT).await.unwrap()), ["b"]);
    assert_eq!(script.fetches(), 2);
}

#[tokio::test]
async fn max_age_is_clamped_to_the_policy_and_defaults_to_min_cache() {
    for (max_age, life) in [
        (Some(1), 60),
        (Some(86_400), 3600),
        (None, 60),
        (Some(0), 60),
    ] {
        let (script, clock) = (Script::new("a", max_age), Arc::new(TestClock::default()));
        let f = fetcher(&script, &clock);
        f.keys(&uri(), CURRENT).await.unwrap();
        clock.set(life - 1);
        f.keys(&uri(), CURRENT).await.unwrap();
        assert_eq!(
            script.fetches(),
            1,
            "{max_age:?}: still fresh at {}",
            life - 1
        );
        clock.set(life);
        f.keys(&uri(), CURRENT).await.unwrap();
        assert_eq!(script.fetches(), 2, "{max_age:?}: expired at {life}");
    }
}

#[tokio::test]
async fn an_unknown_kid_refetches_at_most_once_per_interval() {
    let (script, clock) = (Script::new("a", Some(3600)), Arc::new(TestClock::default()));
    let f = fetcher(&script, &clock);
    f.keys(&uri(), CURRENT).await.unwrap();
    script.serve(Ok(("b", Some(3600))));
    clock.set(5);
    // Within the interval of the first fetch: the cached set, no fetch.
    assert_eq!(kids(&f.keys(&uri(), NOT_FOUND).await.unwrap()), ["a"]);
    assert_eq!(script.fetches(), 1);
    clock.set(10);
    assert_eq!(kids(&f.keys(&uri(), NOT_FOUND).await.unwrap()), ["b"]);
    assert_eq!(script.fetches(), 2);
    // Unknown kids in a burst: one fetch per interval, however many ask.
    for t in 11..20 {
        clock.set(t);
        f.keys(&uri(), NOT_FOUND).await.unwrap();
    }
    assert_eq!(script.fetches(), 2);
    clock.set(20);
    f.keys(&uri(), NOT_FOUND).await.unwrap();
    assert_eq!(script.fetches(), 3);
}

#[tokio::test]
async fn during_an_outage_the_set_lasts_its_lifetime_plus_the_grace_then_fails() {
    let (script, clock) = (Script::new("a", Some(60)), Arc::new(TestClock::default()));
    let f = fetcher(&script, &clock);
    f.keys(&uri(), CURRENT).await.unwrap();
    script.serve(Err(JwksFailure::Status));
    clock.set(60);
    assert_eq!(kids(&f.keys(&uri(), CURRENT).await.unwrap()), ["a"]);
    // Failed refetches are rate-limited too.
    clock.set(65);
    f.keys(&uri(), CURRENT).await.unwrap();
    assert_eq!(script.fetches(), 2);
    clock.set(359);
    assert!(f.keys(&uri(), CURRENT).await.is_ok());
    clock.set(360);
    assert_eq!(f.keys(&uri(), CURRENT).await, Err(JwksFailure::Status));
    // Back up: the next attempt after the interval recovers.
    script.serve(Ok(("b", Some(60))));
    clock.set(370);
    assert_eq!(kids(&f.keys(&uri(), CURRENT).await.unwrap()), ["b"]);
}

#[tokio::test]
async fn a_first_fetch_that_fails_is_an_error_and_not_retried_within_the_interval() {
    let (script, clock) = (Script::new("a", None), Arc::new(TestClock::default()));
    script.serve(Err(JwksFailure::NotJson));
    let f = fetcher(&script, &clock);
    assert_eq!(f.keys(&uri(), CURRENT).await, Err(JwksFailure::NotJson));
    clock.set(9);
    assert_eq!(f.keys(&uri(), NOT_FOUND).await, Err(JwksFailure::NotJson));
    assert_eq!(script.fetches(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_fetch() {
    let (script, clock) = (Script::new("a", None), Arc::new(TestClock::default()));
    // Hold every fetch until the callers have all arrived.
    script
        .gate
        .forget_permits(tokio::sync::Semaphore::MAX_PERMITS);
    let f = Arc::new(fetcher(&script, &clock));
    let callers: Vec<_> = (0..16)
        .map(|_| {
            let f = Arc::clone(&f);
            tokio::spawn(async move { f.keys(&uri(), CURRENT).await })
        })
        .collect();
    while script.fetches() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    script.gate.add_permits(16);
    for c in callers {
        assert_eq!(kids(&c.await.unwrap().unwrap()), ["a"]);
    }
    assert_eq!(script.fetches(), 1);
}

#[tokio::test]
async fn uris_are_cached_apart() {
    let (script, clock) = (Script::new("a", None), Arc::new(TestClock::default()));
    let f = fetcher(&script, &clock);
    let other = JwksUri::parse("https://other.example/jwks.json").unwrap();
    f.keys(&uri(), CURRENT).await.unwrap();
    f.keys(&other, CURRENT).await.unwrap();
    assert_eq!(script.fetches(), 2);
}

/// A one-connection-per-answer HTTP server on loopback: each accepted connection gets the
/// next scripted response. Returns its base URL.
fn serve(responses: Vec<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for response in responses {
            let (mut conn, _) = listener.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(response.as_bytes());
        }
    });
    url
}

fn response(status: &str, content_type: &str, extra: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Connection: close\r\n{extra}\r\n{body}",
        body.len()
    )
}

async fn fetch_once(url: &str, allow_http_loopback: bool) -> Result<Fetched, JwksFailure> {
    let policy = FetchPolicy {
        max_bytes: 1024,
        allow_http_loopback,
        ..FetchPolicy::default()
    };
    let source = HttpSource::new(&policy).unwrap();
    source.fetch(&JwksUri::parse(url).unwrap()).await
}

#[tokio::test]
async fn http_answers_other_than_a_json_jwks_with_200_are_refused() {
    let big = format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(2000));
    let cases = [
        (
            response(
                "200 OK",
                "application/json",
                "Cache-Control: max-age=77\r\n",
                &jwks("a"),
            ),
            Ok(77),
        ),
        (
            response("500 Oops", "application/json", "", &jwks("a")),
            Err(JwksFailure::Status),
        ),
        (
            response(
                "302 Found",
                "application/json",
                "Location: http://127.0.0.1:1/\r\n",
                "",
            ),
            Err(JwksFailure::Status),
        ),
        (
            response("200 OK", "text/html", "", &jwks("a")),
            Err(JwksFailure::NotJson),
        ),
        (
            response("200 OK", "application/json", "", &big),
            Err(JwksFailure::TooLarge),
        ),
        (
            response("200 OK", "application/json", "", "{\"keys\":[]}"),
            Err(JwksFailure::Invalid),
        ),
    ];
    for (answer, expected) in cases {
        let url = serve(vec![answer]);
        let got = fetch_once(&format!("{url}/jwks"), true).await;
        let got = got.map(|f| f.max_age.map_or(0, |d| d.as_secs()));
        assert_eq!(got, expected);
    }
}

#[tokio::test]
async fn a_body_without_length_is_still_capped() {
    let body = format!("{{\"keys\":[],\"pad\":\"{}\"}}", "x".repeat(2000));
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{body}"
    );
    let url = serve(vec![answer]);
    let got = fetch_once(&format!("{url}/jwks"), true).await.map(|_| ());
    assert_eq!(got, Err(JwksFailure::TooLarge));
}

#[tokio::test]
async fn http_to_loopback_is_refused_unless_allowed_and_a_dead_port_is_unreachable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    drop(listener);
    assert_eq!(
        fetch_once(&url, false).await.map(|_| ()),
        Err(JwksFailure::NotAllowed)
    );
    assert_eq!(
        fetch_once(&url, true).await.map(|_| ()),
        Err(JwksFailure::Unreachable)
    );
}
