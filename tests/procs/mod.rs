//! Child processes for the real-process suites: the test binary
//! re-executed as a role (`CHILD_ENV` names it), reporting on stdout lines
//! that start with "CHILD ", which a thread collects so the parent never
//! blocks on a child's pipe; the same in a new PID namespace; a tmpfs to
//! fill; and the anomaly list a test fails with.

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use crate::common::print_totals;

/// Names the role a re-executed test binary plays.
pub const CHILD_ENV: &str = "LIBCOMMIT_MPF_CHILD";
/// How long the parent waits for one line of a child.
pub const LINE_WAIT: Duration = Duration::from_secs(30);

/// Reports `line` to the parent (a child's side).
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "\nCHILD {line}").unwrap();
    out.flush().unwrap();
}

/// Blocks until the parent writes a line (None: stdin closed).
pub fn next_request() -> Option<String> {
    let mut line = String::new();
    (std::io::stdin().read_line(&mut line).unwrap() > 0).then_some(line)
}

/// A child process and the lines it reports (read on a thread).
pub struct Proc {
    pub child: Child,
    lines: Receiver<String>,
    /// Lines received but not asked for yet: a child's own children write
    /// to the same pipe, so lines of different kinds interleave.
    unclaimed: RefCell<VecDeque<String>>,
}

/// The command that re-executes this test binary as role `spec`.
pub fn role_args() -> [&'static str; 4] {
    ["--exact", "child_entry", "--nocapture", "--test-threads=1"]
}

impl Proc {
    pub fn spawn(spec: &str) -> Proc {
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.args(role_args());
        Proc::start(c, spec)
    }

    /// Role `spec` as a process in a new PID namespace, whose pids are
    /// made to start at `first_pid`: numbers no process out here has.
    pub fn spawn_in_pid_namespace(spec: &str, first_pid: u32) -> Proc {
        let mut c = Command::new("unshare");
        c.args(["-p", "-f", "--mount-proc", "--kill-child", "sh", "-c"]);
        // Not the last command, so sh forks it (the new pid) rather than
        // exec'ing it as the namespace's init.
        c.arg(format!(
            "echo {} > /proc/sys/kernel/ns_last_pid 2>/dev/null; \"$0\" \"$@\"; exit $?",
            first_pid - 1
        ));
        c.arg(std::env::current_exe().unwrap()).args(role_args());
        Proc::start(c, spec)
    }

    fn start(mut c: Command, spec: &str) -> Proc {
        c.env(CHILD_ENV, spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        // SAFETY: prctl is async-signal-safe; it only sets this process's
        // parent-death signal, so no child outlives a failed test.
        unsafe {
            c.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let mut child = c.spawn().unwrap();
        let out = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if let Some(word) = line.trim().strip_prefix("CHILD ") {
                    if tx.send(word.to_string()).is_err() {
                        break;
                    }
                }
            }
        });
        Proc {
            child,
            lines: rx,
            unclaimed: RefCell::default(),
        }
    }

    /// The rest of the next line starting with `prefix`, or None when the
    /// child said nothing like it in time (or ended). Other lines wait for
    /// their own `expect`.
    pub fn expect(&self, prefix: &str) -> Option<String> {
        let rest = |line: &str| line.strip_prefix(prefix).map(|r| r.trim().to_string());
        let mut unclaimed = self.unclaimed.borrow_mut();
        if let Some(i) = unclaimed.iter().position(|l| l.starts_with(prefix)) {
            return unclaimed.remove(i).and_then(|l| rest(&l));
        }
        let deadline = Instant::now() + LINE_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).ok()?;
            match rest(&line) {
                Some(r) => return Some(r),
                None => unclaimed.push_back(line),
            }
        }
    }

    pub fn request(&mut self) {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "go").unwrap();
        stdin.flush().unwrap();
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill only sends a signal to our own child process.
        unsafe { libc::kill(self.pid(), sig) };
    }

    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Kills the child and waits until every process holding its stdout
    /// is gone too (the pipe's end): `unshare` dies at once, the processes
    /// of its namespace a moment later.
    pub fn kill_all(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let deadline = Instant::now() + LINE_WAIT;
        while let Ok(_line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {}
    }

    /// Closes stdin and waits for the exit; the status.
    pub fn finish(mut self) -> std::process::ExitStatus {
        drop(self.child.stdin.take());
        self.child.wait().unwrap()
    }
}

impl Drop for Proc {
    /// A test that failed half-way leaves no child behind (std's kill does
    /// nothing to a child already waited for, whose pid may be reused).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What went wrong in one test; it fails at the end listing all of it.
#[derive(Default)]
pub struct Anomalies(Vec<String>);

impl Anomalies {
    pub fn note(&mut self, what: String) {
        eprintln!("ANOMALY {what}");
        self.0.push(what);
    }

    pub fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.note(what());
        }
    }

    pub fn finish(self, suite: &str, fields: &[(&str, u64)]) {
        let mut all = fields.to_vec();
        all.push(("anomalies", self.0.len() as u64));
        print_totals(suite, &all);
        assert!(self.0.is_empty(), "{suite}: {:#?}", self.0);
    }
}

pub fn numbers(line: &str) -> Vec<u64> {
    line.split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect()
}

pub fn pid_exists_here(pid: u64) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether this system lets us make a PID namespace (CI may refuse).
pub fn pid_namespaces_work() -> bool {
    Command::new("unshare")
        .args(["-p", "-f", "--mount-proc", "--kill-child", "true"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// First pids to give a new PID namespace, best first: past this
/// namespace's pid_max (no process here can have it; the kernel takes it
/// where pid_max is per namespace), then the start of a run of numbers
/// nobody here has now, just below pid_max (the last to be handed out).
pub fn first_pid_candidates() -> Vec<u32> {
    const ROOM: u32 = 64;
    let max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(32_768);
    let mut out = vec![4_000_000];
    let free = |p: u32| (p..p + ROOM).all(|q| !pid_exists_here(u64::from(q)));
    let mut p = max.saturating_sub(ROOM + 1);
    while p > 1000 {
        if free(p) {
            out.push(p);
            break;
        }
        p -= ROOM;
    }
    out
}

/// Role `spec` in a new PID namespace whose pid (the last number of its
/// `ready` line) no process out here has: the child and that line, or why
/// the system will not allow it.
pub fn spawn_namespaced(spec: &str, ready: &str) -> Result<(Proc, Vec<u64>), String> {
    if !pid_namespaces_work() {
        return Err("unshare -p -f --mount-proc failed here (missing, or no CAP_SYS_ADMIN)".into());
    }
    for first in first_pid_candidates() {
        let mut p = Proc::spawn_in_pid_namespace(spec, first);
        let line = numbers(&p.expect(ready).expect("the namespaced child reported"));
        if line.last().is_some_and(|&pid| !pid_exists_here(pid)) {
            return Ok((p, line));
        }
        p.kill_all();
    }
    Err("every pid the namespace got exists out here too (ns_last_pid refused?)".into())
}

/// A tmpfs mounted for one test, unmounted when dropped (also on failure).
pub struct Mount(pub PathBuf);

impl Mount {
    /// None when mounting is refused (no CAP_SYS_ADMIN).
    pub fn tmpfs(at: &Path, size: &str) -> Option<Mount> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Mount(at.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.0)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
}

/// Fills the file system of `dir` with one file; returns its path.
pub fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut f = std::fs::File::create(&filler).unwrap();
    let block = vec![0xA5u8; 4096];
    while f.write_all(&block).is_ok() {}
    while f.write_all(&block[..1]).is_ok() {}
    let _ = f.sync_all();
    filler
}
