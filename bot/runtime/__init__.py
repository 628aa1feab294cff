"""The runtime ring: configuration, wiring (bootstrap), the command line, instance, health,
metrics, logs and leadership. It may import everything; nothing but the entry point imports it."""

import os

# pydantic looks for third-party plugins through every installed distribution's entry points
# (importlib.metadata: ~50 ms of each `supportbot` start, a scripted console line included).
# The bot uses none; an operator who wants one sets PYDANTIC_DISABLE_PLUGINS themselves.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
