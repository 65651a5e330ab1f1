# One image for the mock upstream and every stack under test (see docker-compose.yml).
# Everything is installed at build time from uv.lock; nothing is fetched at run time.
# BASE_IMAGE: any image with python3 (>= 3.11, with venv) and useradd; without a registry,
# `make image` builds one from Debian's packages (scripts/build_image.py).
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

# The same uv as tools-requirements.txt (tests/unit/test_compose.py checks they agree).
ARG UV_VERSION=0.13.9

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_NO_CACHE=1 \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt

# uv in a venv of its own: Debian's python3 has no pip, and its pip refuses system installs.
RUN python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir "uv==${UV_VERSION}" \
    && ln -s /opt/uv/bin/uv /usr/local/bin/uv \
    && useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin bench

WORKDIR /app

# Dependencies first, in a layer of their own: it is rebuilt only when the lock changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project

# Then the project itself (harness and servers), from the same lock.
COPY harness ./harness
COPY servers ./servers
RUN uv sync --frozen --no-dev

ENV PATH=/app/.venv/bin:$PATH
USER bench
EXPOSE 8000

# docker-compose.yml gives every service its own command; alone, the image runs the upstream.
CMD ["python", "-m", "servers.upstream", "--host", "0.0.0.0", "--port", "8000", "--backlog", "4096"]
