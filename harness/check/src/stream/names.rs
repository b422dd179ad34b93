//! Interned names: every key (order id) once in one table, looked up by hash; and the
//! few event types and topics a history names, each with what the rules ask of it.

use std::hash::BuildHasher as _;

use foldhash::fast::FixedState;
use hashbrown::HashTable;

use crate::index::{is_step, is_terminal};

/// Keys (order ids, skus, ...) by first appearance: `id` ↔ text, each text stored once.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    names: Vec<Box<str>>,
    table: HashTable<u32>,
    hasher: FixedState,
    /// Ids given back by [`Keys::release`], handed out again first.
    free: Vec<u32>,
}

impl Keys {
    pub fn hash(&self, text: &str) -> u64 {
        self.hasher.hash_one(text)
    }

    /// The key's id, added if new (`true` then).
    pub fn intern(&mut self, text: &str) -> (u32, bool) {
        let hash = self.hash(text);
        let names = &self.names;
        if let Some(&id) = self.table.find(hash, |&id| same(&names[id as usize], text)) {
            return (id, false);
        }
        let id = match self.free.pop() {
            Some(id) => {
                self.names[id as usize] = text.into();
                id
            }
            None => {
                self.names.push(text.into());
                u32::try_from(self.names.len() - 1).expect("fewer than 4 G keys")
            }
        };
        let (names, hasher) = (&self.names, &self.hasher);
        self.table
            .insert_unique(hash, id, |&id| hasher.hash_one(&*names[id as usize]));
        (id, true)
    }

    pub fn get(&self, text: &str) -> Option<u32> {
        let names = &self.names;
        self.table
            .find(self.hash(text), |&id| same(&names[id as usize], text))
            .copied()
    }

    /// Forgets key `id`: its text may come again as a new key, and the id is reused.
    pub fn release(&mut self, id: u32) {
        let hash = self.hash(&self.names[id as usize]);
        if let Ok(entry) = self.table.find_entry(hash, |&x| x == id) {
            entry.remove();
            self.names[id as usize] = Box::default();
            self.free.push(id);
        }
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Keys known now (interned and not released).
    pub fn held(&self) -> usize {
        self.names.len() - self.free.len()
    }
}

/// What the rules ask of an event type.
#[derive(Debug)]
pub(crate) struct TypeInfo {
    pub name: Box<str>,
    pub step: bool,
    pub terminal: bool,
    pub placed: bool,
    pub confirmed: bool,
    pub cancelled: bool,
    /// The groups that take an order a step further from an event of this type.
    pub advanced_by: Vec<&'static str>,
}

/// A name's length and its first and last eight bytes (zero-padded), compared before
/// the text: most names of a short list differ there, and for names of up to 16 bytes
/// equal prints mean equal names, so a lookup compares two or three words per entry
/// instead of calling `memcmp` (which was 3 % of the checker's time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Print(usize, u64, u64);

impl Print {
    fn of(text: &str) -> Print {
        let b = text.as_bytes();
        let word = |part: &[u8]| {
            let mut w = [0u8; 8];
            w[..part.len()].copy_from_slice(part);
            u64::from_le_bytes(w)
        };
        let head = word(&b[..b.len().min(8)]);
        let tail = word(&b[b.len().saturating_sub(8)..]);
        Print(b.len(), head, tail)
    }

    /// Whether the name printed `self` is `text` (whose print is `other`).
    fn names(self, other: Print, name: &str, text: &str) -> bool {
        self == other && (self.0 <= 16 || name == text)
    }
}

/// `a == b`, for keys (order ids are about ten bytes) without a `memcmp` call up to 16.
fn same(a: &str, b: &str) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() <= 16 {
        return Print::of(a) == Print::of(b);
    }
    a == b
}

/// A short list of names looked up by comparison (a history has a few dozen).
#[derive(Debug, Default)]
pub(crate) struct Small {
    pub names: Vec<Box<str>>,
    prints: Vec<Print>,
}

impl Small {
    pub fn intern(&mut self, text: &str) -> u16 {
        let print = Print::of(text);
        let names = &self.names;
        if let Some(i) =
            (self.prints.iter().enumerate()).position(|(i, p)| p.names(print, &names[i], text))
        {
            return i as u16;
        }
        self.names.push(text.into());
        self.prints.push(print);
        u16::try_from(self.names.len() - 1).unwrap_or(u16::MAX)
    }
}

/// Event types with their [`TypeInfo`], by id.
#[derive(Debug, Default)]
pub(crate) struct Types {
    pub info: Vec<TypeInfo>,
    prints: Vec<Print>,
    /// The terminal types when not the catalog's (empty: [`is_terminal`]).
    pub terminal: Vec<String>,
}

impl Types {
    /// No types yet; `terminal` as [`Types::terminal`].
    pub fn with_terminal(terminal: Vec<String>) -> Types {
        Types {
            terminal,
            ..Types::default()
        }
    }

    pub fn intern(&mut self, text: &str) -> u16 {
        let print = Print::of(text);
        let info = &self.info;
        if let Some(i) =
            (self.prints.iter().enumerate()).position(|(i, p)| p.names(print, &info[i].name, text))
        {
            return i as u16;
        }
        self.prints.push(print);
        self.info.push(TypeInfo {
            name: text.into(),
            step: is_step(text),
            terminal: match self.terminal.is_empty() {
                true => is_terminal(text),
                false => self.terminal.iter().any(|t| t == text),
            },
            placed: text == "OrderPlaced",
            confirmed: text == "OrderConfirmed",
            cancelled: text == "OrderCancelled",
            advanced_by: text
                .parse::<events::EventType>()
                .map(|t| t.advanced_by())
                .unwrap_or_default(),
        });
        u16::try_from(self.info.len() - 1).unwrap_or(u16::MAX)
    }

    pub fn get(&self, id: u16) -> &TypeInfo {
        &self.info[id as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_lists_tell_names_apart_by_their_prints_and_texts() {
        let mut small = Small::default();
        let names = [
            "orders",
            "ordersX",
            "",
            "a",
            "StockReserved",
            "StockReleased",
            "PaymentCapturedLongerThanSixteen",
            "PaymentCapturedLongerThanSixtee_",
            "PaymentCapturedLongerThanSixteen_",
            "é-topic",
        ];
        let ids: Vec<u16> = names.iter().map(|n| small.intern(n)).collect();
        assert_eq!(ids, (0..names.len() as u16).collect::<Vec<_>>());
        for (n, id) in names.iter().zip(&ids) {
            assert_eq!(small.intern(n), *id, "{n}");
            assert_eq!(&*small.names[*id as usize], *n);
        }
        for (a, b) in [
            ("o42-1", "o42-1"),
            ("o42-1", "o42-2"),
            ("", ""),
            ("abcdefgh12345678", "abcdefgh12345679"),
        ] {
            assert_eq!(same(a, b), a == b, "{a} {b}");
        }
        // Same length, head and tail, different middle: told apart by the text.
        let a = "abcdefgh-MIDDLE-1-ijklmnop";
        let b = "abcdefgh-MIDDLE-2-ijklmnop";
        assert_ne!(small.intern(a), small.intern(b));
    }

    #[test]
    fn keys_are_interned_once_and_read_back() {
        let mut keys = Keys::default();
        assert_eq!(keys.intern("o-1"), (0, true));
        assert_eq!(keys.intern("o-2"), (1, true));
        assert_eq!(keys.intern("o-1"), (0, false));
        assert_eq!(keys.get("o-2"), Some(1));
        assert_eq!(keys.get("o-3"), None);
        assert_eq!(keys.name(1), "o-2");
        for i in 0..10_000 {
            keys.intern(&format!("k{i}"));
        }
        assert_eq!(keys.get("k9999"), Some(10_001));
        assert_eq!(keys.len(), 10_002);
    }

    #[test]
    fn a_released_key_is_forgotten_and_its_id_reused() {
        let mut keys = Keys::default();
        keys.intern("o-1");
        keys.intern("o-2");
        keys.release(0);
        assert_eq!(keys.get("o-1"), None);
        assert_eq!(keys.get("o-2"), Some(1));
        assert_eq!(keys.intern("o-3"), (0, true));
        assert_eq!(keys.name(0), "o-3");
        assert_eq!(keys.intern("o-1"), (2, true));
        keys.release(0);
        keys.release(0);
        assert_eq!(keys.intern("o-4"), (0, true));
        assert_eq!(keys.intern("o-5"), (3, true));
    }
}
