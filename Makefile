# facewatch: the two commands a new machine needs are `make demo` and `make test`.
# Both build what they need from nothing (a venv for the project, one venv per tool that
# pins its own dependencies: aws-sam-cli and checkov conflict with the project's pins).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
TOOLS := .tools
UV := $(VENV)/bin/uv
PY := $(VENV)/bin/python
SAM := $(TOOLS)/sam/bin/sam
CHECKOV := $(TOOLS)/checkov/bin/checkov
# sam build needs python3.13 on PATH for runtime python3.13 (pyenv provides it here).
SAM_PYENV := PYENV_VERSION=3.11.7:3.13.0

.PHONY: help demo test lint typecheck validate security unit bench build clean system-deps
.DEFAULT_GOAL := help

help:
	@echo "facewatch: the two commands a new machine needs"
	@echo "  make demo      the whole pipeline on a local stack (moto), offline; installs what it needs"
	@echo "  make test      lint, types, import layers, template checks, secrets scan and every test"
	@echo "more targets: lint typecheck validate security unit bench build clean (see the Makefile)"

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "facewatch needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check uv==0.13.9
	$(UV) pip install -q --compile-bytecode -p $(PY) -e '.[dev]'
	touch $@

$(TOOLS)/.installed: $(VENV)/.installed
	$(UV) venv -q --allow-existing -p $(PY) $(TOOLS)/sam
	$(UV) pip install -q -p $(TOOLS)/sam/bin/python aws-sam-cli==1.170.0
	$(UV) venv -q --allow-existing -p $(PY) $(TOOLS)/checkov
	$(UV) pip install -q -p $(TOOLS)/checkov/bin/python checkov==3.3.30
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/facewatch demo

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports --no-cache

typecheck: $(VENV)/.installed
	$(VENV)/bin/mypy layers/facewatch/facewatch tools/facewatch_tools bench tests lint_rules
	@# every function is its own top-level `app` module: one run each (cached, fast)
	for app in functions/*/app.py; do $(VENV)/bin/mypy $$app || exit 1; done

# Both templates in every Region the inventory and the docs name (resource types differ by Region:
# AWS::Rekognition::StreamProcessor exists in seven), at least ap-northeast-2 eu-central-1 us-east-1.
LINT_REGIONS = $(shell $(PY) -m facewatch_tools.fleet.regions --named .)

validate: $(TOOLS)/.installed
	$(VENV)/bin/cfn-lint --regions $(LINT_REGIONS) --append-rules lint_rules -- template.yaml camera-template.yaml
	$(SAM) validate --lint --template template.yaml
	$(CHECKOV) -f template.yaml -f camera-template.yaml --framework cloudformation --skip-download --quiet --compact

security: $(VENV)/.installed
	git ls-files -z | xargs -0 $(VENV)/bin/detect-secrets-hook --baseline .secrets.baseline

# Debian packages the office proxy's tests need: GStreamer (gst-launch-1.0, rtspsrc, x264enc)
# and gst-rtsp-server with the system python3's gi bindings (the local RTSP test camera).
SYSTEM_DEPS := chromium gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
	gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-rtsp \
	gir1.2-gst-rtsp-server-1.0 python3-gi

system-deps:
	@if ! command -v apt-get >/dev/null 2>&1; then \
		echo "system-deps: no apt-get here; install these (or their equivalents) yourself: $(SYSTEM_DEPS)"; \
	else \
		missing=""; \
		for pkg in $(SYSTEM_DEPS); do \
			dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$pkg"; \
		done; \
		if [ -n "$$missing" ]; then \
			echo "system-deps: installing$$missing"; \
			sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
			$$sudo apt-get update -qq >/dev/null && \
			DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing >/dev/null; \
		fi; \
	fi

unit: system-deps $(VENV)/.installed
	$(VENV)/bin/pytest --cov --cov-report=term --cov-fail-under=80

test: lint typecheck validate security unit

bench: $(VENV)/.installed
	$(PY) bench/face_events_bench.py
	$(PY) bench/sampler_bench.py

# The layer and the functions ship their bytecode: without it the runtime compiles every module
# at each cold start (2.0-2.3 s for the Slack actions function's imports, 0.55-0.67 s with it),
# and cannot keep the result (/opt and /var/task are read-only). unchecked-hash: the .pyc is
# used as is (zip keeps mtimes at 2 s resolution, so a timestamp check could reject it).
LAMBDA_PYTHON := python3.13

build: $(TOOLS)/.installed
	$(SAM_PYENV) $(SAM) build --cached
	$(SAM_PYENV) $(LAMBDA_PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build

clean:
	rm -rf $(VENV) $(TOOLS) .aws-sam .pytest_cache .mypy_cache .ruff_cache .coverage
