"""Early warning of return to poverty (返贫预警): which households to watch, and why."""

from __future__ import annotations

from sqlalchemy import and_, or_, select
from sqlmodel import col

from registry.resources import hooks, models
from registry.resources.kinds import HOUSEHOLD, Record
from registry.resources.query import Page, next_token
from registry.resources.scoring import Status, WatchReason, watch_reasons
from registry.resources.store import RegistryStore, Scope


def list_watchlist(
    store: RegistryStore, *, page: Page, where: Scope, scope: Scope = None
) -> tuple[list[tuple[Record, list[WatchReason]]], str]:
    """One page of watched households (ordered by id) with their reasons."""
    cfg = store.scoring
    hh = models.Household
    score, status, previous = col(hh.score), col(hh.status), col(hh.previous_score)
    near = or_(
        score.between(
            cfg.impoverished_below - cfg.watch_margin, cfg.impoverished_below + cfg.watch_margin
        ),
        score.between(
            cfg.lifted_out_from - cfg.watch_margin, cfg.lifted_out_from + cfg.watch_margin
        ),
    )
    watched = or_(
        and_(status.in_([Status.LIFTED_OUT, Status.AT_RISK]), near),
        and_(previous >= 0, previous - score > cfg.watch_drop),
    )
    stmt = select(hh).where(watched).order_by(col(hh.id))
    if scope is not None:
        stmt = stmt.where(scope)
    if where is not None:
        stmt = stmt.where(where)
    if page.after:
        stmt = stmt.where(col(hh.id) > page.after)
    with store.transaction() as session:
        rows = list(session.scalars(stmt.limit(page.size + 1)))
        more = len(rows) > page.size
        rows = rows[: page.size]
        related = hooks.load_related(session, HOUSEHOLD, [r.id for r in rows])
    entries = [
        (
            Record(r, tuple(related.get(r.id, ()))),
            watch_reasons(Status(r.status), r.score, r.previous_score, cfg),
        )
        for r in rows
    ]
    return entries, next_token(page, rows[-1].id) if more else ""
