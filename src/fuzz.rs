//! Decoder fuzzing: every decoder of on-disk bytes - frame header, commit
//! payload, segment header, main header, page-map entry, NATIVE marker and
//! capsule - must, for any input, return a value or a rejection: never
//! panic, hang, or allocate beyond what the input implies. And a decoder
//! fed a valid encoding with bytes changed must either reject it or decode
//! it to what the changed bytes say (checksums make that "reject").
//!
//! Random bytes almost never carry a valid checksum, so each header is
//! also fuzzed through its encoder: any field values, a valid checksum,
//! and the decoder must accept exactly those within the documented bounds
//! (a crafted file's checksums prove nothing about its sizes).
//!
//! `make test` runs a short pass (LIBCOMMIT_FUZZ_CASES, default 3000 per
//! decoder). LIBCOMMIT_FUZZ_SECS=600 keeps each decoder running for that
//! long on fresh random inputs instead.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::capsule::{self, MarkerPayload, CAPSULE_HEADER_BYTES};
use crate::format::*;
use crate::stage::STAGE_CHUNK_BYTES;

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
            let got = capsule::verify(1, 0, len, 2, &digest, 4096, |off, buf| {
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

/// Sizes a crafted header would try: anything, powers of two, near them.
fn size() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        Just(0u64),
        Just(u64::MAX),
        (0u32..64).prop_map(|k| 1u64 << k),
        (0u32..64, -64i64..64).prop_map(|(k, d)| (1u64 << k).wrapping_add_signed(d * 8)),
    ]
}

fn page_size() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        (0u32..32).prop_map(|k| 1u32 << k),
        Just(512u32),
        Just(65536u32)
    ]
}

#[test]
fn fuzz_main_header_fields() {
    let fields = (
        page_size(),
        size(),
        size(),
        size(),
        size(),
        size(),
        size(),
        any::<u32>(),
    );
    fuzz(
        "main header (any fields, valid checksum)",
        fields,
        |(
            page_size,
            generation,
            checkpoint_seq,
            log_start,
            slot_count,
            map_slot,
            map_entries,
            map_crc,
        )| {
            let h = MainHeader {
                page_size,
                generation,
                db_id: 5,
                checkpoint_seq,
                log_start,
                slot_count,
                map_slot,
                map_entries,
                map_crc,
            };
            let map_fits = map_entries
                .checked_mul(MAP_ENTRY_BYTES as u64)
                .map(|b| b.div_ceil(u64::from(page_size.max(1))))
                .and_then(|n| map_slot.checked_add(n))
                .is_some_and(|end| end <= slot_count);
            let in_bounds = page_size_ok(page_size)
                && generation <= COUNTER_MAX
                && checkpoint_seq <= COUNTER_MAX
                && log_start <= LOG_OFFSET_MAX_BYTES
                && log_start % FRAME_ALIGN_BYTES == 0
                && map_fits;
            let d = MainHeader::decode(&h.encode());
            prop_assert_eq!(d.is_ok(), in_bounds, "{:?}: {:?}", h, d);
            if let Ok(d) = d {
                prop_assert_eq!(d, h);
            }
            Ok(())
        },
    );
}

#[test]
fn fuzz_segment_header_fields() {
    let fields = (page_size(), size(), size(), size(), size());
    fuzz(
        "segment header (any fields, valid checksum)",
        fields,
        |(page_size, first_epoch, log_start, capacity, resume_offset)| {
            let h = SegmentHeader {
                page_size,
                db_id: 5,
                first_epoch,
                log_start,
                capacity,
                resume_offset,
            };
            let in_bounds = page_size_ok(page_size)
                && first_epoch <= COUNTER_MAX
                && log_start <= LOG_OFFSET_MAX_BYTES
                && log_start % FRAME_ALIGN_BYTES == 0
                && capacity % FRAME_ALIGN_BYTES == 0
                && (1..=SEGMENT_CAPACITY_MAX_BYTES).contains(&capacity)
                && resume_offset <= log_start;
            let d = SegmentHeader::decode(&h.encode());
            prop_assert_eq!(d.is_ok(), in_bounds, "{:?}: {:?}", h, d);
            Ok(())
        },
    );
}

#[test]
fn fuzz_frame_and_commit_counters() {
    fuzz(
        "frame header and commit payload (any counters, valid checksums)",
        (size(), size(), size()),
        |(commit_seq, epoch, hint)| {
            let mut buf = [0u8; FRAME_HEADER_BYTES];
            FrameHeader {
                commit_seq,
                ..sample_frame()
            }
            .encode(1, &mut buf);
            let d = FrameHeader::decode(1, 4096, &buf);
            prop_assert_eq!(d.is_some(), (1..=COUNTER_MAX).contains(&commit_seq));
            let c = CommitPayload {
                first_frame_offset: hint,
                epoch,
                durable_hint: hint / 2,
                written_hint: hint,
                boot_tag: 1,
                acks_written: false,
                frames_crc: 2,
            };
            prop_assert_eq!(
                CommitPayload::decode(&c.encode()).is_some(),
                epoch <= COUNTER_MAX
            );
            Ok(())
        },
    );
}

/// A capsule header claiming `count` entries and `len` bytes at offset 0.
fn capsule_header(count: u32, len: u64) -> [u8; CAPSULE_HEADER_BYTES] {
    let mut h = [0u8; CAPSULE_HEADER_BYTES];
    h[..4].copy_from_slice(&capsule::CAPSULE_MAGIC.to_le_bytes());
    h[4..8].copy_from_slice(&count.to_le_bytes());
    h[16..24].copy_from_slice(&len.to_le_bytes());
    h
}

#[test]
fn fuzz_capsule_sizes() {
    // A capsule and its marker agreeing on any entry count and length,
    // over segments holding a few KiB: verification reads at most a chunk
    // at a time and asks for bytes past what is held at most once.
    let digest = [7u8; 32];
    fuzz(
        "capsule (any count and length, agreeing marker)",
        (
            size(),
            size(),
            proptest::collection::vec(any::<u8>(), 0..4096),
            any::<bool>(),
            any::<bool>(),
        ),
        |(count, len, rest, agree, exact)| {
            let count = count as u32;
            // Exact: just room for the entries (and a little more), as a
            // capsule of that many pages could really be.
            let len = if exact {
                (CAPSULE_HEADER_BYTES as u64 + u64::from(count) * 16 + len % 8192) / 8 * 8
            } else {
                len / 8 * 8
            };
            let page_count = if agree { count } else { count.wrapping_add(1) };
            let mut held = capsule_header(count, len).to_vec();
            held.extend_from_slice(&rest);
            let (mut largest, mut misses) = (0, 0);
            let got = capsule::verify(1, 0, len, page_count, &digest, 4096, |off, buf| {
                largest = largest.max(buf.len());
                let Some(bytes) = held.get(off as usize..off as usize + buf.len()) else {
                    misses += 1;
                    return Ok(false);
                };
                buf.copy_from_slice(bytes);
                Ok(true)
            });
            prop_assert!(matches!(got, Ok(None)));
            prop_assert!(
                largest <= STAGE_CHUNK_BYTES,
                "asked for {} bytes at once",
                largest
            );
            prop_assert!(misses <= 1);
            Ok(())
        },
    );
}

#[test]
fn capsule_length_is_bounded_by_its_page_count() {
    let never = |_: u64, _: &mut [u8]| -> crate::error::Result<bool> {
        panic!("read a capsule whose length its page count cannot need")
    };
    let max = capsule::capsule_len_max(2, 4096);
    assert_eq!(max, 32 + 2 * (16 + 4096));
    let digest = [0u8; 32];
    assert!(matches!(
        capsule::verify(1, 0, max + 8, 2, &digest, 4096, never),
        Ok(None)
    ));
    assert!(matches!(
        capsule::verify(1, 0, 64 << 30, 2, &digest, 4096, never),
        Ok(None)
    ));
    let past = LOG_OFFSET_MAX_BYTES + 8;
    assert!(matches!(
        capsule::verify(1, past, 64, 2, &digest, 4096, never),
        Ok(None)
    ));
    // The header's count must be the marker's page count.
    let header = capsule_header(3, max);
    let got = capsule::verify(1, 0, max, 2, &digest, 4096, |off, buf| {
        assert_eq!(off, 0, "read past a header that does not match");
        buf.copy_from_slice(&header[..buf.len()]);
        Ok(true)
    });
    assert!(matches!(got, Ok(None)));
}
