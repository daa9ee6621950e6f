"""What the benches on the split deployment share: progress lines and a channel to the matcher."""

from __future__ import annotations

import sys

import grpc

from clients import auth
from clients.client import channel_options


def say(message: str) -> None:
    """A progress line on stderr (stdout carries the JSON figures)."""
    sys.stderr.write(message + "\n")


def matcher_channel(address: str) -> grpc.Channel:
    """A channel to the matcher with the API key from the environment and the client's retries."""
    return auth.open_channel(address, api_key=auth.resolve_key(), options=channel_options())
