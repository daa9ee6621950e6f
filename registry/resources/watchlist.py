"""Early warning of return to poverty (返贫预警): which households to watch, how much at risk
each is, and why.

Who is watched is the scoring file's threshold rule ([watchlist]: a score near a threshold, or
a fall). How much each is at risk is not this package's to say: the year's risk rule
(registry/year/risk.py, over shocks and incomes) is handed in by the composition (server/) as
a `Rank`, so the resources know nothing of the year. Without one every risk is 0.

Ranked by risk, a page is cut from the whole watched set (filter and scope applied in SQL),
ranked in memory: the work per page grows with the watched households, not with the register,
and the rank callable reads their shocks and incomes in a few queries per few thousand rows.
The page token carries the last entry's (risk, id).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import and_, or_, select
from sqlmodel import Session, col

from registry import db
from registry.errors import InvalidArgument
from registry.resources import hooks, models
from registry.resources.kinds import HOUSEHOLD, Record
from registry.resources.query import Page, next_token
from registry.resources.scoring import ScoringConfig, Status, WatchReason, watch_reasons
from registry.resources.store import RegistryStore, Scope

BY_RISK, BY_ID = "risk desc", "id"
ORDERS = ("", BY_RISK, BY_ID)  # AIP-132 order_by values ListWatchlist accepts


class Explained(Protocol):
    @property
    def risk(self) -> int: ...
    @property
    def reasons(self) -> tuple[str, ...]: ...


# (session, rows of FACT_COLUMNS) -> household id -> its risk and reasons.
Rank = Callable[[Session, Sequence[Sequence[Any]]], Mapping[str, Explained]]
_hh = models.Household
FACT_COLUMNS = (_hh.id, _hh.village_id, _hh.county_code, _hh.status, _hh.score,
                _hh.previous_score, _hh.causes)  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """A watched household: its record, threshold reasons, risk and the risk's reasons."""

    record: Record
    reasons: list[WatchReason]
    risk: int
    risk_reasons: tuple[str, ...]


def checked_order(order_by: str) -> str:
    """BY_RISK or BY_ID for a documented order_by; INVALID_ARGUMENT naming order_by else."""
    text = " ".join(order_by.split()).lower()
    if text not in ORDERS:
        got = repr(order_by[:40])
        raise InvalidArgument.one(
            "order_by", f'must be "risk desc" (the default) or "id", got {got}'
        )
    return text or BY_RISK


def list_watchlist(
    store: RegistryStore,
    *,
    page: Page,
    where: Scope,
    scope: Scope = None,
    order: str = BY_RISK,
    rank: Rank | None = None,
) -> tuple[list[Entry], str]:
    """One page of watched households in `order` with their reasons and risks."""
    conditions = [c for c in (_watched(store.scoring), scope, where) if c is not None]
    facts = select(*(col(c) for c in FACT_COLUMNS)).where(*conditions)
    with store.transaction() as session:
        cut = _by_id if order == BY_ID else _by_risk
        ids, risks, more = cut(session, facts, page, rank or _no_risk)
        stmt = select(_hh).where(db.one_of(session, col(_hh.id), ids))
        rows = {r.id: r for r in session.scalars(stmt)}
        related = hooks.load_related(session, HOUSEHOLD, ids)
    cfg = store.scoring
    entries = [
        Entry(
            Record(rows[i], tuple(related.get(i, ()))),
            watch_reasons(Status(rows[i].status), rows[i].score, rows[i].previous_score, cfg),
            _risk(risks, i),
            tuple(risks[i].reasons) if i in risks else (),
        )
        for i in ids
    ]
    if not more:
        return entries, ""
    return entries, next_token(page, ids[-1], None if order == BY_ID else _risk(risks, ids[-1]))


def _by_id(
    session: Session, facts: Any, page: Page, rank: Rank
) -> tuple[list[str], Mapping[str, Explained], bool]:
    """The page's ids by id (keyset in SQL) and their risks: the page alone is assessed."""
    if page.after:
        facts = facts.where(col(_hh.id) > page.after)
    rows = list(session.execute(facts.order_by(col(_hh.id)).limit(page.size + 1)))
    return (
        [str(r[0]) for r in rows[: page.size]],
        rank(session, rows[: page.size]),
        (len(rows) > page.size),
    )


def _by_risk(
    session: Session, facts: Any, page: Page, rank: Rank
) -> tuple[list[str], Mapping[str, Explained], bool]:
    """The page's ids by (risk desc, id) after the token's (risk, id): every watched
    household is assessed, for the order is the risk's."""
    if page.after and page.rank is None:
        raise InvalidArgument.one("page_token", "was issued for a different order")
    rows = list(session.execute(facts))
    risks = rank(session, rows)
    keys = sorted((-_risk(risks, str(r[0])), str(r[0])) for r in rows)
    if page.after:
        cursor = (-(page.rank or 0), page.after)
        keys = [k for k in keys if k > cursor]
    return [k[1] for k in keys[: page.size]], risks, len(keys) > page.size


def _watched(cfg: ScoringConfig) -> Any:
    """The threshold rule: lifted out or at risk near a threshold, or a score that fell."""
    score, status, previous = col(_hh.score), col(_hh.status), col(_hh.previous_score)
    near = or_(
        score.between(
            cfg.impoverished_below - cfg.watch_margin, cfg.impoverished_below + cfg.watch_margin
        ),
        score.between(
            cfg.lifted_out_from - cfg.watch_margin, cfg.lifted_out_from + cfg.watch_margin
        ),
    )
    return or_(
        and_(status.in_([Status.LIFTED_OUT, Status.AT_RISK]), near),
        and_(previous >= 0, previous - score > cfg.watch_drop),
    )


def _risk(risks: Mapping[str, Explained], household_id: str) -> int:
    found = risks.get(household_id)
    return found.risk if found else 0


def _no_risk(session: Session, rows: Sequence[Sequence[Any]]) -> Mapping[str, Explained]:
    return {}
