# syntax=docker/dockerfile:1
# Multi-stage build: dependencies are built in a throwaway stage; the runtime image holds
# the virtualenv, the default config and nothing else, and runs as a non-root user.
#
# Base image pinned by the digest of its multi-architecture index (python 3.11.16 on Debian
# bookworm, the tag 3.11-slim-bookworm in 2026-09): a moved tag cannot change the build.
# The digest is the one public Dockerfiles and notes pinned for this tag (several
# projects; one cross-checked it against the Docker Official Images repo-info); check it with
#   docker buildx imagetools inspect python:3.11.16-slim-bookworm
# and bump it (with the tag) for security updates.
ARG PYTHON_IMAGE=python:3.11.16-slim-bookworm@sha256:a36c24f9cbdf4fd0f52d67f0823eeac19c2028c637cecc392d97f980d4fec56b

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/venv
# Dependencies first, every one pinned by version and sha256 (requirements/lock.txt, made by
# pip-compile --generate-hashes from pyproject.toml; see its header): a source change reuses
# this layer, and a changed upload on PyPI fails the build. The base image's pip is used as
# is (no unpinned upgrade).
COPY requirements ./requirements
RUN /opt/venv/bin/pip install --require-hashes --no-deps -r requirements/lock.txt \
 && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements/ner.txt
# Then Guardian itself, built with the locked setuptools (no build isolation: nothing
# unpinned is fetched) and without dependencies (all installed above).
COPY pyproject.toml README.md ./
COPY service ./service
COPY detectors ./detectors
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation . \
 && /opt/venv/bin/pip check

FROM ${PYTHON_IMAGE} AS runtime
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
