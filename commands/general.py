"""help and whoami."""

from __future__ import annotations

import re
import textwrap

from bot.areas import Area
from bot.desk.domain import Reply, Role
from bot.permissions import role_allows
from bot.router import EVERYONE, Arg, CommandContext, CommandSpec, Keyword, Text

AREA = Area("general")

# Areas in the order people use them: tickets first, then their clocks, cards, plan, on-call.
AREAS = (
    ("tickets", "Tickets"),
    ("sla", "SLA clocks"),
    ("assist", "Assist cards"),
    ("billing", "Plan and billing"),
    ("oncall", "On-call and paging"),
    ("web", "Web portal"),
    ("general", "You and this bot"),
)
HELP_WIDTH = 100  # characters per help line: readable in every client, never a wall of text
IRC_PAGE_LINES = 20  # lines of one help page on IRC when [adapters.irc] max_lines is not set
# The one rule for --options, the same on every network (bot.router.parse_args).
OPTIONS_RULE = "Options (--name) count anywhere on the line, also after the text."


def _fit(text: str, width: int = HELP_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 1].rsplit(" ", 1)[0] + "…"


def _positional(spec: CommandSpec) -> str:
    """The syntax without options: `ticket open [P1-P4] <summary>`."""
    if spec.syntax_override:
        return " ".join(w for w in spec.syntax_for(None).split("[--", 1)[0].split())
    return " ".join([spec.name, *(p.syntax() for p in spec.params if isinstance(p, (Arg, Keyword, Text)))])


def _summary_for(spec: CommandSpec, role: Role, *, short: bool) -> str:
    """The summary as this reader needs it: agents' asides are not shown to customers; the
    short form is its first clause."""
    text = spec.summary
    if role is Role.CUSTOMER:
        text = re.sub(r"\s*\((?:agents|admins)\b[^)]*\)", "", text)
    if short:
        text = text.split(";")[0]
        text = re.sub(r"\s*\([^)]*$", "", text.split(" (")[0] if text.count("(") else text)
    return text.strip()


def _overview_line(spec: CommandSpec, role: Role) -> str:
    """`  ticket open [P1-P4] <summary> — open a ticket`: the syntax without options (the full one
    is in help <command>) and the first clause of the summary, within HELP_WIDTH."""
    positional = _positional(spec)
    if len(positional) > 60:
        positional = spec.name
    return _fit(f"  {positional} — {_summary_for(spec, role, short=True)}")


def _wrapped(text: str, indent: str = "    ") -> list[str]:
    return textwrap.wrap(text, HELP_WIDTH, subsequent_indent=indent, break_on_hyphens=False) or [""]


def _page_size(ctx: CommandContext) -> int | None:
    """Lines per help page where a reply is cut after a number of lines (IRC), else None."""
    if ctx.message.network != "irc":
        return None
    limit = ctx.services.reply_lines.get("irc", IRC_PAGE_LINES)
    return max(5, limit - 1)  # one line for "help 2 for more"


def _who(ctx: CommandContext) -> str:
    c = ctx.caller
    if c.org is not None and c.org in ctx.config.orgs:
        org = ctx.config.orgs[c.org]
        plan = ctx.config.plans.get(org.plan)
        return f"{c.name} ({c.role.value}, {org.name} on {plan.name if plan and plan.name else org.plan})"
    return f"{c.name} ({c.role.value})"


def overview(ctx: CommandContext) -> list[str]:
    """Every command this caller may run and would use, grouped by area."""
    role = ctx.caller.role
    shown = [s for s in ctx.registry.commands.values() if s.shown_for(ctx.caller, ctx.config)]
    lines = [f"Commands for {_who(ctx)}:"]
    known = {area for area, _title in AREAS}
    for area, title in (*AREAS, ("other", "Other")):
        specs = [s for s in shown if s.area == area or (area == "other" and s.area not in known)]
        if specs:
            lines.append(f"{title}:")
            lines += [_overview_line(s, role) for s in specs]
    lines.append("help <command> shows its full syntax and examples (help ticket open). Tickets are #N.")
    return lines


async def command_help(ctx: CommandContext, words: list[str]) -> list[str] | None:
    """help <command>: full syntax, what it does, who may, examples; a group lists its commands."""
    role = ctx.caller.role
    spec, used = ctx.registry.find(words)
    if spec is not None and used == len(words) and role_allows(spec.roles, role):
        lines = _wrapped(f"{spec.syntax_for(role)}")
        summary = _summary_for(spec, role, short=False)
        lines += _wrapped(f"  {summary[:1].upper()}{summary[1:]}. For {spec.who()}.", "  ")
        lines += [_fit(f"  e.g. {ex.line}") for ex in spec.examples_for(role)]
        if "[--" in spec.syntax_for(role):
            lines.append(f"  {OPTIONS_RULE}")
        for hook in ctx.hooks.help_lines:  # e.g. the plan's severity definitions under ticket open
            for line in await hook(ctx, spec.name):
                lines += _wrapped(line, "      ")
        return lines
    first = words[0].lower()
    group = [
        s for s in ctx.registry.commands.values()
        if s.name.split()[0] == first and s.shown_for(ctx.caller, ctx.config)
    ]
    if group and len(words) == 1:
        lines = [f"{words[0].lower()} commands:"]
        for s in group:
            lines += _wrapped(f"  {s.syntax_for(role)} — {_summary_for(s, role, short=True)}", "      ")
        lines.append(f"help {words[0].lower()} <subcommand> shows one with examples.")
        return lines
    return None



@AREA.command(
    "help",
    Text("command", optional=True),
    roles=EVERYONE,
    summary="what you can do here; help <command> for its syntax and examples",
    examples=("help", "help ticket open", "help 2"),
    read_only=True,
    needs_db=False,
)
async def help_(ctx: CommandContext, command: str) -> Reply:
    words = command.split()
    page = 1
    if len(words) == 1 and words[0].isascii() and words[0].isdigit():
        page, words = int(words[0]), []
    if words:
        found = await command_help(ctx, words)
        if found is None:
            return Reply(ctx.registry.unknown(words, ctx.caller).replace("Type help for", "help lists"))
        lines = found
    else:
        lines = overview(ctx)
    size = _page_size(ctx)
    if size is None or len(lines) <= size + 1:
        return Reply("\n".join(lines))
    pages = (len(lines) + size - 1) // size
    page = min(max(page, 1), pages)
    chunk = lines[(page - 1) * size : page * size]
    more = f"help {page + 1} for more" if page < pages else "end of help"
    chunk.append(f"(page {page} of {pages}: {more})")
    return Reply("\n".join(chunk))


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
