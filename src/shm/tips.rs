//! What processes publish to each other: commit, written and durable
//! tips, the segment generation and the checkpoint handshake.

use std::sync::atomic::{fence, Ordering};

use super::layout::{
    W_CHECKPOINT_GEN, W_CHECKPOINT_SEQ, W_CHECKPOINT_TARGET, W_COMMIT_TIP, W_DURABLE_TIP,
    W_SEGMENT_GEN, W_SYNC_DONE, W_SYNC_LEADER, W_WRITER_PID, W_WRITTEN_END, W_WRITTEN_TIP,
};
use super::region::Shm;
use crate::types::CommitSeq;

/// The published state, as `lcctl info` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShmState {
    /// The newest commit any process published as visible.
    pub commit_tip: CommitSeq,
    /// The newest commit any process made durable.
    pub durable_tip: CommitSeq,
    /// The last checkpoint's commit.
    pub checkpoint_seq: CommitSeq,
    /// The main-file header generation of that checkpoint.
    pub checkpoint_generation: u64,
    /// The lease holder's pid as its own PID namespace numbers it (0:
    /// nobody holds the lease; information only).
    pub writer_pid: u32,
}

impl Shm {
    pub fn state(&self) -> ShmState {
        ShmState {
            commit_tip: self.commit_tip(),
            durable_tip: self.w(W_DURABLE_TIP).load(Ordering::Acquire),
            checkpoint_seq: self.w(W_CHECKPOINT_SEQ).load(Ordering::Acquire),
            checkpoint_generation: self.checkpoint_generation(),
            writer_pid: self.w(W_WRITER_PID).load(Ordering::Acquire) as u32,
        }
    }

    pub fn commit_tip(&self) -> CommitSeq {
        self.w(W_COMMIT_TIP).load(Ordering::Acquire)
    }

    /// Publishes commits up to `visible` as visible and `durable` as
    /// durable (never moving either back).
    pub fn publish(&self, visible: CommitSeq, durable: CommitSeq) {
        self.w(W_DURABLE_TIP).fetch_max(durable, Ordering::AcqRel);
        self.w(W_COMMIT_TIP).fetch_max(visible, Ordering::AcqRel);
    }

    /// Publishes commits up to `seq`, ending at log offset `end`, as
    /// written (by the holder, at release). The offset first: whoever sees
    /// the tip sees an end at least that far.
    pub fn publish_written(&self, seq: CommitSeq, end: u64) {
        assert!(
            self.holds_lease(),
            "written tips published without the lease"
        );
        self.w(W_WRITTEN_END).fetch_max(end, Ordering::AcqRel);
        self.w(W_WRITTEN_TIP).fetch_max(seq, Ordering::AcqRel);
    }

    pub fn written_tip(&self) -> CommitSeq {
        self.w(W_WRITTEN_TIP).load(Ordering::Acquire)
    }

    /// Resets the published tips (first opener, after recovery, which left
    /// the log durable up to `end`).
    pub fn reset_tips(
        &self,
        last: CommitSeq,
        end: u64,
        checkpoint_seq: CommitSeq,
        generation: u64,
    ) {
        assert!(self.holds_lease(), "tips reset without the lease");
        self.w(W_COMMIT_TIP).store(last, Ordering::Release);
        self.w(W_DURABLE_TIP).store(last, Ordering::Release);
        self.w(W_WRITTEN_END).store(end, Ordering::Release);
        self.w(W_WRITTEN_TIP).store(last, Ordering::Release);
        self.w(W_SYNC_DONE).store(end, Ordering::Release);
        self.w(W_SYNC_LEADER).store(0, Ordering::Release);
        self.publish_checkpoint(checkpoint_seq, generation);
    }

    pub fn segment_generation(&self) -> u64 {
        self.w(W_SEGMENT_GEN).load(Ordering::Acquire)
    }

    /// Announces a new segment (after it is in place under its name).
    pub fn bump_segment_generation(&self) {
        assert!(self.holds_lease(), "segments announced without the lease");
        self.w(W_SEGMENT_GEN).fetch_add(1, Ordering::AcqRel);
    }

    pub fn checkpoint_generation(&self) -> u64 {
        self.w(W_CHECKPOINT_GEN).load(Ordering::Acquire)
    }

    pub fn publish_checkpoint(&self, seq: CommitSeq, generation: u64) {
        assert!(self.holds_lease(), "checkpoint published without the lease");
        self.w(W_CHECKPOINT_SEQ).store(seq, Ordering::Release);
        self.w(W_CHECKPOINT_GEN)
            .store(generation, Ordering::Release);
    }

    /// What a checkpoint in progress (or the last one) may reach. SeqCst,
    /// paired with the slots' snapshots: a reader publishes its snapshot
    /// and then reads this; a checkpointer stores this and then reads the
    /// snapshots - so at least one of them sees the other.
    pub fn checkpoint_target(&self) -> CommitSeq {
        self.w(W_CHECKPOINT_TARGET).load(Ordering::SeqCst)
    }

    pub fn set_checkpoint_target(&self, target: CommitSeq) {
        assert!(
            self.holds_lease(),
            "checkpoint target set without the lease"
        );
        self.w(W_CHECKPOINT_TARGET).store(target, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }
}
