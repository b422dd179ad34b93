//! Fault fields as matrix axes (`faults.N.kind`, `faults.N.target`, `faults.N.at`,
//! whole `faults.N` tables): the combinations they make, the parameters each kind
//! keeps, the combinations skipped because the fault cannot act on its target, and the
//! errors for keys that cannot vary. experiments/sweep.toml is checked as written.

use std::time::Duration;

use harness::experiment::{Experiment, ExperimentError, FaultKind, Target, Toxic};

/// Redis with two inventory instances; one fault on line 8.
const BASE: &str = r#"name = "grid"
duration = "30s"
[system]
backend = "redis"
replicas = { inventory = 2 }
[workload]
rate = 20
[[faults]]
at = "5s"
target = "redis"
kind = "latency"
latency = "200ms"
for = "5s"
"#;

fn load(text: &str) -> Result<Vec<Experiment>, ExperimentError> {
    Experiment::from_str(text, "x.toml", &[])
}

fn all(text: &str) -> Vec<Experiment> {
    load(text).unwrap_or_else(|e| panic!("{e}"))
}

fn errors(text: &str) -> Vec<String> {
    match load(text) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.diagnostics().iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn kind_and_target_axes_make_the_grid_and_skip_what_cannot_be() {
    let text = format!(
        "{BASE}[matrix]\n\"faults.0.kind\" = [\"latency\", \"pause\"]\n\"faults.0.target\" = [\"redis\", \"inventory#1\", \"gateway\"]\n"
    );
    let runs = all(&text);
    let names: Vec<&str> = runs.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "grid[faults.0.kind=latency,faults.0.target=redis]",
            "grid[faults.0.kind=latency,faults.0.target=gateway]",
            "grid[faults.0.kind=pause,faults.0.target=redis]",
            "grid[faults.0.kind=pause,faults.0.target=inventory#1]",
        ]
    );
    // `latency` and `for` suit latency; pause keeps `for` and drops `latency`.
    assert!(matches!(
        runs[0].faults[0].kind,
        FaultKind::Toxic { toxic: Toxic::Latency { latency, .. }, .. } if latency == Duration::from_millis(200)
    ));
    assert_eq!(
        runs[2].faults[0].kind,
        FaultKind::Pause {
            lasting: Duration::from_secs(5)
        }
    );
    assert_eq!(
        runs[3].faults[0].target,
        Target::Service {
            name: harness::experiment::Service::Inventory,
            instance: 1
        }
    );
    let skipped: Vec<(&str, &str)> = runs[0]
        .skipped
        .iter()
        .map(|s| (s.name.as_str(), s.reason.as_str()))
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert_eq!(
        skipped[0].0,
        "grid[faults.0.kind=latency,faults.0.target=inventory#1]"
    );
    assert!(
        skipped[0].1.contains("needs a proxied target"),
        "{skipped:?}"
    );
    assert!(skipped[1].1.contains("is a proxy"), "{skipped:?}");
    assert_eq!(
        runs[3].skipped, runs[0].skipped,
        "every run carries the list"
    );
    let combination = serde_json::to_value(&runs[3].combination).expect("json");
    assert_eq!(
        combination,
        serde_json::json!({"faults.0.kind": "pause", "faults.0.target": "inventory#1"})
    );
}

#[test]
fn fault_tables_replace_the_kind_and_its_parameters() {
    let text = format!(
        "{BASE}[matrix]\n\"faults.0\" = [{{ kind = \"bandwidth\", rate_kbps = 32, for = \"4s\" }}, {{ kind = \"kill\", restart_after = \"3s\" }}, {{ kind = \"kill\" }}]\n\"faults.0.at\" = [\"5s\", \"10s\"]\n"
    );
    let runs = all(&text);
    let names: Vec<&str> = runs.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names[0], "grid[faults.0=bandwidth,faults.0.at=5s]");
    assert_eq!(
        names[2],
        "grid[faults.0=kill(restart_after=3s),faults.0.at=5s]"
    );
    assert_eq!(names[4], "grid[faults.0=kill,faults.0.at=5s]");
    assert_eq!(runs.len(), 6);
    assert!(matches!(
        runs[0].faults[0].kind,
        FaultKind::Toxic { toxic: Toxic::Bandwidth { .. }, lasting, .. } if lasting == Duration::from_secs(4)
    ));
    assert_eq!(
        runs[2].faults[0].kind,
        FaultKind::Kill {
            restart_after: Some(Duration::from_secs(3))
        }
    );
    assert_eq!(runs[3].faults[0].at, Duration::from_secs(10));
    assert_eq!(runs[3].faults[0].target, Target::Redis, "target kept");
}

#[test]
fn backend_and_target_axes_skip_targets_of_the_other_backend() {
    let text = format!(
        "{BASE}[matrix]\nbackend = [\"redis\", \"kafka\"]\n\"faults.0.target\" = [\"redis\", \"kafka-1\", \"kafka-2\"]\n"
    );
    let runs = all(&text);
    let names: Vec<&str> = runs.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "grid[backend=redis,faults.0.target=redis]",
            "grid[backend=kafka,faults.0.target=kafka-1]",
        ]
    );
    let reasons: Vec<&str> = runs[0].skipped.iter().map(|s| s.reason.as_str()).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("the system has broker kafka-1")),
        "{reasons:?}"
    );
}

#[test]
fn keys_that_cannot_vary_are_errors_with_their_place() {
    let cases = [
        (
            "\"faults.0.latency\" = [\"1s\"]",
            "`latency` of a fault cannot be varied",
        ),
        (
            "\"faults.1.kind\" = [\"kill\"]",
            "the file has 1 [[faults]]",
        ),
        (
            "\"faults.x.kind\" = [\"kill\"]",
            "`x` is not a fault number",
        ),
        (
            "\"faults.0.kind\" = [\"latncy\"]",
            "did you mean `latency`?",
        ),
        (
            "\"faults.0.target\" = [\"kafka-0\"]",
            "there is no broker `kafka-0`",
        ),
        ("\"faults.0.at\" = [\"soon\"]", "faults.0.at"),
        ("\"faults.0\" = [\"kill\"]", "expected a fault table"),
        (
            "\"faults.0\" = [{ kind = \"kill\" }]\n\"faults.0.kind\" = [\"pause\"]",
            "vary the same fault",
        ),
        ("\"faults.0.kind\" = [\"kill\", \"kill\"]", "listed twice"),
    ];
    for (matrix, expected) in cases {
        let text = format!("{BASE}[matrix]\n{matrix}\n");
        let all = errors(&text);
        // The error points at the matrix's last line (line 15 is its first).
        let at = format!("x.toml:{}:", 14 + matrix.lines().count());
        assert!(
            all.iter()
                .any(|e| e.contains(expected) && e.starts_with(&at)),
            "{matrix}: {all:#?}"
        );
    }
}

#[test]
fn a_matrix_whose_every_combination_is_skipped_is_an_error() {
    let text = format!("{BASE}[matrix]\n\"faults.0.target\" = [\"kafka-1\", \"order#0\"]\n");
    let all = errors(&text);
    assert!(
        all.iter()
            .any(|e| e.contains("every combination of the matrix is skipped")),
        "{all:#?}"
    );
}

#[test]
fn a_parameter_no_listed_kind_takes_is_still_an_error() {
    // Varying the kind drops the parameters of other kinds, never unknown keys.
    let text = BASE.replace("for = \"5s\"\n", "for = \"5s\"\nbogus = 1\n")
        + "[matrix]\n\"faults.0.kind\" = [\"latency\", \"down\"]\n";
    let all = errors(&text);
    assert!(
        all.iter().any(|e| e.contains("unknown key `bogus`")),
        "{all:#?}"
    );
}

#[test]
fn the_sweep_file_is_the_whole_grid() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../experiments/sweep.toml");
    let runs =
        Experiment::from_file(std::path::Path::new(path), &[]).unwrap_or_else(|e| panic!("{e}"));
    // Redis: 7 network kinds × (redis, gateway) + 3 process kinds × (redis + 6
    // services); Kafka: 7 × (3 brokers + gateway) + 3 × (3 brokers + 6 services).
    assert_eq!(runs.len(), (14 + 21 + 28 + 27) * 3);
    assert_eq!(runs[0].skipped.len(), 10 * 11 * 2 * 3 - runs.len());
}
