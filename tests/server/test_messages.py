"""The server's error texts in Chinese (server/messages.py): the catalog, and what a caller that
sends `accept-language: zh-CN` receives beside the English."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest
from babel.messages.pofile import read_po
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from fupin.matcher.v1 import matcher_service_pb2 as mpb
from fupin.matcher.v1 import matcher_service_pb2_grpc as mpb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import resources_pb2 as pb
from registry.access.policy import Role
from registry.errors import MAX_VIOLATIONS, FieldViolation, InvalidArgument
from server import messages
from tests.registry.test_errors import _bad_problem
from tests.rpcerrors import rpc_fails

ROOT = Path(__file__).resolve().parents[2]
ZH = [("accept-language", "zh-CN,zh;q=0.9,en;q=0.5")]


def test_language_of_accept_language():
    assert messages.language_of("zh-CN,zh;q=0.9") == "zh_CN"
    assert messages.language_of("zh") == "zh_CN"
    assert messages.language_of("en-GB,zh;q=0.5") is None  # English first
    assert messages.language_of("") is None


def test_texts_with_values_are_translated_with_them():
    """Holes take the values of the English text; a value the catalog knows is translated."""
    assert messages.translate("must be at most 100 characters", "zh_CN") == "最多 100 个字符"
    refusal = (
        "role auditor may not call CreateVillage: an auditor reads its region, the runs, "
        "the ledger and the audit log"
    )
    assert messages.translate(refusal, "zh_CN") == (
        "角色“审计员”不能调用 CreateVillage：审计员查看本地区、各次运行、台账和审计日志"
    )
    assert messages.translate("run run-1 is DISCARDED, not PROPOSED", "zh_CN") == (
        "运行 run-1 的状态为已放弃，不是待提交"
    )
    headline = InvalidArgument([FieldViolation(f"f{i}", "is required") for i in range(5)]).message
    assert messages.translate(headline, "zh_CN") == (
        "参数无效：f0：必填；f1：必填；f2：必填（另有 2 项）"
    )
    assert messages.translate("something no pattern says", "zh_CN") is None


def test_every_pattern_has_a_translation_with_the_same_holes():
    """The catalog is complete, and no translation drops or invents a hole."""
    path = ROOT / "server/locale/zh_CN/LC_MESSAGES/fupin_server.po"
    with path.open("rb") as f:
        catalog = {m.id: m.string for m in read_po(f) if m.id}
    holes = re.compile(r"\{([a-z_]+)\}")
    for pattern in messages.PATTERNS:
        assert catalog.get(pattern), pattern
        assert set(holes.findall(catalog[pattern])) == set(holes.findall(pattern)), pattern


def test_every_pattern_is_still_said_by_the_code():
    """The start of each pattern's longest literal piece is in the code that raises errors, so
    a message reworded there shows up here (its translation would no longer apply)."""
    sources = "".join(
        p.read_text(encoding="utf-8")
        for folder in ("registry", "matcher/service", "matcher/solvers", "server")
        for p in (ROOT / folder).rglob("*.py")
        if p.name != "messages.py"
    )
    sources += (ROOT / "proto/fupin/matcher/v1/matcher_service.proto").read_text()  # states
    for pattern in messages.PATTERNS:
        piece = max(re.split(r"\{[a-z_]+\}|[()]", pattern), key=len).strip()
        assert piece[:30] in sources, pattern  # a line of code may end past 30 characters


@pytest.fixture
def office_stub(server):
    """A registry stub whose calls carry an office key for county 350624 (and no language)."""
    from clients.auth import open_channel

    secret = server.keys.create(Role.OFFICE, "350624").secret
    with open_channel(f"127.0.0.1:{server.port}", api_key=secret) as channel:
        yield channel


def _status(error: grpc.RpcError):
    status = rpc_status.from_call(error)
    assert status is not None
    return status


def _localized(status) -> str | None:
    for detail in status.details:
        if detail.Is(error_details_pb2.LocalizedMessage.DESCRIPTOR):
            said = error_details_pb2.LocalizedMessage()
            detail.Unpack(said)
            assert said.locale == "zh-CN"
            return said.message
    return None


def test_a_chinese_caller_gets_chinese_beside_the_english(registry):
    """A village without a name: INVALID_ARGUMENT whose message and descriptions stay
    English, with a LocalizedMessage and each violation's localized_message in Chinese; a
    caller who asks for no language gets no translation."""
    request = api.CreateVillageRequest(village=pb.Village(admin_code="350624101001"))
    error = rpc_fails(
        lambda: registry.CreateVillage(request, metadata=ZH), grpc.StatusCode.INVALID_ARGUMENT
    )
    status = _status(error)
    assert status.message.startswith("invalid argument: village.display_name: is required")
    assert _localized(status).startswith("参数无效：village.display_name：必填")
    bad = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad)
    named = {v.field: (v.description, v.localized_message.message) for v in bad.field_violations}
    assert named["village.display_name"] == ("is required", "必填")
    plain = _status(
        rpc_fails(lambda: registry.CreateVillage(request), grpc.StatusCode.INVALID_ARGUMENT)
    )
    assert _localized(plain) is None


def test_a_refusal_names_role_and_alternative_in_chinese(server):
    """An auditor may not create a village: PERMISSION_DENIED, in Chinese naming the role and
    what it may do instead."""
    from clients.auth import open_channel
    from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc

    secret = server.keys.create(Role.AUDITOR).secret
    with open_channel(f"127.0.0.1:{server.port}", api_key=secret) as channel:
        stub = api_grpc.RegistryServiceStub(channel)
        request = api.CreateVillageRequest(village=pb.Village(display_name="x"))
        error = rpc_fails(
            lambda: stub.CreateVillage(request, metadata=ZH), grpc.StatusCode.PERMISSION_DENIED
        )
    assert _localized(_status(error)) == (
        "角色“审计员”不能调用 CreateVillage：审计员查看本地区、各次运行、台账和审计日志"
    )


def test_hundreds_of_violations_still_arrive_in_chinese(channel):
    """600 bad households, asked in Chinese: the status stays under 8 KB (the translations
    within their budget), the count of the rest is translated, and the first violations
    carry Chinese."""
    matcher = mpb_grpc.MatcherServiceStub(channel)
    error = rpc_fails(
        lambda: matcher.AllocateAid(_bad_problem(600), timeout=30, metadata=ZH),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    status = _status(error)
    assert len(status.SerializeToString()) < 8192
    bad = error_details_pb2.BadRequest()
    status.details[0].Unpack(bad)
    assert bad.field_violations[0].localized_message.message.startswith("必填")
    last = bad.field_violations[MAX_VIOLATIONS]
    assert last.localized_message.message == f"另有 {600 - MAX_VIOLATIONS} 项错误未列出"
    assert _localized(status).endswith(f"（另有 {600 - 3} 项）")


def test_the_compiled_catalog_matches_its_po():
    """The committed .mo is the .po compiled (scripts/i18n.py), so a fresh clone reads it."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("i18n_script", ROOT / "scripts/i18n.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    po = ROOT / "server/locale/zh_CN/LC_MESSAGES/fupin_server.po"
    assert po.with_suffix(".mo").read_bytes() == script.compile_po(po)


def test_commit_of_a_discarded_run_says_the_states_in_chinese(channel):
    """FAILED_PRECONDITION names the run's state and the one it needs, both in Chinese."""
    matcher = mpb_grpc.MatcherServiceStub(channel)
    problem = mpb.AidInlineProblem(
        households=[mpb.AidHousehold(id="h", village_code="350624001001", status=pb.IMPOVERISHED,
                                     score=40)],
        programmes=[mpb.AidProgramme(id="p", budget_fen=1000, amount_fen=100)],
    )  # fmt: skip
    run = matcher.AllocateAid(mpb.AllocateAidRequest(inline=problem), timeout=30)
    matcher.DiscardMatchRun(mpb.DiscardMatchRunRequest(id=run.id))
    error = rpc_fails(
        lambda: matcher.CommitMatchRun(mpb.CommitMatchRunRequest(id=run.id), metadata=ZH),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert _localized(_status(error)) == f"运行 {run.id} 的状态为已放弃，不是待提交"
