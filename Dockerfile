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
    ORBITWIRE_DATABASE_URL=sqlite:////data/orbitwire.db
RUN useradd --system --uid 10001 --home-dir /data --create-home orbitwire
COPY --from=build /opt/orbitwire /opt/orbitwire
USER orbitwire
WORKDIR /data
VOLUME ["/data"]
# Placeholder until the metrics/health endpoint lands: checks settings and the database.
HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
    CMD ["orbitwire", "db", "current"]
ENTRYPOINT ["orbitwire"]
CMD ["run"]
