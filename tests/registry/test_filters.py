"""AIP-160 filters: parse errors point at their column; random filters over random households
select in SQL (SQLite and PostgreSQL) exactly what a Python-side evaluation selects."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlmodel import col

from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from registry.errors import InvalidArgument
from registry.resources import filter_sql, filters, models
from registry.resources.kinds import HOUSEHOLD
from registry.resources.models import utcnow
from tests import factories
from tests.rpcerrors import fields_of, rpc_fails

# --- parse errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "column", "words"),
    [
        ("score <", 8, "ends too early; expected a value"),
        ("score < 60 AND", 15, "expected ( or NOT or a field name"),
        ("(score < 60", 12, "expected )"),
        ("score == 60", 8, "unexpected '='"),
        ("score < 60 AND status = IMPOVERISHED OR", 40, "ends too early"),
        ("score < 60 & status = AT_RISK", 12, "unexpected '&'"),
        ("colour = RED", 1, "unknown field 'colour'; filterable: causes, county_code"),
        ("score < 60 AND causes = ILLNESS", 16, "causes is repeated: write causes:VALUE"),
        ("status:AT_RISK", 1, "':' applies to repeated fields"),
        ("status < AT_RISK", 1, "status compares with = and != only"),
        ("score < sixty", 9, "score: expected an integer"),
        ("NOT causes:HUNGER", 12, "causes: unknown value 'HUNGER'; one of ILLNESS"),
        ("score\x01< 60", 6, "control characters"),
    ],
)
def test_errors_name_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        filter_sql.condition(text, models.Household, HOUSEHOLD.filters)
    [violation] = caught.value.violations
    assert violation.field == "filter"
    assert words in violation.description
    assert violation.description.endswith(f"(at column {column})"), violation.description


def test_or_binds_tighter_than_and() -> None:
    """AIP-160: `a AND b OR c` is `a AND (b OR c)`; NOT binds tightest of all."""
    node = filters.parse("score < 60 AND status = AT_RISK OR NOT causes:ILLNESS")
    assert isinstance(node, filters.And) and isinstance(node.terms[1], filters.Or)
    assert isinstance(node.terms[1].terms[1], filters.Not)


def test_rpc_refuses_with_the_field_and_column(registry) -> None:
    error = rpc_fails(
        lambda: registry.ListHouseholds(api.ListHouseholdsRequest(filter="score <= OR")),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert fields_of(error) == ["filter"] and "(at column 10)" in (error.details() or "")


def test_list_households_by_score_cause_and_status(registry) -> None:
    """The issue's filter, through ListHouseholds, with a page token bound to it."""
    village = factories.create_village(registry)
    ill = pb.ILLNESS
    made = [
        factories.create_household(registry, village.id, causes=[ill]).id,
        factories.create_household(registry, village.id, causes=[ill, pb.LACK_OF_LAND]).id,
        factories.create_household(registry, village.id, causes=[pb.LACK_OF_LAND]).id,
    ]
    text = "score < 60 AND causes:ILLNESS AND NOT status = LIFTED_OUT"
    first = registry.ListHouseholds(api.ListHouseholdsRequest(filter=text, page_size=1))
    rest = registry.ListHouseholds(
        api.ListHouseholdsRequest(filter=text, page_token=first.next_page_token)
    )
    got = [h.id for h in (*first.households, *rest.households)]
    assert sorted(got) == sorted(made[:2]) and not rest.next_page_token


# --- the property: SQL selects what Python selects ------------------------------------------

INT_FIELDS = {
    "score": (0, 100),
    "members": (1, 8),
    "labour_force": (0, 8),
    "indicators.health": (0, 100),
}
COUNTIES = ("350624", "445281", "445202", "350623")
STATUSES = (pb.IMPOVERISHED, pb.AT_RISK, pb.LIFTED_OUT, pb.RETURNED_TO_POVERTY)
CAUSES = tuple(v for v in pb.PovertyCause.values() if v)
OPS = ("=", "!=", "<", "<=", ">", ">=")


@dataclass(frozen=True)
class Leaf:
    field: str
    op: str
    value: Any
    text: str  # the value as written in the filter


@dataclass(frozen=True)
class Op:
    name: str  # AND, OR, NOT
    terms: tuple[Any, ...]


def leaves() -> st.SearchStrategy[Leaf]:
    def number(field: str) -> st.SearchStrategy[Leaf]:
        low, high = INT_FIELDS[field]
        return st.builds(
            lambda op, v: Leaf(field, op, v, str(v)),
            st.sampled_from(OPS),
            st.integers(low - 1, high + 1),
        )

    def enum_text(value: int, wrapper: Any) -> st.SearchStrategy[str]:
        return st.sampled_from((wrapper.Name(value), str(value)))

    status = st.sampled_from(STATUSES).flatmap(
        lambda v: st.builds(
            lambda op, t: Leaf("status", op, v, t),
            st.sampled_from(("=", "!=")),
            enum_text(v, pb.HouseholdStatus),
        )
    )
    cause = st.sampled_from(CAUSES).map(lambda v: Leaf("causes", ":", v, pb.PovertyCause.Name(v)))
    county = st.builds(
        lambda op, v, quote: Leaf("county_code", op, v, f'"{v}"' if quote else v),
        st.sampled_from(OPS),
        st.sampled_from((*COUNTIES, "4452", "3506240")),
        st.booleans(),
    )
    return st.one_of(*(number(f) for f in INT_FIELDS), status, cause, county)


def expressions() -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves(),
        lambda inner: st.one_of(
            st.builds(lambda ts: Op("AND", tuple(ts)), st.lists(inner, min_size=2, max_size=3)),
            st.builds(lambda ts: Op("OR", tuple(ts)), st.lists(inner, min_size=2, max_size=3)),
            st.builds(lambda t: Op("NOT", (t,)), inner),
        ),
        max_leaves=8,
    )


def render(node: Any, parent: str = "") -> str:
    if isinstance(node, Leaf):
        gap = "" if node.op == ":" else " "
        return f"{node.field}{gap}{node.op}{gap}{node.text}"
    if node.name == "NOT":
        return f"NOT {render(node.terms[0], 'NOT')}"
    text = f" {node.name} ".join(render(t, node.name) for t in node.terms)
    # Parentheses only where the precedence (NOT, then OR, then AND) needs them.
    needed = parent == "NOT" or (parent == "OR" and node.name == "AND")
    return f"({text})" if needed else text


def holds(node: Any, record: dict[str, Any]) -> bool:
    if isinstance(node, Op):
        results = [holds(t, record) for t in node.terms]
        return {"AND": all, "OR": any}[node.name](results) if node.name != "NOT" else not results[0]
    have = record[node.field]
    if node.op == ":":
        return node.value in have
    return {
        "=": have == node.value,
        "!=": have != node.value,
        "<": have < node.value,
        "<=": have <= node.value,
        ">": have > node.value,
        ">=": have >= node.value,
    }[node.op]


@st.composite
def households(draw: st.DrawFn) -> dict[str, Any]:
    members = draw(st.integers(1, 8))
    return {
        "score": draw(st.integers(0, 100)),
        "members": members,
        "labour_force": draw(st.integers(0, members)),
        "indicators.health": draw(st.integers(0, 100)),
        "status": draw(st.sampled_from(STATUSES)),
        "causes": draw(st.lists(st.sampled_from(CAUSES), max_size=3, unique=True)),
        "county_code": draw(st.sampled_from(COUNTIES)),
    }


def _row(village_id: str, i: int, record: dict[str, Any]) -> models.Household:
    now = utcnow()
    return models.Household(
        id=f"hh-f{i:02d}{uuid.uuid4().hex[:8]}",
        create_time=now,
        update_time=now,
        village_id=village_id,
        county_code=record["county_code"],
        card_number=f"F-{uuid.uuid4().hex}",
        head_name="x",
        members=record["members"],
        labour_force=record["labour_force"],
        housing_safety=50,
        food_security=50,
        children_schooling=50,
        health=record["indicators.health"],
        disability=100,
        income_per_capita_fen=0,
        causes=record["causes"],
        score=record["score"],
        status=record["status"],
    )


@pytest.fixture
def filter_village(running) -> Any:
    """A village of this module's own, so that other tests' rows never enter the queries."""
    now = utcnow()
    village = models.Village(
        id=f"vil-f{uuid.uuid4().hex[:8]}",
        create_time=now,
        update_time=now,
        display_name="filters",
        admin_code=uuid.uuid4().hex[:12],
        county_code="350624",
        latitude=23.7,
        longitude=117.2,
        poverty_status=1,
    )
    with running.store.engine.begin() as conn:
        conn.execute(models.Village.__table__.insert(), [village.model_dump()])  # type: ignore[attr-defined]
    return village.id


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    records=st.lists(households(), max_size=12),
    expressions=st.lists(expressions(), min_size=1, max_size=4),
)
def test_sql_selects_what_python_selects(running, filter_village, records, expressions) -> None:
    hh = models.Household
    rows = [_row(filter_village, i, r) for i, r in enumerate(records)]
    with running.store.engine.begin() as conn:
        conn.execute(delete(hh).where(col(hh.village_id) == filter_village))
        if rows:
            conn.execute(hh.__table__.insert(), [r.model_dump() for r in rows])  # type: ignore[attr-defined]
    for node in expressions:
        text = render(node)
        condition = filter_sql.condition(text, hh, HOUSEHOLD.filters)
        stmt = select(col(hh.id)).where(col(hh.village_id) == filter_village, condition)
        with running.store.engine.connect() as conn:
            got = set(conn.scalars(stmt))
        want = {row.id for row, r in zip(rows, records, strict=True) if holds(node, r)}
        assert got == want, text


def test_cli_lists_households_by_the_issue_filter(server, registry, capsys) -> None:
    """`fupin list households --filter 'score < 60 AND causes:ILLNESS AND NOT status =
    LIFTED_OUT'` prints the matching households only."""
    from clients.cli import main

    village = factories.create_village(registry)
    ill = factories.create_household(registry, village.id, causes=[pb.ILLNESS])
    factories.create_household(registry, village.id, causes=[pb.LACK_OF_LAND])
    text = "score < 60 AND causes:ILLNESS AND NOT status = LIFTED_OUT"
    argv = ["list", "households", "--filter", text, "--output", "json"]
    code = main([*argv, "--target", f"127.0.0.1:{server.port}"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert [json.loads(line)["id"] for line in out.splitlines()] == [ill.id]
    code = main(
        ["list", "households", "--filter", "score <", "--target", f"127.0.0.1:{server.port}"]
    )
    assert code == 1 and "(at column 8)" in capsys.readouterr().err
