"""`fupin create|update KIND` from FIELD=VALUE and from JSON/YAML files, against a real server."""

from __future__ import annotations

import json

from clients.client import HOUSEHOLDS, VILLAGES, RegistryClient

VILLAGE_FIELDS = (
    "display_name=岭下村",
    "admin_code=350624101201",
    "poverty_status=VILLAGE_POOR",
    "location.latitude=23.71",
    "location.longitude=117.18",
    "needs=health,ecommerce",
)


def test_create_from_fields_prints_the_id_with_quiet(fupin, server):
    """Dotted paths reach sub-messages, commas make lists; --quiet prints the id alone."""
    code, out, err = fupin("create", "villages", *VILLAGE_FIELDS, "--quiet")
    assert code == 0, err
    with RegistryClient(f"127.0.0.1:{server.port}") as client:
        village = client.get(VILLAGES, out.strip())
    assert village.display_name == "岭下村" and list(village.needs) == ["health", "ecommerce"]
    assert (village.location.latitude, village.location.longitude) == (23.71, 117.18)


def test_create_from_a_yaml_file_with_fields_overriding(fupin, tmp_path):
    """A YAML mapping (enum lists, nested indicators) gives the fields; arguments after it win."""
    village = fupin("create", "villages", *VILLAGE_FIELDS, "-q")[1].strip()
    card = tmp_path / "household.yaml"
    card.write_text(
        f"village_id: {village}\ncard_number: '350624101-0001'\nhead_name: 林阿福\n"
        "members: 4\nlabour_force: 1\ncauses: [ILLNESS, LACK_OF_LABOUR]\n"
        "indicators: {housing_safety: 40, food_security: 60, children_schooling: 70,\n"
        "  health: 30, disability: 100, income_per_capita_fen: 300000}\n",
        encoding="utf-8",
    )
    code, out, err = fupin("create", "households", "--file", str(card), "members=5", "-o", "json")
    assert code == 0, err
    created = json.loads(out)
    assert created["members"] == 5 and created["causes"] == ["ILLNESS", "LACK_OF_LABOUR"]
    assert created["status"] == "IMPOVERISHED"


def test_update_changes_only_the_fields_given_and_checks_the_etag(fupin, server):
    """The mask is the fields given; a stale etag is ABORTED (exit 1) and changes nothing."""
    village = fupin("create", "villages", *VILLAGE_FIELDS, "-q")[1].strip()
    code, out, err = fupin("update", "villages", village, "display_name=岭下", "--etag", '"1"')
    assert code == 0, err
    assert "display_name        岭下\n" in out and "needs               health;ecommerce" in out
    code, _, err = fupin("update", "villages", village, "display_name=旧名", "--etag", '"1"')
    assert code == 1 and "ABORTED" in err
    with RegistryClient(f"127.0.0.1:{server.port}") as client:
        assert client.get(VILLAGES, village).display_name == "岭下"


def test_refusals_name_the_field(fupin, server):
    """An unknown field is a usage error (exit 2); a bad value the server's field violation."""
    code, _, err = fupin("create", "villages", "population=3")
    assert code == 2 and "Village has no field 'population'" in err
    village = fupin("create", "villages", *VILLAGE_FIELDS, "-q")[1].strip()
    code, _, err = fupin(
        "create", "households", f"village_id={village}", "card_number=X-1", "head_name=A",
        "members=0",
    )  # fmt: skip
    assert code == 1 and "  household.members: must be between 1 and 100, got 0" in err
    with RegistryClient(f"127.0.0.1:{server.port}") as client:
        assert list(client.list(HOUSEHOLDS)) == []


def test_list_quiet_prints_ids(fupin):
    """`list --quiet` prints one id a line, for scripts."""
    made = {fupin("create", "villages", *VILLAGE_FIELDS[1:], "display_name=A", "-q")[1].strip()}
    code, out, _ = fupin("list", "villages", "--quiet")
    assert code == 0 and set(out.split()) == made
