# ssi-model: every stage a data scientist runs is a target here; `make help` lists them.
# The first target that needs Python builds .venv from uv.lock (pinned), using only
# Python 3.11 and PyPI, so a fresh clone needs nothing installed by hand.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
STAMP := $(VENV)/.synced
RUN := $(UV) run --frozen --no-sync
SSI := $(RUN) ssi

export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Python keeps the bytecode it compiles (in the venv and src/, both ignored by git). With
# PYTHONDONTWRITEBYTECODE set, as on the shared machines, every new Python process compiled MLflow,
# pandas, scipy... from source again: 5 s more to import MLflow, 4 s more to start the API, and
# the tests start dozens of processes (servers, the CLI, notebook kernels, the bench). Empty is
# unset for Python. (Compiling the whole venv at sync instead, UV_COMPILE_BYTECODE, made a fresh
# `make env` 54 s instead of 12 s: most installed modules are never imported.)
export PYTHONDONTWRITEBYTECODE :=
# The embedded default MLflow store; set MLFLOW_TRACKING_URI to use a team server instead.
export MLFLOW_TRACKING_URI ?= sqlite:///$(CURDIR)/mlflow.db
# The embedded snapshot store (members over time); set SSI_DATABASE_URL for PostgreSQL.
export SSI_DATABASE_URL ?= sqlite:///$(CURDIR)/ssi.db
export MPLBACKEND := Agg
# No usage telemetry leaves this project (no network here, and its session bookkeeping races
# under parallel tests).
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := true

# The registered model's one name comes from the environment, for every target:
# SSI_MODEL_NAME=team-ssi make train promote predict (default ssi-estimator; SSI_MODEL_ALIAS: champion).

# Defaults for the data targets (override: make data N=5000 SEED=1)
N ?= 25000
SEED ?= 0
CALIBRATION ?= linkedin
EXPERIMENT ?= experiments/default.yaml
SAMPLES ?= data/raw/samples/members.csv
MODEL ?=
MODEL_FLAG := $(if $(MODEL),--model $(MODEL),)
SSI_LANG ?= en
HOST ?= 127.0.0.1
PORT ?= 8000
MLFLOW_PORT ?= 5000
MLFLOW_HOST ?= 127.0.0.1
MLFLOW_SERVER_ARGS ?=  # more `mlflow server` options, e.g. --allowed-hosts mlflow.internal
SPARK_MASTER ?= local[2]
COHORT := data/raw/cohort.csv
CLEAN := data/interim/cohort.clean.csv
QUARANTINE := data/interim/cohort.quarantine.csv
# The demo's member history: simulated members at three snapshot dates, 6 weeks apart.
HISTORY := data/raw/history.csv
HISTORY_N ?= 200
# The advice follow-up: simulated members given plans by the champion, some adopt, 6 weeks later.
FOLLOWUP := data/raw/followup.csv
FOLLOWUP_N ?= 1000
# How much reported data makes a useful model: reported scores from `elsewhere`, our stand-in for
# a world that is not the simulator, learnt with the small-data experiment (prior vs scratch).
ELSEWHERE := data/raw/elsewhere.csv
ELSEWHERE_N ?= 25000

.PHONY: help env env-spark data calibration train evaluate promote predict predict-spark explain \
	explain-spark report evaluate-levers evaluate-advice learning-curve serve notebooks bench bench-curves \
	mlflow-ui mlflow-server \
	mlflow-server-stop test test-unit test-system test-slow test-scale system-deps lint demo clean

help: ## List every target with what it does
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen
	@touch $@

env: $(STAMP) ## Create or update .venv from the lock file (done automatically by other targets)

# pyspark (~440 MB) is an optional extra: only the Spark targets install it, `make env` keeps
# the default install. `uv sync` without the extra would remove it again, so each Spark target
# syncs with it (quick when it is there).
env-spark: | $(UV) ## Install the optional Spark extra (pyspark; Java 17 must be on the machine)
	$(UV) sync --frozen --extra spark
	@touch $(STAMP)

data: $(STAMP) ## Simulate the default cohort into data/raw and validate it into data/interim
	$(SSI) simulate --n $(N) --seed $(SEED) --calibration $(CALIBRATION) --out $(COHORT) --with-truth
	$(SSI) validate $(COHORT) --out $(CLEAN) --quarantine $(QUARANTINE)

calibration: $(STAMP) ## Print the simulator's calibration figures (CALIBRATION=linkedin|coaching-guide)
	$(SSI) calibration --calibration $(CALIBRATION) --n $(N) --seed $(SEED)

train: $(STAMP) ## Train and register a version of SSI_MODEL_NAME (EXPERIMENT=experiments/default.yaml; DATA=path or SOURCE=store, ORIGIN=reported optional)
	$(SSI) train --config $(EXPERIMENT) $(if $(DATA),--data $(DATA),) $(if $(filter store,$(SOURCE)),--from-store,) \
		$(if $(ORIGIN),--origin $(ORIGIN),)

evaluate: $(STAMP) ## Write the evaluation report of the latest run (RUN=<run id> for another)
	$(SSI) evaluate $(if $(RUN),--run $(RUN),) --out reports/evaluation

promote: $(STAMP) ## Move @champion to the latest version if it passes the gate (VERSION=N, FORCE=1)
	$(SSI) promote $(if $(VERSION),--version $(VERSION),) $(if $(FORCE),--force,)

predict: $(STAMP) ## Score the sample members with the champion into data/processed/predictions.csv (MODEL=3 for a version)
	$(SSI) predict $(SAMPLES) --out data/processed/predictions.csv $(MODEL_FLAG)

predict-spark: env-spark ## The same scoring on Spark (SPARK_MASTER=local[2]) -> data/processed/predictions.spark.parquet/
	$(SSI) predict $(SAMPLES) --out data/processed/predictions.spark.parquet $(MODEL_FLAG) \
		--engine spark --master '$(SPARK_MASTER)'

explain-spark: env-spark ## Explanations on Spark -> data/processed/explanations.spark.jsonl/ (JSON Lines parts)
	$(SSI) explain $(SAMPLES) --out data/processed/explanations.spark.jsonl $(MODEL_FLAG) \
		--engine spark --master '$(SPARK_MASTER)' --lang $(SSI_LANG)

explain: $(STAMP) ## Drivers, levers and plan for the sample members -> data/processed/explanations.json (BUDGET=, TARGET=, SSI_LANG=nl)
	$(SSI) explain $(SAMPLES) --out data/processed/explanations.json $(MODEL_FLAG) \
		$(if $(BUDGET),--budget-minutes $(BUDGET),) $(if $(TARGET),--target $(TARGET),) --lang $(SSI_LANG)

report: $(STAMP) ## Coach reports for the sample members -> reports/members/index.html (SSI_LANG=en|nl|de)
	$(SSI) report $(SAMPLES) --out reports/members --lang $(SSI_LANG) $(MODEL_FLAG) \
		$(if $(BUDGET),--budget-minutes $(BUDGET),) $(if $(TARGET),--target $(TARGET),)

evaluate-levers: $(STAMP) ## Lever quality against the simulator's truth (validity, faithfulness, regret, stability)
	$(SSI) evaluate-levers $(MODEL_FLAG)

serve: $(STAMP) ## Serve the champion over HTTP at http://$(HOST):$(PORT) (docs at /docs)
	$(SSI) serve --host $(HOST) --port $(PORT)

notebooks: $(STAMP) ## Execute the notebooks top to bottom into reports/notebooks/ (SSI_NOTEBOOK_N=20000)
	$(RUN) python -m ssi_model.notebooks notebooks/01-explore-cohort.py \
		notebooks/02-train-and-evaluate.py notebooks/03-drivers-and-levers.py

bench: $(STAMP) ## Measure every speed figure against raw LightGBM -> benchmarks/results.{json,md} (QUICK=1: smoke run)
	$(RUN) python -m benchmarks.run $(if $(QUICK),--quick,)

CURVES ?= train,predict,explain
bench-curves: $(STAMP) ## Cost curves: training 5k-1M rows, scoring 10k/1M, explaining 100/10k (CURVES=train,predict,explain; long)
	$(RUN) python -m benchmarks.cost_curves --only $(CURVES)

mlflow-ui: $(STAMP) ## Browse runs and the registry at http://127.0.0.1:$(MLFLOW_PORT)
	$(RUN) mlflow ui --backend-store-uri $(MLFLOW_TRACKING_URI) --host 127.0.0.1 --port $(MLFLOW_PORT)

# The backend is MLFLOW_BACKEND_STORE_URI (a team's PostgreSQL) or a local cluster in .pg/;
# artifacts go through the server to MLFLOW_ARTIFACTS_DESTINATION (a folder, or s3://bucket/path).
mlflow-server: $(STAMP) ## A team tracking server on PostgreSQL at http://$(MLFLOW_HOST):$(MLFLOW_PORT) (proxied artifacts)
	$(RUN) python -m ssi_model.tracking.team_server --host $(MLFLOW_HOST) --port $(MLFLOW_PORT) \
		-- $(MLFLOW_SERVER_ARGS)

mlflow-server-stop: $(STAMP) ## Stop the local PostgreSQL cluster of mlflow-server (.pg/)
	$(RUN) python -m ssi_model.tracking.team_server stop

# The suite on 2 workers; each file's tests stay on one worker (their module fixtures are built
# once), the tests of the shared trained model form one group (trained once), and the long
# groups are dealt out first (hence no reordering by size): see tests/conftest.py.
# Layers: unit (in memory), model (MLflow store), system (real processes).
PYTEST_XDIST := -n 2 --dist loadfile --no-loadscope-reorder

test: $(STAMP) ## Run the test suite: every layer but `slow` and `scale` (under 5 minutes on 2 cores)
	$(RUN) pytest -m "not slow and not scale" $(PYTEST_XDIST) --durations=15

test-unit: $(STAMP) ## Run only the unit tests (in memory: no MLflow store, no processes)
	$(RUN) pytest -m "unit and not slow and not scale" $(PYTEST_XDIST)

test-system: $(STAMP) ## Run only the system tests (servers, browser, notebooks, bench smoke)
	$(RUN) pytest -m "system and not slow and not scale" $(PYTEST_XDIST) --durations=10

# One process: a Spark session (JVM and Python workers on local[2]) already uses both cores.
test-scale: env-spark ## The scale tier (CI runs it after make test): Spark, the team server and the store on PostgreSQL
	$(RUN) pytest -m scale --durations=10

test-slow: $(STAMP) ## Run only the slow tests (quality bars on full-size cohorts)
	$(RUN) pytest -m slow

# What the system tests need from the OS (no test installs anything): Debian's Chromium and its
# driver for the browser tests. Needs root; does nothing when both are already there.

system-deps: ## Install the system tests' and the bench's OS packages: chromium, chromium-driver, wrk (apt-get, root)
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && [ -x /usr/bin/wrk ]; then \
		echo "system-deps: chromium, chromedriver and wrk present"; \
	else \
		apt-get update && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver wrk; \
	fi

lint: $(STAMP) ## ruff, mypy and the import layers (import-linter contracts in pyproject.toml)
	$(RUN) ruff check src tests
	$(RUN) mypy
	$(RUN) lint-imports

learning-curve: $(STAMP) ## Prior vs scratch at 500, 1k, 2k, 5k and 20k reported scores from another world -> reports/learning-curve/ (about 30 min)
	$(SSI) simulate --n $(ELSEWHERE_N) --seed 11 --calibration elsewhere --with-truth --out $(ELSEWHERE)
	SSI_MODEL_NAME=ssi-learning-curve $(SSI) train --config experiments/small-data.yaml --data $(ELSEWHERE)
	SSI_MODEL_NAME=ssi-learning-curve $(SSI) evaluate --out reports/learning-curve

evaluate-advice: $(STAMP) ## Did the advice work? Plans followed up on a simulated cohort with truth -> reports/advice.json
	$(SSI) simulate --n $(FOLLOWUP_N) --seed $(SEED) --calibration $(CALIBRATION) --waves 2 --weeks-between 6 --with-truth $(MODEL_FLAG) --out $(FOLLOWUP)
	$(SSI) evaluate-advice --input $(FOLLOWUP) --out reports/advice.json $(MODEL_FLAG)

demo: data ## Run the main job end to end on the embedded defaults and say where outputs are
	$(SSI) train --config $(EXPERIMENT) --data $(CLEAN)
	$(SSI) promote
	$(SSI) predict $(SAMPLES) --out data/processed/predictions.csv
	$(SSI) explain $(SAMPLES) --out data/processed/explanations.json
	$(SSI) report data/processed/explanations.json --out reports/members --lang $(SSI_LANG)
	$(SSI) simulate --n $(HISTORY_N) --seed $(SEED) --calibration $(CALIBRATION) --waves 3 --out $(HISTORY)
	$(SSI) store import $(HISTORY) --consent training
	$(SSI) explain --from-store --as-of 2026-08-19 --out data/processed/issued-plans.json
	$(SSI) report --from-store --out reports/members-history --lang $(SSI_LANG)
	$(SSI) store export-plans --out data/processed/plans.json
	$(SSI) evaluate-advice --out reports/advice-store.json --no-log
	$(MAKE) evaluate-advice
	@echo
	@echo "demo outputs:"
	@echo "  simulated cohort:      $(COHORT)"
	@echo "  clean / quarantined:   $(CLEAN) / $(QUARANTINE)"
	@echo "  MLflow store:          $(MLFLOW_TRACKING_URI)  (browse: make mlflow-ui)"
	@echo "  predictions:           data/processed/predictions.csv"
	@echo "  explanations (levers): data/processed/explanations.json"
	@echo "  coach reports:         reports/members/index.html"
	@echo "  snapshot store:        $(SSI_DATABASE_URL)  ($(HISTORY_N) members at 3 snapshot dates)"
	@echo "  reports with history:  reports/members-history/index.html  (with each member's plan of 2026-08-19 and what happened)"
	@echo "  issued plans:          data/processed/plans.json (plans of 2026-08-19, followed up on 2026-09-30)"
	@echo "  advice follow-up:      reports/advice.json (simulated adoption, with truth); reports/advice-store.json"

clean: ## Remove generated data, MLflow store and reports (keeps .venv and the .pg/ cluster)
	rm -rf data/raw/cohort* data/raw/history.csv data/raw/followup.csv data/interim/* \
		data/processed/* mlflow.db mlruns reports spark-warehouse metastore_db derby.log
	@touch data/raw/.gitkeep data/interim/.gitkeep data/processed/.gitkeep
