# mk/c.mk - the C ABI: libcommit.so / libcommit.a, include/libcommit.h, the
# C and C++ tests, the C/C++ quickstarts, and `make install`.
# Included by the top-level Makefile; every path below is absolute, so the
# targets work from the repository root (or anywhere, with make -f).
#
#   make c-lib         build the libraries into build/lib
#   make header        regenerate include/libcommit.h with the pinned cbindgen
#   make header-check  fail if the checked-in header is stale
#   make c-test        header check, symbol/SONAME checks, C and C++ tests
#                      under valgrind, install + pkg-config test
#   make c-demo        build and run examples/quickstart.c and .cpp
#   make install       PREFIX=/usr/local (and DESTDIR) as usual: libraries,
#                      headers, libcommit.pc and the CMake package
#                      (find_package(libcommit CONFIG): libcommit::libcommit,
#                      libcommit::static)
#   make c-routes      install into a temp prefix, then build and run the
#                      quickstarts from it three ways: pkg-config, CMake
#                      (pinned Debian cmake) and the README's own line

C_REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)

CARGO ?= cargo
CC ?= cc
CXX ?= c++
PREFIX ?= /usr/local
DESTDIR ?=

# Cargo's target directory: $(CARGO_TARGET_DIR) if set, else target/.
C_TARGET_DIR := $(abspath $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(C_REPO)/target))
C_BUILD := $(C_REPO)/build
C_LIBDIR := $(C_BUILD)/lib
C_INCLUDE := $(C_REPO)/include
C_HEADER := $(C_INCLUDE)/libcommit.h
CPP_HEADER := $(C_REPO)/bindings/cpp/libcommit.hpp

# The library version is the crate version; the SONAME carries the major.
C_VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' $(C_REPO)/bindings/c/Cargo.toml | head -n1)
C_MAJOR := $(firstword $(subst ., ,$(C_VERSION)))
C_MINOR := $(word 2,$(subst ., ,$(C_VERSION)))
C_SONAME := libcommit.so.$(C_MAJOR)

# Pinned code generator, installed into build/tools on first use.
CBINDGEN_VERSION := 0.29.4
C_TOOLS := $(C_BUILD)/tools
CBINDGEN := $(C_TOOLS)/bin/cbindgen
# pkg-config and cmake for the install tests: Debian packages, pinned.
PKG_CONFIG_DEB := pkg-config=1.8.1-1
CMAKE_DEB := cmake=3.25.1-1

# Extra libraries a program linking libcommit.a needs (rustc's
# native-static-libs for this target, less libc and libgcc_s).
C_STATIC_LIBS := -lpthread -ldl -lm -lrt -lutil
# The same as a CMake list (libcommit::static's INTERFACE_LINK_LIBRARIES).
C_STATIC_LIBS_CMAKE := $(subst $(eval) ,;,$(patsubst -l%,%,$(C_STATIC_LIBS)))

.PHONY: c-lib header header-check c-test c-demo install c-tools c-pkg-config c-cmake c-routes c-clean

c-lib:
	$(CARGO) build --release --manifest-path $(C_REPO)/Cargo.toml -p libcommit-c
	mkdir -p $(C_LIBDIR)
	cp -f $(C_TARGET_DIR)/release/libcommit.so $(C_LIBDIR)/libcommit.so.$(C_VERSION)
	ln -sf libcommit.so.$(C_VERSION) $(C_LIBDIR)/$(C_SONAME)
	ln -sf $(C_SONAME) $(C_LIBDIR)/libcommit.so
	cp -f $(C_TARGET_DIR)/release/libcommit.a $(C_LIBDIR)/libcommit.a

# Installs the pinned cbindgen unless that exact version is already there.
c-tools:
	@if ! $(CBINDGEN) --version 2>/dev/null | grep -qx 'cbindgen $(CBINDGEN_VERSION)'; then \
	  echo "installing cbindgen $(CBINDGEN_VERSION) into $(C_TOOLS)"; \
	  $(CARGO) install cbindgen --version $(CBINDGEN_VERSION) --locked --force --root $(C_TOOLS); \
	fi

# Installs pkg-config (pinned Debian package) when the machine lacks it.
c-pkg-config:
	@command -v pkg-config >/dev/null 2>&1 || { \
	  echo "installing $(PKG_CONFIG_DEB)"; \
	  apt-get update -qq && apt-get install -y -qq $(PKG_CONFIG_DEB); }

# Installs the pinned cmake unless that exact version is there. Without
# apt (or the package) the CMake route says SKIPPED (tests/c/routes.sh).
c-cmake:
	@if [ "$$(dpkg-query -W -f='$${Version}' cmake 2>/dev/null)" != "$(word 2,$(subst =, ,$(CMAKE_DEB)))" ]; then \
	  echo "installing $(CMAKE_DEB)"; \
	  { apt-get update -qq && apt-get install -y -qq $(CMAKE_DEB); } || \
	  echo "c-cmake: could not install $(CMAKE_DEB) through apt"; \
	fi

# Writes the header for the crate in bindings/c to $(1).
c_gen_header = cd $(C_REPO)/bindings/c && $(CBINDGEN) --quiet --config cbindgen.toml --output $(1) .

header: c-tools
	mkdir -p $(C_INCLUDE)
	$(call c_gen_header,$(C_HEADER))

header-check: c-tools
	mkdir -p $(C_BUILD)
	$(call c_gen_header,$(C_BUILD)/libcommit.h.check)
	@if diff -u $(C_HEADER) $(C_BUILD)/libcommit.h.check; then \
	  echo "header-check: include/libcommit.h is up to date"; \
	else \
	  echo "header-check: include/libcommit.h is stale; run 'make header' and commit it" >&2; \
	  exit 1; \
	fi

# The test driver does the work; make passes it the paths.
c-test: c-lib header-check c-pkg-config
	C_REPO=$(C_REPO) C_LIBDIR=$(C_LIBDIR) C_BUILD=$(C_BUILD) CC="$(CC)" CXX="$(CXX)" \
	C_SONAME=$(C_SONAME) C_VERSION=$(C_VERSION) C_STATIC_LIBS="$(C_STATIC_LIBS)" \
	MAKE="$(MAKE)" bash $(C_REPO)/tests/c/run.sh

c-demo: c-lib
	mkdir -p $(C_BUILD)/examples
	cd $(C_REPO) && $(CC) -std=c99 -Wall -Wextra -Iinclude examples/quickstart.c \
	  -Lbuild/lib -lcommit -Wl,-rpath,$(C_LIBDIR) -o build/examples/quickstart_c
	cd $(C_REPO) && $(CXX) -std=c++17 -Wall -Wextra -Iinclude -Ibindings/cpp examples/quickstart.cpp \
	  -Lbuild/lib -lcommit -Wl,-rpath,$(C_LIBDIR) -o build/examples/quickstart_cpp
	rm -rf $(C_BUILD)/examples/demo && mkdir -p $(C_BUILD)/examples/demo
	cd $(C_BUILD)/examples/demo && ../quickstart_c && ../quickstart_cpp

# Installs the libraries (with SONAME symlinks), the headers and libcommit.pc.
install: c-lib
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 0755 $(C_LIBDIR)/libcommit.so.$(C_VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libcommit.so.$(C_VERSION) $(DESTDIR)$(PREFIX)/lib/$(C_SONAME)
	ln -sf $(C_SONAME) $(DESTDIR)$(PREFIX)/lib/libcommit.so
	install -m 0644 $(C_LIBDIR)/libcommit.a $(DESTDIR)$(PREFIX)/lib/
	install -m 0644 $(C_HEADER) $(CPP_HEADER) $(DESTDIR)$(PREFIX)/include/
	printf '%s\n' \
	  'prefix=$(PREFIX)' \
	  'libdir=$${prefix}/lib' \
	  'includedir=$${prefix}/include' \
	  '' \
	  'Name: libcommit' \
	  'Description: An embeddable commit engine: durable, concurrent, recoverable page commits' \
	  'Version: $(C_VERSION)' \
	  'Libs: -L$${libdir} -lcommit' \
	  'Libs.private: $(C_STATIC_LIBS)' \
	  'Cflags: -I$${includedir}' \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/libcommit.pc
	install -d $(DESTDIR)$(PREFIX)/lib/cmake/libcommit
	for f in libcommitConfig libcommitConfigVersion; do \
	  sed -e 's/@LC_VERSION@/$(C_VERSION)/g' -e 's/@LC_MAJOR@/$(C_MAJOR)/g' \
	    -e 's/@LC_MINOR@/$(C_MINOR)/g' -e 's/@LC_SONAME@/$(C_SONAME)/g' \
	    -e 's/@LC_STATIC_LIBS@/$(C_STATIC_LIBS_CMAKE)/g' \
	    $(C_REPO)/cmake/$$f.cmake.in > $(DESTDIR)$(PREFIX)/lib/cmake/libcommit/$$f.cmake; \
	done
	@echo "installed libcommit $(C_VERSION) into $(DESTDIR)$(PREFIX)"

# The three ways a user builds against an installed libcommit.
c-routes: c-lib c-pkg-config c-cmake
	C_REPO=$(C_REPO) C_BUILD=$(C_BUILD) CC="$(CC)" CXX="$(CXX)" C_SONAME=$(C_SONAME) \
	C_VERSION=$(C_VERSION) MAKE="$(MAKE)" bash $(C_REPO)/tests/c/routes.sh

c-clean:
	rm -rf $(C_LIBDIR) $(C_BUILD)/c-tests $(C_BUILD)/examples $(C_BUILD)/libcommit.h.check
