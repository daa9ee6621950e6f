"""`fupin resurvey`: the annual re-survey (动态调整) of a region, through YearService.

    fupin resurvey FILE.csv --year 2027 --region 350624 [--dry-run]

FILE.csv has the households CSV layout (docs/csv.md). Households are matched by card number:
changed ones are updated, new ones enter the identification workflow, those of the region the
file lacks are flagged. All or nothing. --dry-run prints the same diff (counts and the first
changes) and writes nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from clients import csvio
from clients.cli.output import emit_json, print_table, say, show
from clients.cli.year.cases import year_stub
from clients.i18n import _
from fupin.registry.v1 import year_service_pb2 as ypb

CHUNK = 2000
MIN_TIMEOUT_S = 3600.0  # a county's survey streams for minutes; --timeout is per call


def add_command(commands: Any, client: argparse.ArgumentParser) -> None:
    resurvey = commands.add_parser(
        "resurvey", parents=[client], help=_("the annual re-survey of a region (动态调整)")
    )
    resurvey.add_argument("file", type=Path, help=_("households CSV (layout: docs/csv.md)"))
    resurvey.add_argument("--year", type=int, required=True)
    resurvey.add_argument("--region", required=True, help=_("administrative code prefix"))
    resurvey.add_argument("--dry-run", action="store_true", help=_("show the diff, write nothing"))
    # Not set_defaults(timeout=…): --timeout's action is shared by every command (parents=).
    resurvey.set_defaults(run=run_resurvey)


def chunks(rows: list[Any], year: int, region: str, dry_run: bool) -> Iterator[Any]:
    yield ypb.ResurveyRequest(year=year, region_code=region, dry_run=dry_run)
    for start in range(0, len(rows), CHUNK):
        yield ypb.ResurveyRequest(households=rows[start : start + CHUNK])


def run_resurvey(args: argparse.Namespace) -> int:
    table = csvio.read_file("households", args.file)
    with year_stub(args) as stub:
        result = stub.ResurveyHouseholds(
            chunks(list(table.rows), args.year, args.region, args.dry_run),
            timeout=max(args.timeout, MIN_TIMEOUT_S),
        )
    if args.output == "json":
        emit_json(result)
        return 0
    show(
        _(
            "{year} re-survey of {region}: {households} households, {updated} updated, "
            "{unchanged} unchanged, {added} new, {missing} not surveyed (flagged), "
            "{status_changes} status changes"
        ).format(
            year=result.year,
            region=args.region,
            households=result.households,
            updated=result.updated,
            unchanged=result.unchanged,
            added=result.added,
            missing=result.missing,
            status_changes=result.status_changes,
        )
    )
    if result.first_changes:
        print_table(
            [_("CARD"), _("FIELD"), _("BEFORE"), _("AFTER")],
            [[c.card_number, c.field, c.old_value, c.new_value] for c in result.first_changes],
        )
    if result.missing_card_numbers:
        show(_("not surveyed: {cards}").format(cards=", ".join(result.missing_card_numbers)))
    say(_("dry run: nothing written") if result.dry_run else _("stored"))
    return 0
