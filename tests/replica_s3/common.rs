//! What the S3 suites share: the servers `make replica-test` started
//! (named by environment variables), replica URLs on them, and the page
//! model restores are checked against.

// The benchmark binary uses only the servers.
#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use libcommit::{Database, Options};

/// A server from the environment: its endpoint, bucket and pid.
#[derive(Clone, Debug)]
pub struct Server {
    pub endpoint: String,
    pub bucket: String,
}

impl Server {
    /// The server `make replica-test` named in `{var}_ENDPOINT` and
    /// `{var}_BUCKET`; None (after printing why the test skips) without.
    pub fn from_env(var: &str, test: &str) -> Option<Server> {
        match (
            std::env::var(format!("{var}_ENDPOINT")),
            std::env::var(format!("{var}_BUCKET")),
        ) {
            (Ok(endpoint), Ok(bucket)) if !endpoint.is_empty() => Some(Server { endpoint, bucket }),
            _ => {
                let why = std::env::var(format!("{var}_SKIP")).unwrap_or_else(|_| {
                    format!("{var}_ENDPOINT is not set (run make replica-test)")
                });
                // Straight to stderr: the harness hides a passing test's
                // println!, and a skip must never pass unseen.
                let _ = writeln!(std::io::stderr(), "SKIP {test}: {why}");
                None
            }
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.endpoint
            .trim_start_matches("http://")
            .parse()
            .expect("endpoint is http://127.0.0.1:PORT")
    }

    /// A fresh prefix on this server, through `endpoint` (a proxy's, or
    /// the server's own), with extra query parameters.
    pub fn url_via(&self, endpoint: &str, name: &str, extra: &str) -> String {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        format!(
            "s3://{}/{name}-{}-{nanos:x}?endpoint={endpoint}&region=us-east-1{extra}",
            self.bucket,
            std::process::id()
        )
    }

    pub fn url(&self, name: &str) -> String {
        self.url_via(&self.endpoint, name, "")
    }
}

pub fn open(path: &Path, url: &str) -> Database {
    let opts = Options {
        replica: Some(url.to_string()),
        ..Options::default()
    };
    Database::open(path, opts).unwrap()
}

/// Polls `cond` every 10 ms until it holds; panics with `what` (and the
/// last value `show` gives) past `limit`. Returns the time it took.
pub fn poll_until<T: std::fmt::Debug>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> T,
    cond: impl Fn(&T) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let v = probe();
        if cond(&v) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{what}: not within {limit:?}; last {v:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
