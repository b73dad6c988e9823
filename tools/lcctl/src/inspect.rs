//! The read-only commands: info, verify and dump. They read the files as
//! they are on disk, take no lock and change nothing.

use std::fmt::Write as _;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use libcommit::inspect::{self as li, DatabaseInfo};
use libcommit::DropReason;
use serde::Serialize;

use crate::view::{file_name, text, Lines, RecoveryView, SegmentView};
use crate::{show_progress, DumpArgs, Failure, Outcome, PathArgs, EXIT_CORRUPT, EXIT_OK};

/// Shown when the database has no `{path}-shm` (no process ever shared it).
const NO_SHM_NOTE: &str = "none (no process has the database open)";

/// One process attached to the database, from `{path}-shm`.
#[derive(Serialize)]
struct SlotView {
    slot: usize,
    pid: u32,
    /// Oldest snapshot the process reads at (pins checkpoints), if any.
    snapshot: Option<u64>,
    /// Readers (open transactions and reads) in the process.
    readers: u64,
    /// Milliseconds since its last heartbeat.
    heartbeat_age_ms: u64,
    wants_lease: bool,
    /// False: the process is gone; its slot is reclaimed by the next
    /// process that needs one and pins nothing meanwhile.
    alive: bool,
}

#[derive(Serialize)]
struct SharedView {
    commit_tip: u64,
    durable_tip: u64,
    writer_pid: Option<u32>,
}
#[derive(Serialize)]
struct InfoDoc {
    path: String,
    page_size: u32,
    db_id: String,
    generation: u64,
    checkpoint_seq: u64,
    last_commit_seq: u64,
    main_pages: u64,
    main_file_bytes: u64,
    segments: Vec<SegmentView>,
    capsule_segments: Vec<SegmentView>,
    /// What opening the database now would replay.
    recovery: RecoveryView,
    /// Opening now would fail with Corrupt.
    open_would_fail: bool,
    corruption: Option<String>,
    /// Published state of `{path}-shm` (null without one).
    shared: Option<SharedView>,
    /// Process slots of `{path}-shm` (null without one).
    reader_slots: Option<Vec<SlotView>>,
}

fn info_doc(i: &DatabaseInfo) -> InfoDoc {
    InfoDoc {
        path: text(&i.path),
        page_size: i.page_size,
        db_id: format!("{:016x}", i.db_id),
        generation: i.generation,
        checkpoint_seq: i.checkpoint_seq,
        last_commit_seq: i.last_commit_seq,
        main_pages: i.main_pages,
        main_file_bytes: i.main_file_bytes,
        segments: i.segments.iter().map(SegmentView::from).collect(),
        capsule_segments: i.capsule_segments.iter().map(SegmentView::from).collect(),
        recovery: RecoveryView::from(&i.recovery),
        open_would_fail: i.corruption.is_some(),
        corruption: i.corruption.clone(),
        shared: i.shared.as_ref().map(|s| SharedView {
            commit_tip: s.state.commit_tip,
            durable_tip: s.state.durable_tip,
            writer_pid: (s.state.writer_pid != 0).then_some(s.state.writer_pid),
        }),
        reader_slots: i.shared.as_ref().map(|s| {
            let now = libcommit::inspect::now_ms();
            s.slots
                .iter()
                .map(|x| SlotView {
                    slot: x.index,
                    pid: x.pid,
                    snapshot: x.snapshot,
                    readers: x.readers,
                    heartbeat_age_ms: now.saturating_sub(x.heartbeat_ms),
                    wants_lease: x.wants_lease,
                    alive: x.alive,
                })
                .collect()
        }),
    }
}

fn segment_list(out: &mut Lines, key: &str, segments: &[SegmentView]) {
    if segments.is_empty() {
        out.kv(key, "none");
        return;
    }
    out.kv(key, segments.len());
    for s in segments {
        out.raw(&s.line());
    }
}

fn info_human(d: &InfoDoc) -> String {
    let mut out = Lines::new();
    out.kv("database", &d.path);
    out.kv("page size", format!("{} bytes", d.page_size));
    out.kv("db id", &d.db_id);
    out.kv(
        "generation",
        format!("{} (checkpoints so far)", d.generation),
    );
    out.kv("checkpoint seq", d.checkpoint_seq);
    out.kv("last commit seq", d.last_commit_seq);
    out.kv(
        "main file",
        format!("{} pages, {} bytes", d.main_pages, d.main_file_bytes),
    );
    segment_list(&mut out, "WAL segments", &d.segments);
    segment_list(&mut out, "capsule segments", &d.capsule_segments);
    out.kv("recovery", format!("would replay {}", d.recovery.summary()));
    d.recovery.segment_lines(&mut out.0);
    if d.recovery.torn_tail {
        out.kv("torn tail", "yes (a crash cut the last write; cut on open)");
    }
    match &d.corruption {
        Some(why) => out.kv("open", format!("would FAIL: corrupt: {why}")),
        None => out.kv("open", "would succeed"),
    }
    match (&d.shared, &d.reader_slots) {
        (Some(sh), Some(slots)) => {
            let live = slots.iter().filter(|s| s.alive).count();
            let writer = sh
                .writer_pid
                .map_or("none".to_string(), |p| format!("pid {p}"));
            out.kv(
                "reader slots",
                format!(
                    "{live} process(es) attached; writer lease: {writer}; published tip {} (durable {})",
                    sh.commit_tip, sh.durable_tip
                ),
            );
            for s in slots {
                let snap = s
                    .snapshot
                    .map_or("no snapshot".to_string(), |v| format!("snapshot {v}"));
                let state = if s.alive {
                    format!("heartbeat {} ms ago", s.heartbeat_age_ms)
                } else {
                    "DEAD (reclaimable, pins nothing)".to_string()
                };
                let wants = if s.wants_lease {
                    ", waiting for the lease"
                } else {
                    ""
                };
                out.raw(&format!(
                    "  slot {}: pid {}, {snap}, {} reader(s), {state}{wants}",
                    s.slot, s.pid, s.readers
                ));
            }
        }
        _ => out.kv("reader slots", NO_SHM_NOTE),
    }
    out.0
}

pub fn info(a: &PathArgs) -> Result<Outcome, Failure> {
    let doc = info_doc(&li::info(&a.path)?);
    Ok(Outcome::new(&doc, info_human(&doc), EXIT_OK))
}

#[derive(Serialize)]
struct BadView {
    file: String,
    offset: u64,
    what: String,
}

impl From<&li::BadUnit> for BadView {
    fn from(b: &li::BadUnit) -> BadView {
        BadView {
            file: text(&b.file),
            offset: b.offset,
            what: b.what.clone(),
        }
    }
}

/// Where a segment's log window starts in its file (docs/FORMAT.md).
const SEGMENT_HEADER_BLOCK_BYTES: u64 = 4096;

/// `inspect::verify` names a segment the log scan stopped in by its drop
/// reason in Debug form at offset 0. Rewrites such units with the reason
/// as `info` renders it and, when the reason names a log offset inside
/// the segment, the file offset of that frame. A stopgap until the engine
/// reports the offset itself; anything unrecognised is left as it was.
fn locate_segment_units(bad: &mut [BadView], info: &DatabaseInfo) {
    for b in bad.iter_mut().filter(|b| b.offset == 0) {
        let Some(seg) = info
            .recovery
            .segments
            .iter()
            .find(|s| text(&s.path) == b.file)
        else {
            continue;
        };
        let Some(reason) = seg.dropped.as_ref().filter(|d| format!("{d:?}") == b.what) else {
            continue;
        };
        b.what = match reason {
            DropReason::AfterCorruption => "not replayed: after the corrupt segment".to_string(),
            other => other.to_string(),
        };
        let window = info.segments.iter().find(|s| s.path == seg.path);
        let log_offset = b
            .what
            .rsplit_once("log offset ")
            .and_then(|(_, n)| n.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse::<u64>().ok());
        if let (Some(w), Some(at)) = (window, log_offset) {
            if (w.log_start..w.log_start + w.capacity).contains(&at) {
                b.offset = SEGMENT_HEADER_BLOCK_BYTES + (at - w.log_start);
            }
        }
    }
}

#[derive(Serialize)]
struct VerifyDoc {
    path: String,
    clean: bool,
    torn_tail: bool,
    units_checked: u64,
    bytes_checked: u64,
    bad: Vec<BadView>,
}

fn verify_human(d: &VerifyDoc) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "verify {}: {} units, {} bytes checked",
        d.path, d.units_checked, d.bytes_checked
    );
    if d.torn_tail {
        out.push_str("torn tail: yes (a crash cut the last write; normal, not corruption)\n");
    }
    if d.clean {
        out.push_str("clean\n");
        return out;
    }
    let _ = writeln!(out, "CORRUPT: {} bad unit(s)", d.bad.len());
    for b in &d.bad {
        let _ = writeln!(out, "  {} offset {}: {}", b.file, b.offset, b.what);
    }
    out
}

/// A bar for `total` units on stderr.
fn progress_bar(total: u64, message: &str) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} units ({eta})") {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_string());
    bar
}

pub fn verify(a: &PathArgs) -> Result<Outcome, Failure> {
    // Made on the first report, once the total is known; never when hidden.
    let show = show_progress(a.json);
    let mut bar: Option<ProgressBar> = None;
    let result = li::verify(&a.path, &mut |done, total| {
        if show {
            let b = bar.get_or_insert_with(|| progress_bar(total, "verify"));
            b.set_length(total);
            b.set_position(done);
        }
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let r = result?;
    let mut doc = VerifyDoc {
        path: text(&a.path),
        clean: r.clean(),
        torn_tail: r.torn_tail,
        units_checked: r.units_checked,
        bytes_checked: r.bytes_checked,
        bad: r.bad.iter().map(BadView::from).collect(),
    };
    if r.bad.iter().any(|b| b.offset == 0 && b.file != a.path) {
        if let Ok(info) = li::info(&a.path) {
            locate_segment_units(&mut doc.bad, &info);
        }
    }
    if doc.clean {
        return Ok(Outcome::new(&doc, verify_human(&doc), EXIT_OK));
    }
    let why = format!("corrupt: {} bad unit(s)", doc.bad.len());
    Ok(Outcome::new(&doc, verify_human(&doc), EXIT_CORRUPT).with_error(why))
}

#[derive(Serialize)]
struct FrameView {
    segment: String,
    log_offset: u64,
    kind: &'static str,
    commit_seq: u64,
    /// Page number (page, delete) or page count (commit, marker).
    pgno: u32,
    payload_len: u32,
    epoch: Option<u64>,
}

#[derive(Serialize)]
struct CommitView {
    commit_seq: u64,
    epoch: Option<u64>,
    pages: u32,
    log_offset: u64,
}

#[derive(Serialize)]
struct DumpDoc {
    path: String,
    checkpoint_seq: u64,
    segments: Vec<SegmentView>,
    capsule_segments: Vec<SegmentView>,
    recovery: RecoveryView,
    frames_total: u64,
    commits_total: u64,
    /// Frames and commits beyond --limit were counted but not listed.
    truncated: bool,
    frames: Vec<FrameView>,
    commits: Vec<CommitView>,
}

fn dump_doc(path: &Path, limit: u64) -> Result<DumpDoc, Failure> {
    let info = li::info(path)?;
    let mut doc = DumpDoc {
        path: text(path),
        checkpoint_seq: info.checkpoint_seq,
        segments: info.segments.iter().map(SegmentView::from).collect(),
        capsule_segments: info
            .capsule_segments
            .iter()
            .map(SegmentView::from)
            .collect(),
        recovery: RecoveryView::from(&info.recovery),
        frames_total: 0,
        commits_total: 0,
        truncated: false,
        frames: Vec::new(),
        commits: Vec::new(),
    };
    let (mut frames, mut commits, mut commits_total) = (Vec::new(), Vec::new(), 0u64);
    doc.frames_total = li::dump(path, &mut |seg, f| {
        if f.kind == "commit" || f.kind == "marker" {
            commits_total += 1;
            if (commits.len() as u64) < limit {
                commits.push(CommitView {
                    commit_seq: f.commit_seq,
                    epoch: f.epoch,
                    pages: f.pgno,
                    log_offset: f.log_offset,
                });
            }
        }
        if (frames.len() as u64) < limit {
            frames.push(FrameView {
                segment: text(seg),
                log_offset: f.log_offset,
                kind: f.kind,
                commit_seq: f.commit_seq,
                pgno: f.pgno,
                payload_len: f.payload_len,
                epoch: f.epoch,
            });
        }
    })?;
    doc.frames = frames;
    doc.commits = commits;
    doc.commits_total = commits_total;
    doc.truncated =
        doc.frames_total > doc.frames.len() as u64 || doc.commits_total > doc.commits.len() as u64;
    Ok(doc)
}

fn opt(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |e| e.to_string())
}

fn dump_human(d: &DumpDoc) -> String {
    let mut out = Lines::new();
    out.kv("database", &d.path);
    out.kv("checkpoint seq", d.checkpoint_seq);
    segment_list(&mut out, "WAL segments", &d.segments);
    segment_list(&mut out, "capsule segments", &d.capsule_segments);
    out.kv("epochs", "");
    d.recovery.segment_lines(&mut out.0);
    out.kv("frames", d.frames_total);
    let mut current = None;
    for f in &d.frames {
        if current != Some(&f.segment) {
            let _ = writeln!(out.0, "  {}", file_name(Path::new(&f.segment)));
            let _ = writeln!(
                out.0,
                "    {:>12}  {:<7} {:>8} {:>10} {:>7} {:>7}",
                "offset", "kind", "seq", "pgno/count", "len", "epoch"
            );
            current = Some(&f.segment);
        }
        let _ = writeln!(
            out.0,
            "    {:>12}  {:<7} {:>8} {:>10} {:>7} {:>7}",
            f.log_offset,
            f.kind,
            f.commit_seq,
            f.pgno,
            f.payload_len,
            opt(f.epoch)
        );
    }
    out.kv("commits", d.commits_total);
    for c in &d.commits {
        let _ = writeln!(
            out.0,
            "  seq {:>8}  epoch {:>7}  pages {:>5}  at {}",
            c.commit_seq,
            opt(c.epoch),
            c.pages,
            c.log_offset
        );
    }
    if d.truncated {
        out.raw("(listing cut at --limit; totals count everything)\n");
    }
    out.0
}

pub fn dump(a: &DumpArgs) -> Result<Outcome, Failure> {
    let doc = dump_doc(&a.common.path, a.limit.unwrap_or(u64::MAX))?;
    Ok(Outcome::new(&doc, dump_human(&doc), EXIT_OK))
}
