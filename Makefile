# The two commands of the README:
#   make up    create the venv, install the collections, run site.yml on this machine
#   make test  everything CI runs: lint, unit tests, syntax checks, every Molecule scenario
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

VENV ?= .venv
BIN := $(CURDIR)/$(VENV)/bin
INVENTORY ?= inventory/local
# Molecule scenarios to run (empty: all of them) and how many at once.
SCENARIOS ?=
MOLECULE_JOBS ?= 2
# A failed scenario runs once more; a pass then is reported FLAKY with the task that failed first
# (scripts/run_scenarios.py). MOLECULE_RETRIES=0 to see every failure as final.
MOLECULE_RETRIES ?= 1

export PATH := $(BIN):$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export ANSIBLE_HOME := $(CURDIR)/.ansible
export XDG_CACHE_HOME := $(CURDIR)/.cache
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/collections
export ANSIBLE_ROLES_PATH := $(CURDIR)/roles
export ANSIBLE_LIBRARY := $(CURDIR)/library
export ANSIBLE_MODULE_UTILS := $(CURDIR)/module_utils
export ANSIBLE_FORCE_COLOR ?= true
export PY_COLORS ?= 1

# Lifecycle: STACKS=student,etl narrows down/status/logs to those stacks (their tags); STACK=x for logs,
# SERVICE=name for one service's logs; PURGE=yes removes the volumes on down.
STACKS ?=
STACK ?=
SERVICE ?=
PURGE ?=
STACK_TAGS = $(if $(STACK),--tags $(STACK),$(if $(STACKS),--tags $(STACKS)))

.PHONY: help up prechecks down status logs pipeline rollback test test-deps test-deps-check test-fast lint unit syntax molecule molecule-images bootstrap bootstrap-test bench clean

help:
	@echo "make up                  bring every stack up on this machine (inventory/local)"
	@echo "make prechecks           check hosts and inventory before anything changes (ports, disk, versions, registry)"
	@echo "make status              every stack: services, state, health, address, digest; fails if unwell"
	@echo "make logs STACK=student  a stack's logs (SERVICE=student-api for one service)"
	@echo "make down [PURGE=yes]    stop and remove the stacks (STACKS=student,etl); volumes kept unless PURGE=yes"
	@echo "make pipeline            build -> push -> redeploy what changed -> health gate (a failed gate rolls back)"
	@echo "make rollback STACK=student [SERVICE=student-api]  go back one recorded deploy"
	@echo "make test                lint + unit tests + syntax checks + every Molecule scenario (what CI runs)"
	@echo "make test-fast           lint + unit tests + syntax checks"
	@echo "make test-deps           apt-get install what the tests need (php, chromium, docker-registry, ...)"
	@echo "make molecule            Molecule scenarios only (SCENARIOS='docker_engine base_image' to choose)"
	@echo "make bench               benchmarks (need the stacks up: make up); write bench/RESULTS.md"
	@echo "INVENTORY=inventory/ec2 runs any of these against the EC2 hosts"

# `make up` installs only what it runs (requirements.txt); the test targets add requirements-test.txt.
bootstrap: $(VENV)/.installed collections/.installed

bootstrap-test: bootstrap $(VENV)/.installed-test

$(VENV)/.installed: requirements.txt scripts/bootstrap.sh
	scripts/bootstrap.sh $(VENV)
	touch $@

$(VENV)/.installed-test: requirements-test.txt requirements.txt $(VENV)/.installed
	scripts/bootstrap.sh $(VENV) requirements-test.txt
	touch $@

collections/.installed: requirements.yml requirements-collections.txt scripts/install_collections.py $(VENV)/.installed
	$(BIN)/python scripts/install_collections.py

# A run a person watches ends with where the time went, per role (profile_roles).
PROFILE := ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_roles

up: bootstrap
	$(PROFILE) ansible-playbook site.yml -i $(INVENTORY)

# Also the first play of site.yml and the pipeline (skip it there: --skip-tags prechecks).
prechecks: bootstrap
	ansible-playbook playbooks/prechecks.yml -i $(INVENTORY)

down: bootstrap
	ansible-playbook playbooks/down.yml -i $(INVENTORY) $(STACK_TAGS) $(if $(filter yes true 1,$(PURGE)),-e compose_stack_purge=true)

status: bootstrap
	ansible-playbook playbooks/status.yml -i $(INVENTORY) $(STACK_TAGS)

logs: bootstrap
	ansible-playbook playbooks/logs.yml -i $(INVENTORY) $(STACK_TAGS) $(if $(SERVICE),-e compose_stack_logs_service=$(SERVICE))

pipeline: bootstrap
	$(PROFILE) ansible-playbook playbooks/pipeline.yml -i $(INVENTORY)

# One stack (STACK=x, its tag) goes back one good deploy (deployed.json); SERVICE=y for one service.
rollback: bootstrap
	@test -n "$(STACK)" || { echo "make rollback needs STACK=<stack tag>, e.g. STACK=student" >&2; exit 2; }
	ansible-playbook playbooks/rollback.yml -i $(INVENTORY) --tags $(STACK) $(if $(SERVICE),-e '{"compose_stack_services": ["$(SERVICE)"]}')

# The images are built before pytest so the tests that run containers (marker docker) use them.
# test-deps-check comes first: a machine without php, chromium, docker-registry, ... stops at once with
# their names and apt packages (`make test-deps` installs them, as .ci/run does) instead of skipping tests.
test: test-deps-check lint syntax molecule-images unit molecule

test-fast: test-deps-check lint unit syntax

# The system packages the tests use (scripts/test_deps.py declares them once), installed with apt.
test-deps:
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$(/usr/bin/python3 scripts/test_deps.py --apt-packages)

test-deps-check: bootstrap-test
	python3 scripts/test_deps.py

lint: bootstrap-test
	yamllint --strict .
	ansible-lint --profile production --offline
	hadolint --config .hadolint.yaml $$(git ls-files 'apps/*/Dockerfile' 'molecule/*/Dockerfile' 'roles/*/templates/*Dockerfile*' | grep -v '\.j2$$' || true)

unit: bootstrap-test
	pytest

syntax: bootstrap-test
	for p in site.yml playbooks/*.yml; do ansible-playbook --syntax-check -i $(INVENTORY) "$$p" >/dev/null; echo "syntax ok: $$p"; done

molecule-images: bootstrap-test
	ansible-playbook molecule/resources/test_images.yml

# Scenarios run MOLECULE_JOBS at a time, longest first; each one's output goes to
# artifacts/molecule/<scenario>.log and the tail of a failed one is printed.
molecule: molecule-images
	python scripts/run_scenarios.py --jobs $(MOLECULE_JOBS) --retries $(MOLECULE_RETRIES) $(SCENARIOS)

clean:
	rm -rf $(VENV) collections/ansible_collections collections/.installed .ansible .cache

bench: bootstrap
	for b in bench/bench_*.py; do echo "=== $$b"; python "$$b"; done
