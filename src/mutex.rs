//! The engine's thread locks: `Mutex`, `RwLock` and `Condvar` over the
//! standard library's, with the calling conventions the engine uses
//! (guards that are never poisoned, waits on `&mut guard`, a guard that
//! can let go for the length of a call).
//!
//! Why not parking_lot: its waiting threads sit in one process-wide hash
//! table, and each waiter's queue node lives in that thread's
//! thread-local storage. A child forked while engine threads of its parent
//! are parked inherits a table that links nodes of threads that do not
//! exist in it; glibc hands those threads' stacks (and with them the
//! nodes) to the child's next new threads, which overwrite them - and the
//! child's first notify that walks that bucket spins on a broken queue.
//! A forked child must be able to open a database of its own
//! (storage/process.rs), so every lock here keeps its whole state in its
//! own word: std's futex-based locks do.
//!
//! Poisoning is ignored: a panic while a guard is held is already a bug
//! the caller reports; the data's invariants are asserted where they live,
//! not by the lock.

use std::ops::{Deref, DerefMut};
use std::sync::{PoisonError, TryLockError};
use std::time::{Duration, Instant};

/// What a guard outside a wait or `unlocked` always holds.
const HELD: &str = "a guard holds its lock";

/// A mutual-exclusion lock whose `lock` never fails.
#[derive(Debug, Default)]
pub struct Mutex<T: ?Sized>(std::sync::Mutex<T>);

/// Holds a [`Mutex`]; `None` inside only while a [`Condvar`] waits or
/// [`MutexGuard::unlocked`] runs, never where a caller can see it.
pub struct MutexGuard<'a, T: ?Sized> {
    lock: &'a Mutex<T>,
    inner: Option<std::sync::MutexGuard<'a, T>>,
}

impl<T> Mutex<T> {
    pub const fn new(value: T) -> Mutex<T> {
        Mutex(std::sync::Mutex::new(value))
    }
}

impl<T: ?Sized> Mutex<T> {
    pub fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard {
            lock: self,
            inner: Some(self.0.lock().unwrap_or_else(PoisonError::into_inner)),
        }
    }

    /// The lock if no one holds it now.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        let inner = match self.0.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return None,
        };
        Some(MutexGuard {
            lock: self,
            inner: Some(inner),
        })
    }
}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// Runs `f` with the lock released, and takes it again after.
    pub fn unlocked<R>(guard: &mut MutexGuard<'a, T>, f: impl FnOnce() -> R) -> R {
        /// Takes the lock back however `f` ends, so the guard's drop
        /// always has something to release.
        struct Relock<'g, 'a, T: ?Sized>(&'g mut MutexGuard<'a, T>);
        impl<T: ?Sized> Drop for Relock<'_, '_, T> {
            fn drop(&mut self) {
                let g = &mut *self.0;
                g.inner = Some(g.lock.0.lock().unwrap_or_else(PoisonError::into_inner));
            }
        }
        drop(guard.inner.take());
        let _relock = Relock(guard);
        f()
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.inner.as_ref().expect(HELD)
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.inner.as_mut().expect(HELD)
    }
}

/// A readers-writer lock whose `read` and `write` never fail.
#[derive(Debug, Default)]
pub struct RwLock<T: ?Sized>(std::sync::RwLock<T>);

pub type RwLockReadGuard<'a, T> = std::sync::RwLockReadGuard<'a, T>;
pub type RwLockWriteGuard<'a, T> = std::sync::RwLockWriteGuard<'a, T>;

impl<T> RwLock<T> {
    pub const fn new(value: T) -> RwLock<T> {
        RwLock(std::sync::RwLock::new(value))
    }
}

impl<T: ?Sized> RwLock<T> {
    pub fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How a timed wait ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitTimeoutResult(bool);

impl WaitTimeoutResult {
    /// True when the wait ran out its time (it may also have been woken).
    pub fn timed_out(self) -> bool {
        self.0
    }
}

/// A condition variable for [`Mutex`] guards.
#[derive(Debug, Default)]
pub struct Condvar(std::sync::Condvar);

impl Condvar {
    pub const fn new() -> Condvar {
        Condvar(std::sync::Condvar::new())
    }

    pub fn notify_one(&self) {
        self.0.notify_one();
    }

    pub fn notify_all(&self) {
        self.0.notify_all();
    }

    /// Waits for a notify (or a spurious wake-up).
    pub fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
        let g = guard.inner.take().expect(HELD);
        guard.inner = Some(self.0.wait(g).unwrap_or_else(PoisonError::into_inner));
    }

    /// Waits for a notify, at most `timeout`.
    pub fn wait_for<T>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        timeout: Duration,
    ) -> WaitTimeoutResult {
        let g = guard.inner.take().expect(HELD);
        let (g, r) = self
            .0
            .wait_timeout(g, timeout)
            .unwrap_or_else(PoisonError::into_inner);
        guard.inner = Some(g);
        WaitTimeoutResult(r.timed_out())
    }

    /// Waits for a notify, at most until `deadline`.
    pub fn wait_until<T>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Instant,
    ) -> WaitTimeoutResult {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return WaitTimeoutResult(true);
        }
        self.wait_for(guard, left)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn unlocked_lets_another_thread_in_and_takes_the_lock_back() {
        let m = Arc::new(Mutex::new(0u32));
        let mut g = m.lock();
        let other = Arc::clone(&m);
        MutexGuard::unlocked(&mut g, || {
            std::thread::spawn(move || *other.lock() += 1)
                .join()
                .unwrap();
        });
        assert_eq!(*g, 1);
        assert!(m.try_lock().is_none(), "the guard holds the lock again");
        drop(g);
        assert!(m.try_lock().is_some());
    }

    #[test]
    fn a_wait_wakes_on_notify_and_a_past_deadline_times_out() {
        let pair = Arc::new((Mutex::new(false), Condvar::new()));
        let p = Arc::clone(&pair);
        let t = std::thread::spawn(move || {
            *p.0.lock() = true;
            p.1.notify_all();
        });
        let mut g = pair.0.lock();
        while !*g {
            pair.1.wait(&mut g);
        }
        t.join().unwrap();
        let r = pair.1.wait_until(&mut g, Instant::now());
        assert!(r.timed_out());
    }

    #[test]
    fn a_panic_while_locked_does_not_poison() {
        let m = Arc::new(Mutex::new(5u32));
        let p = Arc::clone(&m);
        let _ = std::thread::spawn(move || {
            let _g = p.lock();
            panic!("held");
        })
        .join();
        assert_eq!(*m.lock(), 5);
    }
}
