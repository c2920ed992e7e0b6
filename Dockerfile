# syntax=docker/dockerfile:1
# media-server-core: multi-stage build on the current Node.js LTS, compiled JavaScript only
# (no TypeScript compiled at run time), runs as an unprivileged user.
# test/deploy/imageRun.test.ts runs the server the way this image does (its ENV and CMD, read from
# this file, as an unprivileged user): keep them in the plain `ENV KEY=value` / JSON CMD forms.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
COPY scripts/buildNative.mjs ./scripts/
# The batched-UDP addon is built in the deps stage; here the install script only records a skip.
RUN MSC_SKIP_NATIVE=1 npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS deps
WORKDIR /app
# The toolchain node-gyp builds the optional batched-UDP addon with (recvmmsg/sendmmsg, UDP_IO=auto
# uses it); it stays in this stage. The image's own Node headers are used (no download). Should
# the build fail, the install still succeeds and the server runs on node:dgram (it logs which).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json binding.gyp ./
COPY native ./native
COPY scripts/buildNative.mjs ./scripts/
RUN npm ci --omit=dev --no-audit --no-fund && tail -n 1 build/native-build.log

FROM node:24-bookworm-slim AS runtime
# RTP binds the wildcard; SDP announces PUBLIC_IP when set (1:1 NAT, every cloud host), else the
# address of the interface that routes to each peer. Set PUBLIC_IP unless the host's own address
# is the one peers reach (host networking without NAT).
ENV NODE_ENV=production
ENV API_HOST=0.0.0.0
ENV API_PORT=8080
ENV RTP_BIND_IP=0.0.0.0
ENV RTP_PORT_START=10000
ENV RTP_PORT_END=10999
ENV RECORDINGS_DIR=/var/lib/media-server/recordings
ENV FLOWS_DIR=/var/lib/media-server/flows
# tini forwards SIGTERM (graceful shutdown) and reaps children; espeak-ng is the optional system
# TTS engine (the default engine is the in-process WASM build).
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini espeak-ng \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system media && useradd --system --gid media --home /app media \
 && mkdir -p /var/lib/media-server/recordings /var/lib/media-server/flows \
 && chown -R media:media /var/lib/media-server
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
# build/ always exists after the install script (empty but for its log when nothing was built).
COPY --from=deps /app/build ./build
COPY --from=build /app/dist ./dist
COPY package.json package-lock.json LICENSE THIRD_PARTY_NOTICES.md ./
COPY bin ./bin
COPY schemas ./schemas
COPY prompts ./prompts
# The example flows seed the writable flows directory (PUT /flows writes there).
COPY --chown=media:media flows /var/lib/media-server/flows
USER media
# API, and the RTP range (UDP). Publish the same range you configure.
EXPOSE 8080/tcp
EXPOSE 10000-10999/udp
# API_HOST=0.0.0.0 requires API_TOKEN (or ALLOW_INSECURE_API=1): the server refuses otherwise.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.API_PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/main.js"]
