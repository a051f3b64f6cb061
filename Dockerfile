# orbitwire: slim runtime image. Build: docker build -t orbitwire .
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
COPY config ./config
RUN python -m venv /opt/orbitwire && /opt/orbitwire/bin/pip install .

FROM python:3.11-slim
ENV PATH=/opt/orbitwire/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    ORBITWIRE_DATABASE_URL=sqlite:////data/orbitwire.db \
    ORBITWIRE_METRICS_HOST=0.0.0.0
RUN useradd --system --uid 10001 --home-dir /data --create-home orbitwire
COPY --from=build /opt/orbitwire /opt/orbitwire
USER orbitwire
WORKDIR /data
VOLUME ["/data"]
# /healthz: 200 when the database answers and the scheduler is alive (see docs/deployment.md).
EXPOSE 9464
HEALTHCHECK --interval=60s --timeout=10s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=5).status == 200 else 1)"]
ENTRYPOINT ["orbitwire"]
CMD ["run"]
