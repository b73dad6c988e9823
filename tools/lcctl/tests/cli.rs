//! Runs the built `lcctl` on healthy, torn and corrupted databases and
//! checks its output, its JSON and its exit codes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use libcommit::{inspect, Database, Options, PageWrite};
use serde_json::Value;

fn lcctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lcctl"))
        .args(args)
        .output()
        .expect("run lcctl")
}

fn run(args: &[&str], path: &Path) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.push(path.to_str().unwrap());
    lcctl(&all)
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().expect("exit code")
}

/// Runs `args PATH --json`, expecting exit `want`; returns the document.
fn json(args: &[&str], path: &Path, want: i32) -> Value {
    let mut all: Vec<&str> = args.to_vec();
    all.push("--json");
    let o = run(&all, path);
    assert_eq!(code(&o), want, "{args:?}: {}{}", stdout(&o), stderr(&o));
    serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&o)))
}

/// Runs `args PATH`, expecting exit `want`; returns stdout.
fn human(args: &[&str], path: &Path, want: i32) -> String {
    let o = run(args, path);
    assert_eq!(code(&o), want, "{args:?}: {}{}", stdout(&o), stderr(&o));
    stdout(&o)
}

fn opts() -> Options {
    Options {
        segment_size_bytes: 64 << 10,
        checkpoint_threshold_bytes: 0,
        ..Options::default()
    }
}

/// 30 commits, a checkpoint, 30 more commits (one 1500-byte page each).
fn populate() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.db");
    let db = Database::open(&path, opts()).unwrap();
    for i in 1..=60u32 {
        db.commit_batch(&[PageWrite::put(i, &[i as u8; 1500])])
            .unwrap();
        if i == 30 {
            db.checkpoint().unwrap();
        }
    }
    db.close().unwrap();
    (dir, path)
}

#[test]
fn info_lists_the_processes_sharing_the_database() {
    let (_dir, path) = populate();
    let db = Database::open(&path, opts()).unwrap();
    let t = db.begin().unwrap();
    let j = json(&["info"], &path, 0);
    let slots = j["reader_slots"].as_array().unwrap();
    assert_eq!(slots.len(), 1, "{j}");
    assert_eq!(slots[0]["pid"], std::process::id());
    assert_eq!(slots[0]["snapshot"], t.snapshot());
    assert_eq!(slots[0]["readers"], 1);
    assert_eq!(slots[0]["alive"], true);
    let out = human(&["info"], &path, 0);
    let want = format!("pid {}, snapshot {}", std::process::id(), t.snapshot());
    assert!(out.contains("1 process(es) attached"), "{out}");
    assert!(out.contains(&want), "missing {want:?} in\n{out}");
    drop(t);
    db.close().unwrap();
    let j = json(&["info"], &path, 0);
    assert_eq!(j["reader_slots"].as_array().unwrap().len(), 0);
}

fn flip(path: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    b[0] ^= 1;
    f.write_all_at(&b, offset).unwrap();
}

/// Zeroes the last 120 bytes written to the last segment holding frames
/// (the seal and the last commit record), as a crash would leave them.
fn tear(path: &Path) {
    let info = inspect::info(path).unwrap();
    let last = info
        .recovery
        .segments
        .iter()
        .rev()
        .find(|s| s.frames_kept > 0)
        .unwrap();
    let data = std::fs::read(&last.path).unwrap();
    let end = data.iter().rposition(|&b| b != 0).unwrap() as u64;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&last.path)
        .unwrap();
    f.set_len(end - 120).unwrap();
    f.set_len(data.len() as u64).unwrap();
}

/// Flips a byte in the page image of commit `seq` (a WAL frame with later
/// commits after it). Returns the segment file and the frame's offset in it.
fn flip_wal_image(path: &Path, seq: u64) -> (PathBuf, u64) {
    let mut at = None;
    inspect::dump(path, &mut |seg, f| {
        if f.kind == "page" && f.commit_seq == seq {
            at = Some((seg.to_path_buf(), f.log_offset));
        }
    })
    .unwrap();
    let (seg, log_offset) = at.expect("frame of the commit");
    let info = inspect::info(path).unwrap();
    let s = info.segments.iter().find(|s| s.path == seg).unwrap();
    // The file has a 4 KiB header; the frame header (40 bytes), then the image.
    let frame = 4096 + (log_offset - s.log_start);
    flip(&seg, frame + 40 + 100);
    (seg, frame)
}

/// Every file in `dir` with its contents, but `{path}-shm`: what processes
/// sharing the database tell each other, rewritten by every open.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            !e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with("-shm")
        })
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

#[test]
fn info_describes_a_healthy_database() {
    let (_dir, path) = populate();
    let out = human(&["info"], &path, 0);
    for want in [
        "page size        4096 bytes",
        "checkpoint seq   30",
        "last commit seq  60",
        "main file        30 pages",
        "WAL segments",
        "-wal-seg-",
        "would replay 30 commits (30 records",
        "frames kept",
        "open             would succeed",
        "reader slots     0 process(es) attached; writer lease: none; published tip 60",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
    let j = json(&["info"], &path, 0);
    assert_eq!(j["page_size"], 4096);
    assert_eq!(j["checkpoint_seq"], 30);
    assert_eq!(j["last_commit_seq"], 60);
    assert_eq!(j["main_pages"], 30);
    assert_eq!(j["reader_slots"].as_array().unwrap().len(), 0);
    assert_eq!(j["shared"]["commit_tip"], 60);
    assert_eq!(j["open_would_fail"], false);
    assert!(j["corruption"].is_null());
    assert_eq!(j["recovery"]["commits_recovered"], 30);
    assert_eq!(j["recovery"]["torn_tail"], false);
    assert!(!j["segments"].as_array().unwrap().is_empty());
    let segs = j["recovery"]["segments"].as_array().unwrap();
    let kept: u64 = segs
        .iter()
        .map(|s| s["frames_kept"].as_u64().unwrap())
        .sum();
    assert!(kept >= 60, "{segs:?}");
    assert!(segs.iter().all(|s| s["dropped"].is_null()));
}

#[test]
fn verify_and_dump_a_healthy_database() {
    let (_dir, path) = populate();
    let out = human(&["verify"], &path, 0);
    assert!(out.ends_with("clean\n"), "{out}");
    let j = json(&["verify"], &path, 0);
    assert_eq!(j["clean"], true);
    assert_eq!(j["torn_tail"], false);
    assert!(j["units_checked"].as_u64().unwrap() >= 60);
    assert!(j["bad"].as_array().unwrap().is_empty());

    let out = human(&["dump"], &path, 0);
    assert!(out.contains("frames           61"), "{out}");
    assert!(out.contains("commits          30"), "{out}");
    assert!(out.contains("pgno/count"), "{out}");
    let j = json(&["dump"], &path, 0);
    assert_eq!(j["frames_total"], 61);
    assert_eq!(j["commits_total"], 30);
    assert_eq!(j["truncated"], false);
    let commits = j["commits"].as_array().unwrap();
    assert_eq!(commits[0]["commit_seq"], 31);
    assert_eq!(commits[29]["commit_seq"], 60);
    assert!(commits.iter().all(|c| c["epoch"].is_u64()));
    let frames = j["frames"].as_array().unwrap();
    assert_eq!(frames[0]["kind"], "page");
    assert_eq!(frames[0]["pgno"], 31);
    assert_eq!(frames[0]["payload_len"], 1500);
    let j = json(&["dump", "--limit", "5"], &path, 0);
    assert_eq!(j["frames"].as_array().unwrap().len(), 5);
    assert_eq!(j["commits"].as_array().unwrap().len(), 5);
    assert_eq!(j["frames_total"], 61);
    assert_eq!(j["truncated"], true);
}

#[test]
fn recover_a_healthy_database() {
    let (dir, path) = populate();
    let before = files(dir.path());
    let out = human(&["recover", "--dry-run", "--delete-after"], &path, 0);
    assert!(out.contains("dry run"), "{out}");
    assert!(
        out.contains("would            write the pages of 30 commit(s)"),
        "{out}"
    );
    let j = json(&["recover", "--dry-run"], &path, 0);
    assert_eq!(j["outcome"], "would_recover");
    assert_eq!(j["actions"][0]["action"], "write_main");
    assert_eq!(files(dir.path()), before, "a dry run touches nothing");

    let j = json(&["recover", "--delete-after"], &path, 0);
    assert_eq!(j["outcome"], "recovered");
    assert_eq!(j["report"]["commits_recovered"], 30);
    assert_eq!(j["report"]["last_commit_seq"], 60);
    assert_eq!(j["checkpoint_seq"], 60);
    let deleted: Vec<&Value> = j["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "delete")
        .collect();
    assert!(!deleted.is_empty(), "{j}");
    for d in deleted {
        assert!(!Path::new(d["path"].as_str().unwrap()).exists());
    }
    let j = json(&["info"], &path, 0);
    assert_eq!(j["checkpoint_seq"], 60);
    assert_eq!(j["last_commit_seq"], 60);
    let db = Database::open(&path, opts()).unwrap();
    assert_eq!(db.read(60).unwrap().as_deref(), Some(&[60u8; 1500][..]));
    db.close().unwrap();
}

#[test]
fn checkpoint_reports_and_busy_exits_3() {
    let (_dir, path) = populate();
    let out = human(&["checkpoint"], &path, 0);
    assert!(out.contains("pages written    30"), "{out}");
    assert!(out.contains("checkpoint seq   60"), "{out}");
    let j = json(&["checkpoint"], &path, 0);
    assert_eq!(j["checkpoint_seq"], 60);
    assert_eq!(j["pages_written"], 0);
    assert_eq!(j["recovery_on_open"]["commits_recovered"], 0);

    // Another process (this one) has the database open: a checkpoint
    // joins it (and sees its commits); offline recovery is refused.
    let db = Database::open(&path, opts()).unwrap();
    db.commit_batch(&[PageWrite::put(61, &[61u8; 100])])
        .unwrap();
    let j = json(&["checkpoint", "--busy-timeout-ms", "2000"], &path, 0);
    assert_eq!(j["checkpoint_seq"], 61);
    let o = run(&["recover"], &path);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with("lcctl recover: busy:"),
        "{}",
        stderr(&o)
    );
    let j = json(&["recover"], &path, 3);
    assert_eq!(j["error"]["status"], "busy");
    db.close().unwrap();
}

#[test]
fn usage_and_io_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.db");
    for cmd in ["info", "verify", "dump", "recover", "checkpoint"] {
        let o = run(&[cmd], &missing);
        assert_eq!(code(&o), 2, "{cmd}: {}", stderr(&o));
        assert!(
            stderr(&o).starts_with(&format!("lcctl {cmd}: ")),
            "{}",
            stderr(&o)
        );
    }
    assert!(files(dir.path()).is_empty(), "nothing created");
    assert_eq!(code(&lcctl(&["verify"])), 2);
    assert_eq!(code(&lcctl(&["frobnicate"])), 2);
    std::fs::write(&missing, b"x").unwrap();
    let o = run(&["bench"], &missing);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert_eq!(std::fs::read(&missing).unwrap(), b"x");
}

#[test]
fn bench_prints_both_rates_and_cleans_up() {
    let dir = tempfile::tempdir().unwrap();
    let j = json(
        &["bench", "--seconds", "0.1", "--threads", "2"],
        dir.path(),
        0,
    );
    assert_eq!(j["threads"], 2);
    assert_eq!(j["sync"], "full");
    assert!(j["commits"].as_u64().unwrap() > 0, "{j}");
    assert!(j["raw_fdatasyncs"].as_u64().unwrap() > 0, "{j}");
    assert!(j["ratio"].as_f64().unwrap() > 0.0, "{j}");
    assert!(files(dir.path()).is_empty(), "scratch removed");
    let path = dir.path().join("b.db");
    let out = human(&["bench", "--seconds", "0.05"], &path, 0);
    assert!(out.contains("commits/s"), "{out}");
    assert!(out.contains("raw fdatasync"), "{out}");
    assert!(out.contains("ratio"), "{out}");
    assert!(path.exists(), "a named database is left in place");
    assert_eq!(
        files(dir.path())
            .keys()
            .filter(|k| k.contains("raw"))
            .count(),
        0
    );
}

#[test]
fn torn_tail_is_reported_and_clean() {
    let (_dir, path) = populate();
    tear(&path);
    let out = human(&["info"], &path, 0);
    assert!(out.contains("(torn tail)"), "{out}");
    assert!(out.contains("last commit seq  59"), "{out}");
    assert!(out.contains("would succeed"), "{out}");
    let j = json(&["info"], &path, 0);
    assert_eq!(j["recovery"]["torn_tail"], true);
    assert_eq!(j["open_would_fail"], false);
    let segs = j["recovery"]["segments"].as_array().unwrap();
    let torn: Vec<&Value> = segs.iter().filter(|s| !s["dropped"].is_null()).collect();
    assert_eq!(torn.len(), 1, "{segs:?}");
    assert_eq!(torn[0]["dropped"]["reason"], "torn_tail");
    assert!(torn[0]["frames_dropped"].as_u64().unwrap() > 0);

    let out = human(&["verify"], &path, 0);
    assert!(out.contains("torn tail: yes"), "{out}");
    assert!(out.ends_with("clean\n"), "{out}");
    let j = json(&["verify"], &path, 0);
    assert_eq!(j["clean"], true);
    assert_eq!(j["torn_tail"], true);
    human(&["dump"], &path, 0);

    let j = json(&["recover"], &path, 0);
    assert_eq!(j["report"]["last_commit_seq"], 59);
    assert_eq!(j["report"]["torn_tail"], true);
    assert_eq!(j["checkpoint_seq"], 59);
}

#[test]
fn flipped_byte_in_a_checkpointed_page_fails_verify() {
    let (_dir, path) = populate();
    // Slots start after the two 4 KiB header copies; damage the first.
    flip(&path, 8192 + 100);
    let o = run(&["verify"], &path);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let out = stdout(&o);
    assert!(out.contains("CORRUPT: 1 bad unit(s)"), "{out}");
    assert!(
        out.contains(&format!("{} offset 8192: ", path.display())),
        "{out}"
    );
    assert!(out.contains("checksum"), "{out}");
    assert_eq!(stderr(&o), "lcctl verify: corrupt: 1 bad unit(s)\n");
    let j = json(&["verify"], &path, 1);
    assert_eq!(j["clean"], false);
    let bad = j["bad"].as_array().unwrap();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0]["file"], path.to_str().unwrap());
    assert_eq!(bad[0]["offset"], 8192);
    assert!(bad[0]["what"].as_str().unwrap().contains("checksum"));
    // The log is intact: info describes, and opening would succeed.
    let j = json(&["info"], &path, 0);
    assert_eq!(j["open_would_fail"], false);
}

#[test]
fn flipped_byte_in_the_wal_fails_verify_and_recover() {
    let (dir, path) = populate();
    let (seg, frame) = flip_wal_image(&path, 45);
    let out = human(&["info"], &path, 0);
    assert!(
        out.contains("open             would FAIL: corrupt:"),
        "{out}"
    );
    assert!(out.contains("(checksum: "), "{out}");
    let j = json(&["info"], &path, 0);
    assert_eq!(j["open_would_fail"], true);
    assert!(j["corruption"].is_string());

    let o = run(&["verify"], &path);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains(&seg.display().to_string()),
        "{}",
        stdout(&o)
    );
    let j = json(&["verify"], &path, 1);
    assert_eq!(j["clean"], false);
    let bad = j["bad"].as_array().unwrap();
    let unit = bad
        .iter()
        .find(|b| b["file"] == seg.to_str().unwrap())
        .unwrap_or_else(|| panic!("{bad:?}"));
    assert_eq!(unit["offset"], frame, "{unit}");
    assert!(
        unit["what"].as_str().unwrap().starts_with("checksum: "),
        "{unit}"
    );

    // Without --skip-corrupt: refuses, exit 1, nothing touched.
    let before = files(dir.path());
    let o = run(&["recover"], &path);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).starts_with("lcctl recover: corrupt: "),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).contains("refused: corrupt: "), "{}", stdout(&o));
    let j = json(&["recover"], &path, 1);
    assert_eq!(j["outcome"], "corrupt");
    assert!(j["actions"].as_array().unwrap().is_empty());
    let j = json(&["recover", "--dry-run"], &path, 1);
    assert_eq!(j["outcome"], "would_fail");
    let o = run(&["checkpoint"], &path);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert_eq!(files(dir.path()), before, "refusals touch nothing");

    // The dry run of --skip-corrupt says what it would do, still touching
    // nothing; the real one keeps the prefix and sets the rest aside.
    let j = json(&["recover", "--dry-run", "--skip-corrupt"], &path, 0);
    assert_eq!(j["outcome"], "would_recover");
    assert_eq!(j["report"]["last_commit_seq"], 44);
    assert_eq!(files(dir.path()), before);
    let j = json(&["recover", "--skip-corrupt"], &path, 0);
    assert_eq!(j["outcome"], "recovered");
    assert_eq!(j["report"]["last_commit_seq"], 44);
    assert_eq!(j["checkpoint_seq"], 44);
    let segs = j["report"]["segments"].as_array().unwrap();
    let bad = segs
        .iter()
        .find(|s| s["path"] == seg.to_str().unwrap())
        .unwrap();
    assert_eq!(bad["dropped"]["reason"], "checksum", "{bad}");
    let aside: Vec<&Value> = j["actions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "set_aside")
        .collect();
    assert!(!aside.is_empty(), "{j}");
    let mut corrupt = seg.clone().into_os_string();
    corrupt.push(".corrupt");
    assert!(Path::new(&corrupt).exists());
    assert!(!seg.exists());

    let db = Database::open(&path, opts()).unwrap();
    assert_eq!(db.read(44).unwrap().as_deref(), Some(&[44u8; 1500][..]));
    assert_eq!(db.read(45).unwrap(), None);
    db.close().unwrap();
    human(&["verify"], &path, 0);
}
