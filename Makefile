# Two commands for a fresh machine with only python3 (>= 3.10):
#   make lab   - set up .venv and start JupyterLab on notebooks/
#   make test  - set up .venv and run the unit tests and every notebook (quick profile): what CI runs
# and one for the development loop:
#   make test-fast - the unit tests without the notebooks and without tests marked `slow`
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.resnet-lab-installed

.PHONY: lab test test-fast install clean-venv

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[lab,test]"
	@touch $(STAMP)

# --allow-root only where it is needed (containers, CI); a normal user never gets it.
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_ARGS ?=

lab: $(STAMP)
	$(PY) -m jupyter lab --notebook-dir=notebooks $(ROOT_FLAG) $(LAB_ARGS)

# Tests run in the quick profile and never download. One torch thread per process: the suite runs in
# TEST_WORKERS processes (pytest-xdist), and two threads each on two cores is far slower than one.
TEST_ENV := RESNET_LAB_PROFILE=quick RESNET_LAB_DOWNLOAD=0 OMP_WAIT_POLICY=PASSIVE OMP_NUM_THREADS=1
TEST_WORKERS ?= 2

# The full suite (tests/ and notebooks/, English and Chinese, see pyproject), listing the 15 slowest tests at
# the end. --dist loadscope keeps each notebook (one kernel, cells in order) and each test module on one worker.
test: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest -n $(TEST_WORKERS) --dist loadscope --durations=15

test-fast: $(STAMP)
	$(TEST_ENV) $(PY) -m pytest tests -m "not slow"

clean-venv:
	rm -rf $(VENV)

# Every lesson (English, then Chinese) in JupyterLab + headless Chromium: runs all cells, checks for errors, moves the depth
# sliders, saves screenshots to runs/browser/. Needs Debian's chromium (installed here when root).
.PHONY: test-browser
test-browser: $(STAMP)
	@$(PY) -c "import playwright" 2>/dev/null || $(PY) -m pip install --quiet -e ".[browser]"
	@if [ -z "$$RESNET_LAB_CHROMIUM" ] && [ ! -x /usr/bin/chromium ] && [ ! -x /usr/bin/chromium-browser ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	  else \
	    echo "make test-browser needs Chromium: run 'sudo apt-get install chromium' (Debian/Ubuntu)," \
	         "or set RESNET_LAB_CHROMIUM to a Chromium binary." >&2; \
	    exit 2; \
	  fi; \
	fi
	RESNET_LAB_PROFILE=quick $(PY) tests/browser/run_lessons.py
	RESNET_LAB_PROFILE=quick $(PY) tests/browser/run_lessons.py --dir notebooks/zh --out runs/browser/zh
