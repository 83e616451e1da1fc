# The two front-door commands are `make run` and `make test`.
SHELL := /bin/bash
PY := .venv/bin/python
STATE ?= $(CURDIR)/.state

.PHONY: run stop test bench lint bootstrap clean

bootstrap:
	@scripts/bootstrap.sh

## run: start the TUI against the embedded sandbox cluster (fresh machine OK)
run: bootstrap
	@$(PY) -m digit_tui.cli demo --state-dir $(STATE)

## stop: stop the demo's install engine and its sandbox cluster (they outlive the TUI by design)
stop:
	-@$(PY) -m digit_tui.cli cancel --state-dir $(STATE) 2>/dev/null || true
	-@$(PY) -m digit_tui.cli sandbox --state-dir $(STATE)/sandbox down

# The real DIGIT-DevOps snapshot beside this checkout, when there is one: tests that need it skip otherwise.
DIGIT_REAL_TREE_TARBALL ?= $(wildcard $(CURDIR)/../shared/real-digit/digit-devops-45790f3f3f5c.tar.gz)
ifneq ($(DIGIT_REAL_TREE_TARBALL),)
test: export DIGIT_REAL_TREE_TARBALL := $(DIGIT_REAL_TREE_TARBALL)
endif

# Most tests wait on I/O (the sandbox API, sshd in namespaces, tmux, subprocesses), so three
# pytest-xdist workers beat one on 2 cores. loadfile keeps a test file on one worker (a module's
# fixtures, its VmLab or sandbox, are built once) except the few files of long independent tests
# that tests/conftest.py spreads, and tests/conftest.py hands the long ones out first
# (--no-loadscope-reorder keeps that order). PYTEST_WORKERS=0 runs in one process; PYTEST_ARGS
# adds arguments (paths, -k, --durations=15).
PYTEST_WORKERS ?= 3
PYTEST_DIST ?= loadfile
PYTEST_ARGS ?=
XDIST_ARGS = -n $(PYTEST_WORKERS) $(if $(filter-out 0,$(PYTEST_WORKERS)),--dist $(PYTEST_DIST) --no-loadscope-reorder)

# What `make lint` checks, and `make test` before the suite: pyflakes, then mypy as
# pyproject.toml's [tool.mypy] sets it (its cache in .mypy_cache keeps a rerun to a second or two).
LINT = $(PY) -m pyflakes digit_tui tests bench && $(PY) -m mypy

## test: install what the tests need, start their services, run lint's checks and the whole suite
test:
	@scripts/bootstrap.sh --tests
	@$(LINT)
	@set +e; $(PY) -m pytest -p no:cacheprovider $(XDIST_ARGS) $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; exit $$rc

## bench: print the speed figures (engine, sandbox, release, sizing)
bench: bootstrap
	@for b in bench/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

## lint: pyflakes and mypy (strict for engine, infra, digit, tasks; the default level elsewhere)
lint:
	@scripts/bootstrap.sh --tests
	@$(LINT)

clean:
	rm -rf .venv .state build *.egg-info .mypy_cache
