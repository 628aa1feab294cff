"""Command areas, one module each: general, tickets, sla, billing, oncall, assist, mail, web. Each module
builds its `AREA` (bot/areas.py: commands, timer handlers, hooks); the runtime lists the areas
it serves in bot/runtime/bootstrap.py. No area imports another's module."""
