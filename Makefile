# optin — `make run` to try it, `make test` to check it. See README.md.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST := $(BIN)/pytest -n auto
LOCAL := DEBUG=true

.PHONY: install run test lint messages benchmark clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(LOCAL) $(BIN)/python manage.py create_local_keys
	$(LOCAL) $(BIN)/python manage.py migrate --noinput
	$(LOCAL) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(LOCAL) $(BIN)/python manage.py load_demo
	@echo
	@echo "optin runs on http://127.0.0.1:8000/ — log in as conseiller / optin-conseiller, then"
	@echo "type one of its backup codes above as the second factor (conformite and admin likewise;"
	@echo "the Django admin is http://127.0.0.1:8000/admin/). Ctrl-C stops it."
	@echo
	$(LOCAL) $(BIN)/python manage.py runserver 127.0.0.1:8000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy optin clients signatures privacy

# The English catalogue: the French strings into locale/en (translate the new ones), compiled.
messages: $(STAMP)
	$(LOCAL) $(BIN)/python manage.py makemessages -l en --add-location=file \
		--ignore=.venv --ignore=var --ignore=node_modules --ignore=benchmarks --ignore=tests
	$(LOCAL) $(BIN)/python manage.py compilemessages --ignore=.venv

# The whole suite on SQLite; then on PostgreSQL too when DATABASE_URL names one. Tests that
# commit from several threads run in their own invocation (they leave committed rows).
test: lint
	DATABASE_URL= $(PYTEST) -m "not committed"
	@if [ -n "$$DATABASE_URL" ]; then \
		echo "--- PostgreSQL: $$DATABASE_URL"; \
		$(PYTEST) -m "not committed" && $(BIN)/pytest -m committed; \
	fi

# The six benchmarks run even when one misses a target; the exit status says if any did.
benchmark: $(STAMP)
	$(BIN)/python benchmarks/audit_log.py; log=$$?; \
	$(BIN)/python benchmarks/forms.py; forms=$$?; \
	$(BIN)/python benchmarks/search.py; search=$$?; \
	$(BIN)/python benchmarks/api.py; api=$$?; \
	$(BIN)/python benchmarks/compliance.py; compliance=$$?; \
	$(BIN)/python benchmarks/retention.py; retention=$$?; \
	exit $$(( log || forms || search || api || compliance || retention ))

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
