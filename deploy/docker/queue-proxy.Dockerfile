# The queue-proxy sidecar, bundled into one file: it starts in every new pod, so it loads fast.
# Runs as a non-root user on a read-only root filesystem (the Deployment's securityContext).
#   docker build -f deploy/docker/queue-proxy.Dockerfile -t ghcr.io/skiff/queue-proxy:0.1.0 .
FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY http/package.json http/
COPY control-plane/package.json control-plane/
COPY edge-router/package.json edge-router/
COPY queue-proxy/package.json queue-proxy/
COPY test/package.json test/
RUN npm ci --workspace queue-proxy --include-workspace-root --ignore-scripts --no-audit --no-fund \
 && npm rebuild esbuild
COPY shared shared
COPY http http
COPY queue-proxy queue-proxy
COPY scripts/bundle.mjs scripts/bundle.mjs
# CommonJS (queue-proxy/package.json's "bundle"), with a package.json saying so beside it in /out.
RUN cd queue-proxy && node ../scripts/bundle.mjs src/main.ts /out/queue-proxy.js

FROM node:20-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /out /app
USER 1000:1000
EXPOSE 8012 8022 9090
# The flags are queueProxyNodeFlags in shared/src/config/queue-proxy.ts (memory; on the command
# line, as Node takes them nowhere else); queue-proxy/src/deploy.test.ts checks that they match.
CMD ["node", "--max-semi-space-size=1", "--no-concurrent-recompilation", "queue-proxy.js"]
