"""Keep the gettext catalogs (clients/locale) with Babel: extract, update, compile.

    .venv/bin/python scripts/i18n.py          # after changing any message: then translate
                                              # the new entries in zh_CN's .po and run again

1. extracts `_()`, `N_()` and `ngettext()` messages from clients/ into clients/locale/fupin.pot
   (Babel's extractor), adding every enum value people see (context: the enum's full name)
   and the CLI's table headings, which are not literals at the call;
2. updates each language's .po from it (new messages untranslated, gone ones made obsolete);
3. compiles each .po to the .mo that clients/i18n.py loads (committed: a fresh clone needs
   no build; tests/clients/test_i18n.py checks that they match).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "proto")]

from clients.cli.output import COLUMNS  # noqa: E402
from clients.i18n import DOMAIN, LANGUAGES, LOCALE_DIR  # noqa: E402
from fupin.matcher.v1 import matcher_service_pb2  # noqa: E402
from fupin.registry.v1 import (  # noqa: E402
    ledger_service_pb2,
    resources_pb2,
    season_service_pb2,
    year_service_pb2,
)
from server.messages import DOMAIN as SERVER_DOMAIN  # noqa: E402
from server.messages import LOCALE_DIR as SERVER_LOCALE_DIR  # noqa: E402
from server.messages import LOCALES as SERVER_LOCALES  # noqa: E402

KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
ENUM_MODULES = (
    resources_pb2,
    matcher_service_pb2,
    year_service_pb2,
    season_service_pb2,
    ledger_service_pb2,
)


def template() -> Catalog:
    catalog = Catalog(project="fupin", charset="utf-8")
    for path, line, message, _comments, context in extract_from_dir(
        ROOT / "clients", method_map=[("**.py", "python")], keywords=KEYWORDS
    ):
        catalog.add(message, locations=[(f"clients/{path}", line)], context=context)
    for module in ENUM_MODULES:
        for enum in module.DESCRIPTOR.enum_types_by_name.values():
            for value in enum.values:
                if not value.name.endswith("UNSPECIFIED"):
                    catalog.add(value.name, context=enum.full_name)
    for what, columns in COLUMNS.items():
        catalog.add(what, auto_comments=["a kind of row in a CLI table"])
        for heading, _path in columns:
            catalog.add(heading, auto_comments=["a CLI table heading"])
    return catalog


def server_template() -> Catalog:
    """The server's error texts: the patterns of server/messages.py (their holes in braces)."""
    catalog = Catalog(project="fupin", charset="utf-8")
    for path, line, message, _comments, context in extract_from_dir(
        ROOT / "server",
        method_map=[
            ("messages.py", "python"),
            ("message_texts.py", "python"),
            ("solver_texts.py", "python"),
        ],
        keywords={"N_": None},
    ):
        catalog.add(message, locations=[(f"server/{path}", line)], context=context)
    return catalog


def sync(
    pot: Catalog, language: str, locale_dir: Path = LOCALE_DIR, domain: str = DOMAIN
) -> Catalog:
    path = locale_dir / language / "LC_MESSAGES" / f"{domain}.po"
    if path.exists():
        with path.open("rb") as f:
            catalog = read_po(f, locale=language)
        catalog.update(pot, no_fuzzy_matching=True)
    else:
        catalog = Catalog(locale=language, project="fupin", charset="utf-8")
        catalog.update(pot, no_fuzzy_matching=True)
    catalog.obsolete.clear()  # git keeps history; the .po holds what is used
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, catalog, width=100, omit_header=False, sort_output=True)
    return catalog


def compile_po(po: Path) -> bytes:
    """The .mo bytes of a .po file (what tests compare with the committed .mo)."""
    import io

    with po.open("rb") as f:
        catalog = read_po(f)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def main() -> int:
    pot = template()
    with (LOCALE_DIR / f"{DOMAIN}.pot").open("wb") as f:
        write_po(f, pot, width=100, sort_output=True, omit_header=True)
    for language in LANGUAGES:
        catalog = sync(pot, language)
        po = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
        (po.with_suffix(".mo")).write_bytes(compile_po(po))
        missing = sum(1 for m in catalog if m.id and not m.string)
        if language != "en":
            print(f"{language}: {len(catalog) - 1} messages, {missing} untranslated")
    server_pot = server_template()
    with (SERVER_LOCALE_DIR / f"{SERVER_DOMAIN}.pot").open("wb") as f:
        write_po(f, server_pot, width=100, sort_output=True, omit_header=True)
    for language in SERVER_LOCALES:
        catalog = sync(server_pot, language, SERVER_LOCALE_DIR, SERVER_DOMAIN)
        po = SERVER_LOCALE_DIR / language / "LC_MESSAGES" / f"{SERVER_DOMAIN}.po"
        (po.with_suffix(".mo")).write_bytes(compile_po(po))
        missing = sum(1 for m in catalog if m.id and not m.string)
        print(f"server {language}: {len(catalog) - 1} messages, {missing} untranslated")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
