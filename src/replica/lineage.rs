//! `{path}-lineage`: where a database stands in its replica's history -
//! the last slot it knows to be its own history (shipped by it, or
//! applied from the store as a follower), whether it writes or follows,
//! and the replica's URL. It is what tells an old writer that came back
//! from one whose epoch still holds, and a follower that can go on from
//! one that would mix two histories.
//!
//! Two records of [`RECORD_BYTES`] at offsets 0 and `RECORD_BYTES`, each
//! with a generation and a CRC32C: a write goes to the older one, so a
//! torn write leaves the other whole, and the newer valid record is the
//! file's. Past them, the promote request another process leaves for
//! the one that follows (docs/FORMAT.md, byte by byte).

use std::path::{Path, PathBuf};

use super::object::DIGEST_BYTES;
use crate::error::{Error, Result};
use crate::format::crc32c;
use crate::storage::{OpenMode, Storage, StorageFile};
use crate::types::CommitSeq;

/// Suffix of the lineage file after the database path.
pub const LINEAGE_FILE_SUFFIX: &str = "-lineage";
/// "LCLINEAG" little-endian.
const RECORD_MAGIC: u64 = u64::from_le_bytes(*b"LCLINEAG");
/// "LCPROMOT" little-endian.
const REQUEST_MAGIC: u64 = u64::from_le_bytes(*b"LCPROMOT");
const LINEAGE_VERSION: u32 = 1;
/// One record's bytes (two of them, then the request).
pub const RECORD_BYTES: usize = 512;
const REQUEST_OFFSET: u64 = 2 * RECORD_BYTES as u64;
const REQUEST_BYTES: usize = 32;
/// Longest replica URL a record holds.
pub const URL_MAX_BYTES: usize = 368;
/// `slot` of a record made while the replica was empty.
pub const NO_SLOT: u64 = u64::MAX;

// Record fields (offsets).
const R_MAGIC: usize = 0;
const R_VERSION: usize = 8;
const R_ROLE: usize = 12;
const R_GENERATION: usize = 16;
const R_EPOCH: usize = 24;
const R_SLOT: usize = 32;
const R_SEQ: usize = 40;
const R_DIGEST: usize = 48;
const R_PENDING_SLOT: usize = 80;
const R_PENDING_DIGEST: usize = 88;
const R_OWNED_EPOCH: usize = 120;
const R_PROMOTES_SEEN: usize = 128;
const R_URL_LEN: usize = 136;
const R_URL: usize = 138;
const R_CRC: usize = RECORD_BYTES - 4;
const _: () = assert!(R_URL + URL_MAX_BYTES <= R_CRC);

/// Whether the database writes its replica or follows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// It ships: `epoch` is the epoch its fence won.
    Writer = 1,
    /// It applies what the store holds; local commits are refused.
    Follower = 2,
    /// A copy `restore` made: writable, and it may take the replica (a
    /// failover by hand) while it is at the replica's tip.
    Restored = 3,
}

/// One lineage record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lineage {
    pub role: Part,
    /// The epoch of the last slot.
    pub epoch: u64,
    /// The epoch whose fence this database won (0: none): its chunks in
    /// the store are this database's own. Kept when a writer becomes a
    /// follower, so that what it shipped is told from what it did not.
    pub owned_epoch: u64,
    /// The newest slot known to be this database's history
    /// ([`NO_SLOT`]: none, the replica was empty).
    pub slot: u64,
    /// The last commit through that slot.
    pub seq: CommitSeq,
    /// That slot's object digest.
    pub digest: [u8; DIGEST_BYTES],
    /// A fence about to be created at `slot + 1` with this digest
    /// ([`NO_SLOT`]: none): once the store holds it there, it is ours.
    pub pending_slot: u64,
    pub pending_digest: [u8; DIGEST_BYTES],
    /// Promote requests (see [`request_promote`]) the follower has seen.
    pub promotes_seen: u64,
    pub url: String,
}

impl Lineage {
    /// A record of `role` at `slot` (holding commits up to `seq`), with
    /// no fence pending.
    pub fn at(
        role: Part,
        url: &str,
        epoch: u64,
        slot: u64,
        seq: CommitSeq,
        digest: [u8; 32],
    ) -> Self {
        Lineage {
            role,
            epoch,
            owned_epoch: 0,
            slot,
            seq,
            digest,
            pending_slot: NO_SLOT,
            pending_digest: [0; DIGEST_BYTES],
            promotes_seen: 0,
            url: url.to_string(),
        }
    }
}

/// The lineage file of the database at `db_path`.
pub fn lineage_path(db_path: &Path) -> PathBuf {
    let mut p = db_path.as_os_str().to_owned();
    p.push(LINEAGE_FILE_SUFFIX);
    PathBuf::from(p)
}

fn encode(l: &Lineage, generation: u64) -> Result<[u8; RECORD_BYTES]> {
    if l.url.len() > URL_MAX_BYTES {
        return Err(Error::invalid(format!(
            "replica URL of {} bytes: at most {URL_MAX_BYTES} are kept in {LINEAGE_FILE_SUFFIX}",
            l.url.len()
        )));
    }
    let mut b = [0u8; RECORD_BYTES];
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(R_MAGIC, &RECORD_MAGIC.to_le_bytes());
    put(R_VERSION, &LINEAGE_VERSION.to_le_bytes());
    put(R_ROLE, &[l.role as u8]);
    put(R_GENERATION, &generation.to_le_bytes());
    put(R_EPOCH, &l.epoch.to_le_bytes());
    put(R_SLOT, &l.slot.to_le_bytes());
    put(R_SEQ, &l.seq.to_le_bytes());
    put(R_DIGEST, &l.digest);
    put(R_PENDING_SLOT, &l.pending_slot.to_le_bytes());
    put(R_PENDING_DIGEST, &l.pending_digest);
    put(R_OWNED_EPOCH, &l.owned_epoch.to_le_bytes());
    put(R_PROMOTES_SEEN, &l.promotes_seen.to_le_bytes());
    put(R_URL_LEN, &(l.url.len() as u16).to_le_bytes());
    put(R_URL, l.url.as_bytes());
    let crc = crc32c(&b[..R_CRC]);
    b[R_CRC..].copy_from_slice(&crc.to_le_bytes());
    Ok(b)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn digest_at(b: &[u8], at: usize) -> [u8; DIGEST_BYTES] {
    b[at..at + DIGEST_BYTES].try_into().expect("digest bytes")
}

/// A record and its generation; None for a torn, blank or foreign one.
fn decode(b: &[u8]) -> Option<(Lineage, u64)> {
    let crc = u32::from_le_bytes(b[R_CRC..].try_into().ok()?);
    if u64_at(b, R_MAGIC) != RECORD_MAGIC || crc32c(&b[..R_CRC]) != crc {
        return None;
    }
    let version = u32::from_le_bytes(b[R_VERSION..R_VERSION + 4].try_into().ok()?);
    let role = match b[R_ROLE] {
        1 => Part::Writer,
        2 => Part::Follower,
        3 => Part::Restored,
        _ => return None,
    };
    let url_len = u16::from_le_bytes([b[R_URL_LEN], b[R_URL_LEN + 1]]) as usize;
    if version != LINEAGE_VERSION || url_len > URL_MAX_BYTES {
        return None;
    }
    let url = String::from_utf8(b[R_URL..R_URL + url_len].to_vec()).ok()?;
    let l = Lineage {
        role,
        epoch: u64_at(b, R_EPOCH),
        slot: u64_at(b, R_SLOT),
        seq: u64_at(b, R_SEQ),
        digest: digest_at(b, R_DIGEST),
        pending_slot: u64_at(b, R_PENDING_SLOT),
        pending_digest: digest_at(b, R_PENDING_DIGEST),
        owned_epoch: u64_at(b, R_OWNED_EPOCH),
        promotes_seen: u64_at(b, R_PROMOTES_SEEN),
        url,
    };
    Some((l, u64_at(b, R_GENERATION)))
}

/// The lineage file of one database, open.
pub struct LineageFile {
    path: PathBuf,
    file: Box<dyn StorageFile>,
}

impl LineageFile {
    /// Opens (`create`: creating) the lineage file of `db_path`; None when
    /// it does not exist and `create` is false.
    pub fn open(storage: &dyn Storage, db_path: &Path, create: bool) -> Result<Option<Self>> {
        let path = lineage_path(db_path);
        match storage.open(&path, OpenMode::ReadWrite) {
            Ok(file) => return Ok(Some(LineageFile { path, file })),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("open lineage file", &path, e)),
        }
        if !create {
            return Ok(None);
        }
        let file = storage
            .open(&path, OpenMode::Create)
            .map_err(|e| Error::io("create lineage file", &path, e))?;
        // Its records vouch for epochs: the name must outlive power loss.
        let dir = crate::storage::parent_dir(&path);
        storage
            .sync_dir(&dir)
            .map_err(|e| Error::io("sync directory", &dir, e))?;
        Ok(Some(LineageFile { path, file }))
    }

    fn records(&self) -> Result<[Option<(Lineage, u64)>; 2]> {
        let len = self
            .file
            .len()
            .map_err(|e| Error::io("stat lineage file", &self.path, e))?;
        let mut out = [None, None];
        for (i, rec) in out.iter_mut().enumerate() {
            let at = (i * RECORD_BYTES) as u64;
            if len < at + RECORD_BYTES as u64 {
                continue;
            }
            let mut b = [0u8; RECORD_BYTES];
            self.file
                .read_at(&mut b, at)
                .map_err(|e| Error::io("read lineage file", &self.path, e))?;
            *rec = decode(&b);
        }
        Ok(out)
    }

    /// The newest whole record; None when the file holds none.
    pub fn read(&self) -> Result<Option<Lineage>> {
        let [a, b] = self.records()?;
        Ok(match (a, b) {
            (Some(a), Some(b)) => Some(if a.1 >= b.1 { a.0 } else { b.0 }),
            (Some(x), None) | (None, Some(x)) => Some(x.0),
            (None, None) => None,
        })
    }

    /// Writes `l` over the older record; `sync`: durable before this
    /// returns (a record that must survive power loss: an epoch's fence
    /// about to be created).
    pub fn write(&self, l: &Lineage, sync: bool) -> Result<()> {
        let [a, b] = self.records()?;
        let (ga, gb) = (a.map_or(0, |x| x.1), b.map_or(0, |x| x.1));
        let (index, generation) = if ga <= gb { (0, gb + 1) } else { (1, ga + 1) };
        let bytes = encode(l, generation)?;
        self.file
            .write_at(&bytes, (index * RECORD_BYTES) as u64)
            .map_err(|e| Error::io("write lineage file", &self.path, e))?;
        if sync {
            self.file
                .sync_all()
                .map_err(|e| Error::io("sync lineage file", &self.path, e))?;
        }
        Ok(())
    }

    /// Promote requests made so far (0: none).
    pub fn promote_requests(&self) -> Result<u64> {
        let len = self
            .file
            .len()
            .map_err(|e| Error::io("stat lineage file", &self.path, e))?;
        if len < REQUEST_OFFSET + REQUEST_BYTES as u64 {
            return Ok(0);
        }
        let mut b = [0u8; REQUEST_BYTES];
        self.file
            .read_at(&mut b, REQUEST_OFFSET)
            .map_err(|e| Error::io("read lineage file", &self.path, e))?;
        let crc = u32::from_le_bytes(b[16..20].try_into().expect("4 bytes"));
        if u64_at(&b, 0) != REQUEST_MAGIC || crc32c(&b[..16]) != crc {
            return Ok(0);
        }
        Ok(u64_at(&b, 8))
    }

    /// Asks the process that follows this database to promote it; the
    /// number of the request.
    pub fn request_promote(&self) -> Result<u64> {
        let n = self.promote_requests()? + 1;
        let mut b = [0u8; REQUEST_BYTES];
        b[..8].copy_from_slice(&REQUEST_MAGIC.to_le_bytes());
        b[8..16].copy_from_slice(&n.to_le_bytes());
        let crc = crc32c(&b[..16]);
        b[16..20].copy_from_slice(&crc.to_le_bytes());
        self.file
            .write_at(&b, REQUEST_OFFSET)
            .map_err(|e| Error::io("write lineage file", &self.path, e))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lineage {
        Lineage {
            role: Part::Writer,
            epoch: 4,
            owned_epoch: 4,
            slot: 17,
            seq: 900,
            digest: [7; 32],
            pending_slot: 18,
            pending_digest: [9; 32],
            promotes_seen: 2,
            url: "s3://b/p?endpoint=http://127.0.0.1:9000".into(),
        }
    }

    #[test]
    fn a_record_round_trips_and_a_flipped_bit_is_refused() {
        let b = encode(&sample(), 5).unwrap();
        assert_eq!(decode(&b), Some((sample(), 5)));
        for at in [R_ROLE, R_SLOT, R_URL, R_CRC] {
            let mut bad = b;
            bad[at] ^= 1;
            assert_eq!(decode(&bad), None, "flip at {at}");
        }
        assert_eq!(decode(&[0u8; RECORD_BYTES]), None);
    }

    #[test]
    fn a_url_too_long_for_the_record_is_an_error() {
        let l = Lineage {
            url: "x".repeat(URL_MAX_BYTES + 1),
            ..sample()
        };
        assert!(encode(&l, 1).is_err());
        let l = Lineage {
            url: "x".repeat(URL_MAX_BYTES),
            ..sample()
        };
        assert_eq!(decode(&encode(&l, 1).unwrap()).unwrap().0, l);
    }
}
