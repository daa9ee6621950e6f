"""The `fupin` CLI in-process against a real server: import, list, get, delete, watchlist."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients import csvio
from clients.cli import main
from clients.client import CADRES, HOUSEHOLDS, VILLAGES, RegistryClient
from tests import factories


@pytest.fixture
def client(server):
    with RegistryClient(f"127.0.0.1:{server.port}", timeout_s=5) as client:
        yield client


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process; returns (exit status, stdout, stderr)."""

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def fupin(server, cli):
    """Run a client command of the CLI against the test server."""
    return lambda *argv: cli(*argv, "--target", f"127.0.0.1:{server.port}")


def households_csv(tmp_path, rows) -> str:
    path = tmp_path / "households.csv"
    with path.open("w", newline="") as out:
        csvio.write("households", rows, out)
    return str(path)


def test_import_a_good_file(fupin, client, tmp_path):
    """Five rows are imported, with a progress line and the count and rate at the end."""
    village = client.create(VILLAGES, factories.village())
    path = households_csv(tmp_path, [factories.household(village.id) for _ in range(5)])
    code, out, err = fupin("import", "households", path, "--chunk-size", "2")
    assert code == 0, err
    assert out.startswith("imported 5 households in ") and out.endswith(" rows/s)\n")
    assert "5/5 households" in err
    assert len(list(client.list(HOUSEHOLDS))) == 5


def test_import_a_bad_row_stores_nothing(fupin, client, tmp_path):
    """A row the server refuses is named with its field, CSV line and column; exit 1."""
    village = client.create(VILLAGES, factories.village())
    rows = [factories.household(village.id) for _ in range(5)]
    rows[2].indicators.health = 101
    code, _, err = fupin("import", "households", households_csv(tmp_path, rows))
    assert code == 1
    assert (
        "  households[2].indicators.health: must be between 0 and 100, got 101 "
        "(line 4, column health)\n"
    ) in err
    assert list(client.list(HOUSEHOLDS)) == []


def test_import_an_unknown_village(fupin, client, tmp_path):
    """A row in a village that does not exist is NOT_FOUND, named by row and line."""
    village = client.create(VILLAGES, factories.village())
    rows = [factories.household(village.id), factories.household("vil-missing")]
    code, _, err = fupin("import", "households", households_csv(tmp_path, rows))
    assert code == 1 and "fupin: NOT_FOUND: " in err
    assert "households[1].village_id: " in err and "(line 3, column village_id)" in err


def test_import_an_unparsable_file_sends_nothing(fupin, client, tmp_path):
    """A bad integer is reported with row, field and line before anything is sent."""
    village = client.create(VILLAGES, factories.village())
    path = Path(households_csv(tmp_path, [factories.household(village.id) for _ in range(3)]))
    lines = path.read_text().splitlines()
    lines[2] = lines[2].replace(",4,2,", ",four,2,")
    path.write_text("\n".join(lines) + "\n")
    code, _, err = fupin("import", "households", str(path))
    assert code == 1 and "nothing was sent" in err
    assert "  households[1].members: must be an integer, got 'four' (line 3, column members)" in err
    assert list(client.list(HOUSEHOLDS)) == []


def test_import_cadres_as_json(fupin, client, tmp_path):
    """Cadres import too; --output json prints the summary as one JSON object."""
    path = tmp_path / "cadres.csv"
    part_time = factories.cadre(display_name="兼职干部")
    part_time.contract_quota = 2  # its own quota, below its rank's
    with path.open("w", newline="") as out:
        csvio.write("cadres", [factories.cadre(), part_time], out)
    code, out, err = fupin("import", "cadres", str(path), "--output", "json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["kind"] == "cadres" and summary["imported"] == 2
    stored = {c.display_name: c for c in client.list(CADRES)}
    assert len(stored) == 2 and stored["兼职干部"].contract_quota == 2
    assert [c.HasField("contract_quota") for c in stored.values()].count(True) == 1


def test_list_get_and_delete(fupin, client):
    """List shows a table, get shows every field, delete removes; get after it fails."""
    a = client.create(VILLAGES, factories.village(display_name="上营村"))
    b = client.create(VILLAGES, factories.village())
    code, out, _ = fupin("list", "villages")
    header, *lines = out.splitlines()
    assert code == 0 and header.split() == ["ID", "NAME", "ADMIN", "CODE", "STATUS", "NEEDS"]
    assert [line.split()[0] for line in lines] == sorted([a.id, b.id])
    assert "上营村  " in out and "VILLAGE_POOR" in out
    code, out, _ = fupin("get", "villages", a.id)
    assert code == 0 and "display_name        上营村\n" in out and "location.latitude " in out
    code, _, err = fupin("delete", "villages", a.id, "--etag", a.etag)
    assert code == 0 and f"deleted village {a.id}" in err
    code, _, err = fupin("get", "villages", a.id)
    assert code == 1 and err.startswith("fupin: NOT_FOUND: ")


def test_list_filter_and_limit(fupin, client):
    """--filter narrows the list on the server; --limit stops after N."""
    village, other = (
        client.create(VILLAGES, factories.village()),
        client.create(VILLAGES, factories.village()),
    )
    for v in (village, village, other):
        client.create(HOUSEHOLDS, factories.household(v.id))
    _, out, _ = fupin("list", "households", "--filter", f'village_id = "{village.id}"')
    assert len(out.splitlines()) == 3
    _, out, _ = fupin("list", "households", "--limit", "1")
    assert len(out.splitlines()) == 2
    code, _, err = fupin("list", "households", "--filter", "colour = red")
    assert code == 1 and "  filter: unknown field 'colour'" in err


def test_json_output(fupin, client):
    """--output json prints one object per line with proto field names."""
    village = client.create(VILLAGES, factories.village())
    made = [client.create(HOUSEHOLDS, factories.household(village.id)) for _ in range(2)]
    code, out, _ = fupin("list", "households", "--output", "json")
    objects = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and {o["card_number"] for o in objects} == {h.card_number for h in made}
    assert objects[0]["indicators"]["housing_safety"] == 40
    _, out, _ = fupin("get", "households", made[0].id, "--output", "json")
    assert json.loads(out)["id"] == made[0].id


def test_watchlist(fupin, client):
    """Households near a threshold are listed by risk with their reasons and the risk's (in the
    CLI's language), as a table or JSON; an order the server does not know is refused."""
    village = client.create(VILLAGES, factories.village())

    def filed(s: int):
        indicators = {n: s for n in ("housing_safety", "food_security", "health")}
        indicators |= {"children_schooling": s, "disability": s}
        return client.create(
            HOUSEHOLDS,
            factories.household(
                village.id,
                members=100,
                labour_force=s,
                indicators=factories.indicators(**indicators, income_per_capita_fen=8000 * s),
            ),
        )

    near, _far, closer = filed(82), filed(95), filed(62)
    code, out, _ = fupin("watchlist")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3 and "RISK" in lines[0] and "WHY" in lines[0]
    # By risk: 62 is 2 above the line (40 × 0.9) with two causes (10 × 2/3): 43; 82 only 7.
    assert closer.card_number in lines[1] and " 43 " in lines[1]
    assert lines[1].endswith("score 62 is 2 above the line 60; 2 causes of poverty")
    assert near.card_number in lines[2] and "NEAR_UPPER_THRESHOLD" in lines[2]
    _, out, _ = fupin("--lang", "zh-CN", "watchlist", "--limit", "1")
    assert out.splitlines()[1].endswith("得分 62，高出贫困线 60 共 2 分; 致贫原因 2 项")
    _, out, _ = fupin("watchlist", "--output", "json", "--order-by", "id")
    got = [json.loads(line) for line in out.splitlines()]
    assert [e["household"]["id"] for e in got] == sorted([near.id, closer.id])
    first = {e["household"]["id"]: e for e in got}[near.id]
    assert first["reasons"] == ["NEAR_UPPER_THRESHOLD"] and first["risk"] == 7
    assert first["risk_reasons"] == ["2 causes of poverty"]
    code, _, err = fupin("watchlist", "--order-by", "score")
    assert code != 0 and "order_by" in err


def test_usage_errors_exit_2(cli, tmp_path):
    """Unknown kinds, missing files and bad numbers are usage errors."""
    assert cli("list", "rivers")[0] == 2
    assert cli("import", "villages", "x.csv")[0] == 2
    assert cli("import", "households", str(tmp_path / "missing.csv"))[0] == 2
    assert cli("list", "villages", "--limit", "0")[0] == 2
    assert cli()[0] == 2
    assert cli("--help")[0] == 0


def test_unreachable_server_exits_1(cli):
    """With no server on the target, the error is UNAVAILABLE and the exit status 1."""
    code, _, err = cli("list", "villages", "--target", "127.0.0.1:9", "--timeout", "2")
    assert code == 1 and err.startswith("fupin: UNAVAILABLE: ")


def test_health_exits_0_when_serving_and_1_when_unreachable(fupin, cli):
    """`fupin health` (the container check): 0 for a SERVING server and service, 1 otherwise."""
    code, _, err = fupin("health")
    assert code == 0 and err.rstrip().endswith(": SERVING")  # the token alone, in English
    code, _, err = fupin("--lang", "zh-CN", "health")
    assert code == 0 and err.rstrip().endswith(": SERVING (服务中)")
    assert fupin("health", "--service", "fupin.registry.v1.MatcherStoreService")[0] == 0
    assert fupin("health", "--service", "no.such.Service")[0] == 1
    code, _, err = cli("health", "--target", "127.0.0.1:9", "--timeout", "1")
    assert code == 1 and "UNAVAILABLE" in err


def test_serve_only_matcher_needs_the_registry(cli):
    """--only matcher without --registry is a usage error (exit 2), before anything starts."""
    code, _, err = cli("serve", "--only", "matcher")
    assert code == 2 and "registry_target" in err


def test_the_cli_starts_without_charts_or_workbooks():
    """matplotlib and openpyxl are imported by the commands that draw or write a workbook,
    not by every `fupin` command (they were 2.4 of its 3.5 s of imports under load)."""
    import subprocess
    import sys

    heavy = "{'matplotlib', 'openpyxl'}"
    probe = f"import sys, clients.cli.main; print(sorted({heavy} & set(sys.modules)))"
    found = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "[]"
