//! `server()` on a real socket: it serves, refuses an oversized declared body before the body
//! is sent, caps a chunked body while streaming, cuts off a slow body with 408, closes the
//! connection when the rest of a refused body is still coming, holds at most `max_connections`
//! per worker, and stops gracefully.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use crate::fixture::*;

/// Sends raw bytes and returns the response head (status line and headers) plus whatever of
/// the body arrived with it.
fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s
            .read(&mut chunk)
            .unwrap_or_else(|e| panic!("no answer: {e}"));
        buf.extend_from_slice(&chunk[..n]);
        if n == 0 || buf.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    // give a short body (JSON) a moment to follow the head
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    if let Ok(n) = s.read(&mut chunk) {
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[actix_web::test]
async fn real_server_serves_limits_and_stops() {
    let w = World::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = grantd_api::server(w.state.clone(), listener, 1).unwrap();
    let handle = srv.handle();
    let running = actix_web::rt::spawn(srv);

    let auth = basic("svc-basic", "s3cret");
    let answers = actix_web::rt::task::spawn_blocking(move || {
        let health = exchange(
            addr,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        );
        let token = exchange(
            addr,
            format!(
                "POST /oauth/token HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\
                 Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n{CC}",
                CC.len()
            )
            .as_bytes(),
        );
        // 10 MB announced, not one byte sent: the answer must come anyway
        let declared = exchange(
            addr,
            b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 10000000\r\n\r\n",
        );
        // chunked, no length: cut off while streaming
        let mut chunked = b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n\
              Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
        for _ in 0..20 {
            chunked.extend_from_slice(format!("400\r\n{}\r\n", "x".repeat(1024)).as_bytes());
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let streamed = exchange(addr, &chunked);
        (health, token, declared, streamed)
    })
    .await
    .unwrap();
    let (health, token, declared, streamed) = answers;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(token.starts_with("HTTP/1.1 200"), "{token}");
    assert!(token.contains("access_token"), "{token}");
    assert!(
        token
            .to_ascii_lowercase()
            .contains("cache-control: no-store"),
        "{token}"
    );
    assert!(declared.starts_with("HTTP/1.1 413"), "{declared}");
    assert!(streamed.starts_with("HTTP/1.1 413"), "{streamed}");

    handle.stop(true).await;
    running.await.unwrap().unwrap();
}

/// Sends `request` and reads until the server closes the connection; `None` if it is still
/// open after `wait` (a server that never answers or never closes fails instead of hanging).
fn until_closed(addr: std::net::SocketAddr, request: &[u8], wait: Duration) -> Option<String> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.write_all(request).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return Some(String::from_utf8_lossy(&buf).into_owned()),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return None,
        }
    }
}

#[actix_web::test]
async fn slow_or_endless_bodies_are_answered_and_the_connection_closed() {
    let mut config = grantd_api::ApiConfig::with_issuer(ISSUER);
    config.body_timeout = Duration::from_millis(500);
    let w = World::with_config(config);
    let listener = grantd_api::listener("127.0.0.1:0".parse().unwrap(), 16).unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = grantd_api::server(w.state.clone(), listener, 1).unwrap();
    let handle = srv.handle();
    let running = actix_web::rt::spawn(srv);

    const HEAD: &str = "POST /oauth/token HTTP/1.1\r\nHost: x\r\n\
                        Content-Type: application/x-www-form-urlencoded\r\n";
    let answers = actix_web::rt::task::spawn_blocking(move || {
        let wait = Duration::from_secs(3);
        let start = Instant::now();
        let declared = until_closed(
            addr,
            format!("{HEAD}Content-Length: 4096\r\n\r\ng").as_bytes(),
            wait,
        );
        let declared_after = start.elapsed();
        let start = Instant::now();
        let chunked = until_closed(
            addr,
            format!("{HEAD}Transfer-Encoding: chunked\r\n\r\n5\r\ngrant\r\n").as_bytes(),
            wait,
        );
        let chunked_after = start.elapsed();
        // Over the limit and still coming: 413, and no draining of what follows.
        let mut endless = format!("{HEAD}Transfer-Encoding: chunked\r\n\r\n").into_bytes();
        for _ in 0..20 {
            endless.extend_from_slice(format!("400\r\n{}\r\n", "x".repeat(1024)).as_bytes());
        }
        let endless = until_closed(addr, &endless, wait);
        (declared, declared_after, chunked, chunked_after, endless)
    })
    .await
    .unwrap();
    let (declared, declared_after, chunked, chunked_after, endless) = answers;
    for (what, answer, after) in [
        ("declared", declared, declared_after),
        ("chunked", chunked, chunked_after),
    ] {
        let answer = answer.unwrap_or_else(|| panic!("{what}: no 408 and close within 3 s"));
        assert!(answer.starts_with("HTTP/1.1 408"), "{what}: {answer}");
        assert!(
            answer
                .to_ascii_lowercase()
                .contains("\r\nconnection: close\r\n"),
            "{what}: {answer}"
        );
        assert!(
            answer.contains(r#""error":"invalid_request""#),
            "{what}: {answer}"
        );
        assert!(
            after >= Duration::from_millis(450),
            "{what}: after {after:?}"
        );
    }
    let endless = endless.expect("413 and close within 3 s");
    assert!(endless.starts_with("HTTP/1.1 413"), "{endless}");
    // Nothing was authenticated: the deadline and the cap come first.
    assert!(w.clients.lookups.lock().unwrap().is_empty());

    handle.stop(true).await;
    running.await.unwrap().unwrap();
}

#[actix_web::test]
async fn a_worker_holds_at_most_max_connections() {
    let mut config = grantd_api::ApiConfig::with_issuer(ISSUER);
    config.max_connections = 1;
    let w = World::with_config(config);
    let listener = grantd_api::listener("127.0.0.1:0".parse().unwrap(), 16).unwrap();
    let addr = listener.local_addr().unwrap();
    let srv = grantd_api::server(w.state.clone(), listener, 1).unwrap();
    let handle = srv.handle();
    let running = actix_web::rt::spawn(srv);

    let (while_full, after_close) = actix_web::rt::task::spawn_blocking(move || {
        const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        // The one connection the worker may hold: open, served once, kept alive.
        let mut first = TcpStream::connect(addr).unwrap();
        first
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        first
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut chunk = [0u8; 1024];
        assert!(
            first.read(&mut chunk).unwrap() > 0,
            "first connection served"
        );
        // A second one waits in the backlog, unanswered, while the first is open...
        let while_full = until_closed(addr, HEALTH, Duration::from_millis(700));
        // ...and is served once it closes.
        let mut second = TcpStream::connect(addr).unwrap();
        second.write_all(HEALTH).unwrap();
        drop(first);
        second
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut answer = Vec::new();
        let _ = second.read_to_end(&mut answer);
        (while_full, String::from_utf8_lossy(&answer).into_owned())
    })
    .await
    .unwrap();
    assert_eq!(while_full, None, "answered beyond max_connections");
    assert!(after_close.starts_with("HTTP/1.1 200"), "{after_close:?}");

    handle.stop(true).await;
    running.await.unwrap().unwrap();
}
