"""bizctx://kpis: this month's KPIs beside last month's (get_kpis with its defaults)."""

from __future__ import annotations

from bizctx.server.guard import Call
from bizctx.tools.goals import GetKpisIn, KpisOut, goals, kpi_view


@goals.resource("bizctx://kpis", name="kpis")
async def kpis(call: Call) -> KpisOut:
    """The business's key figures this month beside last month's: revenue, receivables,
    appointments, no-shows, utilisation, new clients and the task queue's throughput, each with
    its unit and the goals it measures (get_kpis takes another period). KPIs over data you may
    not read are listed as withheld."""
    return await kpi_view(call, GetKpisIn())
