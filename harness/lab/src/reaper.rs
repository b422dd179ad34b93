//! Last line of defence against leaked processes.
//!
//! Every process the lab starts is registered here by pid (it leads its own process
//! group). `Drop` on a [`Lab`](super::Lab) is the normal way they end; this registry
//! catches the paths that skip destructors: `std::process::exit`, the end of a test
//! binary whose lab lives in a `static`, or a panic that aborts. An `atexit` hook
//! SIGKILLs whatever is still registered and deletes registered temporary directories
//! (a lab kept in a `static` by a test binary is never dropped).
//!
//! No hook runs when this process is killed outright (SIGKILL, the OOM killer). For
//! that, the first registration also starts a watchdog: a small `sh` in its own process
//! group, told each registration on its standard input. When this process dies, however
//! it dies, the pipe closes and the watchdog SIGKILLs every group still registered and
//! deletes the registered directories. Nothing outlives the harness.

use std::collections::BTreeSet;
use std::sync::{Mutex, Once};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

static LIVE: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());
/// Temporary lab directories to delete at exit if their `Lab` was never dropped.
static DIRS: Mutex<BTreeSet<std::path::PathBuf>> = Mutex::new(BTreeSet::new());
static HOOK: Once = Once::new();
/// The watchdog's standard input (`None` if it could not be started).
static WATCHDOG: Mutex<Option<std::process::ChildStdin>> = Mutex::new(None);

/// The watchdog. Each line: `+PGID` (registered), `-PGID` (forgotten), `dPATH` (a
/// directory to delete), `uPATH` (not any more). At end of input it kills and deletes
/// what is left. It ignores the signals a terminal or a supervisor sends the harness's
/// group, so it is still there when the harness is gone. (`kill -KILL -PGID`, no
/// `--`: dash's `kill` takes none.)
const WATCHDOG_SCRIPT: &str = r#"
set -f
trap '' INT TERM HUP QUIT
ids=''
dirs=''
while IFS= read -r line; do
  case "$line" in
    +*) id=${line#+}; eval "live_$id=1"; ids="$ids $id" ;;
    -*) id=${line#-}; eval "live_$id=0" ;;
    d*) dirs="$dirs
${line#d}" ;;
    u*) kept=''
        old_ifs=$IFS; IFS='
'
        for d in $dirs; do [ "$d" = "${line#u}" ] || kept="$kept
$d"; done
        IFS=$old_ifs; dirs=$kept ;;
  esac
done
for id in $ids; do
  eval "alive=\$live_$id"
  if [ "$alive" = 1 ]; then kill -CONT "-$id" 2>/dev/null; kill -KILL "-$id" 2>/dev/null; eval "live_$id=0"; fi
done
IFS='
'
for d in $dirs; do rm -rf -- "$d"; done
"#;

/// Starts the watchdog (once). Without `sh` there is none, and only the exit hook is
/// left: said once on stderr.
fn start_watchdog() {
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};
    let child = Command::new("sh")
        .args(["-c", WATCHDOG_SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    match child {
        Ok(mut child) => {
            if let Ok(mut slot) = WATCHDOG.lock() {
                *slot = child.stdin.take();
            }
            // Not waited for: it ends after this process does (and is reaped by init).
            std::mem::forget(child);
        }
        Err(e) => eprintln!(
            "lab: could not start the process watchdog (sh: {e}); processes would outlive a harness killed with SIGKILL"
        ),
    }
}

fn tell_watchdog(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    if let Ok(mut slot) = WATCHDOG.lock()
        && let Some(stdin) = slot.as_mut()
        && writeln!(stdin, "{line}").is_err()
    {
        *slot = None;
    }
}

fn start() {
    install_exit_hook();
    start_watchdog();
}

/// Records a process group that must not outlive this process.
pub(crate) fn register(pgid: i32) {
    HOOK.call_once(start);
    if let Ok(mut live) = LIVE.lock() {
        live.insert(pgid);
    }
    tell_watchdog(format_args!("+{pgid}"));
}

/// Forgets a process group: it has been reaped, or handed over (`harness lab up`).
pub(crate) fn unregister(pgid: i32) {
    if let Ok(mut live) = LIVE.lock() {
        live.remove(&pgid);
    }
    tell_watchdog(format_args!("-{pgid}"));
}

/// Records a temporary directory to delete at exit (after its processes are killed).
pub(crate) fn register_dir(dir: &std::path::Path) {
    HOOK.call_once(start);
    if let Ok(mut dirs) = DIRS.lock() {
        dirs.insert(dir.to_path_buf());
    }
    tell_watchdog(format_args!("d{}", dir.display()));
}

/// Forgets a directory: its `Lab` was dropped and deleted it.
pub(crate) fn unregister_dir(dir: &std::path::Path) {
    if let Ok(mut dirs) = DIRS.lock() {
        dirs.remove(dir);
    }
    tell_watchdog(format_args!("u{}", dir.display()));
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
