//! The shipper role: which process of a database ships it to its replica.
//! A lock byte, like the lease: the kernel frees it when the holder dies,
//! and another process's shipper takes it over at its next look.

use super::layout::SHIPPER_LOCK_BYTE;
use super::region::Shm;
use crate::error::Result;

impl Shm {
    /// Takes the shipper role without waiting; true when this process has it.
    pub fn try_shipper(&self) -> Result<bool> {
        self.region
            .try_lock(SHIPPER_LOCK_BYTE, true)
            .map_err(|e| self.lock_err("lock shipper role", e))
    }

    /// True while some process (another one, or this one through another
    /// region) holds the shipper role.
    pub fn shipper_alive(&self) -> Result<bool> {
        self.region
            .locked_by_other(SHIPPER_LOCK_BYTE)
            .map_err(|e| self.lock_err("look at shipper role", e))
    }

    pub fn release_shipper(&self) {
        // Freed with the process anyway; an error here changes nothing.
        let _ = self.region.unlock(SHIPPER_LOCK_BYTE);
    }
}
