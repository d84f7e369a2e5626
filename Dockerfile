# syntax=docker/dockerfile:1
# Multi-stage build: dependencies are built in a throwaway stage; the runtime image holds
# the virtualenv, the default config and nothing else, and runs as a non-root user.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY requirements ./requirements
COPY service ./service
COPY detectors ./detectors
RUN /opt/venv/bin/pip install --upgrade pip && /opt/venv/bin/pip install . \
 && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements/ner.txt

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="" \
    GUARDIAN_HTTP__HOST=0.0.0.0 \
    GUARDIAN_HTTP__PORT=8080
RUN groupadd --system --gid 10001 guardian \
 && useradd --system --uid 10001 --gid guardian --home-dir /app --shell /usr/sbin/nologin guardian
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY --chown=root:root config ./config
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=2); sys.exit(0)"]
ENTRYPOINT ["guardian"]
CMD ["run"]
