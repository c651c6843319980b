"""The operator's CLI and `bizctx serve` over stdio, as separate processes, driven by
the official MCP client exactly as Claude Desktop or an orchestrator would."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

pytestmark = pytest.mark.anyio


def bizctx_command() -> list[str]:
    script = Path(sys.executable).with_name("bizctx")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bizctx.ops.cli"]


@pytest.fixture
def env(dsn, tmp_path) -> dict[str, str]:
    return {"DATABASE_URL": dsn, "BIZCTX_DATA_DIR": str(tmp_path), "PATH": os.environ.get("PATH", "")}


def run(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*bizctx_command(), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(f"bizctx {' '.join(args)} failed: {result.stderr}")
    return result


@pytest.fixture
def tenant(env, request) -> str:
    name = f"cli-{request.node.name[-20:]}-{os.getpid()}-{id(request)}"
    run(env, "tenant", "create", name, "--time-zone", "America/New_York")
    return name


def create_agent(
    env, tenant: str, name: str, *caps: str, access: str = '{"clients": {"read": true}}'
) -> dict:
    args = ["agent", "create", name, "--tenant", tenant, "--access-patterns", access, "--json"]
    for cap in caps:
        args += ["--capability", cap]
    return json.loads(run(env, *args).stdout)


def serve_params(env: dict[str, str], key: str | None) -> StdioServerParameters:
    command, *args = bizctx_command()
    child_env = dict(env)
    if key is not None:
        child_env["BIZCTX_AGENT_KEY"] = key
    return StdioServerParameters(command=command, args=[*args, "serve"], env=child_env)


def test_migrate_twice_from_the_cli(env):
    first = run(env, "migrate")
    second = run(env, "migrate")
    assert first.returncode == 0 and "up to date" in second.stdout


def test_agent_create_prints_the_key_once_and_stores_only_its_hash(env, tenant, sql):
    agent = create_agent(
        env, tenant, "desk", "clients.read", access='{"clients": {"read": true, "redact": ["email"]}}'
    )
    key = agent["key"]
    assert key.startswith("bctx_") and len(key) > 40
    assert agent["capabilities"] == ["clients.read"]
    row = sql.execute("SELECT * FROM agents WHERE id = %s", (agent["id"],)).fetchone()
    assert key not in json.dumps(row, default=str)
    assert row["key_prefix"] == key[:9]
    listed = run(env, "agent", "list", "--tenant", tenant).stdout
    assert "desk" in listed and key not in listed


def test_access_patterns_from_a_file_and_invalid_ones_refused(env, tenant, tmp_path):
    path = tmp_path / "access.json"
    path.write_text('{"tasks": {"read": true, "scope": "assigned"}}')
    agent = create_agent(env, tenant, "worker", "tasks.read", access=str(path))
    assert agent["access_patterns"] == {
        "tasks": {"read": True, "write": False, "redact": [], "scope": "assigned"}
    }
    bad = run(
        env, "agent", "create", "x", "--tenant", tenant, "--access-patterns", '{"client": {}}', check=False
    )
    assert bad.returncode != 0 and "unknown domain" in bad.stderr
    unknown_cap = run(
        env,
        "agent",
        "create",
        "y",
        "--tenant",
        tenant,
        "--capability",
        "clients.delete",
        "--access-patterns",
        "{}",
        check=False,
    )
    assert unknown_cap.returncode != 0 and "unknown capabilities ['clients.delete']" in unknown_cap.stderr


def test_grant_revoke_disable_enable(env, tenant):
    create_agent(env, tenant, "ops", "clients.read")
    out = json.loads(
        run(env, "agent", "grant", "ops", "--tenant", tenant, "--capability", "tasks.read", "--json").stdout
    )
    assert out["capabilities"] == ["clients.read", "tasks.read"]
    out = json.loads(
        run(
            env, "agent", "revoke", "ops", "--tenant", tenant, "--capability", "clients.read", "--json"
        ).stdout
    )
    assert out["capabilities"] == ["tasks.read"]
    assert "disabled" in run(env, "agent", "disable", "ops", "--tenant", tenant).stdout
    assert "active" in run(env, "agent", "enable", "ops", "--tenant", tenant).stdout
    missing = run(env, "agent", "disable", "nobody", "--tenant", tenant, check=False)
    assert missing.returncode == 2 and "no agent named 'nobody'" in missing.stderr


async def test_a_cli_agent_reads_agent_me_over_stdio(env, tenant, sql):
    agent = create_agent(
        env, tenant, "desk", "clients.read", access='{"clients": {"read": true, "redact": ["email"]}}'
    )
    async with Client(serve_params(env, agent["key"])) as client:
        result = await client.read_resource("bizctx://agent/me")
        resources = await client.list_resources()
    me = json.loads(result.contents[0].text)
    assert me["agent_id"] == agent["id"] and me["name"] == "desk"
    assert me["tenant"]["name"] == tenant and me["tenant"]["time_zone"] == "America/New_York"
    assert me["capabilities"] == ["clients.read"]
    assert me["access_patterns"]["clients"]["redact"] == ["email"]
    assert [str(r.uri) for r in resources.resources] == ["bizctx://agent/me"]
    row = sql.execute(
        "SELECT transport, kind, name, outcome FROM audit_logs WHERE agent_id = %s", (agent["id"],)
    ).fetchone()
    assert row == {"transport": "stdio", "kind": "resource", "name": "bizctx://agent/me", "outcome": "ok"}


def serve_refusal(env: dict[str, str], key: str | None) -> subprocess.CompletedProcess[str]:
    child_env = dict(env)
    if key is not None:
        child_env["BIZCTX_AGENT_KEY"] = key
    return subprocess.run(
        [*bizctx_command(), "serve"], env=child_env, input="", capture_output=True, text=True, timeout=120
    )


def test_serve_refuses_no_key_bad_key_and_disabled_agent(env, tenant):
    agent = create_agent(env, tenant, "desk", "clients.read")
    run(env, "agent", "disable", "desk", "--tenant", tenant)
    cases = {
        None: "no agent key",
        "not-a-key": "malformed",
        "bctx_" + "x" * 43: "not valid",
        agent["key"]: "disabled",
    }
    for key, reason in cases.items():
        result = serve_refusal(env, key)
        assert result.returncode != 0, key
        assert result.stdout == "", "stdout belongs to the protocol"
        lines = result.stderr.strip().splitlines()
        assert lines[-1].startswith("bizctx: ") and reason in lines[-1], result.stderr


def test_a_rotated_key_replaces_the_old_one(env, tenant):
    old = create_agent(env, tenant, "desk", "clients.read")["key"]
    new = json.loads(run(env, "agent", "rotate-key", "desk", "--tenant", tenant, "--json").stdout)["key"]
    assert new != old
    assert "not valid" in serve_refusal(env, old).stderr


def test_db_status_reports_the_external_database(env):
    out = json.loads(run(env, "db", "status", "--json").stdout)
    assert out["database"] == "external (DATABASE_URL)" and out["up"] is True
    assert out["pending"] == []


def test_db_status_says_when_the_embedded_database_is_down(tmp_path):
    env = {"BIZCTX_DATA_DIR": str(tmp_path / "fresh"), "PATH": os.environ.get("PATH", "")}
    result = run(env, "db", "status", "--json", check=False)
    out = json.loads(result.stdout)
    assert result.returncode == 1
    assert out == {
        "database": "embedded",
        "data_dir": str(tmp_path / "fresh" / "pg"),
        "initialised": False,
        "up": False,
        "dsn": None,
    }


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_wheel_has_bizctx_as_its_only_top_level_package(tmp_path):
    import zipfile

    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(root),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("bizctx_mcp-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top == {"bizctx"}
    assert "bizctx/server/guard.py" in names
    assert "bizctx/sql/migrations/0001_governance.sql" in names
    assert "bizctx/sql/queries/governance/begin_agent_call.sql" in names


def test_two_processes_on_one_data_dir_share_one_embedded_server(tmp_path):
    env = {"BIZCTX_DATA_DIR": str(tmp_path / "shared"), "PATH": os.environ.get("PATH", "")}
    try:
        procs = [
            subprocess.Popen(
                [*bizctx_command(), "migrate"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            for _ in range(2)
        ]
        results = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [err.decode()[-3000:] for _, err in results]
        status = json.loads(run(env, "db", "status", "--json").stdout)
        assert status["up"] and status["pending"] == []
        # A later process attaches to the running server instead of starting another.
        pid = (tmp_path / "shared" / "pg" / "postmaster.pid").read_text().split()[0]
        run(env, "tenant", "list")
        assert (tmp_path / "shared" / "pg" / "postmaster.pid").read_text().split()[0] == pid
    finally:
        run(env, "db", "stop", check=False)
    assert json.loads(run(env, "db", "status", "--json", check=False).stdout)["up"] is False


def test_policies_and_contact_rules_from_the_cli(env, tenant):
    def bizctx(command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(env, *command.split(), "--tenant", tenant, check=check)

    limit = "policy add --tool record_payment --effect limit --max-calls 5 --window 1h --per agent --json"
    added = json.loads(bizctx(limit).stdout)
    assert (added["tool"], added["max_calls"], added["window_seconds"]) == ("record_payment", 5, 3600)
    listed = bizctx("policy list").stdout
    assert "record_payment: limit 5 calls per 3600 s per agent" in listed and "void_invoice" in listed

    cap = "compliance set sms_daily --kind frequency_cap --channels sms --max 1 --window-days 1 --action warn"
    rule = json.loads(bizctx(cap + " --categories marketing,other --json").stdout)
    assert (rule["channels"], rule["max_contacts"], rule["action"]) == (["sms"], 1, "warn")
    assert rule["categories"] == ["marketing", "other"]
    assert "sms_daily: sms (marketing,other only)" in bizctx("compliance list").stdout
    bad_kind = bizctx(cap + " --categories spam", check=False)
    assert bad_kind.returncode != 0 and "--categories" in bad_kind.stderr
    rules = json.loads(bizctx("compliance list --json").stdout)
    assert [r["name"] for r in rules] == ["frequency_cap", "quiet_hours", "sms_daily"]
    bad = bizctx("compliance set late --kind quiet_hours --from 22:00 --until 06:00", check=False)
    assert bad.returncode != 0 and "--from must come before --until" in bad.stderr
    assert "removed sms_daily" in bizctx("compliance remove sms_daily").stdout
    assert "sms_daily" not in bizctx("compliance list").stdout

    def template(name: str, body: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run(
            env, "templates", "set", name, "--tenant", tenant, "--channel", "sms", "--category", "reminder",
            "--body", body, "--json", check=check,
        )  # fmt: skip

    short = json.loads(template("reminder_short", "{business_name}: see you {appointment_date}!").stdout)
    assert (short["name"], short["channel"]) == ("reminder_short", "sms")
    assert short["body"] == "{business_name}: see you {appointment_date}!"
    unknown = template("leaky", "Your card {client.card_number}", check=False)
    assert unknown.returncode != 0 and "unknown placeholders {client.card_number}" in unknown.stderr
    names = [t["name"] for t in json.loads(bizctx("templates list --json").stdout)]
    assert "reminder_short" in names and "reminder_sms" in names and "leaky" not in names
    assert "removed reminder_short" in bizctx("templates remove reminder_short").stdout

    ladder = [s["template"] for s in json.loads(bizctx("collections ladder --json").stdout)]
    assert ladder == [
        "payment_reminder_email",
        "payment_reminder_sms",
        "payment_reminder_phone",
        "final_notice_email",
    ]
    two = (
        "collections set-ladder --step 3:email:payment_reminder_email --step 10:phone:payment_reminder_phone"
    )
    steps = json.loads(bizctx(two + " --json").stdout)
    assert [(s["step"], s["days"], s["channel"]) for s in steps] == [(1, 3, "email"), (2, 10, "phone")]
    wrong = bizctx("collections set-ladder --step 3:sms:payment_reminder_email", check=False)
    assert wrong.returncode != 0 and "no sms template named 'payment_reminder_email'" in wrong.stderr
    backwards = bizctx(
        "collections set-ladder --step 9:sms:payment_reminder_sms --step 2:sms:payment_reminder_sms",
        check=False,
    )
    assert backwards.returncode != 0 and "must rise" in backwards.stderr
