//! The inventory's final stock, as the run reads it (`GET /inventory/{sku}`), into the
//! history's `stock` lines.

use check::StockLine;
use serde_json::Value;

/// The stock lines of one SKU's `shards` (each `{"shard", "available", "reserved"}`),
/// and how many entries were left out because a field was missing or not a number: a
/// missing number is not a fact about stock, so it is not recorded as 0 (which the
/// checker would judge against the stock invariants).
pub(crate) fn stock_lines(sku: &str, shards: &[Value], initial: i64) -> (Vec<StockLine>, usize) {
    let lines: Vec<StockLine> = shards
        .iter()
        .filter_map(|s| {
            Some(StockLine {
                sku: sku.to_owned(),
                shard: s["shard"].as_u64().and_then(|v| u32::try_from(v).ok())?,
                available: s["available"].as_i64()?,
                reserved: s["reserved"].as_i64()?,
                initial,
            })
        })
        .collect();
    let skipped = shards.len() - lines.len();
    (lines, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_shard_with_a_missing_field_is_left_out_and_counted() {
        let shards = [
            json!({"shard": 0, "available": 90, "reserved": 10}),
            json!({"available": 5, "reserved": 0}),
            json!({"shard": 2, "reserved": 0}),
            json!({"shard": 3, "available": 5}),
            json!({"shard": 4, "available": "5", "reserved": 0}),
            json!({"shard": 5, "available": -2, "reserved": 3}),
        ];
        let (lines, skipped) = stock_lines("sku-1", &shards, 100);
        assert_eq!(skipped, 4);
        let read: Vec<(u32, i64, i64)> = lines
            .iter()
            .map(|l| (l.shard, l.available, l.reserved))
            .collect();
        // A real negative stock is kept: that one is a fact for the checker to judge.
        assert_eq!(read, vec![(0, 90, 10), (5, -2, 3)]);
        assert!(lines.iter().all(|l| l.sku == "sku-1" && l.initial == 100));
    }
}
