# Custos: `make run` starts a development daemon, `make test` runs every test.
# Both install what they need (Debian packages, Python packages) when it is missing.
SHELL := /bin/bash
.DEFAULT_GOAL := run

APT_PACKAGES := libssl-dev libsqlite3-dev libargon2-dev protobuf-compiler pkg-config
# Only the tests need these: headless Chromium renders the compliance report; PostgreSQL serves the
# store tests and the multi-node tests (a throwaway cluster, scripts/test-postgres.sh).
TEST_APT_PACKAGES := chromium postgresql
PY_MODULES := grpc grpc_tools grpc_health cryptography cedarpy jwt
PY_PACKAGES := grpcio grpcio-tools grpcio-health-checking cryptography cedarpy PyJWT

CONFIG ?= debug
BIN := $(shell pwd)/.build/$(CONFIG)
LISTEN ?= 127.0.0.1:7443
HTTP_LISTEN ?= 127.0.0.1:7080

.PHONY: run run-cluster test deps test-deps py-deps build build-tests unit-tests policy-tests interop-tests check-generated generate clean bench fuzz fuzz-build fuzz-smoke

deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

test-deps:
	@missing=""; for p in $(TEST_APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing test packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

py-deps:
	@python3 -c "import $(subst $(space),$(comma),$(PY_MODULES))" 2>/dev/null || \
	  { echo "installing Python test packages: $(PY_PACKAGES)"; python3 -m pip install --quiet $(PY_PACKAGES); }

empty :=
space := $(empty) $(empty)
comma := ,

build: deps
	swift build -c $(CONFIG) --product custosd
	swift build -c $(CONFIG) --product custos

run: build
	@scripts/dev-run.sh "$(BIN)" "$(LISTEN)" "$(HTTP_LISTEN)"

# Three nodes on a throwaway PostgreSQL, for trying the multi-node mode locally.
run-cluster: build test-deps
	@scripts/run-cluster.sh "$(BIN)"

build-tests: deps
	swift build --build-tests

check-generated: deps
	scripts/generate-protos.sh --check

generate: deps
	scripts/generate-protos.sh

# The tests' PostgreSQL server is started once for the whole run and stopped after it, passed or failed.
unit-tests: build-tests test-deps
	@url=$$(scripts/test-postgres.sh start) && trap 'scripts/test-postgres.sh stop' EXIT && \
	  CUSTOS_TEST_POSTGRES_URL=$$url swift test --skip-build

interop-tests: build-tests py-deps test-deps
	python3 Tests/Interop/run_interop.py --bin .build/debug
	python3 Tests/Interop/run_tokens.py --bin .build/debug
	python3 Tests/Interop/run_tls.py --bin .build/debug
	python3 Tests/Interop/run_reports.py --bin .build/debug
	python3 Tests/Interop/run_retries.py --bin .build/debug
	python3 Tests/Interop/run_witness.py --bin .build/debug
	python3 Tests/Interop/differential_cedarpy.py --bin .build/debug
	python3 Tests/Interop/differential_validation.py --bin .build/debug

policy-tests: build-tests
	.build/debug/custos policy validate policies
	.build/debug/custos policy test policies/tests.json --policies policies
	.build/debug/custos policy test policies/tests.yaml --policies policies

# libFuzzer with AddressSanitizer over every parser and verifier that takes untrusted bytes
# (Sources/CustosFuzzTargets). `make fuzz` runs each target FUZZ_SECONDS (or FUZZ_RUNS inputs, e.g.
# FUZZ_RUNS=10000000); `make test` runs each for FUZZ_SMOKE_SECONDS. A crash, leak or hang fails and
# leaves the input in Fuzz/crashes/; copied into Fuzz/regressions/<target>/ it is replayed by the tests.
# FUZZ_MERGE=1 merges what a run reached that the committed corpus does not into Fuzz/corpus/<target>/.
FUZZ_SECONDS ?= 300
FUZZ_SMOKE_SECONDS ?= 5
FUZZ_BUDGET = $(if $(FUZZ_RUNS),-runs $(FUZZ_RUNS),-seconds $(FUZZ_SECONDS))
FUZZ_BIN := .build-fuzz/release/custos-fuzz

fuzz-build: deps
	swift build -c release --build-path .build-fuzz --product custos-fuzz \
	  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xswiftc -DCUSTOS_LIBFUZZER

fuzz: fuzz-build build-tests
	scripts/fuzz.sh $(FUZZ_BIN) .build/debug/custos-fuzz $(FUZZ_BUDGET) $(FUZZ_TARGETS)

fuzz-smoke: fuzz-build build-tests
	scripts/fuzz.sh $(FUZZ_BIN) .build/debug/custos-fuzz -seconds $(FUZZ_SMOKE_SECONDS)

test: check-generated unit-tests policy-tests interop-tests fuzz-smoke

bench: deps
	cd Benchmarks && swift package --allow-writing-to-package-directory benchmark

clean:
	rm -rf .build .build-codegen .build-fuzz data
