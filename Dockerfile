# syntax=docker/dockerfile:1
# media-server-core: multi-stage build, runs as a non-root user.

FROM node:20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only (tsx runs the TypeScript sources directly).
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production \
    API_HOST=0.0.0.0 \
    API_PORT=8080 \
    RTP_BIND_IP=0.0.0.0 \
    RTP_PORT_START=10000 \
    RTP_PORT_END=10999 \
    RECORDINGS_DIR=/var/lib/media-server/recordings
# espeak-ng (system TTS engine, optional) and tini for signal handling.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini espeak-ng \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system media && useradd --system --gid media --home /app media \
 && mkdir -p /var/lib/media-server/recordings && chown -R media:media /var/lib/media-server
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY schemas ./schemas
COPY flows ./flows
COPY prompts ./prompts
USER media
# API, and the RTP range (UDP). Publish the same range you configure.
EXPOSE 8080/tcp
EXPOSE 10000-10999/udp
# API_HOST=0.0.0.0 requires API_TOKEN (or ALLOW_INSECURE_API=1): the server refuses otherwise.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.API_PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--import", "tsx", "src/main.ts"]
