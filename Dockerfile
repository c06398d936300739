# syntax=docker/dockerfile:1
# The analytics-mcp image: the compiled package and its production dependencies on a distroless
# Node 24 base, run as 65532:65532 from /app. The root filesystem can be read-only: the service
# writes only to /data (MCP_DATA_DIR) and /tmp.
#
#   docker build -t analytics-mcp .
#   docker run --rm --read-only --tmpfs /tmp -p 127.0.0.1:5008:5008 \
#     -e MCP_ALLOW_UNAUTHENTICATED_REMOTE=true analytics-mcp    # dev mode: no auth, example data
# Without MCP_AUTH_ENABLED (or MCP_API_KEY_ENABLED) the service refuses to listen on 0.0.0.0
# unless MCP_ALLOW_UNAUTHENTICATED_REMOTE=true says the risk is accepted.
#
# Base images are pinned by digest so a rebuild gets the same bytes. To refresh a pin, pull the
# tag and take its digest, then replace it below (Dependabot's or Renovate's docker ecosystem
# updates these lines too):
#   docker pull node:24-bookworm-slim
#   docker inspect --format '{{index .RepoDigests 0}}' node:24-bookworm-slim
#   docker pull gcr.io/distroless/nodejs24-debian12:nonroot
#   docker inspect --format '{{index .RepoDigests 0}}' gcr.io/distroless/nodejs24-debian12:nonroot
# Both bases must stay on the same Debian release (bookworm = debian12): the native modules
# compiled in the first stages link against its glibc and libstdc++.

# Production dependencies, native modules (better-sqlite3) compiled for the final base's Debian.
FROM node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d AS deps
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
    && npm cache clean --force \
    && node -e "new (require('better-sqlite3'))(':memory:').close()"
# The data directory of an image run without a volume, owned by the service's user.
RUN mkdir -p /image/data && chown 65532:65532 /image/data

# The compiled package (dist/). Install scripts are skipped: compiling TypeScript needs no
# native module, and the dev tools' install steps have no place in an image build.
FROM node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build

FROM gcr.io/distroless/nodejs24-debian12:nonroot@sha256:14d42e2511532589a7c7e01a753667a74fcc96266e137e8125006b87b0c32d0a
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="analytics-mcp" \
      org.opencontainers.image.description="A Kubernetes-native, stateless MCP server for analytics: dashboards, charts, datasets and safe SQL, following Apache Superset's MCP service." \
      org.opencontainers.image.source="https://github.com/analytics-mcp/analytics-mcp" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      io.modelcontextprotocol.server.name="io.github.analytics-mcp/analytics-mcp"
# --max-semi-space-size=8: Node 24 grows the young generation to 64 MiB per semi-space under
# load, and resident memory with it (+120 MiB over 100,000 requests); 8 MiB keeps it flat at
# no measurable CPU cost (bench/footprint.ts).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=8 \
    MCP_SERVICE_HOST=0.0.0.0 \
    MCP_DATA_DIR=/data
WORKDIR /app
# Owned by root and read-only to the service: it cannot change its own code.
COPY package.json ./
COPY bin ./bin
COPY assets ./assets
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=deps /image/data /data
VOLUME ["/data"]
USER 65532:65532
# 5008: MCP (POST /mcp), /healthz, /readyz and, unless MCP_METRICS_PORT is set, /metrics.
# 9464: /metrics when MCP_METRICS_PORT=9464.
EXPOSE 5008 9464
# A real MCP initialize + tools/list on the loopback address. With MCP_AUTH_ENABLED it needs a
# token: set MCP_PROBE_TOKEN in the container's environment. With MCP_SERVICE_URL or
# MCP_ALLOWED_HOSTS set, 127.0.0.1 must be an accepted Host name (MCP_ALLOWED_HOSTS). Kubernetes
# ignores HEALTHCHECK and uses the chart's httpGet probes on /healthz and /readyz.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
    CMD ["/nodejs/bin/node", "/app/bin/analytics-mcp.js", "probe", "http://127.0.0.1:5008/mcp"]
ENTRYPOINT ["/nodejs/bin/node", "/app/bin/analytics-mcp.js"]
CMD ["run"]
