"""HTTP GET for the catalog: aiohttp, bounded in time and size.

:func:`fetch_bytes` returns a body in memory (the index); :func:`download` streams one to a
file (an archive), reporting progress. Both refuse a status other than 200, a declared or
actual body longer than ``limit`` (reading stops at ``limit + 1`` bytes, so a huge body costs
nothing), a connection that stalls longer than ``read_timeout`` between reads, or a transfer
longer than ``total_timeout``. A body cut short by the server is a :class:`FetchError` too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import aiohttp

from engine.catalog import FetchError

CHUNK = 64 * 1024
CONNECT_TIMEOUT, READ_TIMEOUT, TOTAL_TIMEOUT = 10.0, 20.0, 600.0
Progress = Callable[[int, int], None]


def fetch_bytes(url: str, limit: int, read_timeout: float = READ_TIMEOUT,
                total_timeout: float = TOTAL_TIMEOUT) -> bytes:
    chunks: list[bytes] = []
    asyncio.run(_get(url, limit, chunks.append, None, read_timeout, total_timeout))
    return b"".join(chunks)


def download(url: str, target: Path, limit: int, progress: Progress | None = None,
             read_timeout: float = READ_TIMEOUT, total_timeout: float = TOTAL_TIMEOUT) -> int:
    """Stream ``url`` into ``target`` (created, mode 0600); return the number of bytes."""
    with open(target, "xb") as fh:
        return asyncio.run(_get(url, limit, fh.write, progress, read_timeout, total_timeout))


async def _get(url: str, limit: int, sink: Callable[[bytes], object], progress: Progress | None,
               read_timeout: float, total_timeout: float) -> int:
    timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=CONNECT_TIMEOUT, sock_read=read_timeout)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as resp:
            if resp.status != 200:
                raise FetchError(f"{url}: the catalog server answered HTTP {resp.status} {resp.reason or ''}".strip())
            if resp.content_length is not None and resp.content_length > limit:
                raise FetchError(f"{url}: {resp.content_length} bytes, more than the {limit} allowed")
            received = 0
            async for chunk in resp.content.iter_chunked(CHUNK):
                received += len(chunk)
                if received > limit:
                    raise FetchError(f"{url}: longer than the {limit} bytes allowed; the download was cut off")
                sink(chunk)
                if progress is not None:
                    progress(received, limit)
            return received
    except TimeoutError:
        raise FetchError(f"{url}: the catalog server did not answer in time "
                         f"({read_timeout:g} s without data)") from None
    except aiohttp.ClientPayloadError as exc:
        raise FetchError(f"{url}: the download was cut short ({exc})") from None
    except aiohttp.InvalidURL:
        raise FetchError(f"{url}: not a valid URL") from None
    except aiohttp.ClientError as exc:
        raise FetchError(f"{url}: cannot reach the catalog ({type(exc).__name__}: {exc})") from None
