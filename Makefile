# Two entry points: `make demo` (train a small model on CPU and write a report) and `make test`.
# Both create .venv and install everything they need; torch is pinned to the 2.13.0 CPU wheel.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export OMP_WAIT_POLICY := PASSIVE

.PHONY: demo test lint docs bench clean reproduce mutants

$(STAMP): pyproject.toml constraints.txt Makefile
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[test,docs,baselines]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/heatmark demo

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
	$(MAKE) --no-print-directory docs
	$(PY) -m pytest -q
	$(PY) tests/mutants/run.py --fast

# Every deliberate bug of tests/mutants/mutants.yaml must make its tests fail (~6 min on 2 cores;
# `make test` runs the quick subset). Run it after changing a test or the code a mutant touches.
mutants: $(STAMP)
	$(PY) tests/mutants/run.py --check-clean

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

# The documentation site (mkdocs.yml, docs/) into site/ (git-ignored). --strict: a broken link,
# anchor, nav entry or API reference fails the build, and so `make test`. Nothing is fetched
# while building. NO_MKDOCS_2_WARNING silences Material's end-of-life banner (May 2027).
# The pictures in docs/images/ are committed; `$(PY) docs/make_figures.py` remakes them.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir site

bench: $(STAMP)  # ~10 minutes; needs ../shared/data/300w for the data pipeline
	$(PY) benchmarks/bench_data_pipeline.py
	$(PY) benchmarks/bench_models.py
	$(PY) benchmarks/bench_wasserstein.py --training

# The papers' tables as a grid of cached CPU runs (~6 h on 2 cores; docs/results.md). Re-running
# skips finished runs and resumes stopped ones; e.g. make reproduce ARGS="--budget-minutes 60".
reproduce: $(STAMP)
	$(VENV)/bin/heatmark reproduce $(ARGS)

clean:
	rm -rf $(VENV) runs reports site
