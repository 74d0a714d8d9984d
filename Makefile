# The two commands of the README: `make demo` and `make test`. Both create .venv and install.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test proto bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Regenerates schema/*_pb2.py from schema/*.proto (commit the result).
proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I. --python_out=. schema/*.proto

bench: $(STAMP)
	$(BIN)/python bench/executor_overhead.py

clean:
	rm -rf $(VENV) build *.egg-info
