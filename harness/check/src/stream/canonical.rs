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

    /// A string's contents, up to its closing quote (which is consumed).
    fn str(&mut self) -> Option<&'a str> {
        let b = self.text.as_bytes();
        let start = self.at;
        let mut end = start;
        while end < b.len() {
            match b[end] {
                b'"' => {
                    self.at = end + 1;
                    return self.text.get(start..end);
                }
                b'\\' | 0..=0x1f => return None,
                _ => end += 1,
            }
        }
        None
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
