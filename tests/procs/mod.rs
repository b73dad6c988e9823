//! Child processes for the real-process suites: the test binary
//! re-executed as a role (`CHILD_ENV` names it), reporting on stdout lines
//! that start with "CHILD ", which a thread collects so the parent never
//! blocks on a child's pipe; and the anomaly list a test fails with.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
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
        Proc { child, lines: rx }
    }

    /// The rest of the next line starting with `prefix`, or None when the
    /// child said nothing like it in time (or ended).
    pub fn expect(&self, prefix: &str) -> Option<String> {
        let deadline = Instant::now() + LINE_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self.lines.recv_timeout(left).ok()?;
            if let Some(rest) = line.strip_prefix(prefix) {
                return Some(rest.trim().to_string());
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
        self.signal(libc::SIGKILL);
        let _ = self.child.wait();
    }

    /// Closes stdin and waits for the exit; the status.
    pub fn finish(mut self) -> std::process::ExitStatus {
        drop(self.child.stdin.take());
        self.child.wait().unwrap()
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

pub fn skip(suite: &str, key: &str, why: &str) {
    eprintln!("SKIP {suite}: {why}");
    print_totals(suite, &[(key, 0), ("skipped", 1), ("anomalies", 0)]);
}
