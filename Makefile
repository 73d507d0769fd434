# Two entry points: `make demo` (set up and run SAT on the built-in default) and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# A bare `torch` requirement would pull a multi-GB CUDA build; pin the CPU wheel first.
TORCH  ?= torch==2.13.0

.PHONY: demo test test-fast lint env env-dev bench clean

$(VENV)/.env-ok: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "$(TORCH)"
	$(PIP) install -q -e .
	touch $@

# torchattacks (the [attacks] extra) goes in without its dependencies: its metadata pins
# requests~=2.25.1 (idna<3), which no resolver can square with the Hugging Face stack, and asks for a
# torchvision built for another torch; it imports neither (its other needs, numpy, scipy and tqdm, are
# already here).
$(VENV)/.dev-ok: $(VENV)/.env-ok pyproject.toml
	$(PIP) install -q -e ".[dev]" "$(TORCH)"
	$(PIP) install -q --no-deps "torchattacks>=3.5"
	touch $@

env: $(VENV)/.env-ok
env-dev: $(VENV)/.dev-ok

demo: env
	$(VENV)/bin/sat train

# lint first (seconds), then the whole suite; `make test-fast` skips the end-to-end runs marked slow
test: lint
	$(PY) -m pytest -q

test-fast: env-dev
	$(PY) -m pytest -q -m "not slow"

lint: env-dev
	$(VENV)/bin/ruff check src tests benchmarks examples

bench: env-dev
	$(PIP) install -q -e ".[bench]"
	$(PY) -m benchmarks.accuracy.detection_vs_cleanlab --datasets digits,breast_cancer,wine,mnist --seeds 0,1,2 --out benchmarks/results/detection_vs_cleanlab.json
	$(PY) -m benchmarks.accuracy.detection_vs_cleanlab --datasets cifar10 --seeds 0 --out benchmarks/results/detection_vs_cleanlab.json
	$(PY) -m benchmarks.accuracy.selective_compare --families fmnist-selective-cnn,cifar10sub-selective-cnn --methods sat,gambler,ce,selectivenet --seeds 0,1,2 --out benchmarks/results/selective_cpu.json
	$(PY) -m benchmarks.accuracy.robust_compare --families mnist-robust-cnn,fmnist-robust-cnn --methods trades,trades-sat --seeds 0,1 --jobs 2 --out benchmarks/results/robust_cpu.json
	$(PY) -m benchmarks.speed.bank_memory --out benchmarks/results/bank_memory_cpu.json
	$(PY) -m benchmarks.accuracy.bank_precision --config digits-flip40-sat --overrides loss.start_epoch=10 --seeds 0,1,2 --out benchmarks/results/bank_precision_digits.json
	$(PY) -m benchmarks.accuracy.bank_precision --config cifar10sub-u40-mlp-memorise-sat --overrides loss.start_epoch=5 --dtypes float32,bfloat16 --seeds 0 --out benchmarks/results/bank_precision_cifar10sub.json
	$(PY) -m benchmarks.speed.ddp_equivalence --config digits-flip40-sat --overrides optim.epochs=60,loss.start_epoch=10 --nproc 2 --out benchmarks/results/ddp_equivalence.json
	$(PY) -m benchmarks.speed.pipeline_throughput --out benchmarks/results/pipeline_cpu.json
	$(PY) -m benchmarks.accuracy.dynamics --jobs 2 --out benchmarks/results/dynamics_fmnist.json --figure docs/figures/dynamics_fmnist.png
	$(PY) -m benchmarks.accuracy.double_descent --jobs 2 --out benchmarks/results/double_descent_mnist.json --figure docs/figures/double_descent_mnist.png
	OMP_NUM_THREADS=1 $(PY) -m benchmarks.speed.stream_throughput --out benchmarks/results/stream_cpu.json
	$(PY) -m benchmarks.accuracy.ssl_compare --seeds 0,1,2 --methods sat_ssl,byol,simsiam --jobs 2 --out benchmarks/results/ssl_cifar10sub.json
	$(PY) -m benchmarks.accuracy.noise_compare --config digits-flip40-sat --losses ce,sat,sat+loss.variant=sce,gce,sce,bootstrap,elr+loss.momentum=0.7,elr --seeds 0,1,2 --out benchmarks/results/digits_flip40.json loss.start_epoch=10

clean:
	rm -rf $(VENV) runs .pytest_cache
