"""`bizctx`: the operator's command line. Thin: parse, call the server or an operator module, print."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import importlib
import json
import os
import sys
import warnings
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from bizctx.server import migrations
from bizctx.server.access import DOMAINS, parse_access_patterns
from bizctx.server.app import open_app, open_database
from bizctx.server.database import describe_dsn
from bizctx.server.errors import BizctxError, OperatorError
from bizctx.server.logs import configure
from bizctx.server.settings import Settings

from . import operators
from .embedded import embedded_status, resolve_dsn, stop_embedded


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str, ensure_ascii=False))


T = TypeVar("T")


def _from_args(cls: type[T], args: argparse.Namespace) -> T:
    """A dataclass made from the parsed options of the same names."""
    return cls(**{f.name: getattr(args, f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


def _print_rows(
    args: argparse.Namespace, rows: list[dict[str, Any]], line: Callable[[dict[str, Any]], str]
) -> int:
    """A listing: JSON with --json, else a line per row."""
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            print(line(r))
    return 0


def _access_arg(value: str) -> Any:
    """--access-patterns takes JSON text or the path of a JSON file."""
    path = Path(value)
    text = (
        path.read_text(encoding="utf-8") if not value.lstrip().startswith("{") and path.is_file() else value
    )
    try:
        return parse_access_patterns(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _with_db(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        dsn = await asyncio.to_thread(resolve_dsn, settings)
        async with open_database(settings, dsn=dsn) as db:
            return await work(db)

    return asyncio.run(run())


def _with_app(settings: Settings, work: Callable[[Any], Awaitable[Any]]) -> Any:
    """Like _with_db, with everything a server has (for work done through the tools)."""

    async def run() -> Any:
        dsn = await asyncio.to_thread(resolve_dsn, settings)
        async with open_app(settings, dsn=dsn) as app:
            return await work(app)

    return asyncio.run(run())


# -- commands ---------------------------------------------------------------------------


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    dsn = resolve_dsn(settings)
    result = migrations.migrate(dsn, embedding_dim=settings.embedding_dim)
    if result.applied:
        print(f"applied {len(result.applied)} migration(s): {', '.join(result.applied)}")
    else:
        print(f"up to date ({len(result.already)} migrations applied)")
    return 0


def _jobs(settings: Settings) -> list[Any]:
    """What a long-running (HTTP) server does besides answering: the billing run, and the audit
    log's partitions made ahead of time."""
    from bizctx.server.app import ensure_audit_partitions
    from bizctx.server.jobs import Job

    from .billing import run_billing

    # Next month's audit partition exists long before the month starts (migration 0170).
    return [
        Job("billing", settings.billing_run_seconds, run_billing),
        Job("audit_partitions", 3600.0, ensure_audit_partitions),
    ]


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from bizctx.server.transports import serve_over_http, serve_stdio

    if args.transport == "stdio":
        asyncio.run(serve_stdio(settings, resolve_dsn(settings)))
    else:
        dsn = resolve_dsn(settings)
        asyncio.run(
            serve_over_http(
                settings, dsn, transport=args.transport, host=args.host, port=args.port, jobs=_jobs(settings)
            )
        )
    return 0


def cmd_db_status(args: argparse.Namespace, settings: Settings) -> int:
    if settings.database_url:
        where = describe_dsn(settings.database_url)
        try:
            status = migrations.status(settings.database_url)
            up = True
        except Exception as exc:  # report, don't crash: this is a diagnostic command
            status, up = {"error": type(exc).__name__}, False
        info = {"database": "external (DATABASE_URL)", "dsn": where, "up": up, **status}
    else:
        emb = embedded_status(settings)
        info = {
            "database": "embedded",
            "data_dir": str(emb.pgdata),
            "initialised": emb.initialised,
            "up": emb.running,
            "dsn": emb.dsn,
        }
        if emb.running and emb.dsn:
            info.update(migrations.status(emb.dsn))
    if args.json:
        _print_json(info)
    else:
        for key, value in info.items():
            print(f"{key:12} {', '.join(value) if isinstance(value, list) else value}")
    return 0 if info["up"] else 1


def cmd_keys_prune(args: argparse.Namespace, settings: Settings) -> int:
    deleted = _with_db(settings, operators.prune_idempotency_keys)
    _print_json({"deleted": deleted}) if args.json else print(f"deleted {deleted} expired idempotency keys")
    return 0


def cmd_db_stop(args: argparse.Namespace, settings: Settings) -> int:
    if settings.database_url:
        print("DATABASE_URL is set: bizctx does not manage that server")
        return 1
    print("stopped" if stop_embedded(settings) else "not running")
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from . import demo

    known = demo.read_keys(settings.data_dir)
    keys = _with_app(settings, lambda app: demo.seed(app, known))
    demo.write_keys(settings.data_dir, keys)
    serving = not args.no_serve
    if args.json:
        _print_json(
            {"tenant": demo.TENANT, "keys": keys, "keys_file": str(demo.keys_path(settings.data_dir))}
        )
    else:
        text = demo.connect_instructions(
            keys, settings.data_dir, settings.database_url, host=args.host, port=args.port, serving=serving
        )
        print(text, flush=True)
    if serving:
        from bizctx.server.transports import serve_over_http

        configure(settings.log_level)
        dsn = resolve_dsn(settings)
        asyncio.run(
            serve_over_http(
                settings,
                dsn,
                transport="streamable-http",
                host=args.host,
                port=args.port,
                jobs=_jobs(settings),
            )
        )
    return 0


def cmd_tenant_create(args: argparse.Namespace, settings: Settings) -> int:
    row = _with_db(
        settings,
        lambda db: operators.create_tenant(
            db, args.name, time_zone=args.time_zone, invoice_prefix=args.invoice_prefix
        ),
    )
    if args.json:
        _print_json(row)
    else:
        print(f"tenant {row['name']!r} created: id {row['id']}, time zone {row['time_zone']}")
    return 0


def cmd_tenant_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = _with_db(settings, operators.list_tenants)
    return _print_rows(
        args, rows, lambda r: f"{r['name']:30} {r['id']}  {r['time_zone']:20} agents: {r['agents']}"
    )


def _show_agent(agent: dict) -> str:
    return (
        f"{agent['name']} ({agent['id']}) status={agent['status']} key={agent['key_prefix']}... "
        f"capabilities={','.join(agent.get('capabilities') or []) or '-'}"
    )


def _print_new_key(args: argparse.Namespace, new: operators.NewAgent, verb: str) -> None:
    if args.json:
        _print_json({**new.agent, "key": new.key})
        return
    print(f"agent {new.agent['name']!r} {verb}: id {new.agent['id']}")
    print("key (shown once; store it now, it cannot be recovered):")
    print(new.key)


def cmd_agent_create(args: argparse.Namespace, settings: Settings) -> int:
    new = _with_db(
        settings,
        lambda db: operators.create_agent(db, args.tenant, args.name, args.capability, args.access_patterns),
    )
    _print_new_key(args, new, "created")
    return 0


def cmd_agent_list(args: argparse.Namespace, settings: Settings) -> int:
    rows = _with_db(settings, lambda db: operators.list_agents(db, args.tenant))
    return _print_rows(args, rows, lambda r: f"[{r['tenant_name']}] {_show_agent(r)}")


def cmd_agent_grant(args: argparse.Namespace, settings: Settings) -> int:
    row = _with_db(settings, lambda db: operators.grant(db, args.tenant, args.name, args.capability))
    _print_json(row) if args.json else print(_show_agent(row))
    return 0


def cmd_agent_revoke(args: argparse.Namespace, settings: Settings) -> int:
    row = _with_db(settings, lambda db: operators.revoke(db, args.tenant, args.name, args.capability))
    _print_json(row) if args.json else print(_show_agent(row))
    return 0


def cmd_agent_rotate_key(args: argparse.Namespace, settings: Settings) -> int:
    new = _with_db(settings, lambda db: operators.rotate_key(db, args.tenant, args.name))
    _print_new_key(args, new, "has a new key; the old one no longer works")
    return 0


def cmd_agent_status(status: str) -> Callable[[argparse.Namespace, Settings], int]:
    def run(args: argparse.Namespace, settings: Settings) -> int:
        row = _with_db(settings, lambda db: operators.set_status(db, args.tenant, args.name, status))
        _print_json(row) if args.json else print(f"agent {row['name']!r} is now {status}")
        return 0

    return run


def cmd_agent_set(args: argparse.Namespace, settings: Settings) -> int:
    profile = {"role": args.role, "description": args.description, "parent_ref": args.parent}
    if args.calls_per_minute is None and all(v is None for v in profile.values()):
        raise OperatorError("give --calls-per-minute, --role, --description or --parent")

    async def work(db: Any) -> dict[str, Any]:
        row: dict[str, Any] = {}
        if args.calls_per_minute is not None:
            limit = args.calls_per_minute or None  # 0: back to the server's default
            row = await operators.set_calls_per_minute(db, args.tenant, args.name, limit)
        if any(v is not None for v in profile.values()):
            row |= await operators.set_profile(db, args.tenant, args.name, **profile)
        return row

    row = _with_db(settings, work)
    if args.json:
        _print_json(row)
    else:
        unset = {"calls_per_minute": "default"}
        shown = [
            f"{key} {row[key] if row[key] is not None else unset.get(key, 'none')}"
            for key in ("calls_per_minute", "role", "description", "parent")
            if key in row
        ]
        print(f"agent {row['name']!r}: " + ", ".join(shown))
    return 0


def cmd_agent_set_access(args: argparse.Namespace, settings: Settings) -> int:
    row = _with_db(
        settings, lambda db: operators.set_access_patterns(db, args.tenant, args.name, args.access_patterns)
    )
    _print_json(row) if args.json else print(
        f"agent {row['name']!r}: access_patterns {json.dumps(row['access_patterns'])}"
    )
    return 0


def _operator_name() -> str:
    return os.environ.get("USER") or "operator"


def _json_object(value: str) -> Any:
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError("give a JSON object")
    return parsed


def _policy_line(p: dict[str, Any]) -> str:
    what = p["effect"]
    if p["effect"] == "limit":
        amount = f"{p['max_calls']} calls" if p["max_calls"] is not None else f"{p['max_amount']}"
        what += f" {amount} per {p['window_seconds']} s per {p['scope']}"
    when = f" when {json.dumps(p['condition'])}" if p["condition"] else ""
    who = f" (agent {p['agent_name']})" if p["agent_name"] else ""
    return f"{p['id']} [{p['tenant_name']}] {p['tool']}: {what}{when}{who} - {p['reason'] or ''}"


def cmd_policy_add(args: argparse.Namespace, settings: Settings) -> int:
    from . import policies

    new = _from_args(policies.NewPolicy, args)
    row = _with_db(settings, lambda db: policies.add_policy(db, args.tenant, new, args.operator))
    _print_json(row) if args.json else print(f"added {_policy_line(row)}")
    return 0


def cmd_policy_list(args: argparse.Namespace, settings: Settings) -> int:
    from . import policies

    rows = _with_db(settings, lambda db: policies.list_policies(db, args.tenant))
    return _print_rows(args, rows, _policy_line)


def cmd_policy_remove(args: argparse.Namespace, settings: Settings) -> int:
    from . import policies

    row = _with_db(
        settings, lambda db: policies.remove_policy(db, args.tenant, args.policy_id, args.operator)
    )
    if args.json:
        _print_json(row)
    else:
        withdrawn = f"{row['withdrawn']} held calls withdrawn"
        print(f"removed {row['id']} ({row['tool']}: {row['effect']}); {withdrawn}")
    return 0


def _channels(value: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in value.split(",") if c.strip())


def _rule_line(r: dict[str, Any]) -> str:
    if r["kind"] == "quiet_hours":
        what = f"only {r['allowed_from']}-{r['allowed_until']} client time"
    else:
        what = f"at most {r['max_contacts']} per client per {r['window_days']} days"
    channels = ",".join(r["channels"])
    kinds = f" ({','.join(r['categories'])} only)" if r["categories"] else ""
    line = f"[{r['tenant_name']}] {r['name']}: {channels}{kinds} {what} -> {r['action']} {r['reason'] or ''}"
    return line.rstrip()


def _template_line(r: dict[str, Any]) -> str:
    subject = f" {r['subject']!r}" if r["subject"] else ""
    return f"[{r['tenant_name']}] {r['name']}: {r['channel']} {r['category']}{subject}: {r['body']}"


Command = Callable[[argparse.Namespace, Settings], int]


def _named_commands(
    module: str, kind: str, item: str, line: Callable[[dict[str, Any]], str]
) -> tuple[Command, Command, Command]:
    """`set`, `list` and `remove` for a kind of per-tenant row operators manage by name:
    ops/<module>.py has `kind` (an operators.TenantNamed) and `item`, the dataclass set takes.
    Imported when run, as every command's module is."""

    def named() -> Any:
        return getattr(importlib.import_module(f"bizctx.ops.{module}"), kind)

    def cmd_set(args: argparse.Namespace, settings: Settings) -> int:
        new = _from_args(getattr(importlib.import_module(f"bizctx.ops.{module}"), item), args)
        row = _with_db(
            settings, lambda db: named().set(db, args.tenant, new, getattr(args, "operator", None))
        )
        _print_json(row) if args.json else print(f"set {line(row)}")
        return 0

    def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
        rows = _with_db(settings, lambda db: named().list(db, args.tenant))
        return _print_rows(args, rows, line)

    def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
        row = _with_db(settings, lambda db: named().remove(db, args.tenant, args.name))
        _print_json(row) if args.json else print(f"removed {row['name']}")
        return 0

    return cmd_set, cmd_list, cmd_remove


cmd_compliance_set, cmd_compliance_list, cmd_compliance_remove = _named_commands(
    "compliance", "RULES", "Rule", _rule_line
)
cmd_templates_set, cmd_templates_list, cmd_templates_remove = _named_commands(
    "templates", "TEMPLATES", "Template", _template_line
)


def _ladder_line(r: dict[str, Any]) -> str:
    return f"[{r['tenant_name']}] step {r['step']}: day {r['days']} {r['channel']} {r['template']}"


def cmd_collections_ladder(args: argparse.Namespace, settings: Settings) -> int:
    from . import collections

    rows = _with_db(settings, lambda db: collections.list_ladders(db, args.tenant))
    return _print_rows(args, rows, _ladder_line)


def cmd_collections_set_ladder(args: argparse.Namespace, settings: Settings) -> int:
    from . import collections

    steps = [collections.parse_step(s) for s in args.step]
    rows = _with_db(settings, lambda db: collections.set_ladder(db, args.tenant, steps))
    return _print_rows(args, rows, _ladder_line)


def _billed_line(r: dict[str, Any]) -> str:
    if "error" in r:
        which = f" subscription {r['subscription_id']}" if r["subscription_id"] else ""
        return f"[{r['tenant_name']}]{which} FAILED: {r['error']}"
    return (
        f"[{r['tenant_name']}] subscription {r['subscription_id']}: {r['period_start']} to {r['period_end']}"
        f" invoiced as {r['invoice_id']}"
    )


def cmd_billing_run(args: argparse.Namespace, settings: Settings) -> int:
    from .billing import run_billing

    rows = _with_db(settings, lambda db: run_billing(db, args.tenant))
    _print_rows(args, rows, _billed_line)
    if not rows and not args.json:
        print("nothing due")
    return 1 if any("error" in r for r in rows) else 0


def cmd_approvals_list(args: argparse.Namespace, settings: Settings) -> int:
    from . import policies

    rows = _with_db(settings, lambda db: policies.list_approvals(db, args.tenant, pending_only=not args.all))
    if args.json:
        _print_json(rows)
        return 0
    for r in rows:
        print(
            f"{r['task_id']} [{r['tenant_name']}] {r['requested_by']} asks for {r['tool']} "
            f"{json.dumps(r['arguments'], default=str)} - {r['status']}, "
            f"expires {r['expires_at']:%Y-%m-%d %H:%M%z}"
        )
    return 0


def cmd_approvals_decide(args: argparse.Namespace, settings: Settings) -> int:
    import uuid

    try:
        task_id = uuid.UUID(args.task_id)
    except ValueError:
        raise OperatorError(f"{args.task_id!r} is not a task id (see `bizctx approvals list`)") from None
    approve = args.approvals_command == "approve"

    async def decide(app: Any) -> Any:
        return await app.guard.approvals.decide_as_operator(task_id, approve, args.reason, args.operator)

    try:
        decided = _with_app(settings, decide)
    except BizctxError as exc:
        raise OperatorError(exc.message) from None
    task = decided.task
    if args.json:
        _print_json({"task": task, "decision": decided.event})
    else:
        print(f"{decided.event['decision']} task {task['id']}: {task['status']} {json.dumps(task['result'])}")
    return 0


def _since_arg(value: str) -> Any:
    try:
        return operators.parse_since(value)
    except OperatorError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _audit_filter(args: argparse.Namespace) -> operators.AuditFilter:
    return operators.AuditFilter(
        tenant_ref=args.tenant, agent_ref=args.agent, tool=args.tool, outcome=args.outcome, since=args.since
    )


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    if args.view == "stats":
        return cmd_audit_stats(args, settings)
    if args.view == "export":
        return cmd_audit_export(args, settings)
    if args.view == "prune":
        return cmd_audit_prune(args, settings)
    rows = _with_db(settings, lambda db: operators.audit_log(db, _audit_filter(args), limit=args.limit))
    if args.json:
        _print_json(rows)
    else:
        for r in rows:
            code = f" {r['error_code']}" if r["error_code"] else ""
            replayed = " (replayed)" if r["replayed"] else ""
            print(
                f"{r['occurred_at']:%Y-%m-%d %H:%M:%S%z} [{r['tenant_name']}] {r['agent_name']:16} "
                f"{r['kind']:8} {r['name']:32} {r['outcome']}{code}{replayed} {r['duration_ms']}ms "
                f"{r['request_id']}"
            )
    return 0


def cmd_audit_export(args: argparse.Namespace, settings: Settings) -> int:
    from . import audit_log

    if args.before is None:
        raise OperatorError("bizctx audit export needs --before (e.g. 90d, or 2025-01-01)")
    if args.output is None:
        n = _with_db(
            settings, lambda db: audit_log.export(db, args.before, sys.stdout, tenant_ref=args.tenant)
        )
    else:
        with audit_log.open_export(Path(args.output)) as out:
            n = _with_db(settings, lambda db: audit_log.export(db, args.before, out, tenant_ref=args.tenant))
            audit_log.durable(out)
    print(f"exported {n} audit rows older than {args.before.isoformat()}", file=sys.stderr)
    return 0


def cmd_audit_prune(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime, timedelta

    from . import audit_log

    if args.tenant:
        raise OperatorError("bizctx audit prune removes every tenant's old rows; it takes no --tenant")
    before = args.before or datetime.now(UTC) - timedelta(days=settings.audit_retention_days)

    def run(out: Any) -> Any:
        return _with_db(settings, lambda db: audit_log.prune(db, before, export_to=out))

    if args.output is None:
        result = run(None)
    else:
        with audit_log.open_export(Path(args.output)) as out:
            result = run(out)
    if args.json:
        _print_json(result.to_dict())
    else:
        exported = f", {result.rows_exported} exported to {result.export}" if result.export else ""
        print(
            f"removed {result.rows_removed} audit rows older than {before.isoformat()} "
            f"({len(result.partitions_dropped)} month partitions dropped){exported}"
        )
    return 0


def cmd_audit_stats(args: argparse.Namespace, settings: Settings) -> int:
    rows = _with_db(settings, lambda db: operators.audit_stats(db, _audit_filter(args)))
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'tenant':20} {'agent':16} {'tool':32} {'calls':>7} {'denied':>7} {'errors':>7} {'avg ms':>8}")
    for r in rows:
        print(
            f"{r['tenant_name'][:20]:20} {r['agent_name'][:16]:16} {r['name'][:32]:32} {r['calls']:>7} "
            f"{r['denied']:>7} {r['errors']:>7} {r['avg_ms']:>8}"
        )
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from . import importer

    progress = importer.TerminalProgress(sys.stderr, f"import {args.kind}")
    result = _with_db(
        settings,
        lambda db: importer.import_file(
            db,
            args.tenant,
            args.kind,
            Path(args.file),
            dry_run=args.dry_run,
            skip_invalid=args.skip_invalid,
            progress=progress,
        ),
    )
    if args.json:
        _print_json(result.to_dict())
    else:
        for error in result.errors:
            print(error)
        bad = len({e.line for e in result.errors})
        counts = f"{result.inserted} new, {result.updated} updated, {result.unchanged} unchanged"
        if not result.imported:
            print(
                f"nothing imported: {bad} of {result.rows} rows of {args.file} have problems "
                "(fix them, or pass --skip-invalid to import the others)"
            )
        else:
            verb = "dry run, nothing written; would import" if result.dry_run else "imported"
            skipped = f", {result.skipped} bad rows skipped" if result.skipped else ""
            print(
                f"{verb} {result.rows - result.skipped} {args.kind} into {result.tenant!r}: "
                f"{counts}{skipped} ({result.seconds:.2f} s)"
            )
    return 0 if result.imported else 1


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from . import exporter

    output = Path(args.output) if args.output else None
    fmt = exporter.export_format(output, args.format)
    records = _with_db(settings, lambda db: exporter.fetch_records(db, args.tenant, args.kind))
    if output is None:
        exporter.write_records(args.kind, records, sys.stdout, fmt)
    else:
        with output.open("w", encoding="utf-8", newline="") as out:
            exporter.write_records(args.kind, records, out, fmt)
        print(f"exported {len(records)} {args.kind} to {output}", file=sys.stderr)
    return 0


# -- parser -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bizctx", description="Governed, audited MCP access to a service business's context."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def add(parent: Any, name: str, handler: Callable[..., int], help: str) -> argparse.ArgumentParser:
        p = parent.add_parser(name, help=help, description=help)
        p.set_defaults(handler=handler)
        p.add_argument("--json", action="store_true", help="machine-readable output")
        return p

    add(sub, "migrate", cmd_migrate, "apply pending database migrations")
    p = add(
        sub, "demo", cmd_demo, "set up the demo business and its agents, say how to connect, and serve HTTP"
    )
    p.add_argument("--no-serve", action="store_true", help="set up and print, but do not serve")
    p.add_argument("--host", default="127.0.0.1", help="HTTP bind address")
    p.add_argument("--port", type=int, default=8000, help="HTTP port")
    p = add(
        sub,
        "serve",
        cmd_serve,
        "serve MCP: stdio (the agent key comes from BIZCTX_AGENT_KEY), or over HTTP where each "
        "request carries its agent's key as a bearer token",
    )
    p.add_argument("--transport", choices=["stdio", "sse", "streamable-http"], default="stdio")
    p.add_argument("--host", default="127.0.0.1", help="HTTP bind address (default loopback only)")
    p.add_argument("--port", type=int, default=8000, help="HTTP port")

    db = sub.add_parser("db", help="the database").add_subparsers(dest="db_command", required=True)
    add(db, "status", cmd_db_status, "where the database is and whether it is up")
    add(db, "stop", cmd_db_stop, "stop the embedded PostgreSQL")

    keys = sub.add_parser("keys", help="idempotency keys").add_subparsers(dest="keys_command", required=True)
    add(keys, "prune", cmd_keys_prune, "delete idempotency keys older than 30 days, and their results")

    tenant = sub.add_parser("tenant", help="businesses").add_subparsers(dest="tenant_command", required=True)
    p = add(tenant, "create", cmd_tenant_create, "create a tenant (a business)")
    p.add_argument("name")
    p.add_argument("--time-zone", default="UTC", help="IANA business time zone, e.g. Europe/Berlin")
    p.add_argument("--invoice-prefix", default="INV-")
    add(tenant, "list", cmd_tenant_list, "list tenants")

    agent = sub.add_parser("agent", help="agents and their keys").add_subparsers(
        dest="agent_command", required=True
    )
    caps_help = "a capability to grant (repeatable), e.g. clients.read"
    access_help = f"JSON object or JSON file; domains: {', '.join(DOMAINS)}"
    p = add(agent, "create", cmd_agent_create, "create an agent and print its key once")
    p.add_argument("name")
    p.add_argument("--tenant", required=True)
    p.add_argument("--capability", action="append", default=[], help=caps_help)
    p.add_argument("--access-patterns", type=_access_arg, required=True, help=access_help)
    p = add(agent, "list", cmd_agent_list, "list agents")
    p.add_argument("--tenant")
    commands: tuple[tuple[str, Callable[[argparse.Namespace, Settings], int], str], ...] = (
        ("grant", cmd_agent_grant, "grant capabilities"),
        ("revoke", cmd_agent_revoke, "revoke capabilities"),
    )
    for name, handler, text in commands:
        p = add(agent, name, handler, text)
        p.add_argument("name")
        p.add_argument("--tenant", required=True)
        p.add_argument("--capability", action="append", required=True, help=caps_help)
    commands = (
        ("rotate-key", cmd_agent_rotate_key, "replace an agent's key and print the new one once"),
        ("disable", cmd_agent_status("disabled"), "disable an agent: its key stops working at once"),
        ("enable", cmd_agent_status("active"), "re-enable a disabled agent"),
    )
    for name, handler, text in commands:
        p = add(agent, name, handler, text)
        p.add_argument("name")
        p.add_argument("--tenant", required=True)
    p = add(agent, "set", cmd_agent_set, "set an agent's fair-use limit, or its place in the directory")
    p.add_argument("name")
    p.add_argument("--tenant", required=True)
    p.add_argument("--calls-per-minute", type=int, help="calls and reads per minute (0: the default)")
    p.add_argument("--role", choices=["orchestrator", "director", "specialist"], help="shown by list_agents")
    p.add_argument("--description", help="what the agent does, shown by list_agents")
    p.add_argument("--parent", help="the agent it reports to (its name; empty: none)")
    p = add(agent, "set-access", cmd_agent_set_access, "replace an agent's access_patterns")
    p.add_argument("name")
    p.add_argument("--tenant", required=True)
    p.add_argument("--access-patterns", type=_access_arg, required=True, help=access_help)

    p = add(
        sub,
        "audit",
        cmd_audit,
        "what agents did, newest first; `bizctx audit stats`: calls, denials and errors per agent and "
        "tool; `bizctx audit export --before ...`: old rows as JSON lines; `bizctx audit prune`: remove "
        "rows past the retention (BIZCTX_AUDIT_RETENTION_DAYS), with --output PATH exported first",
    )
    p.add_argument(
        "view",
        nargs="?",
        choices=["stats", "export", "prune"],
        help="stats: counts per agent and tool instead of rows; export: rows older than --before as "
        "JSON lines; prune: remove rows older than --before (default: the retention)",
    )
    p.add_argument("--tenant")
    p.add_argument("--agent", help="agent name (in --tenant, or in any tenant) or id")
    p.add_argument("--tool", help="tool name or resource URI template, e.g. upsert_client")
    p.add_argument("--outcome", choices=["ok", "denied", "error", "pending", "blocked"])
    p.add_argument("--since", type=_since_arg, help="30m, 1h, 2d, 1w, or an ISO timestamp")
    p.add_argument("--limit", type=int, default=50, help="rows to show (not for stats)")
    p.add_argument(
        "--before", type=_since_arg, help="export, prune: rows older than this (90d, 1w, or an ISO timestamp)"
    )
    p.add_argument(
        "--output",
        help="export: the file to write (default stdout); prune: export the rows to this new file, "
        "on disk before any is removed",
    )

    policy = sub.add_parser("policy", help="what agents may not do, or only so often, or only with approval")
    policy_commands = policy.add_subparsers(dest="policy_command", required=True)
    p = add(policy_commands, "add", cmd_policy_add, "add a policy to a tenant (checked against its tool now)")
    p.add_argument("--tenant", required=True)
    p.add_argument("--tool", required=True, help="the tool it governs, e.g. void_invoice")
    p.add_argument("--effect", required=True, choices=["require_approval", "deny", "limit"])
    p.add_argument("--when", type=_json_object, help='a condition, e.g. \'{"amount": {"gt": "500.00"}}\'')
    p.add_argument("--max-calls", type=int, help="limit: calls per window")
    p.add_argument("--max-amount", help="limit: amount per window (the tool's effective amount)")
    p.add_argument("--window", help="limit: a rolling window, e.g. 1h, 1d")
    p.add_argument("--per", choices=["agent", "tenant"], help="limit: each agent's calls, or all together")
    p.add_argument("--agent", help="only this agent's calls (default every agent's)")
    p.add_argument("--reason", help="why; agents see it")
    p.add_argument("--as", dest="operator", default=_operator_name(), help="who adds it (recorded)")
    p = add(policy_commands, "list", cmd_policy_list, "list policies")
    p.add_argument("--tenant")
    p = add(policy_commands, "remove", cmd_policy_remove, "remove a policy; calls it holds are withdrawn")
    p.add_argument("policy_id")
    p.add_argument("--tenant", required=True)
    p.add_argument("--as", dest="operator", default=_operator_name(), help="who removes it (recorded)")

    compliance = sub.add_parser(
        "compliance", help="contact rules: quiet hours and how often a client may be contacted"
    )
    compliance_commands = compliance.add_subparsers(dest="compliance_command", required=True)
    p = add(compliance_commands, "list", cmd_compliance_list, "list contact rules (opt-outs always apply)")
    p.add_argument("--tenant")
    p = add(compliance_commands, "set", cmd_compliance_set, "add or replace a contact rule by name")
    p.add_argument("name", help="e.g. quiet_hours, frequency_cap, sms_weekly")
    p.add_argument("--tenant", required=True)
    p.add_argument("--kind", required=True, choices=["quiet_hours", "frequency_cap"])
    p.add_argument(
        "--channels",
        type=_channels,
        default=("email", "sms", "phone"),
        help="comma-separated: email,sms,phone",
    )
    p.add_argument("--action", default="block", choices=["block", "require_approval", "warn"])
    p.add_argument("--from", dest="allowed_from", help="quiet_hours: contact allowed from HH:MM, client time")
    p.add_argument("--until", dest="allowed_until", help="quiet_hours: ... until HH:MM")
    p.add_argument(
        "--max", dest="max_contacts", type=int, help="frequency_cap: outbound contacts per client and channel"
    )
    p.add_argument("--window-days", type=int, help="frequency_cap: in this many days")
    p.add_argument("--reason", help="why; agents see it")
    p.add_argument(
        "--categories",
        type=_channels,
        help="comma-separated kinds of contact it governs: reminder,collections,marketing,other "
        "(default: every contact)",
    )
    p.add_argument("--as", dest="operator", default=_operator_name(), help="who sets it (recorded)")
    p = add(compliance_commands, "remove", cmd_compliance_remove, "remove a contact rule (a default too)")
    p.add_argument("name")
    p.add_argument("--tenant", required=True)

    templates = sub.add_parser("templates", help="message templates: what reminders and notices say")
    template_commands = templates.add_subparsers(dest="templates_command", required=True)
    p = add(template_commands, "list", cmd_templates_list, "list message templates")
    p.add_argument("--tenant")
    p = add(template_commands, "set", cmd_templates_set, "add or replace a message template by name")
    p.add_argument("name", help="e.g. reminder_sms (claim_due_reminders uses the first reminder per channel)")
    p.add_argument("--tenant", required=True)
    p.add_argument("--channel", required=True, choices=["email", "sms", "phone"])
    p.add_argument(
        "--category", required=True, choices=["reminder", "payment_reminder", "final_notice", "marketing"]
    )
    p.add_argument("--subject", help="email only; placeholders in {braces}")
    p.add_argument(
        "--body", required=True, help="the text; placeholders in {braces}, e.g. {client_first_name}"
    )
    p = add(template_commands, "remove", cmd_templates_remove, "remove a message template (a default too)")
    p.add_argument("name")
    p.add_argument("--tenant", required=True)

    collections = sub.add_parser(
        "collections", help="the collections ladder each tenant's overdue invoices climb"
    )
    collection_commands = collections.add_subparsers(dest="collections_command", required=True)
    p = add(collection_commands, "ladder", cmd_collections_ladder, "show the ladder (its steps)")
    p.add_argument("--tenant")
    p = add(collection_commands, "set-ladder", cmd_collections_set_ladder, "replace a tenant's ladder whole")
    p.add_argument("--tenant", required=True)
    p.add_argument(
        "--step",
        action="append",
        required=True,
        help="DAYS:CHANNEL:TEMPLATE after the due date, e.g. 7:sms:payment_reminder_sms; repeat, in order",
    )

    billing = sub.add_parser("billing", help="subscriptions' invoices")
    billing_commands = billing.add_subparsers(dest="billing_command", required=True)
    p = add(
        billing_commands,
        "run",
        cmd_billing_run,
        "invoice every subscription period due today, each once however often it runs (HTTP serve "
        "also runs it every BIZCTX_BILLING_RUN_SECONDS)",
    )
    p.add_argument("--tenant", help="only this business")

    approvals = sub.add_parser("approvals", help="calls held for approval by a policy")
    approval_commands = approvals.add_subparsers(dest="approvals_command", required=True)
    p = add(approval_commands, "list", cmd_approvals_list, "calls held for approval (undecided unless --all)")
    p.add_argument("--tenant")
    p.add_argument("--all", action="store_true", help="decided ones too")
    for name, text in (("approve", "approve: the held call runs now, as its agent"), ("reject", "reject it")):
        p = add(approval_commands, name, cmd_approvals_decide, text)
        p.add_argument("task_id")
        p.add_argument("--as", dest="operator", required=True, help="your name, recorded with the decision")
        p.add_argument("--reason", required=name == "reject")

    from .importer import KINDS

    p = add(
        sub,
        "import",
        cmd_import,
        "load a business's own data from CSV or JSON Lines (.csv, .jsonl, .json); see the README for columns",
    )
    p.add_argument("kind", choices=list(KINDS))
    p.add_argument("file")
    p.add_argument("--tenant", required=True)
    p.add_argument("--dry-run", action="store_true", help="check and rehearse, write nothing")
    p.add_argument(
        "--skip-invalid", action="store_true", help="import the good rows, skip (and report) bad ones"
    )
    p = add(sub, "export", cmd_export, "write a tenant's records in the form `bizctx import` reads")
    p.add_argument("kind", choices=list(KINDS))
    p.add_argument("--tenant", required=True)
    p.add_argument("--output", "-o", help="file to write (default: stdout)")
    p.add_argument("--format", choices=["csv", "jsonl"], help="default: from --output's extension, else csv")
    return parser


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", module="platformdirs")
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
        # Operator commands print their results; their logs stay quiet unless asked for.
        explicit = "BIZCTX_LOG_LEVEL" in os.environ
        configure(settings.log_level if args.command == "serve" or explicit else "WARNING")
        return args.handler(args, settings)
    except OperatorError as exc:
        print(f"bizctx: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
