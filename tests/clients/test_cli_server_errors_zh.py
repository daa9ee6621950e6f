"""The server's refusals reach `fupin --lang zh-CN` in Chinese, for the areas whose texts were
English until tests/server/test_message_coverage.py: a season step out of order, a cadre-work
refusal and a filter syntax error, each through the CLI against a real server."""

from __future__ import annotations

import pytest

from clients import i18n
from fupin.registry.v1 import registry_service_pb2 as api
from tests import factories
from tests.season.conftest import season  # noqa: F401  (the fixture)


@pytest.fixture(autouse=True)
def english_after():
    """--lang sets the process's language; later tests in this process expect English."""
    yield
    i18n.use("en")


def test_a_shipment_received_before_dispatch_is_refused_in_chinese(fupin, season):  # noqa: F811
    """Receiving a shipment still SHIPMENT_COMMITTED: FAILED_PRECONDITION naming both states
    in Chinese; the same call in English keeps the English text."""
    code, out, err = fupin("shipments", "list", "--run", season.run_id, "--output", "json")
    assert code == 0, err
    shipment = out.splitlines()[0].split('"id": "')[1].split('"')[0]
    receive = ("shipments", "receive", shipment, "--received-kg", "100")
    code, _, err = fupin("--lang", "zh-CN", *receive)
    assert code == 1
    assert f"发货单 {shipment} 的状态为已确认：只有已发货的发货单才能签收" in err, err
    code, _, err = fupin("--lang", "en", *receive)
    assert code == 1
    assert (
        f"shipment {shipment} is SHIPMENT_COMMITTED: only a SHIPMENT_DISPATCHED shipment can be "
        "received" in err
    ), err


def test_a_visit_to_a_household_not_contracted_is_refused_in_chinese(fupin, registry):
    """A cadre logs a visit (帮扶日志) to a household not contracted to it (结对帮扶)."""
    village = factories.create_village(registry)
    household = factories.create_household(registry, village.id)
    cadre = registry.CreateCadre(api.CreateCadreRequest(cadre=factories.cadre()))
    code, _, err = fupin(
        "--lang", "zh-CN", "cadres", "visit", cadre.id, household.id,
        "--date", "2020-05-01", "--done", "入户走访",
    )  # fmt: skip
    assert code == 1
    assert f"农户 {household.id} 不是干部 {cadre.id} 的结对帮扶户" in err, err


def test_a_filter_syntax_error_points_at_its_column_in_chinese(fupin, registry):
    """A filter that ends after `<`: INVALID_ARGUMENT naming the field and the column, in
    Chinese, with what was expected there."""
    code, _, err = fupin("--lang", "zh-CN", "list", "households", "--filter", "score < 60 AND (")
    assert code == 1
    assert "filter: 筛选条件不完整；此处应为 ( 或 NOT 或 字段名（第 17 列）" in err, err
    code, _, err = fupin("--lang", "zh-CN", "list", "households", "--filter", "score ~ 60")
    assert code == 1
    assert "filter: 意外的 '~'" in err, err
    assert "the filter" not in err and "unexpected" not in err, err
