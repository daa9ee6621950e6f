"""The cadre contracting run kind: poor households to cadres (ContractHouseholds, 结对帮扶).

The problem is inline or the cadres and poor households of a region in the registry; stored
and committed as stationing runs are (stationing.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from matcher.service import convert_contracting as convert
from matcher.service.jobs import solve_contracting
from matcher.service.kinds import Ended, Limit, Prepared, RunKind, check_size, proposed
from matcher.service.source import RegistrySource
from matcher.service.stationing import commit, region_of, save
from registry.access.policy import Principal
from registry.errors import InvalidArgument

# What a request sends: an inline problem's pairs are limited by their own count, however many
# households and cadres it names.
LIMITS = {"cadres": Limit(300_000), "households": Limit(200_000), "pairs": Limit(5_000_000)}


def prepare(
    request: mpb.ContractHouseholdsRequest,
    source: RegistrySource,
    caller: Principal,
    limits: Mapping[str, Limit],
) -> Prepared:
    scope = region_of(request, caller)
    which = request.WhichOneof("source")
    versions: dict[str, int] | None = None
    if which == "inline":
        inline = request.inline
        sizes = {"cadres": len(inline.cadres), "households": len(inline.households)}
        check_size(limits, **sizes, pairs=len(inline.pairs))
        problem = convert.inline_contracting(inline, request.rules)
    elif which == "selection":
        data = source.contracting_data(region_code=scope, reader=caller)
        check_size(limits, cadres=len(data.cadres), households=len(data.households))
        problem, versions = convert.registry_contracting(data, request.rules)
    else:
        raise InvalidArgument.one("source", "set either inline or selection")

    def ended(result: Any) -> Ended:
        message = convert.contracting_proto(result, problem)
        items = convert.contracting_items(result, versions)
        return Ended(proposed(result, result.bound, message), items)

    sizes = {"cadres": len(problem.cadres), "households": len(problem.households)}
    return Prepared(problem, sizes, ended, scope)


KIND = RunKind(mpb.CADRE_CONTRACTING, prepare, solve_contracting, save, commit, LIMITS)
