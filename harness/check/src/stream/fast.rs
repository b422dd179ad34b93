//! A fast reader for the lines a history has millions of (`send`, `observe`,
//! `charge`): a flat JSON object scanned in place, its strings borrowed. It accepts a
//! line only when it is sure the strict reader ([`crate::LineParser`]) would read the
//! same values from it; anything else — an escape in a string, a float, a nested
//! value, an unknown or repeated field, another kind — is left to the strict reader,
//! which gives the same values or the line's error. So the two never disagree, and
//! the fast one only decides how quickly a line is read.

use crate::history::{Observation, SendOutcome, SendRecord};

/// A `send` line's values the checker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendView<'a> {
    pub order_id: &'a str,
    pub intended_us: u64,
    pub sent_us: Option<u64>,
    pub acked_us: Option<u64>,
    pub outcome: SendOutcome,
}

/// An `observe` line's values the checker reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObserveView<'a> {
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub key: &'a str,
    pub seq: u64,
    pub causation_id: Option<&'a str>,
    pub produced_us: Option<u64>,
    pub observed_us: u64,
    pub topic: &'a str,
    pub partition: u32,
    pub position: &'a str,
}

impl<'a> From<&'a SendRecord> for SendView<'a> {
    fn from(s: &'a SendRecord) -> Self {
        SendView {
            order_id: &s.order_id,
            intended_us: s.intended_us,
            sent_us: s.sent_us,
            acked_us: s.acked_us,
            outcome: s.outcome,
        }
    }
}

impl<'a> From<&'a Observation> for ObserveView<'a> {
    fn from(o: &'a Observation) -> Self {
        ObserveView {
            event_id: &o.event_id,
            event_type: &o.event_type,
            key: &o.key,
            seq: o.seq,
            causation_id: o.causation_id.as_deref(),
            produced_us: o.produced_us,
            observed_us: o.observed_us,
            topic: &o.topic,
            partition: o.partition,
            position: &o.position,
        }
    }
}

/// A line read by the fast reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fast<'a> {
    Send(SendView<'a>),
    Observe(ObserveView<'a>),
    Charge { order_id: &'a str },
}

/// The key of a send or observe line as a run writes it (`{"kind":"observe",` ...
/// `"key":"o-1"`, no escape in it), found without reading the rest; `None` for any
/// other line, which is then read in full. In a line that reads, an unescaped
/// `,"key":"` can only be its key field: a string cannot hold an unescaped quote.
pub fn key_of(text: &str) -> Option<&str> {
    key_of_bytes(text.as_bytes())
}

/// [`key_of`] of a line not yet checked to be UTF-8 (only the key is checked).
pub(crate) fn key_of_bytes(line: &[u8]) -> Option<&str> {
    let (rest, field) = if let Some(rest) = line.strip_prefix(br#"{"kind":"observe","#) {
        (rest, &br#","key":""#[..])
    } else if let Some(rest) = line.strip_prefix(br#"{"kind":"send","#) {
        (rest, &br#""order_id":""#[..])
    } else {
        return None;
    };
    let at = memchr::memmem::find(rest, field)? + field.len();
    let len = memchr::memchr2(b'"', b'\\', &rest[at..])?;
    let key = &rest[at..at + len];
    if rest[at + len] != b'"' || key.iter().any(|&c| c < 0x20) {
        return None;
    }
    std::str::from_utf8(key).ok()
}

/// A JSON integer at `*at` that fits a `u64`, written the one way (no leading zero, no
/// fraction or exponent after it: those are the strict reader's); `*at` moves past it.
pub(super) fn integer(b: &[u8], at: &mut usize) -> Option<u64> {
    let start = (*at).min(b.len());
    let digits = b[start..].iter().take_while(|d| d.is_ascii_digit()).count();
    // Up to 19 digits fit a u64 whatever they are: no check per digit.
    let n = if digits <= 19 {
        b[start..start + digits]
            .iter()
            .fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'))
    } else {
        b[start..start + digits].iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })?
    };
    *at = start + digits;
    let leading_zero = digits > 1 && b[start] == b'0';
    (digits > 0 && !leading_zero && !matches!(b.get(*at), Some(b'.' | b'e' | b'E'))).then_some(n)
}

#[derive(Clone, Copy)]
enum Val<'a> {
    Str(&'a str),
    Num(u64),
    Null,
}

struct Cursor<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        let b = self.text.as_bytes();
        while self.at < b.len() && matches!(b[self.at], b' ' | b'\t' | b'\r') {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        self.ws();
        (self.text.as_bytes().get(self.at) == Some(&c)).then(|| self.at += 1)
    }

    /// A string without escapes or control characters.
    fn string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let b = self.text.as_bytes();
        let start = self.at;
        let end = start + memchr::memchr(b'"', &b[start..])?;
        if b[start..end].iter().any(|&c| c == b'\\' || c < 0x20) {
            return None;
        }
        self.at = end + 1;
        // Delimiters are ASCII: the slice ends on a character boundary.
        self.text.get(start..end)
    }

    fn value(&mut self) -> Option<Val<'a>> {
        self.ws();
        let b = self.text.as_bytes();
        match *b.get(self.at)? {
            b'"' => self.string().map(Val::Str),
            b'n' if b[self.at..].starts_with(b"null") => {
                self.at += 4;
                Some(Val::Null)
            }
            b'0'..=b'9' => integer(b, &mut self.at).map(Val::Num),
            _ => None,
        }
    }
}

/// At most this many fields on a fast line (observe has 11).
const MAX_FIELDS: usize = 12;

type Fields<'a> = [(&'a str, Val<'a>); MAX_FIELDS];

/// The fields of one flat object into `out`, in line order: how many, or `None` when
/// it is not one.
fn fields<'a>(text: &'a str, out: &mut Fields<'a>) -> Option<usize> {
    let mut c = Cursor { text, at: 0 };
    let mut n = 0;
    c.eat(b'{')?;
    loop {
        if n == MAX_FIELDS {
            return None;
        }
        let name = c.string()?;
        c.eat(b':')?;
        out[n] = (name, c.value()?);
        n += 1;
        c.ws();
        match text.as_bytes().get(c.at)? {
            b',' => c.at += 1,
            b'}' => {
                c.at += 1;
                c.ws();
                return (c.at == text.len()).then_some(n);
            }
            _ => return None,
        }
    }
}

/// Reads `text` as a send, observe or charge line, or `None` (the strict reader's).
pub fn parse(text: &str) -> Option<Fast<'_>> {
    let canonical = match text.as_bytes().get(9) {
        Some(b'o') => super::canonical::observe(text),
        Some(b's') => super::canonical::send(text),
        _ => None,
    };
    if canonical.is_some() {
        return canonical;
    }
    parse_fields(text)
}

/// [`parse`] for a line in any layout: its fields found by name.
fn parse_fields(text: &str) -> Option<Fast<'_>> {
    let mut out = [("", Val::Null); MAX_FIELDS];
    let n = fields(text, &mut out)?;
    let fields = &out[..n];
    let kind = match fields.iter().find(|(name, _)| *name == "kind")? {
        (_, Val::Str(kind)) => *kind,
        _ => return None,
    };
    match kind {
        "observe" => observe(fields),
        "send" => send(fields),
        "charge" => charge(fields),
        _ => None,
    }
}

/// Each field of `names` once at most, nothing else (besides one `kind`): the values in
/// `names` order, `None` where absent.
fn slots<'a, const N: usize>(
    fields: &[(&'a str, Val<'a>)],
    names: [&str; N],
) -> Option<[Option<Val<'a>>; N]> {
    let mut out = [None; N];
    let mut kind = false;
    for (name, value) in fields {
        if *name == "kind" {
            if kind {
                return None;
            }
            kind = true;
            continue;
        }
        let i = names.iter().position(|n| n == name)?;
        if out[i].replace(*value).is_some() {
            return None;
        }
    }
    Some(out)
}

fn required_str<'a>(v: Option<Val<'a>>) -> Option<&'a str> {
    match v? {
        Val::Str(s) => Some(s),
        _ => None,
    }
}

fn required_num(v: Option<Val<'_>>) -> Option<u64> {
    match v? {
        Val::Num(n) => Some(n),
        _ => None,
    }
}

/// An optional field: absent or null is `None`; any other type is the strict reader's.
fn optional<'a, T>(v: Option<Val<'a>>, read: impl Fn(Val<'a>) -> Option<T>) -> Option<Option<T>> {
    match v {
        None | Some(Val::Null) => Some(None),
        Some(v) => read(v).map(Some),
    }
}

fn observe<'a>(fields: &[(&'a str, Val<'a>)]) -> Option<Fast<'a>> {
    let [
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
    ] = slots(
        fields,
        [
            "event_id",
            "event_type",
            "key",
            "seq",
            "causation_id",
            "produced_us",
            "observed_us",
            "topic",
            "partition",
            "position",
        ],
    )?;
    let produced_us = optional(produced_us, |v| required_num(Some(v)))?;
    Some(Fast::Observe(ObserveView {
        event_id: required_str(event_id)?,
        event_type: required_str(event_type)?,
        key: required_str(key)?,
        seq: required_num(seq)?,
        causation_id: optional(causation_id, |v| required_str(Some(v)))?,
        produced_us,
        observed_us: required_num(observed_us)?,
        topic: required_str(topic)?,
        partition: u32::try_from(required_num(partition)?).ok()?,
        position: required_str(position)?,
    }))
}

fn send<'a>(fields: &[(&'a str, Val<'a>)]) -> Option<Fast<'a>> {
    let [order_id, intended_us, sent_us, acked_us, outcome, error] = slots(
        fields,
        [
            "order_id",
            "intended_us",
            "sent_us",
            "acked_us",
            "outcome",
            "error",
        ],
    )?;
    optional(error, |v| required_str(Some(v)))?;
    let outcome = match required_str(outcome)? {
        "acked" => SendOutcome::Acked,
        "rejected" => SendOutcome::Rejected,
        "error" => SendOutcome::Error,
        "dropped" => SendOutcome::Dropped,
        _ => return None,
    };
    Some(Fast::Send(SendView {
        order_id: required_str(order_id)?,
        intended_us: required_num(intended_us)?,
        sent_us: optional(sent_us, |v| required_num(Some(v)))?,
        acked_us: optional(acked_us, |v| required_num(Some(v)))?,
        outcome,
    }))
}

fn charge<'a>(fields: &[(&'a str, Val<'a>)]) -> Option<Fast<'a>> {
    let [order_id, charge_id] = slots(fields, ["order_id", "charge_id"])?;
    required_str(charge_id)?;
    Some(Fast::Charge {
        order_id: required_str(order_id)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Line, LineParser, Observation, SendRecord};
    use proptest::prelude::*;

    /// What the strict reader reads from `text`, as the fast reader's values.
    fn strict(text: &str) -> Option<String> {
        match LineParser::default().parse(1, text) {
            Ok(Some(Line::Send(s))) => Some(format!("{:?}", Fast::Send((&s).into()))),
            Ok(Some(Line::Observe(o))) => Some(format!("{:?}", Fast::Observe((&o).into()))),
            Ok(Some(Line::Charge(c))) => Some(format!(
                "{:?}",
                Fast::Charge {
                    order_id: &c.order_id
                }
            )),
            _ => None,
        }
    }

    #[test]
    fn reads_the_lines_a_run_writes() {
        let o = Line::Observe(Observation {
            event_id: "e-1".into(),
            event_type: "OrderPlaced".into(),
            key: "o-1".into(),
            seq: 1,
            causation_id: None,
            produced_us: Some(5),
            observed_us: 9,
            topic: "orders".into(),
            partition: 2,
            position: "17".into(),
        })
        .to_json();
        assert_eq!(parse(&o).map(|f| format!("{f:?}")), strict(&o));
        let s = Line::Send(SendRecord {
            order_id: "o-1".into(),
            intended_us: 0,
            sent_us: None,
            acked_us: None,
            outcome: SendOutcome::Dropped,
            error: Some("behind".into()),
        })
        .to_json();
        assert_eq!(parse(&s).map(|f| format!("{f:?}")), strict(&s));
    }

    #[test]
    fn the_layout_a_run_writes_reads_the_same_by_either_path() {
        for text in [
            r#"{"kind":"observe","event_id":"e","event_type":"T","key":"k","seq":3,"causation_id":"c","produced_us":null,"observed_us":9,"topic":"t","partition":1,"position":"1-2"}"#,
            r#"{"kind":"send","order_id":"o","intended_us":1,"sent_us":2,"acked_us":null,"outcome":"error","error":"x"}"#,
        ] {
            let canonical = super::super::canonical::observe(text)
                .or_else(|| super::super::canonical::send(text));
            assert!(canonical.is_some(), "{text}");
            assert_eq!(canonical, parse_fields(text));
            assert_eq!(canonical.map(|f| format!("{f:?}")), strict(text));
        }
        // Another layout: read by name.
        let spaced = r#"{"kind": "send", "order_id": "o", "intended_us": 1, "outcome": "acked"}"#;
        assert_eq!(super::super::canonical::send(spaced), None);
        assert!(parse(spaced).is_some());
    }

    #[test]
    fn leaves_what_it_is_not_sure_of_to_the_strict_reader() {
        for text in [
            r#"{"kind":"charge","order_id":"o\"1","charge_id":"c"}"#,
            r#"{"kind":"charge","order_id":"o1","charge_id":"c","x":1}"#,
            r#"{"kind":"charge","order_id":"o1","order_id":"o2","charge_id":"c"}"#,
            r#"{"kind":"charge","kind":"charge","order_id":"o1","charge_id":"c"}"#,
            r#"{"kind":"charge","order_id":"o1"}"#,
            r#"{"kind":"charge","order_id":"o1","charge_id":"c"} x"#,
            r#"{"kind":"send","order_id":"o","intended_us":1.0,"outcome":"acked"}"#,
            r#"{"kind":"send","order_id":"o","intended_us":01,"outcome":"acked"}"#,
            r#"{"kind":"send","order_id":"o","intended_us":18446744073709551616,"outcome":"acked"}"#,
            r#"{"kind":"meta"}"#,
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    fn field() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            Just("kind"),
            Just("order_id"),
            Just("charge_id"),
            Just("intended_us"),
            Just("sent_us"),
            Just("acked_us"),
            Just("outcome"),
            Just("error"),
            Just("event_id"),
            Just("event_type"),
            Just("key"),
            Just("seq"),
            Just("causation_id"),
            Just("produced_us"),
            Just("observed_us"),
            Just("topic"),
            Just("partition"),
            Just("position"),
            Just("other"),
        ];
        let value = prop_oneof![
            Just("\"send\"".to_string()),
            Just("\"observe\"".to_string()),
            Just("\"charge\"".to_string()),
            Just("\"acked\"".to_string()),
            Just("null".to_string()),
            Just("4294967296".to_string()),
            Just("1.5".to_string()),
            Just("\"a\\\"b\"".to_string()),
            "[a-z0-9 -]{0,6}".prop_map(|s| format!("\"{s}\"")),
            (0u64..100).prop_map(|n| n.to_string()),
        ];
        (name, value, " ?").prop_map(|(n, v, s)| format!("\"{n}\"{s}:{s}{v}"))
    }

    proptest! {
        /// The key found without reading the line is the one reading it gives.
        #[test]
        fn the_key_found_early_is_the_key_read(key in "\\PC{0,8}", other in "\\PC{0,8}", send in any::<bool>()) {
            let line = if send {
                Line::Send(SendRecord {
                    order_id: key.clone(),
                    intended_us: 1,
                    sent_us: None,
                    acked_us: None,
                    outcome: SendOutcome::Error,
                    error: Some(other.clone()),
                })
            } else {
                Line::Observe(Observation {
                    event_id: other.clone(),
                    event_type: format!(",\"key\":\"{other}"),
                    key: key.clone(),
                    seq: 1,
                    causation_id: Some(other.clone()),
                    produced_us: None,
                    observed_us: 2,
                    topic: other.clone(),
                    partition: 0,
                    position: other,
                })
            };
            let text = line.to_json();
            if let Some(fast) = parse(&text) {
                prop_assert_eq!(Some(format!("{fast:?}")), strict(&text));
            }
            if let Some(found) = key_of(&text) {
                prop_assert_eq!(found, key.as_str());
            }
            if !key.contains(['"', '\\']) && !key.chars().any(char::is_control) {
                prop_assert_eq!(key_of(&text), Some(key.as_str()));
            }
        }

        /// Whatever the fast reader accepts, the strict one reads the same from.
        #[test]
        fn never_disagrees_with_the_strict_reader(fields in proptest::collection::vec(field(), 0..12), kind in 0usize..3) {
            let kind = ["send", "observe", "charge"][kind];
            let text = format!("{{\"kind\":\"{kind}\",{}}}", fields.join(","));
            if let Some(fast) = parse(&text) {
                prop_assert_eq!(Some(format!("{fast:?}")), strict(&text), "{}", text);
            }
        }
    }
}
