# A thin layer over nox. Only python3 and make are needed: the first target run
# bootstraps nox and uv (pinned in tools-requirements.txt) into .tools/.
PYTHON ?= python3
TOOLS := .tools
NOX := $(TOOLS)/bin/nox
RUN ?=
ARGS ?=
PYTHONS ?=
export PATH := $(abspath $(TOOLS))/bin:$(PATH)

.DEFAULT_GOAL := help

.PHONY: help ## show this help
help:
	@echo "asyncbench: make TARGET"
	@grep -E '^\.PHONY: [a-z-]+ ## ' $(MAKEFILE_LIST) | sed -E 's/^\.PHONY: ([a-z-]+) ## (.*)/  \1\t\2/' | expand -t 14

$(TOOLS)/.stamp: tools-requirements.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check -r tools-requirements.txt
	touch $@

.PHONY: tools ## install nox and uv into .tools/
tools: $(TOOLS)/.stamp

.PHONY: dev ## create .venv/ from the lock with the project and test tools installed
dev: $(TOOLS)/.stamp
	$(TOOLS)/bin/uv sync --frozen --all-groups

.PHONY: test ## run the whole test suite
test: $(TOOLS)/.stamp
	$(NOX) -s tests -- $(ARGS)

.PHONY: lint ## ruff and mypy
lint: $(TOOLS)/.stamp
	$(NOX) -s lint

.PHONY: check ## start every stack and check the app contract (CONFIG=configs/dev.toml for others)
check: $(TOOLS)/.stamp
	$(NOX) -s check -- $(if $(CONFIG),--config $(CONFIG),)

.PHONY: pythons ## build a locked environment per interpreter for [run] pythons (PYTHONS="3.12 3.13")
pythons: $(TOOLS)/.stamp
	$(NOX) -s pythons -- $(PYTHONS)

.PHONY: quick ## about a minute: sync against async on three stacks, then the report
quick: $(TOOLS)/.stamp
	$(NOX) -s quick -- $(ARGS)

.PHONY: bench ## run the default benchmark matrix and render its report (ARGS="--config ...")
bench: $(TOOLS)/.stamp
	$(NOX) -s bench -- $(ARGS)

.PHONY: report ## re-render the newest run's report, or RUN=results/<id>
report: $(TOOLS)/.stamp
	$(NOX) -s report -- $(RUN)

.PHONY: publish ## bundle a run as <run_id>.tar.gz beside it, with SHA256SUMS: RUN=results/<id>
publish: $(TOOLS)/.stamp
	$(NOX) -s publish -- $(RUN)
ifneq ($(filter publish,$(MAKECMDGOALS)),)
ifeq ($(RUN),)
$(error RUN is required: make publish RUN=results/<id>)
endif
endif

.PHONY: image ## build the image for --target compose (ARGS="--base python:3.11-slim" to use a registry)
image: $(TOOLS)/.stamp
	$(NOX) -s image -- $(ARGS)

.PHONY: lock ## regenerate uv.lock
lock: $(TOOLS)/.stamp
	$(NOX) -s lock

.PHONY: clean ## remove the tools, nox and interpreter environments (keeps results/)
clean:
	rm -rf $(TOOLS) .nox .pythons
