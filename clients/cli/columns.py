"""What each CLI table shows: its columns, the ids it names another resource by (a name
column beside each, in tables and CSV), and the cells shown by their own rule.

`fupin list KIND` and the workflow commands print through clients/cli/output.py by these.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from clients.cli.year.reasons import risk_reasons
from clients.cli.year.states import case_state
from clients.client import BUYERS, HOUSEHOLDS, PRODUCERS, VILLAGES, Kind
from clients.i18n import N_

# (heading, field path) per table; paths may go into sub-messages ("household.status").
COLUMNS: Mapping[str, tuple[tuple[str, str], ...]] = MappingProxyType(
    {
        "runs": (
            ("ID", "id"),
            ("KIND", "kind"),
            ("STATE", "state"),
            ("STATUS", "status"),
            ("OBJECTIVE", "objective"),
            ("GAP", "gap"),
            ("CREATED", "create_time"),
        ),
        "villages": (
            ("ID", "id"),
            ("NAME", "display_name"),
            ("ADMIN CODE", "admin_code"),
            ("STATUS", "poverty_status"),
            ("NEEDS", "needs"),
        ),
        "households": (
            ("ID", "id"),
            ("CARD", "card_number"),
            ("HEAD", "head_name"),
            ("VILLAGE", "village_id"),
            ("MEMBERS", "members"),
            ("SCORE", "score"),
            ("STATUS", "status"),
            ("CAUSES", "causes"),
        ),
        "producers": (
            ("ID", "id"),
            ("KIND", "kind"),
            ("NAME", "display_name"),
            ("HOUSEHOLD", "household_id"),
            ("VILLAGE", "village_id"),
            ("MEMBERS", "members"),
        ),
        "listings": (
            ("ID", "id"),
            ("PRODUCER", "producer_id"),
            ("PRODUCT", "product"),
            ("GRADE", "grade"),
            ("KG", "quantity_kg"),
            ("RESERVED KG", "reserved_kg"),
            ("FLOOR FEN/KG", "floor_price_fen"),
            ("FROM", "available_from"),
            ("UNTIL", "available_until"),
        ),
        "buyers": (
            ("ID", "id"),
            ("KIND", "kind"),
            ("NAME", "display_name"),
            ("COUNTY", "county_code"),
        ),
        "orders": (
            ("ID", "id"),
            ("BUYER", "buyer_id"),
            ("PRODUCT", "product"),
            ("GRADES", "accepted_grades"),
            ("MIN KG", "min_quantity_kg"),
            ("MAX KG", "max_quantity_kg"),
            ("FILLED KG", "filled_kg"),
            ("FEN/KG", "price_fen"),
            ("DELIVER BY", "deliver_by"),
        ),
        "cadres": (
            ("ID", "id"),
            ("NAME", "display_name"),
            ("RANK", "rank"),
            ("HOME UNIT", "home_unit"),
            ("SKILLS", "skills"),
            ("VILLAGE", "current_village_id"),
            ("AVAILABLE", "available"),
        ),
        "aid-programs": (
            ("ID", "id"),
            ("NAME", "display_name"),
            ("KIND", "kind"),
            ("BUDGET FEN", "budget_fen"),
            ("SPENT FEN", "spent_fen"),
            ("AMOUNT FEN", "amount_fen"),
            ("REGION", "region_code"),
            ("ARCHIVED", "archived"),
        ),
        "shipments": (
            ("ID", "id"),
            ("RUN", "run_id"),
            ("LISTING", "listing_id"),
            ("PRODUCER", "producer_id"),
            ("ORDER", "order_id"),
            ("BUYER", "buyer_id"),
            ("KG", "kg"),
            ("STATE", "state"),
            ("RECEIVED KG", "received_kg"),
            ("REJECTED KG", "rejected_kg"),
            ("PAID FEN/KG", "paid_price_fen"),
        ),
        "statement-buyers": (
            ("BUYER", "buyer_id"),
            ("NAME", "buyer_name"),
            ("SHIPMENTS", "shipments"),
            ("KG", "sold_kg"),
            ("SOLD FEN", "sold_fen"),
            ("RECEIVED KG", "received_kg"),
            ("REJECTED KG", "rejected_kg"),
            ("OWED FEN", "owed_fen"),
            ("PAID FEN", "paid_fen"),
            ("OUTSTANDING FEN", "outstanding_fen"),
        ),
        "statement-members": (
            ("HOUSEHOLD", "household_id"),
            ("SHARE ‰", "share_permille"),
            ("DIVIDENDS FEN", "dividends_fen"),
        ),
        "statement-dues": (
            ("SHIPMENT", "shipment_id"),
            ("ORDER", "order_id"),
            ("PRODUCER", "producer_id"),
            ("STATE", "state"),
            ("KG", "kg"),
            ("RECEIVED KG", "received_kg"),
            ("REJECTED KG", "rejected_kg"),
            ("PAID FEN/KG", "paid_price_fen"),
            ("OWED FEN", "owed_fen"),
            ("PAID FEN", "paid_fen"),
            ("OUTSTANDING FEN", "outstanding_fen"),
        ),
        "village-income": (
            ("VILLAGE", "village_id"),
            ("ADMIN CODE", "admin_code"),
            ("NAME", "display_name"),
            ("HOUSEHOLDS", "households"),
            ("SALES FEN", "produce_fen"),
            ("DIVIDENDS FEN", "dividends_fen"),
            ("AID FEN", "aid_fen"),
            ("TOTAL FEN", "total_fen"),
            ("CHANGED STATUS", "changed_status"),
            ("LIFTED OUT", "lifted_out"),
        ),
        "holds": (
            ("ID", "id"),
            ("STATE", "state"),
            ("KG", "kg"),
            ("LISTINGS", "listings"),
            ("EXPIRES", "expire_time"),
            ("ORDER", "order_id"),
            ("RUN", "run_id"),
        ),
        "watchlist": (
            ("HOUSEHOLD", "household.id"),
            ("CARD", "household.card_number"),
            ("HEAD", "household.head_name"),
            ("STATUS", "household.status"),
            ("SCORE", "household.score"),
            ("CHANGE", "score_change"),
            ("RISK", "risk"),
            ("REASONS", "reasons"),
            ("WHY", "risk_reasons"),
        ),
        "cases": (
            ("ID", "id"),
            ("KIND", "kind"),
            ("STATE", "state"),
            ("HOUSEHOLD", "household_id"),
            ("VILLAGE", "village_id"),
            ("NOTICE FROM", "notice_start"),
            ("NOTICE TO", "notice_end"),
            ("OBJECTIONS", "objections"),
        ),
    }
)


# Columns that name another resource: (field path, its kind, heading of the name column).
# Tables and CSV show the name beside the id (clients/names.py reads them, a page at once).
REFERENCES: Mapping[str, tuple[tuple[str, Kind[Any], str], ...]] = MappingProxyType(
    {
        "households": (("village_id", VILLAGES, N_("VILLAGE NAME")),),
        "producers": (
            ("household_id", HOUSEHOLDS, N_("HEAD")),
            ("village_id", VILLAGES, N_("VILLAGE NAME")),
        ),
        "listings": (("producer_id", PRODUCERS, N_("PRODUCER NAME")),),
        "orders": (("buyer_id", BUYERS, N_("BUYER NAME")),),
        "cadres": (("current_village_id", VILLAGES, N_("VILLAGE NAME")),),
        "cases": (
            ("household_id", HOUSEHOLDS, N_("HEAD")),
            ("village_id", VILLAGES, N_("VILLAGE NAME")),
        ),
        "shipments": (
            ("producer_id", PRODUCERS, N_("PRODUCER NAME")),
            ("buyer_id", BUYERS, N_("BUYER NAME")),
        ),
        "statement-members": (("household_id", HOUSEHOLDS, N_("HEAD")),),
        "statement-dues": (("producer_id", PRODUCERS, N_("PRODUCER NAME")),),
    }
)
PAGE = 1000  # rows whose names are read together: one call per kind per page
# Cells a table shows by their own rule, not the field's type (CSV keeps the proto value).
CELLS: Mapping[tuple[str, str], Callable[[Any], str]] = MappingProxyType(
    {
        ("cases", "state"): case_state,  # a case's state by its kind: 拟识别, not a run's 待提交
        ("watchlist", "risk_reasons"): risk_reasons,  # in the CLI's language, as fupin risks
    }
)
