# jwtgate: `make run` starts the demo, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
WASM_TARGET := wasm32-wasip1
WASM := target/$(WASM_TARGET)/release/jwtgate.wasm
CLI := target/release/jwtgate
OCI_DIR ?= target/oci
OCI_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
VENV ?= $(CURDIR)/.venv
CARGO_BUILD_JOBS ?= 2
export CARGO_BUILD_JOBS

.PHONY: all build cli target venv test test-unit test-e2e check run bench clean oci skopeo fuzz

all: build

target:
	@rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

## build: the release filter (.wasm)
build: target
	cargo build --release --target $(WASM_TARGET) --lib --no-default-features
	@ls -l $(WASM) | awk '{print "built " $$9 " (" $$5 " bytes)"}'

## cli: the native jwtgate command (check, config validate, demo-idp, demo-echo)
cli:
	cargo build --release --bin jwtgate

venv:
	@VENV=$(VENV) scripts/venv.sh

## oci: the release .wasm as an OCI image layout in target/oci (Istio/Envoy Gateway oci://), no Docker
oci: build
	python3 scripts/oci.py --wasm $(WASM) --out $(OCI_DIR) --tag $(OCI_TAG)
	@mkdir -p target/oci-build && cp $(WASM) target/oci-build/plugin.wasm

## skopeo: tests/deploy needs skopeo; installed from Debian when missing and running as root (CI)
skopeo:
	@command -v skopeo >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq skopeo; \
	  else echo "skopeo is missing (tests/deploy/test_oci.py needs it): apt-get install skopeo" >&2; exit 1; fi; }

## test: formatting and lints, unit and conformance tests natively, then the filter in real Envoy
test: check build test-unit test-e2e

test-unit:
	cargo test --all-targets

# tests/deploy validates the shipped manifests with the CLI and reads the OCI layout with skopeo
test-e2e: build cli venv oci skopeo
	JWTGATE_WASM=$(CURDIR)/$(WASM) JWTGATE_CLI=$(CURDIR)/$(CLI) JWTGATE_OCI=$(CURDIR)/$(OCI_DIR) JWTGATE_OCI_TAG=$(OCI_TAG) \
	  $(VENV)/bin/python -m pytest tests/docs tests/e2e tests/deploy -q -p no:cacheprovider

## check: formatting and lints, natively and for wasm
check: target
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --release --target $(WASM_TARGET) --lib --no-default-features -- -D warnings

## run: Envoy + the filter + demo identity provider + echo upstream, with example requests
run: build cli
	@VENV=$(VENV) scripts/run.sh

## bench: throughput against native jwt_authn (writes bench/RESULTS.md)
bench: build cli venv
	@VENV=$(VENV) bench/run.sh

## fuzz: every fuzz target (fuzz/) for FUZZ_SECONDS each (default 60), outside CI; reports executions
fuzz:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} scripts/fuzz.sh

clean:
	cargo clean
