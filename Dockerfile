# syntax=docker/dockerfile:1

# The same Node.js line as development and CI (package.json engines: >=20.19).
ARG NODE_IMAGE=node:20-bookworm-slim

# ---- build: compile TypeScript with the dev toolchain ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# swagger-ui-dist pulls in @scarf/scarf, whose install script phones home unless told not to.
ENV SCARF_ANALYTICS=false
# Manifests first, so that the dependency layer is reused until they change.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY nest-cli.json tsconfig.json tsconfig.build.json tsconfig.migrations.json ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build

# ---- runtime: production dependencies and the compiled output only ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    SCARF_ANALYTICS=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY assets ./assets

# Everything the service writes lives under /app/data, owned by the unprivileged `node` user
# (uid 1000) that ships with the image; the code and node_modules stay root-owned and read-only to it.
# PGLITE_DATA_DIR must be a subdirectory: its lock file is created beside it (pglite.lock).
RUN mkdir -p /app/data && chown node:node /app/data
ENV PGLITE_DATA_DIR=/app/data/pglite \
    TOOLS_FS_ROOT=/app/data/files \
    HOST=0.0.0.0 \
    PORT=3000
# A named volume starts as a copy of this directory, ownership included. A bind mount keeps the
# host directory's ownership: make it writable by uid 1000.
VOLUME ["/app/data"]
USER node

EXPOSE 3000

# No curl in slim images: node itself asks /health/live, which never touches the database.
# start-period covers the embedded database's first boot (initdb and migrations).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "const r=require('http').get({host:'127.0.0.1',port:process.env.PORT||3000,path:'/health/live',timeout:4000},(s)=>process.exit(s.statusCode===200?0:1));r.on('timeout',()=>r.destroy(new Error('timeout')));r.on('error',()=>process.exit(1));"]

# node runs as PID 1 and handles SIGTERM itself (drains for up to SHUTDOWN_GRACE_MS, default 10 s).
# Docker's default stop timeout is also 10 s: give it more (docker stop -t 20, compose
# stop_grace_period: 20s) so that the drain is not cut short by SIGKILL.
# NODE_ENV=production refuses to start without a strong JWT_SECRET (or JWT_SECRET_FILE) and, on an
# empty database, without ADMIN_EMAIL and ADMIN_PASSWORD for the first administrator.
CMD ["node", "dist/main.js"]
