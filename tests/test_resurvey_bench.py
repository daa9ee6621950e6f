"""bench/resurvey.py scaled down to 2,000 households on PostgreSQL: it runs and prints the one
JSON line issue 16 asks for (its figures are the bench's to measure, not this test's)."""

from __future__ import annotations

import json

import pytest

from bench import resurvey

KEYS = {"bench", "households", "changed", "dry_run_s", "commit_rows_per_s"}


@pytest.mark.postgres
def test_the_resurvey_bench_prints_its_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the bench's admin key file
    monkeypatch.setenv("FUPIN_API_KEY_FILE", "")  # the bench sets it; restored afterwards
    assert resurvey.main(["--rows", "2000", "--changed", "0.3"]) == 0
    line = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert set(line) >= KEYS and (line["bench"], line["db"]) == ("resurvey", "postgres")
    assert 1960 <= line["households"] <= 2040  # 1% new, 1% not surveyed, at random
    assert 0.25 * 2000 < line["changed"] < 0.4 * 2000
    assert line["dry_run_s"] > 0 and line["commit_rows_per_s"] > 0
