//! Compact forms of the strings a history repeats millions of times: an event id that
//! is a UUID is kept as its 16 bytes, a log position that is a Kafka offset or a Redis
//! stream id as numbers. Each converts back to exactly the text it was read from (a
//! form that would not, such as `007`, is kept as text), so equality of the compact
//! forms is equality of the texts.

use std::fmt::Write as _;

use crate::inflight::position_key;

/// An event id: a canonical (lowercase, hyphenated) UUID as 128 bits, anything else as
/// its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum EventId {
    Uuid(u128),
    Text(Box<str>),
}

/// Lowercase hex digit values; 0x80 marks any other byte.
const HEX: [u8; 256] = {
    let mut table = [0x80u8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

impl EventId {
    pub fn of(text: &str) -> EventId {
        let b = text.as_bytes();
        if b.len() == 36 && b[8] == b'-' && b[13] == b'-' && b[18] == b'-' && b[23] == b'-' {
            let mut value: u128 = 0;
            let mut bad = 0u8;
            for (i, &c) in b.iter().enumerate() {
                if matches!(i, 8 | 13 | 18 | 23) {
                    continue;
                }
                let d = HEX[c as usize];
                bad |= d;
                value = value << 4 | u128::from(d & 0xf);
            }
            if bad & 0x80 == 0 {
                return EventId::Uuid(value);
            }
        }
        EventId::Text(text.into())
    }

    pub fn text(&self) -> String {
        match self {
            EventId::Text(t) => t.to_string(),
            EventId::Uuid(v) => {
                let mut out = String::with_capacity(36);
                for i in 0..32 {
                    if matches!(i, 8 | 12 | 16 | 20) {
                        out.push('-');
                    }
                    let nibble = (v >> (124 - 4 * i)) & 0xf;
                    let _ = write!(out, "{nibble:x}");
                }
                out
            }
        }
    }
}

/// A log position: a Kafka offset, a Redis stream id, or (anything else) its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pos {
    Offset(u64),
    Stream(u64, u64),
    Text(Box<str>),
}

/// `text` as a number when it is one written the one way (no sign, no leading zero).
fn canonical(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    if b.is_empty() || (b.len() > 1 && b[0] == b'0') || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    text.parse().ok()
}

impl Pos {
    pub fn of(text: &str) -> Pos {
        match text.split_once('-') {
            None => canonical(text).map_or_else(|| Pos::Text(text.into()), Pos::Offset),
            Some((ms, seq)) => match (canonical(ms), canonical(seq)) {
                (Some(ms), Some(seq)) => Pos::Stream(ms, seq),
                _ => Pos::Text(text.into()),
            },
        }
    }

    #[cfg(test)]
    pub fn text(&self) -> String {
        match self {
            Pos::Offset(n) => n.to_string(),
            Pos::Stream(ms, seq) => format!("{ms}-{seq}"),
            Pos::Text(t) => t.to_string(),
        }
    }

    /// [`position_key`] of the text.
    pub fn key(&self) -> Option<(u64, u64)> {
        match self {
            Pos::Offset(n) => Some((*n, 0)),
            Pos::Stream(ms, seq) => Some((*ms, *seq)),
            Pos::Text(t) => position_key(t),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn uuids_are_kept_as_numbers_and_written_back() {
        let id = "6f1c0a3e-9b2e-4c1d-8e7f-0123456789ab";
        assert!(matches!(EventId::of(id), EventId::Uuid(_)));
        assert_eq!(EventId::of(id).text(), id);
        // Upper case is another text: kept as text, so it stays distinct.
        let upper = id.to_uppercase();
        assert!(matches!(EventId::of(&upper), EventId::Text(_)));
        assert_ne!(EventId::of(&upper), EventId::of(id));
    }

    #[test]
    fn positions_keep_their_text() {
        assert_eq!(Pos::of("17"), Pos::Offset(17));
        assert_eq!(
            Pos::of("1700000000000-3"),
            Pos::Stream(1_700_000_000_000, 3)
        );
        assert_eq!(Pos::of("007"), Pos::Text("007".into()));
        assert_eq!(Pos::of("007").key(), Some((7, 0)));
        assert_eq!(Pos::of("x").key(), None);
    }

    proptest! {
        #[test]
        fn every_id_and_position_round_trips(text in "[0-9a-f-]{0,40}|[ -~]{0,12}") {
            prop_assert_eq!(EventId::of(&text).text(), text.clone());
            prop_assert_eq!(Pos::of(&text).text(), text.clone());
            prop_assert_eq!(Pos::of(&text).key(), position_key(&text));
        }

        #[test]
        fn equal_compact_forms_are_equal_texts(a in "[0-9a-f-]{36}|[0-9]{1,3}(-[0-9]{1,2})?", b in "[0-9a-f-]{36}|[0-9]{1,3}(-[0-9]{1,2})?") {
            prop_assert_eq!(EventId::of(&a) == EventId::of(&b), a == b);
            prop_assert_eq!(Pos::of(&a) == Pos::of(&b), a == b);
        }
    }
}
