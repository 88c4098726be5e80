# The edge router on Node, bundled into one file (no native dependencies).
#   docker build -f deploy/docker/router.Dockerfile -t ghcr.io/skiff/router:0.1.0 .
FROM node:20-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY http/package.json http/
COPY control-plane/package.json control-plane/
COPY edge-router/package.json edge-router/
COPY queue-proxy/package.json queue-proxy/
COPY test/package.json test/
RUN npm ci --workspace edge-router --include-workspace-root --ignore-scripts --no-audit --no-fund \
 && npm rebuild esbuild
COPY shared shared
COPY http http
COPY queue-proxy queue-proxy
COPY edge-router edge-router
COPY scripts/bundle.mjs scripts/bundle.mjs
RUN cd edge-router && node ../scripts/bundle.mjs src/entry/node.ts /out/router.js

FROM node:20-slim
ENV NODE_ENV=production PORT=8080
# routerNodeOptions in shared/src/config/router.ts: young generation capped (memory).
ENV NODE_OPTIONS=--max-semi-space-size=1
WORKDIR /app
COPY --from=build /out /app
USER 1000:1000
EXPOSE 8080 9090
CMD ["node", "router.js"]
