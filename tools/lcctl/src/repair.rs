//! The commands that change a database: recover and checkpoint.

use std::path::Path;
use std::time::Duration;

use indicatif::ProgressBar;
use libcommit::{inspect as li, Database, Options, RecoveryOptions, RecoveryReport};
use serde::Serialize;

use crate::view::{file_name, text, Lines, RecoveryView};
use crate::{show_progress, CheckpointArgs, Failure, Outcome, RecoverArgs, EXIT_CORRUPT, EXIT_OK};

/// Refuses a path with no main file: recover and checkpoint would
/// otherwise create files (a lock file, a new database) beside it.
fn require_database(path: &Path) -> Result<(), Failure> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Failure::usage(format!("{}: not a file", path.display()))),
        Err(e) => Err(Failure::io("open main file", path, e)),
    }
}

/// One change recovery made, or would make.
#[derive(Serialize)]
struct ActionView {
    /// "write_main", "set_aside" or "delete".
    action: &'static str,
    path: String,
    detail: String,
}

#[derive(Serialize)]
struct RecoverDoc {
    path: String,
    dry_run: bool,
    skip_corrupt: bool,
    delete_after: bool,
    /// "recovered", "would_recover", "corrupt" (refused, nothing changed)
    /// or "would_fail" (a dry run of that).
    outcome: &'static str,
    corruption: Option<String>,
    report: RecoveryView,
    /// Done, or (dry run) planned; empty when recovery refuses.
    actions: Vec<ActionView>,
    /// The main file's checkpoint_seq afterwards (before, in a dry run).
    checkpoint_seq: u64,
}

/// What recovery with these options does given `report`, mirroring
/// `libcommit::recover` (not called when it refuses a corrupt log).
/// Fully checkpointed and temporary segment files that `--delete-after`
/// also removes are not listed: the report does not name them.
fn actions(a: &RecoverArgs, path: &Path, report: &RecoveryReport) -> Vec<ActionView> {
    let mut out = Vec::new();
    if report.commits_recovered > 0 {
        out.push(ActionView {
            action: "write_main",
            path: text(path),
            detail: format!(
                "write the pages of {} commit(s), up to commit {}, into the main file",
                report.commits_recovered, report.last_commit_seq
            ),
        });
    }
    for s in &report.segments {
        let partial = report.partial_segments.contains(&s.path);
        if partial && a.skip_corrupt {
            out.push(ActionView {
                action: "set_aside",
                path: text(&s.path),
                detail: format!(
                    "rename {name} to {name}.corrupt (kept, never read again)",
                    name = file_name(&s.path)
                ),
            });
        } else if !partial && a.delete_after {
            out.push(ActionView {
                action: "delete",
                path: text(&s.path),
                detail: format!("delete {} (replayed)", file_name(&s.path)),
            });
        }
    }
    out
}

fn recover_human(d: &RecoverDoc) -> String {
    let mut out = Lines::new();
    let mode = if d.dry_run {
        " (dry run: nothing changed)"
    } else {
        ""
    };
    out.raw(&format!("recover {}{mode}\n", d.path));
    out.kv("recovery", d.report.summary());
    d.report.segment_lines(&mut out.0);
    if d.report.torn_tail {
        out.kv("torn tail", "yes (cut; a normal event after a crash)");
    }
    let verb = if d.dry_run { "would" } else { "did" };
    if d.actions.is_empty() && d.corruption.is_none() {
        out.kv(
            verb,
            "nothing (the log holds no commits past the checkpoint)",
        );
    }
    for (i, act) in d.actions.iter().enumerate() {
        out.kv(if i == 0 { verb } else { "" }, &act.detail);
    }
    let outcome = match d.outcome {
        "recovered" => format!("recovered; checkpoint seq now {}", d.checkpoint_seq),
        "would_recover" => format!(
            "would recover; the database would open at commit {}",
            d.report.last_commit_seq
        ),
        _ => format!(
            "{}: corrupt: {}; nothing changed (--skip-corrupt keeps commits up to {})",
            if d.dry_run { "would fail" } else { "refused" },
            d.corruption.as_deref().unwrap_or("?"),
            d.report.last_commit_seq
        ),
    };
    out.kv("outcome", outcome);
    out.0
}

fn spinner(json: bool, message: String) -> ProgressBar {
    if !show_progress(json) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    bar.set_message(message);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

pub fn recover(a: &RecoverArgs) -> Result<Outcome, Failure> {
    let path = &a.common.path;
    require_database(path)?;
    let before = li::info(path)?;
    let refuse = before.corruption.is_some() && !a.skip_corrupt;
    let mut doc = RecoverDoc {
        path: text(path),
        dry_run: a.dry_run,
        skip_corrupt: a.skip_corrupt,
        delete_after: a.delete_after,
        outcome: if a.dry_run {
            "would_recover"
        } else {
            "recovered"
        },
        corruption: before.corruption.clone(),
        report: RecoveryView::from(&before.recovery),
        actions: Vec::new(),
        checkpoint_seq: before.checkpoint_seq,
    };
    if a.dry_run {
        if refuse {
            doc.outcome = "would_fail";
            return Ok(refused(doc));
        }
        doc.actions = actions(a, path, &before.recovery);
        return Ok(Outcome::new(&doc, recover_human(&doc), EXIT_OK));
    }
    let bar = spinner(a.common.json, format!("recovering {}", path.display()));
    let result = libcommit::recover(
        path,
        RecoveryOptions {
            skip_corrupt: a.skip_corrupt,
            delete_after: a.delete_after,
            ..RecoveryOptions::default()
        },
    );
    bar.finish_and_clear();
    let report = match result {
        // Refused, changing nothing: show the scan that explains why.
        Err(libcommit::Error::Corrupt(why)) if !a.skip_corrupt => {
            doc.outcome = "corrupt";
            doc.corruption = Some(why);
            return Ok(refused(doc));
        }
        other => other?,
    };
    doc.report = RecoveryView::from(&report);
    doc.actions = actions(a, path, &report);
    doc.checkpoint_seq = li::info(path)?.checkpoint_seq;
    Ok(Outcome::new(&doc, recover_human(&doc), EXIT_OK))
}

/// The outcome of a recovery that refuses a corrupt log: exit 1.
fn refused(doc: RecoverDoc) -> Outcome {
    let why = format!(
        "corrupt: {}; nothing changed (rerun with --skip-corrupt to keep the durable prefix)",
        doc.corruption.as_deref().unwrap_or("?")
    );
    Outcome::new(&doc, recover_human(&doc), EXIT_CORRUPT).with_error(why)
}

#[derive(Serialize)]
struct CheckpointDoc {
    path: String,
    pages_written: u64,
    segments_removed: u64,
    checkpoint_seq: u64,
    /// What opening the database replayed before the checkpoint.
    recovery_on_open: RecoveryView,
}

fn checkpoint_human(d: &CheckpointDoc) -> String {
    let mut out = Lines::new();
    out.raw(&format!("checkpoint {}\n", d.path));
    out.kv(
        "opened",
        format!("replayed {}", d.recovery_on_open.summary()),
    );
    out.kv("pages written", d.pages_written);
    out.kv("segments removed", d.segments_removed);
    out.kv("checkpoint seq", d.checkpoint_seq);
    out.0
}

pub fn checkpoint(a: &CheckpointArgs) -> Result<Outcome, Failure> {
    let path = &a.common.path;
    require_database(path)?;
    // The page size must match the file's, or open refuses it.
    let page_size = li::info(path)?.page_size;
    let db = Database::open(
        path,
        Options {
            page_size,
            busy_timeout_ms: a.busy_timeout_ms,
            ..Options::default()
        },
    )?;
    let opened = db.last_recovery();
    let result = db.checkpoint();
    let closed = db.close();
    let report = result?;
    closed?;
    let doc = CheckpointDoc {
        path: text(path),
        pages_written: report.pages_written,
        segments_removed: report.segments_removed,
        checkpoint_seq: report.checkpoint_seq,
        recovery_on_open: RecoveryView::from(&opened),
    };
    Ok(Outcome::new(&doc, checkpoint_human(&doc), EXIT_OK))
}
