"""Personal data in responses: found wherever it sits, masked by role, its reads collected.

Works on any response message by its descriptor, so RPCs added later (aid runs, ledgers…) are
covered as soon as their responses carry Household or Producer messages:

- auditor: a household's head name, card number, health, disability, income and the reasons in
  its history are masked (strings "(masked)", numbers -1); a household producer's name too.
  Causes tied to health (ILLNESS, DISABILITY) are as sensitive as the fields they stand for:
  an auditor sees each as POVERTY_CAUSE_UNSPECIFIED ("a cause withheld"), in households and in
  aid grants' causes_matched. In a watchlist entry's risk reasons an illness shock on the
  household itself tells the same: an auditor reads it as a "shock" of withheld kind.
- every role: the households a producer names (its household, a cooperative's members), an
  aid grant (AidGrant), a ledger entry about a household (LedgerEntry of kind AID_GRANT,
  HOUSEHOLD_CONTRACT, DIVIDEND or AID_DISBURSEMENT/RECEIPT/CLAWBACK), a member's payout in a
  producer's statement (MemberPayout), a cadre's visit (CadreVisit) or a recall (CadreRecall)
  names are collected for the audit, as those of a Household are; an auditor sees a visit's
  notes (done, follow_up) masked.
- platform, cooperative: a household keeps nothing but its status (poverty category); a platform
  sees a household producer without name or household id, at about 1 km, and a cooperative
  producer without its members; a cooperative sees its own producer unmasked (and no other).
- admin, office: nothing masked.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from fupin.registry.v1 import resources_pb2 as pb
from registry.access.policy import Role
from registry.runs.supply import coarse

MASKED = "(masked)"
HOUSEHOLD = pb.Household.DESCRIPTOR.full_name
PRODUCER = pb.Producer.DESCRIPTOR.full_name
AID_GRANT = "fupin.matcher.v1.AidGrant"
LEDGER_ENTRY = "fupin.registry.v1.LedgerEntry"
MEMBER_PAYOUT = "fupin.registry.v1.MemberPayout"
CADRE_VISIT = "fupin.registry.v1.CadreVisit"
CADRE_RECALL = "fupin.registry.v1.CadreRecall"
WATCHLIST_ENTRY = "fupin.registry.v1.WatchlistEntry"
# registry/year/risk.py's words for a household's own illness shock, and what an auditor reads.
ILLNESS_ON_HOUSEHOLD, WITHHELD_SHOCK = "illness 疾病 on its household ", "shock on its household "
PERSONAL = (HOUSEHOLD, PRODUCER, AID_GRANT, LEDGER_ENTRY, MEMBER_PAYOUT, CADRE_VISIT, CADRE_RECALL)
SENSITIVE_CAUSES = frozenset({pb.ILLNESS, pb.DISABILITY})
# fupin.registry.v1.LedgerEntryKind of the entries whose subject is a household: AID_GRANT,
# HOUSEHOLD_CONTRACT, DIVIDEND, AID_DISBURSEMENT, AID_RECEIPT, AID_CLAWBACK.
LEDGER_ABOUT_HOUSEHOLDS = frozenset({2, 8, 10, 11, 12, 13})


@dataclass
class Seen:
    """Households a response carried (before masking), for the audit log."""

    household_ids: list[str] = field(default_factory=list)
    county_codes: set[str] = field(default_factory=set)


@functools.cache
def carries_personal(descriptor: Descriptor) -> bool:
    """Can a message of this type hold a Household or Producer, however deep?"""
    return _reaches(descriptor, frozenset())


def _reaches(descriptor: Descriptor, path: frozenset[str]) -> bool:
    if descriptor.full_name in PERSONAL:
        return True
    if descriptor.full_name in path:
        return False
    inner = path | {descriptor.full_name}
    return any(
        f.message_type is not None and _reaches(f.message_type, inner) for f in descriptor.fields
    )


def process(message: Any, role: Role, seen: Seen) -> None:
    """Collect the households in message into seen, and mask what role may not see, in place."""
    if not isinstance(message, Message) or not carries_personal(message.DESCRIPTOR):
        return
    _walk(message, role, seen)


def _walk(message: Message, role: Role, seen: Seen) -> None:
    name = message.DESCRIPTOR.full_name
    if name == HOUSEHOLD:
        _household(message, role, seen)
        return
    if name == PRODUCER:  # a household producer, a cooperative's members: households named
        seen.household_ids.extend(h for h in [message.household_id] if h)  # type: ignore[attr-defined]
        seen.household_ids.extend(m.household_id for m in message.members)  # type: ignore[attr-defined]
        _producer(message, role)
        return
    if name == AID_GRANT:
        seen.household_ids.append(message.household_id)  # type: ignore[attr-defined]
        if role is Role.AUDITOR:
            _withhold_causes(message.causes_matched)  # type: ignore[attr-defined]
        return
    if name == MEMBER_PAYOUT:  # a cooperative's payout to a member (SeasonService statements)
        seen.household_ids.append(message.household_id)  # type: ignore[attr-defined]
        return
    if name == CADRE_VISIT:  # a visit's notes tell of the household's life
        seen.household_ids.append(message.household_id)  # type: ignore[attr-defined]
        if role is Role.AUDITOR:
            message.done = message.follow_up = MASKED  # type: ignore[attr-defined]
        return
    if name == CADRE_RECALL:
        seen.household_ids.extend(message.released_household_ids)  # type: ignore[attr-defined]
        return
    if name == WATCHLIST_ENTRY and role is Role.AUDITOR:
        reasons = message.risk_reasons  # type: ignore[attr-defined]
        reasons[:] = [_withhold_illness(r) for r in reasons]
    if name == LEDGER_ENTRY:
        if message.kind in LEDGER_ABOUT_HOUSEHOLDS and message.subject_id:  # type: ignore[attr-defined]
            seen.household_ids.append(message.subject_id)  # type: ignore[attr-defined]
        return
    for descriptor, value in message.ListFields():
        if descriptor.type != FieldDescriptor.TYPE_MESSAGE:
            continue
        if not carries_personal(descriptor.message_type):
            continue
        if descriptor.is_repeated:
            if descriptor.message_type.GetOptions().map_entry:  # type: ignore[union-attr]
                items = list(value.values())
            else:
                items = list(value)
            for item in items:
                if isinstance(item, Message):
                    _walk(item, role, seen)
        else:
            _walk(value, role, seen)


def _household(household: Any, role: Role, seen: Seen) -> None:
    if household.id:
        seen.household_ids.append(household.id)
    if household.county_code:
        seen.county_codes.add(household.county_code)
    if role in (Role.ADMIN, Role.OFFICE):
        return
    if role is Role.AUDITOR:
        household.head_name = MASKED
        household.card_number = MASKED
        household.assessment_reason = ""
        indicators = household.indicators
        indicators.health = indicators.disability = indicators.income_per_capita_fen = -1
        for change in household.history:
            change.reason = MASKED
        _withhold_causes(household.causes)
        return
    status = household.status
    household.Clear()
    household.status = status


def _withhold_causes(causes: Any) -> None:
    causes[:] = [pb.POVERTY_CAUSE_UNSPECIFIED if c in SENSITIVE_CAUSES else c for c in causes]


def _withhold_illness(reason: str) -> str:
    if reason.startswith(ILLNESS_ON_HOUSEHOLD):
        return WITHHELD_SHOCK + reason[len(ILLNESS_ON_HOUSEHOLD) :]
    return reason


def _producer(producer: Any, role: Role) -> None:
    if role in (Role.ADMIN, Role.OFFICE, Role.COOPERATIVE):
        return
    if producer.kind == pb.PRODUCER_HOUSEHOLD:
        producer.display_name = MASKED
        if role is Role.PLATFORM:  # a household's farm is its home: about 1 km is enough
            producer.location.latitude, producer.location.longitude = coarse(
                producer.location.latitude, producer.location.longitude
            )
    if role is Role.PLATFORM:
        producer.household_id = ""
        del producer.members[:]
