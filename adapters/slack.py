"""Slack adapter: slack-bolt's AsyncApp in the bot's own event loop, over Socket Mode or the
HTTP Events API. Slash commands, mentions, direct messages and ticket-thread replies become
InboundMessage; replies and outbound messages go back as mrkdwn with user text escaped."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import logging
import re
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import parse_body
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from adapters.http_bounds import read_bounded
from adapters.slack_format import (
    ACTION_PREFIX,
    done_line,
    escape_mrkdwn,
    mentions_bot,
    message_blocks,
    plain_text,
    pressed_blocks,
)
from bot.desk.clock import Clock, SystemClock
from bot.desk.domain import InboundMessage, Outbound, Reply
from bot.desk.errors import ConfigError
from bot.ports import AdapterHost, DeliveryError, HttpRoutes
from bot.ports.answers import ANSWER, answer_of
from bot.ports.bookkeeping import recall, remember

log = logging.getLogger("supportbot.adapters.slack")

# Slash commands: one per word of host.command_menu() (the command registry), registered with
# bolt at start(); each must also be created in the Slack app's settings.

# host.state namespaces.
TICKET_THREAD_NS = "slack.ticket_thread"  # ticket id -> "channel|ts" of its thread root
THREAD_TICKET_NS = "slack.thread_ticket"  # "channel|ts" -> ticket id
CARD_THREAD_NS = "slack.card_thread"  # "channel|card" -> ts of the assist card (its thread root)

# What a stranger's request may cost (issue 15): Slack's payloads are a few KB (a slash
# command's text is at most 4,000 characters), so a body over 100 KB is refused after reading no
# more than that; requests whose signature is not checked yet are capped, the rest get 503.
MAX_BODY_BYTES = 100 * 1024
MAX_UNVERIFIED_REQUESTS = 32
SIGNATURE_MAX_AGE = 300  # seconds: Slack's own rule for replayed requests

# Message subtypes that are still a person writing; every other subtype (edits, joins,
# bot_message, deletions...) is ignored.
_PERSON_SUBTYPES = frozenset({"", "thread_broadcast", "file_share"})

# Slack retries an event it did not get a 2xx for within 3 s. We ack at once, so a retry
# for "http_timeout" is a copy of one we have: dropped here, on the wire (X-Slack-Retry-Num /
# X-Slack-Retry-Reason). Other reasons (connection_failed, http_error...) may mean the first
# never arrived, so those reach the router, whose stored idempotency key (the event_id or
# trigger_id as message_id) is the one point where a second copy is dropped.
_DUPLICATE_RETRY_REASONS = frozenset({"http_timeout"})


class SlackSettings(BaseModel):
    """`[adapters.slack]` in bot.toml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    """Start the Slack adapter under `supportbot run`."""
    mode: Literal["socket", "http"] = "socket"
    """"socket" (Socket Mode: an outgoing WebSocket, needs app_token, no public URL) or "http"
    (Events API: Slack POSTs to listen+path, needs signing_secret; can be load-balanced)."""
    bot_token: SecretStr | None = Field(default=None, validate_default=True)
    """Bot user OAuth token (xoxb-...), e.g. "${SLACK_BOT_TOKEN}"."""
    app_token: SecretStr | None = Field(default=None, validate_default=True)
    """App-level token with connections:write (xapp-...), socket mode only."""
    signing_secret: SecretStr | None = Field(default=None, validate_default=True)
    """Signing secret from the app's Basic Information page, http mode only; requests whose
    signature or timestamp (older than 5 minutes) does not verify are refused with 401."""
    listen: str = "127.0.0.1:3000"
    """http mode: HOST:PORT the Events API endpoint listens on (port 0 = any free port)."""
    path: str = "/slack/events"
    """http mode: URL path for events, slash commands and button presses (one Request URL)."""
    api_url: str = "https://slack.com/api/"
    """Slack Web API base URL (a proxy or another Slack instance); must end in /api/."""
    rate_limit_retries: int = Field(default=3, ge=0, le=10)
    """How many times a send answered with HTTP 429 is retried after its Retry-After."""
    timeout: int = Field(default=10, gt=0, le=120)
    """Seconds one Web API call may take."""

    @field_validator("api_url")
    @classmethod
    def _api_url_ends_in_api(cls, value: str) -> str:
        if not re.match(r"^https?://", value) or not value.endswith("/api/"):
            raise ValueError("expected an http(s) URL ending in /api/, e.g. https://slack.com/api/")
        return value

    @field_validator("path")
    @classmethod
    def _path_is_absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("expected a URL path starting with /, e.g. /slack/events")
        return value

    @field_validator("listen")
    @classmethod
    def _listen_is_host_port(cls, value: str) -> str:
        listen_address(value)
        return value

    @field_validator("bot_token", "app_token", "signing_secret")
    @classmethod
    def _secret_needed_by_mode(
        cls, value: SecretStr | None, info: ValidationInfo
    ) -> SecretStr | None:
        """An enabled adapter refuses to start without the secrets its mode needs (an unset
        `${VAR}` arrives as empty). Checked per field, so the error names the key."""
        if not info.data.get("enabled") or _secret(value):
            return value
        mode = info.data.get("mode")
        if info.field_name == "bot_token":
            raise ValueError("expected the bot token (xoxb-...) when enabled, found none")
        if info.field_name == "app_token" and mode == "socket":
            raise ValueError('expected an app-level token (xapp-...) when mode = "socket", found none')
        if info.field_name == "signing_secret" and mode == "http":
            raise ValueError('expected the app\'s signing secret when mode = "http", found none')
        return value


def listen_address(value: str) -> tuple[str, int]:
    """Parse `127.0.0.1:3000` or `[::1]:3000` into (host, port); ValueError otherwise."""
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, e.g. 127.0.0.1:3000, got {value!r}")
    return host, int(port)


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _slack_error(exc: BaseException) -> str:
    """A log-safe description of a failed Slack call (error code, never tokens or bodies)."""
    if isinstance(exc, SlackApiError):
        return str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
    return type(exc).__name__


_SEND_ERRORS = (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError, KeyError, TypeError)


@dataclass(frozen=True)
class _Conversation:
    """Where and to whom replies to one inbound line go."""

    channel: str  # wire channel to answer in (a user id for direct slash commands)
    user: str
    direct: bool
    thread_ts: str | None = None
    response_url: str | None = None


class SlackAdapter:
    """The Slack network. `mount(web_app)` before that app starts shares an existing aiohttp
    server (health + webhooks on one port); otherwise http mode serves on `listen`."""

    network = "slack"

    def __init__(self, settings: SlackSettings, *, clock: Clock | None = None) -> None:
        self._settings = settings
        self._clock: Clock = clock or SystemClock()
        self._host: AdapterHost | None = None
        self._client = AsyncWebClient(
            token=_secret(settings.bot_token) or None,
            base_url=settings.api_url,
            timeout=settings.timeout,
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(),
                AsyncRateLimitErrorRetryHandler(max_retry_count=settings.rate_limit_retries),
            ],
        )
        self._http: aiohttp.ClientSession | None = None
        """One HTTP session (one connection pool) for every Web API call and response_url
        POST while started; without it slack_sdk opens a new session and connection per call."""
        self._app = self._build_app()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: web.AppRunner | None = None
        self._mounted = False
        self._commands_registered = False
        self._menu: set[str] = set()  # the slash commands registered (their names, without "/")
        self._socket: AsyncSocketModeHandler | None = None
        self._socket_task: asyncio.Future[None] | None = None
        self._bot_user_id = ""
        self._names: dict[str, str] = {}
        self._signing_key = _secret(settings.signing_secret).encode()
        self._unverified = 0  # requests being read and verified right now
        self.bound_port: int | None = None
        """http mode with its own server: the port actually listened on (for listen port 0)."""

    # ----------------------------------------------------------------- lifecycle

    @property
    def connected(self) -> bool:
        if self._host is None:
            return False
        if self._settings.mode == "http":
            return self._runner is not None or self._mounted
        session = self._socket.client.current_session if self._socket else None
        return session is not None and not session.closed

    def mount(self, routes: HttpRoutes) -> bool:
        """http mode: serve the Events API endpoint from a shared server's `routes` (call
        before it starts); start() then opens no listener of its own. Socket mode: False."""
        if self._settings.mode != "http":
            return False
        routes.add_post(self._settings.path, self._http_request)
        self._mounted = True
        return True

    async def _serve_http(self) -> None:
        host, port = listen_address(self._settings.listen)
        web_app = web.Application()
        web_app.router.add_post(self._settings.path, self._http_request)
        runner = web.AppRunner(web_app, handler_cancellation=True, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        self.bound_port = sockets[0].getsockname()[1] if sockets else port
        log.info("slack: events endpoint on %s:%s%s", host, self.bound_port, self._settings.path)

    async def start(self, host: AdapterHost) -> None:
        if self._http is None or self._http.closed:  # made here: a session binds the running loop
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._settings.timeout)
            )
            self._client.session = self._http
        try:
            await self._learn_identity()
            if not self._commands_registered:  # bolt would run a listener registered twice twice
                for entry in host.command_menu():
                    self._app.command(f"/{entry.name}")(self._on_command)
                    self._menu.add(entry.name)
                self._commands_registered = True
            if self._settings.mode == "http" and not self._mounted:
                await self._serve_http()  # OSError (port taken) goes to the caller
        except BaseException:
            await self._close_http()
            raise
        self._host = host
        if self._settings.mode == "socket":
            self._socket = AsyncSocketModeHandler(
                self._app, app_token=_secret(self._settings.app_token), web_client=self._client
            )
            # connect() retries until Slack answers; the bot must not wait for that.
            self._socket_task = asyncio.ensure_future(self._connect_socket(self._socket))

    async def _close_http(self) -> None:
        http, self._http = self._http, None
        self._client.session = None
        if http is not None:
            await http.close()

    async def stop(self) -> None:
        if self._socket_task is not None:
            self._socket_task.cancel()
            await asyncio.gather(self._socket_task, return_exceptions=True)
            self._socket_task = None
        if self._socket is not None:
            try:
                await self._socket.close_async()  # type: ignore[no-untyped-call]
            except Exception:  # noqa: BLE001 - closing must go on whatever the socket says
                log.warning("slack: socket mode connection did not close cleanly")
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._host = None
        await self._close_http()

    @staticmethod
    async def _connect_socket(handler: AsyncSocketModeHandler) -> None:
        try:
            await handler.connect_async()  # type: ignore[no-untyped-call]
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - slack_sdk retries itself; this is the last word
            log.error("slack: socket mode could not connect: %s", _slack_error(exc))

    async def settled(self) -> None:
        """Wait until every inbound event received so far has been handled and answered
        (shutdown drains with it; tests use it instead of sleeping)."""
        while pending := [t for t in self._tasks if t is not asyncio.current_task()]:
            await asyncio.wait(pending)
        inbox_settled = getattr(self._host, "inbox_settled", None)
        if inbox_settled is not None:  # commands taken into the durable inbox, run by the host
            await inbox_settled()

    async def _learn_identity(self) -> None:
        """auth.test: the bot's user id, to recognise mentions of it."""
        try:
            auth = await self._client.auth_test()
        except SlackApiError as exc:
            error = _slack_error(exc)
            if error in ("invalid_auth", "not_authed", "account_inactive", "token_revoked"):
                raise ConfigError(f"adapters.slack.bot_token: Slack refused the token ({error})") from None
            log.warning("slack: auth.test failed (%s); will learn identity on first event", error)
            return
        except _SEND_ERRORS as exc:
            log.warning(
                "slack: auth.test failed (%s); will retry on first event", _slack_error(exc)
            )
            return
        self._bot_user_id = str(auth.get("user_id") or "")

    async def _http_request(self, request: web.Request) -> web.StreamResponse:
        """The Events API endpoint. A stranger's request costs at most MAX_BODY_BYTES read and
        one HMAC: the size is checked while reading, the signature before any parsing, and
        only a verified request reaches bolt. Nothing of the body is logged."""
        if self._host is None or not self._signing_key:
            return web.Response(status=503, text="supportbot is starting")
        if not getattr(self._host, "accepting", True):  # stopping: not acknowledged, so not taken
            return web.Response(status=503, text="supportbot is restarting", headers={"Retry-After": "5"})
        if self._unverified >= MAX_UNVERIFIED_REQUESTS:
            return web.Response(status=503, text="busy", headers={"Retry-After": "1"})
        self._unverified += 1
        try:
            body = await read_bounded(request, MAX_BODY_BYTES)
            if body is None:
                return web.Response(status=413, text="request body too large")
            if not self._signed(body, request.headers):
                return web.Response(status=401, text="invalid signature")
        finally:
            self._unverified -= 1
        try:
            text = body.decode("utf-8")
            slash = self._known_slash_command(text, request.headers)
            if slash is None and not parse_body(text, request.headers.get("Content-Type")):
                raise ValueError("empty or unparsable body")
        except (UnicodeDecodeError, ValueError, TypeError, KeyError):
            log.info("slack: a signed request with a malformed body (%d bytes) was refused", len(body))
            return web.Response(status=400, text="malformed request")
        if slash is not None:  # the usual request, taken without bolt's dispatch (its cost, per command)
            try:
                await self._slash_command(slash)  # stored before the acknowledgement
            except Exception as exc:  # noqa: BLE001 - not stored: not acknowledged, Slack says it failed
                log.warning("slack: a slash command could not be taken (%s); answered 503", type(exc).__name__)
                return web.Response(status=503, text="try again", headers={"Retry-After": "1"})
            return web.Response(status=200)
        bolt_request = AsyncBoltRequest(body=text, query=request.query_string, headers=dict(request.headers))
        try:
            bolt_response = await self._app.async_dispatch(bolt_request)
        except Exception as exc:  # noqa: BLE001 - a signed but odd request: refuse, never a traceback
            log.warning("slack: a signed request could not be handled (%s); answered 400", type(exc).__name__)
            return web.Response(status=400, text="malformed request")
        return await to_aiohttp_response(bolt_response)

    def _known_slash_command(self, text: str, headers: Any) -> dict[str, str] | None:
        """A verified body that is a slash command of the menu, as a dict of its form fields
        (what bolt's command listener would get); None for anything else, which goes to bolt.
        Bolt's own steps for such a request: no SSL check, not a retry it would drop, the
        listener for the command (it stores the command, then acknowledges: HTTP 200)."""
        if not str(headers.get("Content-Type") or "").startswith("application/x-www-form-urlencoded"):
            return None
        if headers.get("X-Slack-Retry-Num"):
            return None  # (bolt's middleware decides about retries)
        form = dict(urllib.parse.parse_qsl(text, keep_blank_values=True))
        command = form.get("command") or ""
        if "payload" in form or "ssl_check" in form or command.lstrip("/") not in self._menu:
            return None
        return form

    def _signed(self, body: bytes, headers: Any) -> bool:
        """Slack's v0 signature over the raw bytes of the body (whatever they are), with a
        timestamp of at most 5 minutes ago."""
        timestamp = str(headers.get("X-Slack-Request-Timestamp") or "")
        signature = str(headers.get("X-Slack-Signature") or "")
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return False
        if not (signature.isascii() and len(signature) <= 100):
            return False
        if abs(time.time() - int(timestamp)) > SIGNATURE_MAX_AGE:
            return False
        expected = hmac.new(self._signing_key, b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
        return hmac.compare_digest("v0=" + expected.hexdigest(), signature)

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run work after Slack got its ack (it wants one within 3 s); stop() cancels it."""
        task: asyncio.Task[None] = asyncio.ensure_future(self._guarded(work))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guarded(work: Coroutine[Any, Any, Any]) -> None:
        try:
            await work
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("slack: handling an event failed")

    # ----------------------------------------------------------------- bolt wiring

    def _build_app(self) -> AsyncApp:
        http = self._settings.mode == "http"
        app = AsyncApp(
            client=self._client,
            signing_secret=_secret(self._settings.signing_secret) if http else "",
            # _http_request verifies the signature itself, before parsing anything (bolt's own
            # check logs whole bodies of refused requests).
            request_verification_enabled=False,
            url_verification_enabled=http,
            ssl_check_enabled=http,
            logger=logging.getLogger("supportbot.adapters.slack.bolt"),
            # Listeners only store the command (the durable inbox) before the acknowledgement
            # goes out; the command runs afterwards, from the database.
            process_before_response=True,
        )

        async def drop_duplicate_retries(
            req: AsyncBoltRequest, next_: Callable[[], Awaitable[BoltResponse]]
        ) -> BoltResponse:
            retry = req.headers.get("x-slack-retry-num")
            reason = (req.headers.get("x-slack-retry-reason") or [""])[0]
            if retry and reason in _DUPLICATE_RETRY_REASONS:
                return BoltResponse(status=200, body="")  # no next(): the listener never runs
            return await next_()

        app.middleware(drop_duplicate_retries)

        async def on_command(ack: Callable[..., Awaitable[Any]], command: dict[str, Any]) -> None:
            await self._slash_command(command)  # stored (or handed to a task) before the ack
            await ack()

        self._on_command = on_command  # registered per command of the menu at start()

        async def on_mention(body: dict[str, Any], context: dict[str, Any]) -> None:
            await self._mention(body, str(context.get("bot_user_id") or ""))

        async def on_message(body: dict[str, Any], context: dict[str, Any]) -> None:
            await self._message(body, str(context.get("bot_user_id") or ""))

        app.event("app_mention")(on_mention)
        app.event("message")(on_message)

        async def on_button(ack: Callable[..., Awaitable[Any]], body: dict[str, Any]) -> None:
            await self._button(body)
            await ack()

        app.action(re.compile("^" + re.escape(ACTION_PREFIX)))(on_button)
        return app

    # ----------------------------------------------------------------- inbound

    async def _slash_command(self, command: dict[str, Any]) -> None:
        user = str(command.get("user_id") or "")
        channel = str(command.get("channel_id") or "")
        direct = channel.startswith("D") or not channel
        name = str(command.get("command") or "").lstrip("/")
        text = plain_text(f"{name} {command.get('text') or ''}", bot_user_id=self._bot_user_id)
        message = InboundMessage(
            network=self.network,
            sender=user,
            text=text,
            channel=None if direct else channel,
            sender_name=str(command.get("user_name") or ""),
            message_id=str(command.get("trigger_id") or "") or None,
            received_at=self._clock.now(),
        )
        # A direct slash command (maybe typed in a DM with another person) is answered in the
        # caller's DM with the bot, never where someone else could read it.
        conversation = _Conversation(
            channel=user if direct else channel,
            user=user,
            direct=direct,
            response_url=str(command.get("response_url") or "") or None,
        )
        await self._run(message, conversation)

    async def _mention(self, body: dict[str, Any], bot_user_id: str) -> None:
        event = body.get("event") or {}
        channel = str(event.get("channel") or "")
        user = str(event.get("user") or "")
        if not user or event.get("bot_id") or channel.startswith("D"):
            return  # bots never command us; in a DM the message event carries it
        bot_user_id = bot_user_id or self._bot_user_id
        thread_ts = event.get("thread_ts")
        message = InboundMessage(
            network=self.network,
            sender=user,
            text=plain_text(str(event.get("text") or ""), bot_user_id=bot_user_id),
            channel=channel,
            sender_name=await self._display_name(user),
            message_id=str(body.get("event_id") or "") or None,
            thread=str(thread_ts) if thread_ts else None,
            received_at=self._clock.now(),
        )
        conversation = _Conversation(
            channel=channel,
            user=user,
            direct=False,
            thread_ts=str(thread_ts) if thread_ts else None,
        )
        await self._run(message, conversation, body=body)

    async def _message(self, body: dict[str, Any], bot_user_id: str) -> None:
        event = body.get("event") or {}
        user = str(event.get("user") or "")
        channel = str(event.get("channel") or "")
        wire = str(event.get("text") or "")
        bot_user_id = bot_user_id or self._bot_user_id
        if str(event.get("subtype") or "") not in _PERSON_SUBTYPES or event.get("bot_id"):
            return
        if not user or user == bot_user_id or not channel:
            return
        direct = event.get("channel_type") == "im" or channel.startswith("D")
        if not direct and mentions_bot(wire, bot_user_id):
            return  # the app_mention event for the same message runs it
        text = plain_text(wire, bot_user_id=bot_user_id)
        if not text:
            return
        thread_ts = str(event.get("thread_ts") or "") or None
        ticket_id: int | None = None  # a line in a ticket's thread: the router makes it a reply
        if thread_ts and thread_ts != event.get("ts") and self._host is not None:
            stored = await self._host.state.get(THREAD_TICKET_NS, f"{channel}|{thread_ts}")
            ticket_id = int(stored) if stored and stored.isdigit() else None
        message = InboundMessage(
            network=self.network,
            sender=user,
            text=text,
            channel=None if direct else channel,
            sender_name=await self._display_name(user),
            message_id=str(body.get("event_id") or event.get("client_msg_id") or "") or None,
            thread=thread_ts,
            addressed=direct or ticket_id is not None,
            ticket_id=ticket_id,
            received_at=self._clock.now(),
        )
        conversation = _Conversation(channel=channel, user=user, direct=direct, thread_ts=thread_ts)
        await self._run(message, conversation, body=body)

    async def _button(self, body: dict[str, Any]) -> None:
        actions = body.get("actions") or []
        if not actions:
            return
        action = actions[0]
        command = str(action.get("value") or "")
        label = str((action.get("text") or {}).get("text") or "")
        user = str((body.get("user") or {}).get("id") or "")
        channel = str((body.get("channel") or {}).get("id") or "")
        channel = channel or str((body.get("container") or {}).get("channel_id") or "")
        original = body.get("message") or {}
        if not command or not user:
            return
        direct = channel.startswith("D") or not channel
        thread_ts = str(original.get("thread_ts") or "") or None
        name = await self._display_name(
            user, fallback=str((body.get("user") or {}).get("name") or "")
        )
        message = InboundMessage(
            network=self.network,
            sender=user,
            text=plain_text(command),
            channel=None if direct else channel,
            sender_name=name,
            message_id=str(body.get("trigger_id") or action.get("action_ts") or "") or None,
            thread=thread_ts,
            received_at=self._clock.now(),
        )
        conversation = _Conversation(
            channel=channel or user,
            user=user,
            direct=direct,
            thread_ts=thread_ts,
            response_url=str(body.get("response_url") or "") or None,
        )
        pressed = None
        if channel and original.get("ts"):
            pressed = {"channel": channel, "ts": str(original["ts"]), "text": str(original.get("text") or ""),
                       "blocks": list(original.get("blocks") or []), "line": done_line(label, name)}  # fmt: skip
        await self._run(message, conversation, pressed=pressed)

    async def _mark_pressed(self, pressed: dict[str, Any]) -> None:
        """Show on the message who pressed which button (the pressed one goes away)."""
        line = str(pressed["line"])
        blocks = pressed_blocks(list(pressed.get("blocks") or []), line)
        try:
            await self._client.chat_update(
                channel=str(pressed["channel"]),
                ts=str(pressed["ts"]),
                text=f"{pressed.get('text') or ''}\n{line}".strip(),
                blocks=blocks,
            )
        except _SEND_ERRORS as exc:
            log.warning(
                "slack: could not mark a pressed button in %s: %s", pressed["channel"], _slack_error(exc)
            )

    async def _run(self, message: InboundMessage, conversation: _Conversation, *,
                   body: dict[str, Any] | None = None, pressed: dict[str, Any] | None = None) -> None:  # fmt: skip
        """Store the command in the bot's durable inbox before Slack is acknowledged (it is run
        and answered from there, see deliver); a host without one runs it in a task after the
        acknowledgement, as before."""
        host = self._host
        if host is None:
            return
        accept = getattr(host, "accept", None)
        reply_to = {**dataclasses.asdict(conversation), "target": conversation.channel, "pressed": pressed}
        if accept is not None and await accept(message, reply_to):
            return
        self._spawn(self._run_in_memory(message, conversation, pressed))

    async def _run_in_memory(self, message: InboundMessage, conversation: _Conversation,
                             pressed: dict[str, Any] | None) -> None:  # fmt: skip
        host = self._host
        if host is None:
            return
        replies = await host.handle(message)
        if pressed is not None and not any(r.kind == "error" for r in replies):
            await self._mark_pressed(pressed)
        for reply in replies:
            try:
                await self._answer(conversation, reply)
            except _SEND_ERRORS as exc:
                log.warning(
                    "slack: could not answer %s in %s: %s",
                    conversation.user, conversation.channel, _slack_error(exc),
                )  # fmt: skip

    async def _display_name(self, user: str, fallback: str = "") -> str:
        """The person's Slack name for "Acknowledged by ..." and sender_name (cached)."""
        if user in self._names:
            return self._names[user]
        name = ""
        try:
            info = await self._client.users_info(user=user)
            person = info.get("user") or {}
            profile = person.get("profile") or {}
            name = str(
                profile.get("display_name") or profile.get("real_name")
                or person.get("real_name") or person.get("name") or ""
            )  # fmt: skip
        except _SEND_ERRORS as exc:
            log.info("slack: users.info for %s failed: %s", user, _slack_error(exc))
        name = name or fallback or user
        if len(self._names) > 10_000:
            self._names.clear()
        self._names[user] = name
        return name

    # ----------------------------------------------------------------- outbound

    async def _answer(self, conversation: _Conversation, reply: Reply) -> None:
        text = escape_mrkdwn(reply.text)
        blocks = message_blocks(text, reply.buttons)
        if (reply.private or reply.ephemeral) and not conversation.direct:
            await self._whisper(conversation, text, blocks)
            return
        if reply.kind == "ticket-opened" and reply.ticket_id is not None:
            posted = await self._post_or_respond(conversation, text, blocks, thread_ts=None)
            if posted is not None:
                await self._remember_thread(reply.ticket_id, *posted)
            return
        thread_ts = conversation.thread_ts
        if reply.ticket_id is not None:
            known = await self._ticket_thread(reply.ticket_id)
            # Only a thread in the same conversation: a ticket's thread lives in the
            # customer's channel, and an agent's answer elsewhere must not land there.
            if known is not None and known[0] == conversation.channel:
                thread_ts = known[1]
        await self._post_or_respond(conversation, text, blocks, thread_ts=thread_ts)

    async def _whisper(
        self, conversation: _Conversation, text: str, blocks: list[dict[str, Any]]
    ) -> None:
        """Show a reply to the caller alone (private or read-only answers)."""
        if conversation.response_url:
            webhook = AsyncWebhookClient(
                conversation.response_url, timeout=self._settings.timeout, session=self._http
            )
            response = await webhook.send(
                text=text, blocks=blocks, response_type="ephemeral", replace_original=False
            )
            if response.status_code < 300:
                return
            log.info(
                "slack: response_url answered HTTP %s; trying postEphemeral", response.status_code
            )
        await self._client.chat_postEphemeral(
            channel=conversation.channel,
            user=conversation.user,
            text=text,
            blocks=blocks,
            thread_ts=conversation.thread_ts,
        )

    async def _post_or_respond(
        self,
        conversation: _Conversation,
        text: str,
        blocks: list[dict[str, Any]],
        *,
        thread_ts: str | None,
    ) -> tuple[str, str] | None:
        """Post in the conversation; (channel, ts) of the message when Slack says where it is.
        A slash command in a channel the bot is not in is answered through its response_url."""
        try:
            response = await self._client.chat_postMessage(
                channel=conversation.channel,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            )
        except SlackApiError as exc:
            error = _slack_error(exc)
            if conversation.response_url and error in ("not_in_channel", "channel_not_found"):
                webhook = AsyncWebhookClient(
                    conversation.response_url, timeout=self._settings.timeout, session=self._http
                )
                await webhook.send(text=text, blocks=blocks, response_type="in_channel")
                return None
            raise
        return str(response.get("channel") or conversation.channel), str(response.get("ts") or "")

    async def _remember_thread(self, ticket_id: int, channel: str, ts: str) -> None:
        if self._host is None or not ts:
            return
        key = f"{channel}|{ts}"
        # Both directions in one statement, in the transaction that records the delivery.
        await remember(
            self._host.state, [(TICKET_THREAD_NS, str(ticket_id), key), (THREAD_TICKET_NS, key, str(ticket_id))]
        )

    async def _ticket_thread(self, ticket_id: int) -> tuple[str, str] | None:
        if self._host is None:
            return None
        value = await recall(self._host.state, TICKET_THREAD_NS, str(ticket_id))
        if not value or "|" not in value:
            return None
        channel, _, ts = value.partition("|")
        return channel, ts

    async def _deliver_answer(self, message: Outbound) -> None:
        """An answer to a command from the durable inbox, to where the command came from."""
        reply_to, reply, meta = answer_of(message)
        conversation = _Conversation(
            channel=str(reply_to.get("channel") or ""), user=str(reply_to.get("user") or ""),
            direct=bool(reply_to.get("direct")), thread_ts=reply_to.get("thread_ts"),
            response_url=reply_to.get("response_url"),
        )  # fmt: skip
        pressed = reply_to.get("pressed")
        if pressed and meta.get("index") == 0 and not meta.get("refused"):
            await self._mark_pressed(pressed)
        try:
            await self._answer(conversation, reply)
        except _SEND_ERRORS as exc:
            error = _slack_error(exc)
            raise DeliveryError(f"slack: could not answer {conversation.user}: {error}") from exc

    async def deliver(self, message: Outbound) -> None:
        if self._host is None:
            raise DeliveryError("slack: the adapter is not running")
        if message.kind == ANSWER:
            await self._deliver_answer(message)
            return
        target = message.destination.target.strip()
        if not target:
            raise DeliveryError("slack: no channel or person to deliver to")
        text = escape_mrkdwn(message.text)
        thread_ts = None
        if message.kind == "ticket-update" and message.ticket_id is not None:
            known = await self._ticket_thread(message.ticket_id)
            if known is not None and known[0] == target:
                thread_ts = known[1]
        card = message.extra.get("card") if message.kind == "card" else None
        if card is not None and message.extra.get("follow_up"):
            # Later lines of an assist card go into the card's thread.
            thread_ts = await self._host.state.get(CARD_THREAD_NS, f"{target}|{card}")
        try:
            response = await self._client.chat_postMessage(
                channel=target,  # a user id posts to that person's DM with the bot
                text=text,
                blocks=message_blocks(text, message.buttons),
                thread_ts=thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            )
        except _SEND_ERRORS as exc:
            error = _slack_error(exc)
            log.warning("slack: delivery to %s failed: %s", target, error)
            raise DeliveryError(f"slack: could not deliver to {target}: {error}") from exc
        if card is not None and thread_ts is None and response.get("ts"):
            await self._host.state.put(CARD_THREAD_NS, f"{target}|{card}", str(response["ts"]))
