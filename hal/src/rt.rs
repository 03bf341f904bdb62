//! Real-time scheduling for the threads a rig's timing depends on: the control thread, the
//! watchdog above it and the device threads.
//!
//! On a shared machine a normal thread waits behind every other runnable thread; under Linux's
//! `SCHED_FIFO` policy a thread runs as soon as it is runnable, ahead of every normal thread.
//! That needs the privilege (root, `CAP_SYS_NICE`, or an `rtprio` limit), so a run asks for it
//! explicitly (`--rt-priority N`) and is refused at start when it is not granted.

use std::fmt;
use std::io;

/// A `SCHED_FIFO` priority for the control and device threads, 1 to [`Priority::MAX`]; the
/// watchdog runs one above it, so that a control thread that never yields cannot hide from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority(u8);

impl Priority {
    /// The highest priority a run may ask for (99, the system's highest, is the watchdog's).
    pub const MAX: u8 = 98;

    /// `n` as a priority, or why it cannot be one.
    pub fn new(n: i64) -> Result<Priority, String> {
        if (1..=i64::from(Self::MAX)).contains(&n) {
            Ok(Priority(n as u8))
        } else {
            Err(format!(
                "real-time priority {n} is outside 1 to {} (99 is kept for the watchdog)",
                Self::MAX
            ))
        }
    }

    /// The priority of the watchdog that watches threads at this one.
    pub fn above(self) -> Priority {
        Priority(self.0 + 1)
    }

    /// The number the operating system is given.
    pub fn get(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SCHED_FIFO {}", self.0)
    }
}

/// Puts the calling thread under `SCHED_FIFO` at `p`.
pub fn enter(p: Priority) -> io::Result<()> {
    set_policy(Some(p))
}

/// Puts the calling thread back under the normal time-sharing policy.
pub fn leave() -> io::Result<()> {
    set_policy(None)
}

/// Whether this process may run threads at `p`: tries it on the calling thread, then goes back.
pub fn check(p: Priority) -> io::Result<()> {
    enter(p)?;
    leave()
}

/// Keeps every page of the process in memory, now and as it grows, so that no page fault (a
/// page written out under memory pressure, a stack page touched for the first time) stalls a
/// real-time thread.
pub fn lock_memory() -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: mlockall takes flags only and touches no memory of ours.
        if unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) } == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
    #[cfg(not(target_os = "linux"))]
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "memory locking is implemented for Linux only",
    ))
}

#[cfg(target_os = "linux")]
fn set_policy(p: Option<Priority>) -> io::Result<()> {
    let (policy, priority) = match p {
        Some(p) => (libc::SCHED_FIFO, i32::from(p.get())),
        None => (libc::SCHED_OTHER, 0),
    };
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: pthread_self() is the calling thread, alive for the call; `param` is a valid
    // sched_param that outlives it.
    let err = unsafe { libc::pthread_setschedparam(libc::pthread_self(), policy, &param) };
    if err == 0 {
        Ok(())
    } else {
        Err(io::Error::from_raw_os_error(err))
    }
}

#[cfg(not(target_os = "linux"))]
fn set_policy(_: Option<Priority>) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "real-time scheduling is implemented for Linux only",
    ))
}

/// The calling thread's `SCHED_FIFO` priority, `None` under another policy (for tests).
#[cfg(target_os = "linux")]
pub fn current() -> io::Result<Option<Priority>> {
    let mut policy = 0;
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: pthread_self() is the calling thread; both out-pointers are valid for the call.
    let err = unsafe { libc::pthread_getschedparam(libc::pthread_self(), &mut policy, &mut param) };
    if err != 0 {
        return Err(io::Error::from_raw_os_error(err));
    }
    Ok((policy == libc::SCHED_FIFO).then_some(Priority(param.sched_priority as u8)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_outside_the_range_are_refused_with_the_range() {
        for n in [0, -1, 99, 100, 1000] {
            let e = Priority::new(n).unwrap_err();
            assert!(e.contains(&n.to_string()) && e.contains("1 to 98"), "{e}");
        }
        assert_eq!(Priority::new(98).unwrap().above().get(), 99);
        assert_eq!(Priority::new(1).unwrap().to_string(), "SCHED_FIFO 1");
    }

    /// Where the process may (root, CAP_SYS_NICE), a thread enters and leaves SCHED_FIFO; where
    /// it may not, `check` says so and the thread's policy is left as it was.
    #[test]
    fn a_thread_enters_and_leaves_fifo_or_is_told_why_not() {
        std::thread::spawn(|| {
            let p = Priority::new(10).unwrap();
            assert_eq!(current().unwrap(), None);
            match check(p) {
                Ok(()) => {
                    enter(p).unwrap();
                    assert_eq!(current().unwrap(), Some(p));
                    leave().unwrap();
                }
                Err(e) => assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}"),
            }
            assert_eq!(current().unwrap(), None);
        })
        .join()
        .unwrap();
    }
}
