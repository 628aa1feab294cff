"""What an HTTP request from a stranger may cost a webhook endpoint: bodies read only as far
as the endpoint's limit (issue 15)."""

from __future__ import annotations

from aiohttp import web


async def read_bounded(request: web.Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it proves longer than `limit` bytes (by its
    Content-Length or while reading): at most limit + 1 bytes are ever read."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(min(65536, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
