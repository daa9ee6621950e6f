"""List queries: opaque page tokens bound to the filter, and the filters of equalities."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

from registry.errors import InvalidArgument
from registry.resources import filters
from registry.resources.filters import FilterField

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_TOKEN_KEY = re.compile(r"[A-Za-z0-9_\-]{1,40}")


@dataclass(frozen=True)
class Page:
    size: int
    after: str  # keyset: rows with id > after
    filter_hash: str


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
        data = json.loads(base64.urlsafe_b64decode(page_token.encode() + b"=="))
        after, token_hash = str(data["a"]), str(data["f"])
        if not _TOKEN_KEY.fullmatch(after):
            raise ValueError(after)
    except (ValueError, KeyError, TypeError):
        raise InvalidArgument.one("page_token", "is not a token this server issued") from None
    if token_hash != fhash:
        raise InvalidArgument.one("page_token", "was issued for a different filter")
    return Page(size, after, fhash)


def next_token(page: Page, last_id: str) -> str:
    raw = json.dumps({"a": last_id, "f": page.filter_hash}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
