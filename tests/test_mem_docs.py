"""Memory documents through a real MCP client session: remember, recall, forget and the
bizctx://mem_docs/{id} resource, with scopes, private documents, expiry, filters inside the
search, caller vectors of the wrong dimension, bad input, permissions and audit rows.

Vectors here are made by hand (one direction per document), so these tests rank the same
whether or not the offline model (the embeddings extra) is installed."""

from __future__ import annotations

import asyncio
import json
import math
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError

from bizctx.server.app import build_server, open_app
from bizctx.tools.mem_docs.embeddings import Embedder, LocalMiniLM
from conftest import audit_rows, err, ok

pytestmark = pytest.mark.anyio

DIM = 384
READ = {"caps": ["mem_docs.read"], "access": {"mem_docs": {"read": True}}}
WRITE = {
    "caps": ["mem_docs.read", "mem_docs.write"],
    "access": {"mem_docs": {"read": True, "write": True}},
}


def scoped(scope: str, write: bool = True) -> dict:
    caps = ["mem_docs.read", "mem_docs.write"] if write else ["mem_docs.read"]
    return {"caps": caps, "access": {"mem_docs": {"read": True, "write": write, "scope": scope}}}


def vec(i: int, tilt: float = 0.0) -> list[float]:
    """A unit vector along axis i, tilted a little towards axis i+1."""
    v = [0.0] * DIM
    v[i % DIM] = 1.0
    v[(i + 1) % DIM] = tilt
    norm = math.sqrt(1 + tilt * tilt)
    return [x / norm for x in v]


@pytest.fixture(scope="session")
def local_model() -> LocalMiniLM | None:
    """The offline model, loaded once per session (None without the embeddings extra)."""
    return LocalMiniLM.find()


@pytest.fixture
async def app(settings, domains, local_model):
    async with open_app(
        settings, migrate=False, domains=domains, services={Embedder: Embedder(DIM, local_model)}
    ) as state:
        yield state


async def read(client, mem_doc_id: str) -> dict:
    return json.loads((await client.read_resource(f"bizctx://mem_docs/{mem_doc_id}")).contents[0].text)


async def read_error(client, mem_doc_id: str) -> dict:
    with pytest.raises(MCPError) as refused:
        await client.read_resource(f"bizctx://mem_docs/{mem_doc_id}")
    return refused.value.data


def count(sql, tenant_id) -> int:
    return sql.execute("SELECT count(*) AS n FROM mem_docs WHERE tenant_id = %s", (tenant_id,)).fetchone()[
        "n"
    ]


def note(content: str, i: int, **extra) -> dict:
    return {"content": content, "doc_type": "knowledge", "embedding": vec(i), **extra}


@pytest.fixture
async def writer(make_agent):
    return await make_agent(**WRITE)


# -- remember ----------------------------------------------------------------------------------------


async def test_remember_stores_the_document_and_audits_it(writer, connect, sql, local_model):
    client_id = sql.execute(
        "INSERT INTO clients (tenant_id, first_name) VALUES (%s, 'Ann') RETURNING id", (writer.tenant_id,)
    ).fetchone()["id"]
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    async with connect(writer) as c:
        doc = await ok(
            c,
            "remember",
            {
                "content": "The side gate opens with code 4417; the back door key is in the lockbox.",
                "doc_type": "context",
                "title": "Miller house access",
                "metadata": {"topic": "access", "house": "miller"},
                "client_id": str(client_id),
                "visibility": "shared",
                "expires_at": expires,
            },
        )
    assert doc["owner_agent_id"] == str(writer.id) and doc["owned_by_me"] is True
    assert (doc["doc_type"], doc["visibility"], doc["title"]) == ("context", "shared", "Miller house access")
    assert doc["metadata"] == {"topic": "access", "house": "miller"}
    assert doc["client_id"] == str(client_id)
    assert datetime.fromisoformat(doc["expires_at"]) == datetime.fromisoformat(expires)
    row = sql.execute(
        "SELECT owner_agent_id, embedding_model, vector_dims(embedding) AS dims FROM mem_docs WHERE id = %s",
        (doc["id"],),
    ).fetchone()
    assert row["owner_agent_id"] == writer.id
    if local_model is not None:  # the server embedded the title and content itself
        assert (row["embedding_model"], row["dims"]) == (local_model.model, DIM)
        assert doc["embedding_model"] == local_model.model
    else:  # no model: stored honestly without a vector, found by words only
        assert (row["embedding_model"], row["dims"], doc["embedding_model"]) == (None, None, None)
    (audit,) = audit_rows(sql, writer)
    assert (audit["name"], audit["outcome"], audit["entity_type"], audit["entity_id"]) == (
        "remember",
        "ok",
        "mem_doc",
        doc["id"],
    )
    assert audit["arguments"]["title"] == "Miller house access"


async def test_a_callers_vector_is_stored_with_its_model(writer, connect, sql):
    async with connect(writer) as c:
        doc = await ok(c, "remember", note("Van 3 has a slow leak.", 7, embedding_model="my-encoder-v2"))
    assert doc["embedding_model"] == "my-encoder-v2"
    row = sql.execute(
        "SELECT embedding_model, embedding::float4[] AS v FROM mem_docs WHERE id = %s", (doc["id"],)
    ).fetchone()
    assert row["embedding_model"] == "my-encoder-v2"
    assert row["v"][7] == 1.0 and sum(row["v"]) == 1.0


async def test_remember_is_idempotent_with_a_key(writer, make_agent, connect, sql):
    async with connect(writer) as c:
        first = await ok(c, "remember", note("Pay day is Monday.", 1, idempotency_key="k-1"))
        again = await ok(c, "remember", note("Pay day is Monday.", 1, idempotency_key="k-1"))
        clash = await err(c, "remember", note("Something else entirely.", 2, idempotency_key="k-1"))
    assert again == first
    assert clash["code"] == "conflict" and "idempotency_key" in clash["message"]
    assert "Pay day" not in json.dumps(clash)
    assert count(sql, writer.tenant_id) == 1
    # Keys are one agent's own: a colleague's "k-1" is another call.
    colleague = await make_agent(**WRITE, tenant=writer.tenant_name)
    async with connect(colleague) as c:
        theirs = await ok(c, "remember", note("Mine.", 3, idempotency_key="k-1"))
    assert theirs["id"] != first["id"] and theirs["content"] == "Mine."
    assert count(sql, writer.tenant_id) == 2


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"content": "   ", "doc_type": "knowledge"}, "content"),
        ({"content": "x", "doc_type": "knowledge", "title": " "}, "title"),
        ({"content": "x", "doc_type": "diary"}, "doc_type"),
        ({"content": "x"}, "doc_type"),
        ({"content": "x", "doc_type": "knowledge", "visibility": "public"}, "visibility"),
        ({"content": "x", "doc_type": "knowledge", "colour": "red"}, "colour"),
        ({"content": "x", "doc_type": "knowledge", "expires_at": "2030-01-01T10:00:00"}, "expires_at"),
        ({"content": "x", "doc_type": "knowledge", "expires_at": "2001-01-01T10:00:00Z"}, "past"),
        ({"content": "x", "doc_type": "knowledge", "metadata": {"blob": "y" * 9000}}, "metadata"),
        ({"content": "x", "doc_type": "knowledge", "embedding_model": "m"}, "embedding_model"),
        ({"content": "x", "doc_type": "knowledge", "embedding": [0.5, 0.5, 0.5]}, "3 dimensions"),
        ({"content": "x", "doc_type": "knowledge", "embedding": [0.0] * DIM}, "all zeros"),
        ({"content": "x", "doc_type": "knowledge", "client_id": "not-a-uuid"}, "client_id"),
        ({"content": "y" * 20_001, "doc_type": "knowledge"}, "content"),
    ],
)
async def test_bad_remember_input_is_refused_and_writes_nothing(writer, connect, sql, args, words):
    async with connect(writer) as c:
        error = await err(c, "remember", args)
    assert error["code"] == "invalid_input" and words in error["message"], error
    assert count(sql, writer.tenant_id) == 0
    assert audit_rows(sql, writer)[-1]["outcome"] == "error"


async def test_a_wrong_dimension_vector_names_both_dimensions(writer, connect, sql):
    async with connect(writer) as c:
        stored = await err(c, "remember", note("x", 0) | {"embedding": [0.1] * 768})
        asked = await err(c, "recall", {"query_embedding": [0.1] * 100})
    for error, given in ((stored, 768), (asked, 100)):
        assert error["code"] == "invalid_input"
        assert f"{given} dimensions" in error["message"] and f"{DIM}-dimension" in error["message"]
    assert count(sql, writer.tenant_id) == 0
    assert (
        sql.execute("SELECT value FROM db_settings WHERE key = 'embedding_dim'").fetchone()["value"] == "384"
    )


async def test_a_client_or_task_of_nobody_is_not_found(writer, connect, sql):
    async with connect(writer) as c:
        no_client = await err(c, "remember", note("x", 0, client_id=str(uuid.uuid4())))
        no_task = await err(c, "remember", note("x", 0, task_id=str(uuid.uuid4())))
    assert no_client["code"] == "not_found" and "search_clients" in no_client["message"]
    assert no_task["code"] == "not_found" and "task" in no_task["message"]
    assert count(sql, writer.tenant_id) == 0


async def test_writing_needs_the_capability_and_an_open_domain(make_agent, connect, sql):
    reader = await make_agent(**READ)
    closed = await make_agent(caps=["mem_docs.read", "mem_docs.write"], access={"mem_docs": {"read": True}})
    for agent in (reader, closed):
        async with connect(agent) as c:
            assert {t.name for t in (await c.list_tools()).tools} == {"recall"}
            denied = await err(c, "remember", note("x", 0))
            forget_denied = await err(c, "forget", {"mem_doc_id": str(uuid.uuid4())})
        assert denied["code"] == forget_denied["code"] == "permission_denied"
        assert [(r["name"], r["outcome"]) for r in audit_rows(sql, agent)] == [
            ("remember", "denied"),
            ("forget", "denied"),
        ]
        assert count(sql, agent.tenant_id) == 0
    async with connect(reader) as c:
        assert "mem_docs.write" in (await err(c, "remember", note("x", 0)))["message"]


# -- recall ------------------------------------------------------------------------------------------


async def test_recall_ranks_by_vector_and_words_and_touches_last_accessed(writer, connect, sql):
    async with connect(writer) as c:
        gate = await ok(c, "remember", note("The side gate code is 4417.", 10, title="Gate"))
        dog = await ok(c, "remember", note("The Patels have a nervous dog called Max.", 20))
        await ok(c, "remember", note("Timesheets are due Sunday at 6 pm.", 30))
        by_vector = await ok(c, "recall", {"query_embedding": vec(20, 0.3), "k": 2})
        by_words = await ok(c, "recall", {"query": "gate code", "k": 3, "query_embedding": vec(10, 0.2)})
    assert len(by_vector["hits"]) == 2
    top = by_vector["hits"][0]
    assert top["id"] == dog["id"]
    assert top["found_by"] == ["vector"] and top["similarity"] == pytest.approx(1 / math.sqrt(1.09), abs=1e-4)
    assert by_vector["provider"] == "caller" and by_vector["retrievers"] == ["vector"]
    first = by_words["hits"][0]
    assert first["id"] == gate["id"] and first["found_by"] == ["vector", "text"]
    assert first["score"] > by_words["hits"][1]["score"]
    assert all(h["found_by"] == ["vector"] for h in by_words["hits"][1:])
    assert by_words["retrievers"] == ["vector", "text"]
    touched = sql.execute(
        "SELECT id, last_accessed, updated_at, created_at FROM mem_docs WHERE tenant_id = %s",
        (writer.tenant_id,),
    ).fetchall()
    assert all(r["last_accessed"] is not None for r in touched)
    assert all(r["updated_at"] == r["created_at"] for r in touched)  # access is not an edit
    rows = audit_rows(sql, writer)
    assert [(r["name"], r["outcome"]) for r in rows[-2:]] == [("recall", "ok"), ("recall", "ok")]
    assert rows[-1]["arguments"]["query"] == "gate code"


async def test_last_accessed_is_touched_at_most_once_per_resolution(writer, connect, sql):
    def state(doc_id):
        return sql.execute(
            "SELECT last_accessed, xmin::text AS version FROM mem_docs WHERE id = %s", (doc_id,)
        ).fetchone()

    async with connect(writer) as c:
        doc = await ok(c, "remember", note("Alarm code 9021.", 3))
        first = (await ok(c, "recall", {"query_embedding": vec(3)}))["hits"][0]
        touched = state(doc["id"])
        second = (await ok(c, "recall", {"query_embedding": vec(3)}))["hits"][0]
        assert state(doc["id"]) == touched  # not rewritten: no new row version
        sql.execute(
            "UPDATE mem_docs SET last_accessed = now() - interval '1 hour' WHERE id = %s", (doc["id"],)
        )
        third = (await ok(c, "recall", {"query_embedding": vec(3)}))["hits"][0]
    assert datetime.fromisoformat(first["last_accessed"]) == touched["last_accessed"]
    assert second["last_accessed"] == first["last_accessed"]
    assert datetime.fromisoformat(third["last_accessed"]) == state(doc["id"])["last_accessed"]
    assert state(doc["id"])["last_accessed"] > touched["last_accessed"]


async def test_exact_codes_are_found_by_words(writer, connect):
    async with connect(writer) as c:
        await ok(c, "remember", note("Grace says invoice 3318 was charged twice.", 40))
        await ok(c, "remember", note("Invoice reminders go out on Fridays.", 41))
        hits = (await ok(c, "recall", {"query": "invoice 3318"}))["hits"]
    assert "3318" in hits[0]["content"] and "text" in hits[0]["found_by"]


async def test_nothing_found_is_an_empty_list(writer, connect):
    async with connect(writer) as c:
        result = await ok(c, "recall", {"query": "anything at all", "query_embedding": vec(1)})
    assert result["hits"] == []


async def test_filters_apply_inside_the_search_not_after_a_top_k_cut(writer, connect, sql):
    """60 documents nearer the query than the one that passes the filter: a top-k search
    filtered afterwards would return nothing."""
    client_id = sql.execute(
        "INSERT INTO clients (tenant_id, first_name) VALUES (%s, 'Zoe') RETURNING id", (writer.tenant_id,)
    ).fetchone()["id"]
    # The writer's own task: a document may only name a task its task scope shows.
    task_id = sql.execute(
        "INSERT INTO tasks (tenant_id, type, title, created_by_agent_id) VALUES (%s, 'call', 'Call Zoe', %s)"
        " RETURNING id",
        (writer.tenant_id, writer.id),
    ).fetchone()["id"]
    near = [
        {**note(f"Routine note {i}.", 50, embedding=vec(50, 0.01 * i)), "idempotency_key": f"n{i}"}
        for i in range(60)
    ]
    async with connect(writer) as c:
        for args in near:
            await ok(c, "remember", args)
        template = await ok(
            c,
            "remember",
            {
                **note("Reminder template for Zoe.", 51, embedding=vec(50, 3.0)),
                "doc_type": "template",
                "client_id": str(client_id),
                "task_id": str(task_id),
                "metadata": {"topic": "billing", "lang": "en"},
            },
        )
        query = {"query_embedding": vec(50), "k": 3}
        by_type = await ok(c, "recall", query | {"doc_type": "template"})
        by_client = await ok(c, "recall", query | {"client_id": str(client_id)})
        by_task = await ok(c, "recall", query | {"task_id": str(task_id)})
        by_metadata = await ok(c, "recall", query | {"metadata": {"topic": "billing"}})
        no_metadata = await ok(c, "recall", query | {"metadata": {"topic": "billing", "lang": "fr"}})
        unfiltered = await ok(c, "recall", query)
    for result in (by_type, by_client, by_task, by_metadata):
        assert [h["id"] for h in result["hits"]] == [template["id"]]
    assert no_metadata["hits"] == []
    assert template["id"] not in [h["id"] for h in unfiltered["hits"]] and len(unfiltered["hits"]) == 3


async def test_expired_documents_are_never_returned(writer, connect, sql):
    async with connect(writer) as c:
        live = await ok(c, "remember", note("Holiday hours: closed on December 25.", 60))
        stale = await ok(
            c,
            "remember",
            note(
                "Holiday hours: open on December 25.",
                61,
                expires_at=(datetime.now(UTC) + timedelta(days=1)).isoformat(),
            ),
        )
        sql.execute(
            "UPDATE mem_docs SET expires_at = now() - interval '1 second' WHERE id = %s", (stale["id"],)
        )
        hits = (await ok(c, "recall", {"query": "holiday hours", "query_embedding": vec(61), "k": 5}))["hits"]
        resource = await read_error(c, stale["id"])
    assert [h["id"] for h in hits] == [live["id"]]
    assert resource["code"] == "not_found"


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({}, "query"),
        ({"query": "   "}, "blank"),
        ({"query": "x", "k": 0}, "k"),
        ({"query": "x", "k": 51}, "k"),
        ({"query": "x", "doc_type": "diary"}, "doc_type"),
        ({"query": "x", "client_id": "nope"}, "client_id"),
        ({"query": "x", "embedding_model": "m"}, "embedding_model"),
        ({"query": "x", "limit": 3}, "limit"),
        ({"query_embedding": [0.0] * DIM}, "all zeros"),
    ],
)
async def test_bad_recall_input_is_refused(writer, connect, sql, args, words):
    async with connect(writer) as c:
        await ok(c, "remember", note("A note.", 1))
        error = await err(c, "recall", args)
    assert error["code"] == "invalid_input" and words in error["message"], error
    rows = sql.execute(
        "SELECT last_accessed FROM mem_docs WHERE tenant_id = %s", (writer.tenant_id,)
    ).fetchall()
    assert [r["last_accessed"] for r in rows] == [None]  # nothing touched
    assert audit_rows(sql, writer)[-1]["outcome"] == "error"


async def test_recall_needs_the_capability_and_an_open_domain(make_agent, connect, sql):
    no_cap = await make_agent(caps=["clients.read"], access={"mem_docs": {"read": True}})
    closed = await make_agent(caps=["mem_docs.read"], access={"clients": {"read": True}})
    for agent in (no_cap, closed):
        async with connect(agent) as c:
            assert "recall" not in {t.name for t in (await c.list_tools()).tools}
            templates = {t.uri_template for t in (await c.list_resource_templates()).resource_templates}
            assert "bizctx://mem_docs/{mem_doc_id}" not in templates
            denied = await err(c, "recall", {"query": "gate code"})
            resource = await read_error(c, str(uuid.uuid4()))
        assert denied["code"] == resource["code"] == "permission_denied"
        assert [(r["kind"], r["outcome"]) for r in audit_rows(sql, agent)] == [
            ("tool", "denied"),
            ("resource", "denied"),
        ]


# -- who sees what ---------------------------------------------------------------------------------


async def test_private_documents_never_reach_another_agent(make_agent, connect, sql):
    alice = await make_agent(**WRITE)
    async with connect(alice) as c:
        secret = await ok(c, "remember", note("Alice's private note: the safe code is 1234.", 70))
        shared = await ok(c, "remember", note("Shared: the safe is in the office.", 71, visibility="shared"))
    ask = {"query": "safe code", "query_embedding": vec(70), "k": 10}
    bob = await make_agent(**WRITE, tenant=alice.tenant_name)
    async with connect(bob) as c:
        seen = [h["id"] for h in (await ok(c, "recall", ask))["hits"]]
        private_read = await read_error(c, secret["id"])
        shared_read = await read(c, shared["id"])
        private_forget = await err(c, "forget", {"mem_doc_id": secret["id"]})
    assert seen == [shared["id"]]
    assert private_read["code"] == "not_found" and shared_read["id"] == shared["id"]
    assert shared_read["owned_by_me"] is False
    assert private_forget["code"] == "not_found"
    assert "safe code is 1234" not in json.dumps([private_read, private_forget])
    loner = await make_agent(**scoped("own"), tenant=alice.tenant_name)
    async with connect(loner) as c:
        assert (await ok(c, "recall", ask))["hits"] == []
        assert (await read_error(c, shared["id"]))["code"] == "not_found"
    outsider = await make_agent(**scoped("all"))
    async with connect(outsider) as c:
        assert (await ok(c, "recall", ask))["hits"] == []
        assert (await read_error(c, secret["id"]))["code"] == "not_found"
        assert (await err(c, "forget", {"mem_doc_id": secret["id"]}))["code"] == "not_found"
    auditor = await make_agent(**scoped("all", write=False), tenant=alice.tenant_name)
    async with connect(auditor) as c:
        everything = {h["id"] for h in (await ok(c, "recall", ask))["hits"]}
        assert (await read(c, secret["id"]))["content"].startswith("Alice's private note")
    assert everything == {secret["id"], shared["id"]}
    assert count(sql, alice.tenant_id) == 2


# -- forget ------------------------------------------------------------------------------------------


async def test_forget_deletes_your_own_document(writer, connect, sql):
    async with connect(writer) as c:
        doc = await ok(c, "remember", note("Outdated price list.", 80, title="Prices 2025"))
        gone = await ok(c, "forget", {"mem_doc_id": doc["id"]})
        again = await err(c, "forget", {"mem_doc_id": doc["id"]})
    assert gone == {"mem_doc_id": doc["id"], "title": "Prices 2025", "forgotten": True}
    assert again["code"] == "not_found"
    assert count(sql, writer.tenant_id) == 0
    rows = audit_rows(sql, writer)
    # Both rows name the document: the entity comes from the arguments, whatever the outcome.
    assert [(r["name"], r["outcome"], r["entity_id"]) for r in rows[1:]] == [
        ("forget", "ok", doc["id"]),
        ("forget", "error", doc["id"]),
    ]


async def test_forget_of_a_colleagues_shared_document_needs_scope_all(writer, make_agent, connect, sql):
    async with connect(writer) as c:
        shared = await ok(c, "remember", note("Shared procedure.", 90, visibility="shared"))
        private = await ok(c, "remember", note("Private draft.", 91))
    colleague = await make_agent(**WRITE, tenant=writer.tenant_name)
    async with connect(colleague) as c:
        refused = await err(c, "forget", {"mem_doc_id": shared["id"]})
    assert refused["code"] == "permission_denied" and "you wrote" in refused["message"]
    assert audit_rows(sql, colleague)[-1]["outcome"] == "denied"
    assert count(sql, writer.tenant_id) == 2
    admin = await make_agent(**scoped("all"), tenant=writer.tenant_name)
    async with connect(admin) as c:
        await ok(c, "forget", {"mem_doc_id": shared["id"]})
        await ok(c, "forget", {"mem_doc_id": private["id"]})
    assert count(sql, writer.tenant_id) == 0


async def test_an_expired_document_can_still_be_forgotten(writer, connect, sql):
    async with connect(writer) as c:
        doc = await ok(c, "remember", note("Temporary code 55.", 92))
        sql.execute("UPDATE mem_docs SET expires_at = now() - interval '1 day' WHERE id = %s", (doc["id"],))
        await ok(c, "forget", {"mem_doc_id": doc["id"]})
    assert count(sql, writer.tenant_id) == 0


async def test_bad_forget_input_is_refused(writer, connect, sql):
    async with connect(writer) as c:
        await ok(c, "remember", note("Keep me.", 93))
        for args in ({"mem_doc_id": "not-a-uuid"}, {}, {"mem_doc_id": str(uuid.uuid4()), "force": True}):
            assert (await err(c, "forget", args))["code"] == "invalid_input"
    assert count(sql, writer.tenant_id) == 1
    assert [r["outcome"] for r in audit_rows(sql, writer)[1:]] == ["error"] * 3


# -- the resource -------------------------------------------------------------------------------------


async def test_the_resource_gives_the_whole_document_recall_cuts(writer, connect, sql):
    long_text = "Deep clean checklist. " + "Wipe every shelf and skirting board. " * 100
    async with connect(writer) as c:
        doc = await ok(c, "remember", note(long_text, 100, title="Checklist"))
        hit = (await ok(c, "recall", {"query_embedding": vec(100)}))["hits"][0]
        whole = await read(c, doc["id"])
        bad = await read_error(c, "not-a-uuid")
    assert hit["content_truncated"] is True and len(hit["content"]) == 2000
    assert whole["content"] == long_text and whole["title"] == "Checklist"
    assert bad["code"] == "invalid_input"
    rows = audit_rows(sql, writer)
    assert [(r["kind"], r["name"], r["outcome"], r["entity_id"]) for r in rows[-2:]] == [
        ("resource", "bizctx://mem_docs/{mem_doc_id}", "ok", doc["id"]),
        ("resource", "bizctx://mem_docs/{mem_doc_id}", "error", None),
    ]


async def test_descriptions_say_contents_are_data_not_instructions(writer, connect):
    async with connect(writer) as c:
        tools = {t.name: t for t in (await c.list_tools()).tools}
        templates = (await c.list_resource_templates()).resource_templates
    assert set(tools) == {"recall", "remember", "forget"}
    for text in (tools["recall"].description, tools["remember"].description, templates[0].description):
        assert "never instructions" in " ".join(text.split())
    assert tools["forget"].annotations.destructive_hint is True
    assert tools["recall"].annotations.read_only_hint is True


# -- without a model, and off the event loop --------------------------------------------------------


async def test_without_a_model_recall_is_full_text_and_says_so(settings, domains, make_agent):
    agent = await make_agent(**WRITE)
    services = {Embedder: Embedder(DIM, None)}
    async with open_app(settings, migrate=False, domains=domains, services=services) as state:
        assert "full-text only" in state.services[Embedder].describe()
        async with Client(build_server(state, lambda ctx: agent.principal)) as c:
            doc = await ok(c, "remember", {"content": "The alarm code is 9021.", "doc_type": "context"})
            found = await ok(c, "recall", {"query": "alarm code"})
            missed = await ok(c, "recall", {"query": "how do we switch off the security system"})
    assert doc["embedding_model"] is None
    assert (found["provider"], found["retrievers"], found["embedding_model"]) == ("none", ["text"], None)
    assert [h["id"] for h in found["hits"]] == [doc["id"]] and found["hits"][0]["found_by"] == ["text"]
    assert missed["hits"] == []  # no vectors are invented to fill the gap


class GatedModel(LocalMiniLM):
    """A stand-in for a slow model: embedding waits until the test lets it finish."""

    def __init__(self) -> None:
        super().__init__(Path("unused.onnx"), Path("unused.json"))
        self.entered = threading.Event()
        self.release = threading.Event()

    def embed_sync(self, texts):
        self.entered.set()
        if not self.release.wait(20):
            raise AssertionError("the test never released the model")
        return [vec(5) for _ in texts]


async def test_a_slow_embedding_does_not_block_other_calls(settings, domains, make_agent):
    model = GatedModel()
    agent = await make_agent(**WRITE)
    services = {Embedder: Embedder(DIM, model)}
    async with open_app(settings, migrate=False, domains=domains, services=services) as state:
        server = build_server(state, lambda ctx: agent.principal)
        async with Client(server) as slow, Client(server) as quick:
            pending = asyncio.ensure_future(
                slow.call_tool("remember", {"content": "x", "doc_type": "context"})
            )
            assert await asyncio.to_thread(model.entered.wait, 20)
            # The loop is free while the model works: another call completes meanwhile.
            me = await quick.read_resource("bizctx://agent/me")
            assert json.loads(me.contents[0].text)["agent_id"] == str(agent.id)
            assert not pending.done()
            model.release.set()
            result = await pending
    assert not result.is_error and result.structured_content["embedding_model"] == model.model


async def test_a_task_outside_the_scope_cannot_be_linked_or_detected(make_agent, connect, sql):
    boss = await make_agent(
        caps=["tasks.write"], access={"tasks": {"read": True, "write": True, "scope": "assigned"}}
    )
    async with connect(boss) as c:
        theirs = await ok(c, "create_task", {"type": "call", "title": "Private"})
    agent = await make_agent(
        caps=["mem_docs.write", "mem_docs.read"],
        access={"mem_docs": {"read": True, "write": True}, "tasks": {"read": True, "scope": "assigned"}},
        tenant=boss.tenant_name,
    )
    async with connect(agent) as c:
        hidden = await err(c, "remember", note("About that task.", 11, task_id=theirs["id"]))
        nowhere = str(uuid.uuid4())
        missing = await err(c, "remember", note("About no task.", 12, task_id=nowhere))
    # The same answer for a task outside the scope as for no task at all: nothing to tell apart.
    assert hidden["code"] == missing["code"] == "not_found"
    assert hidden["message"].replace(theirs["id"], "?") == missing["message"].replace(nowhere, "?")
    assert count(sql, agent.tenant_id) == 0
