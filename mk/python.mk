# mk/python.mk - the Python package: the PyO3 crate bindings/python built
# by maturin into the wheel `libcommit` (abi3), its stubs, tests and demo.
# Included by the top-level Makefile; every path below is absolute, so the
# targets work from the repository root (or anywhere, with make -f).
#
#   make wheel     build/wheels: one manylinux_2_17 abi3 wheel (maturin
#                  --zig, with the pinned ziglang from PyPI) and the sdist;
#                  `auditwheel show` must confirm the wheel's platform tag
#   make py-test   wheel, then for the oldest and the newest CPython found
#                  (PY_TEST_PYTHONS; pyenv's versions, else python3): a
#                  fresh venv, the wheel installed, pytest on tests/python;
#                  mypy stubtest and mypy --strict on the examples with the
#                  newest; then the sdist built and installed once into a
#                  fresh venv, which runs the quickstarts
#   make py-venv   a fresh virtualenv build/venv (the machine's python3)
#                  with the pinned maturin, pytest and mypy
#   make py-install  the wheel from `make wheel` into build/venv
#   make py-demo   run the Python quickstarts with build/venv's package
#                  (installs it first when build/venv lacks it)
#
# Needs only python3 (with venv and pip), the Rust toolchain and network
# access to PyPI and crates.io. CARGO_TARGET_DIR is honoured.

PY_REPO := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)

PYTHON3 ?= python3
PY_VENV := $(PY_REPO)/build/venv
PY := $(PY_VENV)/bin/python
PY_PIP := $(PY) -m pip --disable-pip-version-check

# Pinned tools. maturin is pinned again in pyproject.toml's
# build-system.requires, which is what building the sdist uses.
PY_MATURIN_VERSION := 1.16.0
PY_ZIG_VERSION := 0.15.2
PY_AUDITWHEEL_VERSION := 6.8.2
PY_PYTEST_VERSION := 9.2.0
PY_MYPY_VERSION := 2.4.1
# pytest 9 and mypy 2 need Python 3.10; these are the last for 3.9.
PY39_PYTEST_VERSION := 8.4.2
PY39_MYPY_VERSION := 1.19.1
# The oldest glibc the wheel promises (zig links against its symbols).
PY_MANYLINUX := manylinux_2_17

PY_WHEELS := $(PY_REPO)/build/wheels
PY_TOOLS := $(PY_REPO)/build/py-tools
PY_TEST_VENVS := $(PY_REPO)/build/py-test
# The sdist builds in a temporary copy; a target dir of its own keeps its
# dependencies across runs without disturbing the main build's.
PY_SDIST_TARGET := $(abspath $(if $(CARGO_TARGET_DIR),$(CARGO_TARGET_DIR),$(PY_REPO)/target))/sdist

# The oldest and newest CPython >= 3.9 that pyenv has, else python3.
PY_TEST_PYTHONS ?= $(shell bash $(PY_REPO)/mk/pythons.sh)

PY_PYTEST_ARGS ?=

.PHONY: wheel py-tools py-venv py-install py-test py-test-wheel py-test-sdist py-demo py-clean

# maturin, ziglang and auditwheel, pinned, in a venv of their own.
py-tools:
	@if ! $(PY_TOOLS)/bin/python -c 'import sys' 2>/dev/null; then \
	  rm -rf $(PY_TOOLS) && $(PYTHON3) -m venv $(PY_TOOLS); fi
	@$(PY_TOOLS)/bin/python -m pip --disable-pip-version-check install --quiet \
	  maturin==$(PY_MATURIN_VERSION)
	@$(PY_TOOLS)/bin/python -m pip --disable-pip-version-check install --quiet \
	  ziglang==$(PY_ZIG_VERSION) || \
	  echo "py-tools: could not install ziglang==$(PY_ZIG_VERSION) from PyPI"
	@$(PY_TOOLS)/bin/python -m pip --disable-pip-version-check install --quiet \
	  auditwheel==$(PY_AUDITWHEEL_VERSION) || \
	  echo "py-tools: could not install auditwheel==$(PY_AUDITWHEEL_VERSION) from PyPI"

# Without zig the wheel is built for this machine only (linux_x86_64) and
# the manylinux step says it was skipped; without auditwheel the check is.
wheel: py-tools
	@bash $(PY_REPO)/mk/wheel.sh $(PY_REPO) $(PY_TOOLS) $(PY_WHEELS) $(PY_MANYLINUX)

py-venv:
	rm -rf $(PY_VENV)
	$(PYTHON3) -m venv $(PY_VENV)
	$(PY_PIP) install --quiet maturin==$(PY_MATURIN_VERSION) pytest==$(PY_PYTEST_VERSION) mypy==$(PY_MYPY_VERSION)

# Installs the wheel `make wheel` builds (cargo rebuilds only what changed).
py-install: wheel
	@test -x $(PY) || $(MAKE) --no-print-directory -f $(PY_REPO)/mk/python.mk py-venv
	$(PY_PIP) install --quiet --force-reinstall --no-deps $(PY_WHEELS)/libcommit-*.whl
	@$(PY) -c 'import importlib.metadata as m, libcommit; \
	  tags = [l.split(": ")[1] for l in m.distribution("libcommit").read_text("WHEEL").splitlines() if l.startswith("Tag:")]; \
	  print("installed libcommit", libcommit.__version__, "wheel tag", ", ".join(tags))'

# tests/python/test_mix_c_python.py runs a C program beside Python: it
# links build/lib, built here, and fails rather than skips when
# LIBCOMMIT_C_LIB_DIR is set and the library or compiler is missing.
PY_C_LIBDIR := $(PY_REPO)/build/lib

py-test: wheel
	$(MAKE) --no-print-directory -f $(PY_REPO)/mk/c.mk c-lib
	$(MAKE) --no-print-directory -f $(PY_REPO)/mk/python.mk py-test-wheel py-test-sdist

# One fresh venv per Python; the wheel is the one built above.
py-test-wheel:
	@test -n "$(PY_TEST_PYTHONS)" || { echo "py-test: no Python 3.9+ found" >&2; exit 1; }
	@set -e; newest=$(lastword $(PY_TEST_PYTHONS)); tested=; \
	for py in $(PY_TEST_PYTHONS); do \
	  v=$$($$py -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])'); \
	  case $$v in 3.9.*) pins="pytest==$(PY39_PYTEST_VERSION) mypy==$(PY39_MYPY_VERSION)";; \
	    *) pins="pytest==$(PY_PYTEST_VERSION) mypy==$(PY_MYPY_VERSION)";; esac; \
	  venv=$(PY_TEST_VENVS)/$$v; echo "== Python $$v: fresh venv $$venv"; \
	  rm -rf $$venv && $$py -m venv $$venv; \
	  $$venv/bin/python -m pip --disable-pip-version-check install --quiet $(PY_WHEELS)/libcommit-*.whl $$pins; \
	  $$venv/bin/python -c 'import libcommit, sys; print("libcommit", libcommit.__version__, "on Python", sys.version.split()[0])'; \
	  if [ "$$py" = "$$newest" ]; then \
	    (cd $$venv && bin/python -m mypy.stubtest libcommit); \
	    (cd $$venv && bin/python -m mypy --strict --no-incremental \
	      $(PY_REPO)/examples/quickstart.py $(PY_REPO)/examples/quickstart_async.py); \
	  fi; \
	  (cd $(PY_REPO) && LIBCOMMIT_C_LIB_DIR=$(PY_C_LIBDIR) $$venv/bin/python -m pytest \
	    -p no:cacheprovider -ra $(PY_PYTEST_ARGS) tests/python); \
	  tested="$$tested $$v"; \
	done; \
	echo "py-test: the wheel passed on Python$$tested"

# The sdist, built from source once (pip runs maturin from PyPI, pinned in
# pyproject.toml) into a fresh venv of the newest Python.
py-test-sdist:
	@set -e; py=$(lastword $(PY_TEST_PYTHONS)); venv=$(PY_TEST_VENVS)/sdist; \
	sdist=$$(ls $(PY_WHEELS)/libcommit-*.tar.gz); \
	echo "== sdist $$(basename $$sdist): pip install into $$venv ($$($$py --version))"; \
	rm -rf $$venv && $$py -m venv $$venv; \
	CARGO_TARGET_DIR=$(PY_SDIST_TARGET) $$venv/bin/python -m pip --disable-pip-version-check \
	  install --quiet $$sdist; \
	$$venv/bin/python -c 'import importlib.metadata as m; \
	  w = m.distribution("libcommit").read_text("WHEEL"); \
	  print("sdist installed as", [l.split(": ")[1] for l in w.splitlines() if l.startswith("Tag:")])'; \
	$$venv/bin/python $(PY_REPO)/examples/quickstart.py >/dev/null; \
	$$venv/bin/python $(PY_REPO)/examples/quickstart_async.py >/dev/null; \
	echo "py-test: the sdist built, installed and ran the quickstarts"

py-demo:
	@$(PY) -c 'import libcommit' 2>/dev/null || $(MAKE) --no-print-directory -f $(PY_REPO)/mk/python.mk py-install
	$(PY) $(PY_REPO)/examples/quickstart.py
	$(PY) $(PY_REPO)/examples/quickstart_async.py

py-clean:
	rm -rf $(PY_VENV) $(PY_TEST_VENVS) $(PY_WHEELS) $(PY_TOOLS)
