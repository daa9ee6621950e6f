"""Chinese and English for what the CLI, the demo and the charts show people.

Catalogs are gettext's, kept with Babel (`scripts/i18n.py`: extract, update, compile) in
clients/locale/{en,zh_CN}/LC_MESSAGES/fupin.po, with the compiled .mo files committed so that
a fresh clone needs no build step (tests/clients/test_i18n.py checks they match the .po).

The language: `--lang`, else FUPIN_LANG, else the locale (LC_ALL, LC_MESSAGES, LANG), else
English. `zh`, `zh-CN`, `zh_CN.UTF-8` all mean simplified Chinese.

Enum values are shown by `enum_name`: English shows the proto name (as the API spells it),
Chinese the term an office uses; their catalog entries have the enum's full name as context.
"""

from __future__ import annotations

import argparse
import gettext
import os
from collections.abc import Callable
from pathlib import Path

from google.protobuf.descriptor import EnumDescriptor

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "fupin"
LANGUAGES = ("en", "zh_CN")
DEFAULT = "en"

_active: gettext.NullTranslations = gettext.NullTranslations()
_language = DEFAULT


def normalise(tag: str) -> str | None:
    """`zh-CN`, `zh_CN.UTF-8`, `zh` -> zh_CN; `en_GB.UTF-8`, `C` -> en; None if unknown."""
    base = tag.split(".")[0].split("@")[0].replace("-", "_").strip()
    if not base:
        return None
    if base.lower().startswith("zh"):
        return "zh_CN"
    if base.lower().startswith("en") or base in ("C", "POSIX"):
        return "en"
    return None


def choose(lang: str | None = None) -> str:
    """The language to use: the flag, FUPIN_LANG, the locale variables, else English."""
    for tag in (lang, os.environ.get("FUPIN_LANG")):
        if tag:
            chosen = normalise(tag)
            if chosen is None:
                raise ValueError(f"unknown language {tag!r}: use en or zh-CN")
            return chosen
    for name in ("LC_ALL", "LC_MESSAGES", "LANG"):
        tag = os.environ.get(name)
        if tag:
            return normalise(tag) or DEFAULT
    return DEFAULT


def use(lang: str | None = None) -> str:
    """Make `lang` (as `choose` reads it) the language of every later message; returns it."""
    global _active, _language
    _language = choose(lang)
    _active = gettext.translation(DOMAIN, LOCALE_DIR, languages=[_language], fallback=True)
    return _language


def language() -> str:
    return _language


def catalog(lang: str) -> Callable[[str], str]:
    """Gettext of the catalog of `lang` (as `normalise` reads it), whatever the active one: the
    web console speaks each request's language."""
    chosen = normalise(lang) or DEFAULT
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[chosen], fallback=True).gettext


def _(message: str) -> str:
    """A message in the active language (the English text is the catalog's key)."""
    return _active.gettext(message)


def N_(message: str) -> str:  # noqa: N802 (gettext's name for a marker)
    """Marks a message for the catalog, translated later where it is shown."""
    return message


def pgettext(context: str, message: str) -> str:
    """A message whose English is shared with another meaning (a key's ROLE, not a cadre's)."""
    return _active.pgettext(context, message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _active.ngettext(singular, plural, n)


def enum_name(enum: EnumDescriptor, number: int) -> str:
    """An enum value for people: its proto name in English, the catalog's word in Chinese."""
    value = enum.values_by_number.get(number)
    if value is None:
        return str(number)
    return _active.pgettext(enum.full_name, value.name)


# argparse's own words, translated in the catalog (argparse asks gettext for them by these).
ARGPARSE_WORDS = (
    N_("usage: "),
    N_("positional arguments"),
    N_("options"),
    N_("show this help message and exit"),
    N_("%(prog)s: error: %(message)s\n"),
    N_("the following arguments are required: %s"),
    N_("unrecognized arguments: %s"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("argument %(argument_name)s: %(message)s"),
    N_("expected one argument"),
    N_("invalid %(type)s value: %(value)r"),
    N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("one of the arguments %s is required"),
    N_("not allowed with argument %s"),
)


def argparse_speaks_it() -> None:
    """argparse says "usage:", "options" and its errors through the gettext functions it
    imported; pointed at this module's, they come from our catalog in --lang's language."""
    argparse._ = _  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]
