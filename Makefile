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
# so the suite runs against the versions rooms will have. python3-wheel: `pip install -e .`
# builds an editable wheel (bdist_wheel). tests/test_fresh_machine.py checks the lists
# on a pristine Debian 12 tree.
APT_RUNTIME := python3 python3-venv python3-setuptools python3-wheel python3-psutil \
	python3-pyudev python3-httpx python3-watchdog python3-starlette python3-uvicorn \
	python3-jinja2 python3-jsonschema python3-fastjsonschema python3-uvloop python3-httptools python3-psycopg \
	iproute2 tzdata
# Tests: umockdev device trees, real network tools and peers, packaging and browser checks,
# promtool (prometheus), ffmpeg for the camera and microphone checks, and postgresql-15 for the
# collector suite on PostgreSQL (a throwaway cluster: tests/pg_cluster.py). python3-pytest-xdist:
# the suite runs in TEST_JOBS processes, a test file per process (most tests wait on timers).
APT_TEST := python3-pytest python3-pytest-xdist python3-gi gir1.2-umockdev-1.0 umockdev iperf3 sip-tester openssl prometheus \
	procps psmisc util-linux chromium prometheus-node-exporter \
	debhelper dh-python pybuild-plugin-pyproject python3-all python3-build \
	python3-installer lintian mmdebstrap systemd fakeroot dpkg-dev build-essential \
	debian-archive-keyring python3-seccomp ffmpeg postgresql-15

.PHONY: run test venv deps-runtime deps-test clean bench deb

# One stamp per package list: apt runs only when the list changed or a package is missing.
deps-runtime: $(VENV)/.apt-runtime-$(shell echo "$(APT_RUNTIME)" | md5sum | cut -c1-8)
deps-test: $(VENV)/.apt-test-$(shell echo "$(APT_TEST)" | md5sum | cut -c1-8)

$(VENV)/.apt-runtime-%:
	@./packaging/apt-ensure $(APT_RUNTIME)
	@mkdir -p $(VENV) && touch $@

$(VENV)/.apt-test-%:
	@./packaging/apt-ensure $(APT_TEST)
	@mkdir -p $(VENV) && touch $@

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml agent/__init__.py collector/__init__.py | deps-runtime
	test -x $(PY) || $(PYTHON) -m venv --system-site-packages $(VENV)
	$(PY) -m pip install --quiet --no-deps --no-build-isolation --no-index -e .
	touch $@

# The main job on one machine: a collector on [::1] with SQLite, the room enrolled,
# and an agent heartbeating to it every 10 s (config/dev.toml). Ctrl-C stops both.
run: venv
	@./config/dev-run $(VENV) $(RUN_DIR)

TEST_JOBS ?= 2
test: venv deps-test
	$(PY) -m pytest -n $(TEST_JOBS) --dist loadfile

bench: venv
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Debian packages: packaging/debian/ becomes debian/ in a copy of the tree under
# build/ (the repository itself never gets a debian/); the .debs land in build/.
DEB_TREE := build/bridge-room
deb: deps-test
	rm -rf $(DEB_TREE) && mkdir -p $(DEB_TREE)
	tar -c --exclude=./build --exclude=./.venv --exclude=./.git --exclude=./debian \
		--exclude=__pycache__ --exclude='*.egg-info' --exclude=.pytest_cache . | tar -x -C $(DEB_TREE)
	cp -a packaging/debian $(DEB_TREE)/debian
	# Debian's own python3 and tools, whatever the caller's PATH (pyenv, venv) says.
	cd $(DEB_TREE) && env PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-buildpackage -us -uc -b
	@ls -1 build/*.deb

clean:
	rm -rf $(VENV) build *.egg-info
