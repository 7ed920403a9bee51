# The two commands: `make demo` and `make test`. Everything else is for operators.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
DATASET ?= retail
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo test lint format worker beat bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo --dataset $(DATASET)
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
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
	rm -rf $(VENV) db.sqlite3 var
