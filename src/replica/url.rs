//! Replica URLs: `file:///dir/prefix` and
//! `s3://bucket/prefix?endpoint=...&region=...`.
//!
//! Parsed by hand: the grammar is two schemes and a few query keys, and a
//! URL crate would be one more dependency for the engine.

use crate::error::{Error, Result};

/// Where a replica lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A directory on a local (or mounted) file system.
    File { dir: String },
    /// An S3-compatible bucket.
    S3 {
        bucket: String,
        endpoint: Option<String>,
        region: Option<String>,
    },
}

/// A parsed replica URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaUrl {
    pub target: Target,
    /// Object names start with this (no leading or trailing '/'; may be
    /// empty for S3, where the bucket alone is the replica).
    pub prefix: String,
    /// `probe=skip`: the user vouches for create-only semantics of a store
    /// the start-up probe would refuse.
    pub skip_probe: bool,
}

/// Longest URL accepted: a bound on what is parsed and kept.
pub const REPLICA_URL_MAX_BYTES: usize = 4096;

/// The replica as messages name it: scheme, bucket or directory, and
/// prefix (the query, endpoint included, left out).
impl std::fmt::Display for ReplicaUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Target::File { dir } => write!(f, "file://{dir}"),
            Target::S3 { bucket, .. } if self.prefix.is_empty() => write!(f, "s3://{bucket}"),
            Target::S3 { bucket, .. } => write!(f, "s3://{bucket}/{}", self.prefix),
        }
    }
}

impl ReplicaUrl {
    pub fn parse(url: &str) -> Result<ReplicaUrl> {
        let bad = |why: &str| Error::InvalidArgument(format!("replica URL {url:?}: {why}"));
        if url.len() > REPLICA_URL_MAX_BYTES {
            return Err(bad("longer than 4096 bytes"));
        }
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected file:///dir/prefix or s3://bucket/prefix"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut endpoint = None;
        let mut region = None;
        let mut skip_probe = false;
        for kv in query.split('&').filter(|kv| !kv.is_empty()) {
            match kv.split_once('=') {
                Some(("endpoint", v)) if !v.is_empty() => endpoint = Some(v.to_string()),
                Some(("region", v)) if !v.is_empty() => region = Some(v.to_string()),
                Some(("probe", "skip")) => skip_probe = true,
                Some(("probe", "check")) => skip_probe = false,
                _ => return Err(bad(&format!("unknown or empty query parameter {kv:?}"))),
            }
        }
        let target = match scheme {
            "file" => {
                if endpoint.is_some() || region.is_some() {
                    return Err(bad("endpoint and region apply to s3:// only"));
                }
                if !path.starts_with('/') {
                    return Err(bad("a file URL needs an absolute path: file:///dir/prefix"));
                }
                let dir = path.trim_end_matches('/');
                if dir.is_empty() || dir.split('/').any(|c| c == "..") {
                    return Err(bad("the path must name a directory below / without '..'"));
                }
                Target::File {
                    dir: dir.to_string(),
                }
            }
            "s3" => {
                let (bucket, _) = path.split_once('/').unwrap_or((path, ""));
                if bucket.is_empty() {
                    return Err(bad("no bucket name"));
                }
                Target::S3 {
                    bucket: bucket.to_string(),
                    endpoint,
                    region,
                }
            }
            _ => return Err(bad("the scheme must be file or s3")),
        };
        let prefix = match &target {
            Target::File { .. } => String::new(),
            Target::S3 { bucket, .. } => path[bucket.len()..].trim_matches('/').to_string(),
        };
        if prefix.split('/').any(|c| c == "." || c == "..") {
            return Err(bad("the prefix must not contain '.' or '..'"));
        }
        Ok(ReplicaUrl {
            target,
            prefix,
            skip_probe,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_schemes_and_refuses_the_rest() {
        let f = ReplicaUrl::parse("file:///tmp/r/db1/").unwrap();
        assert_eq!(
            f.target,
            Target::File {
                dir: "/tmp/r/db1".into()
            }
        );
        let s = ReplicaUrl::parse("s3://b/x/y?endpoint=http://127.0.0.1:9000&region=eu&probe=skip")
            .unwrap();
        assert_eq!(s.prefix, "x/y");
        assert!(s.skip_probe);
        assert_eq!(
            s.target,
            Target::S3 {
                bucket: "b".into(),
                endpoint: Some("http://127.0.0.1:9000".into()),
                region: Some("eu".into())
            }
        );
        for bad in [
            "",
            "http://x",
            "file://rel/dir",
            "file:///",
            "file:///a/../b",
            "s3:///p",
            "s3://b/p?foo=1",
            "s3://b/p?endpoint=",
            "file:///a?region=x",
        ] {
            assert!(ReplicaUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
