//! `reports/results.schema.json` is generated from [`check::Results`]: the committed
//! file must be exactly what the type gives, so the schema cannot drift from the
//! document the harness writes. After changing the type, regenerate it with
//!
//! ```text
//! UPDATE_SCHEMA=1 cargo test -p check --test schema
//! ```

use std::path::PathBuf;

fn committed() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../reports/results.schema.json")
}

fn generated() -> String {
    let schema = schemars::schema_for!(check::Results);
    serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n"
}

#[test]
fn the_committed_schema_is_the_one_the_type_generates() {
    let generated = generated();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(committed(), &generated).expect("writing reports/results.schema.json");
        return;
    }
    let committed = std::fs::read_to_string(committed()).unwrap_or_default();
    assert!(
        committed == generated,
        "reports/results.schema.json is not the schema of check::Results (the type changed, \
         or the file was edited by hand); regenerate it with \
         `UPDATE_SCHEMA=1 cargo test -p check --test schema` and commit it"
    );
}

#[test]
fn the_schema_requires_only_the_experiment_and_the_verdict() {
    let schema: serde_json::Value = serde_json::from_str(&generated()).expect("JSON");
    assert_eq!(
        schema["required"],
        serde_json::json!(["experiment", "verdict"]),
        "partial and older documents must still validate"
    );
}
