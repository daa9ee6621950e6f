"""deploy/k8s as kustomize renders it: valid for Kubernetes 1.30, and as operations.md says."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, str], Any]:
    """Every rendered object by (kind, name)."""
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed to render deploy/k8s (kustomize)"
    text = subprocess.run(
        [kubectl, "kustomize", str(ROOT / "deploy" / "k8s")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {(o["kind"], o["metadata"]["name"]): o for o in yaml.safe_load_all(text) if o}


def container(rendered: dict[tuple[str, str], Any], kind: str, name: str) -> Any:
    return rendered[(kind, name)]["spec"]["template"]["spec"]["containers"][0]


def test_every_object_matches_the_kubernetes_schemas(rendered: dict[tuple[str, str], Any]) -> None:
    """Strict validation: an unknown or misspelt field fails."""
    for obj in rendered.values():
        kubernetes_validate.validate(obj, "1.30.0", strict=True)


def test_fupin_services_are_probed_over_grpc_health(rendered: dict[tuple[str, str], Any]) -> None:
    """Readiness and liveness use grpc.health.v1 on the serving port, as the image's HEALTHCHECK."""
    for name in ("registry", "matcher"):
        spec = container(rendered, "Deployment", name)
        for probe in ("readinessProbe", "livenessProbe"):
            assert spec[probe]["grpc"]["port"] == 50051


def test_the_matcher_gets_three_times_the_registrys_cpu(
    rendered: dict[tuple[str, str], Any],
) -> None:
    """docs/operations.md: quick sourcing needs three times the weight (cpu_shares 3072)."""
    cpu = {
        name: container(rendered, "Deployment", name)["resources"]["requests"]["cpu"]
        for name in ("registry", "matcher")
    }
    assert int(cpu["matcher"].rstrip("m")) == 3 * int(cpu["registry"].rstrip("m"))


def test_only_matchers_and_the_console_reach_the_registry(
    rendered: dict[tuple[str, str], Any],
) -> None:
    """The registry's gRPC port admits pods labelled matcher or web, and no one else."""
    policy = rendered[("NetworkPolicy", "registry-ingress")]["spec"]
    grpc_rule = next(r for r in policy["ingress"] if r["ports"] == [{"port": 50051}])
    allowed = {p["podSelector"]["matchLabels"]["app.kubernetes.io/name"] for p in grpc_rule["from"]}
    assert allowed == {"matcher", "web"}


def test_secrets_come_from_the_generated_secret(rendered: dict[tuple[str, str], Any]) -> None:
    """The registry's database password and salt are secret references, never literals."""
    secret = next(name for kind, name in rendered if kind == "Secret")
    env = {e["name"]: e for e in container(rendered, "Deployment", "registry")["env"]}
    for name in ("DB_PASSWORD", "FUPIN_TRANSPARENCY_SALT"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == secret
    assert set(rendered[("Secret", secret)]["data"]) == {
        "db-password",
        "transparency-salt",
        "page-token-key",
        "ledger-signing-key",
    }
    for service in ("registry", "matcher"):  # page tokens good at any replica of either
        env = {e["name"]: e for e in container(rendered, "Deployment", service)["env"]}
        reference = env["FUPIN_PAGE_TOKEN_KEY"]["valueFrom"]["secretKeyRef"]
        assert reference == {"name": secret, "key": "page-token-key"}
