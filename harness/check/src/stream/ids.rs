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

/// Eight lowercase hex digits (the first in the lowest byte) as their value, or `None`
/// if any byte is not one: all eight bytes at once, in a u64.
fn hex8(x: u64) -> Option<u32> {
    const LO: u64 = 0x0f0f_0f0f_0f0f_0f0f;
    const ONE: u64 = 0x0101_0101_0101_0101;
    // Each byte's digit value: its low nibble, + 9 for a letter (bit 6 set). No byte
    // carries into the next: at most 15 + 9.
    let n = (x & LO) + ((x >> 6) & ONE) * 9;
    // A value over 15 is no digit; else it must encode back to the very byte
    // ('0' + n, or 'a' + n - 10): which rejects uppercase and every other byte.
    let over = (n + ONE * 0x70) & (ONE * 0x80);
    let letter = ((n + ONE * 6) >> 4) & ONE;
    if over != 0 || n + ONE * 0x30 + letter * 0x27 != x {
        return None;
    }
    // Pack the eight nibbles, the first byte's most significant.
    let t = ((n & 0x000f_000f_000f_000f) << 4) | ((n >> 8) & 0x000f_000f_000f_000f);
    let t = ((t & 0x0000_00ff_0000_00ff) << 8) | ((t >> 16) & 0x0000_00ff_0000_00ff);
    let t = ((t & 0xffff) << 16) | ((t >> 32) & 0xffff);
    Some(t as u32)
}

impl EventId {
    pub fn of(text: &str) -> EventId {
        let b = text.as_bytes();
        if b.len() == 36 && b[8] == b'-' && b[13] == b'-' && b[18] == b'-' && b[23] == b'-' {
            // Four groups of 8 digits, each read as one u64 (8 digits at a time, not
            // one): 8, 4 + 4, 4 + 4 of the 12, the last 8.
            let word = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().expect("8 bytes"));
            let half = |i: usize| u64::from(u32::from_le_bytes(b[i..i + 4].try_into().expect("4")));
            let groups = [
                word(0),
                half(9) | half(14) << 32,
                half(19) | half(24) << 32,
                word(28),
            ];
            let mut value = 0u128;
            for g in groups {
                match hex8(g) {
                    Some(v) => value = value << 32 | u128::from(v),
                    None => return EventId::Text(text.into()),
                }
            }
            return EventId::Uuid(value);
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

    /// Digit by digit, as a reference for [`hex8`].
    fn hex8_by_digit(x: u64) -> Option<u32> {
        let mut value = 0u32;
        for c in x.to_le_bytes() {
            let d = HEX[c as usize];
            if d & 0x80 != 0 {
                return None;
            }
            value = value << 4 | u32::from(d);
        }
        Some(value)
    }

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
        fn eight_digits_at_once_are_read_as_one_at_a_time(
            x in any::<u64>(),
            digits in "[0-9a-fA-F:g`/@G]{8}",
        ) {
            prop_assert_eq!(hex8(x), hex8_by_digit(x));
            let y = u64::from_le_bytes(digits.as_bytes().try_into().expect("8 bytes"));
            prop_assert_eq!(hex8(y), hex8_by_digit(y));
        }

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
