# Two commands: `make run` serves hushan on ./hushan.db, `make test` runs every check.
# Both bootstrap .venv from requirements.lock (pinned) on first use.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-citus lint bench fuzz lock clean mutation mutation-sample client screenshots

run: $(STAMP)
	$(BIN)/hushan serve

# Every check: lint, the test suite (the console's browser tests need Debian's chromium, which
# scripts/ensure-chromium installs when missing), the cluster subset on a Citus cluster it
# starts (scripts/test-citus --ci: builds Citus when missing), then the mutation sample held to
# its bars. `loadgroup` spreads tests as `load` does, but keeps a module marked `xdist_group`
# on one worker: the browser tests then start one server and one browser, not one per worker.
test: $(STAMP) lint
	scripts/ensure-chromium
	$(BIN)/pytest -n 2 --dist loadgroup
	scripts/test-citus --ci
	$(MAKE) --no-print-directory mutation-sample

# The cluster suite: the store, state-machine, race and API tests on a three-node Citus cluster
# started on free ports and stopped afterwards (scripts/test-citus; builds Citus when missing).
test-citus: $(STAMP)
	scripts/test-citus

# Mutation testing of the core against its bars (tools/mutation.py): every mutant (about
# 45 minutes on 2 cores), or the same MUTATION_SAMPLE mutants of each group (under 2 minutes).
MUTATION_SAMPLE ?= 20

mutation: $(STAMP)
	$(BIN)/python -m tools.mutation

mutation-sample: $(STAMP)
	$(BIN)/python -m tools.mutation --sample $(MUTATION_SAMPLE)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m bench.engine
	$(BIN)/python -m bench.tlog
	$(BIN)/python -m bench.scale --backend sqlite
	$(BIN)/python -m bench.scale --backend postgres
	$(BIN)/python -m bench.posts --backend sqlite
	$(BIN)/python -m bench.posts --backend postgres
	$(BIN)/python -m bench.sync --backend sqlite
	$(BIN)/python -m bench.sync --backend postgres
	$(BIN)/python -m bench.two_worlds --backend sqlite
	$(BIN)/python -m bench.two_worlds --backend postgres
	$(BIN)/python -m bench.stall --backend sqlite
	$(BIN)/python -m bench.stall --backend postgres
	$(BIN)/python -m bench.serving --backend sqlite
	$(BIN)/python -m bench.serving --backend postgres
	$(BIN)/python -m bench.idempotency --backend sqlite
	$(BIN)/python -m bench.idempotency --backend postgres
	$(BIN)/python -m bench.webhooks --backend sqlite
	$(BIN)/python -m bench.webhooks --backend postgres
	$(BIN)/python -m bench.hold
	$(BIN)/python -m bench.cleanup --backend sqlite
	$(BIN)/python -m bench.cleanup --backend postgres

# Schema fuzzing at length: tests/test_fuzz.py with 35 cases per operation, caller and mode
# (over 10,000 requests per backend; one JSON line each); `make test` runs it with 3.
fuzz: $(STAMP)
	HUSHAN_FUZZ_EXAMPLES=35 $(BIN)/pytest tests/test_fuzz.py -n 0 -s --timeout=0

# The console's screenshots (docs/screenshots/, shown in docs/console.md): each page at 1280 and
# 390 px wide, taken by the browser tests as they go.
screenshots: $(STAMP)
	scripts/ensure-chromium
	mkdir -p docs/screenshots
	HUSHAN_SCREENSHOTS=docs/screenshots $(BIN)/pytest tests/test_console_browser.py -n 0 -q

# Write the Python client's operations (src/hushan/client/ops.py) from the OpenAPI document,
# after changing the API: tests/test_client.py fails while the two differ.
client: $(STAMP)
	$(BIN)/python -m tools.gen_client

# Re-pin after changing pyproject.toml: installs what it names and records exact versions.
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install -q -e '.[dev]'
	.venv-lock/bin/pip freeze --exclude-editable | grep -v '^hushan' > requirements.lock
	rm -rf .venv-lock

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

clean:
	rm -rf $(VENV) mutants
