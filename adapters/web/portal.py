"""The web portal: HTTP forms <-> InboundMessage / Reply, pages rendered with Jinja2.

It is a channel like IRC or Slack: every change is a chat command run through the router as
the logged-in person (network "web"), so permissions, quota, deposit and priority rules are
the router's and the commands' own, and each action lands in the ticket's history. Pages are
read-only views run through `Router.view` with the same permission helpers chat uses.

Security: one-time login links (from the `web` chat command) are spent by a POST (a GET only
shows the button, so chat link previews cannot spend them); the session cookie is signed
(itsdangerous), HttpOnly, SameSite=Lax, Secure behind https, and names a stored session (so
it works on every instance and can be ended); every other POST carries a CSRF token bound to
the session; a Content-Security-Policy allows only this origin; login attempts are rate
limited per client address."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import jinja2
from aiohttp import web
from itsdangerous import BadSignature, Signer, URLSafeSerializer

from bot.desk.domain import InboundMessage, Priority, Reply
from bot.desk.errors import NotFound, PermissionDenied, SupportbotError, UserError
from bot.ports import WEB, WebHost

log = logging.getLogger("supportbot.web")

COOKIE = "supportbot_session"
FLASH = "supportbot_flash"
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"  # pygal styles its own SVG inline
BOARD_REFRESH_SECONDS = 30
MAX_FIELD = 4000  # characters; the router refuses longer lines with its own message
# What a stranger's request may cost (issue 15): a form is a few fields of at most MAX_FIELD
# characters, so a POST body over 64 KB is refused by its Content-Length before it is read; at
# most MAX_STRANGERS requests without a session are handled at once (503 for the rest).
MAX_FORM_BYTES = 64 * 1024
MAX_STRANGERS = 32
AGENT_ACTIONS = {  # form value -> chat command, `{id}` the ticket
    "assign": "ticket assign {id}",
    "priority": "ticket priority {id}",
    "wait": "ticket wait {id}",
    "resume": "ticket resume {id}",
    "relieve": "ticket relieve {id}",
    "resolve": "ticket resolve {id}",
    "reopen": "ticket reopen {id}",
    "close": "ticket close {id}",
    "minutes": "minutes log {id}",
    "credits": "credits assess {id}",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PERSON = web.RequestKey("person", str)  # the logged-in person's key in [people] ("" if nobody)
SESSION = web.RequestKey("session_token", str)


class LoginLimiter:
    """At most `per_minute` login attempts per client address (this instance's memory)."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}

    def allow(self, who: str) -> bool:
        now = time.monotonic()
        q = self._seen.setdefault(who, deque())
        while q and now - q[0] > 60:
            q.popleft()
        if len(q) >= self.per_minute:
            return False
        q.append(now)
        if len(self._seen) > 10_000:  # forget idle addresses
            for key in [k for k, v in self._seen.items() if not v]:
                del self._seen[key]
        return True


class WebPortal:
    network = WEB

    def __init__(self, host: WebHost) -> None:
        self.host = host
        cfg = self.settings = host.config.web  # [web] itself changes at a restart (the log says so)
        self._secret = cfg.secret.get_secret_value().encode()
        self._signer = Signer(self._secret, salt="supportbot.web.session")
        self._flash = URLSafeSerializer(self._secret, salt="supportbot.web.flash")
        self.limiter = LoginLimiter(cfg.logins_per_minute)
        self.templates = jinja2.Environment(
            loader=jinja2.PackageLoader("adapters.web", "templates"),
            autoescape=jinja2.select_autoescape(default=True),
            undefined=jinja2.StrictUndefined,
        )
        self._runner: web.AppRunner | None = None
        self.bound_port: int | None = None
        self._strangers = 0  # requests without a session cookie being handled right now

    @property
    def config(self) -> Any:
        return self.host.config  # a reload (SIGHUP) is seen at once

    # -- routes ----------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        page = self._page
        app.router.add_get("/", page(self.home))
        app.router.add_get("/login/{token}", page(self.login_form, anonymous=True))
        app.router.add_post("/login", page(self.login, anonymous=True))
        app.router.add_post("/logout", page(self.logout))
        app.router.add_get("/tickets", page(self.tickets))
        app.router.add_get("/tickets/new", page(self.new_ticket))
        app.router.add_post("/tickets", page(self.open_ticket))
        app.router.add_get(r"/tickets/{id:[0-9]{1,9}}", page(self.ticket))
        app.router.add_post(r"/tickets/{id:[0-9]{1,9}}/{action:reply|note|close|act}", page(self.ticket_action))
        app.router.add_get("/plan", page(self.plan))
        app.router.add_post("/plan/confirm", page(self.confirm_credits))
        app.router.add_get("/board", page(self.board))
        app.router.add_post(r"/cards/{card:[0-9]{1,9}}/open", page(self.open_card))
        app.router.add_get("/compliance", page(self.compliance))
        app.router.add_get("/compliance/{kind:met|breaches}.svg", page(self.chart))
        app.router.add_get("/compliance/statement.csv", page(self.statement))
        app.router.add_get("/static/portal.css", page(self.stylesheet, anonymous=True))

    async def serve(self, host: str, port: int) -> None:
        """A listener of its own (`[web] listen` differs from `[bot] http`)."""
        app = web.Application(client_max_size=MAX_FORM_BYTES)
        self.add_routes(app)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=2.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.bound_port = int(runner.addresses[0][1]) if runner.addresses else port
        log.info("web portal on %s:%s", host, self.bound_port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- the frame every page runs in ---------------------------------------------------------------

    def _page(self, handler: Handler, *, anonymous: bool = False) -> Handler:
        async def run(request: web.Request) -> web.StreamResponse:
            stranger = COOKIE not in request.cookies
            if stranger and self._strangers >= MAX_STRANGERS:
                return web.Response(status=503, text="busy, try again in a moment", headers={"Retry-After": "1"})
            self._strangers += stranger
            try:
                return await guarded(request)
            finally:
                self._strangers -= stranger

        async def guarded(request: web.Request) -> web.StreamResponse:
            response: web.StreamResponse
            if request.method == "POST":
                refusal = await _unreadable_form(request)
                if refusal is not None:
                    _secure_headers(refusal)
                    return refusal
            try:
                person = await self._session_person(request)
                request[PERSON] = person or ""
                if person is None and not anonymous:
                    response = self.render(request, "message.html", status=401, title="Not logged in",
                                           text="You are not logged in. Type web to the support bot in chat "
                                           "for a one-time login link.")
                elif request.method == "POST" and not anonymous and not self._csrf_ok(request, await request.post()):
                    response = self.render(request, "message.html", status=403, title="Forbidden",
                                           text="This form is out of date or did not come from this site "
                                           "(missing or wrong CSRF token). Nothing was changed.")
                else:
                    response = await handler(request)
            except NotFound as exc:
                response = self.render(request, "message.html", status=404, title="Not found", text=str(exc))
            except PermissionDenied as exc:
                response = self.render(request, "message.html", status=403, title="Not allowed", text=str(exc))
            except UserError as exc:
                response = self.render(request, "message.html", status=400, title="Bad request", text=str(exc))
            except SupportbotError as exc:
                response = self.render(request, "message.html", status=409, title="Not possible", text=str(exc))
            except web.HTTPException:
                raise
            except Exception:
                ref = secrets.token_hex(4)
                log.exception("web page %s failed (ref %s)", request.path, ref)
                response = self.render(request, "message.html", status=500, title="Something went wrong",
                                       text=f"Something went wrong (ref {ref}). The team has been told.")
            _secure_headers(response)
            return response

        return run

    async def _session_person(self, request: web.Request) -> str | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        try:
            token = self._signer.unsign(raw).decode()
        except BadSignature:
            return None
        request[SESSION] = token
        person = await self.host.web_sessions.session_person(token, self.host.clock.now())
        if person is not None and person not in self.config.people:
            return None  # removed from bot.toml since: the session is worth nothing
        return person

    def csrf_token(self, request: web.Request) -> str:
        token = request.get(SESSION, "")
        return hmac.new(self._secret, b"csrf:" + token.encode(), hashlib.sha256).hexdigest()

    def _csrf_ok(self, request: web.Request, form: Any) -> bool:
        sent = str(form.get("csrf", ""))
        return bool(sent) and hmac.compare_digest(sent, self.csrf_token(request))

    def render(self, request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
        person = request.get(PERSON)
        cfg = self.config.people.get(person) if person else None
        flash = self._take_flash(request)
        html = self.templates.get_template(template).render(
            me=cfg, role=cfg.role if cfg else "", csrf=self.csrf_token(request) if person else "",
            nonce=secrets.token_urlsafe(12), flash=flash, path=request.path, **context,
        )
        response = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
        if flash is not None:
            response.del_cookie(FLASH, path="/")
        return response

    def _take_flash(self, request: web.Request) -> dict[str, Any] | None:
        raw = request.cookies.get(FLASH)
        if not raw:
            return None
        try:
            value: dict[str, Any] = self._flash.loads(raw)
        except BadSignature:
            return None
        return value

    def _redirect(self, location: str, replies: list[Reply] | None = None, *, text: str = "") -> web.Response:
        response = _see_other(location)
        if replies:
            text = "\n".join(r.text for r in replies)
        if text:
            error = any(r.kind == "error" for r in replies or [])
            response.set_cookie(FLASH, self._flash.dumps({"text": text[:1500], "error": error}), path="/",
                                httponly=True, samesite="Lax", secure=self.settings.secure_cookies)
        _secure_headers(response)
        return response

    async def run_command(self, request: web.Request, text: str) -> list[Reply]:
        """A chat command as the logged-in person; the form's nonce makes a double submit harmless."""
        form = await request.post()
        nonce = re.sub(r"[^A-Za-z0-9_-]", "", str(form.get("nonce", "")))[:40] or None
        person = request[PERSON]
        message = InboundMessage(WEB, person, text, channel=None, sender_name=self.config.people[person].name,
                                 message_id=nonce)
        replies: list[Reply] = await self.host.handle(message)
        if nonce is not None and not replies:
            replies = [Reply("That form was already sent; nothing was done twice.")]
        return replies

    async def view(self, request: web.Request, page: str, **kwargs: Any) -> Any:
        """A page the command areas contribute, as the logged-in person."""
        return await self.host.view(InboundMessage(WEB, request[PERSON], "", channel=None), page, **kwargs)

    def is_staff(self, request: web.Request) -> bool:
        return bool(self.config.people[request[PERSON]].role in ("agent", "admin"))

    # -- login ------------------------------------------------------------------------------------------

    async def login_form(self, request: web.Request) -> web.StreamResponse:
        if not self.limiter.allow(request.remote or "?"):
            return self.render(request, "message.html", status=429, title="Too many attempts",
                               text="Too many login attempts from your address; wait a minute.")
        token = request.match_info["token"]
        person = await self.host.web_sessions.peek_link(token, self.host.clock.now())
        if person is None or person not in self.config.people:
            return self.render(request, "message.html", status=410, title="Link expired",
                               text="This login link has expired or was already used. Type web to the bot "
                               "for a new one.")
        return self.render(request, "login.html", token=token, name=self.config.people[person].name)

    async def login(self, request: web.Request) -> web.StreamResponse:
        if not self.limiter.allow(request.remote or "?"):
            return self.render(request, "message.html", status=429, title="Too many attempts",
                               text="Too many login attempts from your address; wait a minute.")
        form = await request.post()
        token = str(form.get("token", ""))[:100]
        now = self.host.clock.now()
        session = secrets.token_urlsafe(32)
        cfg = self.settings
        person = await self.host.web_sessions.spend_link(token, now) if token else None
        if person is None or person not in self.config.people:
            return self.render(request, "message.html", status=410, title="Link expired",
                               text="This login link has expired or was already used. Type web to the bot "
                               "for a new one.")
        await self.host.web_sessions.start_session(session, person, now, timedelta(hours=cfg.session_hours))
        log.info("web: %s logged in", person)
        response = _see_other("/")
        response.set_cookie(COOKIE, self._signer.sign(session.encode()).decode(), path="/", httponly=True,
                            samesite="Lax", secure=cfg.secure_cookies, max_age=int(cfg.session_hours * 3600))
        _secure_headers(response)
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        await self.host.web_sessions.end_session(request[SESSION], self.host.clock.now())
        request[PERSON] = ""
        response = self.render(request, "message.html", title="Logged out",
                               text="You are logged out. Type web to the bot for a new link.")
        response.del_cookie(COOKIE, path="/")
        return response

    # -- pages --------------------------------------------------------------------------------------------

    async def home(self, request: web.Request) -> web.StreamResponse:
        return _see_other("/board" if self.is_staff(request) else "/tickets")

    async def tickets(self, request: web.Request) -> web.StreamResponse:
        data = await self.view(request, "tickets", org=request.query.get("org") or None)
        return self.render(request, "tickets.html", **data)

    async def ticket(self, request: web.Request) -> web.StreamResponse:
        data = await self.view(request, "ticket", id=int(request.match_info["id"]), history=self._history_page(request))
        return self.render(request, "ticket.html", actions=sorted(AGENT_ACTIONS), **data)

    async def new_ticket(self, request: web.Request) -> web.StreamResponse:
        data = await self.view(request, "new ticket")
        return self.render(request, "new_ticket.html", **data)

    async def open_ticket(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        summary = _field(form, "summary")
        description = _field(form, "description")
        words = ["ticket open"]
        prio = str(form.get("priority", "")).upper()
        if prio:
            words.append(Priority.parse(prio).label)
        if form.get("test_system"):
            words.append("--test-system")
        if self.is_staff(request) and form.get("org"):
            words += ["--for", re.sub(r"[^a-z0-9_-]", "", str(form.get("org")).lower())]
        words.append(summary)
        replies = await self.run_command(request, " ".join(w for w in words if w))
        opened = next((r.ticket_id for r in replies if r.kind == "ticket-opened" and r.ticket_id), None)
        if opened is None:
            return self._redirect("/tickets/new", replies)
        if description:
            replies += await self.host.handle(InboundMessage(
                WEB, request[PERSON], f"ticket reply {opened} {description}", channel=None,
                sender_name=self.config.people[request[PERSON]].name))
        return self._redirect(f"/tickets/{opened}", replies)

    async def ticket_action(self, request: web.Request) -> web.StreamResponse:
        id = int(request.match_info["id"])
        action = request.match_info["action"]
        form = await request.post()
        text = _field(form, "text")
        if action == "reply":
            command = f"ticket reply {id} {text}"
        elif action == "note":
            command = f"ticket note {id} {text}"
        elif action == "close":
            command = f"ticket close {id}"
        else:
            chosen = str(form.get("command", ""))
            if chosen not in AGENT_ACTIONS:
                raise UserError(f"'{chosen[:40]}' is not an action: use one of {', '.join(sorted(AGENT_ACTIONS))}")
            command = f"{AGENT_ACTIONS[chosen].format(id=id)} {_field(form, 'args')}".strip()
        return self._redirect(f"/tickets/{id}", await self.run_command(request, command))

    async def plan(self, request: web.Request) -> web.StreamResponse:
        data = await self.view(request, "plan", org=request.query.get("org") or None)
        # The chat answer itself, so the page and `plan` can never disagree.
        summary = await self.host.handle(InboundMessage(WEB, request[PERSON], f"plan {data['org']}", channel=None))
        if any(r.kind == "error" for r in summary):
            raise PermissionDenied(summary[0].text)
        return self.render(request, "plan.html", summary=[r.text for r in summary], **data)

    async def confirm_credits(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        ticket = re.sub(r"\D", "", str(form.get("ticket", "")))[:9]
        if not ticket:
            raise UserError("which ticket? (the Confirm button names it)")
        return self._redirect("/plan", await self.run_command(request, f"credits confirm {ticket}"))

    async def board(self, request: web.Request) -> web.StreamResponse:
        data = await self.view(request, "board", org=request.query.get("org") or None)
        rotations = await self.view(request, "oncall")
        cards = await self.view(request, "cards")
        return self.render(request, "board.html", refresh=BOARD_REFRESH_SECONDS, rotations=rotations, cards=cards,
                           **data)

    async def open_card(self, request: web.Request) -> web.StreamResponse:
        """An assist card's "Open ticket": `ticket open --from N [P1-P4] [summary]`."""
        form = await request.post()
        words = [f"ticket open --from {int(request.match_info['card'])}"]
        prio = str(form.get("priority", "")).upper()
        if prio:
            words.append(Priority.parse(prio).label)
        words.append(_field(form, "summary"))
        replies = await self.run_command(request, " ".join(w for w in words if w))
        opened = next((r.ticket_id for r in replies if r.kind == "ticket-opened" and r.ticket_id), None)
        return self._redirect(f"/tickets/{opened}" if opened else "/board", replies)

    def _history_page(self, request: web.Request) -> int:
        """`?page=N` of a ticket's history (1, the newest entries, when not given)."""
        text = request.query.get("page") or "1"
        if not re.fullmatch(r"[0-9]{1,6}", text) or int(text) < 1:
            raise UserError(f"'{text[:20]}' is not a page of the history: use 1, 2, 3 ...")
        return int(text)

    def _month(self, request: web.Request) -> date | None:
        text = request.query.get("month") or ""
        if not text:
            return None
        m = re.fullmatch(r"([0-9]{4})-([0-9]{2})", text)
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise UserError(f"'{text[:20]}' is not a month: use YYYY-MM")
        return date(int(m.group(1)), int(m.group(2)), 1)

    def _org_asked(self, request: web.Request) -> str | None:
        """The `?org=` of a page (default: the person's own). For a customer, the chat rule
        decides (another organisation answers exactly like a missing one); staff hear that a
        missing one is missing."""
        person = self.config.people[request[PERSON]]
        org = request.query.get("org") or person.org
        if org is not None and org not in self.config.orgs and person.role != "customer":
            raise NotFound(f"There is no organisation '{org[:40]}'.")
        return org

    async def _compliance(self, request: web.Request) -> dict[str, Any]:
        org = self._org_asked(request)
        data: dict[str, Any] = await self.view(request, "compliance", org=org, month=self._month(request))
        return data

    async def compliance(self, request: web.Request) -> web.StreamResponse:
        if not request.query.get("org") and self.config.people[request[PERSON]].org is None:
            orgs = {k: o.name for k, o in sorted(self.config.orgs.items())}
            return self.render(request, "compliance_pick.html", orgs=orgs)
        return self.render(request, "compliance.html", **await self._compliance(request))

    async def chart(self, request: web.Request) -> web.StreamResponse:
        from adapters.web.charts import breaches_chart, met_chart

        data = await self._compliance(request)
        svg = met_chart(data) if request.match_info["kind"] == "met" else breaches_chart(data)
        response = web.Response(body=svg, content_type="image/svg+xml")
        response.headers["Content-Security-Policy"] = SVG_CSP
        return response

    async def statement(self, request: web.Request) -> web.StreamResponse:
        org = self._org_asked(request)
        name, body = await self.view(request, "statement", org=org, month=self._month(request))
        response = web.Response(text=body, content_type="text/csv", charset="utf-8")
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    async def stylesheet(self, request: web.Request) -> web.StreamResponse:
        from importlib.resources import files

        css = files("adapters.web").joinpath("static/portal.css").read_text(encoding="utf-8")
        response = web.Response(text=css, content_type="text/css")
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _field(form: Any, name: str) -> str:
    value = str(form.get(name, "") or "")
    return value.strip()[:MAX_FIELD]


async def _unreadable_form(request: web.Request) -> web.Response | None:
    """A POST whose body is not a form the portal reads: too large (by its Content-Length,
    before reading; 413), of unknown length (411), or not decodable (400). None: fine (the
    form is read and kept for the handler)."""
    if request.content_length is None and request.body_exists:
        return web.Response(status=411, text="a form needs a Content-Length")
    if (request.content_length or 0) > MAX_FORM_BYTES:
        return web.Response(status=413, text=f"the form is larger than {MAX_FORM_BYTES // 1024} KB")
    try:
        await request.post()
    except (ValueError, UnicodeDecodeError, LookupError):
        log.info("web: a malformed form to %s was refused", request.path)
        return web.Response(status=400, text="malformed form")
    return None


def _secure_headers(response: web.StreamResponse) -> None:
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")  # login links must not leak in a Referer
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Cache-Control", "no-store")
