"""Tables of cadre work: visits to contracted households (帮扶日志) and recalls (召回)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index
from sqlmodel import Field, SQLModel


class CadreVisit(SQLModel, table=True):
    """One visit of a cadre to a household contracted to it (kept after a recall)."""

    __tablename__ = "cadre_visit"
    __table_args__ = (
        CheckConstraint("done <> ''", name="cadre_visit_done_required"),
        Index("ix_cadre_visit_cadre_date", "cadre_id", "date"),
    )

    id: str = Field(primary_key=True, max_length=40)
    cadre_id: str = Field(foreign_key="cadre.id", max_length=40, ondelete="CASCADE")
    household_id: str = Field(
        foreign_key="household.id", index=True, max_length=40, ondelete="CASCADE"
    )
    date: str = Field(max_length=10)  # YYYY-MM-DD
    done: str = Field(max_length=1000)
    follow_up: str = Field(default="", max_length=1000)
    key_id: str = Field(max_length=40)
    request_id: str = Field(default="", max_length=100, index=True)
    create_time: datetime


class CadreRecall(SQLModel, table=True):
    """A cadre recalled: the posting and households it held then, and why."""

    __tablename__ = "cadre_recall"
    __table_args__ = (CheckConstraint("reason <> ''", name="cadre_recall_reason_required"),)

    id: str = Field(primary_key=True, max_length=40)
    cadre_id: str = Field(foreign_key="cadre.id", index=True, max_length=40, ondelete="CASCADE")
    reason: str = Field(max_length=500)
    released_village_id: str = Field(default="", max_length=40)
    released_household_ids: str = Field(default="")  # one per line
    key_id: str = Field(max_length=40)
    request_id: str = Field(default="", max_length=100, index=True)
    time: datetime
