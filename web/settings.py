"""The console's settings: environment FUPIN_WEB_* (TLS as the gRPC server's)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FUPIN_WEB_", extra="forbid")

    address: str = "127.0.0.1:8080"
    target: str = "127.0.0.1:50051"  # the gRPC server (registry and matcher)
    matcher_target: str = ""  # the matcher's HOST:PORT when apart; empty: target
    tls_cert_file: Path | None = None  # PEM certificate chain; with tls_key_file: HTTPS
    tls_key_file: Path | None = None
    insecure: bool = False  # allow plain HTTP on a non-loopback address
    # Signs the session cookies; made at first start (mode 600). Keep it across restarts, or
    # every user signs in again.
    secret_key_file: Path = Path("var/web.key")
    timeout_s: float = 10.0  # deadline of each gRPC call
    # Failed sign-ins one client address may make in sign_in_window_s before it is refused
    # for the rest of the window (web/throttle.py); 0: no limit.
    sign_in_failures_per_address: int = 20
    sign_in_window_s: float = 900.0
