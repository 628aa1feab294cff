"""On-call shifts as iCalendar feeds (RFC 5545, written with the `icalendar` library), and
the secret tokens of their URLs. Pure: shifts and instants in, bytes out.

A feed's URL is `<base_url>/calendar/<kind>/<name>/<token>.ics` where kind is "rotation" or
"person" and the token is an HMAC of kind and name under `[oncall.feeds] secret`: nothing is
stored, and changing the secret revokes every URL given out."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.desk.clock import as_utc
from bot.desk.oncall import Shift

FEED_KINDS = ("rotation", "person")


def feed_token(secret: str, kind: str, name: str) -> str:
    """The secret part of a feed's URL: an HMAC of (kind, name) under the configured secret, so URLs
    cannot be guessed and change when the secret does."""
    return hmac.new(secret.encode(), f"{kind}:{name}".encode(), hashlib.sha256).hexdigest()[:32]


def token_matches(secret: str, kind: str, name: str, token: str) -> bool:
    """Whether `token` is the feed token of (kind, name), compared in constant time."""
    return hmac.compare_digest(feed_token(secret, kind, name), token)


def feed_url(base_url: str, secret: str, kind: str, name: str) -> str:
    """The iCalendar URL of one rotation's or person's shifts under `base_url`."""
    return f"{base_url}/calendar/{kind}/{name}/{feed_token(secret, kind, name)}.ics"


@dataclass(frozen=True)
class FeedShift:
    """One shift of one rotation, with the on-call person's display name."""

    rotation: str
    shift: Shift
    name: str


def shift_summary(item: FeedShift, *, personal: bool) -> str:
    """"On call: primary — Erin On-Call" (a rotation's feed) or "On call for primary" (a person's)."""
    tag = " (override)" if item.shift.is_override else ""
    if personal:
        return f"On call for {item.rotation}{tag}"
    return f"On call: {item.rotation} — {item.name}{tag}"


def ical_feed(title: str, items: Iterable[FeedShift], now: datetime, *, personal: bool = False) -> bytes:
    """A VCALENDAR with one VEVENT per shift, times in UTC. The UID is stable per rotation,
    start and person, so calendar programs update events instead of duplicating them."""
    from icalendar import Calendar, Event  # only when a feed is asked for: ~30 ms of imports

    cal = Calendar()
    cal.add("prodid", "-//supportbot//on-call//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", title)
    # Subscribed calendars poll; an hour keeps a swap or an override visible the same day.
    cal.add("refresh-interval", timedelta(hours=1), parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT1H")
    stamp = as_utc(now).replace(microsecond=0)
    for item in items:
        shift = item.shift
        event = Event()
        start = as_utc(shift.start)
        event.add("uid", f"{item.rotation}-{start:%Y%m%dT%H%M%SZ}-{shift.person}@supportbot")
        event.add("summary", shift_summary(item, personal=personal))
        event.add("dtstart", start)
        event.add("dtend", as_utc(shift.end))
        event.add("dtstamp", stamp)
        event.add("transp", "OPAQUE")
        event.add("description", f"{item.name} is on call for {item.rotation}"
                  + (" (an override)" if shift.is_override else ""))
        cal.add_component(event)
    data: bytes = cal.to_ical()
    return data
