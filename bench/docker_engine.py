"""A Docker engine and docker-compose for bench/compose_e2e.py: Debian's docker.io and
docker-compose installed when missing, dockerd started when none answers (`--iptables=false`:
no NAT, so images are built with `network: host`)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench.common import say

ROOT = Path(__file__).resolve().parents[1]


class Engine:
    """The docker CLI that talks to a running engine (Debian's, which matches its dockerd)."""

    def __init__(self, docker: str) -> None:
        self.docker = docker

    @classmethod
    def ensure(cls) -> Engine:
        if not shutil.which("dockerd") or not shutil.which("docker-compose"):
            say("compose_e2e: installing docker.io and docker-compose (Debian)")
            apt = ["apt-get", "install", "-y", "-q", "docker.io", "docker-compose"]
            subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
            subprocess.run(apt, check=True, stdout=subprocess.DEVNULL)
        engine = cls("/usr/bin/docker" if Path("/usr/bin/docker").exists() else "docker")
        if not engine.answers():
            say("compose_e2e: starting dockerd --iptables=false")
            (ROOT / "var").mkdir(exist_ok=True)
            log = (ROOT / "var" / "dockerd.log").open("ab")
            subprocess.Popen(
                ["dockerd", "--iptables=false"], stdout=log, stderr=log, start_new_session=True
            )
            deadline = time.monotonic() + 60
            while not engine.answers():
                if time.monotonic() > deadline:
                    raise SystemExit(
                        "compose_e2e: dockerd did not answer in 60 s (var/dockerd.log)"
                    )
                time.sleep(0.5)
        return engine

    def answers(self) -> bool:
        done = subprocess.run([self.docker, "info"], capture_output=True, check=False)
        return done.returncode == 0

    def output(self, *argv: str) -> str:
        return subprocess.run(
            [self.docker, *argv], capture_output=True, text=True, check=True
        ).stdout.strip()


class Compose:
    def __init__(self, engine: Engine, env: dict[str, str]) -> None:
        self.engine = engine
        self.env = env
        self.command = (
            ["docker-compose"] if shutil.which("docker-compose") else ["docker", "compose"]
        )

    def run(self, *argv: str) -> None:
        subprocess.run(
            [*self.command, *argv], cwd=ROOT, env=self.env, check=True, stdout=sys.stderr
        )

    def output(self, *argv: str) -> str:
        done = subprocess.run(
            [*self.command, *argv], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise SystemExit(f"compose_e2e: {' '.join(argv)}: {done.stderr.strip()}")
        return done.stdout.strip()

    def containers(self, service: str) -> list[str]:
        return sorted(self.output("ps", "-q", service).split())
