//! Whether a process still runs, judged by the kernel's view of it.

/// Whether `pid` is a process that has not ended (a zombie has).
pub fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|st| {
        !st[st.rfind(')').unwrap() + 1..]
            .trim_start()
            .starts_with('Z')
    })
}
