"""The checked-in generated code matches the .proto files (regenerate with `make proto`)."""

import filecmp
import subprocess
import sys


def test_generated_code_is_in_sync(tmp_path, repo_root):
    """Regenerating into a temp dir gives byte-identical files."""
    # In a child process: protoc's bundled libprotobuf aborts a process that loaded OR-Tools'.
    script = repo_root / "scripts" / "gen_proto.py"
    subprocess.run([sys.executable, str(script), str(tmp_path)], check=True, capture_output=True)
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert fresh, "protoc produced nothing"
    stale = [
        str(p)
        for p in fresh
        if not filecmp.cmp(tmp_path / p, repo_root / "proto" / p, shallow=False)
    ]
    assert not stale, f"generated code is stale, run `make proto`: {stale}"
    checked_in = {
        p.relative_to(repo_root / "proto")
        for p in (repo_root / "proto").rglob("*")
        if p.suffix in (".py", ".pyi") and p.name != "__init__.py"
    }
    assert checked_in == {p for p in fresh if p.name != "__init__.py"}, "orphan generated files"


def test_status_enums_mirror_the_proto():
    """registry.resources.scoring's enums carry the proto's numbers."""
    from fupin.registry.v1 import registry_service_pb2 as api
    from fupin.registry.v1 import resources_pb2 as pb
    from registry.resources.scoring import Status, WatchReason

    for status in Status:
        assert (
            pb.HouseholdStatus.Value(
                "HOUSEHOLD_STATUS_UNSPECIFIED" if status.name == "UNSPECIFIED" else status.name
            )
            == status.value
        )
    for reason in WatchReason:
        assert api.WatchReason.Value(reason.name) == reason.value
