"""Which match runs a caller may see, as a condition inside the run queries.

Aid and cadre runs name households, their needs and causes of poverty; produce runs name
listings and orders. So:

- admin: every run;
- platform: the produce runs it made (stored with its buyer id as scope), never another
  platform's or an admin's, which show other buyers' orders and prices;
- cooperative: produce runs only (it sees its own listings' part of each:
  matcher/service/servicer.py for_caller);
- office: aid and cadre runs made for a region inside its scope, and the produce runs that
  allocate produce of its region's producers;
- auditor: as an office, without changing anything: produce runs allocating its region's
  producers' produce, and aid and cadre runs made for a region inside its scope (every run
  with an empty scope).

A run outside the view fails exactly as an unknown id (NOT_FOUND); lists carry the view in
their WHERE clause (records.view_condition), so page sizes and tokens say nothing about the runs
left out. No database here: the matcher's service side decides views with these functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry.access.policy import Principal, Role
from registry.errors import PermissionDenied

PRODUCE_KIND = 1  # fupin.matcher.v1.RunKind.PRODUCE
REGIONAL_KINDS = (2, 3, 4)  # AID, CADRE_STATIONING, CADRE_CONTRACTING


@dataclass(frozen=True)
class RunView:
    """The runs a caller may see. Its zero value (what an internal call sends) is every run."""

    kinds: tuple[int, ...] = ()  # RunKind values; empty: every kind
    region: str = ""  # aid and cadre runs only where their scope starts with this
    # With a region: produce runs only where they allocate produce of its producers.
    produce_of_region: bool = False
    owner: str = ""  # produce runs only, and only those stored with this scope (a platform's)


EVERY = RunView()


def view_for(principal: Principal) -> RunView:
    role = principal.role
    if role is Role.ADMIN:
        return EVERY
    if role is Role.OFFICE:
        kinds = (PRODUCE_KIND, *REGIONAL_KINDS)
        return RunView(kinds=kinds, region=principal.scope, produce_of_region=True)
    if role is Role.AUDITOR:
        return RunView(region=principal.scope, produce_of_region=bool(principal.scope))
    if role is Role.PLATFORM:
        return RunView(kinds=(PRODUCE_KIND,), owner=principal.scope)
    return RunView(kinds=(PRODUCE_KIND,))


def region_of_new_run(principal: Principal, region_code: str | None, field: str) -> str:
    """The region an aid or cadre run reads, which is also the scope it is stored with.

    region_code: the selection's (None for an inline problem). An office's run covers its
    own scope when the selection names no region, and may name only a region inside it
    (PERMISSION_DENIED naming the field); an inline run of an office belongs to its scope.
    An admin's run is stored with the region it read ("" for every region or inline)."""
    own = principal.scope if principal.role is Role.OFFICE else ""
    if not region_code:
        return own
    if not region_code.startswith(own):
        raise PermissionDenied(f"{field} {region_code!r} lies outside this key's scope {own!r}")
    return region_code
