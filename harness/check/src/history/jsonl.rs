//! Reading and writing the history's lines (the format is documented in [`super`]).

use serde::{Deserialize, Serialize};

use super::{
    Charge, DeadLetterRecord, FaultRecord, History, LagSample, Meta, MetricSample, Observation,
    SendRecord, StockLine,
};

/// A history line that could not be read. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HistoryError {
    /// Not JSON, or not the fields of its kind. `column` (1-based) is known for syntax
    /// errors; for a wrong or missing field serde only knows the line.
    #[error("history line {line}{}: {message}", column.map(|c| format!(", column {c}")).unwrap_or_default())]
    Json {
        line: usize,
        column: Option<usize>,
        message: String,
    },
    #[error("history line {line}: the object has no \"kind\" field; every line needs one")]
    MissingKind { line: usize },
    #[error(
        "history line {line}: unknown kind `{kind}`; expected one of meta, send, observe, fault, lag, charge, stock, metric, dead_letter"
    )]
    UnknownKind { line: usize, kind: String },
    #[error("history line {line}: a second `meta` line (the first is on line {first_line})")]
    DuplicateMeta { line: usize, first_line: usize },
    /// The file is not UTF-8 text: `column` is the 1-based byte of the line where the
    /// invalid sequence starts.
    #[error(
        "history line {line}, byte {column}: not valid UTF-8 (a history is UTF-8 JSON text; the file may be truncated or corrupted)"
    )]
    NotUtf8 { line: usize, column: usize },
}

impl HistoryError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> usize {
        match self {
            HistoryError::Json { line, .. }
            | HistoryError::MissingKind { line }
            | HistoryError::UnknownKind { line, .. }
            | HistoryError::DuplicateMeta { line, .. }
            | HistoryError::NotUtf8 { line, .. } => *line,
        }
    }
}

/// One history line, tagged by `kind`: what a recorder appends and a reader yields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Line {
    Meta(Meta),
    Send(SendRecord),
    Observe(Observation),
    Fault(FaultRecord),
    Lag(LagSample),
    Charge(Charge),
    Stock(StockLine),
    Metric(MetricSample),
    DeadLetter(DeadLetterRecord),
}

impl Line {
    /// The line as JSON, without its newline.
    pub fn to_json(&self) -> String {
        // Lines hold strings, integers and finite-or-not floats; serde_json writes a
        // non-finite float as `null`, so serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

const KINDS: [&str; 9] = [
    "meta",
    "send",
    "observe",
    "fault",
    "lag",
    "charge",
    "stock",
    "metric",
    "dead_letter",
];

/// Only the tag, read first so that a missing or unknown kind gets its own error.
#[derive(Deserialize)]
struct Tag {
    kind: Option<serde_json::Value>,
}

fn json_error(line: usize, error: &serde_json::Error) -> HistoryError {
    // serde_json appends " at line 1 column N"; the line is ours, the column is kept.
    let text = error.to_string();
    let mut message = match text.rfind(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    };
    if message == "duplicate field `kind`" {
        message.push_str(" (`kind` says what the line is; a fault's own kind goes in `fault`)");
    }
    HistoryError::Json {
        line,
        column: (error.column() > 0).then_some(error.column()),
        message,
    }
}

/// Reads lines one at a time with the format's rules (a known `kind`, the fields of
/// that kind, at most one `meta`): the one reader behind [`History::from_jsonl`] and
/// any caller that streams a history instead of holding it.
#[derive(Debug, Default)]
pub struct LineParser {
    meta_line: Option<usize>,
}

impl LineParser {
    /// Parses line `line` (1-based) of a history: `None` for a blank line.
    pub fn parse(&mut self, line: usize, raw: &str) -> Result<Option<Line>, HistoryError> {
        if raw.trim().is_empty() {
            return Ok(None);
        }
        let tag: Tag = serde_json::from_str(raw).map_err(|e| json_error(line, &e))?;
        match tag.kind {
            None | Some(serde_json::Value::Null) => {
                return Err(HistoryError::MissingKind { line });
            }
            Some(serde_json::Value::String(kind)) if KINDS.contains(&kind.as_str()) => {}
            Some(other) => {
                let kind = match other {
                    serde_json::Value::String(s) => s,
                    value => value.to_string(),
                };
                return Err(HistoryError::UnknownKind { line, kind });
            }
        }
        let parsed: Line = serde_json::from_str(raw).map_err(|e| json_error(line, &e))?;
        if matches!(parsed, Line::Meta(_)) {
            if let Some(first_line) = self.meta_line {
                return Err(HistoryError::DuplicateMeta { line, first_line });
            }
            self.meta_line = Some(line);
        }
        Ok(Some(parsed))
    }
}

/// The last line of a history that was cut short: the writer was killed in the middle
/// of it (no newline at its end, and it does not parse). [`History::load`] leaves it
/// out and says so; everything before it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruncatedTail {
    /// Its 1-based line number.
    pub line: usize,
    /// How many bytes of it there were.
    pub bytes: usize,
    /// Why it did not parse.
    pub error: String,
}

/// A history read by [`History::load`]: the lines read, and the cut-off last line if
/// there was one.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    pub history: History,
    pub truncated: Option<TruncatedTail>,
}

impl History {
    /// Adds one line to the history it belongs in.
    pub fn push(&mut self, line: Line) {
        match line {
            Line::Meta(meta) => self.meta = Some(meta),
            Line::Send(r) => self.sends.push(r),
            Line::Observe(r) => self.observations.push(r),
            Line::Fault(r) => self.faults.push(r),
            Line::Lag(r) => self.lags.push(r),
            Line::Charge(r) => self.charges.push(r),
            Line::Stock(r) => self.stock.push(r),
            Line::Metric(r) => self.metrics.push(r),
            Line::DeadLetter(r) => self.dead_letters.push(r),
        }
    }

    /// Reads a `history.jsonl` file's bytes: [`History::from_jsonl`], after checking
    /// that they are UTF-8 (the first invalid byte is reported with its line).
    pub fn from_jsonl_bytes(bytes: &[u8]) -> Result<History, HistoryError> {
        History::from_jsonl(utf8(bytes)?)
    }

    /// Reads a `history.jsonl` text. Never panics; the first bad line is reported.
    pub fn from_jsonl(text: &str) -> Result<History, HistoryError> {
        let mut history = History::default();
        let mut parser = LineParser::default();
        for (index, raw) in text.lines().enumerate() {
            if let Some(line) = parser.parse(index + 1, raw)? {
                history.push(line);
            }
        }
        Ok(history)
    }

    /// Reads the bytes of a history that may have been cut short — a harness killed
    /// while writing it: like [`History::from_jsonl_bytes`], except that a last line
    /// with no newline after it that does not parse (or is not UTF-8) is left out and
    /// reported in [`Loaded::truncated`]. A bad line anywhere else is still an error.
    pub fn load(bytes: &[u8]) -> Result<Loaded, HistoryError> {
        let cut = match bytes.last() {
            Some(b'\n') | None => bytes.len(),
            Some(_) => bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1),
        };
        let (body, tail) = bytes.split_at(cut);
        let mut history = History::from_jsonl_bytes(body)?;
        if tail.is_empty() {
            return Ok(Loaded {
                history,
                truncated: None,
            });
        }
        let line = body.iter().filter(|&&b| b == b'\n').count() + 1;
        let parsed = std::str::from_utf8(tail)
            .map_err(|e| format!("not valid UTF-8 at byte {}", e.valid_up_to() + 1))
            .and_then(|text| {
                // The body's meta line, if any, counts: a second one is still an error.
                let mut parser = LineParser {
                    meta_line: history.meta.is_some().then_some(0),
                };
                parser.parse(line, text).map_err(|e| e.to_string())
            });
        match parsed {
            Ok(Some(last)) => {
                history.push(last);
                Ok(Loaded {
                    history,
                    truncated: None,
                })
            }
            Ok(None) => Ok(Loaded {
                history,
                truncated: None,
            }),
            Err(error) => Ok(Loaded {
                history,
                truncated: Some(TruncatedTail {
                    line,
                    bytes: tail.len(),
                    error,
                }),
            }),
        }
    }

    /// Writes the history as JSONL: `meta` first, then each kind in the order of the
    /// struct's fields. `History::from_jsonl(&h.to_jsonl()) == Ok(h)`.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        let mut push = |line: Line| {
            out.push_str(&line.to_json());
            out.push('\n');
        };
        if let Some(meta) = &self.meta {
            push(Line::Meta(meta.clone()));
        }
        self.sends.iter().cloned().for_each(|r| push(Line::Send(r)));
        self.observations
            .iter()
            .cloned()
            .for_each(|r| push(Line::Observe(r)));
        self.faults
            .iter()
            .cloned()
            .for_each(|r| push(Line::Fault(r)));
        self.lags.iter().cloned().for_each(|r| push(Line::Lag(r)));
        self.charges
            .iter()
            .cloned()
            .for_each(|r| push(Line::Charge(r)));
        self.stock
            .iter()
            .cloned()
            .for_each(|r| push(Line::Stock(r)));
        self.metrics
            .iter()
            .cloned()
            .for_each(|r| push(Line::Metric(r)));
        self.dead_letters
            .iter()
            .cloned()
            .for_each(|r| push(Line::DeadLetter(r)));
        out
    }
}

/// `bytes` as text, or the line and byte where it stops being UTF-8.
fn utf8(bytes: &[u8]) -> Result<&str, HistoryError> {
    std::str::from_utf8(bytes).map_err(|e| {
        let valid = &bytes[..e.valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        let start = valid.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        HistoryError::NotUtf8 {
            line,
            column: valid.len() - start + 1,
        }
    })
}
