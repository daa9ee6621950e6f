"""Failed sign-ins per client address (web/throttle.py): the counter with a clock of its own,
and a console on a real socket refusing one address while another signs in."""

from __future__ import annotations

import http.client
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator

import pytest

from tests.web.conftest import PASSWORD, Site, free_port
from web import server as web_server
from web.settings import WebSettings
from web.throttle import MAX_ADDRESSES, SignInThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_holds_for_the_window_then_lifts():
    clock = Clock()
    throttle = SignInThrottle(3, 900, clock)
    for _ in range(3):
        assert throttle.retry_after_s("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
        clock.now += 100
    # failures at 1000, 1100, 1200: refused until the first leaves the window at 1900
    assert throttle.retry_after_s("10.0.0.1") == 600
    assert throttle.retry_after_s("10.0.0.2") == 0
    clock.now = 1899.5
    assert throttle.retry_after_s("10.0.0.1") == 1
    clock.now = 1900
    assert throttle.retry_after_s("10.0.0.1") == 0


def test_off_at_zero_and_memory_bounded():
    off = SignInThrottle(0, 900)
    for _ in range(50):
        off.failed("10.0.0.1")
    assert off.retry_after_s("10.0.0.1") == 0
    throttle = SignInThrottle(1, 900, Clock())
    for i in range(MAX_ADDRESSES + 5):
        throttle.failed(f"addr-{i}")
    assert len(throttle._failures) == MAX_ADDRESSES
    assert throttle.retry_after_s("addr-0") == 0  # the oldest forgotten
    assert throttle.retry_after_s(f"addr-{MAX_ADDRESSES + 4}") > 0


@pytest.fixture
def strict_console(site: Site, tmp_path) -> Iterator[str]:
    """A second console before the same server, refusing an address after 3 failures."""
    port = free_port()
    console = web_server.build(
        WebSettings(
            address=f"127.0.0.1:{port}",
            target=f"127.0.0.1:{site.grpc_port}",
            secret_key_file=tmp_path / "web.key",
            sign_in_failures_per_address=3,
        )
    )
    thread = threading.Thread(target=console.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not console.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert console.started
    yield f"127.0.0.1:{port}"
    console.should_exit = True
    thread.join(10)


def sign_in(console: str, source: str, username: str, password: str) -> tuple[int, str, dict]:
    """GET the form (cookie and CSRF token), POST it from the source address."""
    host, port = console.split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    connection.request("GET", "/sign-in", headers={"Accept-Language": "zh-CN"})
    form = connection.getresponse()
    cookie = form.getheader("set-cookie", "").split(";")[0]
    match = re.search(r'name="csrf" value="([^"]+)"', form.read().decode())
    assert match and cookie
    body = urllib.parse.urlencode({"csrf": match[1], "username": username, "password": password})
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Cookie": cookie,
        "Accept-Language": "zh-CN",
    }
    connection.request("POST", "/sign-in", body=body, headers=headers)
    answer = connection.getresponse()
    page = answer.read().decode()
    connection.close()
    return answer.status, page, {k.lower(): v for k, v in answer.getheaders()}


def test_an_address_guessing_is_refused_while_another_signs_in(site, strict_console):
    """Three wrong passwords from 127.0.0.3 (across two accounts): its fourth try is 429 with
    Retry-After, even with the right password, and never reaches the access service (the
    account is not locked by it); 127.0.0.4 signs in with that account at once."""
    user = site.users["auditor"]
    for username in (user, "office.user", user):
        status, page, _ = sign_in(strict_console, "127.0.0.3", username, "wrong-guess")
        assert status == 401 and "用户名或密码错误" in page
    status, page, headers = sign_in(strict_console, "127.0.0.3", user, PASSWORD)
    assert status == 429 and "登录失败次数过多" in page
    assert 1 <= int(headers["retry-after"]) <= 900
    status, _, headers = sign_in(strict_console, "127.0.0.4", user, PASSWORD)
    assert status == 303 and headers["location"] == "/auditor/ledger"
