# Two commands do everything on a fresh machine with Python 3.11+ and make:
#   make demo   two collections, five minutes apart, against the bundled Exalate node simulator, what
#               they produced and a verdict for each (its state is temporary: every demo tells the same story)
#   make test   ruff and mypy, then the whole test suite (unit and integration, real servers on loopback)
# Also: make check-template (SAM lint/validate/build/size/security scan), make check-lambda (the built
# artifact under arm64/Python 3.13 emulation), make bench, make docs,
# make zabbix-template (integrations/zabbix/...yaml from the contract), make test-zabbix,
# make check-recipes (the container image, the CronJob, the systemd units and the release: docs/deploy.md),
# make image, make dist.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

SAMVENV := .venv-sam
SAMSTAMP := $(SAMVENV)/.installed
SAM_ENV := SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=eu-west-1

ZABBIX_PACKAGES := zabbix-server-pgsql zabbix-frontend-php php-pgsql php-cli postgresql-15
ZABBIX_STAMP := $(VENV)/.zabbix-packages
ZABBIX_TEMPLATE := integrations/zabbix/exalate_node_by_collector.yaml

.PHONY: demo test lint unit integration docs bench check-template check-lambda clean tools
.PHONY: zabbix-template zabbix-packages test-zabbix
.PHONY: check-recipes recipe-packages image dist

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/exalate-collector demo

# The deployment recipes' tests (marker recipes) run in make check-recipes, which installs their tools.
test: lint $(STAMP) $(ZABBIX_STAMP) tools
	$(BIN)/pytest -m 'not recipes'

# promtool, VictoriaMetrics and the Zabbix version not installed (7.0, or 6.0 where 7.0 is; server, frontend)
# from Debian packages, into .cache/tools (once: stamp files; no install, system apt sources untouched). Tests
# that need one skip loudly if it cannot be fetched. That Zabbix uses the libraries of the installed one:
# make test installs those first.
tools:
	bash integrations/fetch-tools.sh

# The real Zabbix 6.0 server of tests/integration/test_zabbix.py, from Debian's packages (root + apt); its
# 7.0 server comes from `make tools`. Elsewhere this says so loudly and the test skips with the same message.
zabbix-packages: $(ZABBIX_STAMP)
$(ZABBIX_STAMP): | $(STAMP)
	@if [ -x /usr/sbin/zabbix_server ] && [ -f /usr/share/zabbix/api_jsonrpc.php ] && command -v php >/dev/null \
	   && [ -x /usr/lib/postgresql/15/bin/initdb ]; then touch $@; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends $(ZABBIX_PACKAGES) >/dev/null \
	  || { apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null \
	       && apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends $(ZABBIX_PACKAGES) >/dev/null; } \
	  && touch $@; \
	else echo "!!! Zabbix packages not installed and cannot be (needs root and apt-get): the Zabbix integration test will SKIP. Install: $(ZABBIX_PACKAGES)"; fi

test-zabbix: $(STAMP) $(ZABBIX_STAMP) tools
	$(BIN)/pytest -m zabbix tests/integration/test_zabbix.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/lib/exalate_collector
	$(BIN)/mypy functions/collector/app.py
	$(BIN)/mypy functions/archiver/app.py
	$(BIN)/mypy .ci

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

# aws-sam-cli pins its own boto3: it gets its own virtualenv, with cfn-lint and checkov.
$(SAMSTAMP):
	$(PYTHON) -m venv $(SAMVENV)
	$(SAMVENV)/bin/pip install --quiet --upgrade pip
	$(SAMVENV)/bin/pip install --quiet 'aws-sam-cli>=1.130' 'cfn-lint>=1.20' 'checkov>=3.2'
	touch $(SAMSTAMP)

# Offline checks of the SAM application: lint, validate, build (makefile method: no Docker, no local
# Python 3.13), artifact sizes, and a security scan whose every skip is justified in template.yaml.
check-template: $(SAMSTAMP) $(STAMP)
	$(SAMVENV)/bin/cfn-lint template.yaml
	$(SAM_ENV) $(SAMVENV)/bin/sam validate --lint
	$(SAM_ENV) $(SAMVENV)/bin/sam build
	$(BIN)/python .ci/check_sizes.py
	PYTHONPATH=.aws-sam/build/LibLayer/python $(BIN)/python .ci/smoke_built.py
	$(SAMVENV)/bin/checkov --file template.yaml --framework cloudformation --quiet --compact --skip-download

# The built artifact on its target under emulation: qemu-user + Debian 13's arm64 python3.13, both handlers
# invoked against the simulator, moto's server and the OTLP receiver, compared with a native run
# (.ci/check_lambda.py). Uses the last sam build (make check-template) unless a source is newer than it: then
# it builds again, so the check never runs an artifact older than the code. Cache: .check-lambda/.
BUILT := .aws-sam/build/template.yaml
check-lambda: $(SAMSTAMP) $(STAMP)
	if [ ! -f $(BUILT) ] || [ -n "$$(find template.yaml layers functions -newer $(BUILT) -type f \
		-not -path '*/__pycache__/*' -not -path '*.egg-info/*' -print -quit)" ]; then \
		$(SAM_ENV) $(SAMVENV)/bin/sam build; fi
	$(BIN)/python .ci/check_lambda.py

bench: $(STAMP)
	$(BIN)/python -m bench

docs: $(STAMP)
	$(BIN)/exalate-collector docs > docs/telemetry.md
	$(BIN)/python -m exalate_collector.config_reference docs/configuration.md
	$(BIN)/python -c 'from exalate_collector.telemetry.contract import load_contract, names_module; print(names_module(load_contract()), end="")' > layers/lib/exalate_collector/telemetry/names.py
	$(BIN)/python integrations/grafana/build.py > integrations/grafana/exalate-collector.json

zabbix-template: $(STAMP)
	$(BIN)/python -m exalate_collector.zabbix.template > $(ZABBIX_TEMPLATE)

# --- Deployment recipes (deploy/, docs/deploy.md) -----------------------------------------------------
# podman (rootful, no network during the build), runc, mmdebstrap for the Debian 13 base, systemd-analyze,
# from Debian's packages (root + apt); build, twine and kubernetes-validate come with the dev extra.
# Elsewhere this says so loudly and the tests that need a missing tool skip naming it.
RECIPE_PACKAGES := podman runc mmdebstrap debian-archive-keyring systemd
RECIPE_STAMP := $(VENV)/.recipe-packages
# This machine's (and CI's) podman: its own storage under .cache/deploy (the system's is left alone); runc,
# since crun 1.8 refuses cgroup v1 hybrid hosts; rlimits no higher than podman's own, as raising them needs
# CAP_SYS_RESOURCE, which root lacks here. Elsewhere `make image PODMAN=podman PODMAN_LIMITS=` is enough.
PODMAN ?= podman --root $(CURDIR)/.cache/deploy/podman/storage --runroot $(CURDIR)/.cache/deploy/podman/run --runtime runc
PODMAN_LIMITS ?= --ulimit nofile=4096:4096 --ulimit nproc=4096:4096
IMAGE ?= localhost/exalate-collector:latest
export PODMAN PODMAN_LIMITS

recipe-packages: $(RECIPE_STAMP)
$(RECIPE_STAMP): | $(STAMP)
	@if command -v podman >/dev/null && command -v runc >/dev/null && command -v mmdebstrap >/dev/null \
	   && command -v systemd-analyze >/dev/null && [ -f /usr/share/keyrings/debian-archive-trixie-stable.gpg ]; then touch $@; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends $(RECIPE_PACKAGES) >/dev/null \
	  || { apt-get -o DPkg::Lock::Timeout=900 update -q >/dev/null \
	       && apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends $(RECIPE_PACKAGES) >/dev/null; } \
	  && touch $@; \
	else echo "!!! recipe tools not installed and cannot be (needs root and apt-get): tests needing them will SKIP. Install: $(RECIPE_PACKAGES)"; fi

# The image (deploy/container/build.sh): on a Debian 13 base made here, or IMAGE_BASE (python:3.13-slim).
image: $(STAMP) $(RECIPE_STAMP)
	PYTHON=$(BIN)/python BASE=$(IMAGE_BASE) PODMAN_BUILD_OPTS="$(PODMAN_LIMITS)" deploy/container/build.sh $(IMAGE)
	$(PODMAN) image ls $(IMAGE)

# The release artifacts: sdist and wheel in dist/, checked by twine.
dist: $(STAMP)
	rm -rf dist && $(BIN)/python -m build --outdir dist .
	$(BIN)/twine check --strict dist/*

check-recipes: $(STAMP) $(RECIPE_STAMP)
	$(BIN)/pytest -m recipes tests/integration/test_recipes.py

clean:
	rm -rf $(VENV) $(SAMVENV) build dist .cache .pytest_cache .ruff_cache .mypy_cache exalate-archive exalate-state exalate-demo.log .aws-sam .check-lambda
