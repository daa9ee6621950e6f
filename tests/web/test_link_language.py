"""The console's calls carry the page's language, so the server's errors come back in it."""

from __future__ import annotations

import pytest

from clients.client import VILLAGES
from clients.errors import InvalidArgumentError, PermissionDeniedError
from fupin.registry.v1 import resources_pb2 as pb
from registry.access.policy import Role
from web.link import Channels
from web.settings import WebSettings


@pytest.fixture
def channels(server):
    opened = Channels(WebSettings(target=f"127.0.0.1:{server.port}"))
    yield opened
    opened.close()


def test_a_chinese_page_gets_the_servers_errors_in_chinese(server, channels):
    """A field error for a zh-CN page is Chinese beside its field; for an English page,
    English; a refusal names the role in Chinese."""
    admin = server.keys.create(Role.ADMIN).secret
    nameless = pb.Village(admin_code="350624101001")
    with pytest.raises(InvalidArgumentError) as chinese:
        channels.link(admin, "zh-CN").registry.create(VILLAGES, nameless)
    assert ("village.display_name", "必填") in chinese.value.localized_violations
    assert ("village.display_name", "is required") in chinese.value.field_violations
    with pytest.raises(InvalidArgumentError) as english:
        channels.link(admin, "en").registry.create(VILLAGES, nameless)
    assert ("village.display_name", "is required") in english.value.localized_violations
    auditor = server.keys.create(Role.AUDITOR).secret
    with pytest.raises(PermissionDeniedError) as refused:
        channels.link(auditor, "zh-CN").registry.create(VILLAGES, nameless)
    assert refused.value.localized_message.startswith("角色“审计员”不能调用 CreateVillage")
