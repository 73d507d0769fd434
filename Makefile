# Two entry points: `make demo` (set up and run SAT on the built-in default) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# A bare `torch` requirement would pull a multi-GB CUDA build; pin the CPU wheel first.
TORCH  ?= torch==2.13.0

.PHONY: demo test env env-dev bench clean

$(VENV)/.env-ok: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e .
	touch $@

# the [attacks] extra (torchattacks) is installed with torch pinned in the same command, so that
# pip keeps the CPU wheel instead of resolving torchattacks' torchvision to a new CUDA torch
$(VENV)/.dev-ok: $(VENV)/.env-ok
	$(PIP) install -q -e ".[dev,attacks]" "$(TORCH)"
	touch $@

env: $(VENV)/.env-ok
env-dev: $(VENV)/.dev-ok

demo: env
	$(VENV)/bin/sat train

test: env-dev
	$(PY) -m pytest -q

bench: env-dev
	$(PIP) install -q -e ".[bench]"
	$(PY) benchmarks/detection_vs_cleanlab.py --datasets digits,breast_cancer,wine,mnist --seeds 0,1,2 --out benchmarks/results/detection_vs_cleanlab.json
	$(PY) benchmarks/detection_vs_cleanlab.py --datasets cifar10 --seeds 0 --out benchmarks/results/detection_vs_cleanlab.json
	$(PY) benchmarks/selective_compare.py --families fmnist-selective-cnn,cifar10sub-selective-cnn --methods sat,gambler,ce,selectivenet --seeds 0,1,2 --out benchmarks/results/selective_cpu.json
	$(PY) benchmarks/robust_compare.py --families mnist-robust-cnn,fmnist-robust-cnn --methods trades,trades-sat --seeds 0,1 --jobs 2 --out benchmarks/results/robust_cpu.json
	$(PY) benchmarks/bank_memory.py --out benchmarks/results/bank_memory_cpu.json
	$(PY) benchmarks/bank_precision.py --config digits-flip40-sat --seeds 0,1,2 --out benchmarks/results/bank_precision_digits.json
	$(PY) benchmarks/bank_precision.py --config cifar10sub-u40-mlp-memorise-sat --dtypes float32,bfloat16 --seeds 0 --out benchmarks/results/bank_precision_cifar10sub.json
	$(PY) benchmarks/ddp_equivalence.py --config digits-flip40-sat --nproc 2 --out benchmarks/results/ddp_equivalence.json
	$(PY) benchmarks/pipeline_throughput.py --out benchmarks/results/pipeline_cpu.json
	$(PY) benchmarks/dynamics.py --jobs 2 --out benchmarks/results/dynamics_fmnist.json --figure docs/figures/dynamics_fmnist.png
	$(PY) benchmarks/double_descent.py --jobs 2 --out benchmarks/results/double_descent_mnist.json --figure docs/figures/double_descent_mnist.png
	OMP_NUM_THREADS=1 $(PY) benchmarks/stream_throughput.py --out benchmarks/results/stream_cpu.json
	$(PY) benchmarks/ssl_compare.py --seeds 0,1,2 --methods sat_ssl,byol,simsiam --jobs 2 --out benchmarks/results/ssl_cifar10sub.json
	$(PY) benchmarks/noise_compare.py --config digits-flip40-sat --losses ce,sat,sat+loss.variant=sce,gce,sce,bootstrap,elr+loss.momentum=0.7,elr --seeds 0,1,2 --out benchmarks/results/digits_flip40.json

clean:
	rm -rf $(VENV) runs .pytest_cache
