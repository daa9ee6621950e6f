"""The command line's shared options keep their defaults in every command."""

from __future__ import annotations

import pytest

from clients.cli.main import build_parser

COMMANDS = [
    ["list", "households"],
    ["cadres", "assign", "--region", "350624"],
    ["runs", "list"],
    ["health"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda argv: " ".join(argv))
def test_every_command_keeps_the_call_timeout(argv):
    """No command's set_defaults changes --timeout for the others (parents share actions)."""
    args = build_parser().parse_args(argv)
    assert args.timeout == 10.0
