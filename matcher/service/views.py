"""How much of a run an answer carries (MatchRunView, AIP-157), and a produce run's lists page
by page (ListRunAllocations, ListRunUnsold).

A produce run's result grows with its problem: a province's million listings make about 70 MB
of allocations, over the server's message limit (64 MiB by default), and the answer could not
be sent at all. Its summary leaves out the two lists that grow with the listings (allocations
and unsold listings) and keeps everything else, with their counts. The lists are then read a
page at a time, by offset into the stored result (a PROPOSED run's result never changes), with
page tokens signed like every List's (registry/resources/query.py) and bound to the run and
the list, so a token of one run or list is INVALID_ARGUMENT for another.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service.source import RunRecord
from registry.errors import FailedPrecondition, InvalidArgument
from registry.resources import query

# Bytes kept back from the message limit for what travels beside the run (status, trailers).
ANSWER_MARGIN = 64 * 1024
DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000  # allocations of about 100 bytes: a page of about 1 MB
# ProduceResult's lists a summary leaves out, as an error names them
LISTED = {"allocations": "allocations", "unsold": "unsold listings"}
VIEWS = frozenset(mpb.MatchRunView.values())


def check(view: int) -> None:
    """INVALID_ARGUMENT for a view this server does not know (before a solve starts)."""
    if view not in VIEWS:
        raise InvalidArgument.one("view", f"unknown value {view}")


def answer(run: mpb.MatchRun, view: int, limit_bytes: int) -> mpb.MatchRun:
    """The run as ``view`` asks (module doc); ``limit_bytes``: the server's message limit."""
    check(view)
    if not run.HasField("produce"):
        return run  # other kinds' results are bounded by their size limits: always in full
    result = run.produce
    result.allocation_count, result.unsold_count = len(result.allocations), len(result.unsold)
    over = run.ByteSize() > limit_bytes - ANSWER_MARGIN
    if view == mpb.FULL and over:
        raise FailedPrecondition(
            f"run {run.id} in full is {run.ByteSize() / 1e6:.1f} MB, over the server's "
            f"message limit of {limit_bytes / 2**20:.0f} MiB: ask for view SUMMARY and page "
            "its allocations and unsold listings with ListRunAllocations and ListRunUnsold"
        )
    if view == mpb.SUMMARY or over:
        for name in LISTED:
            del getattr(result, name)[:]
        result.lists_omitted = True
    return run


def parse_page(name: str, request: Any) -> query.Page:
    """The request's page of the list ``name``, checked before the run is read: a forged token
    or a bad size is INVALID_ARGUMENT whatever the run. Tokens are bound to the list and the
    run as the caller named it (``parent``)."""
    if not request.parent:
        raise InvalidArgument.one("parent", "is required")
    if request.page_size > MAX_PAGE_SIZE:
        raise InvalidArgument.one("page_size", f"must be at most {MAX_PAGE_SIZE} (the limit)")
    bound_to = f"{name}:{request.parent}"
    at = query.parse_page(min(request.page_size, query.MAX_PAGE_SIZE), request.page_token, bound_to)
    if at.after and not at.after.isdigit():
        raise InvalidArgument.one("page_token", "is not a token this server issued")
    return at


def page(
    run: RunRecord, name: str, rows: Sequence[Any], request: Any, at: query.Page
) -> tuple[list[Any], str, int]:
    """One page of ``rows``, the produce run's list ``name`` as the caller may see it: (items,
    next page token, total)."""
    if run.kind != mpb.PRODUCE:
        kind = mpb.RunKind.Name(run.kind)  # type: ignore[arg-type]
        raise FailedPrecondition(
            f"run {run.id} is a {kind} run: only a produce run has {LISTED[name]}"
        )
    if not run.result:
        state = mpb.RunState.Name(run.state)  # type: ignore[arg-type]
        raise FailedPrecondition(f"run {run.id} is {state}: it has no result to list")
    start = int(at.after or 0)
    size = request.page_size or DEFAULT_PAGE_SIZE
    chunk = list(rows[start : start + size])
    token = query.next_token(at, str(start + size)) if start + size < len(rows) else ""
    return chunk, token, len(rows)


class ParsedResults:
    """The parsed result of the produce run read last, kept for the pages that follow: paging
    reads one run after another, and a stored version's result never changes (a new version,
    a commit or a discard, is parsed afresh). Read-only once parsed: callers filter copies of
    the lists, never the message. Thread-safe: list RPCs run on the pool's threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, int, int] | None = None
        self._result = mpb.ProduceResult()

    def rows(self, run: RunRecord, name: str) -> Sequence[Any]:
        """The run's list ``name`` (allocations or unsold), empty if it has no produce result."""
        if run.kind != mpb.PRODUCE or not run.result:
            return ()
        key = (run.id, run.version, len(run.result))
        with self._lock:
            if key != self._key:
                result = mpb.ProduceResult()
                result.ParseFromString(run.result)
                self._key, self._result = key, result
            return getattr(self._result, name)  # type: ignore[no-any-return]
