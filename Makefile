# Two commands set everything up on a fresh Debian 12 machine:
#   make run   - venv, install, start a local collector on [::1] and an agent heartbeating to it
#   make test  - the whole test suite
# Both install the Debian packages they need (idempotently; apt only runs when something is missing).

SHELL := /bin/bash
PYTHON ?= /usr/bin/python3
VENV := .venv
PY := $(VENV)/bin/python
RUN_DIR := build/run

# Runtime: Debian's own python3-* packages, the same ones the .deb depends on,
# so the suite runs against the versions rooms will have.
APT_RUNTIME := python3 python3-venv python3-setuptools python3-psutil python3-pyudev \
	python3-httpx python3-watchdog python3-starlette python3-uvicorn python3-jinja2 \
	python3-jsonschema iproute2
# Tests: umockdev device trees, real network tools and peers, packaging and browser checks.
APT_TEST := python3-pytest python3-gi gir1.2-umockdev-1.0 umockdev iperf3 sip-tester \
	procps psmisc
APT_STAMP := $(VENV)/.apt-$(shell echo "$(APT_RUNTIME) $(APT_TEST)" | md5sum | cut -c1-8)

.PHONY: run test venv deps clean bench

deps: $(APT_STAMP)

$(APT_STAMP):
	@missing=$$(for p in $(APT_RUNTIME) $(APT_TEST); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@mkdir -p $(VENV) && touch $@

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(APT_STAMP)
	test -x $(PY) || $(PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation --no-index -e .
	touch $@

run: venv
	$(PY) -m agent --config config/dev.toml diagnose

test: venv
	$(PY) -m pytest

bench: venv
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) build *.egg-info
