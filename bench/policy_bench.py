"""What policy evaluation costs a call that no policy stops (not a test).

One server (the real guard, driven by the official MCP client in process, so transport noise
is out), one tenant, and record_payment (a write that moves money: policies can compare and
limit its amount) called under four set-ups, interleaved round by round so the machine's
load falls on all of them alike:

- none:      the tenant has no policy on record_payment (the guard looks, finds none);
- no-match:  a deny whose condition never holds (amount > 1,000,000,000): the tool's
             effective amount is looked up and compared;
- limit:     a limit the calls never reach: one more statement per call, the counter's row
             lock and its rolling window;
- layer off: the `none` tenant's calls with the policy layer switched off in the guard (no
             version check in the opening statement, no lookup): the call before policies;
- get_client beside them, a read no policy can name.

Prints p50 and p90 per set-up and the ratio of each to `none`. Every call also checks the
tenant's policy version in its opening statement; that is in every row, `none` included.

    python bench/policy_bench.py [--calls 400] [--rounds 8]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _pg import throwaway_database

from bizctx.ops import operators, policies
from bizctx.server import migrations
from bizctx.server.access import parse_access_patterns
from bizctx.server.app import build_server, open_app
from bizctx.server.guard import Principal
from bizctx.server.settings import Settings


async def run(calls: int, rounds: int) -> dict[str, list[float]]:
    from mcp import Client

    timings: dict[str, list[float]] = {
        "layer off": [],
        "none": [],
        "no-match": [],
        "limit": [],
        "get_client": [],
    }
    with throwaway_database(None) as dsn, tempfile.TemporaryDirectory() as tmp:
        migrations.migrate(dsn)
        settings = Settings(
            database_url=dsn, data_dir=Path(tmp), log_level="WARNING", embedding_provider="none"
        )
        async with open_app(settings, migrate=False) as app:
            tenants = {}
            for setup in ("none", "no-match", "limit"):
                tenant = await operators.create_tenant(app.db, f"bench-{setup}")
                access = parse_access_patterns(
                    {"invoices": {"read": True, "write": True}, "clients": {"read": True}}
                )
                caps = ["invoices.read", "invoices.write", "clients.read"]
                agent = (await operators.create_agent(app.db, tenant["name"], "billing", caps, access)).agent
                for p in await policies.list_policies(app.db, tenant["name"]):
                    await policies.remove_policy(app.db, tenant["name"], str(p["id"]), "bench")
                if setup == "no-match":
                    new = policies.NewPolicy(
                        tool="record_payment", effect="deny", when={"amount": {"gt": "1000000000"}}
                    )
                    await policies.add_policy(app.db, tenant["name"], new, "bench")
                if setup == "limit":
                    new = policies.NewPolicy(
                        tool="record_payment", effect="limit", max_calls=10**9, window="1d", per="agent"
                    )
                    await policies.add_policy(app.db, tenant["name"], new, "bench")
                tenants[setup] = Principal(tenant["id"], agent["id"], "memory")

            book, off = app.guard.policies, _NoPolicies()
            async with contextlib.AsyncExitStack() as stack:
                sessions = {}
                for setup, principal in tenants.items():
                    server = build_server(app, lambda ctx, p=principal: p)
                    sessions[setup] = await stack.enter_async_context(Client(server))
                targets = {}
                for setup, principal in tenants.items():
                    client_id = await _client(app, principal)
                    items = [{"description": "Retainer", "quantity": 1, "unit_price": "1000000.00"}]
                    made = await sessions[setup].call_tool(
                        "create_invoice", {"client_id": client_id, "currency": "USD", "items": items}
                    )
                    assert not made.is_error, made.content[0].text
                    targets[setup] = (made.structured_content["id"], client_id)
                per_round = calls // rounds
                for _ in range(rounds):
                    for setup in timings:
                        key = "none" if setup in ("get_client", "layer off") else setup
                        app.guard.policies = off if setup == "layer off" else book
                        invoice_id, client_id = targets[key]
                        for _ in range(per_round):
                            if setup == "get_client":
                                tool, args = "get_client", {"client_id": client_id}
                            else:
                                tool = "record_payment"
                                args = {"invoice_id": invoice_id, "amount": "0.01", "method": "cash"}
                            started = time.perf_counter()
                            result = await sessions[key].call_tool(tool, args)
                            timings[setup].append((time.perf_counter() - started) * 1000)
                            assert not result.is_error, result.content[0].text
    return timings


class _NoPolicies:
    """Stands in for the guard's PolicyBook: no version to check, no policies to look up."""

    async def current(self, tenant_id: Any) -> Any:
        return SimpleNamespace(version=None)

    def cached(self, tenant_id: Any) -> None:
        return None


async def _client(app: Any, principal: Principal) -> str:
    """A client row for the tenant, written as its owner would (the importer's role)."""
    from bizctx.server.queries import QueryRef

    async with app.db.agent_tx(principal.tenant_id, principal.agent_id) as tx:
        row = await tx.row(
            QueryRef("clients", "insert_client"),
            client_type="individual",
            first_name="Ann",
            last_name=None,
            company_name=None,
            email=None,
            phone=None,
            mobile_phone=None,
            date_of_birth=None,
            notes=None,
            time_zone=None,
            status="active",
            lifecycle_stage="customer",
            tags=[],
            external_ref=None,
        )
    return str(row["id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="calls per set-up")
    parser.add_argument("--rounds", type=int, default=8, help="interleaved rounds")
    args = parser.parse_args()
    timings = asyncio.run(run(args.calls, args.rounds))
    base = statistics.median(timings["none"])
    print(f"{'set-up':12} {'p50 ms':>8} {'p90 ms':>8} {'p50 / none':>11}")
    for setup, values in timings.items():
        p50 = statistics.median(values)
        p90 = statistics.quantiles(values, n=10)[-1]
        print(f"{setup:12} {p50:8.2f} {p90:8.2f} {p50 / base:11.2f}")


if __name__ == "__main__":
    main()
