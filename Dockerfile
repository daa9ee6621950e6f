# fupin server image: one image, three roles chosen by FUPIN_ONLY (all | registry | matcher).
# Build: docker build -t fupin .   (no Docker engine runs on the dev machines; the same
# topology is exercised as processes by tests/test_split_deployment.py and bench/load.py.)
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY proto ./proto
COPY registry ./registry
COPY matcher ./matcher
COPY clients ./clients
COPY server ./server
COPY web ./web
RUN pip install --no-cache-dir -c constraints.txt . \
 && useradd --system --uid 10001 fupin && mkdir -p /app/var && chown fupin /app/var
USER fupin
# Configuration is by environment (server/settings.py; docs/operations.md lists it all).
ENV FUPIN_ADDRESS=0.0.0.0:50051 \
    FUPIN_LOG_FORMAT=json \
    FUPIN_METRICS_ADDRESS=0.0.0.0:9100
EXPOSE 50051 9100
# gRPC health: NOT_SERVING while the database (registry) or the registry (matcher) is down.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["fupin", "health", "--target", "127.0.0.1:50051", "--timeout", "2"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["fupin", "serve"]
