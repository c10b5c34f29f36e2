# The operator's console: server-rendered pages of the files from Temporal visibility, presigned downloads and
# uploads, the dead-letter queue. On AWS it runs behind the load balancer that authenticates every request
# (infra/lib/operator-console.ts). Build from the repository root: docker build -f docker/console.Dockerfile .
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
# In its container the console listens on every interface of the task: only the load balancer's security
# group reaches it. Locally (npm run console) it stays on loopback.
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps \
    CONSOLE_HOST=0.0.0.0
WORKDIR /app
COPY package.json package-lock.json ./
# No file keeps a setuid or setgid bit: the unprivileged user below has no way back to root or to any Linux
# capability. The console renders no PDF: text-to-pdf's fonts (150 MB) are left out.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force \
    && rm -rf node_modules/@expo-google-fonts \
    && find / -xdev -type f -perm /6000 -exec chmod ug-s {} +
COPY --from=build /app/dist ./dist
# The image's unprivileged `node` user, by number so that a runtime can tell it is not root
# (CONTAINER_USER in infra/lib/images.ts). The task definition runs it with a read-only root filesystem.
USER 1000:1000
EXPOSE 8080
# Healthy while it answers /healthz, which it does while Temporal answers (infra/lib/healthchecks.ts; the ECS
# task definition runs the same check, the load balancer checks the same path).
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["node","-e","fetch('http://127.0.0.1:' + (process.env.CONSOLE_PORT || 8080) + '/healthz') .then((r) => { if (!r.ok) throw new Error('HTTP ' + r.status); process.exit(0); }) .catch((e) => { console.error('unhealthy: ' + e.message); process.exit(1); });"]
CMD ["node", "dist/console/main.js"]
