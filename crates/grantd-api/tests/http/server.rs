//! `server()` on a real socket: it serves, refuses an oversized declared body before the body
//! is sent, caps a chunked body while streaming, and stops gracefully.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

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
