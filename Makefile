# fupin: the two commands are `make demo` (main job, embedded SQLite) and `make test`.
# Both set up .venv from constraints.txt first (pinned versions), so a fresh clone needs nothing else.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo serve test lint typecheck unit k8s-check proto lock bench compose-e2e clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: setup
	$(BIN)/fupin demo

serve: setup
	$(BIN)/fupin serve

test: setup lint typecheck k8s-check unit

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

typecheck: setup
	$(BIN)/mypy registry matcher server clients web

# The Kubernetes manifests render (kustomize) and match the Kubernetes 1.30 schemas, strictly.
K8S_VERSION ?= 1.30.0
k8s-check: setup
	kubectl kustomize deploy/k8s > $(VENV)/k8s-rendered.yaml
	$(BIN)/kubernetes-validate --strict --quiet -k $(K8S_VERSION) $(VENV)/k8s-rendered.yaml

unit: setup
	$(BIN)/pytest -n 2 --dist loadgroup

proto: setup
	$(BIN)/python scripts/gen_proto.py

# Re-resolve and pin every dependency (run after changing pyproject.toml's dependencies).
lock:
	rm -rf /tmp/fupin-lock && $(PYTHON) -m venv /tmp/fupin-lock
	/tmp/fupin-lock/bin/pip install --quiet -e ".[dev]"
	(echo "# Pinned versions for every install (pip install -c constraints.txt). Regenerate: make lock"; \
	 /tmp/fupin-lock/bin/pip freeze --exclude-editable | grep -v '^fupin') > constraints.txt

bench: setup
	$(BIN)/python bench/registry.py

# The compose topology on a real Docker engine (installed and started when missing), base
# images built from Debian packages; prints one JSON line (docs/operations.md). Not in CI.
compose-e2e: setup
	$(BIN)/python bench/compose_e2e.py

clean:
	rm -rf $(VENV) var build *.egg-info .mypy_cache .ruff_cache .pytest_cache
