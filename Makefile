# The two commands: `make demo` and `make test`. Everything else is for operators.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DATASET ?= retail
HOST ?= 127.0.0.1
PORT ?= 8000
# gunicorn worker processes for `make serve`
WORKERS ?= 2

.PHONY: install install-dev demo serve test test-fast lint format worker beat clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# What the application runs (requirements.txt); tests, lint and the browser tests add requirements-dev.txt.
$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev

# Loads the bundled sample, trains, then runs the development server and prints "Demo ready" once it answers.
demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo --dataset $(DATASET) --serve $(HOST):$(PORT)

# Production: the documented deploy, then gunicorn under config.settings.production. Needs SECRET_KEY,
# ALLOWED_HOSTS and CACHE_URL (it refuses to start without them), and in practice DATABASE_URL and
# CELERY_BROKER_URL (README.md, "Serving in production"). Behind a proxy that terminates TLS.
serve: export DJANGO_SETTINGS_MODULE = config.settings.production
serve: install
	$(BIN)/python manage.py check --deploy
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput
	exec $(BIN)/gunicorn config.wsgi:application --bind $(HOST):$(PORT) --workers $(WORKERS) \
		--access-logfile - --forwarded-allow-ips="$${FORWARDED_ALLOW_IPS:-127.0.0.1}"

# The whole suite; `make test-fast` leaves out the tests marked slow (real workers, browsers, servers).
test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: install-dev
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# A local worker and scheduler against Redis (CELERY_BROKER_URL wins when it is set).
BROKER ?= redis://127.0.0.1:6379/0
QUEUES ?= default,training
CONCURRENCY ?= 2
WORKER_NAME ?= worker
worker: install
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(BROKER)} $(BIN)/celery -A config worker --loglevel=INFO \
		--queues=$(QUEUES) --concurrency=$(CONCURRENCY) --hostname=$(WORKER_NAME)@%h

beat: install
	CELERY_BROKER_URL=$${CELERY_BROKER_URL:-$(BROKER)} $(BIN)/celery -A config beat --loglevel=INFO

clean:
	rm -rf $(VENV) db.sqlite3 var staticfiles
