# The ingress image: long-polls the SQS queue and signal-with-starts one workflow per object version.
# Build from the repository root: docker build -f docker/ingress.Dockerfile .
#
# Debian (glibc), not Alpine: the Temporal client shares the worker's dependency tree, built for glibc.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Dependency install scripts are skipped: the project works without them (npm 11 skips them too), and the
# build then never downloads anything but the locked packages.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps
WORKDIR /app
COPY package.json package-lock.json ./
# No file keeps a setuid or setgid bit: the unprivileged user below has no way back to root or to any Linux
# capability, which matters where the runtime cannot drop them (AWS Batch has no such setting). text-to-pdf
# uses only the regular weight of its fallback fonts (processors/text-fonts.ts): the other weights, 135 MB of
# CJK fonts, are left out.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force \
    && find node_modules/@expo-google-fonts -name '*.ttf' ! -name '*_400Regular.ttf' -delete \
    && find / -xdev -type f -perm /6000 -exec chmod ug-s {} +
COPY --from=build /app/dist ./dist
# The image's unprivileged `node` user, by number so that a runtime can tell it is not root
# (CONTAINER_USER in infra/lib/images.ts). Task and job definitions run it with a read-only root filesystem.
USER 1000:1000
# Healthy while Temporal answers for the namespace and task queue with the ingress's own connection
# settings (infra/lib/healthchecks.ts explains it; the ECS task definition runs the same check).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["node","-e","const { Connection } = require('@temporalio/client'); const { loadConfig, TEMPORAL_ENV } = require('./dist/common/config'); const { temporalConnection } = require('./dist/common/temporal'); const c = loadConfig('healthcheck', TEMPORAL_ENV); const t = temporalConnection(); Connection.connect({ ...t.connectionOptions, connectTimeout: 5000 }) .then((conn) => conn.workflowService.describeTaskQueue({ namespace: t.namespace, taskQueue: { name: c.TEMPORAL_TASK_QUEUE }, taskQueueType: 1 })) .then(() => process.exit(0)) .catch((e) => { console.error('unhealthy: ' + e.message); process.exit(1); });"]
CMD ["node", "dist/ingress/main.js"]
