"""Hostile probes of search_clients over 0185's word vocabulary: tenant isolation, redaction,
staleness after every kind of write, odd input, and very long names. Each asserts the
behaviour the contract promises, through the real server and the official mcp client."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest
from psycopg.rows import dict_row
from test_rls import as_agent

from bizctx.ops import importer
from bizctx.server.paging import _filters, encode_cursor
from bizctx.tools.clients import SearchClientsIn
from conftest import count, err, ok

pytestmark = pytest.mark.anyio

RW = {
    "caps": ["clients.read", "clients.write"],
    "access": {"clients": {"read": True, "write": True}},
}


async def names(c, query: str, **extra) -> list[str]:
    found = await ok(c, "search_clients", {"query": query, "limit": 100, **extra})
    return [h["display_name"] for h in found["clients"]]


async def ids(c, query: str, **extra) -> set[str]:
    found = await ok(c, "search_clients", {"query": query, "limit": 100, **extra})
    return {h["id"] for h in found["clients"]}


def forged_cursor(query: str, score: float, client_id) -> str:
    args = SearchClientsIn(query=query, limit=100)
    return encode_cursor({"k": "search_clients", "f": _filters(args), "s": score, "i": str(client_id)})


# -- 1. tenant isolation -------------------------------------------------------------------------


async def test_words_only_in_another_tenant_find_nothing(make_agent, connect):
    a = await make_agent(**RW)
    b = await make_agent(**RW)
    async with connect(b) as c:
        await ok(
            c,
            "upsert_client",
            {
                "first_name": "Xanthippe",
                "last_name": "Quillfeather",
                "company_name": "Vorpal Widgets",
                "email": "xq@bee.example",
                "phone": "+1 555 404 9876",
            },
        )
    async with connect(a) as c:
        for q in (
            "xanthippe",
            "quillfeather",
            "xanthippe quillfeather",
            "xanthipe quilfeather",
            "vorpal",
            "vorpal widgets",
            "xq@",
            "xq@bee.example",
            "4049876",
            "555 404 9876",
            "xan qui",
            "quill",
        ):
            assert await names(c, q) == [], q


async def test_same_words_in_both_tenants_return_only_mine_and_score_the_same(make_agent, connect):
    a = await make_agent(**RW)
    b = await make_agent(**RW)
    async with connect(b) as c:
        for i in range(60):  # B has many more clients sharing the words: must not crowd A out
            await ok(c, "upsert_client", {"first_name": "Zorro", "last_name": f"Quimby{i}"})
    async with connect(a) as c:
        mine = await ok(c, "upsert_client", {"first_name": "Zorro", "last_name": "Quimby"})
        for q in ("zorro", "zorro quimby", "zoro quimby", "quimby", "zor qui"):
            found = await ok(c, "search_clients", {"query": q, "limit": 100})
            assert [h["id"] for h in found["clients"]] == [mine["id"]], q
            assert found["next_cursor"] is None


async def test_a_forged_cursor_with_another_tenants_id_and_score_reveals_nothing(make_agent, connect):
    a = await make_agent(**RW)
    b = await make_agent(**RW)
    async with connect(b) as c:
        theirs = await ok(c, "upsert_client", {"first_name": "Ygritte", "last_name": "Snowfield"})
    async with connect(a) as c:
        mine = await ok(c, "upsert_client", {"first_name": "Ygritte", "last_name": "Snowfall"})
        for score in (1.0, 0.999, 0.9, 0.5, 2.0, 1e300, 0.0, -1.0):
            cursor = forged_cursor("ygritte", score, theirs["id"])
            found = await ok(c, "search_clients", {"query": "ygritte", "limit": 100, "cursor": cursor})
            got = [h["id"] for h in found["clients"]]
            assert theirs["id"] not in got
            assert set(got) <= {mine["id"]}
            assert "Snowfield" not in json.dumps(found)


async def test_deleted_clients_of_another_tenant_are_never_found(make_agent, connect, sql):
    a = await make_agent(**RW)
    b = await make_agent(**RW)
    async with connect(b) as c:
        gone = await ok(c, "upsert_client", {"first_name": "Wendeline", "last_name": "Phrygian"})
    sql.execute("UPDATE clients SET deleted_at = now() WHERE id = %s", (gone["id"],))
    sql.execute("UPDATE clients SET deleted_at = NULL WHERE id = %s", (gone["id"],))
    sql.execute("DELETE FROM clients WHERE id = %s", (gone["id"],))
    async with connect(a) as c:
        assert await names(c, "wendeline phrygian") == []
        assert await names(c, "phrygian") == []


# -- 2. redaction --------------------------------------------------------------------------------


async def test_redacted_email_and_phone_cannot_be_searched_by_any_fragment(make_agent, connect):
    writer = await make_agent(**RW)
    async with connect(writer) as c:
        await ok(
            c,
            "upsert_client",
            {
                "first_name": "Opal",
                "last_name": "Nakamura",
                "email": "zed.quark77@hidden.example",
                "phone": "+1 (555) 271-8281",
                "mobile_phone": "+1 555 314 1592",
            },
        )
    masked = await make_agent(
        caps=["clients.read"],
        access={"clients": {"read": True, "redact": ["email", "phone"]}},
        tenant=writer.tenant_name,
    )
    async with connect(masked) as c:
        for q in (
            "zed.quark77@hidden.example",
            "zed.quark77",
            "zed",
            "quark77",
            "zed quark",
            "hidden.example",
            "zed.quark77@",
            "5552718281",
            "2718281",
            "271-8281",
            "555271",
            "8281",
            "3141592",
            "555 314 1592",
            "15553141592",
            "+1 (555) 271-8281",
        ):
            found = await ok(c, "search_clients", {"query": q, "limit": 100})
            assert found["clients"] == [], q
        assert await names(c, "opal nakamura") == ["Opal Nakamura"]


# -- 3. staleness --------------------------------------------------------------------------------


async def test_a_renamed_client_is_found_by_its_new_name_not_its_old(make_agent, connect):
    a = await make_agent(**RW)
    async with connect(a) as c:
        cl = await ok(
            c,
            "upsert_client",
            {"first_name": "Barnabas", "last_name": "Thistlewood", "company_name": "Gryphon Logistics"},
        )
        await ok(
            c,
            "upsert_client",
            {
                "client_id": cl["id"],
                "first_name": "Cornelius",
                "last_name": "Ashgrove",
                "company_name": "Kestrel Foods",
            },
        )
        for old in ("barnabas", "thistlewood", "barnabas thistlewood", "gryphon", "gryphon logistics"):
            assert await names(c, old) == [], old
        for new in ("cornelius", "ashgrove", "cornelius ashgrove", "kestrel", "kestrel foods", "corn ash"):
            assert cl["id"] in await ids(c, new), new


async def test_soft_delete_undelete_hard_delete_through_sql(make_agent, connect, sql):
    a = await make_agent(**RW)
    async with connect(a) as c:
        cl = await ok(c, "upsert_client", {"first_name": "Perpetua", "last_name": "Vandersloot"})
        sql.execute("UPDATE clients SET deleted_at = now() WHERE id = %s", (cl["id"],))
        assert await names(c, "perpetua vandersloot") == []
        assert await names(c, "vandersloot") == []
        sql.execute("UPDATE clients SET deleted_at = NULL WHERE id = %s", (cl["id"],))
        assert await names(c, "vandersloot") == ["Perpetua Vandersloot"]
        # A rename while deleted, then undeleted: the new name only.
        sql.execute("UPDATE clients SET deleted_at = now() WHERE id = %s", (cl["id"],))
        sql.execute("UPDATE clients SET last_name = 'Quenneville' WHERE id = %s", (cl["id"],))
        assert await names(c, "quenneville") == []
        sql.execute("UPDATE clients SET deleted_at = NULL WHERE id = %s", (cl["id"],))
        assert await names(c, "quenneville") == ["Perpetua Quenneville"]
        assert await names(c, "vandersloot") == []
        sql.execute("DELETE FROM clients WHERE id = %s", (cl["id"],))
        assert await names(c, "quenneville") == []
        assert await names(c, "perpetua") == []


async def test_an_update_that_changes_nothing_keeps_the_client_findable(make_agent, connect, sql):
    a = await make_agent(**RW)
    async with connect(a) as c:
        cl = await ok(c, "upsert_client", {"first_name": "Isolde", "last_name": "Marchbanks"})
        sql.execute("UPDATE clients SET last_name = last_name WHERE id = %s", (cl["id"],))
        sql.execute("UPDATE clients SET status = status WHERE tenant_id = %s", (a.tenant_id,))
        await ok(c, "upsert_client", {"client_id": cl["id"], "last_name": "Marchbanks"})
        assert await names(c, "marchbanks") == ["Isolde Marchbanks"]
        assert await names(c, "isolde marchbanks") == ["Isolde Marchbanks"]
    (row,) = sql.execute(
        "SELECT count(*) AS n FROM client_search_words WHERE client_id = %s", (cl["id"],)
    ).fetchall()
    assert row["n"] == 2


async def test_on_conflict_upserts_keep_the_words(make_agent, connect, sql):
    a = await make_agent(**RW)
    async with connect(a) as c:
        cl = await ok(
            c,
            "upsert_client",
            {"first_name": "Ottoline", "last_name": "Brackenbury", "email": "ob@example.com"},
        )
        # Insert-or-update in one statement: one row conflicts (update), one is new (insert).
        sql.execute(
            "INSERT INTO clients (id, tenant_id, first_name, last_name) VALUES"
            " (%s, %s, 'Ottoline', 'Fairweather'), (gen_random_uuid(), %s, 'Lysander', 'Pemberton')"
            " ON CONFLICT (tenant_id, id) DO UPDATE SET last_name = excluded.last_name",
            (cl["id"], a.tenant_id, a.tenant_id),
        )
        assert await names(c, "brackenbury") == []
        assert await names(c, "fairweather") == ["Ottoline Fairweather"]
        assert await names(c, "pemberton") == ["Lysander Pemberton"]
        # ON CONFLICT DO NOTHING inserting nothing.
        sql.execute(
            "INSERT INTO clients (id, tenant_id, first_name, last_name) VALUES (%s, %s, 'Zzz', 'Yyy')"
            " ON CONFLICT (tenant_id, id) DO NOTHING",
            (cl["id"], a.tenant_id),
        )
        assert await names(c, "fairweather") == ["Ottoline Fairweather"]
        assert await names(c, "yyy") == []


async def test_merge_into_clients_keeps_the_words(make_agent, connect, sql):
    a = await make_agent(**RW)
    async with connect(a) as c:
        cl = await ok(c, "upsert_client", {"first_name": "Ermintrude", "last_name": "Sowerby"})
        sql.execute(
            "MERGE INTO clients c USING (VALUES (%s::uuid, 'Halloran')) v (id, ln) ON c.id = v.id"
            " WHEN MATCHED THEN UPDATE SET last_name = v.ln",
            (cl["id"],),
        )
        assert await names(c, "sowerby") == []
        assert await names(c, "halloran") == ["Ermintrude Halloran"]


async def test_a_client_whose_id_changes_is_found_by_its_words(make_agent, connect, sql):
    a = await make_agent(**RW)
    async with connect(a) as c:
        cl = await ok(c, "upsert_client", {"first_name": "Thaddeus", "last_name": "Oglethorpe"})
        new_id = uuid.uuid4()
        sql.execute("UPDATE clients SET id = %s WHERE id = %s", (new_id, cl["id"]))
        # "oglethorpe" is not a prefix of the whole name: only the word lists find it.
        assert await ids(c, "oglethorpe") == {str(new_id)}
        assert await ids(c, "thadeus oglethorp") == {str(new_id)}
    left = sql.execute("SELECT count(*) AS n FROM client_search_words WHERE client_id = %s", (cl["id"],))
    assert left.fetchone()["n"] == 0


async def test_a_client_moved_to_another_tenant_leaves_with_its_words(make_agent, connect, sql):
    a = await make_agent(**RW)
    b = await make_agent(**RW)
    async with connect(a) as c:
        cl = await ok(c, "upsert_client", {"first_name": "Philippa", "last_name": "Wrexham"})
    try:
        sql.execute("UPDATE clients SET tenant_id = %s WHERE id = %s", (b.tenant_id, cl["id"]))
    except Exception:  # the database refuses to move a client: nothing to be stale about
        return
    async with connect(a) as c:
        assert await names(c, "wrexham") == []
    async with connect(b) as c:
        assert await ids(c, "wrexham") == {cl["id"]}
    stale = sql.execute(
        "SELECT count(*) AS n FROM client_search_words WHERE tenant_id = %s AND client_id = %s",
        (a.tenant_id, cl["id"]),
    )
    assert stale.fetchone()["n"] == 0


async def test_bulk_import_and_reimport_with_new_names(app, make_agent, connect, tmp_path):
    a = await make_agent(**RW)
    rows = "external_ref,first_name,last_name,company_name\n" + "".join(
        f"H-{i},Mortimer{i},Glasswell,Pumice Works\n" for i in range(30)
    )
    path = tmp_path / "c.csv"
    path.write_text(rows, encoding="utf-8")
    await importer.import_file(app.db, a.tenant_name, "clients", path)
    async with connect(a) as c:
        assert len(await names(c, "glasswell")) == 30
        assert (await names(c, "mortimer7 glasswell"))[:1] == ["Mortimer7 Glasswell"]
        renamed = rows.replace("Glasswell", "Ravenscroft").replace("Pumice Works", "Basalt Ltd")
        path.write_text(renamed, encoding="utf-8")
        result = await importer.import_file(app.db, a.tenant_name, "clients", path)
        assert result.updated == 30
        assert await names(c, "glasswell") == []
        assert await names(c, "pumice") == []
        assert len(await names(c, "ravenscroft")) == 30
        assert len(await names(c, "basalt")) == 30


async def test_deleting_a_tenant_leaves_no_words(make_agent, sql):
    t = sql.execute("INSERT INTO tenants (name) VALUES (%s) RETURNING id", (f"h-{uuid.uuid4()}",))
    tid = t.fetchone()["id"]
    sql.execute(
        "INSERT INTO clients (tenant_id, first_name, last_name) VALUES (%s, 'Quentin', 'Blake')", (tid,)
    )
    sql.execute("DELETE FROM tenants WHERE id = %s", (tid,))
    for table in (
        "client_search_words",
        "client_search_word_pairs",
        "client_search_vocabulary",
        "client_search_word_partners",
    ):
        assert count(sql, table, tid) == 0, table


# -- 4. odd input --------------------------------------------------------------------------------

ODD = [
    " ",
    "   \t  ",
    "a",
    "Z",
    "?!.,;:-_()[]{}",
    "%",
    "%%%",
    "_",
    "\\",
    "'",
    "' OR 1=1 --",
    "'; DROP TABLE clients; --",
    "Robert'); DROP TABLE clients;--",
    "$$ select 1 $$",
    "José Müller",
    "Zoë Łukasiewicz",
    "山田太郎",
    "東京 株式会社",
    "😀",
    "🏳️‍🌈 party",
    "ünïcödé",
    "1",
    "12",
    "0",
    "00",
    " ".join(f"w{i}" for i in range(50)),
    " ".join("abc" for _ in range(50)),
    "a" * 200,
    "x" * 199 + "é",
    "\u200b",
    "\u0301",
    "ǅ",
    "İstanbul",
    "ß",
]


async def test_odd_queries_give_a_result_never_an_internal_error(make_agent, connect):
    a = await make_agent(**RW)
    async with connect(a) as c:
        await ok(
            c, "upsert_client", {"first_name": "José", "last_name": "Müller", "company_name": "山田太郎 商店"}
        )
        await ok(
            c, "upsert_client", {"first_name": "Zoë", "last_name": "Łukasiewicz", "phone": "+1 555 123 4567"}
        )
        await ok(c, "upsert_client", {"first_name": "Robert'); DROP TABLE clients;--", "last_name": "Tables"})
        for q in ODD:
            result = await c.call_tool("search_clients", {"query": q, "limit": 100})
            assert not result.is_error, (q, result.content[0].text)
        assert "José Müller" in await names(c, "José Müller")
        assert "José Müller" in await names(c, "müller")
        assert "José Müller" in await names(c, "山田太郎")
        assert "Zoë Łukasiewicz" in await names(c, "łukasiewicz")
        assert "Zoë Łukasiewicz" in await names(c, "zoë")
        assert "Robert'); DROP TABLE clients;-- Tables" in await names(c, "Robert'); DROP TABLE clients;--")


async def test_queries_that_cannot_be_text_are_clear_errors(make_agent, connect):
    a = await make_agent(**RW)
    async with connect(a) as c:
        for q in ("x" * 10_000, "a\x00b", "\x00", "w " * 5000):
            error = await err(c, "search_clients", {"query": q})
            assert error["code"] == "invalid_input", (repr(q[:10]), error)


async def test_like_wildcards_in_a_query_are_not_wildcards(make_agent, connect):
    a = await make_agent(**RW)
    async with connect(a) as c:
        await ok(c, "upsert_client", {"first_name": "John", "last_name": "Smith"})
        await ok(c, "upsert_client", {"first_name": "J_hn", "last_name": "Smith"})
        found = await ok(c, "search_clients", {"query": "j_hn", "limit": 100})
        scores = {h["display_name"]: h["score"] for h in found["clients"]}
        # "J_hn Smith" begins with the query (0.9); "John Smith" only shares trigrams with it.
        assert scores["J_hn Smith"] == pytest.approx(0.9)
        assert scores.get("John Smith", 0) < scores["J_hn Smith"]
        assert [h["display_name"] for h in found["clients"]][0] == "J_hn Smith"


# -- 5. very long company names -----------------------------------------------------------------


async def test_a_client_with_a_company_of_many_words_is_written_and_found(make_agent, connect):
    a = await make_agent(**RW)
    words = [f"k{i:02d}" for i in range(75)]
    company = " ".join(words)  # 75 words, 299 characters (the tool's limit is 300)
    assert len(company) <= 300
    async with connect(a) as c:
        cl = await ok(
            c, "upsert_client", {"first_name": "Longco", "last_name": "Owner", "company_name": company}
        )
        await ok(c, "upsert_client", {"first_name": "Other", "company_name": "a " * 149 + "b"})
        assert cl["id"] in await ids(c, "longco owner")
        assert cl["id"] in await ids(c, "k00 k01")
        assert cl["id"] in await ids(c, company[:200])
        # An exact word of the company (word_similarity 1.0, far above the 0.3 floor) finds it,
        # wherever the word stands.
        for w in ("k05", "k40", "k74"):
            assert cl["id"] in await ids(c, w), w
        assert cl["id"] in await ids(c, "owner k70")


async def test_a_long_distinct_word_company_late_word_is_found(make_agent, connect):
    a = await make_agent(**RW)
    company = "Alpha Bravo Charlie Delta Echo Foxtrot Golf Hotel India Juliett Kilo Lima Mike Xylophonia"
    async with connect(a) as c:
        cl = await ok(
            c, "upsert_client", {"first_name": "Nato", "last_name": "Speller", "company_name": company}
        )
        assert cl["id"] in await ids(c, "xylophonia")


# -- direct SQL as the agent role -------------------------------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT word FROM client_search_vocabulary",
        "SELECT client_id FROM client_search_words",
        "SELECT partner FROM client_search_word_partners",
        "SELECT client_id FROM client_search_word_pairs",
        "INSERT INTO client_search_words (tenant_id, word, client_id)"
        " SELECT bizctx_tenant(), 'x', gen_random_uuid()",
        "DELETE FROM client_search_vocabulary",
        "SELECT bizctx_client_words_learn()",
        "SELECT bizctx_client_words_forget()",
    ],
)
async def test_an_agent_cannot_touch_the_vocabulary_directly(make_agent, dsn, sql, statement):
    b = await make_agent()
    sql.execute(
        "INSERT INTO clients (tenant_id, first_name, last_name) VALUES (%s, 'Secretive', 'Neighbour')",
        (b.tenant_id,),
    )
    a = await make_agent()
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        as_agent(conn, a)
        with pytest.raises(psycopg.Error):
            conn.execute(statement).fetchall()
        conn.rollback()
