"""The `fupin` command line: run the server, import CSV files, read and delete resources.

    fupin serve [--address HOST:PORT] [--database-url URL] [--config FILE]
                [--only registry|matcher] [--registry HOST:PORT] [--metrics-address HOST:PORT]
    fupin demo [--database-url URL] [--out DIR] [--target HOST:PORT [--matcher-target HOST:PORT]]
    fupin import households|listings|cadres FILE.csv [--chunk-size N] [--request-id ID]
    fupin list KIND [--filter EXPR] [--limit N]
    fupin get KIND ID
    fupin create KIND [FIELD=VALUE …] [--file F.yaml]; fupin update KIND ID … [--etag E]
    fupin delete KIND ID [--etag E]
    fupin watchlist [--filter EXPR] [--order-by "risk desc"|id] [--limit N]
    fupin match produce --product P --today YYYY-MM-DD [--region CODE] [--commit]
    fupin runs list|get|commit|discard|cancel [RUN_ID]
    fupin aid allocate|ledger|verify|spending|chart|export (see clients/cli/aid.py)
    fupin shipments|dividends|account|grants|statement|hold …   the season (clients/cli/season/)
    fupin cadres assign|contract [--region CODE] [--commit]
    fupin keys create|list|revoke …, fupin audit
    fupin onboard cooperative|platform FIELD=VALUE … (a producer or buyer and its key)
    fupin quick-source ORDER_ID --today YYYY-MM-DD   the best open listings for one order
    fupin outcomes [--run RUN_ID]   what became of each listing (buyer, price, pickup; or why not)
    fupin users create|list|disable|reset-password … (clients/cli/users.py)
    fupin report status|exits|income|aid|cadres|all … (clients/reports/command.py)
    fupin web [--address HOST:PORT] [--target HOST:PORT]   the web console (web/)
    fupin health [--service NAME]

KIND is one of villages, households, producers, listings, buyers, orders, cadres, aid-programs.
Client commands take --target (default $FUPIN_TARGET or 127.0.0.1:50051), --timeout SECONDS and
--output table|json|csv. Exit status: 0 done, 1 the server (or a CSV check) refused, 2 bad usage.
They send the API key $FUPIN_API_KEY, or the file $FUPIN_API_KEY_FILE, or var/admin.key
(written by `fupin serve` at first start); TLS from $FUPIN_TLS_CA_FILE (clients/auth.py).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pydantic

from clients import csvio, i18n
from clients.cli import aid as cli_aid
from clients.cli import backup as cli_backup
from clients.cli import cadres as cli_cadres
from clients.cli import health as cli_health
from clients.cli import keys as cli_keys
from clients.cli import onboard as cli_onboard
from clients.cli import outcomes as cli_outcomes
from clients.cli import quick as cli_quick
from clients.cli import resources as cli_resources
from clients.cli import runs as cli_runs
from clients.cli import users as cli_users
from clients.cli import web as cli_web
from clients.cli.output import emit, emit_json, emit_one, report, say, show
from clients.cli.season import grants as season_grants
from clients.cli.season import holds as cli_holds
from clients.cli.season import shipments as season_cli
from clients.cli.season import statements as cli_statements
from clients.cli.year import cases as cli_cases
from clients.cli.year import resurvey as cli_resurvey
from clients.cli.year import risk as cli_risk
from clients.client import KINDS, MAX_PAGE_SIZE, RegistryClient
from clients.errors import CsvFormatError, FupinClientError, UsageError
from clients.i18n import N_, _
from clients.names import Names
from clients.progress import Progress
from clients.reports import command as cli_reports

if TYPE_CHECKING:
    from server.settings import Settings

DEFAULT_TARGET = "127.0.0.1:50051"
IMPORTABLE = [name for name, kind in KINDS.items() if kind.importable]


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    try:  # the language first: the parser's help and usage are written in it
        i18n.use(_lang_given(words))
    except ValueError as exc:  # an unknown --lang or FUPIN_LANG
        say(f"fupin: {exc}")
        return 2
    i18n.argparse_speaks_it()
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(words)
        if extra and isinstance(getattr(args, "fields", None), list) and _assignments(extra):
            args.fields += extra  # FIELD=VALUE after an option: `create … --file F a=1`
        elif extra:
            parser.error(_("unrecognized arguments: %s") % " ".join(extra))
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.run(args))
    except UsageError as exc:
        say(f"fupin: {exc}")
        return 2
    except FupinClientError as exc:
        report(exc)
        return 1
    except KeyboardInterrupt:
        return 130


def _lang_given(words: Sequence[str]) -> str | None:
    """--lang's value (it precedes the command), read before the parser is built."""
    for i, word in enumerate(words):
        if word == "--lang" and i + 1 < len(words):
            return words[i + 1]
        if word.startswith("--lang="):
            return word.removeprefix("--lang=")
    return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fupin", description=_("fupin registry server and client (精准扶贫).")
    )
    parser.add_argument(
        "--lang", help=_("en or zh-CN (default: $FUPIN_LANG, else the locale, else en)")
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    client = _client_options()
    serve = commands.add_parser("serve", help=_("run the gRPC server until SIGTERM"))
    serve.add_argument("--address", help=_("HOST:PORT to listen on (default 127.0.0.1:50051)"))
    serve.add_argument("--database-url", help=_("sqlite:///FILE or postgresql://… URL"))
    serve.add_argument("--config", type=Path, help=_("TOML settings file (FUPIN_CONFIG_FILE)"))
    serve.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help=_("allow plaintext on a non-loopback address (TLS is terminated elsewhere)"),
    )
    serve.add_argument(
        "--only",
        choices=["registry", "matcher"],
        help=_("run one service (split deployment; default: both in this process)"),
    )
    serve.add_argument("--registry", help=_("the registry's HOST:PORT (with --only matcher)"))
    serve.add_argument(
        "--metrics-address", help=_("HOST:PORT for Prometheus /metrics (default off)")
    )
    serve.set_defaults(run=run_serve)
    demo = commands.add_parser("demo", help=_("load the bundled Zhao'an scenario and report"))
    demo.add_argument(
        "--database-url", help=_("default: a fresh SQLite file OUT/demo.db, made anew each run")
    )
    demo.add_argument("--out", type=Path, default=Path("var/demo"), help=_("where charts go"))
    demo.add_argument("--target", help=_("use the running server at HOST:PORT (no server here)"))
    demo.add_argument("--matcher-target", help=_("the matcher's HOST:PORT, if not --target's"))
    demo.set_defaults(run=run_demo)
    imp = commands.add_parser("import", parents=[client], help=_("import a CSV, all or nothing"))
    imp.add_argument("kind", choices=IMPORTABLE)
    imp.add_argument("file", type=Path, help=_("CSV file (layout: docs/csv.md)"))
    imp.add_argument("--chunk-size", type=_positive, default=2000, help=_("rows per message"))
    imp.add_argument("--request-id", help=_("idempotency key (default: a new uuid4)"))
    imp.set_defaults(run=run_import)
    for name, run, help_text in (
        ("list", run_list, N_("list resources of a kind")),
        ("watchlist", run_watchlist, N_("list households at risk of returning to poverty")),
    ):
        sub = commands.add_parser(name, parents=[client], help=_(help_text))
        if name == "list":
            sub.add_argument("kind", choices=list(KINDS))
        sub.add_argument(
            "--filter",
            default="",
            help=_("AIP-160, e.g. 'score < 60 AND causes:ILLNESS AND NOT status = LIFTED_OUT'"),
        )
        sub.add_argument("--limit", type=_positive, help=_("print at most N"))
        if name == "watchlist":
            sub.add_argument(
                "--order-by",
                default="",
                help=_("'risk desc' (highest risk first, the default) or 'id'"),
            )
        if name == "list":
            sub.add_argument(
                "-q", "--quiet", action="store_true", help=_("the ids alone, one a line")
            )
        sub.set_defaults(run=run)
    get = commands.add_parser("get", parents=[client], help=_("show one resource"))
    get.add_argument("kind", choices=list(KINDS))
    get.add_argument("id")
    get.set_defaults(run=run_get)
    delete = commands.add_parser("delete", parents=[client], help=_("delete one resource"))
    delete.add_argument("kind", choices=list(KINDS))
    delete.add_argument("id")
    delete.add_argument("--etag", default="", help=_("fail (ABORTED) if it changed since read"))
    delete.set_defaults(run=run_delete)
    cli_resources.add_commands(commands, client)
    cli_runs.add_commands(commands, client)
    cli_aid.add_commands(commands, client)
    season_cli.add_commands(commands, client)
    season_grants.add_commands(commands, client)
    cli_statements.add_commands(commands, client)
    cli_holds.add_commands(commands, client)
    cli_cadres.add_commands(commands, client)
    cli_cases.add_commands(commands, client)
    cli_resurvey.add_command(commands, client)
    cli_risk.add_commands(commands, client)
    cli_reports.add_commands(commands, client)
    cli_keys.add_commands(commands, client)
    cli_onboard.add_command(commands, client)
    cli_outcomes.add_command(commands, client)
    cli_quick.add_command(commands, client)
    cli_users.add_commands(commands, client)
    cli_web.add_command(commands)
    cli_health.add_command(commands, client)
    cli_backup.add_commands(commands)
    return parser


def _client_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--target",
        default=os.environ.get("FUPIN_TARGET", DEFAULT_TARGET),
        help=_("server HOST:PORT (default $FUPIN_TARGET or %(default)s)"),
    )
    options.add_argument("--timeout", type=float, default=10.0, help=_("seconds per call"))
    options.add_argument(
        "-o",
        "--output",
        choices=["table", "json", "csv"],
        default="table",
        help=_("table for people, json (a line each) or csv for programs"),
    )
    return options


def _assignments(words: Sequence[str]) -> bool:
    return all("=" in word and not word.startswith("-") for word in words)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _connect(args: argparse.Namespace) -> RegistryClient:
    return RegistryClient(args.target, timeout_s=args.timeout)


def run_serve(args: argparse.Namespace) -> int:
    from server import logs, server

    if args.config is not None:
        if not args.config.is_file():
            raise UsageError(_("no such config file: {path}").format(path=args.config))
        os.environ["FUPIN_CONFIG_FILE"] = str(args.config)
    settings = _settings(
        address=args.address,
        database_url=args.database_url,
        insecure=args.insecure,
        only=args.only,
        registry_target=args.registry,
        metrics_address=args.metrics_address,
    )
    logs.configure(settings.log_format, settings.log_level)
    try:
        return server.serve(settings, announce=_announce_admin_key(settings))
    except server.InsecureAddress as exc:
        raise UsageError(str(exc)) from exc


def _announce_admin_key(settings: Settings) -> Callable[[str], None]:
    def announce(secret: str) -> None:
        kept = _("fupin: created the first admin key, kept in {path} (mode 600):")
        say(kept.format(path=settings.admin_key_file))
        show(secret)
        say(_("fupin: it is not shown again; `fupin keys create` makes keys for other callers"))

    return announce


def run_demo(args: argparse.Namespace) -> int:
    from clients.cli import demo as cli_demo
    from server import logs

    if args.target or args.matcher_target:
        if not args.target:
            raise UsageError(_("--matcher-target needs --target (the registry)"))
        matcher = args.matcher_target or args.target
        return cli_demo.run_against(args.target, matcher, args.out, where=args.target)
    url = args.database_url
    if url is None:  # the demo's own SQLite file, new each time so every run tells the same story
        database = args.out / "demo.db"
        for stale in args.out.glob("demo.db*"):
            stale.unlink()
        url = f"sqlite:///{database}"
    settings = _settings(database_url=url)
    logs.configure(settings.log_format, os.environ.get("FUPIN_LOG_LEVEL", "warning"))
    return cli_demo.run(settings, args.out)


def _settings(**overrides: str | bool | None) -> Settings:
    """Settings from the environment and FUPIN_CONFIG_FILE; flags given on the line win."""
    from server.settings import Settings

    given: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**given)
    except pydantic.ValidationError as exc:
        raise UsageError(_("bad settings: {error}").format(error=exc)) from exc


def run_import(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    table = _read_csv(args.kind, args.file)
    progress = Progress(len(table.rows), label=kind.cli_name)

    def on_progress(sent: int) -> None:
        last = sent == len(table.rows)
        progress.update(sent, _("- sent; the server checks and stores") if last else "")

    with _connect(args) as client, progress.heartbeat():
        try:
            response = client.import_rows(
                kind,
                table.rows,
                chunk_size=args.chunk_size,
                request_id=args.request_id,
                on_progress=on_progress,
            )
        except FupinClientError as exc:
            progress.close(_("- failed, nothing stored"))
            report(exc, locate=table.where)
            return 1
    progress.close(_("- stored"))
    seconds = progress.elapsed_s
    rate = response.imported / seconds if seconds > 0 else 0.0
    summary = {"kind": kind.cli_name, "imported": response.imported, "seconds": round(seconds, 3)}
    if args.output == "json":
        emit_json({**summary, "rows_per_s": round(rate)})
    else:
        count = f"{response.imported:,} {kind.cli_name}"
        said = _("imported {count} in {seconds} s ({rate} rows/s)")
        show(said.format(count=count, seconds=f"{seconds:.1f}", rate=f"{rate:,.0f}"))
    return 0


def _read_csv(kind: str, path: Path) -> csvio.Table:
    started = time.perf_counter()
    try:
        table = csvio.read_file(kind, path)
    except OSError as exc:
        why = exc.strerror or exc
        raise UsageError(_("cannot read {path}: {error}").format(path=path, error=why)) from exc
    except UnicodeDecodeError as exc:
        text = _("{path} is not UTF-8 text").format(path=path)
        raise CsvFormatError(text, [("file", str(exc))]) from exc
    seconds = f"{time.perf_counter() - started:.1f}"
    said = _("read {n} {kind} from {path} in {seconds} s")
    say(said.format(n=f"{len(table.rows):,}", kind=kind, path=path, seconds=seconds))
    return table


def run_list(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    with _connect(args) as client:
        found = client.list(kind, filter=args.filter, page_size=MAX_PAGE_SIZE, limit=args.limit)
        if args.quiet:
            for item in found:
                show(item.id)
        else:
            emit(kind.cli_name, found, args.output, Names(client))
    return 0


def run_watchlist(args: argparse.Namespace) -> int:
    with _connect(args) as client:
        entries = client.watchlist(filter=args.filter, order_by=args.order_by, limit=args.limit)
        emit("watchlist", entries, args.output)
    return 0


def run_get(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    with _connect(args) as client:
        emit_one(client.get(kind, args.id), args.output, Names(client), kind.cli_name)
    return 0


def run_delete(args: argparse.Namespace) -> int:
    kind = KINDS[args.kind]
    with _connect(args) as client:
        client.delete(kind, args.id, etag=args.etag)
    say(_("deleted {kind} {id}").format(kind=kind.name, id=args.id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
