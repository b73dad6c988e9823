# mk/replica.mk - replication against real S3 servers. Included by the
# top-level Makefile; every path below is absolute.
#
#   make replica-tools  install the pinned servers into build/replica:
#                       moto's S3 server (PyPI, in a venv of the python3 on
#                       PATH) and s3s-fs (crates.io, cargo install --locked)
#   make replica-test   start them on free loopback ports (mk/replica.sh)
#                       and run tests/replica_s3.rs against them: round
#                       trip, racing writers, the probe behind a proxy that
#                       strips conditions, lost answers, a stopped server,
#                       a server killed mid-upload and restarted; and
#                       tests/follow_procs.rs: followers in their own
#                       processes, failover by promotion, a follower
#                       killed inside a chunk
#   make replica-bench  lag under a one-committer workload and restore
#                       speed, moto and file:// (tests/replica_s3_bench.rs)
#
# A server that cannot be installed is skipped with a message (its tests
# print SKIP and why); one that is installed must answer, and every test
# that has its server must print its counts, or the target fails.

RP_REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)

CARGO ?= cargo
PYTHON3 ?= python3
RP_B := $(RP_REPO)/build/replica
RP_MOTO_VERSION := 5.2.6
# 0.14.1 is the newest s3s-fs whose rust-version (1.92) this toolchain
# meets; 0.15 and later need 1.96.
RP_S3S_FS_VERSION := 0.14.1
# The rust-test build (same profile and environment), not a second one.
RP_CARGO_TEST := env LIBCOMMIT_OPTIMIZED=1 $(CARGO) test --profile ci --manifest-path $(RP_REPO)/Cargo.toml -p libcommit

.PHONY: replica-tools replica-test replica-bench replica-clean

replica-tools:
	@mkdir -p $(RP_B)
	@if ! $(RP_B)/venv/bin/python -c 'import moto, sys; sys.exit(moto.__version__ != "$(RP_MOTO_VERSION)")' 2>/dev/null; then \
	  echo "installing moto[server]==$(RP_MOTO_VERSION) into $(RP_B)/venv"; \
	  rm -rf $(RP_B)/venv; \
	  { $(PYTHON3) -m venv $(RP_B)/venv && \
	    $(RP_B)/venv/bin/python -m pip --disable-pip-version-check install --quiet 'moto[server]==$(RP_MOTO_VERSION)'; } || \
	  { echo "replica-tools: could not install moto[server]==$(RP_MOTO_VERSION) from PyPI"; rm -rf $(RP_B)/venv; }; \
	fi
	@if ! $(RP_B)/tools/bin/s3s-fs --version 2>/dev/null | grep -q ' $(RP_S3S_FS_VERSION)$$'; then \
	  echo "installing s3s-fs $(RP_S3S_FS_VERSION) into $(RP_B)/tools"; \
	  nice -n 10 $(CARGO) install --locked --quiet --force --version $(RP_S3S_FS_VERSION) --features binary \
	    --root $(RP_B)/tools s3s-fs || \
	  echo "replica-tools: could not install s3s-fs $(RP_S3S_FS_VERSION) from crates.io"; \
	fi

replica-test: replica-tools
	@set -o pipefail; bash $(RP_REPO)/mk/replica.sh $(RP_B) \
	  $(RP_CARGO_TEST) --test replica_s3 --test follow_procs -- --test-threads=1 --nocapture 2>&1 | tee $(RP_B)/test.log
	@bash $(RP_REPO)/mk/replica-check.sh $(RP_B)/test.log

replica-bench: replica-tools
	@set -o pipefail; bash $(RP_REPO)/mk/replica.sh $(RP_B) \
	  $(CARGO) test --release --manifest-path $(RP_REPO)/Cargo.toml -p libcommit --test replica_s3_bench -- --ignored --test-threads=1 --nocapture 2>&1 | tee $(RP_B)/bench.log
	@grep -o 'replica_bench: .*' $(RP_B)/bench.log

replica-clean:
	rm -rf $(RP_B)
