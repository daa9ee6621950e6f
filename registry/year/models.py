"""Tables of the household's year: cases, their steps and their objections.

The database holds the invariants itself: one open case per household (a partial unique
index on cases not yet FILED or REJECTED), states and kinds within their enums, a notice that
ends on or after its first day, and steps and objections that belong to a case.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, text
from sqlmodel import Field, SQLModel

OPEN_CASE = text("state < 5")  # FILED = 5 and REJECTED = 6 close a case


class HouseholdCase(SQLModel, table=True):
    __tablename__ = "household_case"
    __table_args__ = (
        CheckConstraint("kind IN (1, 2)", name="case_kind_known"),
        CheckConstraint("state >= 1 AND state <= 6", name="case_state_known"),
        CheckConstraint("notice_end = '' OR notice_end >= notice_start", name="case_notice_window"),
        Index(
            "ux_household_case_open",
            "household_id",
            unique=True,
            sqlite_where=OPEN_CASE,
            postgresql_where=OPEN_CASE,
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    household_id: str = Field(foreign_key="household.id", index=True, max_length=40)
    village_id: str = Field(foreign_key="village.id", index=True, max_length=40)
    kind: int
    state: int
    reason: str = Field(default="", max_length=200)
    notice_start: str = Field(default="", max_length=10)
    notice_end: str = Field(default="", max_length=10)
    notice_place: str = Field(default="", max_length=200)
    unmet_conditions: str = Field(default="", max_length=1000)  # one per line
    create_time: datetime
    update_time: datetime
    version: int = 1


class CaseStep(SQLModel, table=True):
    """One step of a case (kept for the case's lifetime)."""

    __tablename__ = "case_step"

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="household_case.id", index=True, max_length=40)
    time: datetime
    step: str = Field(max_length=20)
    old_state: int
    new_state: int
    actor: int
    key_id: str = Field(max_length=40)
    note: str = Field(default="", max_length=500)


class CaseObjection(SQLModel, table=True):
    __tablename__ = "case_objection"
    __table_args__ = (CheckConstraint("state >= 1 AND state <= 3", name="objection_state_known"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: str = Field(foreign_key="household_case.id", index=True, max_length=40)
    time: datetime
    objector: str = Field(max_length=100)
    text: str = Field(max_length=500)
    state: int
    resolution: str = Field(default="", max_length=500)


class Resurvey(SQLModel, table=True):
    """One committed annual re-survey of a region, with its counts."""

    id: str = Field(primary_key=True, max_length=40)
    year: int = Field(index=True)
    region_code: str = Field(max_length=12)
    time: datetime
    key_id: str = Field(max_length=40)
    households: int
    updated: int
    unchanged: int
    added: int
    missing: int


class ResurveyMissing(SQLModel, table=True):
    """A household of the region the re-survey did not list: flagged, not deleted."""

    __tablename__ = "resurvey_missing"

    resurvey_id: str = Field(foreign_key="resurvey.id", primary_key=True, max_length=40)
    household_id: str = Field(foreign_key="household.id", primary_key=True, max_length=40)


class Shock(SQLModel, table=True):
    """A dated shock on exactly one household, village or county."""

    __table_args__ = (
        CheckConstraint("kind >= 1 AND kind <= 5", name="shock_kind_known"),
        CheckConstraint("severity >= 1 AND severity <= 3", name="shock_severity_range"),
        CheckConstraint(
            "CAST(household_id IS NOT NULL AS INTEGER) + CAST(village_id IS NOT NULL AS INTEGER)"
            " + CAST(county_code <> '' AS INTEGER) = 1",
            name="shock_one_target",
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    kind: int
    household_id: str | None = Field(
        default=None, foreign_key="household.id", index=True, max_length=40
    )
    village_id: str | None = Field(
        default=None, foreign_key="village.id", index=True, max_length=40
    )
    county_code: str = Field(default="", max_length=6, index=True)
    date: str = Field(max_length=10)
    severity: int
    note: str = Field(default="", max_length=500)
    key_id: str = Field(max_length=40)
    create_time: datetime
