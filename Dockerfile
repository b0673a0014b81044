# gushen-dr container image: the CLI on Node.js 24 with the tools it drives.
#   docker build --build-arg PG_MAJOR=15 -t gushen-dr:0.1.0 .
# PG_MAJOR must be the PostgreSQL *server's* major version (pg_dump refuses older clients and newer ones are
# allowed): build one image per server major. The CronJobs in k8s/cronjobs run it as uid 10001 with a
# read-only root filesystem; everything it writes goes to /scratch and /tmp (emptyDir volumes).
# Docker is not available on the development machines, so this file is kept simple and reviewed by hand.

ARG NODE_MAJOR=24
ARG PG_MAJOR=15
# Redis restores load the backup into a throwaway redis-server that must read the production RDB version
# (Redis 7.2 writes RDB 11; Debian bookworm's 7.0 reads up to 10) and write DUMP payloads the target
# accepts (not newer than the target): take the binaries of the production Redis version.
ARG REDIS_VERSION=7.2

FROM redis:${REDIS_VERSION}-bookworm AS redis

# --- build: compile TypeScript, keep production dependencies only ------------------------------------
FROM node:${NODE_MAJOR}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bin ./bin
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

# --- runtime ---------------------------------------------------------------------------------------------
FROM node:${NODE_MAJOR}-bookworm-slim
ARG PG_MAJOR
# postgresql-client-${PG_MAJOR} from the PostgreSQL project's Debian repository (PGDG: every supported
# major for this Debian release); redis-server, redis-check-rdb and redis-cli come from the Redis image
# below (not Debian's redis-tools, which is 7.0); age, zstd and tar for the manual restore path (docs/runbook.md).
# postgresql-${PG_MAJOR}, the server package of the same major, for point-in-time recovery: `restore --to-time
# --pgdata` replays the archived WAL with `postgres`, the PITR drill starts a throwaway server from the base
# backup + WAL, the logical drill a throwaway initdb/pg_ctl server, and `verify --wal` reads WAL with pg_waldump
# (also in the server package). The code looks for them in /usr/lib/postgresql/<major>/bin
# (src/sources/postgres/tools.ts, scratch-server.ts), where the package puts them; the server programs must be
# the data directory's very major. createcluster.d keeps the package from creating a "main" cluster in
# /var/lib/postgresql (nothing runs it; the drills' servers live in /scratch or /tmp, run as uid 10001).
RUN set -eux; \
    install -d /etc/postgresql-common/createcluster.d; \
    echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/gushen-dr.conf; \
    apt-get update; \
    apt-get install -y --no-install-recommends ca-certificates curl gnupg; \
    install -d /usr/share/postgresql-common/pgdg; \
    curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc; \
    . /etc/os-release; \
    echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt ${VERSION_CODENAME}-pgdg main" \
      > /etc/apt/sources.list.d/pgdg.list; \
    apt-get update; \
    apt-get install -y --no-install-recommends \
      "postgresql-client-${PG_MAJOR}" "postgresql-${PG_MAJOR}" age zstd tar; \
    apt-get purge -y --auto-remove curl gnupg; \
    rm -rf /var/lib/apt/lists/*; \
    test ! -e "/etc/postgresql/${PG_MAJOR}/main"; test ! -e "/var/lib/postgresql/${PG_MAJOR}/main"; \
    for t in postgres pg_ctl initdb pg_waldump pg_controldata pg_receivewal pg_basebackup; do \
      "/usr/lib/postgresql/${PG_MAJOR}/bin/$t" --version | grep -q " ${PG_MAJOR}\."; \
    done; \
    pg_dump --version; age --version; zstd --version
COPY --from=redis /usr/local/bin/redis-server /usr/local/bin/redis-check-rdb /usr/local/bin/redis-cli /usr/local/bin/
RUN redis-server --version && redis-check-rdb --version >/dev/null

# A fixed non-root user; the CronJobs' securityContext uses the same ids.
RUN groupadd --gid 10001 gushen-dr \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /scratch --shell /usr/sbin/nologin gushen-dr \
 && install -d -o 10001 -g 10001 -m 0700 /scratch

WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY --from=build /src/bin ./bin

ENV NODE_ENV=production \
    HOME=/scratch \
    GUSHEN_DR_CONFIG=/etc/gushen-dr/gushen-dr.yaml
# `gushen-dr schedule` serves /healthz and /metrics here (schedules.listen; use 0.0.0.0:9464 in a container).
EXPOSE 9464
USER 10001:10001
# The flags of bin/gushen-dr.js's first line: a 1 MiB young generation keeps a streaming backup's peak RSS ~45 MiB lower.
ENTRYPOINT ["node", "--max-semi-space-size=1", "/app/bin/gushen-dr.js"]
CMD ["--help"]
