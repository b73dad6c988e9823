# mk/bench.mk - the benchmark harness: benches/bench/*.c runs the same
# workloads on libcommit (through its C ABI, linked statically), SQLite,
# LMDB and RocksDB (their Debian dev packages, pinned and installed here on
# first use) and the raw disk, then prints the tables and the targets.
# W5 runs benches/w5_python.py with the package in build/venv.
# Included by the top-level Makefile; every path below is absolute, so the
# targets work from the repository root (or anywhere, with make -f).
#
#   make bench                the full run (about 6 minutes on 2 cores)
#   make bench QUICK=1        shorter points, 128 MiB W3 (under 2 minutes)
#   make bench-build          only build build/bench/bench
#
# Selection, as make variables or in the environment:
#   BENCH_WORKLOADS=w1,w2,w3,w4,w5    which workloads (default all)
#   BENCH_ENGINES=libcommit,sqlite-full,sqlite-normal,lmdb,rocksdb
#   BENCH_THREADS=1,2,4,8,16,32,64    W1 thread counts
#   BENCH_SECS=3                      W1 seconds per point (QUICK: 0.4)
#   BENCH_W3_MIB=512                  log written before the SIGKILL in W3 (QUICK: 128)
#   BENCH_DIR=...                     scratch directory (default build/bench/data)
#   BENCH_LC_MODE=native              libcommit's NATIVE commit mode
#   BENCH_PY_INSTALL=0                use build/venv as it is (no rebuild)
#   BENCH_SCALE=32MiB,1GiB,16GiB      then every engine on a database preloaded to each
#                                     size (benches/bench/scale.c); BENCH_WORKLOADS=none: only these
#   diagnostics: BENCH_NO_RAW=1, BENCH_W1_PAGES=1|8, BENCH_LC_CKPT_MIB,
#   BENCH_LC_SEGMENT_MIB, BENCH_LC_LANES, BENCH_RG_PAD, BENCH_RG_ORDERED=1,
#   BENCH_BLOCK_STAT=vda, BENCH_DUMP_LAT=file
#   (see benches/bench/main.c)

BENCH_REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)

CARGO ?= cargo
BENCH_CC ?= cc
BENCH_BUILD := $(BENCH_REPO)/build/bench
BENCH_BIN := $(BENCH_BUILD)/bench
BENCH_DIR ?= $(BENCH_BUILD)/data
BENCH_PYTHON := $(BENCH_REPO)/build/venv/bin/python
BENCH_PY_INSTALL ?= 1

# The peers, pinned to the versions `apt-cache policy` shows on Debian 12.
BENCH_DEBS := libsqlite3-dev=3.40.1-2+deb12u2 liblmdb-dev=0.9.24-1 librocksdb-dev=7.8.3-2

# Cargo's target directory, as in mk/c.mk. The harness links libcommit.a
# from there (statically: rebuilding build/lib while a run is under way
# cannot touch it), plus what it needs (C_STATIC_LIBS in mk/c.mk).
BENCH_TARGET_DIR := $(abspath $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(BENCH_REPO)/target))
BENCH_LIBS := $(BENCH_TARGET_DIR)/release/libcommit.a -lpthread -ldl -lm -lrt -lutil \
  -lsqlite3 -llmdb -lrocksdb

.PHONY: bench bench-deps bench-build bench-py

# Installs the pinned dev packages that are missing or at another version.
bench-deps:
	@missing=; for p in $(BENCH_DEBS); do \
	  n=$${p%%=*}; v=$${p#*=}; \
	  [ "$$(dpkg-query -W -f='$${Version}' $$n 2>/dev/null)" = "$$v" ] || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  apt-get update -qq && apt-get install -y -qq $$missing; \
	fi

bench-build: bench-deps
	$(CARGO) build --release --manifest-path $(BENCH_REPO)/Cargo.toml -p libcommit-c
	mkdir -p $(BENCH_BUILD)
	$(BENCH_CC) -std=c11 -O2 -g -Wall -Wextra -Werror -I$(BENCH_REPO)/include \
	  -DROCKSDB_VERSION_STR='"'"$$(dpkg-query -W -f='$${Version}' librocksdb-dev)"'"' \
	  $(BENCH_REPO)/benches/bench/*.c -o $(BENCH_BIN) $(BENCH_LIBS)

# The Python package for W5, built from this tree into build/venv when W5
# runs and the installed one is older than any source it is built from.
BENCH_PY_SOURCES := $(BENCH_REPO)/src $(BENCH_REPO)/bindings/python $(BENCH_REPO)/python \
  $(BENCH_REPO)/Cargo.toml $(BENCH_REPO)/Cargo.lock $(BENCH_REPO)/pyproject.toml

bench-py:
	@if [ "$(BENCH_PY_INSTALL)" = 1 ] && { [ -z "$(BENCH_WORKLOADS)" ] || echo "$(BENCH_WORKLOADS)" | grep -qi w5; }; then \
	  so=$$(ls $(BENCH_REPO)/build/venv/lib/python3*/site-packages/libcommit/_native*.so 2>/dev/null | head -n1); \
	  if [ -n "$$so" ] && [ -z "$$(find $(BENCH_PY_SOURCES) -newer $$so -print -quit)" ]; then \
	    echo "build/venv: the libcommit package is up to date"; \
	  else \
	    $(MAKE) --no-print-directory -f $(BENCH_REPO)/mk/python.mk py-install; \
	  fi; \
	fi

bench: bench-build bench-py
	@echo "== machine: $$(nproc) CPUs ($$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)), \
	$$(awk '/MemTotal/ {printf "%.1f GiB", $$2/1048576}' /proc/meminfo) RAM, kernel $$(uname -r)"
	@mkdir -p $(BENCH_DIR) && df -hT $(BENCH_DIR) | tail -n1 | \
	  awk '{print "== disk: " $$1 " (" $$2 "), " $$3 " total, " $$5 " free, for " "$(BENCH_DIR)"}'
	@findmnt -n -o SOURCE,FSTYPE,OPTIONS -T $(BENCH_DIR) | sed 's/^/== mount: /'
	@echo "== load before the run: $$(cut -d' ' -f1-3 /proc/loadavg)"
	@BENCH_QUICK=$(QUICK) BENCH_DIR=$(BENCH_DIR) BENCH_PYTHON=$(BENCH_PYTHON) \
	  BENCH_PY_SCRIPT=$(BENCH_REPO)/benches/w5_python.py $(BENCH_BIN)
	@echo "== load after the run: $$(cut -d' ' -f1-3 /proc/loadavg)"
