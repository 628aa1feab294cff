"""The desk: pure support-desk rules and values (calendars, SLA clocks, billing, on-call,
paging). Imports nothing else of ours and does no I/O: no pydantic, no SQLAlchemy, no clock reads."""
