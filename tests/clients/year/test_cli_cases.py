"""`fupin case …`, `fupin notice`, `fupin resurvey`, `fupin shock` and `fupin risks`
in-process against a real server; `fupin alerts` in a process of its own."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

from clients import csvio
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from registry.access.policy import Role
from tests import factories


def test_a_case_from_proposal_to_filing_and_its_notice(
    fupin, server, registry, tmp_path, monkeypatch
):
    """A village committee proposes, reviews and posts the notice; the county's key approves and
    files; a village key may not approve; the notice is written as HTML. Case states read as
    the procedure names them (not a run's), and the list shows the head's and the village's
    names beside their ids, in English and in Chinese."""
    village = factories.create_village(registry)
    household = factories.create_household(registry, village.id)
    keys = {
        name: server.keys.create(Role.OFFICE, scope).secret
        for name, scope in (("village", village.admin_code), ("county", village.admin_code[:6]))
    }

    def as_(who: str, *argv: str) -> tuple[int, str, str]:
        monkeypatch.setenv("FUPIN_API_KEY", keys[who])
        return fupin(*argv)

    code, out, err = as_("village", "case", "propose", household.id, "--output", "json")
    assert code == 0, err
    case_id = json.loads(out)["id"]
    assert f"case {case_id}: proposed for identification" in err
    code, _, err = as_("village", "case", "review", case_id, "--approve", "--for", "30")
    assert code == 0 and "passed the village review" in err
    code, _, err = as_(
        "village", "case", "notice", case_id,
        "--from", "2026-01-05", "--to", "2026-01-11", "--place", "村务公开栏",
    )  # fmt: skip
    assert code == 0 and "on public notice" in err
    page = tmp_path / "notice.html"
    code, _, err = as_("county", "notice", village.id, "--format", "html", "--out", str(page))
    assert code == 0 and "1 households on notice" in err
    assert (
        household.card_number[:4] in page.read_text()
        and household.card_number not in page.read_text()
    )
    code, _, err = as_("village", "case", "approve", case_id)
    assert code != 0 and "may not approve" in err
    assert as_("county", "case", "approve", case_id)[0] == 0
    code, out, err = as_("county", "case", "file", case_id)
    assert code == 0 and "filed: file card issued" in err and case_id in out
    code, out, err = as_("county", "case", "show", case_id)
    assert code == 0
    steps = [line.split()[2] for line in out.splitlines()[3:]]  # TIME is date and minute
    assert steps == ["propose", "review", "notice", "approve", "file"]
    code, out, _ = as_("county", "case", "list", "--state", "filed")
    assert code == 0 and case_id in out
    row = next(line for line in out.splitlines() if case_id in line)
    assert household.head_name in row and village.display_name in row
    assert "filed: file card issued" in row and "VILLAGE NAME" in out
    code, out, _ = as_("county", "--lang", "zh-CN", "case", "list", "--state", "filed")
    row = next(line for line in out.splitlines() if case_id in line)
    assert code == 0 and "已建档立卡" in row and "待提交" not in out
    assert household.head_name in row and village.display_name in row
    code, out, _ = as_("county", "case", "list", "--state", "filed", "--output", "csv")
    header, line = out.splitlines()[:2]
    assert "household_id#name" in header and "village_id#name" in header
    assert household.head_name in line and ",FILED," in line  # CSV keeps the proto name


def test_resurvey_dry_run_then_commit(fupin, registry, tmp_path):
    """The dry run prints the counts and the first change and stores nothing; the commit
    stores them."""
    village = factories.create_village(registry)
    kept = factories.create_household(registry, village.id)
    gone = factories.create_household(registry, village.id)
    survey = tmp_path / "2027.csv"
    changed = pb.Household()
    changed.CopyFrom(kept)
    changed.indicators.health = 90
    with survey.open("w", newline="") as out:
        csvio.write("households", [changed], out)
    argv = ("resurvey", str(survey), "--year", "2027", "--region", village.admin_code)
    code, out, err = fupin(*argv, "--dry-run")
    assert code == 0, err
    assert "1 households, 1 updated, 0 unchanged, 0 new, 1 not surveyed" in out
    assert "health" in out and "dry run" in err and gone.card_number in out
    assert registry.GetHousehold(api.GetHouseholdRequest(id=kept.id)).indicators.health == 50
    code, out, err = fupin(*argv)
    assert code == 0 and "stored" in err
    assert registry.GetHousehold(api.GetHouseholdRequest(id=kept.id)).indicators.health == 90


def test_a_shock_from_the_cli_ranks_its_village_first(fupin, registry):
    """`fupin shock --village` then `fupin risks`: the flooded village's household first,
    with the flood as its reason; in Chinese, every reason in Chinese."""
    flooded = factories.create_village(registry)
    dry = factories.create_village(registry)
    hit = factories.create_household(registry, flooded.id)
    factories.create_household(registry, dry.id)
    code, out, err = fupin(
        "shock", "--village", flooded.id, "--kind", "disaster", "--severity", "3",
        "--date", date.today().isoformat(), "--note", "山洪",
    )  # fmt: skip
    assert code == 0 and "1 households raised to the alert level" in out, err
    code, out, err = fupin("risks", "--limit", "2")
    assert code == 0, err
    first = out.splitlines()[1]
    assert first.startswith("77") and hit.id in first and "disaster" in first
    assert hit.head_name in first and flooded.display_name in first  # names beside the ids
    code, out, err = fupin("risks", "--limit", "2", "--output", "csv")
    header, first = out.splitlines()[:2]
    assert header == "risk,household_id,village_id,status,score,reasons"
    assert first.startswith(f"77,{hit.id},{flooded.id},")
    code, out, err = fupin("--lang", "zh-CN", "risks", "--limit", "1")
    assert code == 0, err
    today = date.today().isoformat()
    reasons = ["得分 53，低于贫困线 60 共 7 分", "致贫原因 2 项",
               f"所在村于 {today} 遭受灾害（严重程度 3）"]  # fmt: skip
    assert out.splitlines()[1].endswith("; ".join(reasons))


def test_fupin_alerts_prints_the_alert_a_shock_raises(fupin, registry, server):
    """`fupin alerts --count 1 --output json` in a process of its own (it streams until it has
    its alert), then a flood from another CLI call: the flooded household's alert, and exit 0."""
    flooded = factories.create_village(registry)
    hit = factories.create_household(registry, flooded.id)
    watch = subprocess.Popen(
        [sys.executable, "-m", "clients.cli", "alerts", "--count", "1", "--output", "json",
         "--target", f"127.0.0.1:{server.port}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
    )  # fmt: skip
    try:
        assert watch.stderr is not None
        assert "watching for alerts" in watch.stderr.readline()  # subscribed
        code, out, err = fupin(
            "shock", "--village", flooded.id, "--kind", "disaster", "--severity", "3",
            "--date", date.today().isoformat(),
        )  # fmt: skip
        assert code == 0, err
        out, err = watch.communicate(timeout=60)
    finally:
        watch.kill()
    assert watch.returncode == 0, err
    [alert] = [json.loads(line) for line in out.splitlines()]
    assert alert["entry"]["household_id"] == hit.id and alert["entry"]["risk"] >= 60


def test_the_card_shows_its_set_scores(fupin, registry):
    """`fupin get households ID`: the bundled scoring's four indicator sets, each sub-score."""
    village = factories.create_village(registry)
    household = factories.create_household(registry, village.id)
    code, out, err = fupin("get", "households", household.id)
    assert code == 0, err
    fields = dict(line.split(None, 1) for line in out.splitlines() if " " in line.strip())
    scores = {k: v.strip() for k, v in fields.items() if k.startswith("set_scores.")}
    assert scores == {"set_scores.income": "44", "set_scores.two_no_worries": "60",
                      "set_scores.three_guarantees": "51", "set_scores.capacity": "67"}  # fmt: skip
