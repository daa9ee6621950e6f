"""Every ```python and ```sh block of README.md runs as written against a fresh server.

The blocks run in the README's order (as a reader would type them), each in its own process
with $FUPIN_TARGET and $FUPIN_API_KEY (an admin key) set, the project's .venv/bin first on
PATH, in one scratch directory. A block preceded by `<!-- not run: REASON -->` is not run; it
may only start servers or build tools (a server runs until stopped; `make test` is this suite).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry.access.policy import Role
from registry.ledger import signing
from server.server import Running, create_server
from server.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\w*)\s*$")
NOT_RUN = re.compile(r"^<!-- not run: (.+) -->$")
# What a block left out may do: start a server or a console, build, or need another deployment.
LONG_RUNNING = re.compile(r"\bmake\b|\bdocker\b|fupin serve|fupin web|--target 127\.0\.0\.1:5005")


@dataclass(frozen=True)
class Block:
    language: str
    line: int  # of the opening fence, 1-based
    text: str
    not_run: str  # the reason, or "" when it runs


def blocks(readme: Path = ROOT / "README.md") -> list[Block]:
    """The README's python and sh blocks, in order."""
    found: list[Block] = []
    lines = readme.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening or not opening.group(1):
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        reason = NOT_RUN.match(before)
        if opening.group(1) in ("python", "sh"):
            text = "\n".join(lines[i + 1 : end]) + "\n"
            found.append(Block(opening.group(1), i + 1, text, reason.group(1) if reason else ""))
        i = end + 1
    return found


@pytest.fixture(scope="module")
def where(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's directory: its database, its admin key, its checkpoint signing key."""
    return tmp_path_factory.mktemp("readme-server")


@pytest.fixture(scope="module")
def fresh(where: Path) -> Iterator[tuple[Running, str]]:
    """A new server on a new SQLite database with a checkpoint signing key, and an admin key."""
    signing.generate(where / "ledger.key")
    settings = Settings(
        ledger_signing_key_file=where / "ledger.key",
        database_url=f"sqlite:///{where / 'fupin.db'}",
        address="127.0.0.1:0",
        admin_key_file=where / "admin.key",
        grace_s=1,
        rate_limit_per_s=0,
    )
    running = create_server(settings)
    running.server.start()
    assert running.keys is not None
    yield running, running.keys.create(Role.ADMIN, description="README test").secret
    running.server.stop(0).wait()
    running.close()


def test_the_readme_has_blocks_to_run() -> None:
    """The parser finds the README's examples, the matcher client's among them."""
    found = blocks()
    assert len([b for b in found if not b.not_run]) >= 5
    assert any("MatcherClient" in b.text for b in found if b.language == "python")


def test_blocks_left_out_only_start_servers_or_build() -> None:
    """A block is left out only with a reason, and only when it starts a long-running process,
    builds, or needs a deployment of its own."""
    for block in blocks():
        if block.not_run:
            assert LONG_RUNNING.search(block.text), f"README.md:{block.line} {block.not_run}"


def test_every_block_runs_as_written(
    fresh: tuple[Running, str], where: Path, tmp_path: Path
) -> None:
    """Each block exits 0 against the fresh server, in the README's order."""
    running, key = fresh
    env = {
        **os.environ,
        "FUPIN_TARGET": f"127.0.0.1:{running.port}",
        "FUPIN_API_KEY": key,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONPATH": os.pathsep.join((str(ROOT), str(ROOT / "proto"))),
        "FUPIN_LANG": "en",
        # as on the server's host: the README verifies a checkpoint with the public key
        "FUPIN_LEDGER_SIGNING_KEY_FILE": str(where / "ledger.key"),
    }
    for block in blocks():
        if block.not_run:
            continue
        command = (
            [sys.executable, "-c", block.text]
            if block.language == "python"
            else ["bash", "-euo", "pipefail", "-c", block.text]
        )
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, (
            f"README.md:{block.line} ({block.language}) exited {done.returncode}\n"
            f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
        )
