"""One browser tab: its own ``veilig`` process, relayed over the tab's WebSocket.

The process runs Textual's web driver (:mod:`tui.web.driver`), which speaks Textual's
web-driver protocol on its standard streams. Every packet is one type byte, a 4-byte
big-endian length and the payload:

- from the app (stdout), after a line ``__GANGLION__``: ``D`` screen output (sent to
  the browser as binary WebSocket messages), ``M`` JSON metadata (``exit``,
  ``deliver_file_start``, ``open_url``), ``P`` a packed ``("deliver_chunk", key, bytes)``
  with the next piece of a file the app delivers;
- to the app (stdin): ``D`` keys as the browser's xterm.js encodes them, ``M`` JSON
  metadata (``resize``, ``focus``, ``blur``, ``deliver_chunk_request``, and our own
  ``veilig_upload``).

The browser's messages are JSON lists as textual-serve's page script sends them:
``["stdin", text]``, ``["resize", {"width": w, "height": h}]``, ``["ping", x]``,
``["focus"]``, ``["blur"]``; anything else is ignored.

Stopping is one path whatever ended the session (the tab closed, the connection dropped,
the app quit, the server stops): SIGTERM to the process group (Textual's web driver
then quits cleanly; a process still starting just ends), SIGKILL after the grace, then
the WebSocket closed and the file area deleted by the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import WSMsgType, web

from tui.web.driver import UPLOADED

log = logging.getLogger(__name__)

PRELUDE = b"__GANGLION__\n"
MAX_PRELUDE_LINES = 10  # lines before the prelude (a warning printed at start-up)
MAX_PACKET_BYTES = 16 * 1024**2  # our own app's packets: a frame, or a file chunk below
CHUNK_BYTES = 256 * 1024  # asked per piece of a delivered file
# A piece is read from the session's own download folder: when it takes this long the
# app is stuck, and the download is cut off (the browser then shows it as failed).
CHUNK_TIMEOUT_SECONDS = 30.0
MAX_COLUMNS, MAX_ROWS = 500, 200  # a resize beyond this is a broken or hostile page


class DeliveryFailed(Exception):
    """A file the app offered could not be streamed to the browser to its end."""


@dataclass
class Delivery:
    """A file the app offered (``App.deliver_binary``), by the app's delivery key."""

    key: str
    name: str
    chunks: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)


@dataclass
class Uploads:
    """What the page uploaded in this session, held to the dialog's attachment limits."""

    count: int = 0
    bytes: int = 0


class WebSession:
    def __init__(
        self,
        *,
        command: Sequence[str],
        env: Mapping[str, str],
        cwd: Path,
        ws: web.WebSocketResponse,
        grace_seconds: float,
        offer_download: Callable[[Delivery], str],
    ) -> None:
        self.command = list(command)
        self.env = dict(env)
        self.cwd = cwd
        self.ws = ws
        self.grace_seconds = grace_seconds
        self.offer_download = offer_download  # mints the browser's one-time download link
        self.process: asyncio.subprocess.Process | None = None
        self.deliveries: dict[str, Delivery] = {}
        self.uploads = Uploads()
        self._reader: asyncio.Task[None] | None = None
        self._stopping: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def stopped(self) -> bool:
        return self._stopping is not None

    # --- the whole life of a session -----------------------------------------------------

    async def run(self, width: int, height: int) -> None:
        """Start the app, relay both ways until either side ends, then stop everything."""
        try:
            await self._start(width, height)
            self._reader = asyncio.create_task(self._from_app())
            await self._from_browser()
        finally:
            await self.stop()

    async def _start(self, width: int, height: int) -> None:
        env = self.env | {"COLUMNS": str(width), "ROWS": str(height)}
        self.process = await asyncio.create_subprocess_exec(
            *self.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,  # the app logs to VEILIG_HOME/veilig.log
            env=env,
            cwd=self.cwd,
            start_new_session=True,  # its own process group: one signal reaches all of it
            limit=MAX_PACKET_BYTES,
        )
        log.info("web: session %s started", self.process.pid)

    def stop(self) -> Awaitable[None]:
        """End the session (idempotent; every caller awaits the same stop)."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        return asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        for delivery in self.deliveries.values():
            delivery.chunks.put_nowait(None)
        process = self.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), self.grace_seconds)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
                log.warning("web: session %s killed after the grace", process.pid)
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("web: session %s: the relay failed", self.pid)
        with contextlib.suppress(Exception):
            await self.ws.close()
        if process is not None:
            log.info("web: session %s ended (%s)", process.pid, process.returncode)

    # --- app → browser -------------------------------------------------------------------

    async def _from_app(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        stdout = self.process.stdout
        try:
            for _line in range(MAX_PRELUDE_LINES):
                line = await stdout.readline()
                if not line or line == PRELUDE:
                    break
            else:
                return
            if line != PRELUDE:
                return
            while True:
                kind = await stdout.readexactly(1)
                size = int.from_bytes(await stdout.readexactly(4), "big")
                if size > MAX_PACKET_BYTES:
                    log.error("web: session %s sent a packet of %d bytes", self.pid, size)
                    return
                payload = await stdout.readexactly(size)
                if kind == b"D":
                    await self.ws.send_bytes(payload)
                elif kind == b"M":
                    await self._on_meta(json.loads(payload))
                elif kind == b"P":
                    self._on_chunk(payload)
        except asyncio.IncompleteReadError:
            pass  # the app ended: stop() follows
        except (ConnectionError, ValueError) as exc:  # the browser went, or garbled packets
            log.warning("web: session %s: relay ended (%s)", self.pid, type(exc).__name__)
        finally:
            # The app is gone or garbled: the tab shows "session ended".
            asyncio.ensure_future(self.stop())

    async def _on_meta(self, meta: object) -> None:
        if not isinstance(meta, dict):
            return
        kind = meta.get("type")
        if kind == "deliver_file_start":
            key, path = meta.get("key"), meta.get("path")
            if isinstance(key, str) and isinstance(path, str):
                delivery = Delivery(key=key, name=Path(path).name)
                self.deliveries[key] = delivery
                token = self.offer_download(delivery)
                # textual-serve's page script opens /download/<token>; our page script
                # turns that into a download in the same tab.
                await self.ws.send_str(json.dumps(["deliver_file_start", token]))
        elif kind == "open_url":
            log.info("web: session %s asked to open a URL; not passed on", self.pid)

    def _on_chunk(self, payload: bytes) -> None:
        key, chunk = unpack_chunk(payload)
        delivery = self.deliveries.get(key)
        if delivery is not None:
            delivery.chunks.put_nowait(chunk)

    # --- browser → app ----------------------------------------------------------------

    async def _from_browser(self) -> None:
        async for message in self.ws:
            if message.type is not WSMsgType.TEXT:
                continue
            try:
                envelope = json.loads(message.data)
            except ValueError:
                log.info("web: session %s: not JSON from the page; closing", self.pid)
                return
            if not isinstance(envelope, list) or not envelope:
                continue
            kind, arg = envelope[0], envelope[1] if len(envelope) > 1 else None
            if kind == "stdin" and isinstance(arg, str):
                if not await self._send(b"D", arg.encode("utf-8", "replace")):
                    return
            elif kind == "resize" and isinstance(arg, dict):
                width, height = arg.get("width"), arg.get("height")
                if _in_range(width, MAX_COLUMNS) and _in_range(height, MAX_ROWS):
                    await self.send_meta({"type": "resize", "width": width, "height": height})
            elif kind in ("focus", "blur"):
                await self.send_meta({"type": kind})
            elif kind == "ping" and isinstance(arg, str):
                await self.ws.send_str(json.dumps(["pong", arg[:32]]))

    async def send_meta(self, meta: dict[str, object]) -> bool:
        return await self._send(b"M", json.dumps(meta).encode())

    async def _send(self, kind: bytes, payload: bytes) -> bool:
        """One packet to the app; False once it cannot take any more (it has ended)."""
        process = self.process
        if process is None or process.stdin is None or self.stopped:
            return False
        try:
            process.stdin.write(kind + len(payload).to_bytes(4, "big") + payload)
            await process.stdin.drain()  # a fast typist waits here, not in our memory
        except (ConnectionError, RuntimeError):
            return False
        return True

    # --- files -------------------------------------------------------------------------

    async def notify_upload(self, name: str) -> None:
        await self.send_meta({"type": UPLOADED, "name": name})

    async def delivery_chunks(self, key: str) -> AsyncIterator[bytes]:
        """The pieces of one delivered file, asked from the app one at a time (so a slow
        browser holds back the app's reading, and memory holds one piece)."""
        delivery = self.deliveries.get(key)
        if delivery is None:
            raise DeliveryFailed(key)
        try:
            while True:
                request = {"type": "deliver_chunk_request", "key": key, "size": CHUNK_BYTES}
                if not await self.send_meta(request):
                    raise DeliveryFailed(key)
                try:
                    chunk = await asyncio.wait_for(delivery.chunks.get(), CHUNK_TIMEOUT_SECONDS)
                except TimeoutError:
                    raise DeliveryFailed(key) from None
                if chunk is None:
                    raise DeliveryFailed(key)
                if not chunk:
                    return
                yield chunk
        finally:
            self.deliveries.pop(key, None)


def _in_range(value: object, most: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= most


def unpack_chunk(payload: bytes) -> tuple[str, bytes]:
    """Read ``("deliver_chunk", key, data)`` as Textual's driver packs it (a bencode-like
    format: ``t`` … ``e`` a tuple, ``s<n>:`` a string, ``<n>:`` bytes). Only this one
    shape is accepted; anything else raises ValueError."""

    def take(at: int, text: bool) -> tuple[bytes, int]:
        if text:
            if payload[at : at + 1] != b"s":
                raise ValueError("expected a string")
            at += 1
        colon = payload.index(b":", at)
        size = int(payload[at:colon])
        start = colon + 1
        if size < 0 or start + size > len(payload):
            raise ValueError("truncated")
        return payload[start : start + size], start + size

    if payload[:1] != b"t" or payload[-1:] != b"e":
        raise ValueError("expected a tuple")
    tag, at = take(1, text=True)
    key, at = take(at, text=True)
    if tag != b"deliver_chunk":
        raise ValueError("expected a deliver_chunk")
    if payload[at : at + 1] == b"s":  # deliver_text: the chunk is a string
        data, at = take(at, text=True)
    else:
        data, at = take(at, text=False)
    if at != len(payload) - 1:
        raise ValueError("trailing")  # bytes after the tuple
    return key.decode(), data
