//! The simulated storage itself: durability rules, power-loss modes,
//! fault injection, capacity, dead handles, locks and determinism.

use std::io;
use std::path::{Path, PathBuf};

use libcommit::storage::{
    CrashMode, DataLoss, DirLoss, Fault, FaultKind, FaultOp, OpenMode, SimStorage, Storage,
    StorageFile, SIM_SECTOR_BYTES,
};

const DIR: &str = "/db";

fn sim(seed: u64) -> SimStorage {
    let s = SimStorage::new(seed);
    s.create_dir_all(DIR);
    s
}

fn p(name: &str) -> PathBuf {
    Path::new(DIR).join(name)
}

/// The error of an open that must fail.
fn open_err(s: &SimStorage, path: &Path, mode: OpenMode) -> io::Error {
    match s.open(path, mode) {
        Ok(_) => panic!("open {} {mode:?} succeeded", path.display()),
        Err(e) => e,
    }
}

fn errno(e: &io::Error) -> Option<i32> {
    e.raw_os_error()
}

/// Creates `name` with `data`, syncs the data and the directory.
fn durable_file(s: &SimStorage, name: &str, data: &[u8]) -> Box<dyn StorageFile> {
    let f = s.open(&p(name), OpenMode::CreateNew).unwrap();
    f.write_at(data, 0).unwrap();
    f.sync_data().unwrap();
    s.sync_dir(Path::new(DIR)).unwrap();
    f
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(salt) | 1)
        .collect()
}

fn data_mode(data: DataLoss) -> CrashMode {
    CrashMode {
        data,
        dirs: DirLoss::DropUnsynced,
    }
}

#[test]
fn synced_data_survives_strict_crash() {
    let s = sim(1);
    let data = pattern(10_000, 7);
    drop(durable_file(&s, "a", &data));
    s.crash_with(CrashMode::STRICT);
    assert_eq!(s.read_file(p("a")).unwrap(), data);
    let f = s.open(&p("a"), OpenMode::ReadOnly).unwrap();
    let mut buf = vec![0u8; 100];
    f.read_at(&mut buf, 5000).unwrap();
    assert_eq!(buf, &data[5000..5100]);
}

#[test]
fn unsynced_data_is_lost_on_strict_crash_kept_on_process_crash() {
    for (mode, expect_new) in [(CrashMode::STRICT, false), (CrashMode::PROCESS_CRASH, true)] {
        let s = sim(2);
        let old = pattern(4096, 1);
        let f = durable_file(&s, "a", &old);
        let new = pattern(6000, 2);
        f.write_at(&new, 0).unwrap();
        assert_eq!(s.read_file(p("a")).unwrap(), new, "reads see unsynced data");
        s.crash_with(mode);
        let got = s.read_file(p("a")).unwrap();
        assert_eq!(got == new, expect_new, "{mode:?}");
        assert_eq!(got == old, !expect_new, "{mode:?}");
    }
}

#[test]
fn sync_all_also_makes_data_durable() {
    let s = sim(3);
    let f = durable_file(&s, "a", b"x");
    f.write_at(b"hello", 0).unwrap();
    f.sync_all().unwrap();
    s.crash_with(CrashMode::STRICT);
    assert_eq!(s.read_file(p("a")).unwrap(), b"hello");
}

#[test]
fn created_file_needs_sync_dir() {
    let s = sim(4);
    let f = s.open(&p("new"), OpenMode::Create).unwrap();
    f.write_at(b"data", 0).unwrap();
    f.sync_data().unwrap();
    assert!(s.exists(&p("new")).unwrap());
    s.crash_with(CrashMode::STRICT);
    assert!(!s.exists(&p("new")).unwrap(), "name was never made durable");

    let f = s.open(&p("new"), OpenMode::Create).unwrap();
    f.write_at(b"data", 0).unwrap();
    f.sync_data().unwrap();
    s.sync_dir(Path::new(DIR)).unwrap();
    s.crash_with(CrashMode::STRICT);
    assert_eq!(s.read_file(p("new")).unwrap(), b"data");
}

#[test]
fn removal_and_rename_need_sync_dir() {
    let s = sim(5);
    drop(durable_file(&s, "a", b"AAAA"));
    drop(durable_file(&s, "b", b"BBBB"));
    s.remove(&p("a")).unwrap();
    s.rename(&p("b"), &p("c")).unwrap();
    assert_eq!(s.files(), vec![p("c")]);
    s.crash_with(CrashMode::STRICT);
    assert_eq!(s.files(), vec![p("a"), p("b")], "unsynced dir ops undone");
    assert_eq!(s.read_file(p("a")).unwrap(), b"AAAA");

    s.remove(&p("a")).unwrap();
    s.rename(&p("b"), &p("c")).unwrap();
    s.sync_dir(Path::new(DIR)).unwrap();
    s.crash_with(CrashMode::STRICT);
    assert_eq!(s.files(), vec![p("c")]);
    assert_eq!(s.read_file(p("c")).unwrap(), b"BBBB");
}

#[test]
fn rename_replaces_target_atomically() {
    let s = sim(6);
    drop(durable_file(&s, "old", b"old"));
    let f = durable_file(&s, "tmp", b"new");
    drop(f);
    s.rename(&p("tmp"), &p("old")).unwrap();
    assert_eq!(s.read_file(p("old")).unwrap(), b"new");
    // Any prefix of the directory log is either before or after the rename.
    for seed in 0..50 {
        let fork = s.fork(seed);
        fork.crash_with(CrashMode {
            data: DataLoss::DropUnsynced,
            dirs: DirLoss::KeepPrefix,
        });
        let files = fork.files();
        let old = fork.read_file(p("old")).unwrap();
        if files.contains(&p("tmp")) {
            assert_eq!(old, b"old");
        } else {
            assert_eq!(old, b"new");
        }
    }
}

#[test]
fn sync_dir_is_per_directory() {
    let s = sim(7);
    s.create_dir_all("/other");
    let a = s.open(&p("a"), OpenMode::Create).unwrap();
    let b = s.open(Path::new("/other/b"), OpenMode::Create).unwrap();
    a.sync_data().unwrap();
    b.sync_data().unwrap();
    s.sync_dir(Path::new("/other")).unwrap();
    s.crash_with(CrashMode::STRICT);
    assert!(!s.exists(&p("a")).unwrap());
    assert!(s.exists(Path::new("/other/b")).unwrap());
    assert_eq!(
        s.list(Path::new("/other")).unwrap(),
        vec![PathBuf::from("/other/b")]
    );
    assert!(s.list(Path::new(DIR)).unwrap().is_empty());
}

#[test]
fn torn_last_write_keeps_a_sector_aligned_prefix() {
    let old = vec![0xAAu8; 8192];
    let new = vec![0x55u8; 8192];
    let mut cuts = std::collections::BTreeSet::new();
    for seed in 0..64 {
        let s = sim(seed);
        let f = durable_file(&s, "a", &old);
        f.write_at(&pattern(100, 9), 0).unwrap(); // an earlier unsynced write survives
        f.write_at(&new[..6000], 1000).unwrap(); // the last write tears
        s.crash_with(data_mode(DataLoss::TearLast));
        let got = s.read_file(p("a")).unwrap();
        assert_eq!(&got[..100], &pattern(100, 9)[..]);
        let kept = got[1000..7000].iter().take_while(|&&b| b == 0x55).count() as u64;
        assert!(got[1000 + kept as usize..7000].iter().all(|&b| b == 0xAA));
        assert!(
            kept == 0 || (1000 + kept) % SIM_SECTOR_BYTES == 0,
            "kept {kept}"
        );
        assert!(kept < 6000, "a torn write never survives whole");
        cuts.insert(kept);
    }
    assert!(cuts.len() >= 4, "tears vary with the seed: {cuts:?}");
}

#[test]
fn random_sectors_are_each_old_or_new() {
    let old = vec![0xAAu8; 8192];
    let new = vec![0x55u8; 8192];
    let (mut saw_old, mut saw_new) = (false, false);
    for seed in 0..32 {
        let s = sim(seed);
        let f = durable_file(&s, "a", &old);
        f.write_at(&new, 0).unwrap();
        s.crash_with(data_mode(DataLoss::KeepRandomSectors));
        let got = s.read_file(p("a")).unwrap();
        assert_eq!(got.len(), 8192);
        for sector in got.chunks(SIM_SECTOR_BYTES as usize) {
            assert!(sector.iter().all(|&b| b == sector[0]), "sector never split");
            saw_old |= sector[0] == 0xAA;
            saw_new |= sector[0] == 0x55;
        }
    }
    assert!(saw_old && saw_new);
}

#[test]
fn unsynced_extension_may_keep_old_or_new_length() {
    let mut lens = std::collections::BTreeSet::new();
    for seed in 0..32 {
        let s = sim(seed);
        let f = durable_file(&s, "a", &[1u8; 512]);
        f.write_at(&[2u8; 1024], 512).unwrap();
        s.crash();
        let got = s.read_file(p("a")).unwrap();
        assert!(
            got.len() % 512 == 0 && (512..=1536).contains(&got.len()),
            "{}",
            got.len()
        );
        assert!(got[..512].iter().all(|&b| b == 1), "synced bytes intact");
        assert!(got[512..].iter().all(|&b| b == 2 || b == 0));
        lens.insert(got.len());
    }
    assert!(lens.contains(&512) && lens.contains(&1536), "{lens:?}");
}

#[test]
fn write_fault_at_nth_call() {
    let s = sim(8);
    let f = s.open(&p("a"), OpenMode::Create).unwrap();
    s.fail_nth(FaultOp::Write, 3, FaultKind::Eio);
    f.write_at(b"1", 0).unwrap();
    f.write_at(b"2", 1).unwrap();
    let e = f.write_at(b"3", 2).unwrap_err();
    assert_eq!(errno(&e), Some(libc::EIO));
    f.write_at(b"4", 3).unwrap();
    assert_eq!(s.faults_injected(), 1);
    assert_eq!(s.calls(FaultOp::Write), 4);

    s.fail_nth(FaultOp::Write, 1, FaultKind::Enospc);
    let e = f.write_at(b"5", 4).unwrap_err();
    assert_eq!(errno(&e), Some(libc::ENOSPC));
    assert_eq!(e.kind(), io::ErrorKind::StorageFull);
}

#[test]
fn every_fault_op_can_fail() {
    let s = sim(9);
    let f = durable_file(&s, "a", b"abc");
    type Call<'a> = Box<dyn Fn() -> io::Result<()> + 'a>;
    let cases: Vec<(FaultOp, Call)> = vec![
        (FaultOp::Write, Box::new(|| f.write_at(b"x", 0))),
        (FaultOp::SyncData, Box::new(|| f.sync_data())),
        (FaultOp::SyncData, Box::new(|| f.sync_all())),
        (FaultOp::Allocate, Box::new(|| f.allocate(8192))),
        (FaultOp::SetLen, Box::new(|| f.set_len(10))),
        (FaultOp::Read, Box::new(|| f.read_at(&mut [0u8; 1], 0))),
        (FaultOp::SyncDir, Box::new(|| s.sync_dir(Path::new(DIR)))),
        (
            FaultOp::Create,
            Box::new(|| s.open(&p("b"), OpenMode::Create).map(drop)),
        ),
        (FaultOp::Rename, Box::new(|| s.rename(&p("a"), &p("c")))),
        (FaultOp::Remove, Box::new(|| s.remove(&p("a")))),
    ];
    for (op, call) in &cases {
        s.fail_nth(*op, 1, FaultKind::Eio);
        let e = call().unwrap_err();
        assert_eq!(errno(&e), Some(libc::EIO), "{op:?}");
    }
    assert!(!s.exists(&p("b")).unwrap(), "failed create creates nothing");
    assert!(
        s.exists(&p("a")).unwrap(),
        "failed rename/remove change nothing"
    );
    assert_eq!(s.faults_injected(), cases.len() as u64);
}

#[test]
fn fault_with_path_filter_and_sticky() {
    let s = sim(10);
    let seg = s.open(&p("db-wal-seg-1"), OpenMode::Create).unwrap();
    let main = s.open(&p("db"), OpenMode::Create).unwrap();
    s.inject(
        Fault::new(FaultOp::SyncData, 2, FaultKind::Eio)
            .on_paths_containing("-wal-seg-")
            .sticky(),
    );
    main.sync_data().unwrap();
    seg.sync_data().unwrap();
    main.sync_data().unwrap();
    assert!(seg.sync_data().is_err());
    assert!(seg.sync_data().is_err(), "sticky");
    main.sync_data().unwrap();
    s.clear_faults();
    seg.sync_data().unwrap();
    // Filters follow renames: the handle's file is now "db-wal-seg-2".
    let tmp = s.open(&p("db-wal-tmp-2"), OpenMode::Create).unwrap();
    s.rename(&p("db-wal-tmp-2"), &p("db-wal-seg-2")).unwrap();
    s.fail_nth(FaultOp::Write, 1, FaultKind::Eio);
    s.inject(Fault::new(FaultOp::SyncData, 1, FaultKind::Eio).on_paths_containing("-wal-seg-2"));
    assert!(tmp.sync_data().is_err());
}

#[test]
fn trace_records_steps_and_instance_ids_tell_worlds_apart() {
    let s = sim(20);
    s.set_trace(true);
    let f = s.open(&p("a"), OpenMode::Create).unwrap();
    f.write_at(b"abc", 7).unwrap();
    f.sync_data().unwrap();
    let t = s.trace();
    assert_eq!(t.len(), 3);
    assert_eq!(
        t[1], "2 Write /db/a 7 3 p1",
        "step, call, path, offset, length, process"
    );
    let clone = s.clone();
    assert_eq!(clone.instance_id(), s.instance_id());
    assert_ne!(s.fork(1).instance_id(), s.instance_id());
}

#[test]
fn failed_sync_loses_data_even_if_a_later_sync_succeeds() {
    // Linux after an fdatasync error: the pages are marked clean.
    let mut lost_somewhere = false;
    for seed in 0..16 {
        let s = sim(seed);
        let f = durable_file(&s, "a", &[0xAA; 8192]);
        f.write_at(&[0x55; 8192], 0).unwrap();
        s.fail_nth(FaultOp::SyncData, 1, FaultKind::Eio);
        assert!(f.sync_data().is_err());
        f.sync_data().unwrap(); // a retry "succeeds"
        assert_eq!(
            s.read_file(p("a")).unwrap(),
            vec![0x55; 8192],
            "page cache keeps it"
        );
        s.crash_with(CrashMode::STRICT);
        let got = s.read_file(p("a")).unwrap();
        for sector in got.chunks(SIM_SECTOR_BYTES as usize) {
            assert!(sector.iter().all(|&b| b == sector[0]));
        }
        lost_somewhere |= got.contains(&0xAA);
    }
    assert!(lost_somewhere, "a retried fsync must not be trusted");
}

#[test]
fn failed_write_leaves_at_most_a_sector_aligned_prefix() {
    for seed in 0..16 {
        let s = sim(seed);
        let f = s.open(&p("a"), OpenMode::Create).unwrap();
        f.write_at(&[0u8; 4096], 0).unwrap();
        s.fail_nth(FaultOp::Write, 1, FaultKind::Eio);
        assert!(f.write_at(&[7u8; 4096], 0).is_err());
        let got = s.read_file(p("a")).unwrap();
        let kept = got.iter().take_while(|&&b| b == 7).count();
        assert_eq!(kept % SIM_SECTOR_BYTES as usize, 0);
        assert!(got[kept..].iter().all(|&b| b == 0));
    }
}

#[test]
fn capacity_limits_writes_and_allocations() {
    let s = sim(11);
    s.set_capacity_bytes(Some(16384));
    let f = s.open(&p("a"), OpenMode::Create).unwrap();
    f.allocate(8192).unwrap();
    assert_eq!(f.len().unwrap(), 8192);
    assert_eq!(s.used_bytes(), 8192);
    // Writes inside the reservation need no new space.
    f.write_at(&[1u8; 8192], 0).unwrap();
    let e = f.allocate(20000).unwrap_err();
    assert_eq!(errno(&e), Some(libc::ENOSPC));
    assert_eq!(f.len().unwrap(), 8192, "failed allocate changes nothing");
    // 8 KiB free: a 12 KiB write gets 8 KiB in, then ENOSPC.
    let e = f.write_at(&[2u8; 12288], 8192).unwrap_err();
    assert_eq!(errno(&e), Some(libc::ENOSPC));
    assert_eq!(f.len().unwrap(), 16384);
    assert_eq!(s.used_bytes(), 16384);
    // Removing a file frees its space once no handle holds it.
    let g = s.open(&p("b"), OpenMode::Create).unwrap();
    assert!(g.write_at(b"x", 0).is_err());
    s.set_capacity_bytes(Some(1 << 20));
    g.write_at(b"x", 0).unwrap();
    f.allocate(65536).unwrap();
    s.set_capacity_bytes(Some(s.used_bytes()));
    assert!(g.write_at(b"y", 8192).is_err());
    drop(f);
    s.remove(&p("a")).unwrap();
    g.write_at(b"y", 8192).unwrap();
}

#[test]
fn handles_are_dead_after_a_crash() {
    let s = sim(12);
    let f = durable_file(&s, "a", b"abc");
    s.crash();
    for e in [
        f.write_at(b"x", 0).unwrap_err(),
        f.read_at(&mut [0u8; 1], 0).unwrap_err(),
        f.sync_data().unwrap_err(),
        f.len().unwrap_err(),
        f.try_lock_exclusive().unwrap_err(),
    ] {
        assert_eq!(errno(&e), Some(libc::EIO));
    }
    let g = s.open(&p("a"), OpenMode::ReadWrite).unwrap();
    g.write_at(b"z", 0).unwrap();
    drop(f); // dropping a dead handle is harmless
    assert_eq!(s.read_file(p("a")).unwrap(), b"zbc");
}

#[test]
fn crash_at_step_cuts_power_until_reboot() {
    let s = sim(13);
    let f = durable_file(&s, "a", b"0");
    let base = s.steps();
    s.set_crash_at(base + 3);
    f.write_at(b"1", 0).unwrap(); // step base+1
    f.sync_data().unwrap(); // step base+2
    let e = f.write_at(b"2", 0).unwrap_err(); // step base+3: power lost
    assert_eq!(errno(&e), Some(libc::EIO));
    assert!(!s.is_powered());
    assert_eq!(s.steps(), base + 2);
    assert!(f.read_at(&mut [0u8; 1], 0).is_err(), "reads fail too");
    assert!(s.exists(&p("a")).is_err());
    open_err(&s, &p("a"), OpenMode::ReadOnly);
    s.reboot();
    assert!(s.is_powered());
    assert_eq!(s.read_file(p("a")).unwrap(), b"1", "synced step survived");
    assert!(f.write_at(b"3", 0).is_err(), "old handle stays dead");
    let g = s.open(&p("a"), OpenMode::ReadWrite).unwrap();
    g.write_at(b"4", 0).unwrap();
}

#[test]
fn reads_do_not_count_as_steps() {
    let s = sim(14);
    let f = durable_file(&s, "a", b"abc");
    let before = s.steps();
    f.read_at(&mut [0u8; 3], 0).unwrap();
    f.len().unwrap();
    s.exists(&p("a")).unwrap();
    s.list(Path::new(DIR)).unwrap();
    assert_eq!(s.steps(), before);
    f.write_at(b"x", 0).unwrap();
    assert_eq!(s.steps(), before + 1);
}

#[test]
fn exclusive_lock_is_released_when_the_handle_drops() {
    let s = sim(15);
    let a = s.open(&p("lock"), OpenMode::Create).unwrap();
    let b = s.open(&p("lock"), OpenMode::ReadWrite).unwrap();
    assert!(a.try_lock_exclusive().unwrap());
    assert!(a.try_lock_exclusive().unwrap(), "the holder may ask again");
    assert!(!b.try_lock_exclusive().unwrap());
    drop(a);
    assert!(b.try_lock_exclusive().unwrap());
    s.crash();
    let c = s.open(&p("lock"), OpenMode::ReadWrite);
    // The file was never made durable; recreate it after the crash.
    let c = c.or_else(|_| s.open(&p("lock"), OpenMode::Create)).unwrap();
    assert!(c.try_lock_exclusive().unwrap(), "a power loss frees locks");
}

#[test]
fn open_modes_and_file_semantics() {
    let s = sim(16);
    assert_eq!(
        open_err(&s, &p("x"), OpenMode::ReadOnly).kind(),
        io::ErrorKind::NotFound
    );
    assert_eq!(
        open_err(&s, Path::new("/nodir/x"), OpenMode::Create).kind(),
        io::ErrorKind::NotFound
    );
    open_err(&s, Path::new(DIR), OpenMode::ReadWrite);
    let f = s.open(&p("x"), OpenMode::CreateNew).unwrap();
    assert_eq!(
        open_err(&s, &p("x"), OpenMode::CreateNew).kind(),
        io::ErrorKind::AlreadyExists
    );
    f.write_at(b"end", 10).unwrap();
    let mut buf = [9u8; 13];
    f.read_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"\0\0\0\0\0\0\0\0\0\0end", "gap reads as zeros");
    assert_eq!(
        f.read_at(&mut [0u8; 4], 10).unwrap_err().kind(),
        io::ErrorKind::UnexpectedEof
    );
    f.set_len(11).unwrap();
    f.set_len(20).unwrap();
    let mut buf = [9u8; 20];
    f.read_at(&mut buf, 0).unwrap();
    assert_eq!(
        &buf[10..],
        b"e\0\0\0\0\0\0\0\0\0",
        "truncated bytes do not come back"
    );
    let r = s.open(&p("x"), OpenMode::ReadOnly).unwrap();
    assert!(r.write_at(b"no", 0).is_err());
    // Sparse: a far offset costs one block, not terabytes.
    f.write_at(b"far", 1 << 40).unwrap();
    assert_eq!(f.len().unwrap(), (1 << 40) + 3);
    assert!(s.used_bytes() <= 2 * 4096);
    // Relative and "./" paths name the same file.
    let rel = s.open(Path::new("rel"), OpenMode::Create).unwrap();
    rel.write_at(b"r", 0).unwrap();
    assert!(s.exists(Path::new("./rel")).unwrap());
    assert!(s.dir_exists(Path::new(".")).unwrap());
    assert!(s.dir_exists(Path::new(DIR)).unwrap());
    assert!(!s.dir_exists(Path::new("/nodir")).unwrap());
}

#[test]
fn removed_file_stays_readable_through_open_handles() {
    let s = sim(17);
    let f = durable_file(&s, "a", b"still here");
    s.remove(&p("a")).unwrap();
    s.sync_dir(Path::new(DIR)).unwrap();
    let mut buf = [0u8; 10];
    f.read_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"still here");
    s.crash_with(CrashMode::PROCESS_CRASH);
    assert!(s.files().is_empty());
}

#[test]
fn same_seed_same_outcome() {
    let run = |seed: u64| {
        let s = sim(seed);
        let f = durable_file(&s, "a", &[0u8; 16384]);
        for i in 0..20u64 {
            f.write_at(&pattern(700, i as u8), i * 613).unwrap();
        }
        let g = s.open(&p("b"), OpenMode::Create).unwrap();
        g.write_at(&[3u8; 3000], 0).unwrap();
        let mode = s.crash();
        (mode, s.files(), s.read_file(p("a")).unwrap())
    };
    for seed in 0..20 {
        assert_eq!(run(seed), run(seed));
    }
    let outcomes: std::collections::BTreeSet<_> = (0..40).map(|seed| run(seed).2).collect();
    assert!(outcomes.len() > 5, "seeds differ");
}

#[test]
fn random_crash_modes_all_occur() {
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..200 {
        let s = sim(seed);
        let m = s.crash();
        seen.insert(format!("{:?}/{:?}", m.data, m.dirs));
        assert_eq!(s.last_crash_mode(), Some(m));
    }
    assert_eq!(seen.len(), 15, "{seen:?}");
}

#[test]
fn fork_and_corrupt_byte() {
    let s = sim(18);
    drop(durable_file(&s, "a", b"abcdef"));
    let copy = s.fork(99);
    copy.corrupt_byte(p("a"), 2, 0xFF).unwrap();
    assert_eq!(
        s.read_file(p("a")).unwrap(),
        b"abcdef",
        "the original is untouched"
    );
    let got = copy.read_file(p("a")).unwrap();
    assert_eq!(got[2], b'c' ^ 0xFF);
    copy.crash_with(CrashMode::STRICT);
    assert_eq!(
        copy.read_file(p("a")).unwrap(),
        got,
        "corruption is on the disk"
    );
    assert_eq!(copy.read_durable(p("a")).unwrap(), got);
    assert!(copy.corrupt_byte(p("a"), 6, 1).is_err());
}

#[test]
fn usable_as_shared_storage_across_threads() {
    let s = sim(19);
    let storage: std::sync::Arc<dyn Storage> = std::sync::Arc::new(s.clone());
    let handles: Vec<_> = (0..4u64)
        .map(|t| {
            let storage = std::sync::Arc::clone(&storage);
            std::thread::spawn(move || {
                let f = storage
                    .open(&p(&format!("t{t}")), OpenMode::Create)
                    .unwrap();
                for i in 0..100u64 {
                    f.write_at(&i.to_le_bytes(), i * 8).unwrap();
                }
                f.sync_data().unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    storage.sync_dir(Path::new(DIR)).unwrap();
    s.crash_with(CrashMode::STRICT);
    assert_eq!(s.files().len(), 4);
    assert_eq!(s.read_file(p("t3")).unwrap().len(), 800);
}

#[test]
fn pause_gate_holds_a_call_until_released() {
    let s = sim(21);
    let f = std::sync::Arc::new(durable_file(&s, "a", b"abc"));
    let gate = s.pause_at(FaultOp::SyncData, 1, Some("/db/a"));
    let f2 = std::sync::Arc::clone(&f);
    let t = std::thread::spawn(move || f2.sync_data());
    assert!(gate.wait_paused(std::time::Duration::from_secs(10)));
    // Other calls go on while one is held.
    f.write_at(b"x", 0).unwrap();
    assert!(s.read_file(p("a")).unwrap().starts_with(b"x"));
    gate.release();
    t.join().unwrap().unwrap();
    // Released gates are gone: the next sync does not pause.
    f.sync_data().unwrap();
    let unused = s.pause_at(FaultOp::Remove, 1, None);
    assert!(!unused.wait_paused(std::time::Duration::from_millis(1)));
}

// --- processes, shared memory, loss within a boot -------------------

const SHM_WORDS: usize = 64;

fn region(s: &SimStorage, name: &str) -> Box<dyn libcommit::storage::SharedRegion> {
    s.open_shared(&p(name), SHM_WORDS * 8)
        .unwrap()
        .expect("the simulator shares memory")
}

#[test]
fn shared_memory_is_shared_and_locks_behave_like_ofd_locks() {
    use std::sync::atomic::Ordering;
    let s = sim(40);
    let other = s.spawn_process();
    let a = region(&s, "db-shm");
    let b = region(&other, "db-shm");
    a.words()[3].store(77, Ordering::SeqCst);
    assert_eq!(b.words()[3].load(Ordering::SeqCst), 77, "one memory");
    // Exclusive against everything; shared with shared; a second mapping
    // in the same process conflicts too (locks belong to the mapping).
    assert!(a.try_lock(1, true).unwrap());
    assert!(!b.try_lock(1, false).unwrap());
    assert!(b.locked_by_other(1).unwrap());
    assert!(!a.locked_by_other(1).unwrap(), "own locks never conflict");
    let a2 = region(&s, "db-shm");
    assert!(!a2.try_lock(1, true).unwrap());
    // Downgrading one's own lock lets shared holders in.
    assert!(a.try_lock(1, false).unwrap());
    assert!(b.try_lock(1, false).unwrap());
    assert!(!a2.try_lock(1, true).unwrap());
    a.unlock(1).unwrap();
    b.unlock(1).unwrap();
    assert!(a2.try_lock(1, true).unwrap());
    drop(a2);
    assert!(
        !a.locked_by_other(1).unwrap(),
        "a dropped mapping's locks go"
    );
}

#[test]
fn a_killed_process_loses_its_locks_and_its_voice_but_keeps_its_page_cache() {
    use std::sync::atomic::Ordering;
    let s = sim(41);
    let victim = s.spawn_process();
    let shm = region(&victim, "db-shm");
    let mine = region(&s, "db-shm");
    assert!(shm.try_lock(2, true).unwrap());
    let f = victim.open(&p("log"), OpenMode::Create).unwrap();
    f.write_at(b"written, never synced", 0).unwrap();
    assert!(f.try_lock_exclusive().unwrap());
    victim.kill_process();
    assert!(!victim.is_process_alive());
    // Locks are free, every call of the dead process fails.
    assert!(!mine.locked_by_other(2).unwrap());
    assert!(mine.try_lock(2, true).unwrap());
    let g = s.open(&p("log"), OpenMode::ReadWrite).unwrap();
    assert!(g.try_lock_exclusive().unwrap());
    assert_eq!(errno(&f.write_at(b"x", 0).unwrap_err()), Some(libc::EIO));
    assert_eq!(
        errno(&victim.list(Path::new(DIR)).unwrap_err()),
        Some(libc::EIO)
    );
    // Its stores no longer reach the others.
    mine.words()[5].store(1, Ordering::SeqCst);
    shm.words()[5].store(99, Ordering::SeqCst);
    assert_eq!(mine.words()[5].load(Ordering::SeqCst), 1);
    assert_eq!(
        shm.words()[5].load(Ordering::SeqCst),
        99,
        "its own frozen view"
    );
    // The page cache kept its write, unsynced: readable now, gone after
    // a strict power loss.
    let mut buf = vec![0u8; 21];
    g.read_at(&mut buf, 0).unwrap();
    assert_eq!(&buf, b"written, never synced");
    drop((f, g));
    s.crash_with(CrashMode::STRICT);
    assert!(!s.exists(&p("log")).unwrap(), "its name was never synced");
    assert!(victim.is_process_alive(), "a reboot ends every process");
}

#[test]
fn kill_at_step_kills_the_calling_process_only() {
    let s = sim(42);
    let victim = s.spawn_process();
    let f = victim.open(&p("a"), OpenMode::Create).unwrap();
    let g = s.open(&p("b"), OpenMode::Create).unwrap();
    let step = s.steps();
    s.set_kill_at(step + 2);
    g.write_at(b"1", 0).unwrap();
    assert_eq!(errno(&f.write_at(b"2", 0).unwrap_err()), Some(libc::EIO));
    assert!(!victim.is_process_alive());
    assert!(s.is_process_alive());
    g.write_at(b"3", 0).unwrap();
    assert_eq!(s.steps(), step + 2, "the failed call was not a step");
    assert_eq!(s.stats().process_kills, 1);
}

#[test]
fn loss_within_a_boot_keeps_the_boot_and_the_handles() {
    let s = sim(43);
    let boot = s.boot_tag();
    assert_ne!(boot, 0);
    let f = durable_file(&s, "f", &pattern(1024, 1));
    f.write_at(&pattern(512, 9), 0).unwrap();
    s.lose_in_boot(CrashMode::STRICT);
    assert_eq!(s.boot_tag(), boot, "no reboot");
    let mut buf = vec![0u8; 1024];
    f.read_at(&mut buf, 0).unwrap();
    assert_eq!(buf, pattern(1024, 1), "the unsynced write is gone");
    f.write_at(b"still usable", 0).unwrap();
    s.crash_with(CrashMode::STRICT);
    assert_ne!(s.boot_tag(), boot, "a power loss is a new boot");
    assert_eq!(s.stats().losses_in_boot, 1);
}

#[test]
fn shared_memory_needs_space_and_can_be_switched_off() {
    let s = sim(44);
    s.set_capacity_bytes(Some(SIM_SECTOR_BYTES));
    let e = match s.open_shared(&p("db-shm"), SHM_WORDS * 8) {
        Err(e) => e,
        Ok(_) => panic!("mapped a region on a full disk"),
    };
    assert_eq!(errno(&e), Some(libc::ENOSPC));
    s.set_capacity_bytes(None);
    assert!(s
        .open_shared(&p("db-shm"), SHM_WORDS * 8)
        .unwrap()
        .is_some());
    s.set_shared_memory(false);
    assert!(s
        .open_shared(&p("db-shm"), SHM_WORDS * 8)
        .unwrap()
        .is_none());
}

#[test]
fn processes_are_separate_storage_instances() {
    let s = sim(45);
    let t = s.spawn_process();
    assert_eq!(s.instance_id(), s.clone().instance_id());
    assert_ne!(s.instance_id(), t.instance_id());
    assert_ne!(s.process_id(), t.process_id());
}
