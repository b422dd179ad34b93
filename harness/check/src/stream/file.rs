//! A history read from a byte stream, in bounded memory: [`check_reader`].
//!
//! - **Pass 1** reads every line for what shapes the judgement before it is made: each
//!   key's last line, the meta line (phases, options) and the fault lines.
//! - **Pass 2** reads every line with the format's rules (the first bad line is the
//!   error; a cut last line is left out and reported) and judges, settling each key
//!   right after its last line.
//! - **Pass 3**, only when an effect's cause was not among its key's events, looks the
//!   causes up.
//!
//! The stream is read in blocks; nothing holds the file.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};

use super::FirstSeen;
use super::ids::EventId;
use super::names::Keys;
use super::{Checker, Fast, KeyRec, Setup, fast};
use crate::analysis::{Analysis, AnalysisOptions};
use crate::history::{FaultRecord, HistoryError, Line, LineParser, Meta, TruncatedTail};

/// A history judged by [`check_reader`].
#[derive(Debug)]
pub struct Checked {
    pub analysis: Analysis,
    pub meta: Option<Meta>,
    /// The last line, cut in the middle (a killed writer), left out.
    pub truncated: Option<TruncatedTail>,
    /// Lines read (blank ones included).
    pub lines: u64,
    /// Passes over the stream: 1 when judged in one pass ([`Checked::one_pass`]), 2
    /// otherwise, one more when causes were looked up under other keys.
    pub passes: u8,
    /// Judged in one pass: the meta line given up front listed the faults, and no line
    /// came for a key after it was settled.
    pub one_pass: bool,
}

/// Why a history could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    History(#[from] HistoryError),
}

const BLOCK: usize = 1 << 22;

/// One line of the file: its bytes, and its text when the block it came in was checked
/// to be UTF-8 as a whole (one check per block instead of one per line; a block that is
/// not leaves each line to be checked alone, so an error names its line).
#[derive(Clone, Copy)]
struct RawLine<'a> {
    bytes: &'a [u8],
    checked: Option<&'a str>,
}

impl<'a> RawLine<'a> {
    /// The line as text (`\r` before its newline dropped, as `str::lines` does).
    fn text(self) -> Result<&'a str, std::str::Utf8Error> {
        match self.checked {
            Some(t) => Ok(t.strip_suffix('\r').unwrap_or(t)),
            None => text(self.bytes),
        }
    }
}

/// Calls `each(line number, line, ended by a newline)` for every line of `reader`.
fn lines<R: Read, E: From<io::Error>>(
    mut reader: R,
    mut each: impl FnMut(u64, RawLine<'_>, bool) -> Result<(), E>,
) -> Result<u64, E> {
    let mut buf = vec![0u8; BLOCK];
    let (mut len, mut number) = (0usize, 0u64);
    loop {
        if len == buf.len() {
            // One line longer than the block: grow for it.
            buf.resize(buf.len() * 2, 0);
        }
        let n = match reader.read(&mut buf[len..]) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            if len > 0 {
                number += 1;
                let line = RawLine {
                    bytes: &buf[..len],
                    checked: None,
                };
                each(number, line, false)?;
            }
            return Ok(number);
        }
        let mut start = 0;
        let end = len + n;
        let mut from = len;
        // The whole lines of the block, checked at once: a newline is a character
        // boundary, so each line of valid text is valid text.
        let whole = memchr::memrchr(b'\n', &buf[from..end]).map_or(0, |i| from + i);
        let checked = std::str::from_utf8(&buf[..whole]).ok();
        while let Some(i) = memchr::memchr(b'\n', &buf[from..end]) {
            number += 1;
            let line = RawLine {
                bytes: &buf[start..from + i],
                checked: checked.and_then(|t| t.get(start..from + i)),
            };
            each(number, line, true)?;
            start = from + i + 1;
            from = start;
        }
        buf.copy_within(start..end, 0);
        len = end - start;
    }
}

/// The line as text (`\r` before its newline dropped, as `str::lines` does).
fn text(bytes: &[u8]) -> Result<&str, std::str::Utf8Error> {
    let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
    std::str::from_utf8(bytes)
}

/// Pass 1's findings.
struct Plan {
    keys: Keys,
    last_line: Vec<u64>,
    /// Each line's key id (`u32::MAX`: none), so pass 2 need not look keys up.
    line_keys: Vec<u32>,
    meta: Option<Meta>,
    faults: Vec<FaultRecord>,
}

fn plan<R: Read>(reader: R) -> Result<Plan, ReadError> {
    let mut plan = Plan {
        keys: Keys::default(),
        last_line: Vec::new(),
        line_keys: Vec::new(),
        meta: None,
        faults: Vec::new(),
    };
    let mut parser = LineParser::default();
    lines(reader, |number, line, _| {
        plan.line_keys.push(u32::MAX);
        if let Some(key) = fast::key_of_bytes(line.bytes) {
            note(&mut plan, key, number);
            return Ok(());
        }
        let Ok(text) = line.text() else {
            return Ok::<(), ReadError>(());
        };
        let key = match fast::key_of(text)
            .map(Some)
            .or_else(|| match fast::parse(text) {
                Some(Fast::Send(s)) => Some(Some(s.order_id)),
                Some(Fast::Observe(o)) => Some(Some(o.key)),
                Some(Fast::Charge { .. }) => Some(None),
                None => None,
            }) {
            Some(key) => key,
            None => {
                match parser.parse(number as usize, text) {
                    Ok(Some(Line::Meta(m))) => plan.meta = Some(m),
                    Ok(Some(Line::Fault(f))) => plan.faults.push(f),
                    Ok(Some(Line::Send(s))) => note(&mut plan, &s.order_id, number),
                    Ok(Some(Line::Observe(o))) => note(&mut plan, &o.key, number),
                    // Errors are pass 2's to report.
                    _ => {}
                }
                None
            }
        };
        if let Some(key) = key {
            note(&mut plan, key, number);
        }
        Ok(())
    })?;
    Ok(plan)
}

fn note(plan: &mut Plan, key: &str, number: u64) {
    let (id, new) = plan.keys.intern(key);
    if new {
        plan.last_line.push(number);
    } else {
        plan.last_line[id as usize] = number;
    }
    if let Some(slot) = plan.line_keys.get_mut(number as usize - 1) {
        *slot = id;
    }
}

/// How long after a key's last line (in the run's time, by the latest time any line
/// has shown) the one-pass reader settles it. A line for it after that makes the
/// reader start again in two passes, so this decides the speed, never the answer.
const SETTLE_AFTER_US: u64 = 60_000_000;

/// The meta line of a history, from the bytes at its end (its last line), if that is
/// where it is: what [`check_reader_from`] starts from.
pub fn meta_of_tail(tail: &[u8]) -> Option<Meta> {
    let tail = tail.strip_suffix(b"\n").unwrap_or(tail);
    let start = memchr::memrchr(b'\n', tail).map_or(0, |i| i + 1);
    let line = std::str::from_utf8(&tail[start..]).ok()?;
    match LineParser::default().parse(1, line) {
        Ok(Some(Line::Meta(meta))) => Some(meta),
        _ => None,
    }
}

/// Judges the history `open` yields (called once per pass, each time from the start),
/// with the analysis options its meta line recorded (the defaults without): in two
/// passes (three if a cause is under another key). See [`check_reader_from`].
pub fn check_reader<R: Read>(open: impl FnMut() -> io::Result<R>) -> Result<Checked, ReadError> {
    check_reader_from(open, None)
}

/// [`check_reader`], given the meta line read from the history's end. When it lists
/// the fault windows (`meta.faults`), the history is judged in **one pass**: each key
/// settled [`SETTLE_AFTER_US`] after its last line. If a line then comes for a key
/// already settled, or the lines do not match the meta line given, the answer could
/// differ from the reference's: the history is judged again in two passes.
pub fn check_reader_from<R: Read>(
    mut open: impl FnMut() -> io::Result<R>,
    tail: Option<Meta>,
) -> Result<Checked, ReadError> {
    if let Some(meta) = tail
        && let Some(faults) = meta.faults.clone()
    {
        let mut checker = Checker::new(Setup {
            options: meta.analysis.clone().unwrap_or_default(),
            meta: Some(meta.clone()),
            faults: faults.clone(),
        });
        checker.settle_after(SETTLE_AFTER_US);
        let (total, truncated) = judge(&mut checker, open()?, None)?;
        let same = checker.small.meta.as_ref() == Some(&meta) && checker.small.faults == faults;
        if same && checker.late_lines() == 0 {
            return finish(checker, open, Some(meta), truncated, total, true);
        }
    }
    let plan = plan(open()?)?;
    let options: AnalysisOptions = plan
        .meta
        .as_ref()
        .and_then(|m| m.analysis.clone())
        .unwrap_or_default();
    let mut checker = Checker::new(Setup {
        options,
        meta: plan.meta.clone(),
        faults: plan.faults,
    });
    checker.recs = vec![KeyRec::NEW; plan.keys.len()];
    checker.keys = plan.keys;
    let planned = Planned {
        last_line: plan.last_line,
        line_keys: plan.line_keys,
    };
    let (total, truncated) = judge(&mut checker, open()?, Some(&planned))?;
    finish(checker, open, plan.meta, truncated, total, false)
}

/// What pass 1 found, for pass 2.
struct Planned {
    last_line: Vec<u64>,
    line_keys: Vec<u32>,
}

/// Reads every line with the format's rules into `checker`: the lines read and the cut
/// last line, if any. With `planned`, each key is settled after its last line.
fn judge<R: Read>(
    checker: &mut Checker,
    reader: R,
    planned: Option<&Planned>,
) -> Result<(u64, Option<TruncatedTail>), ReadError> {
    let mut parser = LineParser::default();
    let mut truncated = None;
    let total = lines(reader, |number, line, newline| {
        let cut = |error: String| TruncatedTail {
            line: number as usize,
            bytes: line.bytes.len(),
            error,
        };
        let text = match line.text() {
            Ok(text) => text,
            Err(e) if !newline => {
                truncated = Some(cut(format!(
                    "not valid UTF-8 at byte {}",
                    e.valid_up_to() + 1
                )));
                return Ok(());
            }
            Err(e) => {
                return Err(ReadError::History(HistoryError::NotUtf8 {
                    line: number as usize,
                    column: e.valid_up_to() + 1,
                }));
            }
        };
        let key = match fast::parse(text) {
            Some(line) => {
                checker.hint = planned
                    .and_then(|p| p.line_keys.get(number as usize - 1))
                    .copied()
                    .filter(|&k| k != u32::MAX);
                checker.fast(number, line)
            }
            None => match parser.parse(number as usize, text) {
                Ok(Some(line)) => checker.line(number, &line),
                Ok(None) => None,
                Err(e) if !newline => {
                    truncated = Some(cut(e.to_string()));
                    None
                }
                Err(e) => return Err(e.into()),
            },
        };
        if let (Some(key), Some(planned)) = (key, planned)
            && planned.last_line.get(key as usize) == Some(&number)
        {
            checker.settle(key);
        }
        Ok(())
    })?;
    checker.settle_all();
    Ok((total, truncated))
}

/// Looks up the causes under other keys (pass 3, only if there are any) and judges.
fn finish<R: Read>(
    mut checker: Checker,
    mut open: impl FnMut() -> io::Result<R>,
    meta: Option<Meta>,
    truncated: Option<TruncatedTail>,
    lines_read: u64,
    one_pass: bool,
) -> Result<Checked, ReadError> {
    let wanted: HashSet<EventId> = checker.orphan_causes().into_iter().collect();
    let mut passes = if one_pass { 1 } else { 2 };
    if !wanted.is_empty() {
        passes += 1;
        let mut found: HashMap<EventId, FirstSeen> = HashMap::new();
        lines(open()?, |_, line, _| {
            let Ok(text) = line.text() else {
                return Ok::<(), ReadError>(());
            };
            match fast::parse(text) {
                Some(Fast::Observe(o)) => {
                    let at = (o.observed_us, o.produced_us);
                    first_seen(&mut found, &wanted, o.event_id, at, o.event_type);
                }
                Some(_) => {}
                None => {
                    if let Ok(Some(Line::Observe(o))) = LineParser::default().parse(0, text) {
                        first_seen(
                            &mut found,
                            &wanted,
                            &o.event_id,
                            (o.observed_us, o.produced_us),
                            &o.event_type,
                        );
                    }
                }
            }
            Ok(())
        })?;
        checker.resolve_causes(&found);
    }
    Ok(Checked {
        analysis: checker.finish(),
        meta,
        truncated,
        lines: lines_read,
        passes,
        one_pass,
    })
}

fn first_seen(
    found: &mut HashMap<EventId, FirstSeen>,
    wanted: &HashSet<EventId>,
    event_id: &str,
    (observed_us, produced_us): (u64, Option<u64>),
    event_type: &str,
) {
    let id = EventId::of(event_id);
    if !wanted.contains(&id) {
        return;
    }
    match found.get_mut(&id) {
        Some(slot) if observed_us < slot.0 => {
            *slot = (observed_us, produced_us, event_type.to_string());
        }
        Some(_) => {}
        None => {
            found.insert(id, (observed_us, produced_us, event_type.to_string()));
        }
    }
}
