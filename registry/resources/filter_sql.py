"""Filters as SQL: a parsed filter (filters.py) becomes a SQLAlchemy condition with bound
parameters, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import and_, bindparam, func, not_, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import Boolean

from registry.resources.filters import (
    ORDERED,
    And,
    FilterField,
    FilterType,
    Node,
    Not,
    Or,
    check,
    declare,
    parse,
)


def condition(
    text: str, table: Any, fields: Mapping[str, FilterField | tuple[str, FilterType]]
) -> ColumnElement[bool] | None:
    """The SQL condition of a filter over `table`'s columns (None for an empty filter)."""
    node = parse(text)
    return None if node is None else _sql(node, table, fields)


def _sql(
    node: Node, table: Any, fields: Mapping[str, FilterField | tuple[str, FilterType]]
) -> ColumnElement[bool]:
    if isinstance(node, And):
        return and_(*(_sql(t, table, fields) for t in node.terms))
    if isinstance(node, Or):
        return or_(*(_sql(t, table, fields) for t in node.terms))
    if isinstance(node, Not):
        return not_(_sql(node.term, table, fields))
    value = check(node, fields)
    spec = declare(fields[node.field])
    column: Any = getattr(table, spec.column)
    if spec.repeated:
        return JsonHas(column, value)
    if column.nullable and spec.type is str:
        column = func.coalesce(column, "")  # an absent reference filters as ""
    if spec.type is str and node.op in ORDERED:
        column = ByteOrder(column)
    ops = {
        "=": column.__eq__,
        "!=": column.__ne__,
        "<": column.__lt__,
        "<=": column.__le__,
        ">": column.__gt__,
        ">=": column.__ge__,
    }
    return ops[node.op](value)  # type: ignore[no-any-return]


class JsonHas(ColumnElement[bool]):
    """A JSON array column holds a value (`causes:ILLNESS`), the value a bound parameter."""

    type = Boolean()
    inherit_cache = False  # the value is compiled in: no cached SQL for it

    def __init__(self, column: Any, value: Any) -> None:
        self.column = column
        self.value = value


@compiles(JsonHas, "postgresql")
def _json_has_postgresql(element: JsonHas, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    value = compiler.process(bindparam(None, json.dumps([element.value]), unique=True), **kw)
    return f"(CAST({column} AS JSONB) @> CAST({value} AS JSONB))"


@compiles(JsonHas)
def _json_has_sqlite(element: JsonHas, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    value = compiler.process(bindparam(None, element.value, unique=True), **kw)
    return f"EXISTS (SELECT 1 FROM json_each({column}) WHERE json_each.value = {value})"


class ByteOrder(ColumnElement[Any]):
    """A text column compared in code-point order on every backend (PostgreSQL's default
    collation may sort otherwise; SQLite's BINARY already does, as does UTF-8 byte order)."""

    inherit_cache = False  # the value is compiled in: no cached SQL for it

    def __init__(self, column: Any) -> None:
        self.column = column
        self.type = column.type


@compiles(ByteOrder, "postgresql")
def _byte_order_postgresql(element: ByteOrder, compiler: Any, **kw: Any) -> str:
    return f'({compiler.process(element.column, **kw)} COLLATE "C")'


@compiles(ByteOrder)
def _byte_order_default(element: ByteOrder, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column, **kw))
