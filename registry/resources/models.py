"""SQLModel tables of the registry. Rows never cross the wire: registry/resources/convert.py
translates.

Invariants the database enforces itself (so no code path can store an impossible state):
non-negative quantities and money, reserved <= listed, filled <= ordered, spent <= budget,
scores within 0..100, unique card numbers and administrative codes, and foreign keys.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, Column, Index, LargeBinary, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class Resource(SQLModel):
    """Columns every resource has."""

    id: str = Field(primary_key=True, max_length=40)
    create_time: datetime
    update_time: datetime
    version: int = 1  # bumped on every update; the etag is derived from it


class Village(Resource, table=True):
    display_name: str = Field(max_length=100)
    admin_code: str = Field(max_length=12, unique=True)
    county_code: str = Field(max_length=6, index=True)
    latitude: float
    longitude: float
    poverty_status: int
    needs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


class Household(Resource, table=True):
    __table_args__ = (
        CheckConstraint("members >= 1", name="household_members_positive"),
        CheckConstraint(
            "labour_force >= 0 AND labour_force <= members", name="household_labour_range"
        ),
        CheckConstraint("score >= 0 AND score <= 100", name="household_score_range"),
        CheckConstraint("income_per_capita_fen >= 0", name="household_income_non_negative"),
        Index("ix_household_status_score", "status", "score"),
    )

    village_id: str = Field(foreign_key="village.id", index=True, max_length=40)
    county_code: str = Field(max_length=6, index=True)  # denormalised from the village
    card_number: str = Field(max_length=40, unique=True)
    head_name: str = Field(max_length=100)
    members: int
    labour_force: int
    housing_safety: int
    food_security: int
    children_schooling: int
    health: int
    disability: int
    income_per_capita_fen: int = Field(sa_type=BigInteger)
    causes: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    score: int
    status: int
    previous_score: int = -1
    # Indicators beyond the seven columns, by name (0..100), and each indicator set's
    # sub-score from the scoring file (registry/resources/scoring.py).
    extra_indicators: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )
    set_scores: dict[str, int] = Field(
        default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}")
    )


class StatusChange(SQLModel, table=True):
    """One change of a household's status (kept for the household's lifetime)."""

    __tablename__ = "status_change"

    id: int | None = Field(default=None, primary_key=True)
    household_id: str = Field(
        foreign_key="household.id", index=True, max_length=40, ondelete="CASCADE"
    )
    time: datetime
    old_status: int
    new_status: int
    score: int
    reason: str = Field(max_length=200)


class Producer(Resource, table=True):
    kind: int
    display_name: str = Field(max_length=100)
    household_id: str | None = Field(default=None, foreign_key="household.id", max_length=40)
    village_id: str | None = Field(
        default=None, foreign_key="village.id", index=True, max_length=40
    )
    latitude: float
    longitude: float


class ProducerMember(SQLModel, table=True):
    """A member household of a cooperative and its share (permille of 1000)."""

    __tablename__ = "producer_member"
    __table_args__ = (
        CheckConstraint("share_permille > 0 AND share_permille <= 1000", name="member_share_range"),
    )

    producer_id: str = Field(
        foreign_key="producer.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    household_id: str = Field(foreign_key="household.id", primary_key=True, max_length=40)
    share_permille: int


class Listing(Resource, table=True):
    __table_args__ = (
        CheckConstraint("quantity_kg > 0", name="listing_quantity_positive"),
        CheckConstraint(
            "reserved_kg >= 0 AND reserved_kg <= quantity_kg", name="listing_reserved_range"
        ),
        CheckConstraint("floor_price_fen >= 0", name="listing_floor_non_negative"),
        CheckConstraint("shelf_life_days >= 1", name="listing_shelf_life_positive"),
        CheckConstraint("available_until >= available_from", name="listing_window_order"),
    )

    producer_id: str = Field(foreign_key="producer.id", index=True, max_length=40)
    product: str = Field(max_length=60, index=True)
    grade: str = Field(max_length=20)
    quantity_kg: int = Field(sa_type=BigInteger)
    reserved_kg: int = Field(default=0, sa_type=BigInteger)
    floor_price_fen: int = Field(sa_type=BigInteger)
    available_from: str = Field(max_length=10)
    available_until: str = Field(max_length=10)
    shelf_life_days: int


class Buyer(Resource, table=True):
    kind: int
    display_name: str = Field(max_length=100)
    county_code: str = Field(default="", max_length=6, index=True)
    latitude: float
    longitude: float


class Order(Resource, table=True):
    __tablename__ = "purchase_order"  # ORDER is an SQL keyword
    __table_args__ = (
        CheckConstraint(
            "min_quantity_kg >= 0 AND max_quantity_kg > 0 AND min_quantity_kg <= max_quantity_kg",
            name="order_quantity_range",
        ),
        CheckConstraint(
            "filled_kg >= 0 AND filled_kg <= max_quantity_kg", name="order_filled_range"
        ),
        CheckConstraint("price_fen >= 0", name="order_price_non_negative"),
        CheckConstraint("max_distance_km >= 0", name="order_distance_non_negative"),
    )

    buyer_id: str = Field(foreign_key="buyer.id", index=True, max_length=40)
    product: str = Field(max_length=60, index=True)
    accepted_grades: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    min_quantity_kg: int = Field(sa_type=BigInteger)
    max_quantity_kg: int = Field(sa_type=BigInteger)
    filled_kg: int = Field(default=0, sa_type=BigInteger)
    price_fen: int = Field(sa_type=BigInteger)
    deliver_by: str = Field(max_length=10)
    max_distance_km: float = 0.0


class Cadre(Resource, table=True):
    __table_args__ = (CheckConstraint("max_distance_km > 0", name="cadre_distance_positive"),)

    display_name: str = Field(max_length=100)
    rank: int
    skills: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    home_unit: str = Field(max_length=100, index=True)
    # Administrative code prefix of the home unit's region: an office posts only the cadres of
    # its scope (registry/access/scopes.py postable_cadres); "" = a cadre only an admin posts.
    home_region_code: str = Field(default="", max_length=12, index=True)
    latitude: float
    longitude: float
    max_distance_km: float
    current_village_id: str | None = Field(
        default=None, foreign_key="village.id", index=True, max_length=40
    )
    pinned: bool = False
    available: bool = True
    # Effort units of households the cadre can contract, overriding its rank's quota
    # (matcher/solvers/contracting); None = the rank's.
    contract_quota: int | None = None


class AidProgram(Resource, table=True):
    __tablename__ = "aid_program"
    __table_args__ = (
        CheckConstraint("budget_fen > 0", name="aid_budget_positive"),
        CheckConstraint("spent_fen >= 0 AND spent_fen <= budget_fen", name="aid_spent_range"),
        CheckConstraint(
            "amount_fen > 0 AND min_amount_fen >= 0 AND min_amount_fen <= amount_fen",
            name="aid_amount_range",
        ),
        CheckConstraint("step_fen >= 0", name="aid_step_non_negative"),
    )

    display_name: str = Field(max_length=100)
    kind: int
    budget_fen: int = Field(sa_type=BigInteger)
    spent_fen: int = Field(default=0, sa_type=BigInteger)
    amount_fen: int = Field(sa_type=BigInteger)
    min_amount_fen: int = Field(default=0, sa_type=BigInteger)
    step_fen: int = Field(default=0, sa_type=BigInteger)
    causes: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    eligible_statuses: list[int] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False)
    )
    region_code: str = Field(default="", max_length=12)
    archived: bool = False  # takes no new grants; kept for the ledger (never deleted then)


class IdempotencyKey(SQLModel, table=True):
    """A request_id seen on a mutation (AIP-155), with what it produced."""

    __tablename__ = "idempotency_key"

    request_id: str = Field(primary_key=True, max_length=100)
    method: str = Field(max_length=60)
    fingerprint: str = Field(max_length=64)  # hash of the request, to spot a reused key
    resource_ids: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    create_time: datetime


class MatchRun(SQLModel, table=True):
    """A matcher run: its parameters, outcome and (opaque, serialized) result."""

    __tablename__ = "match_run"

    id: str = Field(primary_key=True, max_length=40)
    kind: int = Field(index=True)
    state: int = Field(index=True)
    status: int = 0
    parameters: bytes = Field(sa_type=LargeBinary)  # serialized SolveParameters
    objective: int = Field(default=0, sa_type=BigInteger)
    best_bound: float = 0.0
    gap: float = 0.0
    load_s: float = 0.0
    build_s: float = 0.0
    solve_s: float = 0.0
    total_s: float = 0.0
    error: str = ""
    result: bytes = Field(default=b"", sa_type=LargeBinary)  # serialized result message
    owner: str = Field(default="", max_length=60)  # the matcher process solving it
    # The administrative code prefix an aid or cadre run was made for (registry/runs/scopes.py):
    # the office's scope or its selection's region; "" for runs over every region and inline
    # runs made by an admin. A produce run: the buyer id of the platform that made it (which
    # alone of the platforms may commit it), else "".
    scope: str = Field(default="", max_length=40, index=True)
    # The API key (or console user) that made the run; "" for runs made before 0021.
    owner_key_id: str = Field(default="", max_length=40, index=True)
    create_time: datetime
    update_time: datetime
    version: int = 1


class RunAllocation(SQLModel, table=True):
    """Kilograms a produce run moves from a listing to an order (what a commit applies)."""

    __tablename__ = "run_allocation"
    __table_args__ = (CheckConstraint("kg > 0", name="allocation_kg_positive"),)

    run_id: str = Field(
        foreign_key="match_run.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    listing_id: str = Field(primary_key=True, max_length=40)
    order_id: str = Field(primary_key=True, max_length=40)
    kg: int = Field(sa_type=BigInteger)


class RunGrant(SQLModel, table=True):
    """Fen an aid run grants a household from a programme (what a commit applies)."""

    __tablename__ = "run_grant"
    __table_args__ = (CheckConstraint("amount_fen > 0", name="grant_amount_positive"),)

    run_id: str = Field(
        foreign_key="match_run.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    household_id: str = Field(primary_key=True, max_length=40)
    programme_id: str = Field(primary_key=True, max_length=40)
    amount_fen: int = Field(sa_type=BigInteger)


class LedgerEntry(SQLModel, table=True):
    """Append-only record of every commitment and fund transfer, hash-chained."""

    __tablename__ = "ledger_entry"

    seq: int | None = Field(default=None, primary_key=True)
    time: datetime
    kind: str = Field(max_length=40, index=True)  # "produce_commit", ...
    run_id: str = Field(default="", max_length=40, index=True)
    subject_id: str = Field(default="", max_length=40, index=True)  # listing, household...
    counterpart_id: str = Field(default="", max_length=40, index=True)  # order, programme...
    quantity: int = Field(default=0, sa_type=BigInteger)  # kg
    amount_fen: int = Field(default=0, sa_type=BigInteger)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64, unique=True)


class LedgerCheckpoint(SQLModel, table=True):
    """A signed head of the ledger chain (registry/ledger/signing.py); the signing key is kept
    outside the database, so a row here can be checked but not forged."""

    __tablename__ = "ledger_checkpoint"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(sa_type=BigInteger, index=True)
    head_hash: str = Field(max_length=64)
    time: str = Field(max_length=40)  # as signed (ISO 8601, UTC)
    key_id: str = Field(max_length=16, index=True)
    public_key: bytes = Field(sa_type=LargeBinary)
    signature: bytes = Field(sa_type=LargeBinary)


class RunCadreItem(SQLModel, table=True):
    """What a cadre run would change for one cadre, and the cadre's version it was read at:
    a posting (``village_id``; "" = released) or a contract (``household_id``)."""

    __tablename__ = "run_cadre_item"

    run_id: str = Field(
        foreign_key="match_run.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    cadre_id: str = Field(primary_key=True, max_length=40)
    household_id: str = Field(default="", primary_key=True, max_length=40)
    village_id: str = Field(default="", max_length=40)
    cadre_version: int


class HouseholdContract(SQLModel, table=True):
    """The cadre a poor household is contracted to (结对帮扶), set by a committed run."""

    __tablename__ = "household_contract"

    household_id: str = Field(
        foreign_key="household.id", primary_key=True, max_length=40, ondelete="CASCADE"
    )
    cadre_id: str = Field(foreign_key="cadre.id", index=True, max_length=40, ondelete="CASCADE")
    run_id: str = Field(max_length=40, index=True)
    time: datetime


class ApiKey(SQLModel, table=True):
    """A caller's API key: only the SHA-256 of its secret is stored (registry/access/keys.py)."""

    __tablename__ = "api_key"

    id: str = Field(primary_key=True, max_length=40)
    hash: str = Field(max_length=64, unique=True)
    role: str = Field(max_length=20)
    scope: str = Field(default="", max_length=40)
    description: str = Field(default="", max_length=200)
    created: datetime
    revoked: datetime | None = None


class AuditEvent(SQLModel, table=True):
    """One call whose response carried household records (registry/access/audit.py)."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    time: datetime
    key_id: str = Field(max_length=40, index=True)
    role: str = Field(max_length=20)
    rpc: str = Field(max_length=120, index=True)
    request_id: str = Field(default="", max_length=100)
    # ",hh-1,hh-2," and ",350624,": delimited so that LIKE '%,x,%' finds one exactly.
    household_ids: str = Field(sa_type=Text)
    county_codes: str = Field(default="", sa_type=Text)
    # sign-ins (registry/access/users.py); "" for reads
    outcome: str = Field(default="", max_length=20)
