# The control plane (API, SQLite store, reconciler, autoscaler, Kubernetes backend) as one bundled
# file plus better-sqlite3, whose native addon is compiled here for this image's Node.
#   docker build -f deploy/docker/control-plane.Dockerfile -t ghcr.io/skiff/control-plane:0.1.0 .
FROM node:20-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
COPY shared/package.json shared/
COPY http/package.json http/
COPY control-plane/package.json control-plane/
COPY edge-router/package.json edge-router/
COPY queue-proxy/package.json queue-proxy/
COPY test/package.json test/
RUN npm ci --workspace control-plane --include-workspace-root --no-audit --no-fund
COPY shared shared
COPY http http
COPY control-plane control-plane
COPY edge-router edge-router
COPY queue-proxy queue-proxy
# The console's browser code is bundled beside main.js (dist/console/app.{js,css}), as the
# control plane would bundle it at start from source (control-plane/src/console/assets.ts).
# The store finds its migrations at ../../drizzle from the bundle (control-plane/dist/main.js); the
# API's YAML-parsing thread is bundled beside it as parse-thread.mjs, the name it starts from
# source (where that file registers tsx first).
RUN npx esbuild control-plane/src/main.ts --bundle --platform=node --target=node20 --format=esm \
      --external:better-sqlite3 --outfile=/out/control-plane/dist/main.js --log-level=warning \
      "--banner:js=import { createRequire as __skiffRequire } from 'node:module'; const require = __skiffRequire(import.meta.url);" \
 && npx esbuild control-plane/src/api/parse-thread.ts --bundle --platform=node --target=node20 --format=esm \
      --outfile=/out/control-plane/dist/parse-thread.mjs --log-level=warning \
      "--banner:js=import { createRequire as __skiffRequire } from 'node:module'; const require = __skiffRequire(import.meta.url);" \
 && npx esbuild control-plane/src/console/web/main.ts --bundle --minify --format=esm --target=es2022 \
      --platform=browser --legal-comments=none --entry-names=app --outdir=/out/control-plane/dist/console --log-level=warning \
 && cp -r control-plane/drizzle /out/drizzle \
 && mkdir -p /out/node_modules \
 && cp -r node_modules/better-sqlite3 node_modules/bindings node_modules/file-uri-to-path /out/node_modules/

FROM node:20-slim
ENV NODE_ENV=production SKIFF_DATA_DIR=/data SKIFF_API_HOST=0.0.0.0 SKIFF_API_PORT=8090 SKIFF_BACKEND=kubernetes
WORKDIR /app
COPY --from=build /out /app
RUN mkdir -p /data && chown 1000:1000 /data
# Numeric, so that runAsNonRoot can check it (the image's `node` user).
USER 1000:1000
EXPOSE 8090
CMD ["node", "control-plane/dist/main.js"]
