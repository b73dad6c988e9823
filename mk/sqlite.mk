# mk/sqlite.mk - SQLite on libcommit (bindings/sqlite): the VFS, SQLite
# built with SQLITE_ENABLE_BATCH_ATOMIC_WRITE around it, its tests and its
# benchmark. Included by the top-level Makefile; every path below is
# absolute, so the targets work from the repository root.
#
#   make sqlite         build/sqlite/: libsqlite3lc.a (SQLite + VFS +
#                       libcommit), sqlite3.h, libcommit_sqlite.so (the
#                       loadable extension) and sqlite3 (the shell, VFS as
#                       default)
#   make sqlite-test    the C tests (valgrind), the kill -9 loop, several
#                       writer processes, the forced fallback, speedtest1
#                       and SQLite's own TCL suite (the gate list) on the VFS
#   make sqlite-tcl     only the TCL gate (SQLITE_TCL_FILES="a.test b.test"
#                       runs those instead; SQLITE_TCL_ALL=1 every file)
#   make sqlite-bench   one-row autocommit transactions: rollback journal,
#                       SQLite WAL and libcommit, 1 and 4 processes
#
# Parts are pinned (bindings/sqlite/fetch.sh): the amalgamation from the
# libsqlite3-sys crate, SQLite's full source (for testfixture, the shell and
# speedtest1) from the Debian source package. A part that cannot be had is
# skipped with a message; nothing else is ever skipped.

SQ_REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)

CARGO ?= cargo
SQ_CC ?= cc
SQ_NICE ?= nice -n 10
SQ_SRC := $(SQ_REPO)/bindings/sqlite
SQ_B := $(SQ_REPO)/build/sqlite
SQ_DL := $(SQ_B)/dl
SQ_OBJ := $(SQ_B)/obj
SQ_TARGET_DIR := $(abspath $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(SQ_REPO)/target))
SQ_LIBCOMMIT_A := $(SQ_TARGET_DIR)/release/libcommit.a
SQ_LIBS := -lpthread -ldl -lm -lrt -lutil
# tcl-dev for testfixture, pinned to the version `apt-cache policy` shows on Debian 12.
SQ_TCL_DEB := tcl8.6-dev=8.6.13+dfsg-2

# SQLite as shipped in libsqlite3lc.a: batch-atomic writes are what the
# VFS is for; the rest are the options SQLite recommends for new builds.
SQ_DEFS := -DSQLITE_ENABLE_BATCH_ATOMIC_WRITE -DSQLITE_THREADSAFE=1 -DSQLITE_DEFAULT_MEMSTATUS=0 \
  -DSQLITE_ENABLE_DBSTAT_VTAB -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_MATH_FUNCTIONS
SQ_WARN := -std=c11 -Wall -Wextra -Werror -g

.PHONY: sqlite sqlite-lib sqlite-tools sqlite-test sqlite-tcl sqlite-bench sqlite-clean

sqlite: sqlite-lib sqlite-tools

sqlite-lib: c-lib $(SQ_B)/libsqlite3lc.a $(SQ_B)/sqlite3.h $(SQ_B)/libcommit_sqlite.so

$(SQ_DL)/sqlite3.c:
	CARGO=$(CARGO) bash $(SQ_SRC)/fetch.sh amalgamation $(SQ_DL)

$(SQ_B)/sqlite3.h: $(SQ_DL)/sqlite3.c
	cp -f $(SQ_DL)/sqlite3.h $@

$(SQ_OBJ)/sqlite3.o: $(SQ_DL)/sqlite3.c
	mkdir -p $(SQ_OBJ)
	$(SQ_NICE) $(SQ_CC) -O2 -fPIC $(SQ_DEFS) -c $< -o $@

# The VFS's sources (lcs_private.h names each one's part), compiled once
# for the archive and once, against the host's API table, for the extension.
SQ_VFS_SRCS := libcommit_sqlite lcs_io lcs_lock lcs_commit lcs_open
SQ_VFS_DEPS := $(SQ_SRC)/libcommit_sqlite.h $(SQ_SRC)/lcs_private.h $(SQ_B)/sqlite3.h $(SQ_REPO)/include/libcommit.h
SQ_VFS_OBJS := $(SQ_VFS_SRCS:%=$(SQ_OBJ)/%.o)
SQ_EXT_OBJS := $(SQ_VFS_SRCS:%=$(SQ_OBJ)/ext/%.o)

$(SQ_VFS_OBJS): $(SQ_OBJ)/%.o: $(SQ_SRC)/%.c $(SQ_VFS_DEPS)
	mkdir -p $(SQ_OBJ)
	$(SQ_CC) $(SQ_WARN) -O2 -fPIC -I$(SQ_B) -I$(SQ_REPO)/include -I$(SQ_SRC) -c $< -o $@

$(SQ_EXT_OBJS): $(SQ_OBJ)/ext/%.o: $(SQ_SRC)/%.c $(SQ_VFS_DEPS)
	mkdir -p $(SQ_OBJ)/ext
	$(SQ_CC) $(SQ_WARN) -O2 -fPIC -DLIBCOMMIT_SQLITE_EXTENSION -I$(SQ_DL) -I$(SQ_REPO)/include -I$(SQ_SRC) -c $< -o $@

# One archive, so a C program links only it: SQLite, the VFS and the parts
# of libcommit.a they use, partly linked into one object, in which the
# names the VFS's files share (lcs_*) are then made local. ar is given the
# GCC plugin by name: left to pick from bfd-plugins it may take an older
# LLVM's, which cannot read rustc's objects and drops them from the index.
SQ_AR_PLUGIN := $(if $(wildcard /usr/lib/bfd-plugins/liblto_plugin.so),--plugin /usr/lib/bfd-plugins/liblto_plugin.so,)
$(SQ_B)/libsqlite3lc.a: $(SQ_OBJ)/sqlite3.o $(SQ_VFS_OBJS) $(SQ_LIBCOMMIT_A)
	ld -r -o $(SQ_OBJ)/libsqlite3lc.o $(SQ_OBJ)/sqlite3.o $(SQ_VFS_OBJS) $(SQ_LIBCOMMIT_A)
	objcopy -w --localize-symbol='lcs_*' $(SQ_OBJ)/libsqlite3lc.o
	rm -f $@
	ar $(SQ_AR_PLUGIN) rcs $@ $(SQ_OBJ)/libsqlite3lc.o

# The extension exports its entry point only: libcommit inside stays private.
$(SQ_B)/libcommit_sqlite.so: $(SQ_EXT_OBJS) $(SQ_LIBCOMMIT_A) $(SQ_SRC)/extension.map
	$(SQ_CC) -shared -o $@ $(SQ_EXT_OBJS) $(SQ_LIBCOMMIT_A) \
	  -Wl,--version-script=$(SQ_SRC)/extension.map $(SQ_LIBS)

# What the build and test scripts are told (one list each).
SQ_BUILD_ENV = SQ_B=$(SQ_B) SQ_SRC=$(SQ_SRC) SQ_REPO=$(SQ_REPO) SQ_CC="$(SQ_CC)" SQ_NICE="$(SQ_NICE)" \
  SQ_LIBS="$(SQ_LIBS)" SQ_LIBCOMMIT_A=$(SQ_LIBCOMMIT_A) SQ_DEFS="$(SQ_DEFS)" SQ_TCL_DEB=$(SQ_TCL_DEB)
SQ_TEST_ENV = SQ_B=$(SQ_B) SQ_SRC=$(SQ_SRC) SQ_CC="$(SQ_CC)" SQ_LIBS="$(SQ_LIBS)" \
  SQLITE_TCL_FILES="$(SQLITE_TCL_FILES)" SQLITE_TCL_ALL="$(SQLITE_TCL_ALL)"

# The shell, speedtest1 and testfixture need SQLite's full source.
sqlite-tools: sqlite-lib
	@$(SQ_BUILD_ENV) bash $(SQ_SRC)/build-tools.sh shell speedtest1

sqlite-test: sqlite
	@$(SQ_BUILD_ENV) bash $(SQ_SRC)/build-tools.sh testfixture
	@$(SQ_TEST_ENV) bash $(SQ_SRC)/tests/run.sh all

sqlite-tcl: sqlite
	@$(SQ_BUILD_ENV) bash $(SQ_SRC)/build-tools.sh testfixture
	@$(SQ_TEST_ENV) bash $(SQ_SRC)/tests/run.sh tcl

# Timings live here, never in sqlite-test. SQLITE_BENCH_SECS per point.
SQLITE_BENCH_SECS ?= 2
sqlite-bench: sqlite-lib
	mkdir -p $(SQ_B)/bench
	$(SQ_CC) $(SQ_WARN) -O2 -I$(SQ_B) -I$(SQ_SRC) $(SQ_SRC)/bench/bench_sqlite.c $(SQ_B)/libsqlite3lc.a \
	  $(SQ_LIBS) -o $(SQ_B)/bench/bench_sqlite
	$(SQ_B)/bench/bench_sqlite $(SQ_REPO)/build/bench/sqlite-data $(SQLITE_BENCH_SECS)

# `make bench` runs the SQLite comparison too.
bench: sqlite-bench

sqlite-clean:
	rm -rf $(SQ_B)
