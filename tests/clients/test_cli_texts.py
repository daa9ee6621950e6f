"""Every text the CLI writes for a person goes through the catalog (clients/i18n.py).

The abstract syntax trees of clients/ are walked for what is handed to the output layer
(`say`, `show`, the demo's `_say`, `print_table`'s headings) or raised as a UsageError: a
literal or an f-string with English words in it, not wrapped in `_()` or `ngettext`, is an
English-only text, and fails here. Values (ids, numbers, names) and the program's own name
are not words to translate.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = frozenset({"say", "show", "_say", "print_table", "UsageError", "CsvFormatError"})
TRANSLATED = frozenset({"_", "ngettext", "pgettext", "N_"})
WORD = re.compile(r"[A-Za-z]{3,}")
NOT_WORDS = frozenset({"fupin"})


def _literal_words(node: ast.AST) -> list[str]:
    """English words in the literal parts of `node`, outside any `_()` it contains."""
    if isinstance(node, ast.Call):  # _("...") translated; another call's literals are values
        translated = getattr(node.func, "id", None) in TRANSLATED
        return [] if translated else _literal_words(node.func)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [w for w in WORD.findall(node.value) if w.lower() not in NOT_WORDS]
    words: list[str] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FormattedValue):
            words += _literal_words(child.value) if isinstance(child.value, ast.Call) else []
        elif isinstance(child, ast.expr):
            words += _literal_words(child)
    return words


def _untranslated() -> list[str]:
    found = []
    for path in sorted((ROOT / "clients").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in ast.walk(tree):
            if not isinstance(call, ast.Call):
                continue
            name = getattr(call.func, "id", None) or getattr(call.func, "attr", None)
            if name not in OUTPUT:
                continue
            # print_table's rows are values; a CsvFormatError's violations name fields first
            args = call.args[:1] if name in ("print_table", "CsvFormatError") else call.args
            for arg in args:
                if words := _literal_words(arg):
                    where = f"{path.relative_to(ROOT)}:{call.lineno}"
                    found.append(f"{where}: {' '.join(words)}")
    return found


def test_every_text_the_cli_writes_for_people_is_in_the_catalog() -> None:
    """A new say("...") or UsageError(f"...") in English only fails here."""
    assert not _untranslated(), "\n".join(_untranslated())


def test_the_walk_sees_an_english_text() -> None:
    """The check can fail: an untranslated f-string is found, a translated one is not."""
    bad = ast.parse('say(f"deleted {kind} {id}")').body[0]
    good = ast.parse('say(_("deleted {kind} {id}").format(kind=k, id=i))').body[0]
    assert isinstance(bad, ast.Expr) and isinstance(good, ast.Expr)
    assert _literal_words(bad.value.args[0]) == ["deleted"]  # type: ignore[attr-defined]
    assert _literal_words(good.value.args[0]) == []  # type: ignore[attr-defined]


def test_no_text_is_translated_at_import() -> None:
    """A module-level `_()` runs on import, before --lang is read: it stays English. Tables
    of texts mark them with N_ and translate where they are shown."""
    early = []
    for path in sorted((ROOT / "clients").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                continue
            early += [
                f"{path.relative_to(ROOT)}:{call.lineno}"
                for call in ast.walk(node)
                if isinstance(call, ast.Call)
                and getattr(call.func, "id", None) in TRANSLATED - {"N_"}
            ]
    assert not early, early
