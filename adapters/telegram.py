"""Telegram adapter: python-telegram-bot v22 inside the bot's own event loop.

Polling (long-polled getUpdates) or webhook (our own aiohttp route, secret token checked).
Commands in private chats and groups become InboundMessage lines; inline buttons run their
command as the person who pressed them. Telegram only lets a bot write privately to people
who sent it /start, so the private chat of each person is remembered in host.state.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import json
import logging
import uuid
import warnings
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from telegram import (
    BotCommand,
    CallbackQuery,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyParameters,
    Update,
    User,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application, ContextTypes, TypeHandler

from adapters.http_bounds import read_bounded
from adapters.telegram_wire import (
    MENU_DESCRIPTION_LIMIT,
    as_html,
    callback_data_for,
    chat_id_for,
    is_person_handle,
    parse_command,
    read_callback_data,
    shorten,
    split_message,
    strip_mention,
)
from bot.desk.clock import Clock, SystemClock
from bot.desk.domain import Button, InboundMessage, Outbound, Reply
from bot.desk.errors import ConfigError
from bot.ports import AdapterHost, AdapterState, DeliveryError, HttpRoutes
from bot.ports.answers import ANSWER, answer_of
from bot.ports.bookkeeping import recall, remember

log = logging.getLogger(__name__)

NETWORK = "telegram"
# host.state namespaces (the core reads PRIVATE_CHATS to say who cannot be paged here)
PRIVATE_CHATS = "telegram.private_chat"
UNDELIVERABLE = "telegram.undeliverable"
STORED_BUTTONS = "telegram.button"
TICKET_MESSAGES = "telegram.ticket_message"
CARD_MESSAGES = "telegram.card_message"

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ("message", "callback_query")
# What a stranger's webhook request may cost (issue 15): an update is a few KB (a message is at
# most 4,096 characters plus entities); the secret token is checked before the body is read.
MAX_UPDATE_BYTES = 256 * 1024
MAX_PENDING_WEBHOOKS = 32
POLL_BATCH = 100  # updates per getUpdates: the offset (Telegram's acknowledgement) moves per batch
FLOOD_ATTEMPTS = 4  # first try plus three waits
FLOOD_WAIT_LIMIT = 60.0  # seconds; a longer ban fails the send instead of blocking the desk

T = TypeVar("T")
FloodWait = Callable[[float], Awaitable[None]]


class TelegramSettings(BaseModel):
    """`[adapters.telegram]` in bot.toml."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(
        default=False, description="Run the Telegram adapter under `supportbot run`."
    )
    token: SecretStr = Field(
        default=SecretStr(""),
        description='Bot token from @BotFather, e.g. "${TELEGRAM_TOKEN}". Never logged.',
    )
    mode: Literal["polling", "webhook"] = Field(
        default="polling",
        description='"polling" (long-polled getUpdates, no inbound port) or "webhook" '
        "(Telegram POSTs to webhook_url; needs secret_token and listen).",
    )
    webhook_url: str = Field(
        default="",
        description="webhook mode: the public https URL Telegram posts updates to "
        "(it must reach `listen` + `path`, usually through a reverse proxy).",
    )
    secret_token: SecretStr = Field(
        default=SecretStr(""),
        description="webhook mode: 1-256 characters A-Z a-z 0-9 _ -; Telegram sends it in "
        "X-Telegram-Bot-Api-Secret-Token and requests without it are refused (403).",
    )
    listen: str = Field(
        default="127.0.0.1:8443",
        description='webhook mode: "host:port" of the bot\'s own HTTP endpoint; "" serves the '
        "route from the ops HTTP server instead.",
    )
    path: str = Field(
        default="/telegram/webhook", description="webhook mode: the HTTP path of the route."
    )
    base_url: str = Field(
        default="https://api.telegram.org/bot",
        description="Bot API address (the token is appended); change for a self-hosted Bot API "
        "server.",
    )
    base_file_url: str = Field(
        default="https://api.telegram.org/file/bot",
        description="Bot API file download address (the token is appended).",
    )
    bot_username: str = Field(
        default="",
        description='The bot\'s @username without "@", for /cmd@BotName in groups; empty: '
        "ask Telegram (getMe) at start.",
    )
    poll_timeout: int = Field(
        default=30,
        ge=1,
        le=50,
        description="polling mode: seconds one long-polled getUpdates waits for news.",
    )

    @field_validator("bot_username")
    @classmethod
    def _without_at(cls, value: str) -> str:
        return value.strip().lstrip("@")

    @field_validator("listen")
    @classmethod
    def _host_and_port(cls, value: str) -> str:
        if value == "":
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not host or not port.isdigit() or int(port) > 65535:
            raise ValueError(f'expected "host:port", got {value!r}')
        return value

    @field_validator("path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f'expected a path starting with "/", got {value!r}')
        return value

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> TelegramSettings:
        if not self.enabled:
            return self
        if not self.token.get_secret_value().strip():
            raise ValueError("token: expected the bot token from @BotFather when enabled, found none")
        if self.mode == "webhook":
            if not self.webhook_url.startswith(("https://", "http://")):
                raise ValueError(
                    "webhook_url: expected the webhook's public https URL when mode = \"webhook\", found none"
                )
            secret = self.secret_token.get_secret_value()
            if not 1 <= len(secret) <= 256 or not all(c.isalnum() or c in "_-" for c in secret):
                raise ValueError(
                    "secret_token: expected 1-256 characters A-Z a-z 0-9 _ - when mode = \"webhook\","
                    " found none or others"
                )
        return self

    @property
    def listen_address(self) -> tuple[str, int] | None:
        if not self.listen:
            return None
        host, _, port = self.listen.rpartition(":")
        return host.strip("[]"), int(port)


class _TokenRedaction(logging.Filter):
    """httpx logs every request URL, and Bot API URLs carry the token: blank it out."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._token = token

    def filter(self, record: logging.LogRecord) -> bool:
        if self._token:
            message = record.getMessage()
            if self._token in message:
                record.msg = message.replace(self._token, "<token>")
                record.args = ()
        return True


def _library_loggers() -> list[logging.Logger]:
    """PTB and httpx log through many module-level loggers (created at import); a filter on a
    parent does not see its children's records, so each one gets the redaction."""
    names = [
        name
        for name in logging.root.manager.loggerDict
        if name.split(".")[0] in ("telegram", "httpx", "httpcore")
    ]
    return [logging.getLogger(name) for name in names]


class _NotTaken(Exception):
    """The bot is stopping and took nothing: the update must not be confirmed to Telegram."""


class TelegramAdapter:
    """The desk on Telegram (see module docstring)."""

    network = NETWORK

    def __init__(
        self,
        settings: TelegramSettings,
        *,
        clock: Clock | None = None,
        flood_wait: FloodWait | None = None,
    ) -> None:
        """`flood_wait` (test hook) waits out Telegram's flood control; default asyncio.sleep."""
        self._settings = settings
        self._clock = clock or SystemClock()
        self._flood_wait: FloodWait = flood_wait or asyncio.sleep
        self._host: AdapterHost | None = None
        self._application: Application[Any, Any, Any, Any, Any, Any] | None = None
        self._bot_username = settings.bot_username
        self._runner: web.AppRunner | None = None
        self._listening: tuple[str, int] | None = None
        self._route_elsewhere = False
        self._menu: list[BotCommand] = []  # from the command registry, at start()
        self._command_names: frozenset[str] = frozenset()  # the same, for the group filter
        self._redaction = _TokenRedaction(settings.token.get_secret_value())
        self._reading = 0  # webhook bodies being read right now
        self._poll_task: asyncio.Task[None] | None = None
        self._offset: int | None = None  # the next update id to ask for: all before it are stored
        self._stop_polling = False
        self._waiting_for_updates = False

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        app = self._application
        if app is None or not app.running:
            return False
        if self._settings.mode == "polling":
            return self._poll_task is not None and not self._poll_task.done()
        return True

    @property
    def bot_username(self) -> str:
        return self._bot_username

    @property
    def webhook_address(self) -> tuple[str, int] | None:
        """Where our own webhook endpoint listens once started (port 0 resolved)."""
        return self._listening

    def mount(self, routes: HttpRoutes) -> bool:
        """webhook mode: serve the webhook from another aiohttp application's `routes` (the ops
        HTTP server) instead of our own listener; call before start() and before that
        application is frozen. Polling mode: False."""
        if self._settings.mode != "webhook":
            return False
        routes.add_post(self._settings.path, self.receive_webhook)
        self._route_elsewhere = True
        return True

    async def settled(self) -> None:
        """Until every update received so far has been handled and answered (PTB marks each
        one done on its update queue once its handler has returned)."""
        app = self._application
        if app is not None and app.running:
            await app.update_queue.join()
        inbox_settled = getattr(self._host, "inbox_settled", None)
        if inbox_settled is not None:  # updates taken into the durable inbox, run by the host
            await inbox_settled()

    async def start(self, host: AdapterHost) -> None:
        """Connect (getMe), register the command menu, then poll or set the webhook."""
        if self._application is not None:
            return
        self._host = host
        self._menu = [
            BotCommand(c.name, shorten(c.summary, MENU_DESCRIPTION_LIMIT)) for c in host.command_menu()
        ]
        self._command_names = frozenset(c.command for c in self._menu)
        for logger in _library_loggers():
            logger.addFilter(self._redaction)
        try:
            await self._connect()
        except BaseException:
            await self.stop()
            raise

    async def _connect(self) -> None:
        settings = self._settings
        builder = (
            Application.builder()
            .token(settings.token.get_secret_value())
            .base_url(settings.base_url)
            .base_file_url(settings.base_file_url)
        )
        builder = builder.updater(None)  # polling is our own loop: the offset moves only past stored updates
        app = builder.build()
        app.add_handler(TypeHandler(Update, self._on_update))
        app.add_error_handler(self._on_handler_error)
        try:
            await app.initialize()
        except InvalidToken:
            await self._discard(app)
            raise ConfigError("bot.toml: adapters.telegram.token: rejected by Telegram") from None
        except TelegramError as exc:
            await self._discard(app)
            raise ConnectionError(f"telegram: cannot reach the Bot API: {exc}") from exc
        self._application = app
        self._bot_username = settings.bot_username or (app.bot.username or "")
        try:
            await app.bot.set_my_commands(self._menu)
        except TelegramError as exc:
            log.warning("telegram: could not register the command menu: %s", exc)
        await app.start()
        if settings.mode == "polling":
            self._stop_polling = False
            self._poll_task = asyncio.get_running_loop().create_task(self._poll(app), name="telegram polling")
        else:
            await self._start_webhook(app)
        log.info("telegram: started as @%s (%s)", self._bot_username, settings.mode)

    async def _start_webhook(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        settings = self._settings
        address = settings.listen_address
        if not self._route_elsewhere and address is not None:
            web_app = web.Application()
            web_app.router.add_post(settings.path, self.receive_webhook)
            runner = web.AppRunner(web_app, handler_cancellation=True, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, address[0], address[1])
            await site.start()
            self._runner = runner
            self._listening = (address[0], int(runner.addresses[0][1]))
        await app.bot.set_webhook(
            url=settings.webhook_url,
            secret_token=settings.secret_token.get_secret_value(),
            allowed_updates=list(ALLOWED_UPDATES),
        )

    async def stop(self) -> None:
        """Stop polling (confirming what was handled), finish queued updates, close."""
        app, self._application = self._application, None
        poll, self._poll_task = self._poll_task, None
        if poll is not None:
            # An update being taken in is finished (its offset then moves); a long poll is cut.
            self._stop_polling = True
            if self._waiting_for_updates:
                poll.cancel()
            await asyncio.wait({poll}, timeout=5.0)
            poll.cancel()
            await asyncio.gather(poll, return_exceptions=True)
            if app is not None and self._offset is not None:  # confirm what was stored, as Telegram wants
                try:
                    await app.bot.get_updates(offset=self._offset, timeout=0, allowed_updates=list(ALLOWED_UPDATES))
                except TelegramError as exc:
                    log.info("telegram: could not confirm the last updates (%s); they come again", exc)
        try:
            if app is not None:
                if app.running:
                    await app.stop()
                await app.shutdown()
        finally:
            if self._runner is not None:
                await self._runner.cleanup()
                self._runner = None
                self._listening = None
            for logger in _library_loggers():
                logger.removeFilter(self._redaction)

    @staticmethod
    async def _discard(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        try:
            await app.shutdown()
        except Exception:  # already failing; the first error is the one to report
            log.debug("telegram: shutdown after a failed start failed too", exc_info=True)

    # -- inbound ---------------------------------------------------------------------------

    async def receive_webhook(self, request: web.Request) -> web.Response:
        """POST from Telegram: refuse without the right secret (403), queue the update."""
        expected = self._settings.secret_token.get_secret_value().encode()
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not expected or not hmac.compare_digest(given, expected):
            return web.Response(status=403, text="forbidden")
        app = self._application
        if app is None or not app.running:
            return web.Response(status=503, text="not running")
        if self._reading >= MAX_PENDING_WEBHOOKS:
            return web.Response(status=503, text="busy", headers={"Retry-After": "1"})
        self._reading += 1
        try:
            body = await read_bounded(request, MAX_UPDATE_BYTES)
        finally:
            self._reading -= 1
        if body is None:
            return web.Response(status=413, text="update too large")
        try:
            data = json.loads(body)
            update = Update.de_json(data, app.bot) if isinstance(data, dict) else None
        except Exception:  # noqa: BLE001 - a malformed body is the sender's problem
            update = None
        if update is None:
            return web.Response(status=400, text="not an update")
        try:
            await self._intake(update)  # stored in the durable inbox before Telegram hears 200
        except _NotTaken:
            return web.Response(status=503, text="stopping", headers={"Retry-After": "5"})
        except Exception as exc:  # the database failed: Telegram delivers it again later
            log.warning("telegram: update %s not stored (%s); Telegram will resend it", update.update_id, exc)
            return web.Response(status=500, text="try again")
        return web.Response(status=200)

    async def _poll(self, app: Application[Any, Any, Any, Any, Any, Any]) -> None:
        """Long polling with the offset moved only past updates that were stored (or handled):
        Telegram forgets an update once a getUpdates call passes its id, so an update the
        inbox did not take is asked for again."""
        failures = 0
        while not self._stop_polling:
            try:
                self._waiting_for_updates = True
                try:
                    updates = await app.bot.get_updates(
                        offset=self._offset, limit=POLL_BATCH, timeout=self._settings.poll_timeout,
                        allowed_updates=list(ALLOWED_UPDATES),
                    )
                finally:
                    self._waiting_for_updates = False
                failures = 0
            except asyncio.CancelledError:
                raise
            except TelegramError as exc:
                self._on_polling_error(exc)
                failures += 1
                await asyncio.sleep(min(30.0, 0.5 * 2**failures))
                continue
            if self._stop_polling or not updates:
                continue
            # The batch is taken in together (the inbox stores it in one go); the offset then
            # moves past the updates stored in a row from the first.
            outcomes = await asyncio.gather(*(self._intake(u) for u in updates), return_exceptions=True)
            for update, outcome in zip(updates, outcomes, strict=True):
                if isinstance(outcome, asyncio.CancelledError):
                    raise outcome
                if isinstance(outcome, _NotTaken):
                    await asyncio.sleep(1.0)  # stopping: left to Telegram for the next instance
                    break
                if isinstance(outcome, BaseException):
                    log.warning("telegram: update %s not stored (%s); asking for it again", update.update_id, outcome)
                    await asyncio.sleep(1.0)
                    break
                self._offset = update.update_id + 1

    async def _on_update(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """PTB's handler entry (updates put on the application's queue)."""
        try:
            await self._intake(update)
        except Exception:  # one bad update must not stop the others
            ref = uuid.uuid4().hex[:8]
            log.exception("telegram: update %s failed (ref %s)", update.update_id, ref)

    async def _intake(self, update: Update) -> None:
        """One update: a command or chat line goes to the durable inbox (raising when it cannot
        be stored, so that it is not confirmed to Telegram); a host without an inbox handles
        it in memory, once per update id."""
        if self._host is None:
            raise _NotTaken()
        if update.callback_query is not None:
            await self._on_button(update.update_id, update.callback_query)
        elif update.message is not None:
            await self._on_message(update.update_id, update.message)

    async def _take(self, inbound: InboundMessage, reply_to: dict[str, Any],
                    notes: Callable[[AdapterState], Awaitable[None]] | None = None) -> bool:  # fmt: skip
        """True: in the durable inbox (run and answered from there), `notes` written with it.
        False: the host has no inbox (`notes` not run); handle in memory if this update id
        was not handled before."""
        host = self._require_host()
        accept = getattr(host, "accept", None)
        if accept is not None:
            if await accept(inbound, reply_to, notes) if notes is not None else await accept(inbound, reply_to):
                return True
            raise _NotTaken()  # the bot is stopping: not confirmed, Telegram keeps it
        return False


    async def _on_message(self, update_id: int, message: Message) -> None:
        host = self._require_host()
        person, chat = message.from_user, message.chat
        if person is None or person.is_bot:
            return  # channel posts, other bots
        in_private = chat.type == ChatType.PRIVATE
        text = message.text or message.caption or ""
        line: str | None
        addressed = in_private
        command = parse_command(text)
        if command is None:
            mentioned = strip_mention(text, self._bot_username)
            line, addressed = (mentioned, True) if mentioned is not None else (text.strip(), addressed)
        elif not command.is_for(self._bot_username):
            line = None  # /cmd@OtherBot
        elif command.name == "start":
            if in_private:
                await self._remember_private_chat(host.state, person.id, chat.id)
            await self._greet(person, chat, message, in_private)
            return
        elif not in_private and not command.bot and command.name not in self._command_names:
            line = None  # some other bot's /command in a shared group
        else:
            line, addressed = command.line, True
        if not line:
            if in_private:
                await self._remember_private_chat(host.state, person.id, chat.id)
            return
        inbound = InboundMessage(
            network=NETWORK,
            sender=str(person.id),
            text=line,
            channel=None if in_private else str(chat.id),
            sender_name=person.full_name,
            message_id=str(update_id),
            addressed=addressed,
            received_at=self._clock.now(),
        )
        reply_to = None if in_private else message.message_id
        where = {"target": str(chat.id), "person": person.to_dict(), "chat": chat.to_dict(), "reply_to": reply_to}
        hint = False

        async def notes(state: AdapterState) -> None:
            """Who spoke where: written with the command itself (no transaction of their own)."""
            nonlocal hint
            if in_private:
                await self._remember_private_chat(state, person.id, chat.id)
            else:
                hint = await self._first_word_since_missed(state, person.id)

        if not await self._take(inbound, where, notes):
            if in_private:
                await self._remember_private_chat(host.state, person.id, chat.id)
            replies = await host.handle(inbound)
            await self._show_replies(replies, person, chat, reply_to)
            if not in_private:
                hint = await self._first_word_since_missed(host.state, person.id)
        if hint:  # a page could not reach them: told once, in the group, how to fix it
            await self._send(
                chat.id,
                f"{person.first_name}: a page for you could not be delivered on Telegram. "
                f"{self._start_privately_hint()}",
            )

    async def _greet(self, person: User, chat: Chat, message: Message, in_private: bool) -> None:
        if in_private:
            text = (
                f"Hello {person.first_name}! I am the support desk. I can now reach you here "
                "with pages and private answers. Send /help to see what you can do."
            )
            await self._send(chat.id, text)
        else:
            text = f"{person.first_name}: {self._start_privately_hint()}"
            await self._send(chat.id, text, reply_to=message.message_id)

    async def _on_button(self, update_id: int, query: CallbackQuery) -> None:
        """Run the button's command as the presser; always answer the callback query."""
        host = self._require_host()
        answered = False
        try:
            command, key = read_callback_data(query.data or "")
            if key is not None:
                command = await host.state.get(STORED_BUTTONS, key)
            if not command:
                await query.answer("This button no longer works.", show_alert=True)
                answered = True
                return
            presser = query.from_user
            message = query.message if isinstance(query.message, Message) else None
            chat = message.chat if message is not None else None
            in_private = chat is None or chat.type == ChatType.PRIVATE
            inbound = InboundMessage(
                network=NETWORK,
                sender=str(presser.id),
                text=command,
                channel=None if in_private or chat is None else str(chat.id),
                sender_name=presser.full_name,
                message_id=str(update_id),
                addressed=True,
                received_at=self._clock.now(),
            )
            where = {
                "target": str(chat.id) if chat is not None else str(presser.id), "person": presser.to_dict(),
                "chat": chat.to_dict() if chat is not None else None, "query_id": query.id,
                "pressed": message.to_dict() if message is not None else None, "data": query.data or "",
            }  # fmt: skip
            if await self._take(inbound, where):
                answered = True  # the answer (or the refusal's alert) comes with the command's replies
                return
            replies = await host.handle(inbound)
            refusal = next((r for r in replies if r.kind == "error"), None)
            if refusal is not None:
                await query.answer(shorten(refusal.text), show_alert=True)
                answered = True
                return
            await query.answer()
            answered = True
            if message is not None:
                await self._mark_pressed(message, query.data or "", presser)
            target_chat = chat
            if target_chat is None:
                return
            await self._show_replies(replies, presser, target_chat, None)
        finally:
            if not answered:
                try:
                    await query.answer("Something went wrong; please try again.")
                except TelegramError:
                    log.warning("telegram: could not answer a button press")

    async def _mark_pressed(self, message: Message, data: str, presser: User) -> None:
        """Edit the message so everyone sees who pressed what; the pressed button goes away."""
        label = "the button"
        rows: list[list[InlineKeyboardButton]] = []
        if message.reply_markup is not None:
            for row in message.reply_markup.inline_keyboard:
                kept = []
                for button in row:
                    if button.callback_data == data:
                        label = button.text
                    else:
                        kept.append(button)
                if kept:
                    rows.append(kept)
        text = f"{message.text or ''}\n\n✔ {presser.full_name} pressed “{label}”"
        bot = self._require_app().bot
        try:
            await self._with_flood_control(
                lambda: bot.edit_message_text(
                    chat_id=message.chat.id,
                    message_id=message.message_id,
                    text=as_html(text),
                    parse_mode=ParseMode.HTML,
                    reply_markup=InlineKeyboardMarkup(rows) if rows else None,
                )
            )
        except TelegramError as exc:
            log.warning("telegram: could not mark a pressed button: %s", exc)

    async def _show_replies(
        self, replies: Sequence[Reply], person: User, chat: Chat, reply_to: int | None
    ) -> None:
        for reply in replies:
            try:
                await self._show_reply(reply, person, chat, reply_to)
            except TelegramError as exc:
                log.warning("telegram: could not answer %s in chat %s: %s", person.id, chat.id, exc)

    async def _show_reply(
        self, reply: Reply, person: User, chat: Chat, reply_to: int | None
    ) -> None:
        """Render one Reply to the person who spoke; private replies never reach a group."""
        host = self._require_host()
        if reply.private and chat.type != ChatType.PRIVATE:
            private_chat = await host.state.get(PRIVATE_CHATS, str(person.id))
            if private_chat is not None:
                try:
                    await self._send(chat_id_for(private_chat), reply.text, reply.buttons)
                except Forbidden:
                    pass  # they blocked the bot: fall through to the hint
                else:
                    await self._send(
                        chat.id, f"{person.first_name}: sent privately.", reply_to=reply_to
                    )
                    return
            note = f"{person.first_name}: that answer is private. {self._start_privately_hint()}"
            await self._send(chat.id, note, reply_to=reply_to)
            return
        sent = await self._send(chat.id, reply.text, reply.buttons, reply_to=reply_to)
        if sent is not None and reply.kind == "ticket-opened" and reply.ticket_id is not None:
            # With the delivery's outcome (one transaction) when delivered from the outbox.
            await remember(host.state, [(TICKET_MESSAGES, str(reply.ticket_id), f"{sent.chat.id}:{sent.message_id}")])

    @staticmethod
    async def _remember_private_chat(state: AdapterState, person_id: int, chat_id: int) -> None:
        if await state.get(PRIVATE_CHATS, str(person_id)) != str(chat_id):
            await state.put(PRIVATE_CHATS, str(person_id), str(chat_id))
        if await state.get(UNDELIVERABLE, str(person_id)) in ("missed", "told"):
            await state.put(UNDELIVERABLE, str(person_id), "started")

    @staticmethod
    async def _first_word_since_missed(state: AdapterState, person_id: int) -> bool:
        """Someone a page could not reach spoke up: True the first time (they are told how to
        fix it, once)."""
        if await state.get(UNDELIVERABLE, str(person_id)) != "missed":
            return False
        await state.put(UNDELIVERABLE, str(person_id), "told")
        return True

    def _start_privately_hint(self) -> str:
        where = f" (t.me/{self._bot_username})" if self._bot_username else ""
        return f"Send me /start in a private chat{where} so I can write to you there."

    def _on_polling_error(self, exc: TelegramError) -> None:
        log.warning("telegram: polling failed, retrying: %s", exc)

    async def _on_handler_error(self, _update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        log.error("telegram: unhandled error: %r", context.error)

    # -- outbound --------------------------------------------------------------------------

    async def _deliver_answer(self, message: Outbound) -> None:
        """A reply to a command from the durable inbox, shown as it would have been at once:
        a refused button press as the button's alert, anything else in the chat it came from."""
        reply_to, reply, meta = answer_of(message)
        bot = self._require_app().bot
        person = User.de_json(reply_to.get("person"), bot)
        chat = Chat.de_json(reply_to["chat"], bot) if reply_to.get("chat") else None
        query_id = reply_to.get("query_id")
        if person is None:
            raise DeliveryError("telegram: an answer without the person it is for")
        if query_id and meta.get("index") == 0:
            refused = bool(meta.get("refused"))
            try:
                await bot.answer_callback_query(
                    str(query_id), text=shorten(reply.text) if refused else None, show_alert=refused
                )
                if refused:
                    return
            except TelegramError as exc:  # too old by now: the refusal goes into the chat instead
                log.info("telegram: could not answer a button press: %s", exc)
            pressed = reply_to.get("pressed")
            if pressed and not refused:
                pressed_message = Message.de_json(pressed, bot)
                if pressed_message is not None:
                    await self._mark_pressed(pressed_message, str(reply_to.get("data") or ""), person)
        elif query_id and meta.get("refused"):
            return  # one alert per press
        if chat is None:
            return
        try:
            await self._show_reply(reply, person, chat, reply_to.get("reply_to"))
        except TelegramError as exc:
            raise DeliveryError(f"telegram: could not answer {person.id} in chat {chat.id}: {exc}") from exc

    async def deliver(self, message: Outbound) -> None:
        """Send a triage post, page or warning to a chat or (by user id) a person's private chat."""
        host = self._host
        if self._application is None or host is None:
            raise DeliveryError("telegram: the adapter is not running")
        if message.kind == ANSWER:
            await self._deliver_answer(message)
            return
        target = message.destination.target.strip()
        if not target:
            raise DeliveryError("telegram: no destination given")
        person = is_person_handle(target)
        if person:
            private_chat = await host.state.get(PRIVATE_CHATS, target)
            if private_chat is None:
                await self._mark_unreachable(target)
                raise DeliveryError(
                    f"telegram user {target} has not started a private chat with the bot "
                    "(send /start)"
                )
            chat_id = chat_id_for(private_chat)
        else:
            chat_id = chat_id_for(target)
        try:
            await self._deliver_to(chat_id, message)
        except Forbidden as exc:
            if person:
                await self._mark_unreachable(target)
            raise DeliveryError(f"telegram: {target} refuses messages from the bot: {exc}") from exc
        except ChatMigrated as exc:
            raise DeliveryError(
                f"telegram: group {target} became supergroup {exc.new_chat_id}; update bot.toml"
            ) from exc
        except RetryAfter as exc:
            raise DeliveryError(f"telegram: flood control still active for {target}") from exc
        except TelegramError as exc:
            raise DeliveryError(f"telegram: could not send to {target}: {exc}") from exc

    async def _deliver_to(self, chat_id: int | str, message: Outbound) -> None:
        state = self._require_host().state
        buttons = message.buttons
        card = message.extra.get("card") if message.kind == "card" else None
        text = message.text
        if card is not None:
            # A follow-up carries the whole card: the card message is edited to it (or, when
            # Telegram will not edit it any more, the whole card is sent again).
            text = message.extra.get("card_text") or message.text
            known = await state.get(CARD_MESSAGES, f"{chat_id}:{card}")
            if known is not None and await self._edit(chat_id, int(known), text, buttons):
                return
        reply_to = None
        if message.kind == "ticket-update" and message.ticket_id is not None:
            where = await recall(state, TICKET_MESSAGES, str(message.ticket_id))
            if where is not None:
                ticket_chat, _, ticket_message = where.rpartition(":")
                if ticket_chat == str(chat_id) and ticket_message.isdigit():
                    reply_to = int(ticket_message)
        sent = await self._send(chat_id, text, buttons, reply_to=reply_to)
        if sent is not None and card is not None:
            await state.put(CARD_MESSAGES, f"{chat_id}:{card}", str(sent.message_id))

    async def _edit(
        self, chat_id: int | str, message_id: int, text: str, buttons: Sequence[Button]
    ) -> bool:
        """Replace an assist card's text; False when Telegram will not (too old, deleted)."""
        bot = self._require_app().bot
        markup = await self._keyboard(buttons)
        try:
            await self._with_flood_control(
                lambda: bot.edit_message_text(
                    chat_id=chat_id,
                    message_id=message_id,
                    text=as_html(split_message(text)[0] if text.strip() else "…"),
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                )
            )
        except BadRequest as exc:
            return "not modified" in str(exc).lower()
        return True

    async def _send(
        self,
        chat_id: int | str,
        text: str,
        buttons: Sequence[Button] = (),
        *,
        reply_to: int | None = None,
    ) -> Message | None:
        """Send plain text as escaped HTML, split to Telegram's length; buttons go on the last
        piece. Returns the last message sent (None for blank text)."""
        bot = self._require_app().bot
        pieces = split_message(text)
        markup = await self._keyboard(buttons)
        sent: Message | None = None
        for index, piece in enumerate(pieces):
            last = index == len(pieces) - 1
            replying = (
                ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
                if reply_to is not None and index == 0
                else None
            )
            sent = await self._with_flood_control(
                functools.partial(
                    bot.send_message,
                    chat_id=chat_id,
                    text=as_html(piece),
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup if last else None,
                    reply_parameters=replying,
                )
            )
        return sent

    async def _keyboard(self, buttons: Sequence[Button]) -> InlineKeyboardMarkup | None:
        if not buttons:
            return None
        row = []
        for button in buttons:
            data, stored = callback_data_for(button.command)
            if stored is not None:
                await self._require_host().state.put(STORED_BUTTONS, data[2:], stored)
            row.append(InlineKeyboardButton(button.label, callback_data=data))
        return InlineKeyboardMarkup([row[i : i + 3] for i in range(0, len(row), 3)])

    async def _with_flood_control(self, send: Callable[[], Awaitable[T]]) -> T:
        """Telegram's flood control (HTTP 429, retry_after): wait as told, then send again."""
        for attempt in range(1, FLOOD_ATTEMPTS + 1):
            try:
                return await send()
            except RetryAfter as exc:
                wait = _retry_after_seconds(exc)
                if attempt == FLOOD_ATTEMPTS or wait > FLOOD_WAIT_LIMIT:
                    raise
                log.info("telegram: flood control, waiting %.0f s before sending again", wait)
                await self._flood_wait(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _mark_unreachable(self, person_id: str) -> None:
        state = self._require_host().state
        if await state.get(UNDELIVERABLE, person_id) != "told":
            await state.put(UNDELIVERABLE, person_id, "missed")

    def _require_host(self) -> AdapterHost:
        if self._host is None:
            raise RuntimeError("telegram adapter used before start()")
        return self._host

    def _require_app(self) -> Application[Any, Any, Any, Any, Any, Any]:
        if self._application is None:
            raise RuntimeError("telegram adapter used while stopped")
        return self._application


def _retry_after_seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22 deprecates the int form; accept both
        value: Any = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)
