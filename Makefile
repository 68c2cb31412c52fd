# weft: `make demo` trains on real data, `make test` runs the tests. Both set up what they need.
SHELL := /bin/bash
# The venv's interpreter: Debian's python3 where it can make venvs, else python3 on PATH (PYTHON=...
# overrides). Debian builds it with profile-guided and link-time optimisation; JAX's tracing, about half of
# the test suite's time, is plain Python and runs faster on it than on a default source build such as pyenv's.
SYSTEM_PYTHON := /usr/bin/python3
PYTHON ?= $(shell $(SYSTEM_PYTHON) -c 'import ensurepip, sys; assert sys.version_info >= (3, 10)' 2>/dev/null \
	&& echo $(SYSTEM_PYTHON) || echo python3)
VENV := .venv
PY := $(VENV)/bin/python
NAS := $(VENV)/bin/nas
DATA_DIR ?= /usr/share/datasets/fashion-mnist
FORTUNES_DIR ?= /usr/share/games/fortunes
DEMO_RUN ?= runs/demo
DEMO_STEPS ?= 1800
STAMP := $(VENV)/.installed

.PHONY: install data demo test test-slow bench clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

# Fashion-MNIST comes from Debian's dataset-fashion-mnist package (IDX files, no download code),
# the byte-level text corpus (`--data fortunes`) from the fortunes package. WEFT_FASHION_MNIST / WEFT_FORTUNES,
# when set, name the user's own copies: they stand in for the packages (nas says what is wrong with a bad one).
data:
	@missing=""; \
	[ -n "$$WEFT_FASHION_MNIST" ] || [ -f $(DATA_DIR)/train-images-idx3-ubyte.gz ] \
		|| missing="$$missing dataset-fashion-mnist"; \
	[ -n "$$WEFT_FORTUNES" ] || [ -f $(FORTUNES_DIR)/fortunes ] || missing="$$missing fortunes"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing with apt-get"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else \
		echo "missing Debian data packages:$$missing (Fashion-MNIST in $(DATA_DIR), fortunes in $(FORTUNES_DIR))." >&2; \
		echo "Install them with: sudo apt-get install$$missing" >&2; \
		echo "(or set WEFT_FASHION_MNIST / WEFT_FORTUNES to directories holding the files)" >&2; \
		exit 1; \
	fi

# Train the MobileNetV3 supernet (width 0.5) on Fashion-MNIST, then export and reload
# its largest and smallest subnets without the supernet. Re-running resumes.
demo: install data
	$(NAS) train --space mobilenetv3 --option width_mult=0.5 --steps $(DEMO_STEPS) --batch-size 128 \
		--sampling sandwich --num-random 0 --distillation none --lr 0.1 --warmup-steps 50 --run $(DEMO_RUN)
	@if [ ! -f $(DEMO_RUN)/exports/smallest/arch.json ]; then \
		$(NAS) export --run $(DEMO_RUN) --arch largest --arch smallest; fi
	$(NAS) eval-export $(DEMO_RUN)/exports/largest $(DEMO_RUN)/exports/smallest

# Test files run on TEST_WORKERS processes (pytest-xdist), each file whole on one worker so that a
# module's shared fixtures (a trained tiny run) are built once. Files go out in collection order, the long
# ones (marked `early`, tests/conftest.py) first, not xdist's default of the files with the most tests first.
# Some tests read the real data (a Fashion-MNIST slice, the fortunes), so `test` installs it as `demo` does.
TEST_WORKERS ?= 2
test: install data
	$(VENV)/bin/ruff check nas supernets searchers search_spaces experiments tests
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=25

test-slow: install data
	$(PY) -m pytest -q -m slow

# Each prints one JSON line; train and evaluate also run the OFA PyTorch peer (../shared/peers/ofa).
# train and evaluate alternate with the OFA PyTorch peer round by round (its venv is set up on first use;
# bash ../shared/peers/ofa/setup.sh does it ahead). BENCH_RUN=nice -n -5 gives the benches priority on a shared box.
BENCH_RUN ?=
bench: install
	$(BENCH_RUN) $(PY) -m experiments.bench.step
	$(BENCH_RUN) $(PY) -m experiments.bench.train
	$(BENCH_RUN) $(PY) -m experiments.bench.evaluate

clean:
	rm -rf $(VENV) runs .pytest_cache
