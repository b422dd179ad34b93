//! The history's one writer: a thread that appends the lines every recorder sends it to
//! `history.jsonl` (or `history.jsonl.zst`) as the run goes. Buffered; flushed at least
//! every [`FLUSH_EVERY`] so that a harness killed outright (SIGKILL, the OOM killer)
//! leaves a file readable up to its last flush; synced to disk when asked (at each
//! phase boundary) and when closed.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest a written line waits in a buffer before it reaches the file.
pub const FLUSH_EVERY: Duration = Duration::from_millis(500);
/// The buffer between the lines and the file (or the compressor).
const BUFFER: usize = 256 * 1024;
/// zstd's level: fast enough to keep up with the tap at any rate we reach, and most of
/// the gain (the lines repeat field names and ids).
const ZSTD_LEVEL: i32 = 3;

events::named_enum! {
    "history format",
    /// How the history file is stored: `jsonl` (one JSON object per line, the default)
    /// or `zstd` (`history.jsonl.zst`, the same lines compressed as they are written;
    /// `harness check` reads either).
    #[derive(Default)]
    HistoryFormat {
        #[default]
        Jsonl = "jsonl",
        Zstd = "zstd",
    }
}

impl HistoryFormat {
    /// The history's file name in the run directory.
    pub fn file_name(self) -> &'static str {
        match self {
            HistoryFormat::Jsonl => "history.jsonl",
            HistoryFormat::Zstd => "history.jsonl.zst",
        }
    }
}

enum Message {
    /// Whole lines, each ending in a newline.
    Lines(String),
    /// Write out what came before and sync it to disk; the answer says whether every
    /// write so far succeeded.
    Sync(tokio::sync::oneshot::Sender<Result<(), String>>),
}

/// The handle recorders write through. Closing it ends the thread.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    sender: Mutex<Option<mpsc::Sender<Message>>>,
    thread: Mutex<Option<JoinHandle<Result<(), String>>>>,
}

impl Writer {
    /// Creates (truncates) `path` and starts the writer thread.
    pub fn create(path: &Path, format: HistoryFormat) -> io::Result<Writer> {
        let file = File::create(path)?;
        let out = Out::new(file, format)?;
        let (sender, receiver) = mpsc::channel();
        let shown = path.display().to_string();
        let thread = std::thread::Builder::new()
            .name("history-writer".into())
            .spawn(move || {
                write_loop(out, &receiver).map_err(|e| format!("writing {shown}: {e}"))
            })?;
        Ok(Writer {
            path: path.to_path_buf(),
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends whole lines (each ending in a newline). After [`Writer::close`] they go
    /// nowhere: nothing records after the history is closed.
    pub fn append(&self, lines: String) {
        if lines.is_empty() {
            return;
        }
        if let Some(sender) = lock(&self.sender).as_ref() {
            let _ = sender.send(Message::Lines(lines));
        }
    }

    /// Writes out everything appended so far and syncs it to disk.
    pub async fn sync(&self) -> Result<(), String> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = lock(&self.sender)
            .as_ref()
            .is_some_and(|s| s.send(Message::Sync(tx)).is_ok());
        if !sent {
            return Err(format!("{}: the history is closed", self.path.display()));
        }
        rx.await.unwrap_or_else(|_| {
            Err(format!(
                "{}: the history writer stopped",
                self.path.display()
            ))
        })
    }

    /// Writes out and syncs everything, ends the compressed stream, and stops the
    /// thread. The first write error of the run, if any, is the answer. Blocks until
    /// the file is complete (a few milliseconds: what is left in one buffer).
    pub fn close(&self) -> Result<(), String> {
        drop(lock(&self.sender).take());
        match lock(&self.thread).take() {
            Some(thread) => thread.join().unwrap_or_else(|_| {
                Err(format!(
                    "{}: the history writer panicked",
                    self.path.display()
                ))
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The file, plain or behind a compressor.
enum Out {
    Plain(BufWriter<File>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

impl Out {
    fn new(file: File, format: HistoryFormat) -> io::Result<Out> {
        let buffered = BufWriter::with_capacity(BUFFER, file);
        Ok(match format {
            HistoryFormat::Jsonl => Out::Plain(buffered),
            HistoryFormat::Zstd => {
                Out::Zstd(zstd::stream::write::Encoder::new(buffered, ZSTD_LEVEL)?)
            }
        })
    }

    fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Out::Plain(w) => w.write_all(bytes),
            Out::Zstd(w) => w.write_all(bytes),
        }
    }

    /// Everything written so far reaches the file (for zstd: the current block is
    /// ended, so a reader decodes up to here).
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Plain(w) => w.flush(),
            Out::Zstd(w) => w.flush(),
        }
    }

    fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        match self {
            Out::Plain(w) => w.get_ref().sync_data(),
            Out::Zstd(w) => w.get_ref().get_ref().sync_data(),
        }
    }

    /// Flushes, ends the zstd frame, syncs.
    fn finish(self) -> io::Result<()> {
        let mut buffered = match self {
            Out::Plain(w) => w,
            Out::Zstd(w) => w.finish()?,
        };
        buffered.flush()?;
        buffered.get_ref().sync_all()
    }
}

/// Writes until every sender is gone. A write error is kept and answered to every
/// later sync, and the lines after it are dropped (the disk is full or gone: more
/// writes would not help, and the run must not stall on them).
fn write_loop(mut out: Out, receiver: &mpsc::Receiver<Message>) -> io::Result<()> {
    let mut failed: Option<io::Error> = None;
    let mut dirty_since: Option<Instant> = None;
    loop {
        let wait = dirty_since.map_or(Duration::from_secs(3600), |since| {
            FLUSH_EVERY.saturating_sub(since.elapsed())
        });
        match receiver.recv_timeout(wait) {
            Ok(Message::Lines(lines)) => {
                if failed.is_none() {
                    if let Err(e) = out.write_all(lines.as_bytes()) {
                        failed = Some(e);
                    }
                    dirty_since.get_or_insert_with(Instant::now);
                }
            }
            Ok(Message::Sync(answer)) => {
                if failed.is_none() {
                    if let Err(e) = out.sync() {
                        failed = Some(e);
                    }
                    dirty_since = None;
                }
                let _ = answer.send(failed.as_ref().map_or(Ok(()), |e| Err(e.to_string())));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if dirty_since.is_some_and(|since| since.elapsed() >= FLUSH_EVERY) {
            if let Err(e) = out.flush() {
                failed = Some(e);
            }
            dirty_since = None;
        }
    }
    match failed {
        Some(e) => Err(e),
        None => out.finish(),
    }
}
