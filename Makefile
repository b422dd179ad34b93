# The two commands of the README:
#   make quickstart   install what is missing, build, run the quick-start, print where results are
#   make test         install what is missing, fmt check, clippy -D warnings, every test,
#                     then the performance and correctness gate (make gate, docs/ci.md)
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: install build quickstart test fmt lint unit-test clean-lab gate

install:
	@bash lab/install

build: install
	$(CARGO) build --release -p harness -p order-platform

# The quick-start experiment: lab, platform, load, a latency fault, the check; prints
# the summary and where the results are (runs/quickstart/latest).
quickstart: build
	./target/release/harness run experiments/quickstart.toml

fmt:
	$(CARGO) fmt --all --check

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

test: install fmt lint
	$(CARGO) test --workspace --no-fail-fast
	@$(MAKE) --no-print-directory gate

# The project gates itself (docs/ci.md): experiments/ci-gate.toml, three trials, against
# baselines/ci.json, with the debug build the tests use (the baseline was recorded with
# it). Exit 1 or 3 first runs three more trials and gates all six, so a burst of load
# from elsewhere on this shared machine cannot fail CI alone: a lost order or a failed
# threshold stays a failure (correctness is absolute, in any trial), a regression must
# hold over the six. Still inconclusive then is a warning, or a failure with GATE_STRICT=1.
# The tolerances come from the spread measured on this 2-core machine (docs/ci.md).
GATE_RUNS ?= runs/ci
GATE_TOLERANCES ?= --tolerance latency=100 --tolerance lag.max=100 --tolerance recovery.max=100 --tolerance drain.max=150
GATE_STRICT ?= 0
HARNESS_DEBUG := ./target/debug/harness

gate: install
	$(CARGO) build -q -p harness -p order-platform
	$(if $(GATE_RUNS),,$(error GATE_RUNS is empty))
	@set -u; \
	trials() { \
		$(HARNESS_DEBUG) run experiments/ci-gate.toml --repeat 3 --quiet --runs "$$1" > "$$1.log" 2>&1; \
		rc=$$?; if [ $$rc -eq 2 ] || [ $$rc -gt 3 ]; then cat "$$1.log"; echo "gate: harness run failed (exit $$rc)"; exit $$rc; fi; \
	}; \
	mkdir -p $(GATE_RUNS); rm -rf $(GATE_RUNS)/first $(GATE_RUNS)/more; \
	trials $(GATE_RUNS)/first; \
	$(HARNESS_DEBUG) gate $(GATE_RUNS)/first/ci-gate/latest --baseline baselines/ci.json $(GATE_TOLERANCES); \
	rc=$$?; \
	if [ $$rc -eq 1 ] || [ $$rc -eq 3 ]; then \
		echo "gate: exit $$rc on three trials; three more trials, then the gate over all six"; \
		trials $(GATE_RUNS)/more; \
		$(HARNESS_DEBUG) gate $(GATE_RUNS)/first/ci-gate/latest $(GATE_RUNS)/more/ci-gate/latest --baseline baselines/ci.json $(GATE_TOLERANCES); \
		rc=$$?; \
	fi; \
	if [ $$rc -eq 3 ] && [ "$(GATE_STRICT)" != 1 ]; then \
		echo "gate: WARNING: still inconclusive after six trials (the machine is too noisy to decide); correctness held; not failing (GATE_STRICT=1 fails)"; \
		rc=0; \
	fi; \
	exit $$rc

# Stops a lab left up by `harness lab up` and deletes its data.
clean-lab:
	-$(CARGO) run -q -p harness -- lab down
