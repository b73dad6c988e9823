//! The commit path, group flushes, checkpoints and recovery emit tracing
//! spans for a subscriber to see (and cost nothing without one).

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use libcommit::{Database, Options, PageWrite};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Records the names of the spans created.
struct Names {
    seen: Arc<Mutex<BTreeSet<&'static str>>>,
    next: AtomicU64,
}

impl Subscriber for Names {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &Attributes<'_>) -> Id {
        self.seen.lock().unwrap().insert(span.metadata().name());
        Id::from_u64(self.next.fetch_add(1, Ordering::Relaxed) + 1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, _: &Event<'_>) {}
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn commit_flush_checkpoint_and_recovery_spans_are_emitted() {
    let seen = Arc::new(Mutex::new(BTreeSet::new()));
    let subscriber = Names {
        seen: Arc::clone(&seen),
        next: AtomicU64::new(0),
    };
    tracing::subscriber::with_default(subscriber, || {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let db = Database::open(&path, Options::default()).unwrap();
        db.commit_batch(&[PageWrite::put(1, b"x")]).unwrap();
        db.checkpoint().unwrap();
        db.close().unwrap();
        Database::open(&path, Options::default()).unwrap();
    });
    let seen = seen.lock().unwrap();
    for name in [
        "stage",
        "commit",
        "sequence",
        "write",
        "publish",
        "durable",
        "group_flush",
        "checkpoint",
        "recovery",
    ] {
        assert!(seen.contains(name), "no {name} span among {seen:?}");
    }
}
