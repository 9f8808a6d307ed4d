# sequencer: `make demo` to see it, `make test` to check it. Both build their own
# virtual environment in .venv from nothing but PyPI.
# The first interpreter that actually runs and is 3.11 or 3.12 (pyenv shims may exist
# for versions that are not active).
PYTHON ?= $(shell for p in python3.12 python3.11 python3; do \
	$$p -c 'import sys; sys.exit(not (3, 11) <= sys.version_info[:2] < (3, 13))' \
	2>/dev/null && { echo $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
# pip must see PyPI; nothing is installed by hand.
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet

.PHONY: demo test venv install lint typecheck unit clean catalogue bench rules-gate schemas \
	questionnaire fhir-examples about docs

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or 3.12 is required (durable_rules does not build on 3.13)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

venv: $(BIN)/python

# A real, non-editable install: proves the rule base and the published patients ship
# inside the package. Reinstalled every time so the tests see the working tree.
install: venv
	$(PIP) install '.[test,service,docs]'
	$(PIP) install --no-deps --force-reinstall .

lint: install
	$(BIN)/ruff check src tests examples bench
	$(BIN)/ruff format --check src tests examples bench

typecheck: install
	$(BIN)/mypy src

unit: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

test: lint typecheck unit docs

demo: install
	$(BIN)/sequencer replay --all

# Benchmarks (not part of `make test`): prints a table, writes bench/results/latest.json.
# The shipped JSON Schemas (src/sequencer/schemas/), regenerated from the models; a test
# fails when they are stale.
schemas: install
	$(BIN)/sequencer schema profile > src/sequencer/schemas/profile-v1.schema.json
	$(BIN)/sequencer schema recommendation > src/sequencer/schemas/recommendation-v1.schema.json

# The shipped FHIR Questionnaire (src/sequencer/interop/questionnaire.json), generated from
# the profile model and rules/vocabulary.yaml; a test fails when it is stale.
questionnaire: install
	$(BIN)/sequencer fhir --questionnaire > src/sequencer/interop/questionnaire.json

# The five published patients as FHIR Bundles (examples/fhir/); a test fails when stale.
fhir-examples: install
	$(BIN)/python examples/fhir/make_bundles.py
	PYTHONPATH=tests $(BIN)/python -c 'import json; from test_cds import hook_call; \
		b = hook_call(4); b["hookInstance"] = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea"; \
		open("examples/cds/patient-4.patient-view.json", "w").write(json.dumps(b, indent=2) + "\n")'

# The transparency document (docs/ABOUT.md), regenerated from the rule base and
# rules/about.yaml; a test fails when it is stale.
about: install
	$(BIN)/sequencer about > docs/ABOUT.md

# The impact of rules/ against the last released rule base (rules-release.json); fails
# when decisions change without a version bump (CI runs it after the tests).
rules-gate: install
	.ci/rules-gate

bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The teaching sheets in examples/teaching/, and the screenshots in docs/ (the report, its
# real first printed page: Chromium's PDF, page 1 rasterized by pypdfium2; the case page
# at 1920x1080, a teaching sheet; needs Debian's chromium and chromium-driver: apt-get
# install chromium chromium-driver). `make screenshots` is the same.
.PHONY: teaching screenshot screenshots
teaching: install
	$(BIN)/sequencer teach --cases published --cases literature --output examples/teaching

screenshot: install
	$(BIN)/sequencer report examples/patients/patient-4.json --context us-2020 --output $(VENV)/report-patient-4.html
	profile=$$(mktemp -d) && chromium --headless --no-sandbox --disable-gpu --disable-quic \
		--no-first-run --disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir=$$profile --screenshot=docs/report-patient-4.png --window-size=1280,2000 \
		file://$(CURDIR)/$(VENV)/report-patient-4.html; rm -rf $$profile
	profile=$$(mktemp -d) && chromium --headless --no-sandbox --disable-gpu --disable-quic \
		--no-first-run --disable-background-networking --disable-component-update --disable-sync \
		--user-data-dir=$$profile --screenshot=docs/teaching-patient-4.png --window-size=1000,1100 \
		file://$(CURDIR)/examples/teaching/patient-4.html; rm -rf $$profile
	$(BIN)/sequencer report examples/patients/patient-4.json --context us-2020 --paper A4 \
		--output $(VENV)/report-patient-4-a4.html
	$(BIN)/python docs/screenshots.py printed $(VENV)/report-patient-4-a4.html \
		docs/report-printed-patient-4.png
	$(BIN)/sequencer serve --port 8097 --audit sqlite:///$(CURDIR)/$(VENV)/screenshot-audit.sqlite3 & \
		pid=$$!; for i in $$(seq 60); do curl -sf http://127.0.0.1:8097/health >/dev/null && break; sleep 0.5; done; \
		$(BIN)/python docs/screenshots.py page http://127.0.0.1:8097/ \
		docs/page-patient-4.png; status=$$?; kill $$pid; exit $$status

screenshots: screenshot

# Rewrite the rule catalogue embedded in docs/rule-base.md from the rule base (the site
# also regenerates it at build time; a test fails when the file is stale).
catalogue: install
	$(BIN)/python -c 'import pathlib, re; from sequencer import default_rulebook; from sequencer.present.markdown import markdown_catalogue; p = pathlib.Path("docs/rule-base.md"); t = p.read_text(); s, e = "<!-- catalogue:start -->", "<!-- catalogue:end -->"; p.write_text(t[: t.index(s) + len(s)] + "\n" + markdown_catalogue(default_rulebook()) + t[t.index(e):])'

# The documentation site (MkDocs with Material) from docs/ into site/, with --strict: a
# broken link or a page missing from the navigation fails it. The rule catalogue and the
# FHIR code table are generated while it builds (mkdocs_hooks.py).
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

clean:
	rm -rf $(VENV) build dist .pytest_cache .mypy_cache .ruff_cache
