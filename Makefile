# Switchyard's entry points: install the C libraries, build, test, run the demo, run benchmarks.
# `make help` lists the targets. CI runs `make test` (see .ci/run).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
SWIFT ?= swift
BIN := .build/release/switchyard

# Debian -dev packages the C modules build against (one C library per layer; see README "Layout").
BUILD_DEPS := libev-dev libnghttp2-dev libssl-dev libc-ares-dev libxxhash-dev libyaml-dev
# Test-only: http-parser is the oracle of the differential HTTP/1.1 codec test.
TEST_DEPS := libhttp-parser-dev
# Tools of the interop test: curl drives the error and SSE checks, a venv holds the OpenAI client.
INTEROP_DEPS := curl python3-venv
# Benchmark-only: the baseline server, the reference proxy and the load generator.
BENCH_DEPS := nginx-light nghttp2-proxy wrk

.PHONY: help deps interop-deps bench-deps build test unit-test interop-test demo bench-overhead bench-routing clean

# help: list the targets with what they do.
help:
	@echo "make deps           check the Debian -dev packages; install them when root, else print the command"
	@echo "make build          deps, then the release binary at $(BIN)"
	@echo "make test           deps, build, swift test, then the interop tests in Tests/interop"
	@echo "make unit-test      swift test only;  make interop-test: the interop tests only (needs the build)"
	@echo "make demo           deps, build, then '$(BIN) demo'"
	@echo "make bench-overhead proxy overhead against nginx direct and nghttpx (benchmarks/overhead)"
	@echo "make bench-routing  routing policies vs sglang-router cache_aware on simulated replicas (benchmarks/routing)"
	@echo "make bench-deps     install what the benchmarks need (nginx-light, nghttpx, wrk)"
	@echo "make clean          remove .build and benchmark output"

# deps: every C library the package builds against, plus the test-only http-parser oracle.
deps:
	scripts/deps.sh $(BUILD_DEPS) $(TEST_DEPS)

# interop-deps: curl and python3-venv for Tests/interop/run.sh.
interop-deps:
	scripts/deps.sh $(INTEROP_DEPS)

# bench-deps: the programs benchmarks/ compares against (benchmarks/overhead/run.sh also does this itself).
bench-deps:
	scripts/deps.sh $(BENCH_DEPS)

# build: the optimised binary the demo, the interop tests and the benchmarks run.
build: deps
	$(SWIFT) build -c release

# unit-test: the SwiftPM test targets (debug build; separate from the release build above).
# Not --parallel: measured on 2 cores (when the suite had 94 tests), 3.5 s serial vs 3.7 s parallel, and serial output
# reads in order. A fresh clone's `bash .ci/run` (release + debug builds, venv, interop) took 66 s.
unit-test: deps
	$(SWIFT) test

# interop-test: the release binary against the real OpenAI client and curl, on loopback.
interop-test: build interop-deps
	Tests/interop/run.sh

# test: everything CI runs — unit tests first (fast failures), then the end-to-end interop tests.
test: deps build unit-test interop-test

# demo: simulated replicas, the router and a short bench on this machine, with one report.
demo: deps build
	$(BIN) demo

# bench-overhead: req/s and latency of nginx direct vs through nghttpx vs through switchyard;
# appends the figures to benchmarks/RESULTS.md.
bench-overhead: build
	benchmarks/overhead/run.sh

# bench-routing: prefix-cache hit rate, TTFT and load balance of each routing policy on 4 simulated
# replicas, against sglang-router's cache_aware (installed into .build/routing-venv); appends the tables
# to benchmarks/RESULTS.md.
bench-routing: build
	benchmarks/routing/run.sh

# clean: remove build products (including the interop venv under .build) and benchmark output.
clean:
	rm -rf .build benchmarks/out
