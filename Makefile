PYTHON ?= python3

.PHONY: setup demo test tour bench

# Installs torch only when missing, CPU build first (never the registry's multi-GB CUDA build by accident).
setup:
	@$(PYTHON) -c "import torch" 2>/dev/null || $(PYTHON) -m pip install torch==2.13.0 || $(PYTHON) -m pip install torch --index-url https://download.pytorch.org/whl/cpu
	$(PYTHON) -m pip install -q -e ".[test]"

demo: setup
	$(PYTHON) -m pointdistill demo --out demo-run --resume

test: setup
	$(PYTHON) -m pytest -q

tour: setup
	$(PYTHON) -m pointdistill data tour synthetic:shapes --out demo-run/tour

bench: setup
	$(PYTHON) -m pointdistill bench --quick
