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

DEPS_STAMP := node_modules/.install-stamp
# the compiled package (dist/); scripts/build.ts writes dist/cli.js only when the build succeeds
BUILD_TARGET := dist/cli.js

.PHONY: setup run test test-services check typecheck bench bench-sql bench-png settings-doc conformance clean distclean

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

## test: type-check, then the whole tap suite (it starts real redis-server processes)
test: setup typecheck test-services
	npx tap

# The suite runs real Redis (and openssl for its TLS tests) and real PostgreSQL (initdb and
# pg_ctl from Debian's postgresql; as root the servers run as the postgres user), and draws the pages in Debian's
# Chromium (with a font, for readable screenshots): installed from Debian when missing and we
# are root, otherwise a clear message saying what to install.
CHROMIUM_PATH ?= /usr/bin/chromium

test-services:
	@if ! command -v redis-server >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing redis-server and openssl from Debian"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server openssl >/dev/null; \
	  else \
	    echo "the tests need redis-server and openssl: sudo apt-get install redis-server openssl (or brew install redis openssl)" >&2; exit 1; \
	  fi; \
	fi
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing postgresql from Debian"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
	  else \
	    echo "the PostgreSQL engine tests need initdb and pg_ctl: sudo apt-get install postgresql (Debian's, under /usr/lib/postgresql/*/bin)" >&2; exit 1; \
	  fi; \
	fi
	@if [ ! -x "$(CHROMIUM_PATH)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium from Debian"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; \
	  else \
	    echo "the browser tests need Chromium at $(CHROMIUM_PATH): sudo apt-get install chromium (or run make with CHROMIUM_PATH=/path/to/chromium)" >&2; exit 1; \
	  fi; \
	fi

typecheck: setup
	npx tsc --noEmit

check: test

## bench: throughput of tools/list and tools/call against a baseline in the same run (SQLite and
## PostgreSQL catalogs), then execute_sql against the raw driver on each engine
bench: setup
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

clean:
	rm -rf .tap coverage dist

distclean: clean
	rm -rf node_modules .tools data

## conformance: the official MCP conformance suites against the real stack; prints the results table
conformance: setup
	npx tap --disable-coverage --reporter=tap test/conformance.test.ts
