"""CLI fixtures shared by the client tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clients.cli import main


@pytest.fixture
def fupin(server, capsys) -> Callable[..., tuple[int, str, str]]:
    """Run the CLI in-process against the test server: (exit code, stdout, stderr).
    (test_cli.py has its own `fupin`, built on its `cli` fixture.)"""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main([*argv, "--target", f"127.0.0.1:{server.port}"])
        out, err = capsys.readouterr()
        return code, out, err

    return run
