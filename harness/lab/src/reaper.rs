//! Last line of defence against leaked processes.
//!
//! Every process the lab starts is registered here by pid (it leads its own process
//! group). `Drop` on a [`Lab`](super::Lab) is the normal way they end; this registry
//! catches the paths that skip destructors: `std::process::exit`, the end of a test
//! binary whose lab lives in a `static`, or a panic that aborts. An `atexit` hook
//! SIGKILLs whatever is still registered and deletes registered temporary directories
//! (a lab kept in a `static` by a test binary is never dropped).

use std::collections::BTreeSet;
use std::sync::{Mutex, Once};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

static LIVE: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
/// Temporary lab directories to delete at exit if their `Lab` was never dropped.
static DIRS: Mutex<BTreeSet<std::path::PathBuf>> = Mutex::new(BTreeSet::new());
static HOOK: Once = Once::new();

/// Records a process group that must not outlive this process.
pub(crate) fn register(pgid: i32) {
    HOOK.call_once(install_exit_hook);
    if let Ok(mut live) = LIVE.lock() {
        live.insert(pgid);
    }
}

/// Forgets a process group: it has been reaped, or handed over (`harness lab up`).
pub(crate) fn unregister(pgid: i32) {
    if let Ok(mut live) = LIVE.lock() {
        live.remove(&pgid);
    }
}

/// Records a temporary directory to delete at exit (after its processes are killed).
pub(crate) fn register_dir(dir: &std::path::Path) {
    HOOK.call_once(install_exit_hook);
    if let Ok(mut dirs) = DIRS.lock() {
        dirs.insert(dir.to_path_buf());
    }
}

/// Forgets a directory: its `Lab` was dropped and deleted it.
pub(crate) fn unregister_dir(dir: &std::path::Path) {
    if let Ok(mut dirs) = DIRS.lock() {
        dirs.remove(dir);
    }
}

extern "C" fn kill_registered() {
    // try_lock: another thread may hold the lock while the process exits.
    if let Ok(live) = LIVE.try_lock() {
        for &pgid in live.iter() {
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGCONT);
            let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
    if let Ok(dirs) = DIRS.try_lock() {
        for dir in dirs.iter() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[allow(unsafe_code)]
fn install_exit_hook() {
    // SAFETY: `kill_registered` is an `extern "C" fn()` that never unwinds (it only
    // calls `try_lock` and `killpg`, whose errors are ignored), as `atexit` requires.
    unsafe {
        libc::atexit(kill_registered);
    }
}
