"""A real fupin server on SQLite with the Zhao'an scenario, the console in front of it on a
free port, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from clients import scenario
from clients.auth import open_channel
from clients.cli import demo as cli_demo
from fupin.registry.v1 import access_service_pb2 as apb
from fupin.registry.v1 import access_service_pb2_grpc as apb_grpc
from fupin.registry.v1 import registry_service_pb2 as api
from fupin.registry.v1 import registry_service_pb2_grpc as api_grpc
from registry.access.policy import Role
from server.server import create_server
from server.settings import Settings
from tests import factories
from web import server as web_server
from web.settings import WebSettings

CHROMIUM = os.environ.get("FUPIN_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "orchard-plum-2020"
ZHAOAN = "350624"


@dataclass
class Site:
    url: str
    grpc_port: int
    admin_key: str
    users: dict[str, str] = field(default_factory=dict)  # role -> username
    ids: dict[str, str] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("web")
    settings = Settings(
        database_url=f"sqlite:///{base / 'fupin.db'}", address="127.0.0.1:0", grace_s=1
    )
    running = create_server(settings)
    running.start()
    admin_key = running.keys.create(Role.ADMIN).secret
    target = f"127.0.0.1:{running.port}"
    ids: dict[str, str] = {}
    with open_channel(target, api_key=admin_key) as channel:
        registry = api_grpc.RegistryServiceStub(channel)
        cli_demo.load(registry, scenario.build())
        for name, kind in (
            ("Medical aid 2020", factories.pb.MEDICAL_AID),
            ("Education grant 2020", factories.pb.EDUCATION_GRANT),
        ):
            registry.CreateAidProgram(
                api.CreateAidProgramRequest(
                    aid_program=factories.aid_program(display_name=name, kind=kind, causes=[])
                )
            )
        for i in range(60):  # enough to staff Zhao'an's poor villages: a stationing run proposes
            registry.CreateCadre(
                api.CreateCadreRequest(
                    cadre=factories.cadre(
                        home_region_code=ZHAOAN,
                        location=factories.pb.LatLng(
                            latitude=23.7 + (i % 12) * 0.02, longitude=117.1 + (i // 12) * 0.02
                        ),
                    )
                )
            )
        coops = [
            p
            for p in registry.ListProducers(api.ListProducersRequest(page_size=1000)).producers
            if p.kind == factories.pb.PRODUCER_COOPERATIVE
        ]
        ids["coop"] = coops[0].id
        ids["buyer"] = registry.ListBuyers(api.ListBuyersRequest(page_size=1)).buyers[0].id
        access = apb_grpc.AccessServiceStub(channel)
        users = {}
        for role, scope in (
            ("office", ZHAOAN),
            ("cooperative", ids["coop"]),
            ("platform", ids["buyer"]),
            ("auditor", ""),
            ("locked", ZHAOAN),
        ):
            username = f"{role}.user"
            access.CreateUser(
                apb.CreateUserRequest(
                    username=username,
                    password=PASSWORD,
                    role=apb.Role.Value("OFFICE" if role == "locked" else role.upper()),
                    scope=scope,
                    display_name=f"{role.title()} User",
                )
            )
            users[role] = username
    port = free_port()
    console = web_server.build(
        WebSettings(address=f"127.0.0.1:{port}", target=target, secret_key_file=base / "web.key")
    )
    thread = threading.Thread(target=console.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not console.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert console.started
    yield Site(f"http://127.0.0.1:{port}", running.port, admin_key, users, ids)
    console.should_exit = True
    thread.join(10)
    running.server.stop(0).wait()
    running.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    assert shutil.which(CHROMIUM) or Path(CHROMIUM).is_file(), "apt-get install chromium"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser, site):
    contexts = []

    def make(width: int = 1280, height: int = 800, locale: str = "en-GB"):
        context = browser.new_context(viewport={"width": width, "height": height}, locale=locale)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(page, site: Site, role: str, password: str = PASSWORD) -> None:
    page.goto(f"{site.url}/sign-in")
    page.fill("input[name=username]", site.users[role])
    page.fill("input[name=password]", password)
    page.click("form[action='/sign-in'] button[type=submit]")


def session_token(site: Site, role: str) -> str:
    """A session of the role's user through AccessService.SignIn, for calls made as it."""
    with open_channel(f"127.0.0.1:{site.grpc_port}") as channel:
        return str(
            apb_grpc.AccessServiceStub(channel)
            .SignIn(apb.SignInRequest(username=site.users[role], password=PASSWORD))
            .token
        )
