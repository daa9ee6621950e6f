"""A case's state as the identification and exit procedure names it (docs/glossary.md).

A case's states are steps of a procedure, not a match run's: PROPOSED is a household put
forward for identification (拟识别) or for exit (拟退出), not a solution awaiting commit
(待提交), and FILED is a file card issued (建档立卡) or struck off (退出销号). So they have
their own display names, by case kind, in both languages; tables and CSV keep the proto
name where programs read it (--output csv, json).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from clients.i18n import N_, _
from fupin.registry.v1 import year_service_pb2 as ypb

# (kind, state) -> display name; the kind is 0 where both kinds say the same.
NAMES: Mapping[tuple[int, int], str] = MappingProxyType(
    {
        (ypb.IDENTIFICATION, ypb.PROPOSED): N_("proposed for identification"),
        (ypb.EXIT, ypb.PROPOSED): N_("proposed for exit"),
        (0, ypb.REVIEWED): N_("passed the village review"),
        (0, ypb.ON_NOTICE): N_("on public notice"),
        (0, ypb.APPROVED): N_("approved by the county"),
        (ypb.IDENTIFICATION, ypb.FILED): N_("filed: file card issued"),
        (ypb.EXIT, ypb.FILED): N_("exited: struck off the file"),
        (0, ypb.REJECTED): N_("rejected"),
    }
)


def state_name(kind: int, state: int) -> str:
    """The state of a case of this kind, as people read it in the active language."""
    name = NAMES.get((kind, state)) or NAMES.get((0, state))
    if name is None:  # unspecified, or a state newer than this client
        value = ypb.CaseState.DESCRIPTOR.values_by_number.get(state)
        return value.name if value is not None else str(state)
    return _(name)


def case_state(case: Any) -> str:
    """A Case message's state (a table cell)."""
    return state_name(case.kind, case.state)
