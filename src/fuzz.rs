//! Decoder fuzzing: every decoder of on-disk bytes - frame header, commit
//! payload, segment header, main header, page-map entry, NATIVE marker and
//! capsule - must, for any input, return a value or a rejection: never
//! panic, hang, or allocate beyond what the input implies. And a decoder
//! fed a valid encoding with bytes changed must either reject it or decode
//! it to what the changed bytes say (checksums make that "reject").
//!
//! `make test` runs a short pass (LIBCOMMIT_FUZZ_CASES, default 3000 per
//! decoder). LIBCOMMIT_FUZZ_SECS=600 keeps each decoder running for that
//! long on fresh random inputs instead.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::capsule::{self, MarkerPayload};
use crate::format::*;

fn cases() -> u32 {
    std::env::var("LIBCOMMIT_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

/// Runs `check` on inputs from `strategy`: `cases()` of them, or for
/// LIBCOMMIT_FUZZ_SECS seconds. Prints how many ran.
fn fuzz<S: Strategy>(name: &str, strategy: S, check: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let secs: u64 = std::env::var("LIBCOMMIT_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut total = 0u64;
    loop {
        let mut runner = TestRunner::new(Config {
            cases: cases(),
            failure_persistence: None,
            ..Config::default()
        });
        if let Err(e) = runner.run(&strategy, &check) {
            panic!("fuzz {name}: {e}");
        }
        total += u64::from(cases());
        if Instant::now() >= deadline {
            break;
        }
    }
    println!("fuzz {name}: {total} inputs, no panic, no false accept");
}

/// A valid encoding with some bytes replaced.
fn mutated(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    let n = valid.len();
    proptest::collection::vec((0..n, any::<u8>()), 1..4).prop_map(move |edits| {
        let mut v = valid.clone();
        for (i, b) in edits {
            v[i] = b;
        }
        v
    })
}

fn sample_frame() -> FrameHeader {
    FrameHeader {
        kind: FrameKind::Page,
        log_offset: 4096,
        commit_seq: 9,
        pgno: 3,
        payload_len: 100,
        payload_crc: 7,
    }
}

#[test]
fn fuzz_frame_header() {
    fuzz(
        "frame header (arbitrary)",
        proptest::collection::vec(any::<u8>(), 0..80),
        |b| {
            if let Some(h) = FrameHeader::decode(1, 4096, &b) {
                prop_assert_eq!(h.log_offset, 4096);
                prop_assert!(h.commit_seq != 0);
            }
            Ok(())
        },
    );
    let mut valid = [0u8; FRAME_HEADER_BYTES];
    sample_frame().encode(1, &mut valid);
    fuzz("frame header (mutated)", mutated(valid.to_vec()), |b| {
        let d = FrameHeader::decode(1, 4096, &b);
        prop_assert!(
            b[..] == valid[..] || d.is_none(),
            "accepted a damaged header: {:?}",
            d
        );
        Ok(())
    });
}

#[test]
fn fuzz_commit_and_marker_payloads() {
    fuzz(
        "commit payload",
        proptest::collection::vec(any::<u8>(), 0..64),
        |b| {
            if let Some(c) = CommitPayload::decode(&b) {
                prop_assert!(c.durable_hint <= c.written_hint);
                prop_assert_eq!(CommitPayload::decode(&c.encode()), Some(c));
            }
            Ok(())
        },
    );
    fuzz(
        "marker payload",
        proptest::collection::vec(any::<u8>(), 0..128),
        |b| {
            if let Some(m) = MarkerPayload::decode(&b) {
                prop_assert_eq!(MarkerPayload::decode(&m.encode()), Some(m));
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_segment_header() {
    fuzz(
        "segment header (arbitrary)",
        proptest::collection::vec(any::<u8>(), 0..96),
        |b| {
            if let Ok(h) = SegmentHeader::decode(&b) {
                prop_assert!(h.resume_offset <= h.log_start && h.capacity > 0);
            }
            Ok(())
        },
    );
    let valid = SegmentHeader {
        page_size: 4096,
        db_id: 5,
        first_epoch: 9,
        log_start: 1 << 20,
        capacity: 1 << 20,
        resume_offset: 1 << 19,
    }
    .encode();
    fuzz("segment header (mutated)", mutated(valid.to_vec()), |b| {
        let d = SegmentHeader::decode(&b);
        prop_assert!(
            b[..] == valid[..] || d.is_err(),
            "accepted a damaged header"
        );
        Ok(())
    });
}

#[test]
fn fuzz_main_header_and_map_entry() {
    fuzz(
        "main header (arbitrary)",
        proptest::collection::vec(any::<u8>(), 0..160),
        |b| {
            if let Ok(h) = MainHeader::decode(&b) {
                prop_assert!(h.page_size.is_power_of_two());
                prop_assert!(h.map_slot <= h.slot_count);
            }
            Ok(())
        },
    );
    let valid = MainHeader {
        page_size: 4096,
        generation: 3,
        db_id: 5,
        checkpoint_seq: 77,
        log_start: 8,
        slot_count: 10,
        map_slot: 8,
        map_entries: 3,
        map_crc: 1,
    }
    .encode();
    fuzz("main header (mutated)", mutated(valid.to_vec()), |b| {
        let d = MainHeader::decode(&b);
        prop_assert!(
            b[..] == valid[..] || d.is_err(),
            "accepted a damaged header"
        );
        Ok(())
    });
    fuzz(
        "page-map entry",
        proptest::collection::vec(any::<u8>(), 0..32),
        |b| {
            if let Some(e) = MapEntry::decode(&b) {
                prop_assert!(e.pgno != 0);
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_capsule() {
    // Arbitrary bytes as a capsule: verification never panics and never
    // accepts (the digest cannot match random input).
    let digest = [7u8; 32];
    fuzz(
        "capsule (arbitrary)",
        (proptest::collection::vec(any::<u8>(), 0..512), 0u64..600),
        |(bytes, len)| {
            let len = len / 8 * 8;
            let got = capsule::verify(1, 0, len, &digest, 4096, |off, buf| {
                let (s, e) = (off as usize, off as usize + buf.len());
                if e > bytes.len() {
                    return Ok(false);
                }
                buf.copy_from_slice(&bytes[s..e]);
                Ok(true)
            });
            prop_assert!(matches!(got, Ok(None)));
            Ok(())
        },
    );
}
