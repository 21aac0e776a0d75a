# batchyard's image: `docker build -t batchyard .` (README, "Running in production").
#
# The server listens on 0.0.0.0:8080 and refuses to start there without a secret: run it with
# BATCHYARD_SECRET set (e.g. `docker run -e BATCHYARD_SECRET=… -p 8080:8080 -v data:/data
# batchyard`). On SQLite the database is /data/batchyard.db, on the /data volume; on PostgreSQL
# set BATCHYARD_DATABASE_URL=postgresql://… (and BATCHYARD_WORKERS for more processes).

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/batchyard
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/batchyard/bin/pip install .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 batchyard \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin batchyard \
    && mkdir /data && chown 10001:10001 /data
COPY --from=build /opt/batchyard /opt/batchyard
ENV PATH=/opt/batchyard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    BATCHYARD_HOST=0.0.0.0 \
    BATCHYARD_PORT=8080 \
    BATCHYARD_DATABASE_URL=sqlite:////data/batchyard.db
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# GET / answers 200 while the database answers, 503 when it does not (urlopen raises on both
# a 503 and a refused connection)
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/' % os.environ.get('BATCHYARD_PORT', '8080'), timeout=4)"]
ENTRYPOINT ["batchyard"]
CMD ["serve"]
