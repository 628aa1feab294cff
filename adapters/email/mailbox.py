"""The support mailbox over IMAP (imapclient, blocking: the adapter runs it in one thread of
its own). Marks processed mail with a keyword and moves it to `processed_folder` when set, so
neither a restart nor a human reading the mailbox makes the bot read a message twice."""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from imapclient import IMAPClient

from adapters.email.settings import EmailSettings

DONE = b"$SupportbotDone"  # IMAP keyword on every message the bot has handled
IDLE_SLICE = 1.0  # seconds per IDLE wait before looking again (also how fast stop() is noticed)


@dataclass(frozen=True)
class Selected:
    uidvalidity: int
    uidnext: int
    idle: bool


class FolderRecreated(Exception):
    """The folder was deleted and created again under the selected session (its UIDVALIDITY
    changed): the session must select it anew, or it would go on searching the old UIDs."""


class Mailbox:
    def __init__(self, settings: EmailSettings, tls: ssl.SSLContext) -> None:
        self.settings = settings
        self.tls = tls
        self.client: IMAPClient | None = None
        self._move = False
        self._uidvalidity = 0

    def open(self) -> Selected:
        s = self.settings
        client = IMAPClient(s.imap_host, port=s.imap_port, ssl=s.imap_security == "tls", ssl_context=self.tls,
                            timeout=s.timeout)
        self.client = client
        if s.imap_security == "starttls":
            client.starttls(self.tls)
        client.login(s.imap_username, s.imap_password.get_secret_value())
        if s.processed_folder and not client.folder_exists(s.processed_folder):
            client.create_folder(s.processed_folder)
        self._move = client.has_capability("MOVE")
        info = client.select_folder(s.folder)
        self._uidvalidity = int(info[b"UIDVALIDITY"])
        return Selected(self._uidvalidity, int(info.get(b"UIDNEXT", 0)), s.idle and client.has_capability("IDLE"))

    def waiting(self, after: int) -> list[int]:
        """UIDs above `after` not yet handled, oldest first. FolderRecreated when the folder's
        UIDVALIDITY is no longer the selected one's: a server need not tell a session that its
        folder was deleted and created again (Dovecot often does not), and STATUS of the selected
        folder may answer from the session's own view, so the folder is selected again."""
        assert self.client is not None
        info = self.client.select_folder(self.settings.folder)
        if int(info[b"UIDVALIDITY"]) != self._uidvalidity:
            raise FolderRecreated(f"{self.settings.folder} was re-created (UIDVALIDITY changed)")
        uids = self.client.search(["UID", f"{after + 1}:*", "NOT", "KEYWORD", DONE.decode()])
        return sorted(u for u in uids if u > after)

    def sizes(self, uids: list[int]) -> dict[int, int]:
        assert self.client is not None
        data = self.client.fetch(uids, ["RFC822.SIZE"])
        return {uid: int(item.get(b"RFC822.SIZE", 0)) for uid, item in data.items()}

    def fetch(self, uids: list[int], whole: bool = True) -> dict[int, bytes]:
        """The messages without setting \\Seen (BODY.PEEK); only their headers when `whole` is False."""
        assert self.client is not None
        if not uids:
            return {}
        item = "BODY.PEEK[]" if whole else "BODY.PEEK[HEADER]"
        key = b"BODY[]" if whole else b"BODY[HEADER]"
        data = self.client.fetch(uids, [item])
        return {uid: bytes(got[key]) for uid, got in data.items() if got.get(key) is not None}

    def done(self, uids: list[int]) -> None:
        """Mark handled (keyword), then move to the processed folder when one is set."""
        assert self.client is not None
        if not uids:
            return
        self.client.add_flags(uids, [DONE])
        folder = self.settings.processed_folder
        if not folder:
            return
        if self._move:
            self.client.move(uids, folder)
        else:
            self.client.copy(uids, folder)
            self.client.delete_messages(uids)
            self.client.uid_expunge(uids)

    def wait(self, timeout: float) -> bool:
        """IDLE for up to `timeout`; True when the server announced something."""
        assert self.client is not None
        self.client.idle()
        try:
            news = self.client.idle_check(timeout=timeout)
        finally:
            self.client.idle_done()
        return bool(news)

    def poll(self) -> None:
        assert self.client is not None
        self.client.noop()

    def close(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        try:
            client.logout()
        except Exception:
            try:
                client.shutdown()
            except Exception:
                pass
