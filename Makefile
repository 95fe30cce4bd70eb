# The commands: `make run` starts the product, `make demo` tries it with no accounts, `make test` runs the whole suite.
# Each creates/refreshes .venv/ and install what they need on a fresh machine.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run demo test test-scale test-diarization venv venv-dev

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
	bash scripts/ensure_ffmpeg.sh
	$(PY) manage.py migrate --noinput
	$(PY) manage.py serve

# The product with no accounts: the built-in simulator stands in for Twilio and OpenAI, with a demo database of its
# own and a printed login (README "Try it with no accounts"). PORT=8001 make demo for another port.
demo: venv
	bash scripts/ensure_ffmpeg.sh
	$(PY) manage.py demo

test: venv-dev
	bash scripts/ensure_chromium.sh
	bash scripts/ensure_ffmpeg.sh
	bash scripts/ensure_debian_package.sh xgettext gettext "listing the strings marked for translation" \
		"tests/test_translations.py cannot check that every marked string is translated (it skips that test)" || true
	$(PY) -m pytest $(PYTEST_ARGS)

# The whole suite again on PostgreSQL + Redis (started if they are not running), in a database and a Redis key
# prefix private to this run: see scripts/test_scale.sh.
test-scale: venv-dev
	PY=$(PY) bash scripts/test_scale.sh $(PYTEST_ARGS)

# The pyannote adapter test for real, in a separate .venv-diarization/ (torch never goes into .venv/): the dev
# requirements, then the optional extra by scripts/install_diarization.sh. REQUIRE_PYANNOTE=1 turns the test's
# skip into a failure when pyannote.audio cannot be imported.
DIAR_VENV := .venv-diarization
DIAR_PY := $(DIAR_VENV)/bin/python

$(DIAR_VENV)/.installed-dev: requirements.txt requirements-dev.txt
	test -x $(DIAR_PY) || $(PYTHON) -m venv $(DIAR_VENV)
	$(DIAR_PY) -m pip install -q --upgrade pip
	$(DIAR_PY) -m pip install -q -r requirements-dev.txt
	touch $@

$(DIAR_VENV)/.installed-diarization: $(DIAR_VENV)/.installed-dev requirements-diarization.txt scripts/install_diarization.sh
	bash scripts/install_diarization.sh $(DIAR_PY)
	touch $@

test-diarization: $(DIAR_VENV)/.installed-diarization
	REQUIRE_PYANNOTE=1 PYANNOTE_METRICS_ENABLED=false $(DIAR_PY) -m pytest tests/extraction/test_diarization.py $(PYTEST_ARGS)
