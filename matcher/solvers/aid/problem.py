"""The aid allocation problem: households, programmes and the rules that bind them.

Every object validates itself on construction and raises ``ValueError`` whose message starts with
the offending field (``score: ...``; ``households[3].id: ...`` for rules across objects), so the
servicer can turn it into a field violation without knowing the rules. Money is integer fen
(0.01 yuan) throughout.

Need and value, the two numbers the objective is made of:

- **need** of household *h* for programme *p* =
  ``base_weight × (100 − score) + per_cause_weight × |causes(h) ∩ causes(p)|``, where a programme
  with no causes addresses all of the household's causes. A low score means a poorer household.
- **value** of granting amount *a* = ``need × u(a)``. A fixed grant has ``u = VALUE_SCALE``. A
  ranged grant ``min, min + step, …, max`` has ``u(a) = VALUE_SCALE × (min + a) / (min + max)``:
  the full ``VALUE_SCALE`` at ``max``, and each fen above the minimum is worth half a fen of the
  minimum itself. That is concave (diminishing benefit: reaching one more household with the
  minimum beats topping another up) yet linear in the number of top-up steps, so CP-SAT keeps an
  integer linear model. Integer form, exactly as solved:
  ``value = need × (⌊S·2·min/(min+max)⌋ + k·⌊S·step/(min+max)⌋)`` with ``S = VALUE_SCALE`` and
  ``a = min + k·step``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

CAUSES: tuple[str, ...] = (
    "illness",
    "disability",
    "education",
    "natural_disaster",
    "lack_of_land",
    "lack_of_water",
    "lack_of_technology",
    "lack_of_labour",
    "lack_of_capital",
    "poor_transport",
    "lack_of_motivation",
)

# A full grant is worth VALUE_SCALE per unit of need; fine enough that a ranged programme's
# top-up steps keep distinct integer values, small enough that objectives stay far from int64.
VALUE_SCALE = 10_000
MAX_WEIGHT = 1_000


class HouseholdStatus(enum.StrEnum):
    """Where a filed household stands (建档立卡 status)."""

    IMPOVERISHED = "IMPOVERISHED"
    AT_RISK = "AT_RISK"
    LIFTED_OUT = "LIFTED_OUT"
    RETURNED_TO_POVERTY = "RETURNED_TO_POVERTY"


# Programmes serve the households still in or near poverty unless they say otherwise.
DEFAULT_STATUSES = frozenset(
    {HouseholdStatus.IMPOVERISHED, HouseholdStatus.AT_RISK, HouseholdStatus.RETURNED_TO_POVERTY}
)


class AidObjective(enum.Enum):
    """NEED: maximise need-weighted value. REACH_FIRST: most households first, then need."""

    NEED = "NEED"
    REACH_FIRST = "REACH_FIRST"


def _check_code(name: str, code: str, *, exact: int | None = None) -> None:
    """Administrative codes (GB/T 2260 and village digits) are ASCII digit strings."""
    if not (isinstance(code, str) and code.isascii() and (code == "" or code.isdigit())):
        raise ValueError(f"{name}: must be a string of digits, got {code!r}")
    if exact is not None and len(code) != exact:
        raise ValueError(f"{name}: must be {exact} digits, got {code!r}")
    if len(code) > 12:
        raise ValueError(f"{name}: at most 12 digits, got {code!r}")


def _check_causes(name: str, causes: frozenset[str]) -> None:
    unknown = set(causes) - set(CAUSES)
    if unknown:
        raise ValueError(f"{name}: unknown causes {sorted(unknown)}; known: {list(CAUSES)}")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class AidHousehold:
    """A filed poor household as the aid model sees it."""

    id: str
    village_code: str  # 12 digits: county code + township + village
    county_code: str  # 6 digits, GB/T 2260
    status: HouseholdStatus
    score: int  # 0..100, lower is poorer
    causes: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("id: must not be empty")
        _check_code("village_code", self.village_code, exact=12)
        _check_code("county_code", self.county_code, exact=6)
        if not self.village_code.startswith(self.county_code):
            raise ValueError("village_code: must start with county_code")
        try:
            object.__setattr__(self, "status", HouseholdStatus(self.status))
        except ValueError:
            raise ValueError(f"status: unknown household status {self.status!r}") from None
        if not (_is_int(self.score) and 0 <= self.score <= 100):
            raise ValueError(f"score: must be an integer 0..100, got {self.score!r}")
        object.__setattr__(self, "causes", frozenset(self.causes))
        _check_causes("causes", self.causes)


@dataclass(frozen=True)
class AidProgramme:
    """A budgeted programme granting a fixed amount, or any amount of a stepped range."""

    id: str
    budget_fen: int
    amount_fen: int | None = None  # fixed grant; or else the three range fields below
    min_amount_fen: int | None = None
    max_amount_fen: int | None = None
    step_fen: int | None = None
    causes: frozenset[str] = frozenset()  # empty: addresses every cause
    statuses: frozenset[HouseholdStatus] = DEFAULT_STATUSES
    region_prefix: str = ""  # the household's village_code starts with it; "" is everywhere

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("id: must not be empty")
        if not (_is_int(self.budget_fen) and self.budget_fen >= 0):
            raise ValueError(f"budget_fen: must be a non-negative integer, got {self.budget_fen!r}")
        self._check_amounts()
        object.__setattr__(self, "causes", frozenset(self.causes))
        _check_causes("causes", self.causes)
        try:
            object.__setattr__(self, "statuses", frozenset(map(HouseholdStatus, self.statuses)))
        except ValueError:
            raise ValueError(f"statuses: unknown household status in {self.statuses!r}") from None
        if not self.statuses:
            raise ValueError("statuses: must serve at least one household status")
        _check_code("region_prefix", self.region_prefix)

    def _check_amounts(self) -> None:
        ranged = (self.min_amount_fen, self.max_amount_fen, self.step_fen)
        if self.amount_fen is not None:
            if any(v is not None for v in ranged):
                raise ValueError("amount_fen: give a fixed amount or a range, not both")
            if not (_is_int(self.amount_fen) and self.amount_fen > 0):
                raise ValueError(f"amount_fen: must be a positive integer, got {self.amount_fen!r}")
            return
        low, high, step = ranged
        if low is None or high is None or step is None:
            raise ValueError("amount_fen: give amount_fen or all of min/max_amount_fen, step_fen")
        if not (_is_int(low) and low > 0):
            raise ValueError(f"min_amount_fen: must be a positive integer, got {low!r}")
        if not (_is_int(high) and high >= low):
            raise ValueError(f"max_amount_fen: must be an integer >= min_amount_fen, got {high!r}")
        if not (_is_int(step) and step > 0 and (high - low) % step == 0):
            raise ValueError("step_fen: must be positive and divide max - min amount")
        if high > low and step * VALUE_SCALE < low + high:
            raise ValueError(f"step_fen: too fine; each step must be ≥ 1/{VALUE_SCALE} of min+max")
        if 2 * low * VALUE_SCALE < low + high:
            raise ValueError(f"min_amount_fen: too small against max_amount_fen (1/{VALUE_SCALE})")

    @property
    def min_fen(self) -> int:
        """Smallest grant (the fixed amount for a fixed programme)."""
        return self.amount_fen if self.amount_fen is not None else int(self.min_amount_fen or 0)

    @property
    def max_fen(self) -> int:
        return self.amount_fen if self.amount_fen is not None else int(self.max_amount_fen or 0)

    @property
    def step(self) -> int:
        """Top-up step; 1 for a fixed programme, which has no steps."""
        return self.step_fen if self.amount_fen is None and self.step_fen else 1

    @property
    def steps(self) -> int:
        """Top-up steps above the minimum (0 for a fixed programme)."""
        return (self.max_fen - self.min_fen) // self.step

    @property
    def value_base(self) -> int:
        """Value per unit of need of the minimum grant."""
        return VALUE_SCALE * 2 * self.min_fen // (self.min_fen + self.max_fen)

    @property
    def value_step(self) -> int:
        """Value per unit of need of one top-up step (0 for a fixed programme)."""
        return VALUE_SCALE * self.step // (self.min_fen + self.max_fen) if self.steps else 0

    def value(self, need: int, amount_fen: int) -> int:
        """Value of granting ``amount_fen`` to a household with this ``need`` (0 for no grant)."""
        if amount_fen == 0:
            return 0
        steps = (amount_fen - self.min_fen) // self.step
        return need * (self.value_base + self.value_step * steps)


@dataclass(frozen=True)
class Quota:
    """At least this share of a programme's budget goes to households in the region.

    If the region's eligible households cannot take that much (each at most its largest grant
    within cap and budget), the quota asks for all they can take; with none eligible it is void.
    """

    programme_id: str
    region_prefix: str
    min_share_permille: int

    def __post_init__(self) -> None:
        _check_code("region_prefix", self.region_prefix)
        if not (_is_int(self.min_share_permille) and 0 <= self.min_share_permille <= 1000):
            raise ValueError("min_share_permille: must be an integer 0..1000")


@dataclass(frozen=True)
class NeedConfig:
    """need = base_weight × (100 − score) + per_cause_weight × causes matched (module doc)."""

    base_weight: int = 1
    per_cause_weight: int = 10

    def __post_init__(self) -> None:
        for name in ("base_weight", "per_cause_weight"):
            weight = getattr(self, name)
            if not (_is_int(weight) and 0 <= weight <= MAX_WEIGHT):
                raise ValueError(f"{name}: must be an integer 0..{MAX_WEIGHT}, got {weight!r}")
        if self.base_weight == self.per_cause_weight == 0:
            raise ValueError("base_weight: base_weight and per_cause_weight cannot both be 0")

    def need(self, score: int, causes_matched: int) -> int:
        return self.base_weight * (100 - score) + self.per_cause_weight * causes_matched


@dataclass(frozen=True)
class AidProblem:
    """Households × programmes with budgets, exclusivity, a per-household cap and quotas."""

    households: tuple[AidHousehold, ...]
    programmes: tuple[AidProgramme, ...]
    exclusive_groups: tuple[frozenset[str], ...] = ()  # at most one programme of each
    household_cap_fen: int | None = None  # total granted to one household
    need: NeedConfig = field(default_factory=NeedConfig)
    objective: AidObjective = AidObjective.NEED
    quotas: tuple[Quota, ...] = ()
    # (household id, programme id) pairs granted before (committed runs): one grant per
    # programme per household holds across runs, so these pairs are not eligible again.
    # Pairs naming ids not in the problem are ignored.
    held: frozenset[tuple[str, str]] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "held", frozenset(self.held))
        for name in ("households", "programmes", "quotas"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "exclusive_groups", tuple(map(frozenset, self.exclusive_groups)))
        _check_unique("households", [h.id for h in self.households])
        _check_unique("programmes", [p.id for p in self.programmes])
        known = {p.id for p in self.programmes}
        for i, group in enumerate(self.exclusive_groups):
            if len(group) < 2 or not group <= known:
                raise ValueError(f"exclusive_groups[{i}]: needs two or more known programme ids")
        cap = self.household_cap_fen
        if cap is not None and not (_is_int(cap) and cap > 0):
            raise ValueError(f"household_cap_fen: must be a positive integer, got {cap!r}")
        for i, quota in enumerate(self.quotas):
            if quota.programme_id not in known:
                name = quota.programme_id
                raise ValueError(f"quotas[{i}].programme_id: unknown programme {name!r}")
        object.__setattr__(self, "objective", AidObjective(self.objective))


def _check_unique(name: str, ids: list[str]) -> None:
    seen: set[str] = set()
    for i, ident in enumerate(ids):
        if ident in seen:
            raise ValueError(f"{name}[{i}].id: duplicate id {ident!r}")
        seen.add(ident)
