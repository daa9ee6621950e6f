"""List filters in the AIP-160 language, parsed by a grammar and translated into SQL.

    score < 60 AND causes:ILLNESS AND NOT status = LIFTED_OUT
    (kind = PRODUCER_COOPERATIVE OR kind = PRODUCER_ENTERPRISE) AND village_id = "vil-3"

- comparisons `=`, `!=`, `<`, `<=`, `>`, `>=` on a field and a value; `:` on a repeated field
  ("has": `causes:ILLNESS` holds when ILLNESS is among the causes);
- `AND`, `OR`, `NOT` and parentheses. As AIP-160 says, OR binds tighter than AND:
  `a AND b OR c` is `a AND (b OR c)`;
- values: "quoted" or 'quoted' strings, numbers, enum names (or numbers), true and false.
  A bare word is taken as the field's type wants it (`county_code = 350624` is the string).

Each List RPC declares its fields (name -> FilterField: column, type, repeated); a name that
is not declared, a value of the wrong type or an operator the type has not got is refused with
INVALID_ARGUMENT on `filter`, the description ending "(at column N)" where the fault is. Values
reach the database as bound parameters only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from lark import Lark, Token, Transformer, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from registry.errors import InvalidArgument

MAX_LENGTH = 1000
FilterType = type | EnumTypeWrapper  # str, int, float, bool or a proto enum
ORDERED = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class FilterField:
    """A filterable field: the table column it reads, its type, whether it is repeated."""

    column: str
    type: FilterType
    repeated: bool = False


def declare(spec: FilterField | tuple[str, FilterType]) -> FilterField:
    return spec if isinstance(spec, FilterField) else FilterField(spec[0], spec[1])


# The syntax tree: comparisons joined by And/Or/Not. `column` is where the term starts.
@dataclass(frozen=True)
class Compare:
    field: str
    op: str
    value: str  # as written, quotes removed
    quoted: bool
    column: int  # of the field name, 1-based
    value_column: int


@dataclass(frozen=True)
class And:
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    term: Node


Node = Compare | And | Or | Not

GRAMMAR = r"""
?start: conj
?conj: disj (_AND disj)*
?disj: factor (_OR factor)*
?factor: _NOT factor -> negation
       | _LPAR conj _RPAR
       | NAME OPERATOR value -> compare
?value: STRING | WORD
_AND: "AND"
_OR: "OR"
_NOT: "NOT"
_LPAR: "("
_RPAR: ")"
NAME: /[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*/
OPERATOR: "<=" | ">=" | "!=" | "=" | "<" | ">" | ":"
STRING: /"(?:[^"\\]|\\.)*"/ | /'(?:[^'\\]|\\.)*'/
WORD: /-?[A-Za-z0-9_][A-Za-z0-9_.\-]*/
%ignore /[ \t\r\n]+/
"""
_PARSER = Lark(GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=False)
_EXPECTED = {
    "NAME": "a field name",
    "OPERATOR": "an operator (= != < <= > >= :)",
    "STRING": "a value",
    "WORD": "a value",
    "_AND": "AND",
    "_OR": "OR",
    "_NOT": "NOT",
    "_LPAR": "(",
    "_RPAR": ")",
    "$END": "the end",
}


class _Build(Transformer[Token, Node]):
    def conj(self, terms: list[Node]) -> Node:
        return And(tuple(terms))

    def disj(self, terms: list[Node]) -> Node:
        return Or(tuple(terms))

    def negation(self, terms: list[Node]) -> Node:
        return Not(terms[0])

    def compare(self, items: list[Token]) -> Node:
        name, op, value = items
        quoted = value.type == "STRING"
        text = _unquote(str(value)) if quoted else str(value)
        return Compare(str(name), str(op), text, quoted, name.column or 0, value.column or 0)


def _unquote(literal: str) -> str:
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            i += 1
        out.append(body[i])
        i += 1
    return "".join(out)


def fail(column: int, description: str) -> InvalidArgument:
    return InvalidArgument.one("filter", f"{description} (at column {column})")


def parse(text: str) -> Node | None:
    """The syntax tree of a filter (None for an empty one); InvalidArgument pointing at the
    column of the first fault."""
    if not text.strip():
        return None
    if len(text) > MAX_LENGTH:
        raise InvalidArgument.one("filter", f"must be at most {MAX_LENGTH} characters")
    for i, char in enumerate(text):
        if (ord(char) < 32 and char not in "\t\r\n") or ord(char) == 127:
            raise fail(i + 1, "control characters are not allowed")
    try:
        tree = _PARSER.parse(text)
    except UnexpectedInput as exc:
        raise _syntax_error(text, exc) from None
    return _Build().transform(tree)


def _syntax_error(text: str, exc: UnexpectedInput) -> InvalidArgument:
    if isinstance(exc, UnexpectedCharacters):
        return fail(exc.column, f"unexpected {text[exc.pos_in_stream or 0]!r}")
    expected = sorted({_EXPECTED.get(t, t) for t in getattr(exc, "expected", ()) or ()})
    wanted = f"; expected {' or '.join(expected)}" if expected else ""
    if isinstance(exc, UnexpectedToken) and exc.token.type != "$END":
        return fail(exc.column, f"unexpected {str(exc.token)!r}{wanted}")
    return fail(len(text.rstrip()) + 1, f"the filter ends too early{wanted}")


def coerce(node: Compare, spec: FilterField) -> Any:
    """The value of a comparison as the field's type wants it."""
    kind, raw = spec.type, node.value
    if isinstance(kind, EnumTypeWrapper):
        if not node.quoted and raw.isdigit() and int(raw) in kind.values():
            return int(raw)
        if raw in kind.DESCRIPTOR.values_by_name:
            return kind.Value(raw)
        known = kind.DESCRIPTOR.values_by_name
        names = ", ".join(n for n in known if not n.endswith("UNSPECIFIED"))
        raise fail(node.value_column, f"{node.field}: unknown value {raw!r}; one of {names}")
    if kind is bool:
        if raw not in ("true", "false") or node.quoted:
            raise fail(node.value_column, f"{node.field}: expected true or false")
        return raw == "true"
    if kind is int:
        try:
            return int(raw)
        except ValueError:
            raise fail(node.value_column, f"{node.field}: expected an integer") from None
    if kind is float:
        try:
            return float(raw)
        except ValueError:
            raise fail(node.value_column, f"{node.field}: expected a number") from None
    return raw


def check(node: Compare, fields: Mapping[str, FilterField | tuple[str, FilterType]]) -> Any:
    """The comparison's value, once its field, operator and value are known to fit."""
    if node.field not in fields:
        allowed = ", ".join(sorted(fields)) or "none"
        raise fail(node.column, f"unknown field {node.field!r}; filterable: {allowed}")
    spec = declare(fields[node.field])
    if spec.repeated and node.op != ":":
        raise fail(node.column, f"{node.field} is repeated: write {node.field}:VALUE")
    if not spec.repeated and node.op == ":":
        raise fail(node.column, f"':' applies to repeated fields; {node.field} takes =")
    ordered = spec.type in (int, float, str)
    if node.op in ORDERED and not ordered:
        raise fail(node.column, f"{node.field} compares with = and != only")
    return coerce(node, spec)


def equalities(
    text: str, fields: Mapping[str, FilterField | tuple[str, FilterType]]
) -> dict[str, Any]:
    """Column -> value for the Lists whose rows are not read by one SQL query (match runs
    through the registry source, API keys, audit events): only `field = value` terms joined
    by AND are accepted there."""
    node = parse(text)
    terms = () if node is None else node.terms if isinstance(node, And) else (node,)
    out: dict[str, Any] = {}
    for term in terms:
        if not isinstance(term, Compare) or term.op != "=":
            column = term.column if isinstance(term, Compare) else 1
            raise fail(column, "this list takes field = value terms joined by AND only")
        value = check(term, fields)
        out[declare(fields[term.field]).column] = value
    return out
