//! The experiment file: parsing, defaults, every class of error with its line:column and
//! hint, matrix expansion, overrides, schedules; and property tests that no input makes
//! the reader panic or point outside the file.

use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use harness::experiment::{
    Backend, Brokers, Combination, Driver, Experiment, ExperimentError, FaultKind, Guarantee,
    KeyDistribution, Location, MatrixSetting, Override, OverrideError, Ratio, RedisPersistence,
    Schedule, Service, Step, Stream, Target, Toxic,
};
use proptest::prelude::*;
use rand::Rng;

/// The example from DESIGN.md, with every kind of line in it.
const FULL: &str = r#"# What it shows: the cost of exactly-once when a broker is slow.
name = "kafka-broker-kill"
description = "Does at-least-once lose orders when the partition leader dies? What does exactly-once cost?"
seed = 42
duration = "60s"            # load phase
warmup = "5s"
drain_timeout = "30s"

[system]
backend = "kafka"           # redis | kafka
guarantee = "at-least-once" # at-most-once | at-least-once | exactly-once
brokers = 3                 # kafka only: 1 or 3
partitions = 6
redis_persistence = "none"  # none | everysec | always (redis only)
replicas = { inventory = 2, payment = 2 }
skus = 50
initial_stock = 1000

[workload]
driver = "http"             # http | direct
rate = 300                  # orders/s, constant open loop
customers = 1000
key_distribution = "zipf:1.1"
payment_failure_ratio = 0.02
poison_ratio = 0.001

[[faults]]
at = "20s"
for = "10s"
kind = "latency"
target = "kafka-1"
latency = "200ms"
jitter = "50ms"

[[faults]]
at = "40s"
kind = "kill"
target = "payment#1"
restart_after = "5s"

[thresholds]
lost = "== 0"
"latency.e2e.p99" = "< 800ms"
"throughput.mean" = ">= 280/s"

[matrix]
guarantee = ["at-least-once", "exactly-once"]
"#;

/// Lines: 1 name, 2 duration, 3 [system], 4 backend, 5 [workload], 6 rate.
const MINIMAL: &str =
    "name = \"m\"\nduration = \"60s\"\n[system]\nbackend = \"kafka\"\n[workload]\nrate = 100\n";

fn load(text: &str) -> Result<Vec<Experiment>, ExperimentError> {
    Experiment::from_str(text, "x.toml", &[])
}

fn one(text: &str) -> Experiment {
    let mut experiments = load(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(experiments.len(), 1);
    experiments.remove(0)
}

/// Every diagnostic's text.
fn errors(text: &str) -> Vec<String> {
    errors_with(text, &[])
}

fn errors_with(text: &str, overrides: &[&str]) -> Vec<String> {
    let overrides: Vec<Override> = overrides.iter().map(|o| o.parse().unwrap()).collect();
    match Experiment::from_str(text, "x.toml", &overrides) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(e) => e.diagnostics().iter().map(ToString::to_string).collect(),
    }
}

/// The only diagnostic's text.
fn error(text: &str) -> String {
    let all = errors(text);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.into_iter().next().unwrap()
}

/// MINIMAL plus a fault (starting on line 7 with `[[faults]]`).
fn with_fault(system_extra: &str, fault: &str) -> String {
    let base = MINIMAL.replace(
        "backend = \"kafka\"\n",
        &format!("backend = \"kafka\"\n{system_extra}"),
    );
    format!("{base}[[faults]]\n{fault}")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn the_design_example_parses_to_the_expected_model() {
    let experiments = load(FULL).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(experiments.len(), 2);
    let e = &experiments[0];
    assert_eq!(e.name, "kafka-broker-kill[guarantee=at-least-once]");
    assert_eq!(e.base_name, "kafka-broker-kill");
    assert_eq!(e.origin, "x.toml");
    assert!(
        e.description
            .as_deref()
            .unwrap()
            .starts_with("Does at-least-once")
    );
    assert_eq!(
        (e.seed, e.duration, e.warmup, e.drain_timeout),
        (42, secs(60), secs(5), secs(30))
    );

    let s = &e.system;
    assert_eq!(s.backend, Backend::Kafka);
    assert_eq!(s.guarantee, Guarantee::AtLeastOnce);
    assert_eq!(s.brokers, Brokers::Three);
    assert_eq!(s.partitions.get(), 6);
    assert_eq!(s.redis_persistence, RedisPersistence::None);
    assert_eq!(s.replicas.get(Service::Payment).get(), 2);
    assert_eq!(s.replicas.get(Service::Inventory).get(), 2);
    assert_eq!(s.replicas.get(Service::Order).get(), 1);
    assert_eq!((s.skus.get(), s.initial_stock), (50, 1000));

    let w = &e.workload;
    assert_eq!(w.driver, Driver::Http);
    assert_eq!(w.schedule, Schedule::Constant(300.0));
    assert_eq!(w.customers.get(), 1000);
    assert_eq!(w.key_distribution, KeyDistribution::Zipf(1.1));
    assert_eq!(w.payment_failure_ratio.get(), 0.02);
    assert_eq!(w.poison_ratio.get(), 0.001);

    assert_eq!(e.faults.len(), 2);
    assert_eq!(e.faults[0].at, secs(20));
    assert_eq!(e.faults[0].target, Target::Broker(1));
    assert_eq!(
        e.faults[0].kind,
        FaultKind::Toxic {
            toxic: Toxic::Latency {
                latency: Duration::from_millis(200),
                jitter: Duration::from_millis(50)
            },
            stream: Stream::Downstream,
            toxicity: Ratio::ONE,
            lasting: secs(10),
        }
    );
    assert_eq!(e.faults[0].end(), Some(secs(30)));
    assert_eq!(
        e.faults[1].target,
        Target::Service {
            name: Service::Payment,
            instance: 1
        }
    );
    assert_eq!(
        e.faults[1].kind,
        FaultKind::Kill {
            restart_after: Some(secs(5))
        }
    );

    let thresholds: Vec<(&str, &str)> = e
        .thresholds
        .iter()
        .map(|t| (t.metric.as_str(), t.expression.as_str()))
        .collect();
    assert_eq!(
        thresholds,
        [
            ("lost", "== 0"),
            ("latency.e2e.p99", "< 800ms"),
            ("throughput.mean", ">= 280/s")
        ]
    );
    assert_eq!(
        e.thresholds[1].expression_at,
        Location::File {
            origin: "x.toml".into(),
            line: 43,
            column: 21
        }
    );
    assert_eq!(
        e.combination,
        Combination(vec![MatrixSetting::Guarantee(Guarantee::AtLeastOnce)])
    );

    assert_eq!(
        experiments[1].name,
        "kafka-broker-kill[guarantee=exactly-once]"
    );
    assert_eq!(experiments[1].system.guarantee, Guarantee::ExactlyOnce);
    assert_eq!(experiments[1].faults, e.faults);
}

#[test]
fn a_minimal_file_gets_the_documented_defaults() {
    let e = one(MINIMAL);
    assert_eq!(e.name, "m");
    assert_eq!(e.description, None);
    assert_eq!((e.seed, e.warmup, e.drain_timeout), (0, secs(5), secs(30)));
    assert_eq!(e.system.guarantee, Guarantee::AtLeastOnce);
    assert_eq!(e.system.brokers, Brokers::One);
    assert_eq!(e.system.partitions.get(), 6);
    assert_eq!(e.system.redis_persistence, RedisPersistence::None);
    assert!(e.system.replicas.iter().all(|(_, n)| n.get() == 1));
    assert_eq!((e.system.skus.get(), e.system.initial_stock), (50, 1000));
    assert_eq!(e.workload.driver, Driver::Http);
    assert_eq!(e.workload.customers.get(), 1000);
    assert_eq!(e.workload.key_distribution, KeyDistribution::Uniform);
    assert_eq!(e.workload.payment_failure_ratio, Ratio::ZERO);
    assert!(e.faults.is_empty() && e.thresholds.is_empty() && e.combination.is_empty());
}

#[test]
fn the_expanded_config_serializes_as_written() {
    let e = &load(FULL).unwrap()[1];
    let json = serde_json::to_value(e).unwrap();
    assert_eq!(json["duration"], "1m");
    assert_eq!(json["system"]["guarantee"], "exactly-once");
    assert_eq!(json["system"]["brokers"], 3);
    assert_eq!(json["workload"]["key_distribution"], "zipf:1.1");
    assert_eq!(json["faults"][0]["kind"], "latency");
    assert_eq!(json["faults"][0]["latency"], "200ms");
    assert_eq!(json["faults"][0]["for"], "10s");
    assert_eq!(json["faults"][1]["target"], "payment#1");
    assert_eq!(json["thresholds"][1]["metric"], "latency.e2e.p99");
    assert_eq!(json["combination"]["guarantee"], "exactly-once");
}

#[test]
fn fault_kinds_with_their_parameters() {
    let fault = |body: &str| {
        let e = one(&with_fault(
            "brokers = 3\n",
            &format!("at = \"1s\"\ntarget = \"kafka-2\"\n{body}"),
        ));
        e.faults[0].kind
    };
    assert_eq!(
        fault(
            "kind = \"bandwidth\"\nfor = \"5s\"\nrate_kbps = 64\nstream = \"upstream\"\ntoxicity = 0.5\n"
        ),
        FaultKind::Toxic {
            toxic: Toxic::Bandwidth {
                rate_kbps: NonZeroU64::new(64).unwrap()
            },
            stream: Stream::Upstream,
            toxicity: Ratio::new(0.5).unwrap(),
            lasting: secs(5),
        }
    );
    let timeout = fault("kind = \"timeout\"\nfor = \"5s\"\n");
    assert!(matches!(
        timeout,
        FaultKind::Toxic {
            toxic: Toxic::Timeout { timeout: None },
            ..
        }
    ));
    let reset = fault("kind = \"reset_peer\"\nfor = \"5s\"\ntimeout = \"100ms\"\n");
    assert!(
        matches!(reset, FaultKind::Toxic { toxic: Toxic::ResetPeer { timeout }, .. } if timeout == Duration::from_millis(100))
    );
    let slicer = fault(
        "kind = \"slicer\"\nfor = \"5s\"\naverage_size = 64\nsize_variation = 8\ndelay = \"250us\"\n",
    );
    assert!(matches!(
        slicer,
        FaultKind::Toxic {
            toxic: Toxic::Slicer {
                size_variation: 8,
                ..
            },
            ..
        }
    ));
    let limit = fault("kind = \"limit_data\"\nfor = \"5s\"\nbytes = 0\n");
    assert!(matches!(
        limit,
        FaultKind::Toxic {
            toxic: Toxic::LimitData { bytes: 0 },
            ..
        }
    ));
    assert_eq!(
        fault("kind = \"down\"\nfor = \"5s\"\n"),
        FaultKind::Down { lasting: secs(5) }
    );
    assert_eq!(
        fault("kind = \"pause\"\nfor = \"5s\"\n"),
        FaultKind::Pause { lasting: secs(5) }
    );
    assert_eq!(fault("kind = \"restart\"\n"), FaultKind::Restart);
    assert_eq!(
        fault("kind = \"kill\"\n"),
        FaultKind::Kill {
            restart_after: None
        }
    );
}

#[test]
fn workload_schedules_and_ramps() {
    let steps = MINIMAL.replace(
        "rate = 100",
        "schedule = [{ for = \"10s\", rate = 100 }, { for = \"20s\", rate = 300 }]",
    );
    assert_eq!(
        one(&steps).workload.schedule,
        Schedule::Steps(vec![
            Step {
                lasting: secs(10),
                rate: 100.0
            },
            Step {
                lasting: secs(20),
                rate: 300.0
            },
        ])
    );
    let ramp = MINIMAL.replace("rate = 100", "ramp = { from = 50, to = 400 }");
    assert_eq!(
        one(&ramp).workload.schedule,
        Schedule::Ramp {
            from: 50.0,
            to: 400.0,
            over: secs(60)
        }
    );
}

// ---- errors: unknown keys ------------------------------------------------------------

#[test]
fn unknown_keys_are_reported_with_a_near_miss() {
    assert_eq!(
        error(&MINIMAL.replace("name = \"m\"", "name = \"m\"\nseeed = 1")),
        "x.toml:2:1: seeed: unknown key `seeed` (hint: did you mean `seed`?)"
    );
    assert_eq!(
        errors(&MINIMAL.replace("rate = 100", "rat = 100"))[1],
        "x.toml:6:1: workload.rat: unknown key `rat` (hint: did you mean `rate`?)"
    );
    assert_eq!(
        error(&format!("{MINIMAL}colour = 3\n")),
        "x.toml:7:1: workload.colour: unknown key `colour` (hint: keys here: driver, rate, \
         schedule, ramp, customers, key_distribution, payment_failure_ratio, poison_ratio)"
    );
    assert_eq!(
        error(&MINIMAL.replace("[system]\n", "guarantee = \"exactly-once\"\n[system]\n")),
        "x.toml:3:1: guarantee: unknown key `guarantee` (hint: `guarantee` belongs in [system]: system.guarantee)"
    );
    assert_eq!(
        error(&with_fault(
            "",
            "at = \"1s\"\nkind = \"latency\"\ntarget = \"kafka-1\"\nfor = \"1s\"\nlatency = \"1ms\"\njiter = \"1ms\"\n"
        )),
        "x.toml:13:1: faults[0].jiter: unknown key `jiter` (hint: did you mean `jitter`?)"
    );
    assert_eq!(
        error(&MINIMAL.replace(
            "backend = \"kafka\"",
            "backend = \"kafka\"\nreplicas = { paymnet = 2 }"
        )),
        "x.toml:5:14: system.replicas.paymnet: unknown service `paymnet` (hint: did you mean `payment`?)"
    );
}

#[test]
fn parameters_of_another_fault_kind_are_named_as_such() {
    assert_eq!(
        error(&with_fault(
            "",
            "at = \"1s\"\nkind = \"latency\"\ntarget = \"kafka-1\"\nfor = \"1s\"\nlatency = \"1ms\"\nrate_kbps = 5\n"
        )),
        "x.toml:13:1: faults[0].rate_kbps: `rate_kbps` does not apply to kind `latency` \
         (hint: `latency` takes for, latency, jitter, stream, toxicity)"
    );
    assert_eq!(
        error(&with_fault(
            "",
            "at = \"1s\"\nkind = \"kill\"\ntarget = \"kafka-1\"\nfor = \"1s\"\n"
        )),
        "x.toml:11:1: faults[0].for: `for` does not apply to kind `kill` \
         (hint: a kill lasts until `restart_after`, or to the end of the run)"
    );
}

#[test]
fn missing_keys_point_at_their_table() {
    assert_eq!(
        error(&MINIMAL.replace("backend = \"kafka\"\n", "")),
        "x.toml:3:1: system.backend: missing key `backend` in `system` (hint: backend = \"redis\" or \"kafka\")"
    );
    let message = error(&MINIMAL.replace("rate = 100\n", "customers = 5\n"));
    assert!(
        message.starts_with(
            "x.toml:5:1: workload.rate: missing the load: one of `rate`, `schedule` or `ramp`"
        ),
        "{message}"
    );
    assert_eq!(
        error(&MINIMAL.replace("name = \"m\"\n", "")),
        "x.toml: name: missing key `name` (hint: e.g. name = \"kafka-broker-kill\")"
    );
}

// ---- errors: durations and enums -------------------------------------------------------

#[test]
fn bad_durations() {
    let at_line_2 = |value: &str| error(&MINIMAL.replace("\"60s\"", value));
    assert_eq!(
        at_line_2("\"10 sec\""),
        "x.toml:2:12: duration: bad duration: `10 sec` has a space between the number and the unit \
         (hint: write \"10s\" (units: us, ms, s, m, h))"
    );
    assert_eq!(
        at_line_2("\"-1s\""),
        "x.toml:2:12: duration: bad duration: durations cannot be negative (hint: use a value of 0s or more)"
    );
    assert_eq!(
        at_line_2("10"),
        "x.toml:2:12: duration: a duration needs a unit: `10` (hint: write \"10s\" (units: us, ms, s, m, h))"
    );
    assert_eq!(
        at_line_2("\"10secs\""),
        "x.toml:2:12: duration: bad duration: unknown unit `secs` in `10secs` (hint: write \"10s\" (units: us, ms, s, m, h))"
    );
    assert_eq!(
        at_line_2("\"0s\""),
        "x.toml:2:12: duration: the load phase cannot be empty (hint: e.g. duration = \"60s\")"
    );
    // Unquoted, it is a TOML syntax error, still located.
    let message = error(&MINIMAL.replace("\"60s\"", "60s"));
    assert!(
        message.starts_with("x.toml:2:12: string values must be quoted"),
        "{message}"
    );
    assert!(message.contains("(hint: quote text values"), "{message}");
    // Toxiproxy resolves latency in milliseconds.
    let message = error(&with_fault(
        "",
        "at = \"1s\"\nkind = \"latency\"\ntarget = \"kafka-1\"\nfor = \"1s\"\nlatency = \"250us\"\n",
    ));
    assert!(
        message.starts_with(
            "x.toml:12:11: faults[0].latency: Toxiproxy takes this in whole milliseconds"
        ),
        "{message}"
    );
}

#[test]
fn bad_enums_list_the_allowed_values() {
    assert_eq!(
        error(&MINIMAL.replace(
            "backend = \"kafka\"",
            "backend = \"kafka\"\nguarantee = \"exactly_once\""
        )),
        "x.toml:5:13: system.guarantee: unknown guarantee `exactly_once`: expected one of \
         at-most-once, at-least-once, exactly-once (hint: did you mean `exactly-once`?)"
    );
    assert_eq!(
        error(&MINIMAL.replace("\"kafka\"", "\"rabbitmq\"")),
        "x.toml:4:11: system.backend: unknown backend `rabbitmq`: expected one of redis, kafka"
    );
    let message = error(&with_fault(
        "",
        "at = \"1s\"\nkind = \"latncy\"\ntarget = \"kafka-1\"\n",
    ));
    assert!(message.starts_with("x.toml:9:8: faults[0].kind: unknown fault kind `latncy`: expected one of latency, bandwidth"), "{message}");
    assert!(
        message.ends_with("(hint: did you mean `latency`?)"),
        "{message}"
    );
    assert_eq!(
        error(&MINIMAL.replace("rate = 100", "rate = 100\nkey_distribution = \"zipf:-1\"")),
        "x.toml:7:20: workload.key_distribution: bad key distribution `zipf:-1` \
         (hint: write \"uniform\" or \"zipf:S\" with S > 0, e.g. \"zipf:1.1\")"
    );
}

// ---- errors: ranges ----------------------------------------------------------------------

#[test]
fn numbers_out_of_range() {
    let system = |line: &str| {
        error(&MINIMAL.replace(
            "backend = \"kafka\"",
            &format!("backend = \"kafka\"\n{line}"),
        ))
    };
    assert_eq!(
        system("brokers = 2"),
        "x.toml:5:11: system.brokers: brokers must be 1 or 3, found 2 \
         (hint: 1 broker, or a 3-node cluster (replication 3, min ISR 2))"
    );
    assert_eq!(
        system("partitions = 0"),
        "x.toml:5:14: system.partitions: must be 1 or more, found 0"
    );
    assert_eq!(
        error(&MINIMAL.replace("rate = 100", "rate = 100\npoison_ratio = 1.5")),
        "x.toml:7:16: workload.poison_ratio: must be between 0 and 1, found 1.5 (hint: a share: 0.02 is 2%)"
    );
    assert_eq!(
        error(&MINIMAL.replace("rate = 100", "rate = 0")),
        "x.toml:6:8: workload.rate: rate must be above 0 (hint: orders per second, e.g. rate = 100; a schedule step may be 0)"
    );
    assert!(
        error(&MINIMAL.replace("rate = 100", "rate = -3"))
            .starts_with("x.toml:6:8: workload.rate: must be a number of 0 or more")
    );
}

// ---- errors: fault targets, kinds and timing ----------------------------------------------

#[test]
fn fault_targets_must_exist_in_the_system() {
    let target = |system: &str, target: &str| {
        error(&with_fault(
            system,
            &format!("at = \"1s\"\nfor = \"1s\"\nkind = \"pause\"\ntarget = \"{target}\"\n"),
        ))
    };
    // Line 11 (12 with one more system line), column 10.
    assert_eq!(
        target("", "kafka-3"),
        "x.toml:11:10: faults[0].target: unknown fault target `kafka-3`: the system has broker kafka-1 \
         (hint: brokers = 1; brokers = 3 runs kafka-1, kafka-2 and kafka-3)"
    );
    assert_eq!(
        target("", "redis"),
        "x.toml:11:10: faults[0].target: unknown fault target `redis`: the system runs on kafka \
         (hint: targets on kafka: kafka-1, gateway, or a service instance such as payment#0)"
    );
    let on_redis = with_fault(
        "",
        "at = \"1s\"\nfor = \"1s\"\nkind = \"pause\"\ntarget = \"kafka-1\"\n",
    )
    .replace("\"kafka\"", "\"redis\"");
    assert_eq!(
        error(&on_redis),
        "x.toml:11:10: faults[0].target: unknown fault target `kafka-1`: the system runs on redis \
         (hint: targets on redis: redis, gateway, or a service instance such as payment#0)"
    );
    assert_eq!(
        target("replicas = { payment = 2 }\n", "payment#2"),
        "x.toml:12:10: faults[0].target: unknown fault target `payment#2`: payment runs 2 instances \
         (payment#0, payment#1) (hint: instances are numbered from 0; replicas = { payment = 3 } in [system] would run payment#2)"
    );
    assert_eq!(
        target("", "paymnt#0"),
        "x.toml:11:10: faults[0].target: unknown fault target `paymnt#0` (hint: did you mean `payment#0`?)"
    );
    assert_eq!(
        target("", "payment"),
        "x.toml:11:10: faults[0].target: `payment` names a service, not one instance of it \
         (hint: write `payment#0` for its first instance)"
    );
    assert_eq!(
        target("", "kafka-0"),
        "x.toml:11:10: faults[0].target: there is no broker `kafka-0` (hint: brokers are numbered from 1: kafka-1)"
    );
}

#[test]
fn a_huge_replica_count_is_summarised_not_listed() {
    let text = with_fault(
        "replicas = { payment = 4000000000 }\n",
        "at = \"1s\"\nkind = \"restart\"\ntarget = \"payment#4000000000\"\n",
    );
    assert!(
        error(&text)
            .contains("payment runs 4000000000 instances (payment#0 ... payment#3999999999)")
    );
}

#[test]
fn fault_kinds_must_suit_their_target() {
    let message = error(&with_fault(
        "",
        "at = \"1s\"\nfor = \"1s\"\nkind = \"latency\"\nlatency = \"5ms\"\ntarget = \"payment#0\"\n",
    ));
    assert_eq!(
        message,
        "x.toml:12:10: faults[0].target: `latency` is a network fault and needs a proxied target \
         (redis, kafka-N or gateway); `payment#0` is a service instance (hint: services are not behind \
         proxies: use kill, pause or restart on them, or a network fault on their broker)"
    );
    assert_eq!(
        error(&with_fault(
            "",
            "at = \"1s\"\nkind = \"kill\"\ntarget = \"gateway\"\n"
        )),
        "x.toml:10:10: faults[0].target: `kill` needs a process (redis, kafka-N or a service instance); \
         `gateway` is a proxy (hint: use a network kind on the gateway, e.g. down or timeout)"
    );
    // The gateway takes network faults; a service instance takes process faults.
    one(&with_fault(
        "",
        "at = \"1s\"\nfor = \"2s\"\nkind = \"down\"\ntarget = \"gateway\"\n",
    ));
    one(&with_fault(
        "",
        "at = \"1s\"\nkind = \"restart\"\ntarget = \"order#0\"\n",
    ));
}

#[test]
fn faults_must_fit_the_load_phase_and_not_overlap() {
    assert_eq!(
        error(&with_fault(
            "",
            "at = \"70s\"\nfor = \"1s\"\nkind = \"pause\"\ntarget = \"kafka-1\"\n"
        )),
        "x.toml:8:6: faults[0].at: the fault starts at 70s, when the load phase is over (duration = 1m) \
         (hint: faults happen during the load phase: at < 1m)"
    );
    assert_eq!(
        error(&with_fault(
            "",
            "at = \"50s\"\nfor = \"20s\"\nkind = \"pause\"\ntarget = \"kafka-1\"\n"
        )),
        "x.toml:9:7: faults[0].for: the fault ends at 70s, after the load phase ends at 1m \
         (hint: `for` at most 10s, or raise `duration`)"
    );
    let two = with_fault(
        "",
        "at = \"20s\"\nfor = \"10s\"\nkind = \"pause\"\ntarget = \"kafka-1\"\n\
         [[faults]]\nat = \"25s\"\nkind = \"restart\"\ntarget = \"kafka-1\"\n\
         [[faults]]\nat = \"25s\"\nkind = \"restart\"\ntarget = \"payment#0\"\n",
    );
    assert_eq!(
        error(&two),
        "x.toml:13:6: faults[1].at: overlaps faults[0] on `kafka-1` (from 20s to 30s) \
         (hint: one fault per target at a time: start this one at 30s or later)"
    );
    let after_kill = with_fault(
        "",
        "at = \"20s\"\nkind = \"kill\"\ntarget = \"kafka-1\"\n[[faults]]\nat = \"40s\"\nkind = \"restart\"\ntarget = \"kafka-1\"\n",
    );
    assert!(
        error(&after_kill)
            .contains("overlaps faults[0] on `kafka-1` (from 20s to the end of the run)")
    );
}

// ---- errors: thresholds -------------------------------------------------------------------

#[test]
fn threshold_errors_point_inside_the_expression() {
    let text =
        format!("{MINIMAL}[thresholds]\nlost = \"== 0\"\n\"latency.e2e.p99\" = \"< 800xs\"\n");
    let check = |metric: &str, expression: &str| match expression.find("xs") {
        Some(offset) => Err((offset, format!("unknown unit `xs` for {metric}"))),
        None => Ok(()),
    };
    let e = Experiment::from_str_with(&text, "x.toml", &[], &check).unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.toml:9:27: thresholds.\"latency.e2e.p99\": unknown unit `xs` for latency.e2e.p99"
    );
    // Accepted as-is without a checker; rejected when not a string.
    assert_eq!(one(&text).thresholds.len(), 2);
    let message = error(&format!("{MINIMAL}[thresholds]\nlost = 0\n"));
    assert!(
        message.starts_with(
            "x.toml:8:8: thresholds.lost: a threshold is a quoted expression, found an integer"
        ),
        "{message}"
    );
}

#[test]
fn all_problems_are_reported_at_once_in_file_order() {
    let text = "name = \"m\"\nduration = \"60 s\"\nseeed = 1\n[system]\nbackend = \"kafak\"\n[workload]\nrate = 0\n";
    let all = errors(text);
    let locations: Vec<&str> = all.iter().map(|m| m.split(": ").next().unwrap()).collect();
    assert_eq!(
        locations,
        ["x.toml:2:12", "x.toml:3:1", "x.toml:5:11", "x.toml:7:8"],
        "{all:#?}"
    );
    assert!(all[2].ends_with("(hint: did you mean `kafka`?)"));
}

#[test]
fn syntax_errors_are_located() {
    assert_eq!(
        error("name = \"m\"\nname = \"n\"\n"),
        "x.toml:2:1: duplicate key (hint: each key may appear once per table)"
    );
    let message = error("name = \"m\nduration = \"1s\"\n");
    assert!(message.starts_with("x.toml:1:"), "{message}");
}

#[test]
fn bytes_that_are_not_utf8_are_located() {
    let e = Experiment::from_bytes(
        b"name = \"m\"\nseed = \xff\n",
        "x.toml",
        &[],
        &|_, _| Ok(()),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "x.toml:2:8: the file is not valid UTF-8 (hint: save the file as UTF-8)"
    );
}

#[test]
fn a_missing_file_is_a_read_error() {
    let e = Experiment::from_file(std::path::Path::new("/nonexistent/x.toml"), &[]).unwrap_err();
    assert!(matches!(e, ExperimentError::Read { .. }));
    assert_eq!(
        e.to_string(),
        "cannot read experiment file /nonexistent/x.toml"
    );
}

// ---- matrix ------------------------------------------------------------------------------

#[test]
fn the_matrix_expands_to_the_cartesian_product_in_order() {
    let text = format!(
        "{}[matrix]\nbackend = [\"redis\", \"kafka\"]\nbrokers = [1, 3]\nworkload.rate = [100, 250.5]\n",
        MINIMAL
    );
    let experiments = load(&text).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = experiments.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names.len(), 8);
    assert_eq!(names[0], "m[backend=redis,brokers=1,workload.rate=100]");
    assert_eq!(names[1], "m[backend=redis,brokers=1,workload.rate=250.5]");
    assert_eq!(names[2], "m[backend=redis,brokers=3,workload.rate=100]");
    assert_eq!(names[7], "m[backend=kafka,brokers=3,workload.rate=250.5]");
    let last = &experiments[7];
    assert_eq!(
        (last.system.backend, last.system.brokers),
        (Backend::Kafka, Brokers::Three)
    );
    assert_eq!(last.workload.schedule, Schedule::Constant(250.5));
    assert_eq!(experiments[0].system.backend, Backend::Redis);
    assert!(experiments.iter().all(|e| e.base_name == "m"));
}

#[test]
fn a_combination_that_breaks_a_fault_is_reported_naming_it() {
    let text = format!(
        "{}[matrix]\nbrokers = [1, 3]\n",
        with_fault(
            "",
            "at = \"1s\"\nfor = \"1s\"\nkind = \"pause\"\ntarget = \"kafka-3\"\n"
        )
    );
    assert_eq!(
        error(&text),
        "x.toml:11:10: in m[brokers=1]: faults[0].target: unknown fault target `kafka-3`: the system has \
         broker kafka-1 (hint: brokers = 1; brokers = 3 runs kafka-1, kafka-2 and kafka-3)"
    );
    // A problem common to every combination is reported once, without one.
    let both = format!(
        "{}[matrix]\nguarantee = [\"at-most-once\", \"exactly-once\"]\n",
        MINIMAL.replace("rate = 100", "rate = 0")
    );
    assert_eq!(errors(&both).len(), 1);
    assert!(errors(&both)[0].starts_with("x.toml:6:8: workload.rate:"));
}

#[test]
fn matrix_keys_and_values_are_checked() {
    assert_eq!(
        error(&format!(
            "{MINIMAL}[matrix]\nguarantees = [\"exactly-once\"]\n"
        )),
        "x.toml:8:1: matrix.guarantees: `guarantees` cannot be varied by the matrix (hint: did you mean `guarantee`?)"
    );
    assert_eq!(
        error(&format!("{MINIMAL}[matrix]\nbrokers = [1, 2]\n")),
        "x.toml:8:15: matrix.brokers[1]: brokers must be 1 or 3, found 2 (hint: 1 broker, or a 3-node cluster (replication 3, min ISR 2))"
    );
    assert_eq!(
        error(&format!("{MINIMAL}[matrix]\nbrokers = 3\n")),
        "x.toml:8:11: matrix.brokers: expected a non-empty array of values, found an integer (hint: e.g. brokers = [1, 3])"
    );
    let ramp = MINIMAL.replace("rate = 100", "ramp = { from = 1, to = 2 }");
    assert!(
        error(&format!("{ramp}[matrix]\n\"workload.rate\" = [1]\n"))
            .contains("the matrix varies `workload.rate`, but the workload uses `ramp`")
    );
    // `system.guarantee` is accepted as a spelling of `guarantee`.
    assert_eq!(
        load(&format!(
            "{MINIMAL}[matrix]\nsystem.guarantee = [\"at-most-once\"]\n"
        ))
        .unwrap()[0]
            .name,
        "m[guarantee=at-most-once]"
    );
}

// ---- overrides ---------------------------------------------------------------------------

#[test]
fn overrides_apply_before_validation() {
    let overrides: Vec<Override> = [
        "duration=50s",
        "workload.rate=50",
        "system.guarantee=exactly-once",
        "seed=7",
        "system.brokers=3",
    ]
    .iter()
    .map(|o| o.parse().unwrap())
    .collect();
    let experiments =
        Experiment::from_str(FULL, "x.toml", &overrides).unwrap_or_else(|e| panic!("{e}"));
    // The override pins the guarantee, so the matrix axis it varied is dropped.
    assert_eq!(experiments.len(), 1);
    let e = &experiments[0];
    assert_eq!(e.name, "kafka-broker-kill");
    assert_eq!((e.duration, e.seed), (secs(50), 7));
    assert_eq!(e.workload.schedule, Schedule::Constant(50.0));
    assert_eq!(e.system.guarantee, Guarantee::ExactlyOnce);
    // A new key in an existing table, and a quoted metric name.
    let overrides: Vec<Override> = [
        "system.replicas.order=3",
        "thresholds.\"latency.e2e.p99\"=< 500ms",
        "faults.0.target=kafka-2",
    ]
    .iter()
    .map(|o| o.parse().unwrap())
    .collect();
    let e = &Experiment::from_str(FULL, "x.toml", &overrides).unwrap()[0];
    assert_eq!(
        e.system.replicas.get(Service::Order),
        NonZeroU32::new(3).unwrap()
    );
    assert_eq!(e.thresholds[1].expression, "< 500ms");
    assert_eq!(e.faults[0].target, Target::Broker(2));
}

#[test]
fn override_errors_name_the_override() {
    assert_eq!(
        errors_with(MINIMAL, &["workload.rat=5"]),
        ["override `workload.rat=5`: workload.rat: unknown key `rat` (hint: did you mean `rate`?)"]
    );
    assert_eq!(
        errors_with(MINIMAL, &["system.guarantee=maybe-once"]),
        [
            "override `system.guarantee=maybe-once`: system.guarantee: unknown guarantee `maybe-once`: \
          expected one of at-most-once, at-least-once, exactly-once"
        ]
    );
    assert_eq!(
        errors_with(MINIMAL, &["name.x=1"]),
        [
            "override `name.x=1`: name.x: `name` is a string, not a table (hint: override keys are paths such as workload.rate)"
        ]
    );
    // Overrides that make a fault target invalid are caught by validation, at the fault.
    let fault = with_fault(
        "brokers = 3\n",
        "at = \"1s\"\nfor = \"1s\"\nkind = \"pause\"\ntarget = \"kafka-3\"\n",
    );
    assert!(
        errors_with(&fault, &["system.brokers=1"])[0]
            .starts_with("x.toml:12:10: faults[0].target: unknown fault target `kafka-3`")
    );
    assert!(matches!(
        "seed".parse::<Override>(),
        Err(OverrideError::NotAssignment(_))
    ));
    assert!(matches!(
        "a b=1".parse::<Override>(),
        Err(OverrideError::BadKey { .. })
    ));
}

// ---- schedules ---------------------------------------------------------------------------

#[test]
fn schedules_rates_totals_and_intended_times() {
    let constant = Schedule::Constant(300.0);
    assert_eq!(constant.rate_at(secs(59)), 300.0);
    assert_eq!(constant.total_orders(secs(60)), 18_000);
    let times: Vec<Duration> = constant.intended_times(secs(1)).collect();
    assert_eq!(times.len(), 300);
    assert_eq!(times[0], Duration::ZERO);
    assert!((times[150].as_secs_f64() - 0.5).abs() < 1e-9);

    let steps = Schedule::Steps(vec![
        Step {
            lasting: secs(10),
            rate: 100.0,
        },
        Step {
            lasting: secs(20),
            rate: 300.0,
        },
    ]);
    assert_eq!(
        (steps.rate_at(secs(9)), steps.rate_at(secs(10))),
        (100.0, 300.0)
    );
    assert_eq!(steps.total_orders(secs(30)), 1_000 + 6_000);
    assert_eq!(
        steps
            .intended_times(secs(30))
            .filter(|t| *t >= secs(10))
            .count(),
        6_000
    );

    let ramp = Schedule::Ramp {
        from: 50.0,
        to: 400.0,
        over: secs(60),
    };
    assert_eq!(ramp.rate_at(secs(30)), 225.0);
    assert_eq!(ramp.total_orders(secs(60)), 13_500);
    assert_eq!(ramp.intended_times(secs(60)).count(), 13_500);
}

#[test]
fn rngs_are_reproducible_per_stream() {
    let e = one(MINIMAL);
    let draw = |e: &Experiment, stream: &str| -> Vec<u64> {
        let mut r = e.rng(stream);
        (0..4).map(|_| r.random()).collect()
    };
    assert_eq!(draw(&e, "keys"), draw(&e, "keys"));
    assert_ne!(draw(&e, "keys"), draw(&e, "poison"));
    let other = one(&MINIMAL.replace("name = \"m\"", "name = \"m\"\nseed = 1"));
    assert_ne!(draw(&e, "keys"), draw(&other, "keys"));
}

// ---- properties --------------------------------------------------------------------------

/// A diagnostic's line lies within the text (errors at the very end point at the last line).
fn assert_located_within(text: &str, result: &Result<Vec<Experiment>, ExperimentError>) {
    let lines = text.lines().count().max(1);
    match result {
        Ok(experiments) => assert!(!experiments.is_empty()),
        Err(e) => {
            assert!(
                !e.diagnostics().is_empty(),
                "an Invalid error with no diagnostic"
            );
            for d in e.diagnostics() {
                let _ = d.to_string();
                if let Location::File { line, column, .. } = d.location {
                    assert!(
                        (1..=lines).contains(&line),
                        "line {line} of {lines}: {d}\n---\n{text}"
                    );
                    assert!(column >= 1);
                }
            }
        }
    }
}

/// Fragments of experiment files, so random input often gets past the TOML parser.
fn fragments() -> impl Strategy<Value = String> {
    let pieces = vec![
        "name = \"x\"\n",
        "duration = \"1s\"\n",
        "[system]\n",
        "backend = \"kafka\"\n",
        "backend = \"redis\"\n",
        "[workload]\n",
        "rate = 5\n",
        "[[faults]]\n",
        "at = \"0s\"\n",
        "for = \"1s\"\n",
        "kind = \"kill\"\n",
        "kind = \"latency\"\n",
        "target = \"kafka-1\"\n",
        "target = \"payment#0\"\n",
        "[matrix]\n",
        "brokers = [1, 3]\n",
        "[thresholds]\n",
        "a = \"< 1\"\n",
        "schedule = [{ for = \"1s\", rate = 0 }]\n",
        "ramp = { from = 0, to = 1 }\n",
        "=",
        "\"",
        "[",
        "]",
        "{",
        "}",
        "\n",
        "#",
        "1e999",
        "-",
        "é",
    ];
    prop::collection::vec(prop::sample::select(pieces), 0..30).prop_map(|p| p.concat())
}

#[derive(Debug, Clone)]
enum Mutation {
    DeleteLine(usize),
    DuplicateLine(usize),
    ReplaceValue(usize, String),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<usize>().prop_map(Mutation::DeleteLine),
        any::<usize>().prop_map(Mutation::DuplicateLine),
        (any::<usize>(), "[ -~]{0,12}").prop_map(|(i, s)| Mutation::ReplaceValue(i, s)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(text: &str, mutation: &Mutation) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    match mutation {
        Mutation::DeleteLine(i) => {
            lines.remove(i % lines.len());
        }
        Mutation::DuplicateLine(i) => {
            let line = lines[i % lines.len()].clone();
            lines.insert(i % lines.len(), line);
        }
        Mutation::ReplaceValue(i, value) => {
            let with_values: Vec<usize> = (0..lines.len())
                .filter(|n| lines[*n].contains(" = "))
                .collect();
            if with_values.is_empty() {
                return text.to_owned();
            }
            let n = with_values[i % with_values.len()];
            let key = lines[n].split(" = ").next().unwrap_or_default().to_owned();
            lines[n] = format!("{key} = {value}");
        }
        Mutation::Truncate(i) => {
            let mut end = i % (text.len() + 1);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            return text[..end].to_owned();
        }
    }
    lines.join("\n") + "\n"
}

fn schedule_and_duration() -> impl Strategy<Value = (Schedule, Duration)> {
    let duration = (1u64..15_000).prop_map(Duration::from_millis);
    let steps = prop::collection::vec((0u64..5_000, 0.0f64..800.0), 1..6).prop_map(|steps| {
        Schedule::Steps(
            steps
                .into_iter()
                .map(|(ms, rate)| Step {
                    lasting: Duration::from_millis(ms),
                    rate,
                })
                .collect(),
        )
    });
    (
        duration,
        prop_oneof![
            (0.01f64..1_500.0).prop_map(Schedule::Constant),
            steps,
            (0.0f64..800.0, 0.0f64..800.0, 1u64..15_000).prop_map(|(from, to, over)| {
                Schedule::Ramp {
                    from,
                    to,
                    over: Duration::from_millis(over),
                }
            }),
        ],
    )
        .prop_map(|(duration, schedule)| (schedule, duration))
}

/// The step boundaries of a schedule within `[0, duration)`, as windows.
fn windows(schedule: &Schedule, duration: Duration) -> Vec<(Duration, Duration)> {
    let mut cuts = vec![Duration::ZERO];
    match schedule {
        Schedule::Steps(steps) => {
            let mut t = Duration::ZERO;
            for step in steps {
                t += step.lasting;
                cuts.push(t.min(duration));
            }
        }
        Schedule::Ramp { over, .. } => cuts.push((*over).min(duration)),
        Schedule::Constant(_) => {}
    }
    cuts.push(duration);
    cuts.windows(2)
        .map(|w| (w[0], w[1]))
        .filter(|(a, b)| a < b)
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        let result = load(&text);
        assert_located_within(&text, &result);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = Experiment::from_bytes(&bytes, "x.toml", &[], &|_, _| Ok(()));
    }

    #[test]
    fn fragments_of_experiment_files_never_panic(text in fragments()) {
        let result = load(&text);
        assert_located_within(&text, &result);
    }

    #[test]
    fn mutated_valid_files_parse_or_point_into_the_file(mutations in prop::collection::vec(mutation(), 1..4)) {
        let mut text = FULL.to_owned();
        for m in &mutations {
            if text.lines().count() == 0 { break; }
            text = mutate(&text, m);
        }
        let result = load(&text);
        assert_located_within(&text, &result);
    }

    #[test]
    fn arbitrary_overrides_never_panic(key in "[a-z_.\"0-9]{0,20}", value in "[ -~]{0,20}") {
        if let Ok(o) = format!("{key}={value}").parse::<Override>() {
            let _ = Experiment::from_str(FULL, "x.toml", &[o]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn intended_times_follow_the_schedule((schedule, duration) in schedule_and_duration()) {
        let times: Vec<Duration> = schedule.intended_times(duration).collect();
        prop_assert_eq!(times.len() as u64, schedule.total_orders(duration));
        prop_assert!(times.windows(2).all(|w| w[0] <= w[1]), "not non-decreasing");
        prop_assert!(times.iter().all(|t| *t < duration), "outside the load phase");
        let integral = schedule.integral(duration);
        prop_assert!((times.len() as f64 - integral).abs() <= 1.0 + 1e-6, "{} orders for an integral of {integral}", times.len());
        for (from, to) in windows(&schedule, duration) {
            let sent = times.iter().filter(|t| **t >= from && **t < to).count() as f64;
            let expected = schedule.integral(to) - schedule.integral(from);
            prop_assert!((sent - expected).abs() <= 1.0 + 1e-6, "{sent} orders in {from:?}..{to:?}, expected {expected}");
        }
        prop_assert!(schedule.rate_at(duration / 2) >= 0.0);
    }
}
