# Two commands on a fresh machine: `make demo` (the main job) and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	# torch/torchvision first, pinned to the releases this machine keeps as local wheels
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e ".[int8,train,batch]" --group dev
	# This dev/test venv gets the GUI OpenCV: the --show test opens a real window under Xvfb.
	# opencv-python (GUI) and opencv-python-headless (our default, and roboflow's through
	# rfdetr[train]) install the same `cv2` folder: whichever pip writes last wins, and
	# uninstalling one deletes files of the other. So remove both, then put back the GUI
	# build alone, at the version pip resolved. Servers keep the headless default.
	cv=$$($(BIN)/python -c "import importlib.metadata as m; print(m.version('opencv-python-headless'))") && \
	$(BIN)/python -m pip uninstall -q -y opencv-python-headless opencv-python && \
	$(BIN)/python -m pip install -q --no-deps "opencv-python==$$cv"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ballwatch demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -m "not gpu" -q

bench: $(STAMP)
	$(BIN)/python bench/pipeline.py

clean:
	rm -rf $(VENV) out
