"""`fupin cadres assign|contract` in-process against a real server."""

from __future__ import annotations

import json

import pytest

from clients.client import CADRES, HOUSEHOLDS, VILLAGES, RegistryClient
from fupin.registry.v1 import resources_pb2 as pb
from tests import factories


@pytest.fixture
def county(server):
    """Two poor villages (illness in one), a doctor near it and a farmer near the other."""
    with RegistryClient(f"127.0.0.1:{server.port}", timeout_s=5) as client:
        a = client.create(VILLAGES, factories.village(needs=[]))
        b = client.create(
            VILLAGES, factories.village(location=pb.LatLng(latitude=23.85, longitude=117.40))
        )
        client.create(HOUSEHOLDS, factories.household(a.id, causes=[pb.ILLNESS]))
        client.create(HOUSEHOLDS, factories.household(b.id, causes=[pb.EDUCATION]))
        where = {"doctor": (23.70, 117.20, ["health"]), "farmer": (23.86, 117.38, ["agronomy"])}
        cadres = {
            name: client.create(
                CADRES,
                factories.cadre(
                    display_name=name,
                    skills=skills,
                    location=pb.LatLng(latitude=lat, longitude=lng),
                ),
            )
            for name, (lat, lng, skills) in where.items()
        }
        yield client, a, b, cadres


def test_assign_commit_table_and_picture(fupin, county, tmp_path):
    """Progress on stderr, a table per village, the picture, and the postings committed."""
    client, a, b, cadres = county
    picture = tmp_path / "postings.png"
    code, out, err = fupin(
        "cadres", "assign", "--team-min", "1", "--team-max", "1",
        "--picture", str(picture), "--commit",
    )  # fmt: skip
    assert code == 0, err
    assert "PROPOSED" in err and "COMMITTED, OPTIMAL" in out
    assert f"village {a.id}" in out and f"village {b.id}" in out
    doctor_line = next(line for line in out.splitlines() if line.startswith(cadres["doctor"].id))
    assert "first secretary" in doctor_line and "health" in doctor_line and "new" in doctor_line
    assert picture.stat().st_size > 10_000 and picture.read_bytes()[:4] == b"\x89PNG"
    assert client.get(CADRES, cadres["doctor"].id).current_village_id == a.id
    assert client.get(CADRES, cadres["farmer"].id).current_village_id == b.id


def test_assign_short_villages_say_why(fupin, county):
    """Teams of three from two cadres: both villages short, the reason in their heading."""
    code, out, err = fupin("cadres", "assign", "--output", "table")
    assert code == 0, err
    assert out.count("short: no eligible cadre within distance") == 2


def test_contract_after_postings(fupin, county):
    """Each household goes to the cadre stationed in its village (JSON and table output)."""
    cadres = county[3]
    assert fupin("cadres", "assign", "--team-min", "1", "--team-max", "1", "--commit")[0] == 0
    code, out, err = fupin("cadres", "contract", "--quota", "3=6", "--output", "json")
    assert code == 0, err
    run = json.loads(out)
    pairs = {k["cadre_id"] for k in run["contracting"]["contracts"]}
    assert pairs == {cadres["doctor"].id, cadres["farmer"].id}
    assert all(k["same_village"] for k in run["contracting"]["contracts"])
    code, out, err = fupin("cadres", "contract", "--commit")
    assert code == 0, err
    assert "COMMITTED" in out and "own village" in out


def test_bad_quota_is_a_usage_error(fupin, county):
    assert fupin("cadres", "contract", "--quota", "three")[0] == 2
    code, _, err = fupin("cadres", "contract", "--quota", "9=1")
    assert code == 1 and "rules.quotas[0].rank" in err
