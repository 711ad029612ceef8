"""Safe by default: the access token, CSRF protection, bounded request bodies, allowed hosts, headers.

One ASGI middleware (:class:`Guard`) in front of the whole app, static files included:

- **Token.** Every request carries the server's random token: ``Authorization: Bearer <token>`` or
  ``X-Likewise-Token: <token>`` (scripts), or the HttpOnly, SameSite=Strict cookie a browser gets by opening
  the printed URL once (``/?token=...``: the cookie is set and the browser is sent on to the same path
  without the token, so it leaves the address bar and never travels in a Referer). Without it: 401 and
  nothing else (the page, its scripts and the API alike). Tokens are compared in constant time.
- **CSRF.** A request authenticated by the cookie alone that changes state (any method but GET/HEAD/OPTIONS)
  must also send ``X-CSRF-Token`` equal to the (readable, SameSite=Strict) CSRF cookie, which another site
  can neither read nor set; and its ``Origin``, when sent, must be this server. No state changes via GET:
  the API has none.
- **Hosts.** The ``Host`` header must name this server (loopback names unless ``--host`` says otherwise),
  which stops DNS-rebinding pages from talking to it.
- **Bodies** are bounded (``max_body`` bytes, by Content-Length and by counting a streamed body): 413.
- **Headers.** A strict Content-Security-Policy (scripts and styles from this server only, no inline
  script), ``nosniff``, no framing, no referrer, ``no-store`` caching.

Errors are JSON ``{"error": message}``, as everywhere in the API.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qsl, urlencode

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
DEFAULT_MAX_BODY = 4 * 1024 * 1024
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
       "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


def new_token() -> str:
    return secrets.token_urlsafe(32)


def csrf_value(token: str) -> str:
    """The CSRF cookie's value: derived from the token, so the server keeps no state for it."""
    return hmac.new(token.encode(), b"likewise-csrf", hashlib.sha256).hexdigest()[:32]


def _equal(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode())


class Guard:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: Any, *, token: str, port: int, hosts: Iterable[str] | None = LOOPBACK_NAMES,
                 max_body: int = DEFAULT_MAX_BODY, scheme: str = "http") -> None:
        self.app = app
        self.token = token
        self.csrf = csrf_value(token)
        self.port = int(port)
        self.token_cookie = f"likewise_token_{self.port}"
        self.csrf_cookie = f"likewise_csrf_{self.port}"
        self.hosts = None if hosts is None else {h.lower() for h in hosts}  # None: any (the token still guards)
        self.max_body = int(max_body)
        self.scheme = scheme

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            return  # no websockets
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        method = scope["method"].upper()
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if self.hosts is not None and name.lower() not in self.hosts:
            await _reply(send, 421, f"this server does not answer to host {host!r}")
            return
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        cookies = _cookies(headers.get("cookie", ""))
        bearer = headers.get("authorization", "")
        given = headers.get("x-likewise-token") or (bearer[7:].strip() if bearer.lower().startswith("bearer ") else None)
        by_header = _equal(given, self.token)
        by_cookie = _equal(cookies.get(self.token_cookie), self.token)
        if method == "GET" and "token" in query:
            if not _equal(query["token"], self.token):
                await _reply(send, 401, "the token in this URL is not this server's; open the URL `likewise serve` printed")
                return
            rest = urlencode([(k, v) for k, v in query.items() if k != "token"])
            await self._login(send, scope.get("path", "/") + (f"?{rest}" if rest else ""))
            return
        if not (by_header or by_cookie):
            await _reply(send, 401, "this likewise server needs its access token: open the URL `likewise serve` "
                                    "printed (it ends in ?token=...), or send the token as 'Authorization: Bearer TOKEN'")
            return
        if method not in SAFE_METHODS and not by_header:
            origin = headers.get("origin")
            if origin is not None and origin.lower() != f"{self.scheme}://{host}".lower():
                await _reply(send, 403, f"cross-origin request from {origin!r} refused")
                return
            if not (_equal(headers.get("x-csrf-token"), self.csrf) and _equal(cookies.get(self.csrf_cookie), self.csrf)):
                await _reply(send, 403, "missing or wrong CSRF token: a page changing state must send the "
                                        "X-CSRF-Token header (the page of this server does)")
                return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _reply(send, 413, f"request body over {self.max_body:,} bytes")
            return
        await self.app(scope, self._bounded(receive, send), self._with_headers(send))

    async def _login(self, send: Any, location: str) -> None:
        cookie = (f"{self.token_cookie}={self.token}; Path=/; HttpOnly; SameSite=Strict",
                  f"{self.csrf_cookie}={self.csrf}; Path=/; SameSite=Strict")
        extra = [(b"set-cookie", c.encode()) for c in cookie] + [(b"location", location.encode("latin-1", "replace"))]
        await _reply(send, 303, "signed in; continue to " + location, extra)

    def _bounded(self, receive: Any, send: Any) -> Any:
        seen = 0
        limit = self.max_body

        async def bounded() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        return bounded

    def _with_headers(self, send: Any) -> Any:
        async def wrapped(message: dict) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in HEADERS if k not in names]
                if b"content-security-policy" not in names:
                    extra.append((b"content-security-policy", CSP.encode()))
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        return wrapped


class BodyTooLarge(Exception):
    """A streamed request body went over the limit (the app answers 413)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"request body over {limit:,} bytes")


def _cookies(header: str) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:  # a malformed Cookie header counts as none (the request then needs a token header)
        return {}
    return {k: m.value for k, m in jar.items()}


async def _reply(send: Any, status: int, message: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *HEADERS, (b"content-security-policy", CSP.encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
