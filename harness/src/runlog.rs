//! The harness's own log: what its tap, samplers and fault executor report (a read
//! that failed, a fault that could not be applied) goes to `logs/harness.log` of the
//! run in progress, beside the services' logs. Outside a run nothing is written. The
//! level is `info` unless `HARNESS_LOG` says otherwise (an `EnvFilter` directive such
//! as `debug` or `harness=debug,order_platform=info`).

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

static CURRENT: OnceLock<Mutex<Option<File>>> = OnceLock::new();

fn current() -> &'static Mutex<Option<File>> {
    CURRENT.get_or_init(|| Mutex::new(None))
}

/// Installs the subscriber (once per process; later calls do nothing).
pub fn install() {
    let filter = EnvFilter::try_from_env("HARNESS_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(RunLog)
        .try_init();
}

/// Sends the log to `path` until the returned guard is dropped.
pub fn open(path: &Path) -> io::Result<Guard> {
    let file = File::options().create(true).append(true).open(path)?;
    if let Ok(mut slot) = current().lock() {
        *slot = Some(file);
    }
    Ok(Guard)
}

/// Ends the run's log when dropped.
#[derive(Debug)]
pub struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(mut slot) = current().lock()
            && let Some(mut file) = slot.take()
        {
            let _ = file.flush();
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct RunLog;

impl Write for RunLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match current().lock() {
            Ok(mut slot) => match slot.as_mut() {
                Some(file) => file.write(buf),
                None => Ok(buf.len()),
            },
            Err(_) => Ok(buf.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match current().lock() {
            Ok(mut slot) => slot.as_mut().map_or(Ok(()), Write::flush),
            Err(_) => Ok(()),
        }
    }
}

impl<'a> MakeWriter<'a> for RunLog {
    type Writer = RunLog;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}
