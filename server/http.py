"""MCP over HTTP: streamable HTTP (`/mcp`) or SSE (`/sse` + `/messages/`), one server for
many agents. Every request carries `Authorization: Bearer <agent key>`; the agent is
resolved per request (a missing or bad key gets 401 with WWW-Authenticate). Host and
Origin are checked against loopback and what the operator allows (DNS-rebinding
protection). `/healthz` says whether the database answers, without auth and without data.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

import psycopg
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend, RequireAuthMiddleware
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.connection import allowed_log_levels
from mcp.server.context import ServerRequestContext
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http import EventCallback, EventMessage, EventStore
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp_types import JSONRPCMessage
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.applications import Starlette
from starlette.authentication import AuthenticationError
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.types import Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from .app import AppState, build_server
from .errors import AgentRefused, PermissionDenied, Unavailable
from .guard import Principal
from .queries import QueryRef

log = logging.getLogger("bizctx.http")

PING = QueryRef("governance", "ping")
HTTP_TRANSPORTS = ("streamable-http", "sse")
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")


class DatabaseDown(AuthenticationError):
    """The key could not be checked: the database is unavailable (not the caller's fault)."""


class AgentKeyVerifier(TokenVerifier):
    """A bearer token is an agent key; the verified token carries the agent's identity."""

    def __init__(self, state: AppState) -> None:
        self._state = state

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            agent = await self._state.directory.by_key(token)
        except AgentRefused as exc:
            log.info("refused an HTTP request: %s", exc)
            return None
        except (psycopg.Error, OSError, Unavailable) as exc:
            log.warning("could not check an agent key: %s", type(exc).__name__)
            raise DatabaseDown("database unavailable") from None
        return AccessToken(
            token="",  # never kept: the key is a secret, the agent id is what we need
            client_id=str(agent.id),
            scopes=[],
            subject=str(agent.id),
            claims={"tenant_id": str(agent.tenant_id), "agent_id": str(agent.id)},
        )


def security_settings(host: str, state: AppState) -> TransportSecuritySettings:
    hosts = {*_LOOPBACK, host if ":" not in host else f"[{host}]"}
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=sorted({f"{h}:*" for h in hosts} | set(hosts) | set(state.settings.allowed_hosts)),
        allowed_origins=sorted({f"http://{h}:*" for h in _LOOPBACK} | set(state.settings.allowed_origins)),
    )


def auth_error(conn: HTTPConnection, exc: AuthenticationError) -> Response:
    """The answer when a key cannot be checked: for a database that is down, the same
    retryable `unavailable` error tools give, as JSON with a 503 and Retry-After."""
    if isinstance(exc, DatabaseDown):
        error = Unavailable("The database is unavailable right now; retry in a few seconds.").to_dict()
        return JSONResponse({"error": error}, status_code=503, headers={"Retry-After": "5"})
    return JSONResponse({"error": {"code": "invalid_input", "message": str(exc)}}, status_code=400)


# What a caller without a valid key is told to send. The SDK's 401 says only "Authentication
# required", and a client that knows OAuth (the Inspector) then starts an OAuth flow that
# bizctx does not offer: agents authenticate with a key.
KEY_REQUIRED = (
    "Send your agent key in the header Authorization: Bearer <agent key> (bizctx uses agent keys, not OAuth)"
)


class RequireAgentKey(RequireAuthMiddleware):
    """The SDK's check that a request carries a verified key, with a 401 that names the header."""

    async def _send_auth_error(self, send: Send, status_code: int, error: str, description: str) -> None:
        told = KEY_REQUIRED if status_code == 401 else description
        await super()._send_auth_error(send, status_code, error, told)


def principal_for(transport: str) -> Callable[[ServerRequestContext[Any, Any]], Principal]:
    def principal_of(ctx: ServerRequestContext[Any, Any]) -> Principal:
        request = ctx.request
        user = request.scope.get("user") if isinstance(request, Request) else None
        if not isinstance(user, AuthenticatedUser) or not user.access_token.claims:
            # RequireAgentKey lets no such request through; refuse rather than guess.
            raise PermissionDenied("This request carries no verified agent key.")
        claims = user.access_token.claims
        return Principal(
            tenant_id=UUID(claims["tenant_id"]), agent_id=UUID(claims["agent_id"]), transport=transport
        )

    return principal_of


class SessionEvents(EventStore):
    """One session's latest events, so a client whose SSE stream dropped can resume it with
    Last-Event-ID and miss nothing (the SDK primes each stream with an id and `retry:`).

    One store per session, not one per server: a stream's id is the request's own id, which
    every session reuses, and an event id of one session must never replay another's events.
    The session's owner alone reaches it (the SDK checks the key against the session's). The
    oldest events go first past `keep`: a client that was away longer refetches instead."""

    # At most this many bytes of messages per session, whatever `keep` says: a session of
    # large reads must not pin memory (the oldest go first, as past `keep`).
    MAX_BYTES = 1_000_000

    def __init__(self, keep: int) -> None:
        self._keep = keep
        self._events: OrderedDict[int, tuple[str, JSONRPCMessage | None, int]] = OrderedDict()
        self._bytes = 0
        self._last = 0

    async def store_event(self, stream_id: str, message: JSONRPCMessage | None) -> str:
        self._last += 1
        size = 0 if message is None else len(message.model_dump_json(by_alias=True, exclude_none=True))
        self._events[self._last] = (stream_id, message, size)
        self._bytes += size
        while self._events and (len(self._events) > self._keep or self._bytes > self.MAX_BYTES):
            _, (_, _, dropped) = self._events.popitem(last=False)
            self._bytes -= dropped
        return str(self._last)

    async def replay_events_after(self, last_event_id: str, send_callback: EventCallback) -> str | None:
        try:
            after = int(last_event_id)
        except ValueError:
            return None
        known = self._events.get(after)
        if known is None:
            return None
        stream_id = known[0]
        for number, (stream, message, _) in list(self._events.items()):
            if number > after and stream == stream_id and message is not None:
                await send_callback(EventMessage(message, str(number)))
        return stream_id


# Whether the request being handled is answered with one JSON body (AgentSessionManager).
_ANSWER_AS_JSON: ContextVar[bool] = ContextVar("bizctx_answer_as_json", default=False)
_PROTOCOL_VERSION_HEADER = b"mcp-protocol-version"
# A request body read to choose its framing; a longer one is left to the SSE default.
_JUDGED_BODY_BYTES = 256 * 1024


def answered_alone(body: bytes, protocol_version: str, write_tools: frozenset[str]) -> bool:
    """Whether one JSON body answers a request of the stateless protocol (2026-07-28 and later)
    as its SSE stream would:

    - it can receive no notification before its answer: it is not subscriptions/listen (a
      stream of notifications), and its `_meta` does not ask for log messages at `warning` or
      below, the only notifications bizctx sends during a call (its notices,
      server/notices.py; it sends no progress and no request to the client); the SDK itself
      drops a log message the request did not ask for;
    - it changes nothing if its client leaves mid-call: it is not a call of a write tool. The
      SDK's stream path watches for the client's disconnect and cancels the call, so a write
      whose client is gone rolls back; its JSON path lets a call run to its end."""
    try:
        message = json.loads(body)
    except (ValueError, RecursionError):
        return False
    if not isinstance(message, dict) or message.get("method") in (None, "subscriptions/listen"):
        return False
    params = message.get("params")
    if not isinstance(params, dict):
        params = {}
    if message["method"] == "tools/call" and (
        not isinstance(params.get("name"), str) or params["name"] in write_tools
    ):
        return False
    meta = params.get("_meta")
    return "warning" not in allowed_log_levels(protocol_version, meta if isinstance(meta, dict) else None)


class AgentSessionManager(StreamableHTTPSessionManager):
    """The SDK's session manager, with a cap on each agent's open sessions (one agent opening
    sessions until the server's limit would lock every other agent out: 503 on initialize),
    an event store of its own for each session (SessionEvents), and the framing of each
    stateless-protocol answer chosen per request.

    A POST of the stateless protocol is answered on an SSE stream unless json_response is set;
    the SDK then holds the answer back briefly and sends one JSON body when no notification
    came first, but still pays for the stream's machinery (a task group, a stream, a
    disconnect watcher). A request that one JSON body answers alike (`answered_alone`: no
    notification can reach it, and it writes nothing) goes the SDK's JSON path instead: the
    same bytes on the wire, less work. A request that asks for warnings keeps its stream, so
    the warning notices still arrive before the answer, and so does a write, which its
    client's disconnect still cancels."""

    def __init__(
        self, *args: Any, per_agent: int, keep_events: int, write_tools: frozenset[str], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.per_agent = per_agent
        self.keep_events = keep_events
        self.write_tools = write_tools
        self._limited: Any = self.asgi_app
        self.asgi_app = self._choose_framing  # type: ignore[assignment]

    @property
    def json_response(self) -> bool:
        """The operator's choice (BIZCTX_HTTP_JSON_RESPONSE), or this request's (read by the SDK
        when it dispatches a stateless-protocol request, in the request's own context)."""
        return self._json_response or _ANSWER_AS_JSON.get()

    @json_response.setter
    def json_response(self, value: bool) -> None:
        self._json_response = value

    async def _choose_framing(self, scope: Scope, receive: Receive, send: Send) -> None:
        version = next((v for k, v in scope.get("headers", ()) if k == _PROTOCOL_VERSION_HEADER), None)
        if (
            self._json_response
            or scope.get("method") != "POST"
            or version is None
            or version.decode("latin-1") in HANDSHAKE_PROTOCOL_VERSIONS
        ):
            await self._limited(scope, receive, send)
            return
        received: list[Message] = []
        body = b""
        complete = False
        while not complete and len(body) <= _JUDGED_BODY_BYTES:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            complete = not message.get("more_body", False)

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        token = _ANSWER_AS_JSON.set(
            complete and answered_alone(body, version.decode("latin-1"), self.write_tools)
        )
        try:
            await self._limited(scope, replay, send)
        finally:
            _ANSWER_AS_JSON.reset(token)

    def _admit_session(self, requestor: Any) -> Any:
        if requestor is not None:
            open_sessions = sum(1 for owner in self._session_owners.values() if owner == requestor)
            if open_sessions >= self.per_agent:
                log.info("refused a session: the agent has %d open (its cap)", open_sessions)
                return None
        # The SDK hands the manager's event_store to the transport it makes here, synchronously.
        self.event_store = SessionEvents(self.keep_events) if self.keep_events else None
        return super()._admit_session(requestor)


class BodyDeadline:
    """Closes a request whose body does not arrive in time (a client that sends half a request
    and waits): each part of a POST body must come within `seconds`. GET streams are left alone."""

    def __init__(self, app: Any, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        done = False

        async def timed_receive() -> Any:
            nonlocal done
            if done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.seconds)
            except TimeoutError:
                log.info("closed a request whose body did not arrive within %s s", self.seconds)
                return {"type": "http.disconnect"}
            done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed_receive, send)


_LIBRARY_ERRORS = {
    b"Parse error:": "Parse error: the body is not JSON (or nests deeper than any message needs).",
    b"Validation error:": "Invalid message: not a JSON-RPC request, notification or response "
    "(check jsonrpc, id, method and params); fix it and send it again.",
}


class PlainProtocolErrors:
    """The SDK answers a body that is not JSON, or not a JSON-RPC message, with the parser's
    own text (pydantic's, naming its version): such a 400 reply gets our message instead,
    keeping its code. Other replies pass through untouched (only a 400 is looked at)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] | None = None
        body = b""

        async def plain_send(message: Any) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start" and message["status"] == 400:
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body += message.get("body", b"")
            if message.get("more_body", False):
                return
            body = _plain(body)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, plain_send)


def _plain(body: bytes) -> bytes:
    try:
        reply = json.loads(body)
        message = reply["error"]["message"].encode()
    except (ValueError, TypeError, KeyError, AttributeError):
        return body
    for prefix, ours in _LIBRARY_ERRORS.items():
        if message.startswith(prefix):
            reply["error"]["message"] = ours
            return json.dumps(reply).encode()
    return body


class HeaderDeadlineProtocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, closing a connection whose request headers are not complete
    within HEADER_SECONDS of its opening or of its last response (uvicorn itself waits forever
    for half-sent headers, on a new connection or a kept-alive one)."""

    HEADER_SECONDS = 10.0

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._header_deadline = self.loop.call_later(self.HEADER_SECONDS, self._headers_too_slow)

    def handle_events(self) -> None:
        super().handle_events()
        if not self._awaiting_headers():
            self._header_deadline.cancel()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may start a pipelined request's cycle
        if self._awaiting_headers() and not self.transport.is_closing():
            self._header_deadline.cancel()
            self._header_deadline = self.loop.call_later(self.HEADER_SECONDS, self._headers_too_slow)

    def connection_lost(self, exc: Exception | None) -> None:
        self._header_deadline.cancel()
        super().connection_lost(exc)

    def _awaiting_headers(self) -> bool:
        """No request in progress: none yet, or the last one answered."""
        return self.cycle is None or self.cycle.response_complete

    def _headers_too_slow(self) -> None:
        if self._awaiting_headers() and not self.transport.is_closing():
            log.info("closed a connection whose request headers did not arrive in time")
            self.transport.close()


def build_http_app(state: AppState, *, transport: str, host: str) -> Starlette:
    if transport not in HTTP_TRANSPORTS:
        raise ValueError(f"not an HTTP transport: {transport}")
    stateless = transport == "streamable-http" and state.settings.http_stateless
    server = build_server(state, principal_for(transport), stateless=stateless)
    security = security_settings(host, state)

    async def healthz(request: Request) -> Response:
        try:
            async with asyncio.timeout(2.0), state.db.operator_tx() as tx:
                await tx.value(PING)
        except Exception:
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "up"})

    routes: list[Route | Mount] = [Route("/healthz", healthz, methods=["GET"])]
    manager: StreamableHTTPSessionManager | None = None
    if transport == "streamable-http":
        settings = state.settings
        manager = AgentSessionManager(
            app=server,
            security_settings=security,
            stateless=stateless,
            json_response=settings.http_json_response,
            session_idle_timeout=settings.http_session_idle_seconds,
            per_agent=settings.http_sessions_per_agent,
            keep_events=settings.http_resumable_events,
            retry_interval=settings.http_retry_ms,
            write_tools=frozenset(t.name for t in state.guard.registry.tools.values() if not t.read_only),
        )
        routes.append(Route("/mcp", RequireAgentKey(StreamableHTTPASGIApp(manager), [])))
    else:
        sse = SseServerTransport("/messages/", security_settings=security)

        async def sse_endpoint(scope: Any, receive: Any, send: Any) -> None:
            try:
                async with sse.connect_sse(scope, receive, send) as (read_stream, write_stream):
                    await server.run(read_stream, write_stream, server.create_initialization_options())
            except ValueError as exc:
                # The SDK has answered already (403 for a bad Origin or Host) and then raises: one
                # line in the log, not a traceback and a reset connection.
                log.info("refused an SSE connection: %s", exc)

        routes.append(Route("/sse", RequireAgentKey(sse_endpoint, []), methods=["GET"]))
        routes.append(Mount("/messages/", app=RequireAgentKey(sse.handle_post_message, [])))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if manager is None:
            yield
        else:
            async with manager.run():
                yield

    return Starlette(
        routes=routes,
        middleware=[
            Middleware(BodyDeadline, seconds=state.settings.http_body_seconds),
            Middleware(PlainProtocolErrors),
            Middleware(
                AuthenticationMiddleware,
                backend=BearerAuthBackend(AgentKeyVerifier(state)),
                on_error=auth_error,
            ),
            Middleware(AuthContextMiddleware),
        ],
        lifespan=lifespan,
    )


async def serve_http(state: AppState, *, transport: str, host: str, port: int) -> None:
    import uvicorn

    app = build_http_app(state, transport=transport, host=host)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        http=HeaderDeadlineProtocol,
    )
    path = "/mcp" if transport == "streamable-http" else "/sse"
    log.info("serving %s on http://%s:%s%s", transport, host, port, path)
    await uvicorn.Server(config).serve()
