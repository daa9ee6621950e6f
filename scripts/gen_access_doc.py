"""Rewrite the policy table in docs/access.md from registry/access/policy.py
(registry/access/doc.py)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "proto")]

from registry.access import doc as access_doc  # noqa: E402

if __name__ == "__main__":
    doc = ROOT / "docs" / "access.md"
    doc.write_text(access_doc.render(doc.read_text()))
