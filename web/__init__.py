"""The fupin web console: server-rendered pages over the gRPC services (it holds no data)."""
