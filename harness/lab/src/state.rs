//! The state file of a detached lab (`harness lab up`): pids, endpoints and the data
//! directory, so that `harness lab status` and `harness lab down` can find and stop
//! the processes from another invocation.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use super::{Endpoints, LabError, LabSpec, ManagedProcess, RedisPersistence, ServiceId, lock};

/// File name of the state file inside the lab directory.
pub const STATE_FILE: &str = "lab-state.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabState {
    /// Bumped when the layout changes, so an old file is rejected with a clear message.
    pub format: u32,
    pub dir: PathBuf,
    pub brokers: u8,
    pub redis: Option<RedisPersistence>,
    pub endpoints: Endpoints,
    pub processes: Vec<StateProcess>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateProcess {
    pub service: String,
    /// Also the process group id: each service leads its own group.
    pub pid: u32,
    /// The process's start time (clock ticks after boot, /proc/PID/stat field 22): a pid
    /// reused by an unrelated process since `up` is never signalled. (The command line
    /// cannot serve: redis-server rewrites its own.)
    pub start_ticks: u64,
    pub log: PathBuf,
}

/// How `down` ended one process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stopped {
    pub service: String,
    pub pid: u32,
    /// `terminated` (SIGTERM sufficed), `killed` (needed SIGKILL) or `not running`.
    pub how: &'static str,
}

const FORMAT: u32 = 1;

impl LabState {
    pub(crate) fn new(
        dir: &Path,
        endpoints: &Endpoints,
        spec: &LabSpec,
        processes: &[(ServiceId, Mutex<ManagedProcess>)],
    ) -> Self {
        LabState {
            format: FORMAT,
            dir: dir.to_path_buf(),
            brokers: spec.brokers,
            redis: spec.redis,
            endpoints: endpoints.clone(),
            processes: processes
                .iter()
                .filter_map(|(id, p)| {
                    let p = lock(p);
                    let pid = p.pid()?;
                    Some(StateProcess {
                        service: id.to_string(),
                        pid,
                        start_ticks: proc_stat(pid)?.start_ticks,
                        log: p.spec().log.clone(),
                    })
                })
                .collect(),
        }
    }

    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// Writes the file atomically (temporary file, then rename).
    pub fn write(&self) -> Result<(), LabError> {
        let path = Self::path(&self.dir);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string_pretty(self).map_err(|e| LabError::State {
            path: path.clone(),
            message: e.to_string(),
        })?;
        std::fs::write(&tmp, text).map_err(|e| LabError::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| LabError::io(&path, e))
    }

    /// The state of the lab in `dir`, or `None` if no lab was brought up there.
    pub fn read(dir: &Path) -> Result<Option<Self>, LabError> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LabError::io(&path, e)),
        };
        let state: LabState = serde_json::from_str(&text).map_err(|e| LabError::State {
            path: path.clone(),
            message: e.to_string(),
        })?;
        if state.format != FORMAT {
            return Err(LabError::State {
                path,
                message: format!(
                    "written by another version of the harness (format {}); stop its \
                     processes by hand and delete the file",
                    state.format
                ),
            });
        }
        Ok(Some(state))
    }

    /// The processes still alive.
    pub fn alive(&self) -> Vec<&StateProcess> {
        self.processes.iter().filter(|p| p.is_alive()).collect()
    }

    /// Stops every process (brokers first, Toxiproxy last): SIGTERM, up to `grace` to
    /// exit, then SIGKILL. Removes the state file, and the directory unless `keep_data`.
    pub fn down(self, keep_data: bool, grace: Duration) -> Result<Vec<Stopped>, LabError> {
        let rank = |p: &StateProcess| match p.service.as_str() {
            s if s.starts_with("kafka-") => 0,
            "redis" => 1,
            _ => 2,
        };
        let mut stopped = Vec::new();
        for wave in 0..=2 {
            let group: Vec<&StateProcess> =
                self.processes.iter().filter(|p| rank(p) == wave).collect();
            let was_alive: Vec<bool> = group.iter().map(|p| p.is_alive()).collect();
            for (p, _) in group.iter().zip(&was_alive).filter(|(_, alive)| **alive) {
                let _ = killpg(Pid::from_raw(p.pid as i32), Signal::SIGCONT);
                let _ = killpg(Pid::from_raw(p.pid as i32), Signal::SIGTERM);
            }
            let deadline = Instant::now() + grace;
            while group.iter().any(|p| p.is_alive()) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            for (p, alive_before) in group.into_iter().zip(was_alive) {
                let how = if !alive_before {
                    "not running"
                } else if !p.is_alive() {
                    "terminated"
                } else {
                    let _ = killpg(Pid::from_raw(p.pid as i32), Signal::SIGKILL);
                    let deadline = Instant::now() + Duration::from_secs(10);
                    while p.is_alive() && Instant::now() < deadline {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    "killed"
                };
                stopped.push(Stopped {
                    service: p.service.clone(),
                    pid: p.pid,
                    how,
                });
            }
        }
        if let Some(p) = self.processes.iter().find(|p| p.is_alive()) {
            return Err(LabError::State {
                path: Self::path(&self.dir),
                message: format!("{} (pid {}) survived SIGKILL", p.service, p.pid),
            });
        }
        let path = Self::path(&self.dir);
        std::fs::remove_file(&path).map_err(|e| LabError::io(&path, e))?;
        if !keep_data {
            std::fs::remove_dir_all(&self.dir).map_err(|e| LabError::io(&self.dir, e))?;
        }
        Ok(stopped)
    }
}

impl StateProcess {
    /// Running (not a zombie) and still the process `up` started.
    pub fn is_alive(&self) -> bool {
        proc_stat(self.pid)
            .is_some_and(|stat| stat.start_ticks == self.start_ticks && !stat.is_zombie())
    }
}

/// The two fields of /proc/PID/stat the state file needs.
#[derive(Debug, Clone, Copy)]
struct ProcStat {
    state: char,
    start_ticks: u64,
}

impl ProcStat {
    fn is_zombie(self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

fn proc_stat(pid: u32) -> Option<ProcStat> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "pid (comm) ": field 3 (state) onwards; comm may contain spaces and ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(ProcStat {
        state: fields.first()?.chars().next()?,
        start_ticks: fields.get(19)?.parse().ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_from_proc() {
        let stat = proc_stat(std::process::id()).expect("own stat");
        assert!(!stat.is_zombie());
        let me = StateProcess {
            service: "test".into(),
            pid: std::process::id(),
            start_ticks: stat.start_ticks,
            log: PathBuf::new(),
        };
        assert!(me.is_alive());
        let reused = StateProcess {
            start_ticks: stat.start_ticks + 1,
            ..me
        };
        assert!(!reused.is_alive(), "same pid, other start time: not ours");
    }
}
