"""Make clients/fonts/NotoSansCJKsc-Subset.otf: the glyphs of Noto Sans CJK SC (SIL OFL 1.1)
that the charts need, so that a fresh clone draws Chinese with nothing installed.

    apt-get install fonts-noto-cjk      # the source font, only where the subset is made
    .venv/bin/python scripts/subset_font.py

The subset holds GB 2312's level-1 hanzi (the 3,755 most used characters: place and person
names in registry data), CJK and full-width punctuation, and every character of the zh_CN
catalog and of clients/ (tests/clients/test_i18n.py checks the catalog's are all there).
"""

from __future__ import annotations

import sys
from pathlib import Path

from fontTools import subset

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SC_INDEX = 2  # Noto Sans CJK SC within the collection
OUT = ROOT / "clients" / "fonts" / "NotoSansCJKsc-Subset.otf"


def gb2312_level1() -> set[str]:
    chars = set()
    for high in range(0xB0, 0xD8):
        for low in range(0xA1, 0xFF):
            try:
                chars.add(bytes([high, low]).decode("gb2312"))
            except UnicodeDecodeError:
                continue
    return chars


def wanted() -> set[str]:
    chars = gb2312_level1()
    chars |= {chr(c) for c in range(0x3000, 0x3040)}  # CJK punctuation
    chars |= {chr(c) for c in range(0xFF01, 0xFF5F)}  # full-width forms
    for path in [*ROOT.glob("clients/**/*.py"), *ROOT.glob("clients/locale/*/LC_MESSAGES/*.po")]:
        chars |= {ch for ch in path.read_text(encoding="utf-8") if ord(ch) >= 0x2E80}
    return chars


def main() -> int:
    options = subset.Options()
    options.font_number = SC_INDEX
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    options.hinting = False
    options.desubroutinize = False
    font = subset.load_font(str(SOURCE), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(wanted())))
    subsetter.subset(font)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    subset.save_font(font, str(OUT), options)
    print(f"{OUT.relative_to(ROOT)}: {OUT.stat().st_size / 1e6:.2f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
