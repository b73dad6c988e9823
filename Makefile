# libcommit: `make demo` builds everything and runs the quickstarts;
# `make test` runs every check (the one gate CI runs).
#
#   make demo      Rust, C, C++ and Python quickstarts
#   make test      fmt, clippy, Rust tests, header/symbol checks, C/C++ tests
#                  under valgrind, wheel build + stubtest + pytest
#   make bench     the benchmark harness (benches/), and SQLite on libcommit
#   make sqlite    SQLite on libcommit (bindings/sqlite, mk/sqlite.mk)
#   make install   PREFIX=/usr/local: libraries, headers, libcommit.pc, lcctl
#
# A fresh machine needs only the Rust toolchain, gcc, make, valgrind and
# python3 with pip; the fragments in mk/ install the rest, pinned.

CARGO ?= cargo
SHELL := /bin/bash
export CARGO_TERM_COLOR ?= never

.PHONY: all demo test rust-demo rust-test fmt-check clippy bench clean

all: demo

demo: rust-demo c-demo py-demo

rust-demo:
	$(CARGO) run --release --example quickstart

test: fmt-check clippy rust-test lcctl-test c-test py-test sqlite-test
	@echo "make test: all suites passed"

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The ci profile (release with debug assertions and overflow checks): the
# crash and fault suites run thousands of cut points.
# Each suite prints a TOTALS line; the last line here sums them.
rust-test:
	@mkdir -p build
	set -o pipefail; LIBCOMMIT_OPTIMIZED=1 $(CARGO) test --profile ci -p libcommit 2>&1 | tee build/rust-test.log
	@awk '/^TOTALS /{ for (i = 3; i <= NF; i++) { split($$i, kv, "="); sum[kv[1]] += kv[2] } } \
	  END { printf "fault suites: cut_points=%d kills=%d faults_injected=%d flips_tried=%d anomalies=%d\n", \
	  sum["cut_points"], sum["kills"], sum["faults_injected"], sum["flips_tried"], sum["anomalies"]; \
	  printf "many processes: processes=%d commits=%d holder_kills=%d holder_stops=%d reader_kills=%d bank_transfers=%d\n", \
	  sum["mp_processes"], sum["mp_commits"], sum["mp_holder_kills"], sum["mp_stops"], sum["mp_reader_kills"], sum["mp_bank_transfers"]; \
	  printf "compound faults: process_kills=%d kills_while_attached=%d kills_then_open=%d second_kills=%d later_power_losses=%d later_losses_in_boot=%d acked_lost_in_boot=%d crafted_inputs=%d regressions=%d\n", \
	  sum["process_kills"], sum["kills_while_attached"], sum["kills_then_open"], sum["second_kills"], sum["later_power_losses"], sum["later_losses_in_boot"], sum["acked_lost_in_boot"], sum["crafted"], sum["regressions"]; \
	  printf "process faults: pidns_readers=%d pidns_spills=%d forks=%d full_fs=%d reader_counts=%d skipped=%d\n", \
	  sum["mp_pidns_readers"], sum["mp_pidns_spills"], sum["mp_forks"], sum["mp_full_fs"], sum["mp_reader_counts"], sum["skipped"]; \
	  exit (sum["anomalies"] != 0) }' build/rust-test.log

include mk/c.mk
include mk/python.mk
include mk/lcctl.mk
include mk/sqlite.mk
-include mk/bench.mk

# `make install` (mk/c.mk) installs lcctl beside the libraries.
install: lcctl-install

clean:
	$(CARGO) clean
	rm -rf build
