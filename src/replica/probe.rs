//! The start-up probe: does this store really refuse a second create, and
//! let exactly one of several racing creates win? Several S3 look-alikes
//! accept `If-None-Match: *` and overwrite anyway; on such a store
//! fencing would be a fiction, so it is refused unless the URL says
//! `probe=skip`.

use std::time::{SystemTime, UNIX_EPOCH};

use super::store::{racer_body, Created, Store};
use crate::error::{Error, Result};

/// Racing creates the probe sends at once.
pub const PROBE_RACERS: usize = 4;

/// The probe as `open` runs it: a store that fails it (or a URL the
/// client refuses) fails the open, so a misconfigured replica is an error
/// the user sees rather than a status line. A store that cannot be
/// reached is left to the shipper, which retries: commits never wait for
/// the store. True when the probe passed (or the URL skips it).
pub fn probe_at_open(url: &str) -> Result<bool> {
    let store = Store::open(url)?;
    match probe(&store) {
        Ok(()) => Ok(true),
        Err(e @ Error::InvalidArgument(_)) => Err(e),
        Err(_) => Ok(false),
    }
}

pub fn probe(store: &Store) -> Result<()> {
    if store.url.skip_probe {
        return Ok(());
    }
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        ^ u128::from(std::process::id()) << 64;
    let name = format!("probe/{nonce:032x}");
    let refuse = |why: String| {
        Error::InvalidArgument(format!(
            "replica {}: the store {why}; fencing needs create-only puts \
             (add probe=skip to the URL to use it anyway)",
            store.url
        ))
    };
    let results = store.create_racing(&name, PROBE_RACERS)?;
    let winners: Vec<usize> = (0..PROBE_RACERS)
        .filter(|&i| results[i] == Created::Created)
        .collect();
    let held = store.get(&name)?;
    let again = store.create(&name, b"second".to_vec())?;
    let after = store.get(&name)?;
    let _ = store.delete(&name);
    if winners.len() != 1 {
        return Err(refuse(format!(
            "let {} of {PROBE_RACERS} racing creates of one name succeed",
            winners.len()
        )));
    }
    if held.as_deref() != Some(racer_body(winners[0]).as_slice()) {
        return Err(refuse("kept a body other than the winning create's".into()));
    }
    if again != Created::Taken || after != held {
        return Err(refuse(
            "accepted a second create of an existing name".into(),
        ));
    }
    Ok(())
}
