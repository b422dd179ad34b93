# The two commands of the README:
#   make quickstart   install what is missing, build, run the quick-start, print where results are
#   make test         install what is missing, fmt check, clippy -D warnings, every test
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: install build quickstart test fmt lint unit-test clean-lab

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

# Stops a lab left up by `harness lab up` and deletes its data.
clean-lab:
	-$(CARGO) run -q -p harness -- lab down
