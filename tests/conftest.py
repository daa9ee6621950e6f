"""Shared fixtures: a real server on a loopback port, on SQLite and on PostgreSQL.

PostgreSQL comes from FUPIN_TEST_POSTGRES_URL (default: the local server, trust auth). Each
test run creates its own database and drops it at the end. Set FUPIN_TEST_POSTGRES=skip to run
the SQLite half only (CI never does).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import create_engine, text

from clients import i18n
from clients.auth import open_channel
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from registry.access.policy import Role
from registry.ledger import guard as ledger_guard
from server import logs
from server.server import Running, create_server
from server.settings import Settings

POSTGRES_ADMIN_URL = os.environ.get(
    "FUPIN_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = ["sqlite", "postgres"]
if os.environ.get("FUPIN_TEST_POSTGRES") == "skip":
    BACKENDS = ["sqlite"]

logs.configure("console", os.environ.get("FUPIN_TEST_LOG_LEVEL", "warning"))
# The servers tests start (in process and as `fupin serve`) fault in no solver heap: a
# gigabyte per start is the benches' business (tests/matcher/service/test_runner.py checks it).
os.environ.setdefault("FUPIN_SOLVER_HEAP_MB", "0")
# CI explores a fixed sequence of examples (no flaky reds); developers explore fresh ones.
hypothesis_settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test run (per xdist worker)."""
    name = f"fupin_test_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'fupin.db'}"


@pytest.fixture(scope="session")
def running(database_url: str) -> Iterator[Running]:
    """A real fupin server on 127.0.0.1 with a free port, one per backend."""
    # No rate limit here (fuzz tests make thousands of calls); tests/access tests it apart.
    settings = Settings(
        database_url=database_url, address="127.0.0.1:0", grace_s=1, rate_limit_per_s=0
    )
    running = create_server(settings)
    running.server.start()
    yield running
    running.server.stop(0).wait()
    running.store.engine.dispose()


@pytest.fixture(scope="module")
def signer_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Ed25519 checkpoint signing key (PEM), its public key beside it (.pub)."""
    from registry.ledger import signing

    path = tmp_path_factory.mktemp("keys") / "ledger.key"
    signing.generate(path)
    return path


@pytest.fixture(scope="module")
def signer(database_url: str, signer_key: Path) -> Iterator[Running]:
    """A second server on the test database, with the checkpoint signing key (use it after
    `server`, which empties the tables). Per module, so that its connections are not held
    for the whole run (PostgreSQL's are shared by every test process)."""
    settings = Settings(
        database_url=database_url,
        address="127.0.0.1:0",
        grace_s=1,
        rate_limit_per_s=0,
        ledger_signing_key_file=signer_key,
    )
    running = create_server(settings)
    running.server.start()
    yield running
    running.server.stop(0).wait()
    running.store.engine.dispose()


@pytest.fixture
def server(running: Running, monkeypatch: pytest.MonkeyPatch) -> Running:
    """The running server with every table emptied before the test, and a new admin key in
    $FUPIN_API_KEY (which RegistryClient and the CLI send by default)."""
    from sqlmodel import SQLModel

    with running.store.engine.begin() as conn, ledger_guard.suspended(conn):
        for table in reversed(SQLModel.metadata.sorted_tables):
            conn.execute(table.delete())
    monkeypatch.setenv("FUPIN_API_KEY", running.keys.create(Role.ADMIN).secret)
    return running


@pytest.fixture
def admin_key(server: Running) -> str:
    return os.environ["FUPIN_API_KEY"]


@pytest.fixture
def channel(server: Running, admin_key: str) -> Iterator[grpc.Channel]:
    """A channel whose every call carries the admin key."""
    with open_channel(f"127.0.0.1:{server.port}", api_key=admin_key) as channel:
        yield channel


@pytest.fixture
def registry(channel: grpc.Channel) -> api_grpc.RegistryServiceStub:
    return api_grpc.RegistryServiceStub(channel)


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _english_again() -> Iterator[None]:
    """The clients' language is the process's (clients/i18n.py): a CLI test run in-process with
    --lang zh-CN left it Chinese for the next test on the same worker, whose channels then
    asked the server for Chinese (a flake of test_a_chinese_caller_gets_chinese_beside_the_
    english). Each test starts in English, the default."""
    i18n.use(i18n.DEFAULT)
    yield
    i18n.use(i18n.DEFAULT)
