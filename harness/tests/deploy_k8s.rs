//! deploy/k8s/harness-shards.yaml: the Indexed Job of docs/sharding.md is wired as the
//! merge needs it: every index runs at once (parallelism = completions = N), each pod
//! passes its completion index as `--shard I/N` with that same N, starts on the common
//! `--start-at`, writes into one directory per run, is never retried (a retried shard
//! would be a second run of its slice), and the merge job reads that directory. The
//! `harness run` arguments it passes are ones the binary accepts.

use std::path::Path;

fn documents() -> Vec<serde_yaml_ng::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/k8s/harness-shards.yaml");
    let text = std::fs::read_to_string(&path).expect("deploy/k8s/harness-shards.yaml");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("YAML"))
        .collect()
}

fn strings(v: &serde_yaml_ng::Value) -> Vec<String> {
    v.as_sequence()
        .expect("a list")
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

#[test]
fn the_indexed_job_passes_its_index_as_the_shard() {
    let docs = documents();
    assert_eq!(docs.len(), 2, "the shards' job and the merge job");
    let job = &docs[0];
    assert_eq!(job["kind"].as_str(), Some("Job"));
    let spec = &job["spec"];
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    let n = spec["completions"].as_u64().expect("completions");
    assert_eq!(spec["parallelism"].as_u64(), Some(n), "every shard at once");
    assert_eq!(spec["backoffLimitPerIndex"].as_u64(), Some(0));
    let container = &spec["template"]["spec"]["containers"][0];
    assert_eq!(strings(&container["command"]), ["sh", "-c"]);
    let script = strings(&container["args"]).join(" ");
    let words: Vec<&str> = script.split_whitespace().collect();
    let after = |flag: &str| {
        words
            .iter()
            .position(|a| *a == flag)
            .and_then(|i| words.get(i + 1))
            .unwrap_or_else(|| panic!("{flag} in {script}"))
            .trim_end_matches(';')
            .to_owned()
    };
    assert_eq!(&words[..2], ["harness", "run"], "{script}");
    assert_eq!(after("--shard"), format!("$(JOB_COMPLETION_INDEX)/{n}"));
    assert_eq!(after("--start-at"), "$(START_AT)");
    assert_eq!(after("--runs"), "/runs/$(RUN_ID)");
    assert_eq!(after("--run-id"), "$(RUN_ID)");
    // A shard's own verdict (1 fail, 3 inconclusive) does not fail its pod: the merge
    // judges; a harness error (2) does.
    assert!(
        script.contains("if [ $rc -eq 1 ] || [ $rc -eq 3 ]; then exit 0; fi; exit $rc"),
        "{script}"
    );
    let env: Vec<String> = container["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .map(|e| e["name"].as_str().expect("name").to_owned())
        .collect();
    for name in ["START_AT", "RUN_ID"] {
        assert!(env.contains(&name.to_owned()), "{name} in {env:?}");
    }
    let run_id = container["env"]
        .as_sequence()
        .and_then(|env| env.iter().find(|e| e["name"].as_str() == Some("RUN_ID")))
        .and_then(|e| e["value"].as_str())
        .expect("RUN_ID's value");
    assert!(
        run_id.chars().all(|c| c.is_ascii_alphanumeric()),
        "--run-id takes letters and digits: {run_id}"
    );

    // The flags it passes are ones `harness run` has.
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_harness"))
        .args(["run", "--help"])
        .output()
        .expect("harness run --help");
    let help = String::from_utf8_lossy(&help.stdout);
    // Only the `harness run` command's words (up to the `;` that ends it).
    let command_end = words
        .iter()
        .position(|w| w.ends_with(';'))
        .map_or(words.len(), |i| i + 1);
    for flag in words[..command_end].iter().filter(|a| a.starts_with("--")) {
        let flag = flag.trim_end_matches(';');
        assert!(help.contains(flag), "harness run has no {flag}");
    }

    let merge = &docs[1];
    let script = strings(&merge["spec"]["template"]["spec"]["containers"][0]["args"]).join(" ");
    assert!(
        script.starts_with("harness merge /runs/\"$RUN_ID\"/"),
        "{script}"
    );
    assert!(script.contains("--out"), "{script}");
}
