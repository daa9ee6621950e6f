"""Aid and cadre runs over the two-county world, made with a given key, for the access tests."""

from __future__ import annotations

from google.protobuf.message import Message

from fupin.matcher.v1 import cadres_pb2 as cpb
from fupin.matcher.v1 import matcher_service_pb2 as mpb
from tests.access.world import PUNING, ZHAOAN, World, call

M = "/fupin.matcher.v1.MatcherService/"
PARAMS = mpb.SolveParameters(time_limit_s=10, reproducible=True)
RUN_RPCS = (
    "GetMatchRun",
    "WatchMatchRun",
    "CancelMatchRun",
    "CommitMatchRun",
    "DiscardMatchRun",
    "ListRunAllocations",
    "ListRunUnsold",
)


def requests(world: World, tag: str, county: str, region: str | None = None) -> dict[str, Message]:
    """An aid (with `county`'s programme), a stationing and a contracting run over the registry
    records of `region` (default: the county; "" names none)."""
    programme = world.ids["aid_program_a" if county == ZHAOAN else "aid_program_b"]
    county = county if region is None else region
    return {
        "AllocateAid": mpb.AllocateAidRequest(
            selection=mpb.AidSelection(region_code=county, programme_ids=[programme]),
            parameters=PARAMS,
            run_id=f"run-aid-{tag}",
        ),
        "AssignCadres": mpb.AssignCadresRequest(
            selection=cpb.CadreSelection(region_code=county),
            rules=cpb.StationingRules(team_min=1, team_max=1),
            parameters=PARAMS,
            run_id=f"run-station-{tag}",
        ),
        "ContractHouseholds": mpb.ContractHouseholdsRequest(
            selection=cpb.ContractingSelection(region_code=county),
            parameters=PARAMS,
            run_id=f"run-contract-{tag}",
        ),
    }


def make(
    channel, world: World, key: str, tag: str, county: str = ZHAOAN, region: str | None = None
) -> list[mpb.MatchRun]:
    """The three runs, made with world.keys[key]; each must succeed."""
    made = []
    for rpc, request in requests(world, tag, county, region).items():
        code, responses, details = call(channel, f"{M}{rpc}", request, world.keys[key])
        assert code.name == "OK", (rpc, key, code, details)
        made.append(responses[0])
    return made


def not_found_like_unknown(channel, world: World, key: str, run_id: str) -> list[str]:
    """The RPCs naming run_id whose answer to `key` differs from their answer for an unknown id
    of the same length: both must be NOT_FOUND (or PERMISSION_DENIED, for an RPC the role may
    not call at all) with the same message, id aside."""
    unknown = "run-" + "z" * (len(run_id) - 4)
    wrong = []
    for rpc in RUN_RPCS:
        answers = []
        for ident in (run_id, unknown):
            code, _, details = call(channel, f"{M}{rpc}", named(rpc, ident), world.keys[key])
            answers.append((code.name, details.replace(ident, "<id>")))
        if answers[0] != answers[1] or answers[0][0] not in ("NOT_FOUND", "PERMISSION_DENIED"):
            wrong.append(f"{rpc}: {answers}")
    return wrong


def listed(channel, world: World, key: str) -> list[str]:
    """The run ids ListMatchRuns shows `key`, one per page (so tokens are exercised)."""
    ids, token = [], ""
    while True:
        request = mpb.ListMatchRunsRequest(page_size=1, page_token=token)
        code, responses, details = call(channel, f"{M}ListMatchRuns", request, world.keys[key])
        assert code.name == "OK", details
        ids += [r.id for r in responses[0].runs]
        token = responses[0].next_page_token
        if not token:
            return ids


def named(rpc: str, run_id: str) -> Message:
    request = getattr(mpb, f"{rpc}Request")
    field = "parent" if "parent" in request.DESCRIPTOR.fields_by_name else "id"
    return request(**{field: run_id})


__all__ = ["PUNING", "ZHAOAN", "listed", "make", "named", "not_found_like_unknown", "requests"]
