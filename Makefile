# Developer entry points. `make` alone lists them; CI runs the same targets through .ci/run.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules --no-builtin-variables

CARGO ?= cargo
PORT ?= 3000
HEALTH_PORT ?= 8080
TEST_ARGS ?=

# The image and where it runs. IMAGE must name a registry the cluster can pull from for
# image-multiarch and deploy, e.g. IMAGE=ghcr.io/you/playground.
IMAGE ?= playground
TAG ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo dev)
PLATFORMS ?= linux/amd64,linux/arm64
OVERLAY ?= homelab
NAMESPACE ?= services
ROLE ?= message-consumer
N ?= 3
CHAOS_MESSAGES ?= 50000
CHAOS_CUTS ?= 20
CLUSTER_MESSAGES ?= 100000
CLUSTER_ROUNDS ?= 3

# mdBook, pinned; `make docs` builds it from crates.io on first use, once per machine (outside
# the clone, so CI's fresh clones reuse it).
MDBOOK_VERSION ?= 0.5.4
MDBOOK_ROOT ?= $(HOME)/.cache/playground/mdbook-$(MDBOOK_VERSION)
MDBOOK := $(MDBOOK_ROOT)/bin/mdbook

BIN := target/release/playground
SHELL_SCRIPTS := $(wildcard scripts/*.sh) .ci/run

# Make sure command $(1) exists: install Debian package $(2) when root (as in CI), else say how.
define need
command -v $(1) >/dev/null || { [[ $$(id -u) -eq 0 ]] && command -v apt-get >/dev/null \
  && { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(2); } >"$${TMPDIR:-/tmp}/make-$(1).log" 2>&1; } \
  || { echo "make: $(1) is missing and could not be installed; run 'apt-get install $(2)' (log: $${TMPDIR:-/tmp}/make-$(1).log)" >&2; exit 1; }
endef

.PHONY: help build run demo-work-queue demo-pubsub demo-rpc demo-streams demo-retry test test-browser chaos bench bench-cluster lint docs docs-serve docs-reference clean broker image image-multiarch \
  deploy undeploy rollout logs scale-consumers port-forward compose-up compose-down cluster cluster-status cluster-down chaos-cluster

help: ## List the targets (this text)
	@echo "Usage: make TARGET [CARGO=cargo PORT=$(PORT) HEALTH_PORT=$(HEALTH_PORT) TEST_ARGS=...]"
	@echo "       IMAGE=$(IMAGE) TAG=$(TAG) OVERLAY=$(OVERLAY) ROLE=$(ROLE) N=$(N) for the image and Kubernetes targets"
	@awk -F ':.*## ' '/^[a-zA-Z0-9_-]+:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(firstword $(MAKEFILE_LIST))

build: ## Build the release binary (target/release/playground)
	$(CARGO) build --release --locked

run: broker build ## Run produce-server (:PORT) and consume (:HEALTH_PORT) together; Ctrl-C stops both
	BIN=$(BIN) PORT=$(PORT) HEALTH_PORT=$(HEALTH_PORT) bash scripts/run-lab.sh

demo-work-queue: broker build ## Three workers of different speeds on one queue: prefetch 1 vs 30, as a table
	BIN=$(BIN) bash scripts/demo-work-queue.sh

demo-pubsub: broker build ## The three pub/sub services and private subscribers: who got which message, as a matrix
	BIN=$(BIN) bash scripts/demo-pubsub.sh

demo-retry: broker build ## A burst through the retry ladder (500ms, 1s, 2s), then the dead-letter queue: attempts per message, as a table
	BIN=$(BIN) bash scripts/demo-retry.sh

demo-rpc: broker build ## Two rpc-servers, 20 calls over direct reply-to: each reply, who answered, round trips; then a call to nobody
	BIN=$(BIN) bash scripts/demo-rpc.sh

demo-streams: broker build ## A stream replayed by readers that start at first, a time and next: who saw which offsets
	BIN=$(BIN) bash scripts/demo-streams.sh

test: broker ## Run all tests against the local RabbitMQ (TEST_ARGS='-- --nocapture' passes more)
	@command -v rabbitmq-server >/dev/null || echo "make: *** rabbitmq-server is not installed: the broker restart, memory alarm and cluster tests will be SKIPPED (they need private nodes; bash scripts/cluster.sh install) ***" >&2
	$(CARGO) test --locked $(TEST_ARGS)

test-browser: broker build ## The lab console in headless Chromium: the topology on fixtures, then a real lab's burst, publish and dead letter (screenshots in target/browser)
	BIN=$(BIN) bash scripts/test-browser.sh

chaos: broker ## Cut and restart scenarios at scale (CHAOS_MESSAGES, CHAOS_CUTS); prints the summary
	CHAOS_MESSAGES=$(CHAOS_MESSAGES) CHAOS_CUTS=$(CHAOS_CUTS) $(CARGO) test --release --locked \
	  --test integration -- --nocapture --test-threads 1 \
	  fault_suite::broker_faults::cut_connections_under_load fault_suite::broker_faults::a_broker_restart 2>&1 \
	  | grep -E '^(chaos summary|test |test result|\*\*\* SKIPPED)|panicked'

chaos-cluster: ## Node loss under load on a private three-node cluster at scale (CLUSTER_MESSAGES, CLUSTER_ROUNDS); prints one summary
	CLUSTER_MESSAGES=$(CLUSTER_MESSAGES) CLUSTER_ROUNDS=$(CLUSTER_ROUNDS) $(CARGO) test --release --locked \
	  --test cluster -- node_loss_under_load 2>&1 | grep -E '^(cluster|test |\*\*\*)|panicked'

bench: broker build ## Roles vs the raw AMQP ceiling, median of 3: prints a table (target/bench/report.md)
	BIN=$(BIN) python3 scripts/bench.py

bench-cluster: broker build ## Price of replication: classic queue on one node vs quorum on the 3-node cluster (target/bench/cluster.md)
	BIN=$(BIN) python3 scripts/bench-cluster.py

cluster: ## Start three private RabbitMQ nodes c1..c3 on 127.0.0.1:5681-5683 (the broker on 5672 is not touched); prints their AMQP and management API URLs
	bash scripts/cluster.sh up

cluster-status: ## Each cluster node: running, frozen or stopped; the running members
	bash scripts/cluster.sh status

cluster-down: ## Stop the three cluster nodes and delete their data (.cluster/)
	bash scripts/cluster.sh down

# One line per check.
lint: ## Check formatting, clippy, shell scripts, links in README.md and docs/, the Dockerfile and every rendered manifest
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	@$(call need,shellcheck,shellcheck)
	shellcheck -x $(SHELL_SCRIPTS)
	python3 scripts/check-links.py
	bash scripts/lint-deploy.sh

docs: $(MDBOOK) ## Build the book (docs/) into target/book
	$(MDBOOK) build docs --dest-dir $(CURDIR)/target/book
	@echo "make: the book is in target/book/index.html"

docs-serve: $(MDBOOK) ## Serve the book on localhost:3000 and rebuild it on every change
	$(MDBOOK) serve docs --dest-dir $(CURDIR)/target/book

docs-reference: ## Rewrite the generated book pages (docs/src/reference/cli.md, metrics.md, make-targets.md)
	UPDATE_DOCS=1 $(CARGO) test --locked --test integration -- docs::

$(MDBOOK):
	$(CARGO) install mdbook --version $(MDBOOK_VERSION) --locked --root $(MDBOOK_ROOT)

image: ## Build the image for this machine's platform as IMAGE:TAG (needs Docker)
	docker build -t $(IMAGE):$(TAG) .

image-multiarch: ## Build IMAGE:TAG for linux/amd64 and linux/arm64 and push it (needs docker buildx)
	docker buildx build --platform $(PLATFORMS) -t $(IMAGE):$(TAG) --push .

# The overlay is rendered and its playground image replaced by IMAGE:TAG before anything is
# applied, so no rollout ever starts towards the overlay's placeholder image.
deploy: ## Apply deploy/overlays/OVERLAY with IMAGE:TAG in every playground deployment
	@[[ $(OVERLAY) == cluster || -f deploy/base/rabbitmq.env ]] || { echo "make: create deploy/base/rabbitmq.env first (cp deploy/base/rabbitmq.env.example deploy/base/rabbitmq.env, set a password)" >&2; exit 1; }
	kubectl kustomize deploy/overlays/$(OVERLAY) \
	  | sed -E 's#^( +image: )[^ ]*/playground(:[^ ]*)?$$#\1$(IMAGE):$(TAG)#' \
	  | kubectl apply -f -

undeploy: ## Delete everything deploy/overlays/OVERLAY created, namespaces and broker data included
	kubectl delete -k deploy/overlays/$(OVERLAY) --ignore-not-found

rollout: ## Restart every playground deployment and wait for them
	kubectl -n $(NAMESPACE) rollout restart deployment -l app.kubernetes.io/name=playground
	kubectl -n $(NAMESPACE) rollout status deployment -l app.kubernetes.io/name=playground --timeout 180s

logs: ## Follow the logs of every pod of ROLE (a deployment: hello-world, message-consumer, ...)
	kubectl -n $(NAMESPACE) logs -l app=$(ROLE) --prefix -f --max-log-requests 10

scale-consumers: ## Scale message-consumer to N replicas
	kubectl -n $(NAMESPACE) scale deployment message-consumer --replicas=$(N)

port-forward: ## Forward localhost:3000 to hello-world and localhost:15672 to the management UI
	kubectl -n $(NAMESPACE) port-forward service/hello-world 3000:3000 & \
	kubectl -n $(if $(filter cluster,$(OVERLAY)),$(NAMESPACE),infrastructure) port-forward service/rabbitmq-management 15672:15672; \
	kill %1 2>/dev/null || true

compose-up: ## Run the broker and every role with Docker Compose from IMAGE:TAG
	PLAYGROUND_IMAGE=$(IMAGE):$(TAG) docker compose -f deploy/compose.yaml --env-file deploy/base/rabbitmq.env up -d

compose-down: ## Stop the Compose services (the broker's volume stays)
	PLAYGROUND_IMAGE=$(IMAGE):$(TAG) docker compose -f deploy/compose.yaml --env-file deploy/base/rabbitmq.env down

clean: ## Remove build output (never touches the broker)
	$(CARGO) clean

# Not listed in help: start RabbitMQ if nothing answers on 127.0.0.1:5672.
broker:
	bash scripts/ensure-broker.sh
