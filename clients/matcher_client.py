"""The typed Python client of fupin.matcher.v1.MatcherService, as RegistryClient is the
registry's:

    with MatcherClient("127.0.0.1:50051") as matcher:
        progress = matcher.match_produce(selection=mpb.RegistrySelection(
            product="green_plum", today="2020-05-20"), watch=True)
        for event in progress:          # MatchRunEvent: state, objective, bound, elapsed
            print(event.state, event.objective)
        run = progress.run()            # the PROPOSED run
        matcher.commit(run.id)

- The key: `api_key`, else clients/auth.py's resolve_key() ($FUPIN_API_KEY, its file).
- Every call has a deadline: `timeout_s` for reads and commits, `solve_timeout_s` for solves
  (the server stops the solver at the deadline and returns its best, FEASIBLE).
- Retries on UNAVAILABLE only where safe (clients/client.py MATCHER_RETRIED): reads,
  QuickSource, and MatchProduce and CommitMatchRun, which this client always sends with a
  request_id (a uuid4 unless given), so a retry returns the first call's run.
- Failures raise clients.errors.FupinClientError subclasses with the server's field violations.
- A produce run too large for one answer comes as a summary (`produce.lists_omitted`):
  `allocations(run_id)` and `unsold(run_id)` page its lists, `complete(run)` fills them in.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, cast

import grpc
from google.protobuf.message import Message

from clients import auth
from clients.client import MAX_PAGE_SIZE, channel_options
from clients.errors import NotFoundError, from_rpc_error
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc

Metadata = Sequence[tuple[str, str]]
LIST_PAGE_SIZE = 10_000  # the server's maximum for a run's lists (ListRunAllocations)
PAGED = {  # ProduceResult's list -> the RPC that pages it, its request and response
    "allocations": ("ListRunAllocations", mpb.ListRunAllocationsRequest),
    "unsold": ("ListRunUnsold", mpb.ListRunUnsoldRequest),
}


def paged(stub: Any, run_id: str, name: str, timeout_s: float, metadata: Metadata = ()) -> Any:
    """Every item of a produce run's list ``name`` (allocations, unsold), page by page."""
    method, request_type = PAGED[name]
    token = ""
    while True:
        request = request_type(parent=run_id, page_size=LIST_PAGE_SIZE, page_token=token)
        page = getattr(stub, method)(request, timeout=timeout_s, metadata=metadata)
        yield from getattr(page, name)
        token = page.next_page_token
        if not token:
            return


def completed(stub: Any, run: mpb.MatchRun, timeout_s: float, metadata: Metadata = ()) -> Any:
    """The run with its produce lists filled in when its answer was a summary (they are read
    with ListRunAllocations and ListRunUnsold); any other run as it is."""
    if not run.produce.lists_omitted:
        return run
    for name in PAGED:
        getattr(run.produce, name).extend(paged(stub, run.id, name, timeout_s, metadata))
    run.produce.lists_omitted = False
    return run


def listing_columns(listings: Iterable[mpb.InlineListing]) -> mpb.InlineListingColumns:
    """Inline listings as ProduceProblem.listing_columns: the same problem, which the server
    reads in a tenth of the time once there are tens of thousands of listings. Each distinct
    list of shares is sent once (share_sets), each listing names its own (share_set)."""
    ls = list(listings)
    sets: dict[tuple[tuple[int, int], ...], int] = {}
    share_set = [
        sets.setdefault(tuple((s.poverty_class, s.share_permille) for s in x.shares), len(sets))
        for x in ls
    ]
    return mpb.InlineListingColumns(
        id=[x.id for x in ls],
        product=[x.product for x in ls],
        grade=[x.grade for x in ls],
        quantity_kg=[x.quantity_kg for x in ls],
        floor_price_fen=[x.floor_price_fen for x in ls],
        latitude=[x.location.latitude for x in ls],
        longitude=[x.location.longitude for x in ls],
        available_from=[x.available_from for x in ls],
        available_until=[x.available_until for x in ls],
        shelf_life_days=[x.shelf_life_days for x in ls],
        share_set=share_set,
        share_sets=[
            mpb.PovertyShares(
                shares=[mpb.PovertyShare(poverty_class=c, share_permille=p) for c, p in key]  # type: ignore[arg-type]
            )
            for key in sets
        ],
    )


class RunProgress:
    """A solve under way: iterate its MatchRunEvents (from WatchMatchRun) until it ends, then
    `run()` gives the MatchRun the solve call returned."""

    def __init__(self, client: MatcherClient, run_id: str, future: Any) -> None:
        self.run_id = run_id
        self._client = client
        self._future = future

    def __iter__(self) -> Iterator[mpb.MatchRunEvent]:
        """Progress events; the last one carries the run (if the solve ended before the watch
        began, that last event is the only one)."""
        while not self._future.done():
            try:
                for event in self._client.watch(self.run_id):
                    yield event
                    if event.HasField("run"):
                        return
            except NotFoundError:  # the solve call has not created the run yet: watch again
                time.sleep(0.05)
                continue
            break
        run = self.run()
        yield mpb.MatchRunEvent(
            state=run.state,
            objective=run.objective,
            best_bound=run.best_bound,
            elapsed_s=run.timings.total_s,
            run=run,
        )

    def run(self) -> mpb.MatchRun:
        try:
            return cast(mpb.MatchRun, self._future.result())
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    def cancel(self) -> mpb.MatchRun:
        return self._client.cancel(self.run_id)


class MatcherClient:
    """One channel to a matcher server; a method per RPC."""

    def __init__(
        self,
        target: str | None = None,
        *,
        timeout_s: float = 10.0,
        solve_timeout_s: float = 120.0,
        channel: grpc.Channel | None = None,
        metadata: Metadata = (),
        api_key: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
    ) -> None:
        self.target = target = auth.resolve_target(target)
        self.timeout_s = timeout_s
        self.solve_timeout_s = solve_timeout_s
        self.metadata = (*metadata, *auth.key_metadata(auth.resolve_key(api_key)))
        self._owns_channel = channel is None
        if channel is None:
            channel = auth.open_channel(
                target, credentials=credentials or auth.tls_credentials(), options=channel_options()
            )
        self._channel = channel
        self._stub = mpb_grpc.MatcherServiceStub(channel)

    def close(self) -> None:
        if self._owns_channel:
            self._channel.close()

    def __enter__(self) -> MatcherClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- solves -------------------------------------------------------------------------

    def match_produce(
        self,
        *,
        inline: mpb.ProduceProblem | None = None,
        selection: mpb.RegistrySelection | None = None,
        parameters: mpb.SolveParameters | None = None,
        request_id: str | None = None,
        watch: bool = False,
        view: int = mpb.MATCH_RUN_VIEW_UNSPECIFIED,
    ) -> Any:
        """MatchProduce on an inline problem or a registry selection (exactly one). Returns
        the MatchRun, or with watch=True a RunProgress to iterate; `view` as MatchRunView."""
        if (inline is None) == (selection is None):
            raise ValueError("give inline or selection, not both or neither")
        request = mpb.MatchProduceRequest(
            inline=inline,
            selection=selection,
            parameters=parameters,
            view=view,  # type: ignore[arg-type]
        )
        return self._solve("MatchProduce", request, request_id, watch)

    def allocate_aid(self, request: mpb.AllocateAidRequest, *, watch: bool = False) -> Any:
        return self._solve("AllocateAid", request, request.request_id or None, watch)

    def assign_cadres(self, request: mpb.AssignCadresRequest, *, watch: bool = False) -> Any:
        return self._solve("AssignCadres", request, request.request_id or None, watch)

    def contract_households(
        self, request: mpb.ContractHouseholdsRequest, *, watch: bool = False
    ) -> Any:
        return self._solve("ContractHouseholds", request, request.request_id or None, watch)

    def _solve(self, method: str, request: Any, request_id: str | None, watch: bool) -> Any:
        request.request_id = request_id or str(uuid.uuid4())
        if not watch:
            return self._call(method, request, self.solve_timeout_s)
        request.run_id = request.run_id or f"run-{uuid.uuid4().hex[:16]}"
        future = getattr(self._stub, method).future(
            request, timeout=self.solve_timeout_s, metadata=self.metadata
        )
        return RunProgress(self, request.run_id, future)

    def quick_source(
        self,
        order: mpb.InlineOrder,
        *,
        today: str,
        max_results: int = 0,
        hold: mpb.HoldOptions | None = None,
    ) -> mpb.QuickSourceResponse:
        """`hold`: hold the suggested kilograms; it always travels with a request_id (a fresh
        one when unset), so the client's retry of a lost answer holds nothing more."""
        request = mpb.QuickSourceRequest(order=order, today=today, max_results=max_results)
        if hold is not None:
            request.hold.CopyFrom(hold)
            request.hold.request_id = hold.request_id or str(uuid.uuid4())
        return cast(mpb.QuickSourceResponse, self._call("QuickSource", request))

    # --- runs ---------------------------------------------------------------------------

    def get(self, run_id: str, *, view: int = mpb.MATCH_RUN_VIEW_UNSPECIFIED) -> mpb.MatchRun:
        """The run; `view` as MatchRunView (unset: in full when it fits in one answer)."""
        request = mpb.GetMatchRunRequest(id=run_id, view=view)  # type: ignore[arg-type]
        return cast(mpb.MatchRun, self._call("GetMatchRun", request))

    def allocations(self, run_id: str) -> Iterator[mpb.ProduceAllocation]:
        """A produce run's allocations, however many, fetched page by page as you iterate."""
        return self._paged(run_id, "allocations")

    def unsold(self, run_id: str) -> Iterator[mpb.UnsoldListing]:
        """A produce run's unsold listings, page by page as you iterate."""
        return self._paged(run_id, "unsold")

    def complete(self, run: mpb.MatchRun) -> mpb.MatchRun:
        """The run with every allocation and unsold listing, however large it is."""
        try:
            return cast(mpb.MatchRun, completed(self._stub, run, self.timeout_s, self.metadata))
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    def _paged(self, run_id: str, name: str) -> Iterator[Any]:
        try:
            yield from paged(self._stub, run_id, name, self.timeout_s, self.metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    def list(self, *, filter: str = "", limit: int | None = None) -> Iterator[mpb.MatchRun]:
        """Runs (without results) matching the filter, e.g. `kind = PRODUCE AND state =
        PROPOSED`; pages are fetched as you iterate."""
        token, seen = "", 0
        while True:
            request = mpb.ListMatchRunsRequest(
                filter=filter, page_size=MAX_PAGE_SIZE, page_token=token
            )
            page = cast(mpb.ListMatchRunsResponse, self._call("ListMatchRuns", request))
            for run in page.runs:
                if limit is not None and seen >= limit:
                    return
                seen += 1
                yield run
            token = page.next_page_token
            if not token:
                return

    def watch(self, run_id: str) -> Iterator[mpb.MatchRunEvent]:
        """A run's progress until it ends (NOT_FOUND before the run exists)."""
        try:
            yield from self._stub.WatchMatchRun(
                mpb.WatchMatchRunRequest(id=run_id),
                timeout=self.solve_timeout_s,
                metadata=self.metadata,
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error

    def commit(self, run_id: str, *, etag: str = "", request_id: str | None = None) -> mpb.MatchRun:
        request = mpb.CommitMatchRunRequest(
            id=run_id, etag=etag, request_id=request_id or str(uuid.uuid4())
        )
        return cast(mpb.MatchRun, self._call("CommitMatchRun", request))

    def discard(self, run_id: str, *, etag: str = "") -> mpb.MatchRun:
        request = mpb.DiscardMatchRunRequest(id=run_id, etag=etag)
        return cast(mpb.MatchRun, self._call("DiscardMatchRun", request))

    def cancel(self, run_id: str) -> mpb.MatchRun:
        request = mpb.CancelMatchRunRequest(id=run_id)
        return cast(mpb.MatchRun, self._call("CancelMatchRun", request))

    def _call(self, method: str, request: Message, timeout_s: float | None = None) -> Message:
        try:
            response = getattr(self._stub, method)(
                request, timeout=timeout_s or self.timeout_s, metadata=self.metadata
            )
        except grpc.RpcError as error:
            raise from_rpc_error(error) from error
        return cast(Message, response)
