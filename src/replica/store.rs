//! The object store behind a replica, with blocking calls.
//!
//! Async stays in here: each `Store` owns a current-thread runtime and
//! blocks on it, so the shipper thread (or the caller of restore) is the
//! only thread that ever runs a future, and the engine and the C ABI see
//! plain functions.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{
    ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, RetryConfig,
};

use super::url::{ReplicaUrl, Target};
use crate::error::{Error, Result};

/// One request's bound: a stopped server shows up as an error (and
/// backoff) rather than a shipper hung for ever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Largest object read back: a chunk is at most about 16 MiB of commits
/// plus framing; anything bigger is not ours.
pub const OBJECT_READ_MAX_BYTES: u64 = 256 << 20;

/// What a create-only put found.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    /// The object is ours now.
    Created,
    /// Something already holds the name.
    Taken,
}

/// One object a listing found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    /// Its name under the replica's prefix.
    pub name: String,
    pub size: u64,
    /// When the store last wrote it (ms since the Unix epoch).
    pub modified_ms: u64,
}

/// A replica's object store and the prefix its names live under.
pub struct Store {
    rt: tokio::runtime::Runtime,
    inner: Arc<dyn ObjectStore>,
    prefix: String,
    pub url: ReplicaUrl,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Opens the store a URL names. Credentials come from the `AWS_*`
    /// environment variables (`AmazonS3Builder::from_env`).
    pub fn open(url: &str) -> Result<Store> {
        let parsed = ReplicaUrl::parse(url)?;
        let store_err =
            |e: object_store::Error| Error::InvalidArgument(format!("replica {url:?}: {e}"));
        let inner: Arc<dyn ObjectStore> = match &parsed.target {
            Target::File { dir } => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::io("create replica directory", dir.as_ref(), e))?;
                Arc::new(LocalFileSystem::new_with_prefix(dir).map_err(store_err)?)
            }
            Target::S3 {
                bucket,
                endpoint,
                region,
            } => {
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_client_options(
                        ClientOptions::new()
                            .with_timeout(REQUEST_TIMEOUT)
                            .with_connect_timeout(CONNECT_TIMEOUT)
                            .with_allow_http(true),
                    )
                    // Retries are the shipper's (it shows them as backoff);
                    // a hidden retry of a create would also turn our own
                    // lost response into a taken slot.
                    .with_retry(RetryConfig {
                        max_retries: 0,
                        ..RetryConfig::default()
                    });
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e);
                }
                if let Some(r) = region {
                    b = b.with_region(r);
                }
                Arc::new(b.build().map_err(store_err)?)
            }
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Internal(format!("replica runtime: {e}")))?;
        Ok(Store {
            rt,
            inner,
            prefix: parsed.prefix.clone(),
            url: parsed,
        })
    }

    fn path(&self, name: &str) -> ObjPath {
        if self.prefix.is_empty() {
            ObjPath::from(name)
        } else {
            ObjPath::from(format!("{}/{name}", self.prefix))
        }
    }

    fn err(&self, op: &str, name: &str, e: &object_store::Error) -> Error {
        Error::Io {
            context: format!("replica {op} {}", self.path(name)),
            source: std::io::Error::other(e.to_string()),
        }
    }

    /// Creates `name` holding `bytes`, only if nothing holds it yet
    /// (`If-None-Match: *` on S3).
    pub fn create(&self, name: &str, bytes: Vec<u8>) -> Result<Created> {
        let path = self.path(name);
        let opts = PutOptions {
            mode: PutMode::Create,
            ..PutOptions::default()
        };
        let r = self
            .rt
            .block_on(self.inner.put_opts(&path, PutPayload::from(bytes), opts));
        match r {
            Ok(_) => Ok(Created::Created),
            Err(
                object_store::Error::AlreadyExists { .. }
                | object_store::Error::Precondition { .. },
            ) => Ok(Created::Taken),
            Err(e) => Err(self.err("create", name, &e)),
        }
    }

    /// The object `name`, or None when there is none.
    pub fn get(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path(name);
        self.rt.block_on(async {
            let r = match self.inner.get(&path).await {
                Ok(r) => r,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(self.err("get", name, &e)),
            };
            if r.meta.size > OBJECT_READ_MAX_BYTES {
                return Err(Error::corrupt(format!(
                    "replica object {path} is {} bytes, more than any libcommit object",
                    r.meta.size
                )));
            }
            let b = r.bytes().await.map_err(|e| self.err("get", name, &e))?;
            Ok(Some(b.to_vec()))
        })
    }

    /// Names (relative to the prefix) and sizes of the objects under
    /// `dir`, sorted by name.
    pub fn list(&self, dir: &str) -> Result<Vec<(String, u64)>> {
        Ok(self
            .list_timed(dir)?
            .into_iter()
            .map(|o| (o.name, o.size))
            .collect())
    }

    /// The objects under `dir` with their sizes and modification times,
    /// sorted by name.
    pub fn list_timed(&self, dir: &str) -> Result<Vec<Listed>> {
        let path = self.path(dir);
        let strip = if self.prefix.is_empty() {
            0
        } else {
            self.prefix.len() + 1
        };
        let mut out = self.rt.block_on(async {
            let mut s = self.inner.list(Some(&path));
            let mut out = Vec::new();
            while let Some(m) = s.next().await {
                let m = m.map_err(|e| self.err("list", dir, &e))?;
                let full = m.location.to_string();
                out.push(Listed {
                    name: full.get(strip..).unwrap_or("").to_string(),
                    size: m.size,
                    modified_ms: u64::try_from(m.last_modified.timestamp_millis()).unwrap_or(0),
                });
            }
            Ok::<_, Error>(out)
        })?;
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Uploads `name` in parts (multipart on S3), each part filled by
    /// `fill` (which returns how many bytes it wrote, 0 at the end). The
    /// upload may overwrite: callers give it a name no one else uses. A
    /// failed upload is aborted, so it leaves no parts behind.
    pub fn upload(
        &self,
        name: &str,
        part_bytes: usize,
        mut fill: impl FnMut(&mut [u8]) -> Result<usize>,
    ) -> Result<u64> {
        let path = self.path(name);
        self.rt.block_on(async {
            let mut up = self
                .inner
                .put_multipart(&path)
                .await
                .map_err(|e| self.err("start upload", name, &e))?;
            let mut total = 0u64;
            let sent: Result<()> = async {
                loop {
                    let mut buf = vec![0u8; part_bytes];
                    let n = fill(&mut buf)?;
                    if n == 0 {
                        return Ok(());
                    }
                    buf.truncate(n);
                    total += n as u64;
                    up.put_part(PutPayload::from(buf))
                        .await
                        .map_err(|e| self.err("upload part of", name, &e))?;
                }
            }
            .await;
            let done = match sent {
                Ok(()) => up
                    .complete()
                    .await
                    .map(|_| ())
                    .map_err(|e| self.err("complete upload", name, &e)),
                Err(e) => Err(e),
            };
            if let Err(e) = done {
                // The parts cost storage until aborted; the error that
                // stopped the upload is the one to report.
                let _ = up.abort().await;
                return Err(e);
            }
            Ok(total)
        })
    }

    /// Streams the object `name` to `sink` piece by piece; its size, or
    /// None when there is no such object.
    pub fn download(
        &self,
        name: &str,
        mut sink: impl FnMut(&[u8]) -> Result<()>,
    ) -> Result<Option<u64>> {
        let path = self.path(name);
        self.rt.block_on(async {
            let r = match self.inner.get(&path).await {
                Ok(r) => r,
                Err(object_store::Error::NotFound { .. }) => return Ok(None),
                Err(e) => return Err(self.err("get", name, &e)),
            };
            let mut s = r.into_stream();
            let mut total = 0u64;
            while let Some(piece) = s.next().await {
                let piece = piece.map_err(|e| self.err("get", name, &e))?;
                total += piece.len() as u64;
                sink(&piece)?;
            }
            Ok(Some(total))
        })
    }

    pub fn delete(&self, name: &str) -> Result<()> {
        let path = self.path(name);
        match self.rt.block_on(self.inner.delete(&path)) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.err("delete", name, &e)),
        }
    }
}

impl Store {
    /// `racers` creates of one name at once, each with its own body
    /// (`probe::racer_body`); what each found.
    pub fn create_racing(&self, name: &str, racers: usize) -> Result<Vec<Created>> {
        let path = self.path(name);
        let puts = (0..racers).map(|i| {
            let opts = PutOptions {
                mode: PutMode::Create,
                ..PutOptions::default()
            };
            let body = PutPayload::from(racer_body(i));
            self.inner.put_opts(&path, body, opts)
        });
        let results = self.rt.block_on(futures::future::join_all(puts));
        results
            .into_iter()
            .map(|r| match r {
                Ok(_) => Ok(Created::Created),
                Err(
                    object_store::Error::AlreadyExists { .. }
                    | object_store::Error::Precondition { .. },
                ) => Ok(Created::Taken),
                Err(e) => Err(self.err("create", name, &e)),
            })
            .collect()
    }
}

/// What probe racer `i` writes: distinct, so the probe sees whose body
/// stuck.
pub fn racer_body(i: usize) -> Vec<u8> {
    format!("libcommit probe racer {i}").into_bytes()
}
