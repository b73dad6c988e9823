//! Round trips and rejection of every flipped bit, for each unit.

use super::*;

#[test]
fn frame_header_round_trips_and_rejects_any_flip() {
    let h = FrameHeader {
        kind: FrameKind::Page,
        log_offset: 4096,
        commit_seq: 7,
        pgno: 42,
        payload_len: 100,
        payload_crc: 0xdead_beef,
    };
    let mut buf = [0u8; FRAME_HEADER_BYTES];
    h.encode(99, &mut buf);
    assert_eq!(FrameHeader::decode(99, 4096, &buf), Some(h));
    assert_eq!(FrameHeader::decode(98, 4096, &buf), None, "other database");
    assert_eq!(FrameHeader::decode(99, 4104, &buf), None, "other position");
    for i in 0..FRAME_HEADER_BYTES {
        for bit in 0..8 {
            let mut bad = buf;
            bad[i] ^= 1 << bit;
            assert_eq!(FrameHeader::decode(99, 4096, &bad), None, "flip {i}:{bit}");
        }
    }
}

#[test]
fn headers_round_trip() {
    let s = segment_header();
    assert_eq!(SegmentHeader::decode(&s.encode()), Ok(s));
    let m = main_header();
    assert_eq!(MainHeader::decode(&m.encode()), Ok(m));
    let e = MapEntry {
        pgno: 3,
        len: 10,
        slot: 4,
        crc: 5,
    };
    let mut buf = [0u8; MAP_ENTRY_BYTES];
    e.encode_into(&mut buf);
    assert_eq!(MapEntry::decode(&buf), Some(e));
}

fn main_header() -> MainHeader {
    MainHeader {
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
}

fn segment_header() -> SegmentHeader {
    SegmentHeader {
        page_size: 4096,
        db_id: 5,
        first_epoch: 9,
        log_start: 1 << 20,
        capacity: 1 << 20,
        resume_offset: 1000,
    }
}

#[test]
fn main_header_bounds_its_page_size_counters_and_map() {
    let decodes = |edit: &dyn Fn(&mut MainHeader)| {
        let mut h = main_header();
        edit(&mut h);
        MainHeader::decode(&h.encode()).is_ok()
    };
    for page_size in [512, 1024, 65536] {
        assert!(decodes(&|h| h.page_size = page_size), "{page_size}");
    }
    for page_size in [0, 3, 256, 511, 768, 131_072, 1 << 30, u32::MAX] {
        assert!(!decodes(&|h| h.page_size = page_size), "{page_size}");
    }
    assert!(decodes(
        &|h| (h.generation, h.checkpoint_seq) = (COUNTER_MAX, COUNTER_MAX)
    ));
    assert!(!decodes(&|h| h.generation = COUNTER_MAX + 1));
    assert!(!decodes(&|h| h.checkpoint_seq = u64::MAX));
    assert!(decodes(&|h| h.log_start = LOG_OFFSET_MAX_BYTES));
    assert!(!decodes(&|h| h.log_start = LOG_OFFSET_MAX_BYTES + 8));
    // The map must fit the slots below slot_count (the file's length
    // bounds slot_count: mainfile/map.rs).
    assert!(decodes(&|h| h.map_entries = 2 * 4096 / 24));
    assert!(!decodes(&|h| h.map_entries = 2 * 4096 / 24 + 1));
    assert!(!decodes(
        &|h| (h.map_entries, h.slot_count) = (u64::MAX / 24 + 1, u64::MAX)
    ));
}

#[test]
fn segment_header_bounds_its_page_size_window_and_epoch() {
    let decodes = |edit: &dyn Fn(&mut SegmentHeader)| {
        let mut h = segment_header();
        edit(&mut h);
        SegmentHeader::decode(&h.encode()).is_ok()
    };
    assert!(decodes(&|h| h.capacity = SEGMENT_CAPACITY_MAX_BYTES));
    assert!(!decodes(&|h| h.capacity = SEGMENT_CAPACITY_MAX_BYTES + 8));
    assert!(!decodes(&|h| h.capacity = 1 << 60));
    assert!(decodes(&|h| h.log_start = LOG_OFFSET_MAX_BYTES));
    assert!(!decodes(&|h| h.log_start = LOG_OFFSET_MAX_BYTES + 8));
    assert!(decodes(&|h| h.first_epoch = COUNTER_MAX));
    assert!(!decodes(&|h| h.first_epoch = u64::MAX));
    for page_size in [0, 256, 3, 1 << 17] {
        assert!(!decodes(&|h| h.page_size = page_size), "{page_size}");
    }
}

#[test]
fn frames_and_commit_payloads_bound_their_counters() {
    let frame = |commit_seq| {
        let h = FrameHeader {
            kind: FrameKind::Seal,
            log_offset: 8,
            commit_seq,
            pgno: 0,
            payload_len: 0,
            payload_crc: 0,
        };
        let mut buf = [0u8; FRAME_HEADER_BYTES];
        h.encode(1, &mut buf);
        FrameHeader::decode(1, 8, &buf)
    };
    assert!(frame(COUNTER_MAX).is_some());
    assert!(frame(COUNTER_MAX + 1).is_none());
    assert!(frame(u64::MAX).is_none());
    let payload = |epoch| {
        CommitPayload::decode(
            &CommitPayload {
                first_frame_offset: 0,
                epoch,
                durable_hint: 1,
                written_hint: 2,
                boot_tag: 0,
                acks_written: false,
                frames_crc: 0,
            }
            .encode(),
        )
    };
    assert!(payload(COUNTER_MAX).is_some());
    assert!(payload(COUNTER_MAX + 1).is_none());
}
