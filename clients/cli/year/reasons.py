"""A risk entry's reasons in the CLI's language.

The server explains each part of a household's risk in English words with the values formatted
in (registry/year/risk.py), for logs and programs (JSON output keeps them so). For people, each
reason is matched against the patterns below, the English with {named} holes, and the pattern's
translation filled with what the holes held; a hole named `where` or `shock` holds a word that is
itself translated. A reason no pattern matches is shown as sent.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from clients.i18n import N_, _

# Most specific first: the first pattern that matches the whole reason is used.
PATTERNS = (
    N_("score {score} is at the line {line}"),
    N_("score {score} is {points} above the line {line}"),
    N_("score {score} is {points} below the line {line}"),
    N_("score fell {points} since the previous assessment"),
    N_("income {year} was {percent}% below {before}"),
    N_("{count} causes of poverty"),
    N_("{shock} on its {where} on {date} (severity {severity})"),
)
WORDS = (  # what the `where` and `shock` holes hold (the shocks' words are the server's)
    N_("household"),
    N_("village"),
    N_("county"),
    N_("disaster 灾害"),
    N_("illness 疾病"),
    N_("price collapse 价格暴跌"),
    N_("epidemic 疫情"),
    N_("job loss 失业"),
    N_("shock"),
)
TRANSLATED_HOLES = ("where", "shock")


@functools.cache
def _compiled() -> tuple[tuple[str, re.Pattern[str]], ...]:
    out = []
    for pattern in PATTERNS:
        parts = re.split(r"\{(\w+)\}", pattern)  # literal, name, literal, name, …
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>.+?)" for i, part in enumerate(parts)
        )
        out.append((pattern, re.compile(f"^{regex}$")))
    return tuple(out)


def reason_text(reason: str, translate: Callable[[str], str] = _) -> str:
    """The reason in the active language (or translate's: clients/i18n.py catalog)."""
    for pattern, regex in _compiled():
        found = regex.match(reason)
        if found:
            values = {
                name: translate(value) if name in TRANSLATED_HOLES else value
                for name, value in found.groupdict().items()
            }
            return translate(pattern).format(**values)
    return reason


def risk_reasons(entry: Any) -> str:
    """An entry's risk_reasons (a watchlist entry's), each in the active language."""
    return "; ".join(reason_text(r) for r in entry.risk_reasons)
