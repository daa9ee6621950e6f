"""Cadre work after the contracting: visit logs, assessment and recall (CadreWorkService)."""
