# Developer entry points. `make` alone lists them; CI runs the same targets through .ci/run.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-builtin-variables

CARGO ?= cargo
PORT ?= 3000
HEALTH_PORT ?= 8080
TEST_ARGS ?=

BIN := target/release/playground
SHELL_SCRIPTS := $(wildcard scripts/*.sh) .ci/run

# Make sure command $(1) exists: install Debian package $(2) when root (as in CI), else say how.
define need
command -v $(1) >/dev/null || { [[ $$(id -u) -eq 0 ]] && command -v apt-get >/dev/null \
  && { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(2); } >"$${TMPDIR:-/tmp}/make-$(1).log" 2>&1; } \
  || { echo "make: $(1) is missing and could not be installed; run 'apt-get install $(2)' (log: $${TMPDIR:-/tmp}/make-$(1).log)" >&2; exit 1; }
endef

.PHONY: help build run demo-work-queue demo-pubsub test lint clean broker

help: ## List the targets (this text)
	@echo "Usage: make TARGET [CARGO=cargo PORT=$(PORT) HEALTH_PORT=$(HEALTH_PORT) TEST_ARGS=...]"
	@awk -F ':.*## ' '/^[a-zA-Z0-9_-]+:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(firstword $(MAKEFILE_LIST))

build: ## Build the release binary (target/release/playground)
	$(CARGO) build --release --locked

run: broker build ## Run produce-server (:PORT) and consume (:HEALTH_PORT) together; Ctrl-C stops both
	BIN=$(BIN) PORT=$(PORT) HEALTH_PORT=$(HEALTH_PORT) bash scripts/run-lab.sh

demo-work-queue: broker build ## Three workers of different speeds on one queue: prefetch 1 vs 30, as a table
	BIN=$(BIN) bash scripts/demo-work-queue.sh

demo-pubsub: broker build ## The three pub/sub services and private subscribers: who got which message, as a matrix
	BIN=$(BIN) bash scripts/demo-pubsub.sh

test: broker ## Run all tests against the local RabbitMQ (TEST_ARGS='-- --nocapture' passes more)
	$(CARGO) test --locked $(TEST_ARGS)

# One line per check; a new check (hadolint, manifest validation) is one or two more lines.
lint: ## Check formatting, clippy warnings and shell scripts
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	@$(call need,shellcheck,shellcheck)
	shellcheck $(SHELL_SCRIPTS)

clean: ## Remove build output (never touches the broker)
	$(CARGO) clean

# Not listed in help: start RabbitMQ if nothing answers on 127.0.0.1:5672.
broker:
	bash scripts/ensure-broker.sh
