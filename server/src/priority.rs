//! The server's CPU priority (`--nice`).
//!
//! A deploy keeps dockerd, containerd and runc busy on every core. At the default priority
//! the console then waits its turn behind them for tens of milliseconds at a time. A negative
//! nice value gives the server's threads a larger share, so by default the server asks for
//! [`DEFAULT_NICE`] when it may. The server itself uses little CPU (about 0.5 s for a
//! 50-decky deploy), and the costly request it serves, the password check, is rate-limited
//! per client and per user, so the share is not one an unauthenticated flood can turn
//! against the decoys.
//!
//! Where the kernel groups processes by session (autogroup, `/proc/sys/kernel/
//! sched_autogroup_enabled`), a thread's nice value only counts against its own session. So
//! when decnet leads its session (under systemd, or started with `setsid`), the session's
//! nice value is set too. The decoy containers are started by containerd, not by decnet, so
//! they never inherit any of this.

use std::io::ErrorKind;

/// The nice value asked for when `--nice` is not given.
pub const DEFAULT_NICE: i32 = -10;

/// What [`apply`] changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Applied {
    /// `--nice 0`: the priority the process was started with.
    Unchanged,
    /// Every thread the server starts from now on; the session is shared with others, or the
    /// kernel does not group by session.
    Threads,
    /// The threads and the session decnet leads.
    ThreadsAndSession,
}

/// `--nice` as given: exactly that, or an error. Not given: [`DEFAULT_NICE`] when the
/// process may, and otherwise the priority it was started with (saying why in the log).
pub fn apply_setting(nice: Option<i32>) -> Result<(i32, Applied), String> {
    match nice {
        Some(n) => apply(n).map(|a| (n, a)),
        None => Ok(apply(DEFAULT_NICE)
            .map(|a| (DEFAULT_NICE, a))
            .unwrap_or_else(|e| {
                tracing::info!("keeping the CPU priority decnet was started with: {e}");
                (0, Applied::Unchanged)
            })),
    }
}

/// Sets the calling thread's nice value (threads started afterwards inherit it), and that of
/// the session decnet leads. Call before any other thread starts. Going below 0 needs
/// `CAP_SYS_NICE` (root, or `AmbientCapabilities=CAP_SYS_NICE` under systemd).
pub fn apply(nice: i32) -> Result<Applied, String> {
    if nice == 0 {
        return Ok(Applied::Unchanged);
    }
    // SAFETY: plain system calls on the calling thread and process, no pointers involved.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if rc != 0 {
        return Err(format!(
            "setting nice {nice}: {} (below 0 needs CAP_SYS_NICE)",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: as above.
    let leads_session = unsafe { libc::getsid(0) == libc::getpid() };
    if !leads_session {
        return Ok(Applied::Threads);
    }
    match std::fs::write("/proc/self/autogroup", nice.to_string()) {
        Ok(()) => Ok(Applied::ThreadsAndSession),
        // A kernel built without autogroup: thread nice values are all there is.
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(Applied::Threads),
        Err(e) => Err(format!("setting the session's nice {nice}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_changes_nothing() {
        assert_eq!(apply(0), Ok(Applied::Unchanged));
    }
}
