# The two commands: `make run` starts the product, `make test` runs the whole suite.
# Both create/refresh .venv/ and install what they need on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test test-scale venv venv-dev

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed
venv-dev: $(VENV)/.installed-dev

run: venv
	$(PY) manage.py migrate --noinput
	$(PY) manage.py serve

test: venv-dev
	bash scripts/ensure_chromium.sh
	$(PY) -m pytest $(PYTEST_ARGS)

# The whole suite again on PostgreSQL + Redis (started if they are not running), in a database and a Redis key
# prefix private to this run: see scripts/test_scale.sh.
test-scale: venv-dev
	PY=$(PY) bash scripts/test_scale.sh $(PYTEST_ARGS)
