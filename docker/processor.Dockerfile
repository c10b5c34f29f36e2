# The processor image: one job on one input, then exit (AWS Batch job definition and ECS task definition).
# Build from the repository root: docker build -f docker/processor.Dockerfile .
#
# Debian (glibc), not Alpine: the same node_modules as the worker image, whose Temporal core bridge needs glibc.

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
# A run-to-completion job: Batch and ECS judge it by its exit code (0 ok, 65/66 permanent, other: retry).
HEALTHCHECK NONE
CMD ["node", "dist/processors/main.js"]
