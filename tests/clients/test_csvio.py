"""CSV layouts: round trips, and every bad cell named by row, field and line."""

from __future__ import annotations

import io
from typing import Any

import pytest

from clients import csvio
from clients.errors import CsvFormatError
from fupin.registry.v1 import resources_pb2 as pb
from tests import factories

HEADER = (
    "village_id,card_number,head_name,members,labour_force,housing_safety,food_security,"
    "children_schooling,health,disability,income_per_capita_fen,causes"
)


def parse(kind: str, text: str) -> csvio.Table:
    return csvio.read(kind, io.StringIO(text))


def violations(kind: str, text: str) -> list[tuple[str, str]]:
    with pytest.raises(CsvFormatError) as caught:
        parse(kind, text)
    return caught.value.field_violations


def round_trip(kind: str, rows: list[Any]) -> list[Any]:
    out = io.StringIO()
    assert csvio.write(kind, rows, out) == len(rows)
    return parse(kind, out.getvalue()).rows


def test_households_round_trip():
    """Households written and read back are equal, causes and indicators included."""
    rows = [factories.household("vil-1"), factories.household("vil-2", causes=[])]
    rows[0].assessment_reason = "入户调查"
    assert round_trip("households", rows) == rows


def test_listings_and_cadres_round_trip():
    """Listings and cadres (location, skills, booleans) survive a round trip."""
    listings = [factories.listing("pro-1"), factories.listing("pro-2", grade="B")]
    assert round_trip("listings", listings) == listings
    cadres = [factories.cadre(), factories.cadre(current_village_id="vil-9", pinned=True)]
    assert round_trip("cadres", cadres) == cadres


def test_a_household_row():
    """A hand-written row: enum names in any case, ';' lists, optional columns left out."""
    table = parse(
        "households",
        f"{HEADER}\nvil-1,A-0001,王芳,4,2,40,60,70,50,100,350000,illness; LACK_OF_WATER\n",
    )
    assert table.rows == [
        factories.household(
            "vil-1",
            card_number="A-0001",
            head_name="王芳",
            causes=[pb.ILLNESS, pb.LACK_OF_WATER],
        )
    ]


def test_cadre_defaults():
    """Cadre columns left out default to not pinned, available, no current village."""
    text = "display_name,rank,skills,home_unit,latitude,longitude,max_distance_km\n"
    text += "Li,section_chief,agronomy,Bureau,24.5,117.6,200\n"
    (cadre,) = parse("cadres", text).rows
    assert isinstance(cadre, pb.Cadre)
    assert cadre.available and not cadre.pinned and cadre.current_village_id == ""
    assert not cadre.HasField("contract_quota")


def test_cadre_contract_quota_column():
    """A cadre's own quota reads from its column; an empty cell leaves the rank's quota."""
    text = "display_name,rank,skills,home_unit,latitude,longitude,max_distance_km,contract_quota\n"
    text += "Li,section_chief,agronomy,Bureau,24.5,117.6,200,3\n"
    text += "Wang,section_member,,Bureau,24.5,117.6,200,\n"
    li, wang = parse("cadres", text).rows
    assert li.HasField("contract_quota") and li.contract_quota == 3
    assert not wang.HasField("contract_quota")
    assert round_trip("cadres", [li, wang]) == [li, wang]
    bad = text.replace(",3\n", ",three\n")
    assert violations("cadres", bad) == [
        (
            "cadres[0].contract_quota",
            "must be an integer, got 'three' (line 2, column contract_quota)",
        )
    ]


def test_bad_cells_name_row_field_and_line():
    """A bad integer and an unknown cause are both reported, rows counted from 0."""
    text = (
        f"{HEADER}\n"
        "vil-1,A-0001,Wang,4,2,40,60,70,50,100,350000,ILLNESS\n"
        "\n"
        "vil-1,A-0002,Li,four,2,40,60,70,50,100,350000,ILLNESS;BAD_LUCK\n"
    )
    assert violations("households", text) == [
        ("households[1].members", "must be an integer, got 'four' (line 4, column members)"),
        (
            "households[1].causes",
            "unknown value 'BAD_LUCK' (one of ILLNESS, DISABILITY, EDUCATION, NATURAL_DISASTER, "
            "LACK_OF_LAND, LACK_OF_WATER, LACK_OF_TECHNOLOGY, LACK_OF_LABOUR, LACK_OF_CAPITAL, "
            "POOR_TRANSPORT, LACK_OF_MOTIVATION) (line 4, column causes)",
        ),
    ]


def test_out_of_range_and_short_rows():
    """A number too big for its field and a row with a missing cell are reported."""
    text = f"{HEADER}\nv,A-1,W,99999999999,2,40,60,70,50,100,1,\nv,A-2,W,4,2,40,60,70,50,100\n"
    assert violations("households", text) == [
        ("households[0].members", "out of range: 99999999999 (line 2, column members)"),
        ("households[1]", "has 10 cells, the header has 12 (line 3)"),
    ]


def test_bad_header():
    """Unknown, repeated and missing columns are reported before any row is read."""
    found = violations("listings", "producer_id,product,grade,grade,colour\n")
    assert ("header", "unknown column 'colour'") in found
    assert ("header", "column 'grade' appears twice") in found
    assert ("header", "missing column 'quantity_kg'") in found
    assert violations("cadres", "") == [("header", "the first line must name columns")]


def test_where_points_server_errors_at_the_file():
    """A server field path maps to the CSV line and column of that cell."""
    table = parse("households", f"{HEADER}\n\nv,A-1,W,4,2,40,60,70,50,100,1,ILLNESS\n")
    assert table.where("households[0].indicators.health") == "line 3, column health"
    assert table.where("households[0].causes[0]") == "line 3, column causes"
    assert table.where("households[0]") == "line 3"
    assert table.where("households[5].members") == ""


def test_extra_indicators_read_and_write_as_name_value_pairs():
    """`broadband=30;road_access=90` fills indicators.extra; a pair without `=` is named."""
    header = (
        "village_id,card_number,head_name,members,labour_force,housing_safety,food_security,"
        "children_schooling,health,disability,income_per_capita_fen,causes,extra_indicators\n"
    )
    rows = "v1,1234,A,3,1,50,50,50,50,100,1000,ILLNESS,road_access=90;broadband=30\n"
    table = csvio.read("households", io.StringIO(header + rows))
    assert dict(table.rows[0].indicators.extra) == {"broadband": 30, "road_access": 90}
    out = io.StringIO()
    csvio.write("households", table.rows, out)
    assert out.getvalue().splitlines()[1].endswith(",broadband=30;road_access=90")
    bad = "v1,1234,A,3,1,50,50,50,50,100,1000,ILLNESS,broadband\n"
    with pytest.raises(CsvFormatError, match=r"indicators.extra: must be name=value"):
        csvio.read("households", io.StringIO(header + bad))
