# mk/python.mk - the Python package: the PyO3 crate bindings/python built
# by maturin into the wheel `libcommit` (abi3), its stubs, tests and demo.
# Included by the top-level Makefile; every path below is absolute, so the
# targets work from the repository root (or anywhere, with make -f).
#
#   make py-venv   a fresh virtualenv build/venv (the machine's python3)
#                  with the pinned maturin, pytest and mypy
#   make py-test   py-venv, then `pip install .` into it (builds the wheel),
#                  the C library (mk/c.mk c-lib, for the C + Python test),
#                  mypy stubtest on the package, mypy --strict on the
#                  quickstart, and pytest on tests/python
#   make py-demo   run examples/quickstart.py with the installed package
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
# build-system.requires, which is what `pip install .` uses.
PY_MATURIN_VERSION := 1.16.0
PY_PYTEST_VERSION := 9.2.0
PY_MYPY_VERSION := 2.4.1

PY_PYTEST_ARGS ?=

.PHONY: py-venv py-install py-test py-demo py-clean

py-venv:
	rm -rf $(PY_VENV)
	$(PYTHON3) -m venv $(PY_VENV)
	$(PY_PIP) install --quiet maturin==$(PY_MATURIN_VERSION) pytest==$(PY_PYTEST_VERSION) mypy==$(PY_MYPY_VERSION)

# Builds the wheel from the source tree (release profile) and installs it.
py-install:
	@test -x $(PY) || $(MAKE) --no-print-directory -f $(PY_REPO)/mk/python.mk py-venv
	cd $(PY_REPO) && $(PY_PIP) install --quiet --force-reinstall --no-deps .
	@$(PY) -c 'import importlib.metadata as m, libcommit; \
	  tags = [l.split(": ")[1] for l in m.distribution("libcommit").read_text("WHEEL").splitlines() if l.startswith("Tag:")]; \
	  print("installed libcommit", libcommit.__version__, "wheel tag", ", ".join(tags))'

# tests/python/test_mix_c_python.py runs a C program beside Python: it
# links build/lib, built here, and fails rather than skips when
# LIBCOMMIT_C_LIB_DIR is set and the library or compiler is missing.
PY_C_LIBDIR := $(PY_REPO)/build/lib

py-test: py-venv
	$(MAKE) --no-print-directory -f $(PY_REPO)/mk/python.mk py-install
	$(MAKE) --no-print-directory -f $(PY_REPO)/mk/c.mk c-lib
	cd $(PY_VENV) && $(PY) -m mypy.stubtest libcommit
	cd $(PY_VENV) && $(PY) -m mypy --strict --no-incremental $(PY_REPO)/examples/quickstart.py
	cd $(PY_REPO) && LIBCOMMIT_C_LIB_DIR=$(PY_C_LIBDIR) $(PY) -m pytest -p no:cacheprovider -ra \
	  $(PY_PYTEST_ARGS) tests/python

py-demo:
	@$(PY) -c 'import libcommit' 2>/dev/null || $(MAKE) --no-print-directory -f $(PY_REPO)/mk/python.mk py-install
	$(PY) $(PY_REPO)/examples/quickstart.py

py-clean:
	rm -rf $(PY_VENV)
