//! The background worker: one thread per engine that sleeps until it is
//! woken, asked to flush, or a heartbeat passes, then runs its duty. It
//! knows nothing of the engine - the engine hands it a closure holding a
//! weak reference, so the thread never keeps a closed database alive.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::mutex::{Condvar, Mutex};

#[derive(Default)]
struct Signal {
    stop: bool,
    wake: bool,
    /// A relaxed commit in a FULL database waits for a flush.
    flush: bool,
}

/// Why the worker runs its duty this time.
#[derive(Debug, Clone, Copy)]
pub struct Wakeup {
    /// Somebody waits for a flush of relaxed commits.
    pub flush: bool,
}

/// The worker thread and the signal that wakes it.
pub struct Worker {
    signal: Arc<(Mutex<Signal>, Condvar)>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Worker {
    pub fn new() -> Worker {
        Worker {
            signal: Arc::new((Mutex::new(Signal::default()), Condvar::new())),
            handle: Mutex::new(None),
        }
    }

    /// Starts the thread. `duty` runs at every wakeup (and every
    /// `heartbeat`, if given); it returns false when there is nothing left
    /// to work for, which ends the thread. Without a thread (spawn failed)
    /// commits still work: their committers lead every flush themselves.
    pub fn start(
        &self,
        heartbeat: Option<Duration>,
        mut duty: impl FnMut(Wakeup) -> bool + Send + 'static,
    ) {
        let signal = Arc::clone(&self.signal);
        let handle = std::thread::Builder::new()
            .name("libcommit-worker".into())
            .spawn(move || {
                while let Some(wakeup) = next_wakeup(&signal, heartbeat) {
                    if !duty(wakeup) {
                        return;
                    }
                }
            })
            .ok();
        *self.handle.lock() = handle;
    }

    /// Asks for background work (a segment to prepare, a checkpoint).
    pub fn wake(&self) {
        let (lock, cv) = &*self.signal;
        lock.lock().wake = true;
        cv.notify_one();
    }

    /// Asks for a flush of commits that do not wait for one themselves.
    pub fn request_flush(&self) {
        let (lock, cv) = &*self.signal;
        lock.lock().flush = true;
        cv.notify_one();
    }

    /// Stops the thread and waits for it - unless this is that thread
    /// (the last handle closed from inside its duty).
    pub fn stop(&self) {
        {
            let (lock, cv) = &*self.signal;
            lock.lock().stop = true;
            cv.notify_all();
        }
        if let Some(h) = self.handle.lock().take() {
            if h.thread().id() != std::thread::current().id() {
                let _ = h.join();
            }
        }
    }
}

/// Sleeps until there is something to do; None once stopped.
fn next_wakeup(signal: &(Mutex<Signal>, Condvar), heartbeat: Option<Duration>) -> Option<Wakeup> {
    let (lock, cv) = signal;
    let mut s = lock.lock();
    while !s.wake && !s.flush && !s.stop {
        match heartbeat {
            Some(every) => {
                if cv.wait_for(&mut s, every).timed_out() {
                    break;
                }
            }
            None => cv.wait(&mut s),
        }
    }
    if s.stop {
        return None;
    }
    s.wake = false;
    Some(Wakeup {
        flush: std::mem::take(&mut s.flush),
    })
}
