"""Errors in the caller's language: what the server says, translated by pattern.

Errors are raised in English where they arise (registry/errors.py), their values formatted in.
To reach a person in Chinese, the interceptor (server/interceptor.py) hands the status it
sends to `localize`, with the caller's `accept-language` (the CLI sends its --lang, the web
console the page's language). The English stays in the status message and in each field
violation's description, for logs and programs; the translation travels beside it:

- a `google.rpc.LocalizedMessage` detail (locale "zh-CN") with the message;
- each `google.rpc.BadRequest.FieldViolation`'s `localized_message`.

How a text is found: each entry of PATTERNS is the English text with {named} holes, as the
code formats it ("must be at most {limit} characters"); the first whose holes can be filled
to give the whole text wins, and its translation (the catalog's msgstr, with the same holes)
is filled with what they held, each value translated in turn when it is itself a text of the
catalog (a run state, what a role may do instead). A hole named `*_list` holds "; "-separated
texts, each translated; one named `*_alts` " or "-separated ones (what a filter expected). A
text no pattern matches stays English.

The catalog is gettext's, kept with Babel by scripts/i18n.py like the client's:
server/locale/zh_CN/LC_MESSAGES/fupin_server.po (the patterns are its msgids), compiled to the
.mo read here. Translations cost bytes (3 a Chinese character): LOCALIZED_BUDGET bounds what
they add, so the status still arrives (registry/errors.py's DETAILS_BUDGET).
"""

from __future__ import annotations

import functools
import gettext
import re
from pathlib import Path

from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from server import message_texts, solver_texts
from server.message_texts import N_

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "fupin_server"
LOCALES = {"zh_CN": "zh-CN"}  # catalog language -> BCP 47 tag in LocalizedMessage
LOCALIZED_BUDGET = 3072  # bytes the translations may add to one status
MAX_DEPTH = 3


# Most specific first: the first pattern that matches the whole text is used.
_PATTERNS: tuple[str, ...] = (
    # registry/errors.py: the headline of INVALID_ARGUMENT, and the count of the rest
    N_("invalid argument: {shown_list} (+{more} more)"),
    N_("invalid argument: {shown_list}"),
    N_("+{count} more violations not shown"),
    # registry/resources/checks.py and the request checks
    N_("is required (one of {values})"),
    N_("is required"),
    N_("must be at most {limit} characters"),
    N_("must not contain control characters"),
    N_("must be between {low} and {high}, got {value}"),
    N_("must be at least {low}, got {value}"),
    N_("must be between {low} and {high}"),
    N_("must be at most {limit} (the limit)"),
    N_("must be at most {limit} {unit}"),
    N_("must have at most {limit} elements"),
    N_("must not be negative"),
    N_("must be positive"),
    N_("unknown value {value}"),
    N_("at most {count} items"),
    N_("must be a lower-case tag such as 'ecommerce'"),
    N_("must be a date YYYY-MM-DD, got {value}"),
    N_("must be an administrative code prefix"),
    N_("must be 0 (every season) or from {low} to {high}"),
    N_("is required: a year from {low} to {high}"),
    # registry/reports/servicer.py: a report's years and area
    N_("must be 2000-2100 (0: the default)"),
    N_("must not be after to_year"),
    N_("a report spans at most {years} years"),
    N_("is not a report area"),
    N_("must not be before available_from"),
    N_("at least one grade is required"),
    N_("at least one status is required"),
    N_("is listed twice"),
    N_("is not a PovertyCause name"),
    N_("are required for a cooperative and only for one"),
    N_("is required for a household producer and only for one"),
    N_("is required with min_amount_fen (a range of amounts)"),
    N_("must be at least team_min"),
    N_("must be at least rules.team_min"),
    N_("shares must sum to 1000 permille"),
    N_("repeats id {value}"),
    N_("must be up to 12 digits"),
    N_("is not a valid id (1-40 letters, digits, - or _)"),
    N_("is not a valid id (up to 40 letters, digits, - or _)"),
    N_("is not a valid id"),
    N_("is not a token this server issued"),
    N_("was issued for a different filter"),
    N_("set either inline or selection"),
    N_("set either listings or listing_columns, not both"),
    N_("no longer exists"),
    N_("unknown field {path}; filterable: {fields}"),
    N_("unknown field {path}"),
    N_("{path} is output only"),
    N_("{description} (at column {column})"),
    N_("is not a valid protobuf message for this method"),
    N_("must say why, in 1-200 characters"),
    N_("is not a village of region {region}"),
    N_("repeats row {row}"),
    # not found, already there
    N_("aid programme {id} not found"),
    N_("{kind} {id} not found"),
    N_("a {kind} with this {column} exists"),
    N_("{kind} {id} is still referenced by other resources"),
    # who may do what (registry/access/policy.py, scopes)
    N_("role {role} may not call {method}: {instead}"),
    N_("{method} reads every scope: it needs a key without a scope"),
    N_("region {region} is outside your key's scope"),
    N_("{field} {value} lies outside this key's scope {scope}"),
    N_("the {kind} would lie outside your key's scope"),
    N_("{column} {value} is outside your key's scope (and {more} more)"),
    N_("{column} {value} is outside your key's scope"),
    N_(
        "role platform may commit, discard or cancel only the runs it made; run {id} was made "
        "by another caller (read it with GetMatchRun)"
    ),
    N_(
        "an office manages the villages, households, producers, listings, cadres and aid "
        "programmes of its region, onboards its cooperatives, and makes, commits and discards "
        "its region's aid and cadre runs"
    ),
    N_(
        "a cooperative creates, changes and deletes its own listings and reads what became of "
        "them in produce runs (fupin outcomes); an office or an admin creates its producer"
    ),
    N_(
        "a platform manages its buyer's orders, calls MatchProduce and QuickSource on them and "
        "commits, discards or cancels its own runs; an admin creates its buyer"
    ),
    N_("an auditor reads its region, the runs, the ledger and the audit log"),
    N_(
        "role office reads the produce runs that sell its producers' produce; the platform "
        "that made the run, or an admin, commits, discards or cancels it"
    ),
    N_(
        "scope {scope}: the producer lies outside this office's region {region}; its own "
        "office or an admin creates its key"
    ),
    N_("no API key: send metadata 'authorization: Bearer <key>'"),
    N_("the API key is unknown or revoked"),
    N_("the API key is malformed"),
    N_("the authorization metadata must read 'Bearer <key>'"),
    N_("send exactly one 'authorization: Bearer <key>' entry"),
    N_("wrong username or password"),
    # runs (matcher/service, registry/runs): states
    N_("run {id} is {state}, not PROPOSED"),
    N_("run {id} is already {state}"),
    N_("run {id} is being solved by {owner}"),
    N_("run {id} is not a {kind} run"),
    N_("run {id} solved an inline problem (a what-if): nothing to commit"),
    N_("run {id} solved an inline problem; only registry selections can be committed"),
    N_("the registry changed; the run no longer applies: {names}"),
    N_("the registry changed; the grants no longer fit: {names}"),
    N_("registry unavailable: {reason}"),
    N_("QUEUED"),
    N_("RUNNING"),
    N_("PROPOSED"),
    N_("COMMITTED"),
    N_("DISCARDED"),
    N_("FAILED"),
    N_("CANCELLED"),
    # limits, load
    N_(
        "rate limit of this API key exceeded ({rate} calls/s, bursts of {burst}; settings "
        "rate_limit_per_s, rate_limit_burst)"
    ),
    N_("an import holds at most {count} rows"),
    # words that fill holes above: roles, kinds
    N_("admin"),
    N_("office"),
    N_("cooperative"),
    N_("platform"),
    N_("auditor"),
    N_("village"),
    N_("household"),
    N_("producer"),
    N_("listing"),
    N_("buyer"),
    N_("order"),
    N_("cadre"),
    N_("aid_program"),
    N_("run"),
    N_("case"),
    N_("shipment"),
    N_("user"),
)
PATTERNS = (
    *message_texts.FIRST,
    *_PATTERNS,
    *message_texts.SPECIFIC,
    *solver_texts.SOLVERS,
    *message_texts.LAST,
)
HOLE = re.compile(r"\{([a-z_]+)\}")


def language_of(accept_language: str) -> str | None:
    """The catalog language an Accept-Language value asks for first (`zh-CN,zh;q=0.9,en`
    -> zh_CN); None for English or anything without a catalog."""
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh_CN"
        if tag.startswith("en") or tag == "*":
            return None
    return None


@functools.cache
def _compiled() -> tuple[tuple[str, re.Pattern[str], tuple[str, ...]], ...]:
    out = []
    for pattern in PATTERNS:
        names = tuple(HOLE.findall(pattern))
        regex = "".join(
            f"(?P<{piece}>.+?)" if i % 2 else re.escape(piece)
            for i, piece in enumerate(HOLE.split(pattern))
        )
        out.append((pattern, re.compile(regex, re.DOTALL), names))
    return tuple(out)


@functools.cache
def _catalog(language: str) -> gettext.NullTranslations:
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def translate(text: str, language: str, depth: int = 0) -> str | None:
    """`text` in `language`, or None when no pattern of the catalog says it."""
    catalog = _catalog(language)
    for pattern, regex, _names in _compiled():
        match = regex.fullmatch(text)
        if match is None:
            continue
        translated = catalog.gettext(pattern)
        if translated == pattern:
            continue  # not translated (yet): try a less specific pattern
        values = {
            name: _value(name, value, language, depth) for name, value in match.groupdict().items()
        }
        try:
            return translated.format(**values)
        except (KeyError, IndexError, ValueError):  # a msgstr whose holes do not match
            return None
    return None


def _value(name: str, value: str, language: str, depth: int) -> str:
    if depth >= MAX_DEPTH:
        return value
    if name.endswith("_list"):
        return "；".join(_item(item, language, depth) for item in value.split("; "))
    if name.endswith("_alts"):
        return " 或 ".join(
            translate(item, language, depth + 1) or item for item in value.split(" or ")
        )
    return translate(value, language, depth + 1) or value


def _item(item: str, language: str, depth: int) -> str:
    """One "field: description" of an INVALID_ARGUMENT headline."""
    field, sep, description = item.partition(": ")
    if not sep:
        return translate(item, language, depth + 1) or item
    return f"{field}：{translate(description, language, depth + 1) or description}"


def localize(status: status_pb2.Status, accept_language: str) -> None:
    """Add to `status`, in place, the translations `accept_language` asks for (see above)."""
    language = language_of(accept_language)
    if language is None:
        return
    locale = LOCALES[language]
    budget = LOCALIZED_BUDGET
    for detail in status.details:
        if not detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            continue
        bad = error_details_pb2.BadRequest()
        detail.Unpack(bad)
        for violation in bad.field_violations:
            text = translate(violation.description, language)
            if text is None or len(text.encode()) + 16 > budget:
                continue
            budget -= len(text.encode()) + 16
            violation.localized_message.locale = locale
            violation.localized_message.message = text
        detail.Pack(bad)
    text = translate(status.message, language)
    if text is not None and len(text.encode()) + 16 <= budget:
        packed = any_pb2.Any()
        packed.Pack(error_details_pb2.LocalizedMessage(locale=locale, message=text))
        status.details.append(packed)
