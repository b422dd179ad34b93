//! One supervised child process: spawned in its own process group with its output
//! appended to a log file, signalled as a group, reaped on drop, restartable with the
//! same command line.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

use super::{LabError, reaper};

/// How to (re)start a process: everything needed to run the same command again.
/// `Debug` prints the environment's names only: a value may be a password.
#[derive(Clone)]
pub struct ProcessSpec {
    /// Short name used in logs, errors and the state file (`redis`, `kafka-1`, ...).
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<PathBuf>,
    /// stdout and stderr are appended here, so a restart keeps the earlier output.
    pub log: PathBuf,
}

impl std::fmt::Debug for ProcessSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ProcessSpec")
            .field("name", &self.name)
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env (names)", &env)
            .field("cwd", &self.cwd)
            .field("log", &self.log)
            .finish()
    }
}

/// A running (or stopped) child. Reaped on drop: SIGKILL to its whole process group.
#[derive(Debug)]
pub struct ManagedProcess {
    spec: ProcessSpec,
    child: Option<Child>,
    /// Kept so that `Drop` does not leave a SIGSTOPped group behind.
    paused: bool,
    /// Ownership given away (`harness lab up` leaves the services running).
    detached: bool,
}

impl ManagedProcess {
    pub fn spawn(spec: ProcessSpec) -> Result<Self, LabError> {
        let mut process = ManagedProcess {
            spec,
            child: None,
            paused: false,
            detached: false,
        };
        process.start()?;
        Ok(process)
    }

    /// Starts the process again with the same command line (after a kill or stop).
    pub fn start(&mut self) -> Result<(), LabError> {
        if self.is_running() {
            return Ok(());
        }
        let spec = &self.spec;
        if !spec.program.exists() {
            return Err(LabError::NotInstalled {
                component: spec.name.clone(),
                path: spec.program.clone(),
            });
        }
        let log = open_log(&spec.log)?;
        let log_err = log.try_clone().map_err(|e| LabError::io(&spec.log, e))?;
        let mut command = Command::new(&spec.program);
        command
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            // Its own group: a terminal's Ctrl-C reaches the harness only, which then
            // shuts the services down in order; and a group kill also ends grandchildren.
            .process_group(0);
        if let Some(cwd) = &spec.cwd {
            command.current_dir(cwd);
        }
        let child = command.spawn().map_err(|source| LabError::Spawn {
            name: spec.name.clone(),
            program: spec.program.clone(),
            source,
        })?;
        reaper::register(child.id() as i32);
        self.child = Some(child);
        self.paused = false;
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    pub fn spec(&self) -> &ProcessSpec {
        &self.spec
    }

    /// The pid while the process runs (or is paused).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// True while the child has not exited. Reaps it if it has.
    pub fn is_running(&mut self) -> bool {
        match &mut self.child {
            None => false,
            Some(child) => match child.try_wait() {
                Ok(None) => true,
                Ok(Some(_)) | Err(_) => {
                    self.forget_child();
                    false
                }
            },
        }
    }

    /// The exit status if the child has exited since it was started (reaping it).
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        let status = self.child.as_mut()?.try_wait().ok().flatten()?;
        self.forget_child();
        Some(status)
    }

    fn signal(&self, signal: Signal) -> Result<(), LabError> {
        let Some(pid) = self.pid() else {
            return Err(LabError::NotRunning {
                name: self.spec.name.clone(),
            });
        };
        killpg(Pid::from_raw(pid as i32), signal).map_err(|errno| LabError::Signal {
            name: self.spec.name.clone(),
            signal: signal.as_str(),
            errno,
        })
    }

    /// SIGKILL the whole group and reap it: the crash of a machine, as far as the
    /// service can tell.
    pub fn kill(&mut self) -> Result<(), LabError> {
        if !self.is_running() {
            return Err(LabError::NotRunning {
                name: self.spec.name.clone(),
            });
        }
        self.signal(Signal::SIGKILL)?;
        self.reap_blocking(Duration::from_secs(10));
        Ok(())
    }

    /// SIGSTOP the group: the process keeps its sockets but answers nothing.
    pub fn pause(&mut self) -> Result<(), LabError> {
        if !self.is_running() {
            return Err(LabError::NotRunning {
                name: self.spec.name.clone(),
            });
        }
        self.signal(Signal::SIGSTOP)?;
        self.paused = true;
        Ok(())
    }

    /// SIGCONT the group after [`pause`](Self::pause).
    pub fn resume(&mut self) -> Result<(), LabError> {
        if !self.is_running() {
            return Err(LabError::NotRunning {
                name: self.spec.name.clone(),
            });
        }
        self.signal(Signal::SIGCONT)?;
        self.paused = false;
        Ok(())
    }

    /// Asks the group to stop (SIGCONT if paused, then SIGTERM) without waiting.
    pub fn request_stop(&mut self) -> Result<(), LabError> {
        if !self.is_running() {
            return Err(LabError::NotRunning {
                name: self.spec.name.clone(),
            });
        }
        if self.paused {
            self.signal(Signal::SIGCONT)?;
            self.paused = false;
        }
        self.signal(Signal::SIGTERM)
    }

    /// SIGTERM the group, wait up to `grace` for it to exit, then SIGKILL. Reaped either way.
    pub fn terminate(&mut self, grace: Duration) {
        if !self.is_running() {
            return;
        }
        if self.paused {
            let _ = self.signal(Signal::SIGCONT);
            self.paused = false;
        }
        if self.signal(Signal::SIGTERM).is_ok() && self.wait_exit(grace) {
            return;
        }
        let _ = self.signal(Signal::SIGKILL);
        self.reap_blocking(Duration::from_secs(10));
    }

    /// Polls for exit until `timeout`; true if the child exited (and was reaped).
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if !self.is_running() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn reap_blocking(&mut self, timeout: Duration) {
        // After SIGKILL the kernel tears the process down promptly; bounded anyway.
        let _ = self.wait_exit(timeout);
    }

    fn forget_child(&mut self) {
        if let Some(child) = self.child.take() {
            reaper::unregister(child.id() as i32);
        }
        self.paused = false;
    }

    /// Leaves the process running past the end of this handle (and of this process).
    pub fn detach(&mut self) {
        if let Some(child) = &self.child {
            reaper::unregister(child.id() as i32);
        }
        self.detached = true;
    }

    /// The last `lines` lines of the process's log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.spec.log, lines)
    }
}

impl Drop for ManagedProcess {
    fn drop(&mut self) {
        if self.detached {
            return;
        }
        if self.is_running() {
            let _ = self.signal(Signal::SIGCONT);
            let _ = self.signal(Signal::SIGKILL);
            self.reap_blocking(Duration::from_secs(10));
        }
    }
}

fn open_log(path: &Path) -> Result<File, LabError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| LabError::io(dir, e))?;
    }
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| LabError::io(path, e))
}

/// The last `lines` lines of a log file (reads at most its last 64 KiB).
pub fn log_tail(path: &Path, lines: usize) -> String {
    const WINDOW: u64 = 64 * 1024;
    let Ok(mut file) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(WINDOW)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    excerpt(&String::from_utf8_lossy(&bytes), lines)
}

/// The last `lines` lines of `text`, after the first error lines before them: a
/// process that failed at start-up (a JVM that could not bind its port) often logs its
/// shutdown after the error, so the tail alone would show only the shutdown — to a
/// person reading the message, and to the lab's check for a lost port.
fn excerpt(text: &str, lines: usize) -> String {
    const ERRORS: usize = 8;
    let all: Vec<&str> = text.lines().collect();
    let start = all.len().saturating_sub(lines);
    let errors: Vec<&str> = all[..start]
        .iter()
        .filter(|l| {
            l.contains(" ERROR ")
                || l.contains("FATAL")
                || l.contains("Exception")
                || l.contains("already in use")
        })
        .take(ERRORS)
        .copied()
        .collect();
    let tail = all[start..].join("\n");
    if errors.is_empty() {
        tail
    } else {
        format!("{}\n[...]\n{tail}", errors.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::excerpt;

    #[test]
    fn the_excerpt_keeps_an_error_logged_before_the_tail() {
        let mut log = vec![
            "[t] INFO starting".to_string(),
            "[t] ERROR Exiting Kafka due to fatal exception during startup. (kafka.Kafka$)"
                .to_string(),
            "org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:21001: Address already in use.".to_string(),
        ];
        log.extend((0..40).map(|i| format!("[t] INFO shutting down part {i}")));
        let text = log.join("\n");
        let out = excerpt(&text, 30);
        assert!(out.starts_with("[t] ERROR Exiting Kafka"), "{out}");
        assert!(out.contains("Address already in use"), "{out}");
        assert!(out.ends_with("[t] INFO shutting down part 39"), "{out}");
        assert_eq!(out.lines().count(), 2 + 1 + 30, "{out}");
        // Without an error before it, only the tail.
        let quiet: String = (0..5).map(|i| format!("line {i}\n")).collect();
        assert_eq!(excerpt(&quiet, 2), "line 3\nline 4");
    }
}
