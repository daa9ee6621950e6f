"""Every error text the server can send a person has a Chinese pattern (server/messages.py).

The texts are found in the code, not listed by hand: the abstract syntax trees of registry/,
matcher/service/ and server/ are walked for the message given to each error class of
registry/errors.py (and registry/ledger/signing.py's CheckpointError, sent as a description):
a NotFound's or a FailedPrecondition's message, a FieldViolation's description, the
description of `InvalidArgument.one`. A literal is a text; an f-string is a pattern whose
formatted values are holes (or, when the value is a local name bound to literals, each of
them); a name is followed to its assignments, to the calls that give a parameter its value,
to the tuples appended to the list a comprehension unpacks, and a call to a function of these
folders to what it returns. A text is covered when a translated PATTERN matches it with its
holes filled; so a new message without a translation fails here.

Out of scope, and why:
- INTERNAL: anything not one of these classes becomes INTERNAL with a fixed text
  (server/interceptor.py), never the exception's;
- texts forwarded from a status the registry already sent (server/grpc_source.py rebuilds
  the registry's own errors; they were covered where the registry raised them), and
  descriptions copied from an earlier violation (`v.description`);
- the solver models' texts are walked separately (test_every_solver_text_has_a_chinese_pattern):
  matcher/solvers raise ValueError or InvalidProduceProblem in English, the matcher's
  converters pass them on as a field violation's description (FORWARDED below), and the
  interceptor translates them by the same patterns as the rest;
- gRPC's health service (server/health.py), which probes read, not people.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterator
from pathlib import Path

from server import messages

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("registry", "matcher/service", "server")
ERRORS = frozenset(
    {
        "FupinError", "NotFound", "AlreadyExists", "WithViolations", "Aborted",
        "FailedPrecondition", "PermissionDenied", "Unauthenticated", "ResourceExhausted",
        "Overloaded", "Unavailable", "Infeasible", "CheckpointError",
    }
)  # fmt: skip
HOLE = "{}"
FILLER = "X1"
# Messages passed on rather than written here (see the docstring), by file and expression.
FORWARDED = {
    ("matcher/service/convert_aid.py", "why or str(exc)"),  # solver model's ValueError
    ("matcher/service/convert_aid.py", "v.description"),  # an earlier violation's
    ("matcher/service/convert_contracting.py", "str(exc)"),  # solver model's ValueError
    ("matcher/service/convert_stationing.py", "str(exc)"),  # solver model's ValueError
    ("matcher/service/convert_produce.py", "exc.description"),  # solver model's check
    ("registry/ledger/servicer.py", "str(exc)"),  # CheckpointError: walked as a class
    ("server/grpc_source.py", "m"),  # the registry's own message
    ("server/grpc_source.py", "d"),  # the registry's own descriptions
}


class Walker:
    def __init__(self) -> None:
        self.trees = {
            p: ast.parse(p.read_text(encoding="utf-8"), str(p))
            for p in self._paths()
            if "migrations" not in p.parts and p.name != "errors.py"
        }
        self.parent: dict[ast.AST, ast.AST] = {}
        self.module: dict[ast.AST, Path] = {}
        self.functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        for path, tree in self.trees.items():
            for node in ast.walk(tree):
                self.module[node] = path
                for child in ast.iter_child_nodes(node):
                    self.parent[child] = node
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    self.functions.setdefault(node.name, []).append(node)
        self.calls: dict[str, list[ast.Call]] = {}
        for node in self.module:
            if isinstance(node, ast.Call) and (called := _called(node)) is not None:
                self.calls.setdefault(called, []).append(node)
        self.unresolved: list[tuple[str, str]] = []

    def _paths(self) -> list[Path]:
        return [p for folder in FOLDERS for p in sorted((ROOT / folder).rglob("*.py"))]

    def messages(self) -> Iterator[tuple[str, str]]:
        """(text with {} holes, where) for each message given to an error class."""
        for path, tree in self.trees.items():
            for call in ast.walk(tree):
                if isinstance(call, ast.Call) and (arg := _message_of(call)) is not None:
                    where = f"{path.relative_to(ROOT)}:{call.lineno}"
                    for text in self.texts(arg):
                        yield text, where

    def texts(self, expr: ast.expr, depth: int = 0) -> list[str]:
        found = self._texts(expr, depth) if depth < 8 else None
        if found is None:
            where = str(self.module[expr].relative_to(ROOT))
            self.unresolved.append((where, ast.unparse(expr)))
            return []
        return found

    def _texts(self, expr: ast.expr, depth: int) -> list[str] | None:
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return [expr.value]
        if isinstance(expr, ast.JoinedStr):
            out = [""]
            for part in expr.values:
                pieces = [part.value] if isinstance(part, ast.Constant) else self._hole(part, depth)
                out = [a + b for a in out for b in pieces]
            return out
        if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            left, right = self.texts(expr.left, depth + 1), self.texts(expr.right, depth + 1)
            return [a + b for a in left for b in right]
        if isinstance(expr, ast.IfExp):
            return self.texts(expr.body, depth + 1) + self.texts(expr.orelse, depth + 1)
        if isinstance(expr, ast.Lambda):
            return self.texts(expr.body, depth + 1)
        if (
            isinstance(expr, ast.Call)
            and isinstance(expr.func, ast.Attribute)
            and expr.func.attr == "join"
        ):
            return [HOLE]  # a list of names or reasons, each a value
        if isinstance(expr, ast.Name):
            return self._name(expr, depth) or None
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name):
            returned = [
                text
                for function in self.functions.get(expr.func.id, [])
                for node in ast.walk(function)
                if isinstance(node, ast.Return) and node.value is not None
                for text in self.texts(node.value, depth + 1)
            ]
            # else a function passed in as a parameter: the lambdas given for it
            return returned or self._name(expr.func, depth) or None
        return None

    def _hole(self, part: ast.expr, depth: int) -> list[str]:
        """A formatted value: the literals a local name holds, else a hole."""
        assert isinstance(part, ast.FormattedValue)
        if part.conversion != -1 or not isinstance(part.value, ast.Name | ast.IfExp):
            return [HOLE]
        mark = len(self.unresolved)
        inner = self.texts(part.value, depth + 1)
        if len(self.unresolved) > mark or not inner or len(inner) > 16:
            del self.unresolved[mark:]
            return [HOLE]
        return inner

    def _name(self, name: ast.Name, depth: int) -> list[str]:
        function = self._enclosing(name)
        scope: ast.AST = function if function is not None else self.trees[self.module[name]]
        out: list[str] = []
        for node in ast.walk(scope):
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name.id for t in node.targets
            ):
                out += self.texts(node.value, depth + 1)
            if (
                isinstance(node, ast.comprehension)
                and isinstance(node.target, ast.Tuple)
                and isinstance(node.iter, ast.Name)
                and name.id in [getattr(e, "id", None) for e in node.target.elts]
            ):
                k = [getattr(e, "id", None) for e in node.target.elts].index(name.id)
                out += [
                    text
                    for call in ast.walk(scope)
                    if isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Attribute)
                    and call.func.attr == "append"
                    and isinstance(call.func.value, ast.Name)
                    and call.func.value.id == node.iter.id
                    and call.args
                    and isinstance(call.args[0], ast.Tuple)
                    for text in self.texts(call.args[0].elts[k], depth + 1)
                ]
        if out or function is None:
            return out
        params = [a.arg for a in function.args.args]
        if name.id not in params:
            return out
        index = params.index(name.id) - (params[0] in ("self", "cls"))
        for call in self.calls.get(function.name, []):
            given = next((k.value for k in call.keywords if k.arg == name.id), None)
            if given is None and 0 <= index < len(call.args):
                given = call.args[index]
            if given is not None:
                out += self.texts(given, depth + 1)
        return out

    def _enclosing(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        while node in self.parent:
            node = self.parent[node]
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                return node
        return None


def _called(call: ast.Call) -> str | None:
    func = call.func
    return func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)


def _message_of(call: ast.Call) -> ast.expr | None:
    """The text argument of a call that makes an error or a violation, or None."""
    name = _called(call)
    keyword = {k.arg: k.value for k in call.keywords}
    if name in ERRORS:
        return keyword.get("message", call.args[0] if call.args else None)
    if name == "FieldViolation":
        return keyword.get("description", call.args[1] if len(call.args) > 1 else None)
    if name == "InvalidArgument":
        return keyword.get("message", call.args[1] if len(call.args) > 1 else None)
    owner = getattr(call.func, "value", None)
    if name == "one" and getattr(owner, "id", None) == "InvalidArgument":
        return call.args[1] if len(call.args) > 1 else None
    return None


# The solver models' errors, and the converters' own ValueErrors that go the same way.
SOLVER_FOLDERS = ("matcher/solvers", "matcher/service/convert_aid.py")
SOLVER_ERRORS = frozenset({"ValueError", "InvalidProduceProblem"})
# convert_aid.py sends "field: why" as field and why: only the why is a description.
FIELD_FIRST = ("matcher/solvers/aid/", "matcher/service/convert_aid.py")


class SolverWalker(Walker):
    """The Walker over the solver models, for the texts their errors carry."""

    def __init__(self) -> None:
        self.roots = [ROOT / f for f in SOLVER_FOLDERS]
        super().__init__()

    def _paths(self) -> list[Path]:
        return [p for root in self.roots for p in ([root] if root.is_file() else _tree(root))]

    def _texts(self, expr: ast.expr, depth: int) -> list[str] | None:
        """As the Walker's, and `describe(i)` of checks.py's rule tables: the texts of its
        module's lambdas, and of the `_const(text)` rules."""
        if not (isinstance(expr, ast.Call) and _called(expr) == "describe"):
            return super()._texts(expr, depth)
        tree = self.trees[self.module[expr]]
        out = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Lambda) and isinstance(node.body, ast.JoinedStr):
                out += self.texts(node.body, depth + 1)
            if isinstance(node, ast.Call) and _called(node) == "_const" and node.args:
                out += self.texts(node.args[0], depth + 1)
        return out or None

    def messages(self) -> Iterator[tuple[str, str]]:
        for path, tree in self.trees.items():
            where = str(path.relative_to(ROOT))
            for call in ast.walk(tree):
                if not isinstance(call, ast.Call) or _called(call) not in SOLVER_ERRORS:
                    continue
                index = 1 if _called(call) == "InvalidProduceProblem" else 0
                if len(call.args) <= index:
                    continue
                for text in self.texts(call.args[index]):
                    if where.startswith(FIELD_FIRST):
                        text = text.partition(": ")[2] or text
                    yield text, f"{where}:{call.lineno}"


def _tree(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


@functools.cache
def _walked() -> tuple[list[tuple[str, str]], set[tuple[str, str]]]:
    walker = Walker()
    found = list(walker.messages())
    return found, set(walker.unresolved)


def _untranslated(found: list[tuple[str, str]]) -> list[str]:
    """`where: text` of each text no Chinese pattern says, its holes filled."""
    return sorted(
        {
            f"{where}: {text!r}"
            for text, where in found
            if messages.translate(text.replace(HOLE, FILLER), "zh_CN") is None
        }
    )


def test_every_error_text_of_the_server_has_a_chinese_pattern():
    found, unresolved = _walked()
    assert len({text for text, _ in found}) > 250  # the walk sees the code (284 in 2026-12)
    missing = _untranslated(found)
    assert not missing, "no Chinese pattern in server/messages.py for:\n" + "\n".join(missing)
    assert unresolved <= FORWARDED, unresolved - FORWARDED


def test_every_solver_text_has_a_chinese_pattern():
    """A bad inline problem the matcher's own checks let through reaches the person as the
    solver model's text: each has a Chinese pattern, so a new English-only one fails here."""
    walker = SolverWalker()
    found = list(walker.messages())
    assert len({text for text, _ in found}) > 80  # the walk sees the models (98 in 2026-12)
    missing = _untranslated(found)
    assert not missing, "no Chinese pattern in server/solver_texts.py for:\n" + "\n".join(missing)
    assert not walker.unresolved, walker.unresolved


def test_the_walk_finds_texts_behind_names_and_parameters():
    """The walk follows what it claims to: a filter's syntax error built in a helper, a
    violation appended as a tuple, a step name passed to an f-string."""
    texts = {text for text, _ in _walked()[0]}
    assert "unexpected {}; expected {}" in texts  # filters.py: fail(column, f"...{wanted}")
    assert "is required when kilograms are rejected" in texts  # shipments.py: bad.append(...)
    assert "{} may not {} a case: only {}" in texts  # workflow.py
    assert "repeats the pair ({}, {})" in texts  # convert_contracting.py: a lambda's


def test_no_pattern_is_hidden_by_an_earlier_one():
    """Specific first: each pattern, its holes filled, is matched first by itself (an earlier,
    more general pattern would take its texts and give the general translation)."""
    hole = re.compile(r"\{[a-z_]+\}")
    compiled = messages._compiled()
    for pattern, _regex, _names in compiled:
        sample = hole.sub(FILLER, pattern)
        first = next(p for p, regex, _ in compiled if regex.fullmatch(sample))
        assert first == pattern, f"{pattern!r} is hidden by {first!r}"
