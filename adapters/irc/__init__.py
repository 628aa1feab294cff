"""The IRC adapter, split by concern like Sopel's `irc/` package:

- `session`: one connection, CAP negotiation, SASL PLAIN, registration and nick fallbacks;
- `identity`: who is who (IRCv3 account tags, or nicks) and presence checks before a page;
- `pacing`: flood control both ways (the bot's send queue, each person's command rate);
- `rendering`: lines in (addressing) and out (sanitised, split to 512 bytes, button hints);
- `settings`: `[adapters.irc]` in bot.toml;
- `adapter`: `IrcAdapter`, which ties them together for the bot.
"""

from adapters.irc.adapter import IrcAdapter
from adapters.irc.settings import IrcSettings

__all__ = ["IrcAdapter", "IrcSettings"]
