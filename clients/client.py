"""The typed Python client of fupin.registry.v1.RegistryService.

    with RegistryClient("127.0.0.1:50051") as registry:
        village = registry.create(VILLAGES, pb.Village(...))
        for household in registry.list(HOUSEHOLDS, filter=f'village_id = "{village.id}"'):
            ...

Every call has a deadline (`timeout_s`; imports `import_timeout_s`) and failures are raised as
`clients.errors.FupinClientError` subclasses carrying the server's field violations.

Retries on UNAVAILABLE: the channel's gRPC service config retries Get*, List* and ListWatchlist
(idempotent) and Create* — safe because every create carries a request_id (a uuid4 unless the
caller gives one), so a retry of a create the server already stored returns the first result.
The same config (`channel_options()`) covers the matcher's reads, MatchProduce and
CommitMatchRun (MATCHER_RETRIED), for stubs built on such a channel.
Client-streaming imports cannot be retried by gRPC itself; `import_rows` resends the whole stream
with the same request_id. A channel passed in by the caller keeps its own options (no retries
unless it was built with `channel_options()`).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType, TracebackType
from typing import Any, Generic, TypeVar, cast

import grpc
from google.protobuf import field_mask_pb2
from google.protobuf.message import Message

from clients import auth
from clients.errors import FupinClientError, UnavailableError, from_rpc_error
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from fupin.registry.v1 import resources_pb2 as pb

SERVICE = "fupin.registry.v1.RegistryService"
MATCHER_SERVICE = "fupin.matcher.v1.MatcherService"
# Matcher reads, and the calls keyed by request_id: a retried MatchProduce with the same
# request_id waits for the first call's run; a retried CommitMatchRun returns the committed run
# (without a request_id, FAILED_PRECONDITION: it is never applied twice).
MATCHER_RETRIED = ("GetMatchRun", "ListMatchRuns", "ListRunAllocations", "ListRunUnsold",
                   "QuickSource", "MatchProduce", "CommitMatchRun")  # fmt: skip
MAX_PAGE_SIZE = 1000
IMPORT_ATTEMPTS = 4
IMPORT_BACKOFF_S = 0.2  # before the 2nd attempt; doubles after each
M = TypeVar("M", bound=Message)
Metadata = Sequence[tuple[str, str]]
OnProgress = Callable[[int], None]  # called with the number of rows handed to gRPC so far


@dataclass(frozen=True)
class Kind(Generic[M]):
    """A registry resource as the client sees it: names, message type, RPC names."""

    cli_name: str  # as typed on the command line: "aid-programs"
    name: str  # singular field name in requests: "aid_program"
    plural: str  # repeated field name in responses: "aid_programs"
    message: type[M]
    importable: bool = False

    @property
    def title(self) -> str:
        """The singular in RPC names: CreateAidProgram."""
        return "".join(part.title() for part in self.name.split("_"))

    @property
    def plural_title(self) -> str:
        """The plural in RPC names: ListAidPrograms, ImportHouseholds."""
        return "".join(part.title() for part in self.plural.split("_"))


VILLAGES = Kind("villages", "village", "villages", pb.Village)
HOUSEHOLDS = Kind("households", "household", "households", pb.Household, importable=True)
PRODUCERS = Kind("producers", "producer", "producers", pb.Producer)
LISTINGS = Kind("listings", "listing", "listings", pb.Listing, importable=True)
BUYERS = Kind("buyers", "buyer", "buyers", pb.Buyer)
ORDERS = Kind("orders", "order", "orders", pb.Order)
CADRES = Kind("cadres", "cadre", "cadres", pb.Cadre, importable=True)
AID_PROGRAMS = Kind("aid-programs", "aid_program", "aid_programs", pb.AidProgram)
KINDS: Mapping[str, Kind[Any]] = MappingProxyType(
    {
        k.cli_name: k
        for k in (VILLAGES, HOUSEHOLDS, PRODUCERS, LISTINGS, BUYERS, ORDERS, CADRES, AID_PROGRAMS)
    }
)


def retried_methods() -> list[str]:
    """The RPCs the service config retries: idempotent ones, and creates (keyed by request_id)."""
    names = ["ListWatchlist", "BatchGetResources"]
    for kind in KINDS.values():
        names += [f"Get{kind.title}", f"List{kind.plural_title}", f"Create{kind.title}"]
    return names


def retry_config(
    service: str, methods: Iterable[str], *, max_attempts: int = 5, timeout_s: float = 0
) -> dict[str, Any]:
    """One methodConfig entry: retry UNAVAILABLE with backoff, and a default deadline."""
    entry: dict[str, Any] = {
        "name": [{"service": service, "method": method} for method in methods],
        "retryPolicy": {
            "maxAttempts": max_attempts,
            "initialBackoff": "0.1s",
            "maxBackoff": "2s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        },
    }
    if timeout_s:
        entry["timeout"] = f"{timeout_s:g}s"  # for callers of raw stubs that set no deadline
    return entry


def service_config(max_attempts: int = 5) -> str:
    """Retries of retried_methods() and of the matcher's MATCHER_RETRIED on UNAVAILABLE."""
    return json.dumps(
        {
            "methodConfig": [
                retry_config(SERVICE, retried_methods(), max_attempts=max_attempts, timeout_s=60),
                retry_config(MATCHER_SERVICE, MATCHER_RETRIED, max_attempts=max_attempts),
            ]
        }
    )


def channel_options() -> list[tuple[str, Any]]:
    return [
        ("grpc.service_config", service_config()),
        ("grpc.enable_retries", 1),
        # An import's response lists every new id: ~33 bytes a row, past 4 MB at 130k rows.
        ("grpc.max_receive_message_length", 256 * 1024 * 1024),
        ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ]


def new_request_id() -> str:
    return str(uuid.uuid4())


class RegistryClient:
    """One channel to a registry server; a method per standard operation, generic over kinds."""

    def __init__(
        self,
        target: str | None = None,
        *,
        timeout_s: float = 10.0,
        import_timeout_s: float = 600.0,
        channel: grpc.Channel | None = None,
        metadata: Metadata = (),
        api_key: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        """api_key: sent on every call; by default clients/auth.py's resolve_key()
        ($FUPIN_API_KEY, its file, var/admin.key). credentials: TLS (default $FUPIN_TLS_*)."""
        self.target = target = auth.resolve_target(target)
        self.timeout_s = timeout_s
        self.import_timeout_s = import_timeout_s
        self.metadata = (*metadata, *auth.key_metadata(auth.resolve_key(api_key)))
        self._owns_channel = channel is None
        if channel is None:
            channel = auth.open_channel(
                target,
                credentials=credentials or auth.tls_credentials(),
                options=channel_options(),
            )
        self._channel = channel
        self._stub = api_grpc.RegistryServiceStub(self._channel)

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def create(self, kind: Kind[M], message: M, *, request_id: str | None = None) -> M:
        """Create a resource; a retry with the same request_id returns the first result."""
        key = request_id or new_request_id()
        request = _request(f"Create{kind.title}", **{kind.name: message, "request_id": key})
        return cast(M, self._call(f"Create{kind.title}", request))

    def get(self, kind: Kind[M], resource_id: str) -> M:
        return cast(M, self._call(f"Get{kind.title}", _request(f"Get{kind.title}", id=resource_id)))

    def list(
        self, kind: Kind[M], *, filter: str = "", page_size: int = 500, limit: int | None = None
    ) -> Iterator[M]:
        """Every resource matching the filter, in id order; pages are fetched as you iterate."""
        method = f"List{kind.plural_title}"
        return self._walk(method, kind.plural, filter=filter, page_size=page_size, limit=limit)

    def batch_get(self, kind: Kind[M], ids: Iterable[str]) -> dict[str, M]:
        """The resources of these ids that the caller may see, by id: one BatchGetResources
        call per 1,000 distinct ids (ids unknown or out of scope are simply absent)."""
        wanted = sorted({i for i in ids if i})
        found: dict[str, M] = {}
        for start in range(0, len(wanted), MAX_PAGE_SIZE):
            request = api.BatchGetResourcesRequest(
                kind=kind.plural, ids=wanted[start : start + MAX_PAGE_SIZE]
            )
            response = self._call("BatchGetResources", request)
            found.update((m.id, m) for m in getattr(response, kind.plural))
        return found

    def update(self, kind: Kind[M], message: M, paths: Sequence[str] = ()) -> M:
        """Update the fields in paths (all writable ones when empty); message.etag guards it."""
        mask = field_mask_pb2.FieldMask(paths=list(paths))
        request = _request(f"Update{kind.title}", **{kind.name: message, "update_mask": mask})
        return cast(M, self._call(f"Update{kind.title}", request))

    def delete(self, kind: Kind[Any], resource_id: str, etag: str = "") -> None:
        self._call(
            f"Delete{kind.title}", _request(f"Delete{kind.title}", id=resource_id, etag=etag)
        )

    def watchlist(
        self,
        *,
        filter: str = "",
        order_by: str = "",
        page_size: int = 500,
        limit: int | None = None,
    ) -> Iterator[api.WatchlistEntry]:
        """The early-warning list (返贫预警) by risk ("risk desc") or by id ("id"), pages hidden."""
        fields = {"filter": filter, "order_by": order_by}
        return self._walk("ListWatchlist", "entries", page_size=page_size, limit=limit, **fields)

    def import_rows(
        self,
        kind: Kind[Any],
        rows: Iterable[Message],
        *,
        chunk_size: int = 2000,
        request_id: str | None = None,
        on_progress: OnProgress | None = None,
    ) -> api.ImportResponse:
        """Stream rows all-or-nothing through Import<Kind>; resent whole on UNAVAILABLE."""
        if not kind.importable:
            raise ValueError(f"{kind.cli_name} cannot be imported")
        chunks = ReplayableChunks(
            lambda: _request(f"Import{kind.plural_title}"),
            kind.plural,
            rows,
            chunk_size=chunk_size,
            request_id=request_id or new_request_id(),
            on_progress=on_progress,
        )
        method = getattr(self._stub, f"Import{kind.plural_title}")
        for attempt in range(IMPORT_ATTEMPTS):
            try:
                response = method(
                    iter(chunks), timeout=self.import_timeout_s, metadata=self.metadata
                )
                return cast(api.ImportResponse, response)
            except grpc.RpcError as error:
                failure = from_rpc_error(error)
                if not isinstance(failure, UnavailableError) or attempt + 1 == IMPORT_ATTEMPTS:
                    raise failure from error
            time.sleep(IMPORT_BACKOFF_S * 2**attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    def _call(self, method: str, request: Message) -> Message:
        try:
            response = getattr(self._stub, method)(
                request, timeout=self.timeout_s, metadata=self.metadata
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
        return cast(Message, response)

    def _walk(
        self, method: str, field: str, *, page_size: int, limit: int | None, **fields: str
    ) -> Iterator[Any]:
        if limit is not None and limit <= 0:
            return
        size = min(page_size, limit or MAX_PAGE_SIZE, MAX_PAGE_SIZE)
        count = 0

        def ask(token: str) -> Any:
            request = _request(method, page_size=size, page_token=token, **fields)
            call = getattr(self._stub, method)
            return call.future(request, timeout=self.timeout_s, metadata=self.metadata)

        # The next page is asked for before this one is handed out, so the server reads it
        # while the caller prints this one: a long walk takes the longer of the two, not both.
        pending = ask("")
        while True:
            try:
                page: Any = pending.result()
            except grpc.RpcError as error:
                raise from_rpc_error(error) from error
            token = page.next_page_token
            if token:
                pending = ask(token)
            for item in getattr(page, field):
                yield item
                count += 1
                if count == limit:
                    if token:
                        pending.cancel()
                    return
            if not token:
                return


class ReplayableChunks:
    """Import requests built lazily from the rows and kept, so a retried stream resends them.

    gRPC drains the iterator on a thread of its own; a retry may start while that thread is
    still inside next(), hence the lock. Progress counts each row once, however often resent.
    """

    def __init__(
        self,
        make_request: Callable[[], Message],
        field: str,
        rows: Iterable[Message],
        *,
        chunk_size: int,
        request_id: str,
        on_progress: OnProgress | None,
    ) -> None:
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self._make_request = make_request
        self._field = field
        self._rows = iter(rows)
        self._chunk_size = chunk_size
        self._request_id = request_id
        self._on_progress = on_progress
        self._built: list[Message] = []
        self._rows_built = 0
        self._done = False
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[Message]:
        for index in itertools.count():
            with self._lock:
                if index == len(self._built) and not self._build_next():
                    return
                chunk = self._built[index]
            yield chunk

    def _build_next(self) -> bool:
        """Append the next chunk; False at the end (the first chunk is sent even if empty)."""
        batch = [] if self._done else list(itertools.islice(self._rows, self._chunk_size))
        if not batch and self._built:
            self._done = True
            return False
        request: Any = self._make_request()
        request.request_id = "" if self._built else self._request_id
        getattr(request, self._field).extend(batch)
        self._built.append(request)
        self._rows_built += len(batch)
        if self._on_progress is not None:
            self._on_progress(self._rows_built)
        return True


def _request(method: str, **fields: Any) -> Message:
    """The request message of a RegistryService method, e.g. GetHouseholdRequest(id=...)."""
    return cast(Message, getattr(api, f"{method}Request")(**fields))


__all__ = [
    "AID_PROGRAMS",
    "BUYERS",
    "CADRES",
    "HOUSEHOLDS",
    "KINDS",
    "LISTINGS",
    "ORDERS",
    "PRODUCERS",
    "VILLAGES",
    "FupinClientError",
    "Kind",
    "RegistryClient",
]
