# Rempart — every entry point the README and CI use.
SHELL := /bin/bash
PYTHON ?= python3
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py
NAME ?=
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: chromium wrk nmap help install demo totp run test test-fast e2e quality format bench migrate messages clean

help:
	@echo "make demo     — installe, crée la région de démonstration et lance le serveur"
	@echo "make totp EMAIL=rssi@demo.rempart.fr — code TOTP du moment d'un compte de démonstration"
	@echo "make test     — installe et lance toute la suite de tests (y compris navigateur)"
	@echo "make quality  — ruff (lint + format) et contrôle des migrations"
	@echo "make bench NAME=finess_import — lance un benchmark de bench/"

$(UV):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else "Python >= 3.12 requis")'
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	@touch $@

install: $(VENV)/.synced

chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "Chromium manquant : sudo apt-get install -y chromium"; exit 1; fi; }

# wrk: the HTTP load generator of the tracking benchmark (Debian package, loopback only).
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
	  else echo "wrk manquant : sudo apt-get install -y wrk"; exit 1; fi; }

# nmap: the reference scanner of the exposure benchmark (bench/scan_vs_nmap.py), with the firewall
# tool that benchmark uses inside its network namespace (Debian packages; the benchmark runs as root).
nmap:
	@command -v nmap >/dev/null 2>&1 && { command -v nft >/dev/null 2>&1 || command -v iptables >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nmap nftables iproute2 >/dev/null; \
	  else echo "nmap ou nftables manquant : sudo apt-get install -y nmap nftables iproute2"; exit 1; fi; }

migrate: install
	$(MANAGE) migrate --noinput

demo: install migrate
	$(MANAGE) seed_demo --url http://$(HOST):$(PORT)/
	$(MANAGE) seed_programme_demo
	$(MANAGE) seed_incidents_demo
	$(MANAGE) seed_awareness_demo
	$(MANAGE) seed_phishing_demo
	$(MANAGE) seed_events_demo
	$(MANAGE) seed_exercises_demo
	$(MANAGE) seed_assessments_demo
	$(MANAGE) seed_exposure_demo
	@echo
	$(MANAGE) runserver $(HOST):$(PORT)

totp: install
	@test -n "$(EMAIL)" || { echo "Usage : make totp EMAIL=rssi@demo.rempart.fr (comptes de démonstration uniquement)"; exit 2; }
	@$(MANAGE) demo_totp "$(EMAIL)"

run: install migrate
	$(MANAGE) runserver $(HOST):$(PORT)

test: install chromium
	$(PY) -m pytest -n 2 --dist loadscope --max-worker-restart 0 -q --durations=25 $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -q -m "not e2e" $(PYTEST_ARGS)

quality: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(MANAGE) makemigrations --check --dry-run

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	@test -n "$(NAME)" || { echo "Usage : make bench NAME=<nom> (voir bench/)"; exit 2; }
	$(PY) bench/$(NAME).py

messages: install
	$(MANAGE) makemessages -l fr --ignore=.venv --ignore=.tools

clean:
	rm -rf $(VENV) $(TOOLS) var/rempart.sqlite3 var/media var/static

# --- Operations (docs/deployment.md) ---------------------------------------------------------
.PHONY: backup restore ci

backup: install
	$(MANAGE) backup

restore: install
	@test -n "$(ARCHIVE)" || { echo "Usage : make restore ARCHIVE=<nom dans le stockage des sauvegardes, ou chemin>"; exit 2; }
	$(MANAGE) restore "$(ARCHIVE)"

ci:
	bash .ci/run
