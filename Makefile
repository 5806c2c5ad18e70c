# Two commands do all the set-up: `make demo` and `make test`.
# Each bootstraps .venv with the core and every plugin, then runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PLUGIN_DIRS := $(patsubst %/pyproject.toml,%,$(wildcard plugins/*/pyproject.toml))
# libnfs's Python bindings need the system library; install the extra only where it is.
NFS_EXTRA := $(shell pkg-config --exists libnfs 2>/dev/null && echo "[userspace]")
PYTEST_ARGS ?=
# The stamp names the extra, so a venv made before libnfs was installed is completed.
STAMP := $(BIN)/.installed$(if $(NFS_EXTRA),-nfs-userspace)

.PHONY: venv demo test clean
$(STAMP): pyproject.toml $(wildcard plugins/*/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip setuptools wheel
	$(BIN)/pip install -q -e '.[test]' $(foreach p,$(PLUGIN_DIRS),-e '$(p)$(if $(filter plugins/nfs,$(p)),$(NFS_EXTRA))')
	touch $@

venv: $(STAMP)

demo: venv
	PATH="$(CURDIR)/$(BIN):$$PATH" bash scripts/demo.sh

test: venv
	XDG_CACHE_HOME="$$(mktemp -d)" PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
