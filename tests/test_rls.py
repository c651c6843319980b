"""Row-level security is the floor: every agent call runs as bizctx_app with its tenant set,
on connections that log in as a role that can become nothing else (and reads nothing before)."""

import uuid

import psycopg
import pytest
from mcp import Client
from psycopg.rows import dict_row

from bizctx.ops import operators
from bizctx.server import migrations
from bizctx.server.access import parse_access_patterns
from bizctx.server.app import build_server, open_app
from bizctx.server.errors import StartupError
from bizctx.server.guard import Principal
from bizctx.server.queries import QueryBook
from conftest import small_settings

pytestmark = pytest.mark.anyio

BEGIN = QueryBook.load()["governance.begin_agent_call"].text


def as_agent(conn: psycopg.Connection, agent, tasks_scope: str = "all", mem_docs_scope: str = "all") -> None:
    conn.execute(
        BEGIN,
        {
            "tenant_id": str(agent.tenant_id),
            "agent_id": str(agent.id),
            "tasks_scope": tasks_scope,
            "mem_docs_scope": mem_docs_scope,
            "statement_timeout": "5000",
        },
    )


async def test_tenant_a_agent_cannot_read_tenant_b_rows(make_agent, dsn):
    a = await make_agent()
    b = await make_agent()
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        if conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()["rolsuper"]:
            # The point of the test: the pool's own role would bypass RLS.
            assert conn.execute("SELECT count(*) AS n FROM agents").fetchone()["n"] >= 2
        as_agent(conn, a)
        assert conn.execute("SELECT current_user AS u").fetchone()["u"] == "bizctx_app"
        agents = conn.execute("SELECT tenant_id, id FROM agents").fetchall()
        assert agents == [{"tenant_id": a.tenant_id, "id": a.id}]
        assert [r["id"] for r in conn.execute("SELECT id FROM tenants")] == [a.tenant_id]
        assert conn.execute("SELECT * FROM agents WHERE id = %s", (b.id,)).fetchall() == []
        conn.rollback()


async def test_writing_into_another_tenant_is_refused(make_agent, dsn):
    a = await make_agent()
    b = await make_agent()
    with psycopg.connect(dsn) as conn:
        as_agent(conn, a)
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute(
                "INSERT INTO audit_logs (tenant_id, agent_id, request_id, transport, kind, name, outcome, "
                "duration_ms) VALUES (%s, %s, 'r', 'stdio', 'tool', 'x', 'ok', 1)",
                (b.tenant_id, b.id),
            )


async def test_agents_may_write_audit_rows_but_never_read_them(make_agent, dsn):
    a = await make_agent()
    with psycopg.connect(dsn) as conn:
        as_agent(conn, a)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM audit_logs")


async def test_without_a_tenant_setting_bizctx_app_sees_nothing(make_agent, dsn):
    await make_agent()
    with psycopg.connect(dsn) as conn:
        conn.execute("SET LOCAL ROLE bizctx_app")
        assert conn.execute("SELECT count(*) FROM agents").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM tenants").fetchone() == (0,)


def test_every_tenant_table_has_forced_rls_and_both_policies(sql):
    rows = sql.execute(
        """
        SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
               ARRAY(SELECT polname FROM pg_policy p WHERE p.polrelid = c.oid ORDER BY 1) AS policies
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
          AND EXISTS (SELECT 1 FROM pg_attribute a
                      WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
        """
    ).fetchall()
    assert len(rows) >= 3
    # A partition (audit_logs' months, migration 0170) is read and written through its parent,
    # whose policies apply; its own are never consulted, so it must be granted to nobody.
    granted = sql.execute(
        """
        SELECT c.relname, c.relacl::text AS acl
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        WHERE c.relispartition AND c.relacl IS NOT NULL
          AND EXISTS (SELECT 1 FROM aclexplode(c.relacl) x WHERE x.grantee <> c.relowner)
        """
    ).fetchall()
    assert granted == []
    # Restrictive policies narrow what an agent sees within its tenant (migration 0045 and
    # the idempotency store's own_keys); every table has exactly the two base policies besides.
    # bizctx_stats (migration 0150) reads four tables for the security-definer functions;
    # bizctx_search (0165) finds search candidates in clients (its function filters the tenant);
    # bizctx_recall (0180) finds recall's text matches in mem_docs (its function filters the
    # tenant and the caller's scope); the search vocabulary (0185) is bizctx_search's alone (its
    # triggers keep it, its function filters the tenant), and it reads segment memberships for
    # a search's segment filter (0185).
    narrowing = {
        "clients": {"search_candidates"},
        "client_segment_memberships": {"search_candidates"},
        "client_search_words": {"search_words"},
        "client_search_word_pairs": {"search_words"},
        "client_search_word_partners": {"search_words"},
        "client_search_vocabulary": {"search_words"},
        "tasks": {"task_scope", "stats_tenant"},
        "task_events": {"task_scope", "stats_tenant"},
        "agents": {"stats_tenant"},
        "audit_logs": {"stats_tenant"},
        "approval_events": {"task_scope"},
        "dead_letters": {"task_scope"},
        "mem_docs": {"mem_doc_scope", "mem_doc_delete", "recall_candidates"},
        "idempotency_keys": {"own_keys"},
        "approval_calls": {"task_scope"},
    }
    for r in rows:
        assert r["relrowsecurity"] and r["relforcerowsecurity"], r["relname"]
        expected = {"operator_all", "tenant_isolation"} | narrowing.get(r["relname"], set())
        assert set(r["policies"]) == expected, r["relname"]


def test_every_table_of_an_agent_or_a_task_has_its_scope_policy(sql):
    """A table with an assignee or owner column, or a reference to a task, needs a restrictive
    row policy for bizctx_app: an agent's scope is held by the database, never by a query
    that remembered it."""
    unscoped = sql.execute(
        """
        SELECT c.relname
        FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        WHERE c.relkind IN ('r', 'p')
          AND (EXISTS (SELECT 1 FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND NOT a.attisdropped
                         AND a.attname IN ('assignee_agent_id', 'owner_agent_id'))
               OR EXISTS (SELECT 1 FROM pg_constraint con
                          WHERE con.conrelid = c.oid AND con.contype = 'f'
                            AND con.confrelid = 'tasks'::regclass))
          AND NOT EXISTS (SELECT 1 FROM pg_policy p
                          WHERE p.polrelid = c.oid AND NOT p.polpermissive
                            AND 'bizctx_app'::regrole = ANY (p.polroles))
        """
    ).fetchall()
    assert unscoped == []


async def test_an_assigned_scope_cannot_see_another_agents_task_events_by_id(make_agent, dsn, sql):
    """The scope holds in every query, even one that forgets to look the task up first."""
    boss = await make_agent()
    worker = await make_agent(tenant=boss.tenant_name)
    task = sql.execute(
        "INSERT INTO tasks (tenant_id, type, title, created_by_agent_id) "
        "VALUES (%s, 'call', 'Call Ann', %s) RETURNING id",
        (boss.tenant_id, boss.id),
    ).fetchone()["id"]
    events = QueryBook.load()["tasks.list_task_events"].text
    approvals = QueryBook.load()["tasks.list_approval_events"].text
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        as_agent(conn, worker, tasks_scope="assigned")
        assert conn.execute(events, {"task_id": task, "limit": 10}).fetchall() == []
        assert conn.execute(approvals, {"task_id": task}).fetchall() == []
        assert conn.execute("SELECT count(*) AS n FROM task_events").fetchone()["n"] == 0
        conn.rollback()
        as_agent(conn, worker, tasks_scope="all")
        assert [e["to_status"] for e in conn.execute(events, {"task_id": task, "limit": 10})] == ["pending"]
        conn.rollback()
        as_agent(conn, boss, tasks_scope="assigned")
        assert len(conn.execute(events, {"task_id": task, "limit": 10}).fetchall()) == 1
        conn.rollback()


async def test_mem_doc_scopes_hold_in_the_database(make_agent, dsn, sql):
    alice = await make_agent()
    bob = await make_agent(tenant=alice.tenant_name)
    for visibility in ("private", "shared"):
        sql.execute(
            "INSERT INTO mem_docs (tenant_id, owner_agent_id, visibility, content) VALUES (%s, %s, %s, 'x')",
            (alice.tenant_id, alice.id, visibility),
        )
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        seen = {}
        for scope in ("own", "own_and_shared", "all"):
            as_agent(conn, bob, mem_docs_scope=scope)
            seen[scope] = sorted(r["visibility"] for r in conn.execute("SELECT visibility FROM mem_docs"))
            conn.rollback()
        # Seeing a shared document is not owning it: only scope all may delete it.
        as_agent(conn, bob, mem_docs_scope="own_and_shared")
        assert conn.execute("DELETE FROM mem_docs").rowcount == 0
        conn.rollback()
        # A missing scope setting is the narrowest scope.
        conn.execute(
            "SELECT set_config('role', 'bizctx_app', true), set_config('app.tenant_id', %s, true)",
            (str(bob.tenant_id),),
        )
        assert conn.execute("SELECT count(*) AS n FROM mem_docs").fetchone()["n"] == 0
        conn.rollback()
    assert seen == {"own": [], "own_and_shared": ["shared"], "all": ["private", "shared"]}


def test_every_tenant_table_is_keyed_by_tenant(sql):
    """The Citus rule, read from the catalog: primary keys and unique constraints contain
    tenant_id, and foreign keys between tenant tables are composite on tenant_id."""
    tenant_tables = {
        r["relname"]
        for r in sql.execute(
            """
            SELECT c.relname FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
            WHERE c.relkind IN ('r', 'p')
            """
        )
    }
    constraints = sql.execute(
        """
        SELECT con.conname, con.contype, c.relname AS tbl, f.relname AS ref,
               ARRAY(SELECT a.attname FROM unnest(con.conkey) WITH ORDINALITY k (attnum, i)
                     JOIN pg_attribute a
                     ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.i) AS cols,
               ARRAY(SELECT a.attname FROM unnest(con.confkey) WITH ORDINALITY k (attnum, i)
                     JOIN pg_attribute a
                     ON a.attrelid = con.confrelid AND a.attnum = k.attnum ORDER BY k.i) AS ref_cols
        FROM pg_constraint con
        JOIN pg_class c ON c.oid = con.conrelid
        LEFT JOIN pg_class f ON f.oid = con.confrelid
        WHERE con.contype IN ('p', 'u', 'f', 'x') AND c.relname = ANY(%s)
        """,
        (list(tenant_tables),),
    ).fetchall()
    unique_indexes = sql.execute(
        """
        SELECT i.indexrelid::regclass::text AS name, c.relname AS tbl,
               pg_get_indexdef(i.indexrelid) AS def
        FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
        WHERE i.indisunique AND c.relname = ANY(%s)
        """,
        (list(tenant_tables),),
    ).fetchall()
    problems = []
    # Every primary key leads with tenant_id. The one partitioned table, audit_logs (migration
    # 0170, DESIGN v2), has (tenant_id, occurred_at, id): a partitioned table's keys must hold
    # its partition column, and it is partitioned by occurred_at and nothing else.
    partitioned = sql.execute(
        """
        SELECT c.relname, pg_get_partkeydef(c.oid) AS partkey FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        WHERE c.relkind = 'p'
        """
    ).fetchall()
    assert partitioned == [{"relname": "audit_logs", "partkey": "RANGE (occurred_at)"}]
    partitions = {
        r["relname"] for r in sql.execute("SELECT inhrelid::regclass::text AS relname FROM pg_inherits")
    }
    for c in constraints:
        if c["contype"] != "p":
            continue
        if c["tbl"] == "audit_logs" or c["tbl"] in partitions:
            if c["cols"] != ["tenant_id", "occurred_at", "id"]:
                problems.append(f"{c['tbl']}.{c['conname']} is not (tenant_id, occurred_at, id)")
        elif c["cols"][0] != "tenant_id":
            problems.append(f"{c['tbl']}.{c['conname']} does not lead with tenant_id")
    has_pk = {c["tbl"] for c in constraints if c["contype"] == "p"}
    problems += [f"{t}: no primary key" for t in tenant_tables - has_pk]
    for c in constraints:
        if c["contype"] in ("p", "u", "x") and "tenant_id" not in c["cols"]:
            problems.append(f"{c['tbl']}.{c['conname']} does not include tenant_id")
        if c["contype"] == "f" and c["ref"] in tenant_tables:
            if "tenant_id" not in c["cols"] or c["cols"][c["ref_cols"].index("tenant_id")] != "tenant_id":
                problems.append(f"{c['tbl']}.{c['conname']} -> {c['ref']} is not composite on tenant_id")
    for idx in unique_indexes:
        if "tenant_id" not in idx["def"]:
            problems.append(f"unique index {idx['name']} does not include tenant_id")
    assert problems == []


def test_every_status_column_is_checked(sql):
    unchecked = sql.execute(
        """
        SELECT c.relname, a.attname
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        WHERE a.attname IN ('status', 'kind', 'visibility', 'doc_type', 'outcome', 'channel', 'decision')
          AND NOT a.attisdropped
          AND NOT EXISTS (
              SELECT 1 FROM pg_constraint con
              WHERE con.conrelid = c.oid AND con.contype = 'c' AND a.attnum = ANY(con.conkey))
        """
    ).fetchall()
    assert unchecked == []


def test_money_is_never_floating_point(sql):
    floats = sql.execute(
        """
        SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod) AS type
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        WHERE a.attnum > 0 AND NOT a.attisdropped
          AND format_type(a.atttypid, a.atttypmod) IN ('real', 'double precision', 'money')
        """
    ).fetchall()
    assert floats == []
    naive = sql.execute(
        """
        SELECT c.relname, a.attname
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid AND c.relkind = 'r'
        JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
        WHERE a.attnum > 0 AND NOT a.attisdropped
          AND format_type(a.atttypid, a.atttypmod) = 'timestamp without time zone'
        """
    ).fetchall()
    assert naive == []


# -- least privilege: agent calls log in as a role that can only become bizctx_app ----------------


async def test_agent_calls_log_in_as_a_role_that_can_only_become_bizctx_app(app, make_agent, connect, sql):
    agent = await make_agent(caps=["clients.read"], access={"clients": {"read": True}})
    async with connect(agent) as c:
        listed = await c.call_tool("search_clients", {})
    assert not listed.is_error
    login = sql.execute("SELECT role_name FROM agent_login").fetchone()["role_name"]
    async with app.db.pool.connection() as conn:
        who = await (await conn.execute("SELECT current_user AS u")).fetchone()
        assert who["u"] == login
        # Before its SET ROLE, a call that forgot it: no row of any table, any tenant.
        for table in ("clients", "agents", "tenants", "audit_logs", "agent_login"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                await conn.execute(f"SELECT 1 FROM {table} LIMIT 1")
        # And the owner's roles are out of reach: only bizctx_app.
        for role in ("bizctx_operator", "postgres"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                await conn.execute(f"SET ROLE {role}")
    role = sql.execute(
        "SELECT rolsuper, rolbypassrls, rolinherit, rolcreaterole, rolcreatedb"
        " FROM pg_roles WHERE rolname = %s",
        (login,),
    ).fetchone()
    assert not any(role.values()), role
    owned = sql.execute(
        "SELECT count(*) AS n FROM pg_class c JOIN pg_roles r ON r.oid = c.relowner WHERE r.rolname = %s",
        (login,),
    ).fetchone()["n"]
    assert owned == 0


def _owner(sql, new_database, server_dsn: str, *, createrole: bool) -> str:
    """A database owned by a new non-superuser role (extensions made for it by the superuser,
    as a hosting provider does), and that role's DSN."""
    name = f"owner_{uuid.uuid4().hex[:8]}"
    url = new_database()
    dbname = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    sql.execute(
        psycopg.sql.SQL("CREATE ROLE {} LOGIN {}").format(
            psycopg.sql.Identifier(name), psycopg.sql.SQL("CREATEROLE" if createrole else "NOCREATEROLE")
        )
    )
    sql.execute(
        psycopg.sql.SQL(
            "GRANT bizctx_app, bizctx_operator, bizctx_stats, bizctx_search, bizctx_recall TO {}"
            " WITH ADMIN OPTION"
        ).format(psycopg.sql.Identifier(name))
    )
    sql.execute(
        psycopg.sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
            psycopg.sql.Identifier(dbname), psycopg.sql.Identifier(name)
        )
    )
    with psycopg.connect(url, autocommit=True) as conn:
        for ext in ("vector", "btree_gist", "pg_trgm"):
            conn.execute(psycopg.sql.SQL("CREATE EXTENSION {}").format(psycopg.sql.Identifier(ext)))
        conn.execute(psycopg.sql.SQL("ALTER SCHEMA public OWNER TO {}").format(psycopg.sql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(url)
    info["user"] = name
    return psycopg.conninfo.make_conninfo(**info)


@pytest.mark.parametrize("createrole", [True, False])
async def test_an_owner_that_is_not_a_superuser(createrole, sql, new_database, server_dsn, tmp_path, caplog):
    """With CREATEROLE the owner makes the login role; without, agent calls log in as the owner
    and start-up says so (the README's way out: an admin makes the role, AGENT_DATABASE_URL)."""
    owner_dsn = _owner(sql, new_database, server_dsn, createrole=createrole)
    migrations.migrate(owner_dsn)
    settings = small_settings(owner_dsn, tmp_path)
    async with open_app(settings, migrate=False) as app:
        tenant = await operators.create_tenant(app.db, "owned")
        new = await operators.create_agent(
            app.db,
            tenant["name"],
            "a",
            ["clients.write"],
            parse_access_patterns({"clients": {"write": True}}),
        )
        principal = Principal(new.agent["tenant_id"], new.agent["id"], "memory")
        async with Client(build_server(app, lambda ctx: principal)) as client:
            wrote = await client.call_tool("upsert_client", {"first_name": "Ann"})
        async with app.db.pool.connection() as conn:
            login = (await (await conn.execute("SELECT current_user AS u")).fetchone())["u"]
    owner = psycopg.conninfo.conninfo_to_dict(owner_dsn)["user"]
    assert not wrote.is_error, wrote.content[0].text
    warned = [r.getMessage() for r in caplog.records if "Least privilege" in r.getMessage()]
    if createrole:
        assert login.startswith("bizctx_login_") and not warned
    else:
        assert login == owner and len(warned) == 1 and "owns the tables" in warned[0]


async def test_databases_whose_names_share_a_long_prefix_get_their_own_login_roles(new_database, tmp_path):
    """Role names are cut at 63 characters: the hash of the whole name keeps two databases from
    sharing one (the second would have changed the first's password, locking its agents out)."""
    stem = f"bizctx_test_{uuid.uuid4().hex[:8]}_" + "x" * 36
    first, second = new_database(stem + "_a"), new_database(stem + "_b")
    logins = []
    for dsn in (first, second):
        migrations.migrate(dsn)
        with psycopg.connect(dsn, row_factory=dict_row) as conn:
            logins.append(conn.execute("SELECT role_name FROM agent_login").fetchone()["role_name"])
    assert logins[0] != logins[1] and all(len(name) <= 63 for name in logins)
    async with open_app(small_settings(first, tmp_path), migrate=False) as app:  # its password still works
        async with app.db.agent_tx(uuid.uuid4(), None):
            pass  # a call's transaction opens (as bizctx_app) on the login's connection
        async with app.db.pool.connection() as conn:
            assert (await (await conn.execute("SELECT current_user AS u")).fetchone())["u"] == logins[0]


async def test_a_login_the_server_refuses_stops_start_up_with_what_to_do(dsn, tmp_path):
    wrong = psycopg.conninfo.make_conninfo(dsn, user="bizctx_no_such_login", password="nope")
    settings = small_settings(dsn, tmp_path).model_copy(update={"agent_database_url": wrong})
    with pytest.raises(StartupError) as refused:
        async with open_app(settings, migrate=False):
            pass
    assert "bizctx_no_such_login" in str(refused.value) and "BIZCTX_AGENT_DATABASE_URL" in str(refused.value)
    assert "nope" not in str(refused.value)


def test_the_security_definer_functions_run_as_a_role_that_row_security_binds(sql):
    """They read tables agents may not (audit_logs) or past the task scope (tasks): as an owner
    RLS never binds (a superuser, or the migrations' login with FORCE'd tables) they would read
    more, or less, than the one business the call set. They run as bizctx_stats: no superuser,
    no BYPASSRLS, a member of no role with other policies, the tenant its only policy."""
    rows = sql.execute(
        "SELECT p.proname, r.rolname, r.rolsuper, r.rolbypassrls,"
        " EXISTS (SELECT 1 FROM pg_auth_members m WHERE m.member = r.oid) AS member_of_any,"
        " p.proconfig FROM pg_proc p JOIN pg_roles r ON r.oid = p.proowner"
        " WHERE p.prosecdef AND p.pronamespace = 'public'::regnamespace ORDER BY 1"
    ).fetchall()
    # bizctx_client_candidates (0165) runs as bizctx_search, whose policy lets the planner use
    # the trigram indexes; bizctx_mem_doc_text_hits (0180) as bizctx_recall, whose policy lets it
    # use the full-text index. Their own tenant (and scope) filters are tested below. The
    # triggers keeping the search vocabulary (0185) write only bizctx_search's tables.
    owners = {
        "bizctx_agents_last_seen": "bizctx_stats",
        "bizctx_client_candidates": "bizctx_search",
        "bizctx_client_words_forget": "bizctx_search",
        "bizctx_client_words_learn": "bizctx_search",
        "bizctx_mem_doc_text_hits": "bizctx_recall",
        "bizctx_task_kpis": "bizctx_stats",
    }
    assert [r["proname"] for r in rows] == sorted(owners)
    for r in rows:
        assert (r["rolname"], r["rolsuper"], r["rolbypassrls"], r["member_of_any"]) == (
            owners[r["proname"]],
            False,
            False,
            False,
        )
        assert "search_path=pg_catalog, public, pg_temp" in r["proconfig"]


async def test_search_candidates_come_from_the_callers_tenant_only(make_agent, dsn, sql):
    a = await make_agent()
    b = await make_agent()
    mine = sql.execute(
        "INSERT INTO clients (tenant_id, first_name, last_name, email, phone)"
        " VALUES (%s, 'Zebulon', 'Quartz', 'zq@example.com', '+1 555 867 5309') RETURNING id",
        (a.tenant_id,),
    ).fetchone()["id"]
    sql.execute(
        "INSERT INTO clients (tenant_id, first_name, last_name, email, phone)"
        " VALUES (%s, 'Zebulon', 'Quartz', 'zq@example.com', '+1 555 867 5309')",
        (b.tenant_id,),
    )
    find = "SELECT bizctx_client_candidates(%s, NULL, true, true, 0.3, NULL, 50) AS id"
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        as_agent(conn, a)
        by_name = [r["id"] for r in conn.execute(find, ("zebulon quartz",))]
        by_email = [r["id"] for r in conn.execute(find, ("zq@",))]
        # Every arm filters the tenant: the words of 0185 (both words, one word as it is and
        # another near, one word, each also a second page), the prefixes, phone digits (start,
        # end, inside); e-mail and phone are not matched when the caller may not match them.
        paged = "SELECT bizctx_client_candidates(%s, NULL, true, true, 0.3, %s, 50) AS id"
        fuzzy = ("zeb qua", "zebulon qaurtz")
        by_words = [[r["id"] for r in conn.execute(find, (q,))] for q in (*fuzzy, "zebulon")]
        by_words += [[r["id"] for r in conn.execute(paged, (q, 0.999))] for q in fuzzy]
        digits = "SELECT bizctx_client_candidates(%s, %s, %s, %s, 0.3, NULL, 50) AS id"
        by_phone = [r["id"] for r in conn.execute(digits, ("867-5309", "8675309", True, True))]
        by_phone_start = [r["id"] for r in conn.execute(digits, ("1555867", "1555867", True, True))]
        by_phone_inside = [r["id"] for r in conn.execute(digits, ("555 867", "555867", True, True))]
        unmatched = conn.execute(digits, ("zq@example.com", None, False, True)).fetchall()
        unmatched += conn.execute(digits, ("867-5309", "8675309", True, False)).fetchall()
        conn.rollback()
        # No tenant set: nothing, whatever is asked.
        conn.execute("SELECT set_config('role', 'bizctx_app', true)")
        assert conn.execute(find, ("zebulon quartz",)).fetchall() == []
        conn.rollback()
    assert by_name == by_email == by_phone == by_phone_start == by_phone_inside == [mine]
    assert by_words == [[mine]] * 5
    assert unmatched == []
    # Agent calls cannot become the role the function runs as (nor can their login role).
    member = "SELECT pg_has_role(%s, 'bizctx_search', 'MEMBER') AS m"
    assert not sql.execute(member, ("bizctx_app",)).fetchone()["m"]
    login = sql.execute("SELECT role_name FROM agent_login").fetchone()
    assert login is None or not sql.execute(member, (login["role_name"],)).fetchone()["m"]


def test_the_search_words_follow_every_write_to_clients(sql):
    """The words search finds clients by (0185) are kept by triggers on clients, whoever writes:
    a rename, a soft delete and its undoing, a delete, a statement writing many rows."""
    tenant = sql.execute("INSERT INTO tenants (name) VALUES (%s) RETURNING id", (f"w-{uuid.uuid4()}",))
    t = tenant.fetchone()["id"]

    def words(client_id):
        rows = sql.execute(
            "SELECT word FROM client_search_words WHERE tenant_id = %s AND client_id = %s ORDER BY word",
            (t, client_id),
        )
        pairs = sql.execute(
            "SELECT count(*) AS n FROM client_search_word_pairs WHERE tenant_id = %s AND client_id = %s",
            (t, client_id),
        )
        found = [r["word"] for r in rows]
        assert pairs.fetchone()["n"] == len(found) * (len(found) - 1)  # each ordered pair, once
        return found

    c = sql.execute(
        "INSERT INTO clients (tenant_id, first_name, last_name, company_name)"
        " VALUES (%s, 'Ann', 'Lee', 'Lee & Co') RETURNING id",
        (t,),
    ).fetchone()["id"]
    assert words(c) == ["ann", "co", "lee"]
    sql.execute("UPDATE clients SET last_name = 'Okafor', status = 'inactive' WHERE id = %s", (c,))
    assert words(c) == ["ann", "co", "lee", "okafor"]  # "lee" stays: the company has it
    sql.execute("UPDATE clients SET company_name = NULL WHERE id = %s", (c,))
    assert words(c) == ["ann", "okafor"]
    sql.execute("UPDATE clients SET deleted_at = now() WHERE id = %s", (c,))
    assert words(c) == []
    sql.execute("UPDATE clients SET deleted_at = NULL WHERE id = %s", (c,))
    assert words(c) == ["ann", "okafor"]
    sql.execute("DELETE FROM clients WHERE id = %s", (c,))
    assert words(c) == []
    sql.execute(
        "INSERT INTO clients (tenant_id, first_name, last_name)"
        " SELECT %s, 'Bo', 'Client' || i FROM generate_series(1, 300) i",
        (t,),
    )

    def clients_with(word):
        query = "SELECT count(*) AS n FROM client_search_words WHERE tenant_id = %s AND word = %s"
        return sql.execute(query, (t, word)).fetchone()["n"]

    assert (clients_with("bo"), clients_with("client300")) == (300, 1)
    sql.execute("UPDATE clients SET first_name = 'Cy' WHERE tenant_id = %s", (t,))
    assert (clients_with("bo"), clients_with("cy"), clients_with("client300")) == (0, 300, 1)
    # The vocabulary only grows; the search checks a word still has clients.
    vocabulary = "SELECT count(*) AS n FROM client_search_vocabulary WHERE tenant_id = %s"
    vocabulary += " AND word IN ('bo', 'cy')"
    assert sql.execute(vocabulary, (t,)).fetchone()["n"] == 2
    sql.execute("DELETE FROM tenants WHERE id = %s", (t,))
    left = sql.execute(
        "SELECT (SELECT count(*) FROM client_search_words WHERE tenant_id = %(t)s)"
        " + (SELECT count(*) FROM client_search_word_pairs WHERE tenant_id = %(t)s)"
        " + (SELECT count(*) FROM client_search_word_partners WHERE tenant_id = %(t)s)"
        " + (SELECT count(*) FROM client_search_vocabulary WHERE tenant_id = %(t)s) AS n",
        {"t": t},
    )
    assert left.fetchone()["n"] == 0


async def test_recall_text_hits_come_from_the_callers_tenant_and_scope_only(make_agent, dsn, sql):
    a = await make_agent()
    a2 = await make_agent(tenant=a.tenant_name)
    b = await make_agent()
    insert = (
        "INSERT INTO mem_docs (tenant_id, owner_agent_id, visibility, content) VALUES (%s, %s, %s, %s)"
        " RETURNING id"
    )
    words = "the zanzibar lockbox code"
    mine = sql.execute(insert, (a.tenant_id, a.id, "private", words)).fetchone()["id"]
    shared = sql.execute(insert, (a.tenant_id, a2.id, "shared", words)).fetchone()["id"]
    sql.execute(insert, (a.tenant_id, a2.id, "private", words))  # a2's own: not a's to see
    sql.execute(insert, (b.tenant_id, b.id, "shared", words))  # another business's
    find = "SELECT id FROM bizctx_mem_doc_text_hits(%s, NULL, NULL, NULL, NULL, 50)"
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        as_agent(conn, a, mem_docs_scope="own_and_shared")
        own_and_shared = {r["id"] for r in conn.execute(find, ("zanzibar lockbox",))}
        conn.rollback()
        as_agent(conn, a, mem_docs_scope="own")
        own = {r["id"] for r in conn.execute(find, ("zanzibar lockbox",))}
        conn.rollback()
        # No tenant set: nothing, whatever is asked.
        conn.execute("SELECT set_config('role', 'bizctx_app', true)")
        assert conn.execute(find, ("zanzibar lockbox",)).fetchall() == []
        conn.rollback()
    assert own_and_shared == {mine, shared}
    assert own == {mine}
    member = "SELECT pg_has_role(%s, 'bizctx_recall', 'MEMBER') AS m"
    assert not sql.execute(member, ("bizctx_app",)).fetchone()["m"]
    login = sql.execute("SELECT role_name FROM agent_login").fetchone()
    assert login is None or not sql.execute(member, (login["role_name"],)).fetchone()["m"]
