"""The `fupin` command line: main.py builds the parser; one module per group of commands."""

from clients.cli.main import main

__all__ = ["main"]
