//! The TOML document as a tree whose every key and value knows where it came from: a
//! place in the file, an override, or a matrix value. Overrides and matrix combinations
//! are applied to this tree; the typed model is read from it afterwards, so every error
//! can point at the text that caused it.

use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::error::{Diagnostic, Diagnostics, Location};

#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) value: Value,
    pub(crate) at: Location,
    /// For a string whose characters appear verbatim in the file (no escapes, one line):
    /// where its first character is, so an error at a byte offset inside the string (a
    /// threshold expression) can be given an exact column.
    pub(crate) content_at: Option<Location>,
}

#[derive(Debug, Clone)]
pub(crate) enum Value {
    String(String),
    Integer(i64),
    Float(f64),
    Boolean(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Table),
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Table {
    pub(crate) entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) key_at: Location,
    pub(crate) value: Node,
}

impl Node {
    pub(crate) fn new(value: Value, at: Location) -> Self {
        Node {
            value,
            at,
            content_at: None,
        }
    }

    /// "a string", "an integer", ...: for "expected X, found Y" messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self.value {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Boolean(_) => "a boolean",
            Value::Datetime(_) => "a date-time",
            Value::Array(_) => "an array",
            Value::Table(_) => "a table",
        }
    }

    /// The value as TOML would write it, for messages and matrix names.
    pub(crate) fn render(&self) -> String {
        match &self.value {
            Value::String(s) => s.clone(),
            Value::Integer(i) => i.to_string(),
            Value::Float(x) => x.to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::Datetime(d) => d.clone(),
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(Node::render).collect();
                format!("[{}]", items.join(", "))
            }
            Value::Table(_) => "{...}".to_owned(),
        }
    }
}

impl Table {
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entries.iter().find(|e| e.key == key).map(|e| &e.value)
    }
}

/// Byte offsets → line and column.
pub(crate) struct Source<'t> {
    pub(crate) origin: Arc<str>,
    text: &'t str,
    line_starts: Vec<usize>,
}

impl<'t> Source<'t> {
    pub(crate) fn new(origin: Arc<str>, text: &'t str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Source {
            origin,
            text,
            line_starts,
        }
    }

    pub(crate) fn location(&self, offset: usize) -> Location {
        let mut offset = offset.min(self.text.len());
        if offset == self.text.len() && self.text.ends_with('\n') {
            // The end of a file that ends with a newline: point at the end of the last
            // line rather than at a line the editor does not show.
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|start| *start <= offset) - 1;
        let start = self.line_starts[line];
        let column = match self.text.get(start..offset) {
            Some(prefix) => prefix.chars().count() + 1,
            None => offset - start + 1,
        };
        Location::File {
            origin: self.origin.clone(),
            line: line + 1,
            column,
        }
    }

    /// Parses the document, or returns every TOML syntax error.
    pub(crate) fn parse(&self) -> Result<Table, Vec<Diagnostic>> {
        let (document, errors) = DeTable::parse_recoverable(self.text);
        let mut diagnostics = Diagnostics::default();
        if !errors.is_empty() {
            for error in errors.iter().take(MAX_SYNTAX_ERRORS) {
                let location = match error.span() {
                    Some(span) => self.location(span.start),
                    None => Location::Origin(self.origin.clone()),
                };
                let message = error.message().trim().to_owned();
                let hint = syntax_hint(&message);
                diagnostics.error(&location, "", message, hint);
            }
            return Err(diagnostics.list);
        }
        let table = self.table(document.into_inner(), &mut diagnostics);
        if diagnostics.is_empty() {
            Ok(table)
        } else {
            Err(diagnostics.list)
        }
    }

    /// Parses the whole text as one TOML value (`100`, `"x"`, `[1, 2]`), if it is one.
    pub(crate) fn parse_value(&self) -> Option<Node> {
        let value = DeValue::parse(self.text).ok()?;
        let mut diagnostics = Diagnostics::default();
        let node = self.node(value, &mut diagnostics);
        diagnostics.is_empty().then_some(node)
    }

    fn table(&self, table: DeTable<'_>, diagnostics: &mut Diagnostics) -> Table {
        let mut entries: Vec<(usize, Entry)> = table
            .into_iter()
            .map(|(key, value)| {
                let key_span = key.span();
                let entry = Entry {
                    key: key.into_inner().into_owned(),
                    key_at: self.location(key_span.start),
                    value: self.node(value, diagnostics),
                };
                (key_span.start, entry)
            })
            .collect();
        // The parser keeps keys sorted by name; messages and matrix axes follow the file.
        entries.sort_by_key(|(start, _)| *start);
        Table {
            entries: entries.into_iter().map(|(_, e)| e).collect(),
        }
    }

    fn node(&self, value: Spanned<DeValue<'_>>, diagnostics: &mut Diagnostics) -> Node {
        let span = value.span();
        let at = self.location(span.start);
        let mut content_at = None;
        let value = match value.into_inner() {
            DeValue::String(s) => {
                content_at = self.verbatim(&span, &s);
                Value::String(s.into_owned())
            }
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(i) => Value::Integer(i),
                Err(_) => {
                    diagnostics.error(&at, "", "integer out of range", None);
                    Value::Integer(0)
                }
            },
            DeValue::Float(x) => Value::Float(x.as_str().parse().unwrap_or(f64::NAN)),
            DeValue::Boolean(b) => Value::Boolean(b),
            DeValue::Datetime(d) => Value::Datetime(d.to_string()),
            DeValue::Array(items) => Value::Array(
                items
                    .into_iter()
                    .map(|item| self.node(item, diagnostics))
                    .collect(),
            ),
            DeValue::Table(table) => Value::Table(self.table(table, diagnostics)),
        };
        Node {
            value,
            at,
            content_at,
        }
    }

    fn verbatim(&self, span: &Range<usize>, content: &str) -> Option<Location> {
        let raw = self.text.get(span.clone())?;
        let quote = raw.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let inner = raw.strip_prefix(quote)?.strip_suffix(quote)?;
        (inner == content && !inner.starts_with(quote)).then(|| self.location(span.start + 1))
    }
}

/// Sets the value at `path` (keys; a number steps into an array), replacing what is
/// there. Missing tables on the way are created when `create` is set, else nothing is
/// done. The error says why the path cannot be followed.
pub(crate) fn set(
    table: &mut Table,
    path: &[String],
    value: Node,
    key_at: &Location,
    create: bool,
) -> Result<(), String> {
    let Some((first, rest)) = path.split_first() else {
        return Err("empty key".to_owned());
    };
    let position = table.entries.iter().position(|e| e.key == *first);
    if rest.is_empty() {
        match position {
            Some(i) => table.entries[i].value = value,
            None => table.entries.push(Entry {
                key: first.clone(),
                key_at: key_at.clone(),
                value,
            }),
        }
        return Ok(());
    }
    let index = match position {
        Some(i) => i,
        None if create => {
            let empty = Node::new(Value::Table(Table::default()), key_at.clone());
            table.entries.push(Entry {
                key: first.clone(),
                key_at: key_at.clone(),
                value: empty,
            });
            table.entries.len() - 1
        }
        None => return Ok(()),
    };
    set_in(
        &mut table.entries[index].value,
        first,
        rest,
        value,
        key_at,
        create,
    )
}

fn set_in(
    node: &mut Node,
    name: &str,
    path: &[String],
    value: Node,
    key_at: &Location,
    create: bool,
) -> Result<(), String> {
    let kind = node.kind();
    match &mut node.value {
        Value::Table(table) => set(table, path, value, key_at, create),
        Value::Array(items) => {
            let (first, rest) = path.split_first().ok_or("empty key")?;
            let count = items.len();
            let item = first
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get_mut(i))
                .ok_or_else(|| {
                    format!(
                        "`{name}` has {count} entries, numbered from 0; `{first}` is none of them"
                    )
                })?;
            if rest.is_empty() {
                *item = value;
                Ok(())
            } else {
                set_in(item, first, rest, value, key_at, create)
            }
        }
        _ => Err(format!("`{name}` is {kind}, not a table")),
    }
}

/// Gives a node (and everything inside it) one location: an override's.
pub(crate) fn relocate(node: &mut Node, at: &Location) {
    node.at = at.clone();
    node.content_at = None;
    match &mut node.value {
        Value::Array(items) => items.iter_mut().for_each(|item| relocate(item, at)),
        Value::Table(table) => {
            for entry in &mut table.entries {
                entry.key_at = at.clone();
                relocate(&mut entry.value, at);
            }
        }
        _ => {}
    }
}

const MAX_SYNTAX_ERRORS: usize = 10;

fn syntax_hint(message: &str) -> Option<String> {
    if message.contains("must be quoted") {
        Some("quote text values, e.g. duration = \"60s\", backend = \"kafka\"".to_owned())
    } else if message.contains("duplicate key") {
        Some("each key may appear once per table".to_owned())
    } else {
        None
    }
}

/// Appends `key` to a key path, quoting it when TOML would: `thresholds."latency.e2e.p99"`.
pub(crate) fn join(path: &str, key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    };
    if path.is_empty() {
        key
    } else {
        format!("{path}.{key}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(line: usize, column: usize) -> Location {
        Location::File {
            origin: "t.toml".into(),
            line,
            column,
        }
    }

    #[test]
    fn locations_are_one_based_and_count_characters() {
        let source = Source::new("t.toml".into(), "a = 1\nb = \"é\" # x\n");
        assert_eq!(source.location(0), at(1, 1));
        assert_eq!(source.location(6), at(2, 1));
        assert_eq!(source.location(14), at(2, 8));
        assert_eq!(source.location(1000), at(2, 12));
    }

    #[test]
    fn string_content_is_located_when_verbatim() {
        let source = Source::new("t.toml".into(), "a = \"< 1\"\nb = \"\\u0041\"\n");
        let table = source.parse().unwrap();
        assert_eq!(table.get("a").unwrap().content_at, Some(at(1, 6)));
        assert_eq!(table.get("b").unwrap().content_at, None);
    }

    #[test]
    fn keys_keep_file_order_and_quote_when_needed() {
        let source = Source::new("t.toml".into(), "z = 1\na = 2\n");
        let keys: Vec<_> = source
            .parse()
            .unwrap()
            .entries
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, ["z", "a"]);
        assert_eq!(
            join("thresholds", "latency.e2e.p99"),
            "thresholds.\"latency.e2e.p99\""
        );
        assert_eq!(join("", "seed"), "seed");
    }
}
