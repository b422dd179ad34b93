//! Reading a history file back, plain (`history.jsonl`) or compressed
//! (`history.jsonl.zst`, told by its first bytes, not its name), including one a
//! killed harness left cut short: what was written before the cut is read, and the run
//! is said to be incomplete.

use std::io::Read as _;
use std::path::Path;

use anyhow::Context;
use check::History;

/// zstd's frame magic number, little-endian.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// A history read from its file.
#[derive(Debug)]
pub struct HistoryFile {
    pub history: History,
    /// Why the file looks cut short (a killed writer), if it does: the last line
    /// stops in the middle, or the compressed stream ends before its frame does.
    pub cut_short: Option<String>,
    /// The file's size and the bytes of JSON lines in it (equal when not compressed).
    pub file_bytes: u64,
    pub text_bytes: u64,
}

impl HistoryFile {
    /// The history with what the cut means for a verdict: a history cut short is
    /// incomplete, whatever its meta line (if it got one) says.
    pub fn into_history(self) -> History {
        let mut history = self.history;
        if self.cut_short.is_some()
            && let Some(meta) = history.meta.as_mut()
        {
            meta.complete = false;
        }
        history
    }
}

/// Reads `path`. Errors name the file and, for a bad line, the line.
pub fn read(path: &Path) -> anyhow::Result<HistoryFile> {
    let raw = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let file_bytes = raw.len() as u64;
    let (text, stream_cut) = if raw.starts_with(&ZSTD_MAGIC) {
        decompress(&raw)
    } else {
        (raw, None)
    };
    let loaded = History::load(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let line_cut = loaded.truncated.map(|t| {
        format!(
            "its last line (line {}, {} bytes) stops in the middle ({}) and was left out",
            t.line, t.bytes, t.error
        )
    });
    let cut_short = match (stream_cut, line_cut) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    };
    Ok(HistoryFile {
        history: loaded.history,
        cut_short,
        file_bytes,
        text_bytes: text.len() as u64,
    })
}

/// Decodes as much of a zstd stream as there is: a writer killed mid-run leaves the
/// frame unfinished, and every block flushed before that still decodes.
fn decompress(raw: &[u8]) -> (Vec<u8>, Option<String>) {
    let mut text = Vec::with_capacity(raw.len().saturating_mul(8));
    let cut = match zstd::stream::read::Decoder::new(raw) {
        Ok(mut decoder) => decoder
            .read_to_end(&mut text)
            .err()
            .map(|e| format!("the compressed stream ends before its frame does ({e})")),
        Err(e) => Some(format!("the compressed stream cannot be read ({e})")),
    };
    (text, cut)
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
        let plain = read(&dir.path().join("a.jsonl")).unwrap();
        let packed = read(&dir.path().join("a.jsonl.zst")).unwrap();
        assert_eq!(plain.history, packed.history);
        assert_eq!(plain.history.sends.len(), 2);
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
        let file = read(&path).unwrap();
        assert_eq!(file.history.sends.len(), 1);
        let why = file.cut_short.expect("a cut stream is said to be cut");
        assert!(why.contains("before its frame"), "{why}");
    }

    #[test]
    fn a_cut_last_line_is_left_out_and_makes_the_run_incomplete() {
        let meta = r#"{"kind":"meta","experiment":"e","seed":1,"backend":"redis","guarantee":"at-least-once","warmup_end_us":0,"load_end_us":1,"drain_end_us":2,"complete":true}"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        std::fs::write(&path, format!("{meta}\n{SEND}\n{}", &SEND[..40])).unwrap();
        let file = read(&path).unwrap();
        assert_eq!(file.history.sends.len(), 1);
        assert!(file.cut_short.as_deref().unwrap().contains("line 3"));
        assert!(!file.into_history().meta.unwrap().complete);
    }

    #[test]
    fn a_bad_line_before_the_end_is_still_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.jsonl");
        std::fs::write(&path, format!("{}\n{SEND}\n", &SEND[..40])).unwrap();
        let err = read(&path).unwrap_err().to_string();
        assert!(err.contains("history line 1"), "{err}");
    }
}
