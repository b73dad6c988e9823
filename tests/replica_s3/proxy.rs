//! A loopback HTTP proxy in front of a real S3 server, for the faults a
//! server will not make on request: a store that ignores conditions, a
//! response lost after the server acted, a server killed mid-upload.
//!
//! One request per client connection (the answer carries `Connection:
//! close`), so a fault never leaves a half-used connection in the
//! client's pool. Only what the test names is altered; the signature
//! stays valid because neither `Connection` nor the request line changes.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the proxy does to the requests it passes on.
#[derive(Clone, Debug)]
pub enum Fault {
    /// Removes `If-None-Match` from every request: a store that ignores
    /// conditional puts.
    StripIfNoneMatch,
    /// Of the PUTs whose path contains `path`, lets the first `skip`
    /// through, then forwards every `every`-th one but drops the
    /// connection instead of answering, `max` times.
    LoseResponses {
        path: String,
        skip: u64,
        every: u64,
        max: u64,
    },
    /// The first PUT whose path contains `path` and whose body is at least
    /// `min_bytes`: half its body is sent, then the server process (pid in
    /// `pid_file`) is killed with SIGKILL.
    KillMidPut {
        path: String,
        min_bytes: usize,
        pid_file: String,
    },
}

#[derive(Debug, Default)]
pub struct Counts {
    pub requests: AtomicU64,
    pub stripped: AtomicU64,
    pub lost: AtomicU64,
    pub killed: AtomicU64,
    matching_puts: AtomicU64,
}

pub struct Proxy {
    pub addr: SocketAddr,
    pub counts: Arc<Counts>,
    stop: Arc<AtomicBool>,
}

const HEAD_MAX_BYTES: usize = 64 << 10;
const IO_TIMEOUT: Duration = Duration::from_secs(30);

impl Proxy {
    pub fn start(upstream: SocketAddr, fault: Fault) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let counts = Arc::new(Counts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (Arc::clone(&counts), Arc::clone(&stop));
        let fault = Arc::new(Mutex::new(fault));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::Acquire) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (c, f) = (Arc::clone(&c), Arc::clone(&fault));
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream, &f, &c);
                });
            }
        });
        Proxy { addr, counts, stop }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wakes the accept loop so it sees the stop.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Reads up to the blank line ending an HTTP head; the head and whatever
/// of the body came with it. None at a clean end of stream.
fn read_head(s: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let rest = buf.split_off(i + 4);
            return Ok(Some((String::from_utf8_lossy(&buf).into_owned(), rest)));
        }
        if buf.len() > HEAD_MAX_BYTES {
            return Err(std::io::Error::other("HTTP head too long"));
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn header<'a>(lines: &'a [&'a str], name: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// The head with `drop` headers removed and `Connection: close` added.
fn rewrite(lines: &[&str], drop: &[&str]) -> Vec<u8> {
    let mut out = String::new();
    for l in lines {
        let name = l.split_once(':').map_or("", |(k, _)| k.trim());
        if drop.iter().any(|d| name.eq_ignore_ascii_case(d)) {
            continue;
        }
        out.push_str(l);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    out.into_bytes()
}

enum Act {
    Pass,
    Lose,
    Kill(String),
}

fn decide(fault: &Fault, method: &str, path: &str, body_len: usize, c: &Counts) -> Act {
    match fault {
        Fault::LoseResponses {
            path: p,
            skip,
            every,
            max,
        } if method == "PUT" && path.contains(p.as_str()) => {
            let n = c.matching_puts.fetch_add(1, Ordering::AcqRel) + 1;
            let lost = c.lost.load(Ordering::Acquire);
            if n > *skip && (n - skip) % every == 0 && lost < *max {
                Act::Lose
            } else {
                Act::Pass
            }
        }
        Fault::KillMidPut {
            path: p,
            min_bytes,
            pid_file,
        } if method == "PUT" && path.contains(p.as_str()) && body_len >= *min_bytes => {
            if c.killed.load(Ordering::Acquire) == 0 {
                Act::Kill(pid_file.clone())
            } else {
                Act::Pass
            }
        }
        _ => Act::Pass,
    }
}

fn serve(
    mut client: TcpStream,
    upstream: SocketAddr,
    fault: &Mutex<Fault>,
    c: &Counts,
) -> std::io::Result<()> {
    client.set_read_timeout(Some(IO_TIMEOUT))?;
    let Some((head, mut body)) = read_head(&mut client)? else {
        return Ok(());
    };
    c.requests.fetch_add(1, Ordering::AcqRel);
    let lines: Vec<&str> = head.trim_end().split("\r\n").collect();
    let mut words = lines[0].split(' ');
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let len: usize = header(&lines, "content-length").map_or(0, |v| v.parse().unwrap_or(0));
    while body.len() < len {
        let mut chunk = vec![0u8; (len - body.len()).min(1 << 20)];
        let n = client.read(&mut chunk)?;
        if n == 0 {
            return Ok(());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let f = fault.lock().unwrap().clone();
    let mut drop = vec!["connection"];
    if matches!(f, Fault::StripIfNoneMatch) && header(&lines, "if-none-match").is_some() {
        c.stripped.fetch_add(1, Ordering::AcqRel);
        drop.push("if-none-match");
    }
    let act = decide(&f, method, path, len, c);
    let mut up = TcpStream::connect(upstream)?;
    up.set_read_timeout(Some(IO_TIMEOUT))?;
    up.write_all(&rewrite(&lines, &drop))?;
    if let Act::Kill(pid_file) = &act {
        up.write_all(&body[..len / 2])?;
        up.flush()?;
        let pid: i32 = std::fs::read_to_string(pid_file)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // SAFETY: kill(2) with a pid read from the server's pid file.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
        c.killed.fetch_add(1, Ordering::AcqRel);
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    up.write_all(&body)?;
    let mut answer = Vec::new();
    let _ = up.read_to_end(&mut answer);
    if let Act::Lose = act {
        c.lost.fetch_add(1, Ordering::AcqRel);
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    client.write_all(&answer_with_close(&answer))?;
    let _ = client.shutdown(Shutdown::Write);
    Ok(())
}

/// The server's answer with its own `Connection` header replaced by
/// `Connection: close`, so the client does not pool this connection.
fn answer_with_close(answer: &[u8]) -> Vec<u8> {
    let Some(i) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return answer.to_vec();
    };
    let head = String::from_utf8_lossy(&answer[..i]).into_owned();
    let lines: Vec<&str> = head.split("\r\n").collect();
    let mut out = rewrite(&lines, &["connection"]);
    out.extend_from_slice(&answer[i + 4..]);
    out
}
