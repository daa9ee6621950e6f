# fupin server image. Build: docker build -t fupin .   (no Docker engine runs on the dev machines;
# the same topology is exercised as processes in the tests.)
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY proto ./proto
COPY registry ./registry
COPY matcher ./matcher
COPY clients ./clients
RUN pip install --no-cache-dir -c constraints.txt .
ENV FUPIN_LOG_FORMAT=json
EXPOSE 50051
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD python -c "import grpc,sys; from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g; \
sys.exit(g.HealthStub(grpc.insecure_channel('127.0.0.1:50051')).Check(h.HealthCheckRequest(), timeout=2).status != 1)"
ENTRYPOINT ["fupin", "serve", "--address", "0.0.0.0:50051"]
