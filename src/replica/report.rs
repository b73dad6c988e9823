//! The shipper's status as a file beside the database, `{path}-replica`,
//! so that other processes (`lcctl replica status`) see what the one
//! that ships sees. Text, one `name value` line per field, replaced
//! whole (written beside, then renamed). Never synced: it describes, it
//! vouches for nothing, and a lost update is corrected by the next.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::status::{ReplicaStatus, State, PUT_LATENCY_BUCKETS_MS};
use crate::error::{Error, Result};
use crate::storage::{OpenMode, Storage};

/// Suffix of the status file after the database path.
pub const STATUS_FILE_SUFFIX: &str = "-replica";
const TMP_SUFFIX: &str = "-tmp";
/// Largest status file read: its fields and one error message.
const STATUS_FILE_MAX_BYTES: u64 = 64 << 10;
/// Every state, to read a name back.
const STATES: [State; 8] = [
    State::Off,
    State::Shipping,
    State::Backoff,
    State::Fenced,
    State::NeedsSnapshot,
    State::Standby,
    State::Following,
    State::Forked,
];

/// The status file of the database at `db_path`.
pub fn status_path(db_path: &Path) -> PathBuf {
    let mut p = db_path.as_os_str().to_owned();
    p.push(STATUS_FILE_SUFFIX);
    PathBuf::from(p)
}

/// The status as the file holds it, written at `updated_ms`.
fn encode(s: &ReplicaStatus, updated_ms: u64) -> String {
    let mut out = format!(
        "updated_ms {updated_ms}\nstate {}\nepoch {}\nshipped_seq {}\nlag_commits {}\n\
         lag_bytes {}\noldest_unshipped_ms {}\nchunks_shipped {}\nsnapshot_seq {}\n\
         snapshots_made {}\napplied_seq {}\nbehind_commits {}\nbehind_ms {}\napply_lag_ms {}\n",
        s.state.as_str(),
        s.epoch,
        s.shipped_seq,
        s.lag_commits,
        s.lag_bytes,
        s.oldest_unshipped_ms,
        s.chunks_shipped,
        s.snapshot_seq,
        s.snapshots_made,
        s.applied_seq,
        s.behind_commits,
        s.behind_ms,
        s.apply_lag_ms,
    );
    for (i, n) in s.put_latency_counts.iter().enumerate() {
        let _ = writeln!(out, "put_latency_{i} {n}");
    }
    // Last, and to the end of the file: an error message may hold
    // anything but a newline.
    let _ = writeln!(out, "last_error {}", s.last_error.replace('\n', " "));
    out
}

fn decode(path: &Path, text: &str) -> Result<(ReplicaStatus, u64)> {
    let bad = |why: String| Error::corrupt(format!("{}: {why}", path.display()));
    let mut s = ReplicaStatus::default();
    let mut updated = 0;
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let num = || {
            value
                .parse::<u64>()
                .map_err(|_| bad(format!("{key}: {value:?} is not a number")))
        };
        match key {
            "updated_ms" => updated = num()?,
            "state" => {
                s.state = STATES
                    .into_iter()
                    .find(|st| st.as_str() == value)
                    .ok_or_else(|| bad(format!("unknown state {value:?}")))?;
            }
            "epoch" => s.epoch = num()?,
            "shipped_seq" => s.shipped_seq = num()?,
            "lag_commits" => s.lag_commits = num()?,
            "lag_bytes" => s.lag_bytes = num()?,
            "oldest_unshipped_ms" => s.oldest_unshipped_ms = num()?,
            "chunks_shipped" => s.chunks_shipped = num()?,
            "snapshot_seq" => s.snapshot_seq = num()?,
            "snapshots_made" => s.snapshots_made = num()?,
            "applied_seq" => s.applied_seq = num()?,
            "behind_commits" => s.behind_commits = num()?,
            "behind_ms" => s.behind_ms = num()?,
            "apply_lag_ms" => s.apply_lag_ms = num()?,
            "last_error" => s.last_error = value.to_string(),
            k => match k
                .strip_prefix("put_latency_")
                .and_then(|i| i.parse::<usize>().ok())
            {
                Some(i) if i <= PUT_LATENCY_BUCKETS_MS.len() => s.put_latency_counts[i] = num()?,
                // Fields of a newer libcommit: skipped.
                _ => {}
            },
        }
    }
    Ok((s, updated))
}

/// Replaces the status file of `db_path`.
pub fn write_status(
    storage: &dyn Storage,
    db_path: &Path,
    s: &ReplicaStatus,
    now_ms: u64,
) -> Result<()> {
    let path = status_path(db_path);
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(TMP_SUFFIX);
    let tmp = PathBuf::from(tmp);
    let io = |what: &str, p: &Path, e| Error::io(what, p, e);
    let f = storage
        .open(&tmp, OpenMode::Create)
        .map_err(|e| io("create replica status", &tmp, e))?;
    let bytes = encode(s, now_ms).into_bytes();
    f.set_len(0)
        .and_then(|()| f.write_at(&bytes, 0))
        .map_err(|e| io("write replica status", &tmp, e))?;
    drop(f);
    storage
        .rename(&tmp, &path)
        .map_err(|e| io("rename replica status into", &path, e))
}

/// The status file of `db_path` and when it was written; None when there
/// is none (no shipper ever ran there).
pub fn read_status(storage: &dyn Storage, db_path: &Path) -> Result<Option<(ReplicaStatus, u64)>> {
    let path = status_path(db_path);
    let f = match storage.open(&path, OpenMode::ReadOnly) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io("open replica status", &path, e)),
    };
    let len = f
        .len()
        .map_err(|e| Error::io("stat replica status", &path, e))?
        .min(STATUS_FILE_MAX_BYTES);
    let mut buf = vec![0u8; len as usize];
    f.read_at(&mut buf, 0)
        .map_err(|e| Error::io("read replica status", &path, e))?;
    decode(&path, &String::from_utf8_lossy(&buf)).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_file_round_trips() {
        let s = ReplicaStatus {
            state: State::NeedsSnapshot,
            epoch: 3,
            shipped_seq: 99,
            lag_commits: 4,
            lag_bytes: 5000,
            oldest_unshipped_ms: 12,
            last_error: "a b\nc".into(),
            chunks_shipped: 7,
            snapshot_seq: 50,
            snapshots_made: 2,
            put_latency_counts: [1, 2, 3, 4, 5, 6, 7, 8, 9],
            applied_seq: 98,
            behind_commits: 3,
            behind_ms: 40,
            apply_lag_ms: 250,
        };
        let (back, at) = decode(Path::new("x"), &encode(&s, 1234)).unwrap();
        assert_eq!(at, 1234);
        assert_eq!(
            back,
            ReplicaStatus {
                last_error: "a b c".into(),
                ..s
            }
        );
        assert!(decode(Path::new("x"), "state sideways\n").is_err());
    }
}
