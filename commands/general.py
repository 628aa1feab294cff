"""help and whoami."""

from __future__ import annotations

from bot.areas import Area
from bot.desk.domain import Reply
from bot.permissions import role_allows
from bot.router import EVERYONE, CommandContext, Text

AREA = Area("general")

# The one rule for --options, the same on every network (bot.router._take_flags).
OPTIONS_RULE = "Options (--name) count anywhere on the line, also after the text."


@AREA.command(
    "help",
    Text("command", optional=True),
    roles=EVERYONE,
    summary="what you can do here; help <command> for its syntax",
    examples=("help", "help ticket open"),
    read_only=True,
    needs_db=False,
)
async def help_(ctx: CommandContext, command: str) -> Reply:
    registry = ctx.registry
    role = ctx.caller.role
    if command:
        words = command.split()
        spec, _ = registry.find(words)
        if spec is not None:
            lines = [f"{spec.syntax_for(role)} — {spec.summary} ({spec.who()})"]
            lines += [f"  e.g. {ex}" for ex in spec.examples]
            if "[--" in spec.syntax_for(role):
                lines.append(OPTIONS_RULE)
            return Reply("\n".join(lines))
        group = [s for s in registry.group(words[0]) if role_allows(s.roles, role)]
        if group:
            return Reply("\n".join(f"{s.syntax_for(role)} — {s.summary}" for s in group))
        return Reply(f"There is no command '{command[:40]}'. Type help for the list.")
    allowed = [s for s in registry.commands.values() if role_allows(s.roles, role)]
    lines = [f"Commands for {ctx.caller.name} ({role.value}):"]
    lines += [f"  {s.syntax_for(role)} — {s.summary}" for s in sorted(allowed, key=lambda s: s.name)]
    lines.append("Tickets are #N. help <command> shows one command with examples.")
    lines.append(OPTIONS_RULE)
    return Reply("\n".join(lines))


@AREA.command(
    "whoami",
    roles=EVERYONE,
    summary="who the bot thinks you are: role, organisation, plan",
    examples=("whoami",),
    read_only=True,
    needs_db=False,
)
async def whoami(ctx: CommandContext) -> Reply:
    c = ctx.caller
    parts = [f"You are {c.name}", f"role {c.role.value}"]
    if c.person is None:
        parts[0] = f"You are {c.name} (a guest: not in the directory)"
    if c.org is not None:
        org = ctx.config.orgs[c.org]
        parts.append(f"organisation {org.name} ({c.org})")
        parts.append(f"plan {org.plan}")
    parts.append(f"on {c.network} as {c.handle}")
    return Reply(", ".join(parts) + ".")
