# Two commands for a fresh machine with only python3 (>= 3.10):
#   make lab   - set up .venv and start JupyterLab on notebooks/
#   make test  - set up .venv and run the unit tests and every notebook (quick profile)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.resnet-lab-installed

.PHONY: lab test install clean-venv

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

test: $(STAMP)
	RESNET_LAB_PROFILE=quick RESNET_LAB_DOWNLOAD=0 $(PY) -m pytest

clean-venv:
	rm -rf $(VENV)
