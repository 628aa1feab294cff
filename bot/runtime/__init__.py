"""The runtime ring: configuration, wiring (bootstrap), the command line, instance, health,
metrics, logs and leadership. It may import everything; nothing but the entry point imports it."""
