"""ListHouseholds and GetHousehold read plain columns (registry/resources/household_rows.py):
what they show is what Create and Update answer (read as ORM rows), field for field, on
SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import literal, select, union_all

from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from registry import db
from registry.resources.household_rows import parsed
from tests import factories
from tests.registry.test_households import reassess, uniform


def test_listed_and_got_households_equal_what_was_written(registry):
    """Households with extra indicators, several causes, a history of three changes or none
    beyond filing, listed over two pages: each equals its Get and the answer of its last
    Create or Update, history and times included."""
    village = factories.create_village(registry)
    plain = factories.create_household(registry, village.id, causes=[])
    extra = factories.create_household(
        registry,
        village.id,
        indicators=factories.indicators(extra={"broadband": 30, "road_access": 90}),
        causes=[pb.ILLNESS, pb.DISABILITY, pb.LACK_OF_LABOUR],
    )
    moved = factories.create_household(
        registry, village.id, members=100, labour_force=40, indicators=uniform(40)
    )
    moved = reassess(registry, moved, 85, "cooperative income")
    moved = reassess(registry, moved, 50, "illness")
    assert len(moved.history) == 3
    listed: list[pb.Household] = []
    token = ""
    while True:
        page = registry.ListHouseholds(api.ListHouseholdsRequest(page_size=2, page_token=token))
        listed.extend(page.households)
        token = page.next_page_token
        if not token:
            break
    written = {h.id: h for h in (plain, extra, moved)}
    assert [h.id for h in listed] == sorted(written)
    for household in listed:
        assert household == written[household.id]
        assert household == registry.GetHousehold(api.GetHouseholdRequest(id=household.id))
    by_id = {h.id: h for h in listed}
    assert dict(by_id[extra.id].indicators.extra) == {"broadband": 30, "road_access": 90}
    assert list(by_id[plain.id].causes) == []
    assert by_id[moved.id].history == moved.history


def test_a_filtered_page_keeps_the_filter_and_the_order(registry):
    """The filter and the page's keyset both narrow the column-wise read."""
    village = factories.create_village(registry)
    made = [
        factories.create_household(registry, village.id, indicators=uniform(s))
        for s in (30, 40, 90, 35)
    ]
    request = api.ListHouseholdsRequest(filter="score < 60", page_size=2)
    first = registry.ListHouseholds(request)
    request.page_token = first.next_page_token
    second = registry.ListHouseholds(request)
    poor = sorted(h.id for h in made if h.score < 60)
    assert [h.id for h in (*first.households, *second.households)] == poor
    assert second.next_page_token == ""


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[3, 1]", [3, 1]),
        ("[]", []),
        ('{"a": 1}', {"a": 1}),
        ("{}", {}),
        (None, None),
        (' {"a": 1} ', {"a": 1}),  # spaced text: json.loads reads it
        ('{"收入": 100, "b": [1, {"c": null}]}', {"收入": 100, "b": [1, {"c": None}]}),
    ],
)
def test_json_columns_parse_as_json(text: str | None, value: object) -> None:
    """A JSON column's text is its value (the empty ones without the parser)."""
    assert parsed(text) == value


@pytest.mark.parametrize("text", ['{"a": 1} x', "{", '{"a": 1}}'])
def test_a_broken_json_column_is_an_error_not_a_value(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        parsed(text)


def test_one_of_selects_the_values_given_even_with_the_separator(server) -> None:
    """db.one_of's values go as one text on PostgreSQL; a value holding its comma falls back
    to an array (fupin's ids hold none), and both select exactly the values given."""
    with server.store.engine.connect() as connection:
        stored = ["hh-1", "hh-2", "hh-3", "hh-1,hh-3"]
        table = union_all(*[select(literal(v).label("v")) for v in stored]).subquery()
        for ids in (["hh-1", "hh-3"], ["hh-1,hh-3", "hh-2"]):
            found = connection.execute(
                select(table.c.v).where(db.one_of(connection, table.c.v, ids))
            ).scalars()
            assert sorted(found) == sorted(ids)
