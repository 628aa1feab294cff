"""The e-mail adapter: the support mailbox read over IMAP (IDLE where offered, else polling),
each new mail handed to the desk as one InboundMessage carrying MailFacts, and outbox messages
sent over SMTP as threaded mail. Desk rules (ticket or card, who may act) live in
commands/mail.py; this module only speaks the wire and keeps its bookkeeping in host.state."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from email import policy
from email.message import EmailMessage
from typing import Any, TypeVar

import aiosmtplib

from adapters.email import reading
from adapters.email.mailbox import IDLE_SLICE, Mailbox
from adapters.email.settings import EmailSettings
from adapters.email.writing import compose, our_ticket, token
from bot.desk.clock import Clock, SystemClock
from bot.desk.domain import Destination, InboundMessage, Outbound, Reply
from bot.ports import AdapterHost, DeliveryError, HttpRoutes, PermanentDeliveryError

log = logging.getLogger(__name__)

NETWORK = "email"
UID_STATE = "email.uid"  # "user@host/folder" -> "UIDVALIDITY:UID" of the last mail handled
MSGID_STATE = "email.msgid"  # an inbound Message-ID -> its ticket
THREAD_STATE = "email.thread"  # ticket -> {"subject": ..., "refs": [Message-IDs, oldest first]}
AUTO_STATE = "email.auto"  # address -> times automatic answers went there (the backstop)
RECONNECT_MAX = 60.0
# The desk's answers that mean "not handled" (a crash, or the instance stopping), not a refusal.
NOT_HANDLED = ("Something went wrong", "supportbot is restarting")
MAX_TRIES = 3  # a mail the desk fails on this often is set aside (logged)


class DeskFailed(Exception):
    """The desk could not handle a mail now; the batch stays unhandled in the mailbox."""

T = TypeVar("T")


class EmailAdapter:
    network = NETWORK

    def __init__(self, settings: EmailSettings, *, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self._host: AdapterHost | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="imap")
        self._stopping = False
        self._stop = asyncio.Event()
        self._started = False
        self.reading = False  # logged in and watching the folder
        self.handled = 0  # mails read and handed on (or set aside) by this process
        self._progress = asyncio.Condition()
        # Write-through caches of THREAD_STATE and AUTO_STATE: only the leader runs this adapter,
        # so what it wrote is what the database holds; a new leader starts empty and reads.
        self._cache: dict[tuple[str, str], str | None] = {}
        self._smtp: aiosmtplib.SMTP | None = None
        self._failures: dict[str, int] = {}
        self._between_batches = asyncio.Event()
        self._between_batches.set()
        self._smtp_lock = asyncio.Lock()
        self._tls = ssl.create_default_context(cafile=settings.tls_ca_file or None)
        self._mailbox = Mailbox(settings, self._tls)

    @property
    def connected(self) -> bool:
        return self._started

    def mount(self, routes: HttpRoutes) -> bool:
        """E-mail takes no webhooks."""
        return False

    async def settled(self) -> None:
        """Until the batch of mail being handled now (if any) is done and marked in the mailbox."""
        await self._between_batches.wait()

    async def start(self, host: AdapterHost) -> None:
        self._host = host
        if self.settings.trust == "none":
            log.warning(
                'e-mail: trust = "none": any From address is believed; a forged sender can act on tickets. '
                'Use trust = "authentication-results" with your mail server\'s authserv_id.'
            )
        self._started = True
        self._task = asyncio.get_running_loop().create_task(self._read_forever(), name="email-imap")

    async def stop(self) -> None:
        self._stopping = True
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(self._pool, self._mailbox.close), 5)
        except Exception:
            pass
        self._pool.shutdown(wait=False)
        await self._close_smtp()
        self._started = False
        self.reading = False

    # -- IMAP -----------------------------------------------------------------------------------

    async def _imap(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _read_forever(self) -> None:
        delay = 1.0
        while not self._stopping:
            try:
                await self._session()
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.reading = False
                log.warning("e-mail: IMAP %s:%s: %s; reconnecting in %.0fs", self.settings.imap_host,
                            self.settings.imap_port, exc, delay)
                await self._imap(self._mailbox.close)
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(RECONNECT_MAX, delay * 2)

    async def _session(self) -> None:
        assert self._host is not None
        state = self._host.state
        s = self.settings
        selected = await self._imap(self._mailbox.open)
        key = f"{s.imap_username}@{s.imap_host}:{s.imap_port}/{s.folder}"
        saved = await state.get(UID_STATE, key)
        last = 0
        if saved:
            validity, _, uid = saved.partition(":")
            if validity == str(selected.uidvalidity):
                last = int(uid)
            else:  # the folder was re-created: UIDs start again; the keyword still marks handled mail
                log.warning("e-mail: UIDVALIDITY of %s changed (%s -> %s); reading it again", key, validity,
                            selected.uidvalidity)
        self.reading = True
        log.info("e-mail: reading %s (%s)", key, "IDLE" if selected.idle else f"polling every {s.poll_seconds:g}s")
        while not self._stopping:
            uids = await self._imap(self._mailbox.waiting, last)
            for batch in batches(uids):
                await self._take(batch)
                last = batch[-1]
                await state.put(UID_STATE, key, f"{selected.uidvalidity}:{last}")
            if uids:
                continue
            if selected.idle:
                await self._imap(self._mailbox.wait, IDLE_SLICE)
            else:
                try:
                    await asyncio.wait_for(self._stop.wait(), s.poll_seconds)
                except TimeoutError:
                    pass
                await self._imap(self._mailbox.poll)

    async def _take(self, uids: list[int]) -> None:
        """Read a batch of mail, hand each on in order, then mark the batch handled in the
        mailbox and remember the last UID. A crash in between reads the batch again later, and
        the desk knows each mail by its Message-ID: none is handled twice, none skipped."""
        self._between_batches.clear()
        try:
            await self._take_batch(uids)
        finally:
            self._between_batches.set()

    async def _take_batch(self, uids: list[int]) -> None:
        limit = int(self.settings.max_message_mb * 1024 * 1024)
        sizes = await self._imap(self._mailbox.sizes, uids)
        for group in by_bytes(uids, sizes, limit):
            whole = [u for u in group if sizes.get(u, 0) <= limit]
            raws = await self._imap(self._mailbox.fetch, whole)
            if len(whole) < len(group):
                heads = await self._imap(self._mailbox.fetch, [u for u in group if u not in whole], False)
                raws.update({u: header_only(h, sizes[u], self.settings.max_message_mb) for u, h in heads.items()})
            for uid in group:
                raw = raws.pop(uid, None)
                if raw is None:
                    continue
                try:
                    await self.receive(raw)
                except DeskFailed:
                    raise  # nothing of the batch is marked handled: it is read again after a back-off
                except Exception:
                    log.exception("e-mail: UID %s could not be read; set aside", uid)
        await self._imap(self._mailbox.done, uids)
        self.handled += len(uids)
        async with self._progress:
            self._progress.notify_all()

    async def wait_handled(self, count: int, timeout: float) -> None:
        """Until this process has handled `count` mails (tests and the bench wait on this)."""
        async with self._progress:
            await asyncio.wait_for(self._progress.wait_for(lambda: self.handled >= count), timeout)

    # -- one mail in ------------------------------------------------------------------------------

    async def receive(self, raw: bytes) -> list[Reply]:
        """One raw mail -> the desk. Mail written by machines stops here (logged), except a
        delivery report about our own mail, which the desk records on its ticket."""
        assert self._host is not None
        mail = reading.read(raw, self.settings)
        facts = mail.facts
        if facts.machine and facts.bounce_of is None:
            log.info("e-mail from %s not answered and no ticket: %s", mail.sender or "?", facts.machine)
            return []
        tickets: list[int] = []
        for mid in mail.refs:
            found = our_ticket(mid, self.settings.domain)
            if found is None:
                known = await self._host.state.get(MSGID_STATE, _key(mid))
                found = int(known) if known else None
            if found is not None and found not in tickets:
                tickets.append(found)
        facts = replace(facts, ticket_refs=tuple(tickets))
        message = InboundMessage(
            network=NETWORK, sender=mail.sender, text=mail.text, sender_name=mail.sender_name or mail.sender,
            message_id=_key(facts.message_id), received_at=self.clock.now(), mail=facts,
        )
        replies = await self._host.handle(message)
        if any(r.kind == "error" and r.text.startswith(NOT_HANDLED) for r in replies):
            # The desk failed (database down, a bug): read this mail again later rather than
            # lose it, but a mail that fails every time is set aside after a few tries.
            tries = self._failures.get(facts.message_id, 0) + 1
            self._failures[facts.message_id] = tries
            if tries < MAX_TRIES:
                raise DeskFailed(f"the desk could not handle {facts.message_id} (try {tries})")
            log.error("e-mail: %s failed %d times; set aside", facts.message_id, tries)
            return replies
        for reply in replies:
            if reply.ticket_id is not None:
                await self._host.state.put(MSGID_STATE, _key(facts.message_id), str(reply.ticket_id))
                await self._thread(reply.ticket_id, facts.message_id,
                                   reading.base_subject(facts.subject, self.settings.subject_prefix))
            elif reply.kind == "error" and facts.verified and not facts.machine:  # a refusal: say why
                await self._refusal(mail.sender, facts, reply.text)
        return replies

    async def _refusal(self, to: str, facts: Any, text: str) -> None:
        """A refused mail (quota, bad priority): the reason goes back once, as an automatic answer."""
        out = Outbound(Destination(NETWORK, to), text, kind="mail-refusal",
                       extra={"auto": "auto-replied", "in_reply_to": facts.message_id, "subject": facts.subject})
        try:
            await self.deliver(out)
        except DeliveryError as exc:
            log.warning("e-mail: the refusal to %s was not sent: %s", to, exc)

    async def _get(self, namespace: str, key: str) -> str | None:
        assert self._host is not None
        if (namespace, key) not in self._cache:
            self._cache[(namespace, key)] = await self._host.state.get(namespace, key)
        return self._cache[(namespace, key)]

    async def _put(self, namespace: str, key: str, value: str) -> None:
        assert self._host is not None
        await self._host.state.put(namespace, key, value)
        self._cache[(namespace, key)] = value
        if len(self._cache) > 10_000:
            self._cache.clear()

    async def _thread(self, ticket: int, msgid: str, subject: str = "") -> None:
        raw = await self._get(THREAD_STATE, str(ticket))
        thread: dict[str, Any] = json.loads(raw) if raw else {"subject": "", "refs": []}
        if subject and not thread.get("subject"):
            thread["subject"] = subject
        if msgid and msgid not in thread["refs"]:
            thread["refs"] = [*thread["refs"], msgid][-20:]
        await self._put(THREAD_STATE, str(ticket), json.dumps(thread))

    # -- one mail out ---------------------------------------------------------------------------

    async def deliver(self, message: Outbound) -> None:
        assert self._host is not None
        s = self.settings
        to = message.destination.target.strip()
        if "@" not in to or any(c in to for c in "\r\n<>,;"):
            raise PermanentDeliveryError(f"'{to[:80]}' is not an e-mail address")
        if to.lower() in s.ours:
            log.warning("e-mail: not sending to our own address %s (a loop)", to)
            return
        auto = message.extra.get("auto", "") or ("" if message.extra.get("author") else "auto-generated")
        if auto == "auto-replied" and not await self._may_answer(to):
            log.info("e-mail: automatic answer to %s held back (over %d per %s)", to, s.auto_reply_limit,
                     s.auto_reply_window)
            return
        thread: dict[str, Any] = {"subject": "", "refs": []}
        if message.ticket_id is not None:
            raw = await self._get(THREAD_STATE, str(message.ticket_id))
            if raw:
                thread = json.loads(raw)
        refs = list(thread.get("refs", []))
        parent = message.extra.get("in_reply_to", "")
        if parent and parent not in refs:
            refs.append(parent)
        base = thread.get("subject") or reading.base_subject(message.extra.get("subject", ""), s.subject_prefix)
        if message.ticket_id is not None:
            subject = f"Re: {token(s.subject_prefix, message.ticket_id)} {base or f'ticket {message.ticket_id}'}"
        elif message.extra.get("new_subject"):  # a mail of our own, not an answer (a login link)
            subject = message.extra["new_subject"]
        else:
            subject = f"Re: {base}" if base else "Your message to support"
        mail = compose(message, address=s.address, display_name=s.display_name, domain=s.domain,
                       subject=subject.strip(), refs=refs, auto=auto)
        # RFC 3834: automatic answers go out with an empty envelope sender, so they cannot bounce
        # into another robot; mail a person wrote bounces to us and lands on its ticket.
        await self._send(mail, "" if auto == "auto-replied" else s.address, to)
        if message.ticket_id is not None:
            await self._thread(message.ticket_id, str(mail["Message-ID"]), base)
        if auto == "auto-replied":
            await self._answered(to)

    async def _send(self, mail: EmailMessage, envelope_from: str, to: str) -> None:
        """One mail over the SMTP connection kept open between sends (a stale one is replaced
        once); any error closes it, so the next send starts clean."""
        s = self.settings
        data = mail.as_bytes(policy=policy.SMTP)
        async with self._smtp_lock:
            for attempt in (1, 2):
                try:
                    smtp = await self._smtp_connection()
                    await smtp.sendmail(envelope_from, [to], data)
                    return
                except aiosmtplib.SMTPServerDisconnected as exc:
                    await self._close_smtp()
                    if attempt == 2:
                        raise DeliveryError(f"SMTP {s.smtp_host}:{s.smtp_port}: disconnected: {exc}"[:300]) from None
                except aiosmtplib.SMTPRecipientsRefused as exc:
                    await self._close_smtp()
                    codes = [r.code for r in exc.recipients]
                    detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)[:300]
                    if codes and all(500 <= c < 600 for c in codes):
                        raise PermanentDeliveryError(f"SMTP refused {to}: {detail}") from None
                    raise DeliveryError(f"SMTP deferred {to}: {detail}") from None
                except aiosmtplib.SMTPAuthenticationError as exc:
                    await self._close_smtp()
                    raise DeliveryError(f"SMTP login failed ({exc.code})") from None
                except aiosmtplib.SMTPResponseException as exc:
                    await self._close_smtp()
                    if 500 <= exc.code < 600:
                        raise PermanentDeliveryError(f"SMTP refused {to}: {exc.code} {exc.message[:200]}") from None
                    raise DeliveryError(f"SMTP {exc.code} {exc.message[:200]}") from None
                except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                    await self._close_smtp()
                    where = f"{s.smtp_host}:{s.smtp_port}"
                    raise DeliveryError(f"SMTP {where}: {type(exc).__name__}: {exc}"[:300]) from None

    async def _smtp_connection(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        s = self.settings
        smtp = aiosmtplib.SMTP(hostname=s.smtp_host, port=s.smtp_port, timeout=s.timeout,
                               use_tls=s.smtp_security == "tls", start_tls=s.smtp_security == "starttls",
                               tls_context=self._tls if s.smtp_security != "none" else None)
        self._smtp = smtp
        await smtp.connect()
        if s.smtp_username:
            await smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
        return smtp

    async def _close_smtp(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None or not smtp.is_connected:
            return
        try:
            await asyncio.wait_for(smtp.quit(), 5)
        except Exception:
            smtp.close()

    async def _may_answer(self, to: str) -> bool:
        """The final backstop against mail loops: at most `auto_reply_limit` automatic answers
        per address per `auto_reply_window`."""
        assert self._host is not None
        times = await self._answers(to)
        return len(times) < self.settings.auto_reply_limit

    async def _answers(self, to: str) -> list[datetime]:
        assert self._host is not None
        raw = await self._get(AUTO_STATE, to.lower())
        since = self.clock.now() - self.settings.window
        times = [datetime.fromisoformat(t) for t in (json.loads(raw) if raw else [])]
        return [t for t in times if t > since]

    async def _answered(self, to: str) -> None:
        assert self._host is not None
        times = [*await self._answers(to), self.clock.now()]
        await self._put(AUTO_STATE, to.lower(), json.dumps([t.isoformat() for t in times[-50:]]))


BATCH = 20  # mails fetched and marked handled per IMAP command
BATCH_BYTES = 50 * 1024 * 1024  # ... and at most this much mail in memory at once (by RFC822.SIZE)


def batches(uids: list[int]) -> list[list[int]]:
    return [uids[i : i + BATCH] for i in range(0, len(uids), BATCH)]


def by_bytes(uids: list[int], sizes: dict[int, int], limit: int) -> list[list[int]]:
    """Consecutive groups holding at most BATCH_BYTES of mail (a mail over `limit` counts as
    its header only), so a batch of large mail is never in memory at once."""
    groups: list[list[int]] = [[]]
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0) if sizes.get(uid, 0) <= limit else 0
        if groups[-1] and total + size > BATCH_BYTES:
            groups.append([])
            total = 0
        groups[-1].append(uid)
        total += size
    return [g for g in groups if g]


def header_only(header: bytes, size: int, limit_mb: float) -> bytes:
    """A mail too large to read: its header (as plain text) and a line saying so."""
    header = re.sub(rb"(?im)^content-(type|transfer-encoding):.*\r?\n([ \t].*\r?\n)*", b"", header).rstrip()
    note = f"(The mail had {size / 1024 / 1024:.0f} MB, over the {limit_mb:g} MB limit: only its header was read.)"
    return header + b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + note.encode() + b"\r\n"


def _key(msgid: str) -> str:
    """A Message-ID as a short, fixed-size key (they can be long)."""
    return hashlib.sha256(msgid.strip().encode("utf-8", errors="replace")).hexdigest()[:40]
