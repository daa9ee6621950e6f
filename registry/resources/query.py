"""List queries: AIP-160 filters (conjunctions of `field = value`) and opaque page tokens."""

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

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
_TERM = re.compile(
    r"""\s*(?P<field>[a-z_][a-z0-9_]*)\s*=\s*
        (?P<value>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[A-Za-z0-9_.\-]+)\s*""",
    re.VERBOSE,
)
_AND = re.compile(r"\s+AND\s+")
_TOKEN_KEY = re.compile(r"[A-Za-z0-9_\-]{1,40}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Page:
    size: int
    after: str  # keyset: rows with id > after
    filter_hash: str


def parse_filter(
    text: str, fields: Mapping[str, tuple[str, type | EnumTypeWrapper]]
) -> dict[str, Any]:
    """Column -> value for a filter like `county_code = "350624" AND status = IMPOVERISHED`."""
    if not text.strip():
        return {}
    if len(text) > 1000:
        raise InvalidArgument.one("filter", "must be at most 1000 characters")
    if _CONTROL.search(text):
        raise InvalidArgument.one("filter", "must not contain control characters")
    out: dict[str, Any] = {}
    for term in _AND.split(text.strip()):
        match = _TERM.fullmatch(term)
        if not match:
            raise InvalidArgument.one("filter", f"cannot parse {term!r}; use field = value")
        name, raw = match["field"], match["value"]
        if name not in fields:
            allowed = ", ".join(sorted(fields)) or "none"
            raise InvalidArgument.one("filter", f"unknown field {name!r} (filterable: {allowed})")
        column, kind = fields[name]
        out[column] = _coerce(name, raw, kind)
    return out


def _coerce(name: str, raw: str, kind: type | EnumTypeWrapper) -> Any:
    text = raw[1:-1] if raw[:1] in "\"'" else raw
    if isinstance(kind, EnumTypeWrapper):
        if text.isdigit() and int(text) in kind.values():
            return int(text)
        if text in kind.DESCRIPTOR.values_by_name:
            return kind.Value(text)
        raise InvalidArgument.one("filter", f"{name}: unknown value {text!r}")
    if kind is bool:
        if text not in ("true", "false"):
            raise InvalidArgument.one("filter", f"{name}: expected true or false")
        return text == "true"
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise InvalidArgument.one("filter", f"{name}: expected an integer") from None
    return text


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
