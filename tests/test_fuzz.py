"""The fuzz benchmark's short version (bench/fuzz.py): every RPC of every service, as every
role, with generated, mutated and raw requests against a real server on SQLite and on
PostgreSQL — no answer may be INTERNAL or UNKNOWN, and the server must still answer after.
The long run (10,000 requests a service) and its figures are in docs/reliability.md."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from bench import fuzz
from bench.fuzzing.calls import services
from tests.conftest import POSTGRES_ADMIN_URL

REQUESTS = 60  # a service


@pytest.fixture(params=["sqlite", "postgres"])
def fuzz_database(request: pytest.FixtureRequest) -> Iterator[str]:
    """'' (the bench's own fresh SQLite file) or a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield ""
        return
    name = f"fupin_fuzz_{uuid.uuid4().hex[:8]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    yield f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.xdist_group("fuzz")
def test_no_request_answers_internal_or_unknown(fuzz_database):
    lines = fuzz.run(REQUESTS, fuzz_database, seed_value=7, jobs=1)
    *per_service, total = lines
    assert {line["service"] for line in per_service} == set(services())
    for line in per_service:
        assert line["requests"] == REQUESTS, line
        assert (line["internal"], line["unknown"]) == (0, 0), line
        assert line["rpcs"] == len(services()[line["service"]])
    assert total["server_alive"] and total["requests"] == REQUESTS * len(per_service)
