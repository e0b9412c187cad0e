//! `alvares healthcheck`: the container's health probe.
//!
//! Sends `GET /healthz` to the service on this machine (127.0.0.1, the
//! port the service reads from `PORT`) over a plain TCP connection, so the
//! image needs no curl. Healthy means the status line says 200. Connecting
//! and reading share one deadline ([`TIMEOUT`]), so a hung service counts
//! as unhealthy instead of hanging the probe.
//!
//! Exit codes follow Docker's `HEALTHCHECK`: 0 healthy, 1 unhealthy (2 is
//! reserved there, so it is never used). The reason for 1 is one line on
//! stderr; it names the address and the status, never a configuration
//! value.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// How long connecting and reading the status line may take together.
pub const TIMEOUT: Duration = Duration::from_secs(3);

/// The most of the answer read while looking for the status line.
const STATUS_LINE_LIMIT: usize = 1024;

/// The command: probe the service on `port`, print why it is unhealthy.
pub fn run(port: u16) -> ExitCode {
    match check(port, TIMEOUT) {
        Ok(status_line) => {
            println!("alvares healthcheck: {status_line}");
            ExitCode::SUCCESS
        }
        Err(reason) => {
            eprintln!("alvares healthcheck: unhealthy: {reason}");
            ExitCode::from(1)
        }
    }
}

/// `Ok` with the status line when `GET /healthz` on 127.0.0.1:`port`
/// answers 200 within `timeout`; otherwise why not.
pub fn check(port: u16, timeout: Duration) -> Result<String, String> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let deadline = Deadline {
        at: Instant::now() + timeout,
        timeout,
        address,
    };
    let mut stream = TcpStream::connect_timeout(&address, timeout).map_err(|error| {
        if error.kind() == std::io::ErrorKind::TimedOut {
            deadline.passed()
        } else {
            format!("could not connect to {address}: {error}")
        }
    })?;
    let request = format!(
        "GET /healthz HTTP/1.1\r\nHost: {address}\r\nUser-Agent: alvares-healthcheck\r\n\
         Accept: application/json\r\nConnection: close\r\n\r\n"
    );
    stream
        .set_write_timeout(Some(deadline.remaining()?))
        .and_then(|()| stream.write_all(request.as_bytes()))
        .map_err(|error| format!("could not send to {address}: {error}"))?;
    let status_line = read_status_line(&mut stream, &deadline)?;
    match status_code(&status_line) {
        Some(200) => Ok(format!("GET /healthz on {address}: {status_line}")),
        Some(_) => Err(format!("GET /healthz on {address} answered {status_line}")),
        None => Err(format!(
            "GET /healthz on {address} did not answer HTTP: {status_line:?}"
        )),
    }
}

/// The one deadline that connecting, sending and reading share.
struct Deadline {
    at: Instant,
    timeout: Duration,
    address: SocketAddr,
}

impl Deadline {
    /// The time left, or the timeout error when none is.
    fn remaining(&self) -> Result<Duration, String> {
        let left = self.at.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(self.passed())
        } else {
            Ok(left)
        }
    }

    fn passed(&self) -> String {
        format!("no answer from {} within {:?}", self.address, self.timeout)
    }
}

/// Reads until the first line ends (or the connection closes), within the
/// deadline; the rest of the answer is not needed.
fn read_status_line(stream: &mut TcpStream, deadline: &Deadline) -> Result<String, String> {
    let address = deadline.address;
    let mut answer = Vec::with_capacity(256);
    let mut buffer = [0u8; 256];
    loop {
        if let Some(end) = answer.iter().position(|&b| b == b'\n') {
            answer.truncate(end);
            break;
        }
        if answer.len() >= STATUS_LINE_LIMIT {
            break;
        }
        stream
            .set_read_timeout(Some(deadline.remaining()?))
            .map_err(|error| format!("could not read from {address}: {error}"))?;
        match stream.read(&mut buffer) {
            Ok(0) if answer.is_empty() => {
                return Err(format!("{address} closed the connection without answering"));
            }
            Ok(0) => break,
            Ok(read) => answer.extend_from_slice(&buffer[..read]),
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(deadline.passed());
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(format!("could not read from {address}: {error}")),
        }
    }
    let line = String::from_utf8_lossy(&answer);
    Ok(line.trim_end().chars().take(120).collect())
}

/// `HTTP/1.1 200 OK` → 200.
fn status_code(status_line: &str) -> Option<u16> {
    let mut words = status_line.split_whitespace();
    let version = words.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = words.next()?;
    if code.len() != 3 {
        return None;
    }
    code.parse().ok()
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::thread;

    use super::*;

    /// A one-connection server that reads the request and answers `answer`
    /// (or nothing, holding the connection, when `None`).
    fn serve_once(answer: Option<&'static str>) -> (u16, thread::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut request = Vec::new();
            let mut buffer = [0u8; 512];
            while !request.ends_with(b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(read) => request.extend_from_slice(&buffer[..read]),
                }
            }
            match answer {
                Some(answer) => stream.write_all(answer.as_bytes()).unwrap(),
                // Hold the connection open past the client's deadline.
                None => {
                    let _ = stream.read(&mut buffer);
                }
            }
            String::from_utf8(request).unwrap()
        });
        (port, handle)
    }

    #[test]
    fn a_200_is_healthy_and_the_request_is_get_healthz_with_close() {
        let (port, server) = serve_once(Some(
            "HTTP/1.1 200 OK\r\ncontent-length: 15\r\n\r\n{\"status\":\"ok\"}",
        ));
        let line = check(port, Duration::from_secs(3)).unwrap();
        assert!(line.ends_with("HTTP/1.1 200 OK"), "{line}");
        let request = server.join().unwrap();
        assert!(
            request.starts_with("GET /healthz HTTP/1.1\r\n"),
            "{request}"
        );
        assert!(request.contains("\r\nConnection: close\r\n"), "{request}");
    }

    #[test]
    fn another_status_is_unhealthy_and_says_which() {
        let (port, server) = serve_once(Some(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n",
        ));
        let reason = check(port, Duration::from_secs(3)).unwrap_err();
        assert!(reason.contains("503 Service Unavailable"), "{reason}");
        server.join().unwrap();
    }

    #[test]
    fn a_status_line_without_http_is_unhealthy() {
        let (port, server) = serve_once(Some("200 OK\r\n\r\n"));
        let reason = check(port, Duration::from_secs(3)).unwrap_err();
        assert!(reason.contains("did not answer HTTP"), "{reason}");
        server.join().unwrap();
    }

    #[test]
    fn nothing_listening_is_unhealthy() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let reason = check(port, Duration::from_secs(3)).unwrap_err();
        assert!(
            reason.starts_with("could not connect to 127.0.0.1:"),
            "{reason}"
        );
    }

    #[test]
    fn a_service_that_never_answers_times_out() {
        let (port, server) = serve_once(None);
        let started = Instant::now();
        let reason = check(port, Duration::from_millis(300)).unwrap_err();
        assert!(reason.starts_with("no answer from 127.0.0.1:"), "{reason}");
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        server.join().unwrap();
    }

    #[test]
    fn status_codes_are_read_from_the_status_line() {
        assert_eq!(status_code("HTTP/1.1 200 OK"), Some(200));
        assert_eq!(status_code("HTTP/1.0 500"), Some(500));
        assert_eq!(status_code("HTTP/1.1 2000 OK"), None);
        assert_eq!(status_code("SSH-2.0-OpenSSH"), None);
        assert_eq!(status_code(""), None);
    }
}
