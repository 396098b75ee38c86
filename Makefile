# One entry point for everything: `make` builds .venv, `make test` runs every check,
# `make demo` runs the canary playbook against the sandbox cluster, `make bench` measures.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LINK := .build/ansible_collections/llm_research_lab/deploy
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.build
export SANDBOX_STATE_DIR ?= $(CURDIR)/.sandbox
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: all venv system-packages bench-packages test lint sanity unit integration molecule demo demo-down bench clean

all: venv

venv: $(STAMP) $(LINK)

$(STAMP): requirements.txt requirements-dev.txt
	$(MAKE) system-packages
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

# Debian packages the sandbox needs: Prometheus and Redis (PostgreSQL's server binaries are
# expected on the machine). Installed only where missing; needs root (CI runs as root).
system-packages:
	@missing=""; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

$(LINK):
	mkdir -p $(dir $(LINK))
	ln -sfn ../../.. $(LINK)

test: venv lint sanity unit integration molecule

lint: venv
	$(BIN)/ansible-lint --profile production

# ansible-test runs from a venv of its own with its pinned sanity requirements, so they
# never fight the versions in .venv.
SANITY_STAMP := .venv-sanity/.installed
ANSIBLE_TEST_REQS = $(VENV)/lib/python3.11/site-packages/ansible_test/_data/requirements
$(SANITY_STAMP): $(STAMP)
	test -x .venv-sanity/bin/python || $(PYTHON) -m venv .venv-sanity
	.venv-sanity/bin/pip install --quiet --upgrade pip
	.venv-sanity/bin/pip install --quiet ansible-core==$$($(BIN)/python -c "import ansible.release as r; print(r.__version__)") \
	  $(foreach t,ansible-doc changelog import import.plugin pep8 pylint runtime-metadata validate-modules yamllint,-r $(ANSIBLE_TEST_REQS)/sanity.$(t).txt)
	touch $(SANITY_STAMP)

sanity: venv $(SANITY_STAMP)
	bash tests/sanity.sh

unit: venv
	$(BIN)/pytest -q tests/unit

integration: venv
	$(BIN)/pytest -q tests/integration

# The default scenario runs for real against the sandbox; the kind scenario needs Docker, so
# here only its syntax is checked.
molecule: venv
	$(BIN)/molecule syntax -s kind
	$(BIN)/molecule test -s default

VERSION ?= v1.3.0
demo: venv
	$(BIN)/python -m tests.sandbox demo --state-dir $(SANDBOX_STATE_DIR) --version $(VERSION)

demo-down: venv
	$(BIN)/python -m tests.sandbox down --state-dir $(SANDBOX_STATE_DIR)

# The specification's shell scripts (a benchmark peer) need jq, bc and curl.
bench-packages:
	@missing=""; for tool in jq bc curl; do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

bench: venv bench-packages
	$(BIN)/python -m tests.benchmarks

clean:
	-$(BIN)/python -m tests.sandbox down --state-dir $(SANDBOX_STATE_DIR) 2>/dev/null
	rm -rf .build .pytest_cache tests/output
