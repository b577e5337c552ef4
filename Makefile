# jwtgate: `make run` starts the demo, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
WASM_TARGET := wasm32-wasip1
WASM := target/$(WASM_TARGET)/release/jwtgate.wasm
CLI := target/release/jwtgate
OCI_DIR ?= target/oci
OCI_TAG ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
VENV ?= $(CURDIR)/.venv
OIDC_DIR := tests/e2e/oidc
CARGO_BUILD_JOBS ?= 2
export CARGO_BUILD_JOBS

.PHONY: all build build-scalar fmt cli test-wasm target venv oidc test test-unit test-e2e test-ngx test-ngx-run test-rules check run bench soak clean oci skopeo promtool fuzz mutants

all: build

target:
	@rustup target list --installed 2>/dev/null | grep -qx $(WASM_TARGET) || rustup target add $(WASM_TARGET)

## build: the release filter (.wasm)
build: target
	cargo build --release --target $(WASM_TARGET) --lib --no-default-features
	@ls -l $(WASM) | awk '{print "built " $$9 " (" $$5 " bytes)"}'

## build-scalar: the filter without wasm SIMD (for a host that lacks it), in target/scalar
build-scalar: target
	RUSTFLAGS="-C target-feature=-simd128" CARGO_TARGET_DIR=target/scalar cargo build --release --target $(WASM_TARGET) --lib --no-default-features
	@ls -l target/scalar/$(WASM_TARGET)/release/jwtgate.wasm | awk '{print "built " $$9 " (" $$5 " bytes)"}'

# Every Rust file by name: `cargo fmt` does not reach the modules that src/lib.rs declares
# inside its `internal!` macro.
RS_FILES = $(shell find src tests examples -name '*.rs')

## fmt: format every Rust file
fmt:
	cargo fmt --all
	rustfmt --edition 2021 $(RS_FILES)

## cli: the native jwtgate command (check, config validate, demo-idp, demo-echo)
cli:
	cargo build --release --bin jwtgate

venv:
	@VENV=$(VENV) scripts/venv.sh

## oidc: the real OpenID provider (npm oidc-provider) of tests/e2e/test_oidc_provider.py; `npm ci`
## only when node_modules is missing or older than the lockfile (npm ci writes .package-lock.json)
oidc: $(OIDC_DIR)/node_modules/.package-lock.json

$(OIDC_DIR)/node_modules/.package-lock.json: $(OIDC_DIR)/package.json $(OIDC_DIR)/package-lock.json
	@command -v npm >/dev/null || { echo "npm is missing (tests/e2e/test_oidc_provider.py runs oidc-provider on Node.js): install nodejs and npm" >&2; exit 1; }
	npm ci --prefix $(OIDC_DIR) --no-audit --no-fund
	@touch $@

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

## promtool: test-rules needs promtool (Debian package prometheus); installed when missing and
## running as root (CI), else test-rules says it skipped
promtool:
	@command -v promtool >/dev/null || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; \
	  fi; }

## test-rules: the Prometheus alerting rules of deploy/prometheus, checked and unit-tested by promtool
PROM_RULES := deploy/prometheus/jwtgate-alerts.yaml
test-rules: promtool
	@if command -v promtool >/dev/null; then \
	  promtool check rules $(PROM_RULES) && promtool test rules $(PROM_RULES:.yaml=.test.yaml); \
	else echo "test-rules skipped: promtool is missing (apt-get install prometheus)"; fi

## test: formatting and lints, unit and conformance tests natively, the alerting rules, then the
## filter in real Envoy (and in nginx + Kong's ngx_wasm_module when NGX_WASM_NGINX names such an nginx)
test: check build test-unit test-wasm test-rules test-e2e test-ngx

## test-wasm: the signature tests built for wasm32-wasip1 and run in Node's V8 (the engine Envoy
## embeds): the filter's P-256 product uses wasm SIMD there (src/crypto/fast/lanes.rs), so the
## native run of the same tests does not cover the code the filter runs
WASM_TESTS := --test wycheproof --test fast_differential --test fast_edge_cases --test fast_no_panic --test rfc_vectors
WASM_RUN := WASI_PREOPEN=$(CURDIR) CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings $(CURDIR)/bench/verify/node_wasi.mjs"
test-wasm: target
	$(WASM_RUN) cargo test -q --target $(WASM_TARGET) $(WASM_TESTS)
	$(WASM_RUN) cargo test -q --target $(WASM_TARGET) --lib crypto::fast

test-unit:
	cargo test --all-targets

# tests/deploy validates the shipped manifests with the CLI and reads the OCI layout with skopeo;
# tests/e2e/test_oidc_provider.py runs a real OpenID provider (oidc)
test-e2e: build cli venv oci skopeo oidc
	JWTGATE_WASM=$(CURDIR)/$(WASM) JWTGATE_CLI=$(CURDIR)/$(CLI) JWTGATE_OCI=$(CURDIR)/$(OCI_DIR) JWTGATE_OCI_TAG=$(OCI_TAG) \
	  $(VENV)/bin/python -m pytest tests/docs tests/e2e tests/deploy -q -p no:cacheprovider

## test-ngx: the e2e suite in nginx + Kong's ngx_wasm_module: NGX_WASM_NGINX=/path/to/nginx make test-ngx
## (nothing here builds that nginx: it is the user's, e.g. Kong's or one built from ngx_wasm_module's docs)
test-ngx:
ifeq ($(strip $(NGX_WASM_NGINX)),)
	@echo "test-ngx skipped: NGX_WASM_NGINX is not set (the path of an nginx built with Kong's ngx_wasm_module)"
else
	@$(MAKE) --no-print-directory test-ngx-run
endif

test-ngx-run: build cli venv oidc
	JWTGATE_HOST=ngx NGX_WASM_NGINX="$(NGX_WASM_NGINX)" JWTGATE_WASM=$(CURDIR)/$(WASM) JWTGATE_CLI=$(CURDIR)/$(CLI) \
	  $(VENV)/bin/python -m pytest tests/e2e tests/deploy/test_nginx_kong.py -q -p no:cacheprovider

## check: formatting and lints, natively and for wasm
check: target
	cargo fmt --all -- --check
	rustfmt --edition 2021 --check $(RS_FILES)
	cargo clippy --all-targets -- -D warnings
	cargo clippy --release --target $(WASM_TARGET) --lib --no-default-features -- -D warnings

## run: Envoy + the filter + demo identity provider + echo upstream, with example requests
run: build cli
	@VENV=$(VENV) scripts/run.sh

## soak: the trust soak (mixed tokens, two providers, rotation, outage, reset storm); SOAK_SECONDS=600
soak: build venv
	JWTGATE_WASM=$(CURDIR)/$(WASM) $(VENV)/bin/python tests/soak/soak.py

## mutants: mutation testing of the host-free core with cargo-mutants (bounded, outside CI);
## MUTANTS_FILES to narrow it, e.g. MUTANTS_FILES='src/jwks_cache/doc.rs'
MUTANTS_FILES ?= src/jwks_cache/*.rs src/gate.rs src/verifier.rs src/authenticator.rs src/claims.rs src/extract.rs src/matcher.rs src/path.rs src/edits.rs src/cache.rs src/outcome.rs src/revocation.rs
mutants:
	@command -v cargo-mutants >/dev/null || cargo install cargo-mutants --locked
	cargo mutants --timeout 120 $(foreach f,$(MUTANTS_FILES),-f '$(f)') --output target/mutants -- --lib --test reasons --test gate_with_key_cache --test paths --test attacks
	@echo "survivors: target/mutants/mutants.out/missed.txt (each is killed by a test or justified in tests/MUTANTS.md)"

## bench: throughput against native jwt_authn (writes bench/RESULTS.md)
bench: build cli venv
	@VENV=$(VENV) bench/run.sh

## fuzz: every fuzz target (fuzz/) for FUZZ_SECONDS each (default 60), outside CI; reports executions
fuzz:
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} scripts/fuzz.sh

clean:
	cargo clean
