"""Chinese and English: the catalogs compiled as committed, the language chosen as documented,
tables, the demo and charts in Chinese, and no glyph missing from the bundled CJK font."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fontTools.ttLib import TTFont

from clients import aid_charts, i18n
from clients.chart_fonts import FONT_FILE
from clients.cli import main
from fupin.registry.v1 import resources_pb2 as pb
from tests import factories

LOCALE = Path(i18n.LOCALE_DIR)


@pytest.fixture(autouse=True)
def english_after():
    yield
    i18n.use("en")


def _catalog(language: str):
    with (LOCALE / language / "LC_MESSAGES" / "fupin.po").open("rb") as f:
        return read_po(f)


@pytest.mark.parametrize("language", i18n.LANGUAGES)
def test_committed_mo_matches_its_po(language: str) -> None:
    """The .mo files are committed (a fresh clone needs no build); they must be the .po's."""
    out = io.BytesIO()
    write_mo(out, _catalog(language), use_fuzzy=False)
    committed = (LOCALE / language / "LC_MESSAGES" / "fupin.mo").read_bytes()
    assert committed == out.getvalue(), "run .venv/bin/python scripts/i18n.py"


def test_every_message_and_enum_value_has_chinese() -> None:
    catalog = _catalog("zh_CN")
    untranslated = [m.id for m in catalog if m.id and not all(m.string or ())]
    assert not untranslated
    for enum in (pb.HouseholdStatus, pb.PovertyCause, pb.AidKind, pb.BuyerKind):
        for name in enum.DESCRIPTOR.values_by_name:
            if not name.endswith("UNSPECIFIED"):
                assert catalog.get(name, context=enum.DESCRIPTOR.full_name), name


def test_the_language_is_the_flag_then_fupin_lang_then_the_locale(monkeypatch) -> None:
    for name in ("FUPIN_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(name, raising=False)
    assert i18n.choose() == "en"
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    assert i18n.choose() == "zh_CN"
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")  # not a language of ours: English
    assert i18n.choose() == "en"
    monkeypatch.setenv("FUPIN_LANG", "zh-CN")
    assert i18n.choose() == "zh_CN"
    assert i18n.choose("en") == "en"
    with pytest.raises(ValueError, match="use en or zh-CN"):
        i18n.choose("fr")


def test_enum_names_in_both_languages() -> None:
    i18n.use("en")
    assert i18n.enum_name(pb.HouseholdStatus.DESCRIPTOR, pb.RETURNED_TO_POVERTY) == (
        "RETURNED_TO_POVERTY"
    )
    i18n.use("zh-CN")
    assert i18n.enum_name(pb.HouseholdStatus.DESCRIPTOR, pb.RETURNED_TO_POVERTY) == "返贫"
    assert i18n.enum_name(pb.PovertyCause.DESCRIPTOR, pb.ILLNESS) == "因病"


def test_the_font_has_every_character_of_the_catalog() -> None:
    cmap = TTFont(FONT_FILE)["cmap"].getBestCmap()
    text = "".join(
        s
        for m in _catalog("zh_CN")
        for s in (m.string if isinstance(m.string, tuple) else (m.string,))
    )
    missing = sorted({ch for ch in text if ord(ch) >= 0x2E80 and ord(ch) not in cmap})
    assert not missing, "run scripts/subset_font.py"
    assert FONT_FILE.stat().st_size < 3_000_000


def test_a_chinese_chart_misses_no_glyph(tmp_path) -> None:
    """matplotlib warns "Glyph … missing from font(s)"; here that warning fails the test."""
    i18n.use("zh-CN")
    amounts = {"ILLNESS": 1_250_000, "EDUCATION": 800_000, "LACK_OF_MOTIVATION": 90_000}
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*missing from font")
        path = aid_charts.spending_by_cause(
            amounts, tmp_path / "aid.png", "帮扶资金按致贫原因（诏安县，2020 年）"
        )
    assert path.stat().st_size > 10_000


def test_cli_tables_in_chinese(server, registry, capsys) -> None:
    village = factories.create_village(registry)
    factories.create_household(registry, village.id, causes=[pb.ILLNESS])
    target = ["--target", f"127.0.0.1:{server.port}"]
    assert main(["--lang", "zh-CN", "list", "households", *target]) == 0
    heading, row = capsys.readouterr().out.splitlines()
    assert heading.split() == [
        "编号",
        "建档立卡号",
        "户主",
        "村",
        "村名",
        "人口",
        "评分",
        "状态",
        "致贫原因",
    ]
    assert "因病" in row and "贫困户" in row and village.display_name in row
    assert main(["--lang", "en", "list", "households", *target]) == 0
    assert capsys.readouterr().out.startswith("ID ")


@pytest.mark.slow
def test_the_demo_in_chinese(tmp_path, capsys, monkeypatch) -> None:
    """`fupin --lang zh-CN demo` prints the demo in Chinese and draws its charts with Chinese
    labels, no glyph missing."""
    monkeypatch.delenv("FUPIN_API_KEY", raising=False)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*missing from font")
        code = main(["--lang", "zh-CN", "demo", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    for line in ("fupin 演示：诏安青梅 → 揭阳", "青梅售出（吨）", "423.0", "各采购方吨数："):
        assert line in out
    for line in ("成交之后的产季（2020 年）：", "因等级拒收", "合作社分给社员（元）", "其中脱贫"):
        assert line in out
    for chart in ("demo_flows.png", "demo_income.png", "demo_money.png"):
        assert (tmp_path / chart).exists()


def test_help_and_usage_in_chinese(capsys) -> None:
    """`--lang zh-CN CMD --help` writes argparse's words and the options' help in Chinese;
    a usage error too; English stays the default."""
    assert main(["--lang", "zh-CN", "runs", "get", "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("用法：fupin runs get")
    assert "位置参数" in out and "选项" in out and "显示此帮助并退出" in out
    assert "每次调用的秒数" in out  # --timeout's help
    assert main(["--lang", "zh-CN", "runs"]) == 2
    assert "缺少必需的参数：VERB" in capsys.readouterr().err
    assert main(["--lang", "zh-CN", "--help"]) == 0
    assert "列出、查看、提交、放弃或取消运行" in capsys.readouterr().out
    assert main(["--lang", "en", "runs", "get", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: fupin runs get")
