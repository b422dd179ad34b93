//! The send and observe lines in the exact layout a run writes them (serde's field
//! order, no spaces): read by comparing the field names in place, the fast reader's
//! first try ([`super::fast::parse`]; any other layout is read by field name).

use super::fast::{Fast, ObserveView, SendView};
use crate::history::SendOutcome;

/// A line in the exact layout a run writes (serde's field order, no spaces): read by
/// comparing the field names in place instead of scanning them.
struct Canonical<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Canonical<'a> {
    fn lit(&mut self, lit: &str) -> Option<()> {
        let rest = self.text.as_bytes().get(self.at..)?;
        rest.starts_with(lit.as_bytes())
            .then(|| self.at += lit.len())
    }

    /// A string's contents, up to its closing quote (which is consumed); `None` when an
    /// escape or a control character comes first (the strict reader's).
    fn str(&mut self) -> Option<&'a str> {
        let start = self.at;
        let end = string_end(self.text.as_bytes(), start)?;
        self.at = end + 1;
        self.text.get(start..end)
    }

    fn num(&mut self) -> Option<u64> {
        super::fast::integer(self.text.as_bytes(), &mut self.at)
    }

    fn opt_num(&mut self) -> Option<Option<u64>> {
        if self.lit("null").is_some() {
            return Some(None);
        }
        self.num().map(Some)
    }

    fn opt_str(&mut self) -> Option<Option<&'a str>> {
        if self.lit("null").is_some() {
            return Some(None);
        }
        self.lit("\"")?;
        self.str().map(Some)
    }

    fn end(&mut self) -> Option<()> {
        self.lit("}")?;
        (self.at == self.text.len()).then_some(())
    }
}

/// The index of the quote that closes the string starting at `start`, or `None` when a
/// backslash or a control character (below 0x20) comes before it, or no quote does.
/// Eight bytes at a time: in each word, the bytes equal to `"` or `\`, or below 0x20,
/// are flagged by the classic zero-byte tests; the lowest flag of each test is exact
/// (only flags above a true one can be false), so the lowest of all is the first byte
/// that ends the scan.
pub(super) fn string_end(b: &[u8], start: usize) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_in = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let mut at = start;
    while let Some(chunk) = b.get(at..at + 8) {
        let w = u64::from_le_bytes(chunk.try_into().ok()?);
        let flags = zero_in(w ^ (ONES * u64::from(b'"')))
            | zero_in(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS);
        if flags != 0 {
            let i = at + (flags.trailing_zeros() / 8) as usize;
            return (b[i] == b'"').then_some(i);
        }
        at += 8;
    }
    let rest = b.get(at..)?;
    let i = at
        + rest
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    (b[i] == b'"').then_some(i)
}

pub(super) fn observe(text: &str) -> Option<Fast<'_>> {
    let mut c = Canonical { text, at: 0 };
    c.lit(r#"{"kind":"observe","event_id":""#)?;
    let event_id = c.str()?;
    c.lit(r#","event_type":""#)?;
    let event_type = c.str()?;
    c.lit(r#","key":""#)?;
    let key = c.str()?;
    c.lit(r#","seq":"#)?;
    let seq = c.num()?;
    c.lit(r#","causation_id":"#)?;
    let causation_id = c.opt_str()?;
    c.lit(r#","produced_us":"#)?;
    let produced_us = c.opt_num()?;
    c.lit(r#","observed_us":"#)?;
    let observed_us = c.num()?;
    c.lit(r#","topic":""#)?;
    let topic = c.str()?;
    c.lit(r#","partition":"#)?;
    let partition = u32::try_from(c.num()?).ok()?;
    c.lit(r#","position":""#)?;
    let position = c.str()?;
    c.end()?;
    Some(Fast::Observe(ObserveView {
        event_id,
        event_type,
        key,
        seq,
        causation_id,
        produced_us,
        observed_us,
        topic,
        partition,
        position,
    }))
}

pub(super) fn send(text: &str) -> Option<Fast<'_>> {
    let mut c = Canonical { text, at: 0 };
    c.lit(r#"{"kind":"send","order_id":""#)?;
    let order_id = c.str()?;
    c.lit(r#","intended_us":"#)?;
    let intended_us = c.num()?;
    c.lit(r#","sent_us":"#)?;
    let sent_us = c.opt_num()?;
    c.lit(r#","acked_us":"#)?;
    let acked_us = c.opt_num()?;
    c.lit(r#","outcome":""#)?;
    let outcome = match c.str()? {
        "acked" => SendOutcome::Acked,
        "rejected" => SendOutcome::Rejected,
        "error" => SendOutcome::Error,
        "dropped" => SendOutcome::Dropped,
        _ => return None,
    };
    c.lit(r#","error":"#)?;
    c.opt_str()?;
    c.end()?;
    Some(Fast::Send(SendView {
        order_id,
        intended_us,
        sent_us,
        acked_us,
        outcome,
    }))
}

#[cfg(test)]
mod tests {
    use super::string_end;
    use proptest::prelude::*;

    /// The scan byte by byte, as the reader did before.
    fn plain(b: &[u8], start: usize) -> Option<usize> {
        let i = start
            + b.get(start..)?
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        (b[i] == b'"').then_some(i)
    }

    proptest! {
        #[test]
        fn the_word_scan_finds_what_the_byte_scan_finds(
            bytes in proptest::collection::vec(prop_oneof![
                8 => 0x20u8..0x7f,
                1 => Just(b'"'),
                1 => Just(b'\\'),
                1 => 0u8..0x20,
                1 => 0x80u8..=0xff,
            ], 0..80),
            start in 0usize..20,
        ) {
            prop_assert_eq!(string_end(&bytes, start), plain(&bytes, start));
        }
    }

    #[test]
    fn ids_end_at_their_quote() {
        let line = br#"6f1c0000-0000-4000-8000-000000000001","event_type""#;
        assert_eq!(string_end(line, 0), Some(36));
        assert_eq!(string_end(br#"a\"b""#, 0), None);
        assert_eq!(string_end(b"abc\x01\"", 0), None);
        assert_eq!(string_end(b"abc", 0), None);
        assert_eq!(string_end(b"abc", 7), None);
    }
}
