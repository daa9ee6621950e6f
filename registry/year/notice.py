"""The public notice (公示) of a village: CSV and a printable HTML page.

The Guizhou big-data paper complains that villages "only open the total score": the notice
lists each household's indicator-set sub-scores beside its score, so a neighbour can see why a
household is (or is no longer) on the list. Names and card numbers are masked: the notice is
posted in public.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import col

from registry.access.policy import Principal
from registry.errors import NotFound
from registry.resources import models
from registry.resources.store import RegistryStore
from registry.year.cases import in_region
from registry.year.models import HouseholdCase
from registry.year.workflow import CaseKind, CaseState

KIND_WORDS = {CaseKind.IDENTIFICATION: "识别 identification", CaseKind.EXIT: "退出 exit"}
FIRST = ("卡号 card", "户主 head", "人口 members", "类别 kind", "得分 score")
LAST = ("公示开始 from", "公示结束 to", "地点 place")


@dataclass(frozen=True)
class Notice:
    village: str
    headings: list[str]  # FIRST, one per indicator set (its label), LAST
    rows: list[list[str]]
    household_ids: list[str]  # the households the rows name (for the audit)


def mask_card(card: str) -> str:
    """The first 4 and last 2 characters; the rest hidden."""
    if len(card) <= 6:
        return card[:1] + "*" * (len(card) - 1)
    return card[:4] + "*" * (len(card) - 6) + card[-2:]


def mask_name(name: str) -> str:
    """The family name (the first character) and one * per other character."""
    return name[:1] + "*" * (len(name) - 1)


def build(store: RegistryStore, village_id: str, principal: Principal) -> Notice:
    """The households of a village whose cases are on notice, by card number."""
    with store.transaction() as session:
        village = session.get(models.Village, village_id)
        if village is None or not in_region(principal, village.admin_code):
            raise NotFound(f"village {village_id!r} not found", field="village_id")
        stmt = (
            select(HouseholdCase, models.Household)
            .join(models.Household, col(models.Household.id) == col(HouseholdCase.household_id))
            .where(
                col(HouseholdCase.village_id) == village_id,
                col(HouseholdCase.state) == CaseState.ON_NOTICE,
            )
            .order_by(col(models.Household.card_number))
        )
        sets = store.scoring.sets
        rows, ids = [], []
        for case, household in session.execute(stmt):
            ids.append(household.id)
            scores = household.set_scores or {}
            rows.append(
                [
                    mask_card(household.card_number),
                    mask_name(household.head_name),
                    str(household.members),
                    KIND_WORDS[CaseKind(case.kind)],
                    str(household.score),
                    *(str(scores.get(s.name, "")) for s in sets),
                    case.notice_start,
                    case.notice_end,
                    case.notice_place,
                ]
            )
        headings = [*FIRST, *(s.label for s in sets), *LAST]
        return Notice(village.display_name, headings, rows, ids)


def to_csv(notice: Notice) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(notice.headings)
    writer.writerows(notice.rows)
    return ("\ufeff" + out.getvalue()).encode()  # a BOM: spreadsheet programs read UTF-8


def to_html(notice: Notice) -> bytes:
    title = html.escape(f"{notice.village} 扶贫对象识别与退出公示 Public notice")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in notice.headings)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>\n"
        for row in notice.rows
    )
    page = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: "Noto Sans CJK SC", sans-serif; margin: 2em; }}
table {{ border-collapse: collapse; width: 100%; }}
th, td {{ border: 1px solid #333; padding: 0.3em 0.5em; text-align: center; }}
@media print {{ @page {{ size: A4 landscape; margin: 1.5cm; }} }}
</style></head><body>
<h1>{title}</h1>
<p>以下农户正在公示。如有异议，请在公示期内向村委会或乡镇人民政府反映。<br>
The households below are on public notice. Objections may be raised with the village
committee or the township government until the notice ends.</p>
<p>{len(notice.rows)} 户 households</p>
<table><thead><tr>{head}</tr></thead><tbody>
{body}</tbody></table>
</body></html>
"""
    return page.encode()
