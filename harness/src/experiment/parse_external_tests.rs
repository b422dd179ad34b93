//! `[lab]`, `system.platform`, `[system.external]` and the rules against an external
//! lab (`validate::against_lab`): literal files, every error located.

use std::path::Path;

use crate::experiment::{Experiment, ExperimentError, LabKind, Platform, against_lab};

const BASE: &str = r#"
name = "x"
duration = "10s"
[workload]
rate = 10
"#;

fn read(text: &str) -> Result<Experiment, ExperimentError> {
    Experiment::from_str(text, "dir/exp.toml", &[]).map(|mut v| v.remove(0))
}

fn errors(text: &str) -> String {
    match read(text) {
        Ok(_) => panic!("expected errors in:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn compose() -> lab::Endpoints {
    lab::Endpoints::from_json(include_str!("../../../lab/compose-endpoints.json"))
        .expect("compose endpoints")
}

fn external_lab(experiment: &Experiment, endpoints: &lab::Endpoints) -> String {
    let kind = LabKind::External {
        file: "cluster.json",
        endpoints,
    };
    match against_lab(experiment, kind) {
        Ok(()) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn lab_endpoints_are_relative_to_the_experiment_file() {
    let e = read(&format!(
        "{BASE}[system]\nbackend = \"kafka\"\n[lab]\nendpoints = \"c.json\"\n"
    ))
    .expect("valid");
    assert_eq!(e.lab.endpoints.as_deref(), Some(Path::new("dir/c.json")));
    let e = read(&format!(
        "{BASE}[system]\nbackend = \"kafka\"\n[lab]\nendpoints = \"/abs/c.json\"\n"
    ))
    .expect("valid");
    assert_eq!(e.lab.endpoints.as_deref(), Some(Path::new("/abs/c.json")));
    assert_eq!(e.system.platform, Platform::Reference);
    let text = errors(&format!(
        "{BASE}[system]\nbackend = \"kafka\"\n[lab]\nendpoint = \"c.json\"\n"
    ));
    assert!(text.contains("dir/exp.toml:9:1: lab.endpoint"), "{text}");
}

#[test]
fn an_external_platform_needs_its_table_and_the_http_driver_its_url() {
    let text = errors(&format!(
        "{BASE}[system]\nbackend = \"kafka\"\nplatform = \"externl\"\n"
    ));
    assert!(
        text.contains("dir/exp.toml:8:12: system.platform: unknown platform `externl`"),
        "{text}"
    );
    assert!(text.contains("did you mean `external`?"), "{text}");

    let text = errors(&format!(
        "{BASE}[system]\nbackend = \"kafka\"\nplatform = \"external\"\n"
    ));
    assert!(
        text.contains(
            "dir/exp.toml:8:12: system.external: platform = \"external\" needs [system.external]"
        ),
        "{text}"
    );

    let text = errors(&format!(
        "{BASE}[system]\nbackend = \"kafka\"\n[system.external]\nnamespace = \"shop\"\n"
    ));
    assert!(text.contains("but platform is `reference`"), "{text}");

    let text = errors(&format!(
        "{BASE}[system]\nbackend = \"kafka\"\nplatform = \"external\"\n[system.external]\nnamespace = \"shop\"\n"
    ));
    assert!(
        text.contains("dir/exp.toml:8:12: system.external.order_url: the http driver needs"),
        "{text}"
    );

    // The direct driver's input must be one of the topics the tap reads.
    let text = errors(
        "name = \"x\"\nduration = \"10s\"\n[workload]\nrate = 10\ndriver = \"direct\"\n\
         [system]\nbackend = \"kafka\"\nplatform = \"external\"\n[system.external]\n\
         namespace = \"shop\"\ninput = \"incoming\"\ntopics = [\"orders\"]\n",
    );
    assert!(
        text.contains(
            "system.external.topics: the direct driver produces OrderPlaced to `incoming`"
        ),
        "{text}"
    );
    assert!(
        text.contains("add \"incoming\" to [system.external] topics"),
        "{text}"
    );
}

#[test]
fn external_keys_are_checked_where_they_are_written() {
    let head = format!(
        "{BASE}[system]\nbackend = \"kafka\"\nplatform = \"external\"\n[system.external]\n"
    );
    let text = errors(&format!(
        "{head}namespace = \"shop\"\norder_url = \"localhost:8080\"\nterminal_types = [\"OrderPlaced\"]\ntopics = []\n"
    ));
    assert!(
        text.contains(
            "dir/exp.toml:11:13: system.external.order_url: `localhost:8080` is not an http(s) URL"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "dir/exp.toml:12:18: system.external.terminal_types: `OrderPlaced` starts an order"
        ),
        "{text}"
    );
    assert!(
        text.contains("dir/exp.toml:13:10: system.external.topics: the list is empty"),
        "{text}"
    );

    let text = errors(&format!(
        "{head}order_url = \"http://h:1\"\ntopics = [\"orders\", \"orders\"]\nnamspace = \"x\"\n"
    ));
    assert!(
        text.contains("missing key `namespace` in `system.external`"),
        "{text}"
    );
    assert!(
        text.contains("system.external.topics[1]: `orders` is listed twice"),
        "{text}"
    );
    assert!(
        text.contains("dir/exp.toml:12:1: system.external.namspace"),
        "{text}"
    );

    let e = read(&format!(
        "{head}namespace = \"shop\"\norder_url = \"http://127.0.0.1:9/\"\n"
    ))
    .expect("valid");
    let Platform::External(external) = &e.system.platform else {
        panic!("external expected");
    };
    assert_eq!(external.order_url.as_deref(), Some("http://127.0.0.1:9"));
    assert_eq!(external.input, "orders");
    assert_eq!(external.terminal_types, ["OrderCancelled", "OrderShipped"]);
    assert!(external.topics.contains(&"shipping".to_owned()));
}

#[test]
fn an_external_platform_takes_no_process_fault_on_its_instances() {
    let text = errors(&format!(
        "{BASE}[system]\nbackend = \"kafka\"\nplatform = \"external\"\n[system.external]\nnamespace = \"shop\"\norder_url = \"http://h:1\"\n\
         [[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"pause\"\ntarget = \"payment#0\"\n\
         [[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"down\"\ntarget = \"gateway\"\n"
    ));
    assert!(
        text.contains(
            "dir/exp.toml:16:10: faults[0].target: `pause` on `payment#0`: the platform is external"
        ),
        "{text}"
    );
    assert!(
        text.contains("dir/exp.toml:21:10: faults[1].target: `down` on `gateway`"),
        "{text}"
    );
}

#[test]
fn an_external_lab_refuses_process_faults_on_its_services_and_faults_without_proxies() {
    let faults = "[[faults]]\nat = \"1s\"\nrestart_after = \"1s\"\nkind = \"kill\"\ntarget = \"kafka-1\"\n\
                  [[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"latency\"\nlatency = \"50ms\"\ntarget = \"kafka-2\"\n\
                  [[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"pause\"\ntarget = \"payment#0\"\n";
    let e = read(&format!(
        "{BASE}[system]\nbackend = \"kafka\"\nbrokers = 3\n{faults}"
    ))
    .expect("valid");
    let mut endpoints = compose();
    let text = external_lab(&e, &endpoints);
    assert!(
        text.contains("dir/exp.toml:13:10: faults[0].target: `kill` on `kafka-1`: the lab is external (cluster.json)"),
        "{text}"
    );
    // The network fault has its proxy; the platform's own instance stays the harness's.
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(against_lab(&e, LabKind::Local).is_ok());

    endpoints.proxies.retain(|p| p.name != "kafka-2");
    let text = external_lab(&e, &endpoints);
    assert!(
        text.contains("faults[1].target: `latency` on `kafka-2` needs the proxy `kafka-2`, which cluster.json does not list"),
        "{text}"
    );
    endpoints.toxiproxy = None;
    let text = external_lab(&e, &endpoints);
    assert!(
        text.contains("dir/exp.toml:19:10: faults[1].target: `latency` on `kafka-2` is a network fault, and cluster.json names no Toxiproxy"),
        "{text}"
    );
}

#[test]
fn an_external_platform_needs_an_external_lab() {
    let e = read(&format!(
        "{BASE}[system]\nbackend = \"kafka\"\nplatform = \"external\"\n[system.external]\nnamespace = \"shop\"\norder_url = \"http://h:1\"\n"
    ))
    .expect("valid");
    let text = against_lab(&e, LabKind::Local)
        .expect_err("local")
        .to_string();
    assert!(text.contains("dir/exp.toml:8:12: system.platform: platform = \"external\" runs against services you run"), "{text}");
    assert_eq!(external_lab(&e, &compose()), "");
}
