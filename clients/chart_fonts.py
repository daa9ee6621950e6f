"""Chinese in matplotlib charts with nothing installed: the bundled subset of Noto Sans CJK SC
(clients/fonts/, SIL OFL 1.1, made by scripts/subset_font.py) behind DejaVu Sans, so Latin
text keeps matplotlib's default face and every CJK glyph falls back to the subset."""

from __future__ import annotations

from pathlib import Path

from matplotlib import font_manager, rcParams

FONT_FILE = Path(__file__).resolve().parent / "fonts" / "NotoSansCJKsc-Subset.otf"
_done: list[str] = []


def use_cjk_font() -> str:
    """Register the bundled font (once) and put it after DejaVu Sans; returns its name."""
    if not _done:
        font_manager.fontManager.addfont(str(FONT_FILE))
        _done.append(font_manager.FontProperties(fname=str(FONT_FILE)).get_name())
    name = _done[0]
    # A list of families, not the generic "sans-serif": matplotlib falls back glyph by glyph
    # only along font.family itself.
    rcParams["font.family"] = ["DejaVu Sans", name]
    return name
