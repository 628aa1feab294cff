"""The web portal's chat side: `web` (a one-time login link, in private), `web logout` (end
your sessions), `web end PERSON` (agents end somebody's sessions). The portal's pages are
contributed by the areas themselves (their hooks' `web_pages`); every change it makes is a chat
command run through the router (adapters/web)."""

from __future__ import annotations

import secrets
from datetime import timedelta

from bot import converters
from bot.areas import Area
from bot.desk.domain import Destination, Reply
from bot.desk.errors import Conflict, UserError
from bot.router import EVERYONE, STAFF, Arg, CommandContext

AREA = Area("web")

LINK_WINDOW = timedelta(minutes=10)  # the rate limit counts links asked for in this window


def web_enabled(ctx: CommandContext) -> bool:
    return bool(ctx.config.web.enabled)


def page_url(ctx: CommandContext, path: str) -> str:
    return f"{ctx.config.web.public_url}{path}"


# --- chat commands ---------------------------------------------------------------------------


@AREA.command(
    "web",
    roles=EVERYONE,
    summary="a one-time link to the web portal, sent to you in private (valid 10 minutes, works once)",
    examples=("web",),
)
async def web(ctx: CommandContext) -> Reply:
    caller = ctx.caller
    if not web_enabled(ctx):
        raise Conflict("The web portal is not enabled on this desk.")
    if caller.person is None:
        raise UserError("the web portal is for people in the directory; ask your support contact to register you")
    cfg = ctx.config.web
    recent = await ctx.uow.web.links_since(caller.person, ctx.now - LINK_WINDOW)
    if recent >= cfg.links_per_10_minutes:
        raise Conflict(f"You asked for {recent} links in the last 10 minutes; use the newest one or try again later.")
    token = secrets.token_urlsafe(32)
    await ctx.uow.web.add_link(token, caller.person, ctx.now, timedelta(minutes=cfg.link_minutes))
    text = (f"Your login link for the web portal (valid {cfg.link_minutes} minutes, works once, only for you): "
            f"{page_url(ctx, '/login/' + token)}")
    mailed = mail_link(ctx, caller.person, text)
    return Reply(text + (f" I sent it to your e-mail address {mailed} too." if mailed else ""),
                 private=True, ephemeral=True)


def mail_link(ctx: CommandContext, person: str, text: str) -> str:
    """The same link by e-mail when the e-mail channel is in service and the person has an
    address (unless they asked by e-mail: then the answer is that mail). Returns the address
    as shown to them, or ""."""
    address = ctx.config.people[person].handles.get("email", "")
    if not address or ctx.message.network == "email" or "email" not in ctx.services.networks_in_service():
        return ""
    ctx.post(Destination("email", address), text, kind="notice", label=person,
             extra={"new_subject": "Your login link for the support portal"})
    return address


@AREA.command(
    "web logout",
    roles=EVERYONE,
    summary="end all your web portal sessions (every browser)",
    examples=("web logout",),
)
async def web_logout(ctx: CommandContext) -> Reply:
    if ctx.caller.person is None:
        raise UserError("the web portal is for people in the directory")
    n = await ctx.uow.web.end_sessions(ctx.caller.person, ctx.now)
    return Reply(f"Ended {n} web session{'' if n == 1 else 's'} of yours.", private=True)


@AREA.command(
    "web end",
    Arg("person", converters.person, display="<person>"),
    roles=STAFF,
    summary="end every web portal session of a person (a lost laptop, somebody who left)",
    examples=("web end alice",),
)
async def web_end(ctx: CommandContext, person: str) -> Reply:
    n = await ctx.uow.web.end_sessions(person, ctx.now)
    name = ctx.config.people[person].name
    return Reply(f"Ended {n} web session{'' if n == 1 else 's'} of {name}.", private=True)
