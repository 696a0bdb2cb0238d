# The two commands of the README. Both set up the environment first (scripts/venv.sh).
.PHONY: smoke test bench tables ui
PY = $(shell scripts/venv.sh)

smoke:  ## set up, then run the smoke grid; prints where results and the MLflow UI are
	$(PY) -m bench run --grid smoke

test:   ## set up, then run the test suite (what CI runs)
	$(PY) -m pytest -q -p no:cacheprovider tests

bench:  ## speed benchmarks (pytest-benchmark; ratios against reference implementations)
	$(PY) -m pytest -q benchmarks --benchmark-enable --benchmark-columns=min,median,mean,rounds

tables: ## rewrite results/tables and results/figures from the MLflow runs
	$(PY) -m bench tables

ui:     ## MLflow UI on http://127.0.0.1:5000
	$(PY) -m bench ui
