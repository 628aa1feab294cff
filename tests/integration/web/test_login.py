"""Logging in from chat: one-time links, the session cookie, logout, ending sessions."""

from __future__ import annotations

import pytest

from tests.integration.web.web_peers import LINK, PUBLIC, Desk, form_tokens


async def test_web_answers_in_private_with_a_link_for_that_person(desk: Desk) -> None:
    replies = await desk.session.say("alice", "web", channel="#acme")
    assert len(replies) == 1 and replies[0].private
    assert LINK.search(replies[0].text) and "valid 10 minutes" in replies[0].text
    client = await desk.anonymous()
    token = LINK.search(replies[0].text).group(1)  # type: ignore[union-attr]
    page = await (await client.get(f"/login/{token}")).text()
    assert "Log in as Alice Example" in page  # a GET only shows the button: chat previews cannot spend it
    r = await client.post("/login", data={"token": token}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/"
    tickets = await client.get("/tickets")
    assert tickets.status == 200 and "Tickets of ACME Ltd" in await tickets.text()


async def test_a_link_works_once(desk: Desk) -> None:
    token = await desk.link("alice")
    first, second = await desk.anonymous(), await desk.anonymous()
    assert (await first.post("/login", data={"token": token}, allow_redirects=False)).status == 303
    again = await second.post("/login", data={"token": token}, allow_redirects=False)
    assert again.status == 410 and "expired or was already used" in await again.text()
    assert (await second.get("/tickets")).status == 401


async def test_a_link_expires_after_ten_minutes(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    token = await desk.link("alice")
    clock.advance(minutes=10, seconds=1)
    client = await desk.anonymous()
    assert (await client.get(f"/login/{token}")).status == 410
    assert (await client.post("/login", data={"token": token}, allow_redirects=False)).status == 410


async def test_the_session_cookie_is_signed_httponly_and_lax(desk: Desk) -> None:
    client = await desk.anonymous()
    token = await desk.link("bob")
    r = await client.post("/login", data={"token": token}, allow_redirects=False)
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie  # http:// public_url
    value = r.cookies["supportbot_session"].value
    # The signature's first character: all six of its bits count (the last one's low bits are
    # base64 padding, so 'B' -> 'A' there could decode to the same signature and pass).
    cut = value.rindex(".") + 1
    tampered = value[:cut] + ("A" if value[cut] != "A" else "B") + value[cut + 1:]
    forged = await desk.anonymous()
    forged.session.cookie_jar.update_cookies({"supportbot_session": tampered})
    assert (await forged.get("/tickets")).status == 401
    assert (await client.get("/tickets")).status == 200


async def test_an_https_public_url_makes_the_cookie_secure(desk_with) -> None:  # type: ignore[no-untyped-def]
    d = await desk_with({f'public_url = "{PUBLIC}"': 'public_url = "https://portal.test"'})
    reply = await d.text("alice", "web")
    token = reply.rsplit("/", 1)[1]
    r = await (await d.anonymous()).post("/login", data={"token": token}, allow_redirects=False)
    assert "Secure" in r.headers["Set-Cookie"]


async def test_logout_ends_the_session(desk: Desk) -> None:
    client = await desk.browser("alice")
    tokens = await form_tokens(client, "/tickets/new")
    r = await client.post("/logout", data={"csrf": tokens["csrf"]})
    assert r.status == 200 and "logged out" in await r.text()
    assert (await client.get("/tickets")).status == 401


async def test_an_agent_ends_somebodys_sessions_and_customers_cannot(desk: Desk) -> None:
    laptop, phone = await desk.browser("alice"), await desk.browser("alice")
    assert "is for agents" in await desk.text("bob", "web end alice")
    assert (await laptop.get("/tickets")).status == 200
    assert await desk.text("agnes", "web end alice") == "Ended 2 web sessions of Alice Example."
    assert (await laptop.get("/tickets")).status == 401
    assert (await phone.get("/tickets")).status == 401


async def test_web_logout_in_chat_ends_every_browser(desk: Desk) -> None:
    client = await desk.browser("agnes")
    assert await desk.text("agnes", "web logout") == "Ended 1 web session of yours."
    assert (await client.get("/board")).status == 401


async def test_link_requests_are_rate_limited(desk: Desk, clock) -> None:  # type: ignore[no-untyped-def]
    for _ in range(5):
        assert LINK.search(await desk.text("alice", "web"))
    refused = await desk.text("alice", "web")
    assert "You asked for 5 links in the last 10 minutes" in refused and PUBLIC not in refused
    clock.advance(minutes=10, seconds=1)
    assert LINK.search(await desk.text("alice", "web"))


async def test_login_attempts_are_rate_limited(desk_with) -> None:  # type: ignore[no-untyped-def]
    d = await desk_with({"# logins_per_minute = 20 ": "logins_per_minute = 3 #"})
    client = await d.anonymous()
    statuses = [(await client.post("/login", data={"token": f"guess{i}"})).status for i in range(4)]
    assert statuses == [410, 410, 410, 429]
    good = await d.link("alice")
    assert (await client.post("/login", data={"token": good}, allow_redirects=False)).status == 429


async def test_guests_and_a_disabled_portal_get_one_clear_line(desk: Desk, make_app, sqlite_url) -> None:  # type: ignore[no-untyped-def]
    guest = await desk.session.text("someone", "web", network="irc", channel="#acme")
    assert guest.startswith("the web portal is for people in the directory")
    plain = await make_app(sqlite_url.replace("bot.db", "plain.db"))
    assert await plain.text("alice", "web") == "The web portal is not enabled on this desk."


@pytest.mark.parametrize("path", ["/tickets", "/board", "/plan", "/tickets/new", "/compliance"])
async def test_pages_carry_a_content_security_policy(desk: Desk, path: str) -> None:
    client = await desk.browser("root")
    r = await client.get(path)
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script-src" not in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Referrer-Policy"] == "no-referrer"


async def test_links_sessions_and_a_form_on_sqlite_and_postgresql(desk_with, any_db_url: str) -> None:  # type: ignore[no-untyped-def]
    """The migration's tables on both databases: a link is spent once, a session is stored, a
    form runs its command, and ending the sessions logs the browser out."""
    d = await desk_with({}, url=any_db_url)
    token = await d.link("alice")
    client = await d.anonymous()
    assert (await client.post("/login", data={"token": token}, allow_redirects=False)).status == 303
    assert (await (await d.anonymous()).post("/login", data={"token": token})).status == 410
    tokens = await form_tokens(client, "/tickets/new")
    r = await client.post("/tickets", data={**tokens, "priority": "P2", "summary": "on both databases"})
    assert "Opened ticket #1 (P2)" in await r.text()
    assert await d.text("agnes", "web end alice") == "Ended 1 web session of Alice Example."
    assert (await client.get("/tickets")).status == 401
