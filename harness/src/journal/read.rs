//! Judging a history file, plain (`history.jsonl`) or compressed (`history.jsonl.zst`,
//! told by its first bytes, not its name), with the streaming checker: read in blocks,
//! in memory that follows the orders open, not the file's size. A file a killed
//! harness left cut short is read up to the cut, and the run is said to be
//! incomplete.

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::rc::Rc;

use anyhow::Context;
use check::{Analysis, Meta};

/// zstd's frame magic number, little-endian.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A history file judged by the streaming checker (`check::stream`): the file is read
/// in blocks, never held.
#[derive(Debug)]
pub struct CheckedFile {
    /// The meta line; `complete` is `false` when the file is cut short, whatever the
    /// line says.
    pub meta: Option<Meta>,
    pub analysis: Analysis,
    /// Why the file looks cut short (a killed writer), if it does: the last line
    /// stops in the middle, or the compressed stream ends before its frame does.
    pub cut_short: Option<String>,
    /// Lines read.
    pub lines: u64,
    /// The file's size and the bytes of JSON lines in it (equal when not compressed).
    pub file_bytes: u64,
    pub text_bytes: u64,
}

/// Counts what it reads; a compressed stream that ends before its frame does ends
/// there, the reason noted (every block flushed before the cut still decodes).
struct Source<R> {
    inner: R,
    read: Rc<Cell<u64>>,
    cut: Rc<RefCell<Option<String>>>,
    compressed: bool,
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                self.read.set(self.read.get() + n as u64);
                Ok(n)
            }
            Err(e) if self.compressed && e.kind() != io::ErrorKind::Interrupted => {
                *self.cut.borrow_mut() = Some(format!(
                    "the compressed stream ends before its frame does ({e})"
                ));
                Ok(0)
            }
            Err(e) => Err(e),
        }
    }
}

/// The meta line at the end of the plain file `path`, if its last line is one.
fn tail_of(path: &Path, len: u64) -> io::Result<Option<Meta>> {
    use std::io::{Seek, SeekFrom};
    // A meta line with every threshold and fault window fits in far less.
    const TAIL: u64 = 1 << 20;
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(len.saturating_sub(TAIL)))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    Ok(check::stream::meta_of_tail(&tail))
}

/// Reads and judges `path`. Errors name the file and, for a bad line, the line.
pub fn check(path: &Path) -> anyhow::Result<CheckedFile> {
    let opened =
        |path: &Path| File::open(path).with_context(|| format!("reading {}", path.display()));
    let mut head = [0u8; 4];
    let got = opened(path)?
        .read(&mut head)
        .with_context(|| format!("reading {}", path.display()))?;
    let compressed = got == 4 && head == ZSTD_MAGIC;
    let file_bytes = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let read = Rc::new(Cell::new(0u64));
    let cut = Rc::new(RefCell::new(None));
    let open = || -> io::Result<Source<Box<dyn Read>>> {
        read.set(0);
        let file = File::open(path)?;
        let inner: Box<dyn Read> = if compressed {
            Box::new(zstd::stream::read::Decoder::new(file)?)
        } else {
            Box::new(file)
        };
        Ok(Source {
            inner,
            read: read.clone(),
            cut: cut.clone(),
            compressed,
        })
    };
    // The meta line is the last: read first from the end of a plain file, it lets the
    // checker judge in one pass (a compressed file cannot be read from its end).
    let tail = if compressed {
        None
    } else {
        tail_of(path, file_bytes).with_context(|| format!("reading {}", path.display()))?
    };
    let checked = check::stream::check_reader_from(open, tail)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let line_cut = checked.truncated.map(|t| {
        format!(
            "its last line (line {}, {} bytes) stops in the middle ({}) and was left out",
            t.line, t.bytes, t.error
        )
    });
    let stream_cut = cut.borrow_mut().take();
    let cut_short = match (stream_cut, line_cut) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    };
    let mut meta = checked.meta;
    if cut_short.is_some()
        && let Some(meta) = meta.as_mut()
    {
        meta.complete = false;
    }
    Ok(CheckedFile {
        meta,
        analysis: checked.analysis,
        cut_short,
        lines: checked.lines,
        file_bytes,
        text_bytes: read.get(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEND: &str = r#"{"kind":"send","order_id":"o-1","intended_us":0,"sent_us":10,"acked_us":900,"outcome":"acked","error":null}"#;

    fn compress(text: &str) -> Vec<u8> {
        zstd::stream::encode_all(text.as_bytes(), 3).unwrap()
    }

    #[test]
    fn a_plain_and_a_compressed_history_read_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!("{SEND}\n{SEND}\n");
        std::fs::write(dir.path().join("a.jsonl"), &text).unwrap();
        std::fs::write(dir.path().join("a.jsonl.zst"), compress(&text)).unwrap();
        let plain = check(&dir.path().join("a.jsonl")).unwrap();
        let packed = check(&dir.path().join("a.jsonl.zst")).unwrap();
        assert_eq!(plain.analysis, packed.analysis);
        assert_eq!((plain.lines, packed.lines), (2, 2));
        assert_eq!(plain.analysis.counts.acknowledged, 1);
        assert!(plain.cut_short.is_none() && packed.cut_short.is_none());
        assert_eq!(packed.text_bytes, text.len() as u64);
    }

    #[test]
    fn a_cut_compressed_stream_reads_up_to_its_last_flush() {
        use std::io::Write as _;
        let mut encoder = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
        writeln!(encoder, "{SEND}").unwrap();
        encoder.flush().unwrap();
        let flushed = encoder.get_ref().len();
        write!(encoder, "{SEND}\n{SEND}").unwrap();
        // The writer is killed: only the flushed blocks reached the file.
        let bytes = encoder.get_ref()[..flushed].to_vec();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl.zst");
        std::fs::write(&path, bytes).unwrap();
        let file = check(&path).unwrap();
        assert_eq!(file.lines, 1);
        let why = file.cut_short.expect("a cut stream is said to be cut");
        assert!(why.contains("before its frame"), "{why}");
    }

    #[test]
    fn a_cut_last_line_is_left_out_and_makes_the_run_incomplete() {
        let meta = r#"{"kind":"meta","experiment":"e","seed":1,"backend":"redis","guarantee":"at-least-once","warmup_end_us":0,"load_end_us":1,"drain_end_us":2,"complete":true}"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        std::fs::write(&path, format!("{meta}\n{SEND}\n{}", &SEND[..40])).unwrap();
        let file = check(&path).unwrap();
        assert_eq!(file.analysis.counts.acknowledged, 1);
        assert!(file.cut_short.as_deref().unwrap().contains("line 3"));
        assert!(!file.meta.unwrap().complete);
    }

    #[test]
    fn a_bad_line_before_the_end_is_still_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        std::fs::write(&path, format!("{}\n{SEND}\n", &SEND[..40])).unwrap();
        let err = check(&path).unwrap_err().to_string();
        assert!(err.contains("history line 1"), "{err}");
    }
}
