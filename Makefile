# libcommit: `make demo` builds everything and runs the quickstarts;
# `make test` runs every check (the one gate CI runs).
#
#   make demo      Rust, C, C++ and Python quickstarts (examples/)
#   make test      fmt, clippy, Rust tests, cargo package and doc, the
#                  README's examples, header/symbol checks, C/C++ tests under
#                  valgrind, build routes from an installed prefix, the
#                  manylinux wheel on two Pythons + stubtest, the sdist
#   make wheel     the Python wheel and sdist (mk/python.mk)
#   make readme    copy the examples' [readme:...] regions into README.md
#   make bench     the benchmark harness (benches/), and SQLite on libcommit
#   make sqlite    SQLite on libcommit (bindings/sqlite, mk/sqlite.mk)
#   make replica-test  replication against S3 servers (moto, s3s-fs; mk/replica.mk)
#   make install   PREFIX=/usr/local: libraries, headers, libcommit.pc, the
#                  CMake package, lcctl
#
# A fresh machine needs only the Rust toolchain, gcc, make, valgrind and
# python3 with pip; the fragments in mk/ install the rest, pinned.

CARGO ?= cargo
SHELL := /bin/bash
export CARGO_TERM_COLOR ?= never

.PHONY: all demo test rust-demo rust-test rust-package fmt-check clippy readme readme-check bench clean

all: demo

demo: rust-demo c-demo py-demo

rust-demo:
	$(CARGO) run --release --example quickstart
	$(CARGO) run --release --example replica

test: fmt-check clippy readme-check rust-test rust-package lcctl-test c-test c-routes py-test sqlite-test replica-test
	@echo "make test: all suites passed"

readme:
	python3 mk/readme.py --write README.md

readme-check:
	python3 mk/readme.py --check README.md

# The crate as crates.io would take it: `cargo package` builds the packaged
# sources on their own, and the docs build without a warning. Every public
# item is documented: lib.rs warns on missing docs, and clippy runs with
# -D warnings; the examples run as doc tests in rust-test.
rust-package:
	$(CARGO) package -p libcommit --allow-dirty --quiet
	@echo "cargo package: $$(ls $${CARGO_TARGET_DIR:-target}/package/libcommit-*.crate) builds on its own"
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc -p libcommit --no-deps --quiet
	@echo "cargo doc: no warnings, every public item documented"

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
include mk/replica.mk
-include mk/bench.mk

# `make install` (mk/c.mk) installs lcctl beside the libraries.
install: lcctl-install

clean:
	$(CARGO) clean
	rm -rf build
