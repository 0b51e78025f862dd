# c360 — run `make` (or `make help`) for the list of targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP  := $(VENV)/.installed

export C360_LAKE_ROOT ?= $(CURDIR)/lakehouse

.PHONY: help venv demo test test-fast bench lint clean airflow airflow-env serve notebook notebooks-run notebooks-strip lock cluster cluster-stop

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# Bytecode is compiled when the environment is installed, and for the project's own modules
# before every target that starts c360 processes (test, bench, demo, serve, airflow, notebook,
# cluster): where PYTHONDONTWRITEBYTECODE is set (this machine sets it), Python never caches
# what it compiles, so every process of a run (pytest workers, each spark-submit of an Airflow
# task, CLI and server subprocesses, Spark's Python workers) would compile pandas, Great
# Expectations, Airflow and c360 from source again (docs/benchmarks.md).
COMPILE := $(BIN)/python -m compileall -q -j 0 c360 dags tests benchmarks

$(STAMP): requirements.lock pyproject.toml Makefile $(wildcard c360/jvm/*.java) $(wildcard c360/native/*.c)
	@command -v java >/dev/null || { echo "Java 17+ is required (apt-get install openjdk-17-jre-headless)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --disable-pip-version-check "uv==$(UV_VERSION)"
	$(BIN)/uv pip sync --python $(BIN)/python -q --compile-bytecode requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python -q --no-deps -e .
	@$(BIN)/python -m c360.spark || echo "note: no JVM class archive written; Spark JVMs start without it"
	@$(BIN)/python -m c360.native
	@touch $(STAMP)

venv: $(STAMP) ## Create or update the virtual environment from the lock file

demo: $(STAMP) ## Install, then run the pipeline over mock_data into ./lakehouse
	@$(COMPILE)
	$(BIN)/c360 demo

TEST_WORKERS ?= 2
test: $(STAMP) ## Install, then run the whole test suite (on TEST_WORKERS pytest-xdist workers)
	@$(COMPILE)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder

test-fast: $(STAMP) ## Run the tests without the slow end-to-end ones
	@$(COMPILE)
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP) ## Run the benchmarks (all, or BENCH="storage aqi") and write docs/benchmarks.md
	@$(COMPILE)
	$(BIN)/python -m benchmarks.run $(BENCH)

serve: $(STAMP) ## Serve the lake's published tables over HTTP on 127.0.0.1:8000 (docs at /docs); no Spark
	@$(COMPILE)
	$(BIN)/c360 serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

CLUSTER_WORKERS ?= 2
cluster: $(STAMP) ## Start a Spark standalone master and CLUSTER_WORKERS workers on 127.0.0.1 (docs/cluster.md)
	@$(COMPILE)
	@$(BIN)/python -m c360.cluster start --workers $(CLUSTER_WORKERS)

cluster-stop: $(STAMP) ## Stop the cluster make cluster started
	@$(BIN)/python -m c360.cluster stop

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check c360 tests dags benchmarks
	$(BIN)/mypy c360

AIRFLOW_HOME_DIR ?= $(CURDIR)/airflow_home
AIRFLOW_PORT     ?= 8080
AIRFLOW_HOST     ?= 127.0.0.1
AIRFLOW_DAGS     ?= $(CURDIR)/dags
# Every URL (UI, REST API, the execution API that tasks call) is derived from AIRFLOW_PORT.
AIRFLOW_ARGS = --home $(AIRFLOW_HOME_DIR) --port $(AIRFLOW_PORT) --host $(AIRFLOW_HOST) --dags $(AIRFLOW_DAGS)

airflow: $(STAMP) ## Start Airflow on AIRFLOW_PORT (default 8080; SQLite in ./airflow_home, dags/); one Ctrl-C stops it
	@$(COMPILE)
	@exec $(BIN)/python -m c360.airflow_supervisor run $(AIRFLOW_ARGS)

airflow-env: $(STAMP) ## Print make airflow's settings as exports for the airflow CLI: eval "$(make -s airflow-env)"
	@$(BIN)/python -m c360.airflow_supervisor env $(AIRFLOW_ARGS)

JUPYTER_DIR   := $(CURDIR)/.jupyter
NOTEBOOK_PORT ?= 8888

notebook: $(STAMP) ## Start JupyterLab on notebooks/ (project kernel, lake at C360_LAKE_ROOT, offline, 127.0.0.1)
	@$(COMPILE)
	@test -d "$(C360_LAKE_ROOT)" || echo "note: no lake at $(C360_LAKE_ROOT) yet; run 'make demo' (or set C360_LAKE_ROOT)"
	@$(BIN)/python -m c360.jupyter kernelspec --dir $(JUPYTER_DIR)/data/kernels \
	  --lake-root "$(C360_LAKE_ROOT)" --pythonpath $(CURDIR) >/dev/null
	@$(BIN)/python -m c360.jupyter lab-settings --dir $(JUPYTER_DIR)/lab-settings >/dev/null
	@token=$$($(BIN)/python -c 'import secrets; print(secrets.token_hex(24))'); \
	echo "JupyterLab: http://127.0.0.1:$(NOTEBOOK_PORT)/lab?token=$$token"; \
	echo "Lake: $(C360_LAKE_ROOT)   kernel: c360 ($(BIN)/python)   Ctrl-C stops it"; \
	JUPYTER_CONFIG_DIR=$(JUPYTER_DIR)/config JUPYTER_DATA_DIR=$(JUPYTER_DIR)/data \
	JUPYTER_RUNTIME_DIR=$(JUPYTER_DIR)/runtime \
	PYTHONPATH=$(CURDIR) PATH=$(abspath $(BIN)):$$PATH \
	exec $(BIN)/jupyter lab --no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port=$(NOTEBOOK_PORT) \
	  --ServerApp.port_retries=0 --IdentityProvider.token=$$token \
	  --ServerApp.root_dir=$(CURDIR)/notebooks --MappingKernelManager.default_kernel_name=c360 \
	  --LabApp.app_settings_dir=$(JUPYTER_DIR)/lab-settings \
	  --LabApp.news_url=None --LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate \
	  --LabApp.extension_manager=readonly $(if $(filter 0,$(shell id -u)),--allow-root)

REPORTS_DIR ?= $(CURDIR)/reports
notebooks-run: $(STAMP) ## Run notebooks/ headless against C360_LAKE_ROOT: executed copies and HTML pages in REPORTS_DIR (reports/)
	@$(COMPILE)
	@PYTHONPATH=$(CURDIR) PATH=$(abspath $(BIN)):$$PATH \
	  $(BIN)/python -m c360.jupyter run --out "$(REPORTS_DIR)" --html --lake-root "$(C360_LAKE_ROOT)"

notebooks-strip: $(STAMP) ## Remove outputs and execution counts from notebooks/*.ipynb (commit them clean)
	$(BIN)/python -m c360.jupyter strip

lock: ## Re-resolve requirements.lock from pyproject.toml (needs network to PyPI)
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra airflow --python-version 3.11 -o requirements.lock

clean: ## Remove the virtual environment, the lake and caches
	rm -rf $(VENV) lakehouse .pytest_cache .cluster
