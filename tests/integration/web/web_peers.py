"""The web portal under test: the shipped bot.toml with [web] on, an App on a throw-away
database, the portal's routes on an aiohttp test server, and a browser-like client per person
(its own cookie jar) that logs in with a link asked for in chat."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import CookieJar, web
from aiohttp.test_utils import TestClient, TestServer

from adapters.web.portal import WebPortal
from tests.conftest import Session

SECRET = "web-test-secret-0123456789abcdef0123456789"
PUBLIC = "http://portal.test"
WEB_ON = {
    "[web]\nenabled = false": "[web]\nenabled = true",
    'listen = ""': 'listen = "127.0.0.1:0"',
    'public_url = "http://127.0.0.1:8080"': f'public_url = "{PUBLIC}"',
    'secret = "${SUPPORTBOT_WEB_SECRET}"': f'secret = "{SECRET}"',
}
LINK = re.compile(re.escape(PUBLIC) + r"/login/([A-Za-z0-9_-]+)")
CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')
NONCE = re.compile(r'name="nonce" value="([A-Za-z0-9_-]+)"')


class Desk:
    """A desk with the portal: `say` in chat, `browser(person)` on the web."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.app = session.app
        self.portal = WebPortal(session.app)
        self.web_app = web.Application()
        self.portal.add_routes(self.web_app)
        self.server = TestServer(self.web_app)
        self.clients: list[TestClient[Any, Any]] = []

    async def start(self) -> None:
        await self.server.start_server()

    async def close(self) -> None:
        for c in self.clients:
            await c.close()
        await self.server.close()

    async def text(self, who: str, line: str) -> str:
        return await self.session.text(who, line)

    async def anonymous(self) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(self.server, cookie_jar=CookieJar(unsafe=True))
        await client.start_server()
        self.clients.append(client)
        return client

    async def link(self, who: str) -> str:
        text = await self.text(who, "web")
        m = LINK.search(text)
        assert m, text
        return m.group(1)

    async def browser(self, who: str) -> TestClient[Any, Any]:
        client = await self.anonymous()
        token = await self.link(who)
        r = await client.post("/login", data={"token": token}, allow_redirects=False)
        assert r.status == 303, await r.text()
        return client


async def form_tokens(client: TestClient[Any, Any], path: str) -> dict[str, str]:
    page = await (await client.get(path)).text()
    csrf, nonce = CSRF.search(page), NONCE.search(page)
    assert csrf and nonce, page
    return {"csrf": csrf.group(1), "nonce": nonce.group(1)}


async def submit(client: TestClient[Any, Any], form_page: str, action: str, **fields: str) -> tuple[int, str]:
    """Post a form as the browser would (CSRF and nonce from the page); follow the redirect."""
    data = {**await form_tokens(client, form_page), **fields}
    r = await client.post(action, data=data)
    return r.status, await r.text()


def flash_of(page: str) -> str:
    """The one-line answer the portal shows after a form (the command's reply)."""
    import html

    m = re.search(r'<p id="flash"[^>]*>(.*?)</p>', page, re.S)
    assert m, page
    return html.unescape(m.group(1))


def message_of(page: str) -> str:
    import html

    m = re.search(r'<p id="message">(.*?)</p>', page, re.S)
    assert m, page
    return html.unescape(m.group(1))


def ticket_ids(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"#(\d+)", text)]
