"""List queries: opaque page tokens bound to the filter, and the filters of equalities.

Page tokens are signed (HMAC-SHA256) with the server's page token key, so a token a caller
made up or altered is INVALID_ARGUMENT before any of it reaches a query. The key is
FUPIN_PAGE_TOKEN_KEY (server/settings.py documents it; read here, once, at import, because
every List of every service issues tokens), or the file FUPIN_PAGE_TOKEN_KEY_FILE names (made
with a random key, mode 600, by whichever process starts first: docker-compose's services
share one on their keys volume); neither set, a random key per process, and tokens do not
survive a restart. Servers behind one address, and the registry and matcher of a split
deployment, must share it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from registry.errors import InvalidArgument
from registry.resources import filters
from registry.resources.filters import FilterField

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_TOKEN_KEY = re.compile(r"[A-Za-z0-9_\-]{1,40}")
MAX_TOKEN_CHARS = 400
MAX_RANK = 1_000_000


def shared_key(path: Path) -> bytes:
    """The key in path; made first (random, mode 600) if absent. Two processes starting at
    once agree: the key is written to a private file, then linked into place, which only one
    can do."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: use its key
        finally:
            draft.unlink()
    return path.read_text().strip().encode()


def _signing_key() -> bytes:
    if key := os.environ.get("FUPIN_PAGE_TOKEN_KEY", ""):
        return key.encode()
    if file := os.environ.get("FUPIN_PAGE_TOKEN_KEY_FILE", ""):
        return shared_key(Path(file))
    return os.urandom(32)


_SIGNING_KEY = _signing_key()


def use_signing_key(key: str = "", key_file: Path | None = None) -> None:
    """The server's settings (environment or config file) name the key: use it from now on
    (without either, the key read at import stays)."""
    global _SIGNING_KEY
    if key:
        _SIGNING_KEY = key.encode()
    elif key_file is not None:
        _SIGNING_KEY = shared_key(key_file)


@dataclass(frozen=True)
class Page:
    size: int
    after: str  # keyset: rows with id > after
    filter_hash: str
    # A List ordered by a computed rank first (ListWatchlist's risk): the last row's rank,
    # so the next page starts after (rank, after); None in the lists ordered by id alone.
    rank: int | None = None


def parse_filter(
    text: str, fields: Mapping[str, FilterField | tuple[str, type | EnumTypeWrapper]]
) -> dict[str, Any]:
    """Column -> value for a filter like `county_code = "350624" AND status = IMPOVERISHED`,
    for the Lists that take equalities only (registry/resources/filters.py parses every filter)."""
    return filters.equalities(text, fields)


def filter_hash(text: str) -> str:
    return hashlib.sha256(text.strip().encode()).hexdigest()[:12]


def parse_page(page_size: int, page_token: str, filter_text: str) -> Page:
    if page_size < 0:
        raise InvalidArgument.one("page_size", "must not be negative")
    if page_size > MAX_PAGE_SIZE:
        raise InvalidArgument.one("page_size", f"must be at most {MAX_PAGE_SIZE} (the limit)")
    size = page_size or DEFAULT_PAGE_SIZE
    fhash = filter_hash(filter_text)
    if not page_token:
        return Page(size, "", fhash)
    try:
        payload, _, signature = page_token.encode("ascii").partition(b".")
        if len(page_token) > MAX_TOKEN_CHARS or not hmac.compare_digest(
            signature, _signature(payload)
        ):
            raise ValueError("unsigned")
        data = json.loads(base64.urlsafe_b64decode(payload + b"=="))
        after, token_hash, rank = str(data["a"]), str(data["f"]), data.get("r")
        if not _TOKEN_KEY.fullmatch(after):
            raise ValueError(after)
        if rank is not None and (type(rank) is not int or not 0 <= rank <= MAX_RANK):
            raise ValueError(rank)
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument.one("page_token", "is not a token this server issued") from None
    if token_hash != fhash:
        raise InvalidArgument.one("page_token", "was issued for a different filter")
    return Page(size, after, fhash, rank)


def next_token(page: Page, last_id: str, rank: int | None = None) -> str:
    """The token of the page after the row last_id (and its rank, in a ranked List)."""
    data: dict[str, Any] = {"a": last_id, "f": page.filter_hash}
    if rank is not None:
        data["r"] = rank
    raw = json.dumps(data, separators=(",", ":"))
    payload = base64.urlsafe_b64encode(raw.encode()).rstrip(b"=")
    return (payload + b"." + _signature(payload)).decode()


def _signature(payload: bytes) -> bytes:
    digest = hmac.new(_SIGNING_KEY, payload, hashlib.sha256).digest()[:18]
    return base64.urlsafe_b64encode(digest)
