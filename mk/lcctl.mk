# mk/lcctl.mk - lcctl, the operator CLI (tools/lcctl): info, verify,
# recover, checkpoint, dump, bench on a database; replica restore, ls,
# verify, status. Included by the top-level
# Makefile; every path below is absolute, so the targets work from the
# repository root (or anywhere, with make -f).
#
#   make lcctl           build build/bin/lcctl (release)
#   make lcctl-test      its tests: the built binary on healthy, torn and
#                        corrupted databases (a few seconds)
#   make lcctl-install   PREFIX=/usr/local (and DESTDIR): $(PREFIX)/bin/lcctl

LCCTL_REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)

CARGO ?= cargo
PREFIX ?= /usr/local
DESTDIR ?=

# Cargo's target directory: $(CARGO_TARGET_DIR) if set, else target/.
LCCTL_TARGET_DIR := $(abspath $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(LCCTL_REPO)/target))
LCCTL_BIN := $(LCCTL_REPO)/build/bin/lcctl

.PHONY: lcctl lcctl-test lcctl-install

lcctl:
	$(CARGO) build --release --manifest-path $(LCCTL_REPO)/Cargo.toml -p lcctl
	install -d $(LCCTL_REPO)/build/bin
	install -m 0755 $(LCCTL_TARGET_DIR)/release/lcctl $(LCCTL_BIN)

lcctl-test:
	$(CARGO) test --release --manifest-path $(LCCTL_REPO)/Cargo.toml -p lcctl

lcctl-install: lcctl
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(LCCTL_BIN) $(DESTDIR)$(PREFIX)/bin/lcctl
	@echo "installed lcctl into $(DESTDIR)$(PREFIX)/bin"
