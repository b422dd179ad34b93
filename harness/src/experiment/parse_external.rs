//! `[lab]` (where the services are), `system.platform` and `[system.external]` (a
//! system the harness does not start): read out of the located tree, every problem
//! recorded with its place. Whether the file's choices fit the lab it runs against
//! (process faults on services the harness does not control) is `validate::against_lab`.

use std::path::{Path, PathBuf};

use super::error::{Diagnostics, Location};
use super::fields::{Fields, or_default, string, table};
use super::model::{ExternalSystem, LabSection, Platform};
use super::tree::{Node, Value};

const LAB_KEYS: &[&str] = &["endpoints"];
const EXTERNAL_KEYS: &[&str] = &[
    "namespace",
    "order_url",
    "input",
    "topics",
    "terminal_types",
];
const PLATFORMS: &[&str] = &["reference", "external"];

/// `[lab]`, with `endpoints` resolved against the directory of `origin` (the file).
pub(crate) fn lab(node: Option<&Node>, origin: &str, d: &mut Diagnostics) -> Option<LabSection> {
    let Some(node) = node else {
        return Some(LabSection::default());
    };
    let table = table(
        node,
        "lab",
        "write it as [lab] with endpoints = \"cluster.json\"",
        d,
    )?;
    let mut f = Fields::new(table, &node.at, "lab".into());
    let endpoints = match f.get("endpoints") {
        Some(n) => {
            let text = string(n, "lab.endpoints", d)?;
            if text.is_empty() {
                let hint = "the path of an endpoints file, e.g. endpoints = \"cluster.json\"";
                d.error(&n.at, "lab.endpoints", "empty path", hint.to_owned());
                return None;
            }
            Some(resolve(origin, text))
        }
        None => None,
    };
    f.finish(LAB_KEYS, d);
    Some(LabSection { endpoints })
}

/// `path` as written in the file at `origin`: relative paths are relative to its directory.
fn resolve(origin: &str, path: &str) -> PathBuf {
    let path = Path::new(path);
    match Path::new(origin).parent() {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path.to_path_buf(),
    }
}

/// `system.platform` and, for `external`, the `[system.external]` table, from the
/// `[system]` table being read; with where `platform` was written.
pub(crate) fn platform(
    f: &mut Fields<'_>,
    system_at: &Location,
    d: &mut Diagnostics,
) -> Option<(Platform, Location)> {
    let platform_node = f.get("platform");
    let external_node = f.get("external");
    let at = platform_node.map_or(system_at.clone(), |n| n.at.clone());
    let external = match platform_node {
        None => false,
        Some(n) => match string(n, "system.platform", d)? {
            "reference" => false,
            "external" => true,
            other => {
                let hint = super::error::suggestion(other, PLATFORMS, "platforms");
                d.error(
                    &n.at,
                    "system.platform",
                    format!("unknown platform `{other}`"),
                    hint,
                );
                return None;
            }
        },
    };
    match (external, external_node) {
        (false, None) => Some((Platform::Reference, at)),
        (false, Some(n)) => {
            let message =
                "[system.external] describes an external platform, but platform is `reference`";
            let hint = "add platform = \"external\" to [system], or remove [system.external]";
            d.error(&n.at, "system.external", message, hint.to_owned());
            None
        }
        (true, None) => {
            let message = "platform = \"external\" needs [system.external]";
            let hint = "add [system.external] with namespace = \"...\" (the prefix of the \
                        system's topics) and order_url = \"http://...\" (http driver)";
            d.error(&at, "system.external", message, hint.to_owned());
            None
        }
        (true, Some(n)) => external_system(n, d).map(|e| (Platform::External(e), at)),
    }
}

fn external_system(node: &Node, d: &mut Diagnostics) -> Option<ExternalSystem> {
    let path = "system.external";
    let table = table(node, path, "write it as [system.external]", d)?;
    let mut f = Fields::new(table, &node.at, path.into());
    let namespace = f
        .required(
            "namespace",
            "the prefix of the system's topics: namespace = \"shop\" reads shop.orders (Kafka) or shop:orders (Redis)",
            d,
        )
        .and_then(|n| name(n, "system.external.namespace", d));
    let order_url = match f.get("order_url") {
        Some(n) => url(n, d).map(Some),
        None => Some(None),
    };
    let input = or_default(f.get("input"), "orders".to_owned(), |n| {
        name(n, "system.external.input", d)
    });
    let catalog = || {
        events::Topic::ALL
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect()
    };
    let topics = or_default(f.get("topics"), catalog(), |n| {
        names(
            n,
            "system.external.topics",
            "e.g. topics = [\"orders\", \"shipping\"]",
            d,
        )
    });
    let terminal = || {
        events::TERMINAL_TYPES
            .iter()
            .map(|t| t.to_string())
            .collect()
    };
    let terminal_types = or_default(f.get("terminal_types"), terminal(), |n| {
        let path = "system.external.terminal_types";
        let hint = "e.g. terminal_types = [\"OrderShipped\", \"OrderCancelled\"]";
        let list = names(n, path, hint, d)?;
        if list.iter().any(|t| t == "OrderPlaced") {
            let message = "`OrderPlaced` starts an order; it cannot end one";
            let hint = "name the events after which nothing more happens to an order";
            d.error(&n.at, path, message, hint.to_owned());
            return None;
        }
        Some(list)
    });
    f.finish(EXTERNAL_KEYS, d);
    Some(ExternalSystem {
        namespace: namespace?,
        order_url: order_url?,
        input: input?,
        topics: topics?,
        terminal_types: terminal_types?,
    })
}

/// A non-empty name without spaces (a namespace, topic or event type).
fn name(node: &Node, path: &str, d: &mut Diagnostics) -> Option<String> {
    let text = string(node, path, d)?;
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        let message = format!("`{text}` is not a name: it must be non-empty, without spaces");
        d.error(&node.at, path, message, None);
        return None;
    }
    Some(text.to_owned())
}

/// A non-empty array of distinct names.
fn names(node: &Node, path: &str, hint: &str, d: &mut Diagnostics) -> Option<Vec<String>> {
    let Value::Array(items) = &node.value else {
        let message = format!("expected an array of strings, found {}", node.kind());
        d.error(&node.at, path, message, hint.to_owned());
        return None;
    };
    if items.is_empty() {
        d.error(&node.at, path, "the list is empty", hint.to_owned());
        return None;
    }
    let mut out: Vec<String> = Vec::new();
    let mut ok = true;
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        match name(item, &item_path, d) {
            Some(n) if out.contains(&n) => {
                d.error(&item.at, &item_path, format!("`{n}` is listed twice"), None);
                ok = false;
            }
            Some(n) => out.push(n),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn url(node: &Node, d: &mut Diagnostics) -> Option<String> {
    let path = "system.external.order_url";
    let text = string(node, path, d)?;
    let rest = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"));
    match rest {
        Some(host) if !host.is_empty() && !host.starts_with('/') => {
            Some(text.trim_end_matches('/').to_owned())
        }
        _ => {
            let message = format!("`{text}` is not an http(s) URL");
            let hint = "the order API's base URL, e.g. order_url = \"http://127.0.0.1:8080\" \
                        (orders are POSTed to {order_url}/orders)";
            d.error(&node.at, path, message, hint.to_owned());
            None
        }
    }
}

#[cfg(test)]
#[path = "parse_external_tests.rs"]
mod tests;
