# fupin server image: one image, three roles chosen by FUPIN_ONLY (all | registry | matcher).
#   docker build -t fupin .                                   # from Docker Hub's python:3.11-slim
#   scripts/base_images.sh && docker build -t fupin \
#     --build-arg BASE=fupin-base/python:3.11-bookworm .      # from Debian packages, no Hub
# `make compose-e2e` builds it and runs the compose topology (docs/operations.md).
ARG BASE=python:3.11-slim
FROM ${BASE}
WORKDIR /app
# Dependencies first, pinned by constraints.txt, in a layer of their own: a code change
# rebuilds only the layer below. A venv, since Debian's python3.11 is externally managed.
# pip checks the registry's certificate against the image's CA store (which the local base
# images fill with the building host's CAs too), not only its own bundled list.
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml constraints.txt ./
RUN python3.11 -m venv /opt/fupin \
 && /opt/fupin/bin/pip install --quiet --no-cache-dir "pip==26.3" \
 && python3.11 -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
 && /opt/fupin/bin/pip install --quiet --no-cache-dir -c constraints.txt -r /tmp/requirements.txt
# The project: every package pyproject.toml names (.dockerignore keeps out the venv, var, .git).
COPY . /app/src
RUN /opt/fupin/bin/pip install --quiet --no-cache-dir --no-deps -c constraints.txt /app/src \
 && rm -rf /app/src \
 && useradd --system --uid 10001 fupin && mkdir -p /app/var /app/keys \
 && chown fupin /app/var /app/keys
# Matplotlib (the charts) wants a writable config folder; its font cache is built here once,
# not by every run of the HEALTHCHECK.
ENV PATH=/opt/fupin/bin:$PATH MPLCONFIGDIR=/opt/fupin/matplotlib
RUN python3.11 -c "import matplotlib.font_manager" && chown -R fupin /opt/fupin/matplotlib
USER fupin
# Configuration is by environment (FUPIN_*; docs/operations.md lists it all). Plaintext on
# 0.0.0.0 needs FUPIN_INSECURE=true (TLS terminated elsewhere) or FUPIN_TLS_* files.
ENV FUPIN_ADDRESS=0.0.0.0:50051 \
    FUPIN_LOG_FORMAT=json \
    FUPIN_METRICS_ADDRESS=0.0.0.0:9100
EXPOSE 50051 9100
# gRPC health: NOT_SERVING while the database (registry) or the registry (matcher) is down.
# clients.healthcheck is `fupin health` without the CLI's imports (0.4 s against 4 s at load
# 10 on 2 cores, where `fupin health` overran a 3 s timeout and marked serving containers
# unhealthy).
HEALTHCHECK --interval=10s --timeout=10s --start-period=30s --retries=3 \
  CMD ["python3.11", "-m", "clients.healthcheck", "127.0.0.1:50051"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["fupin", "serve"]
