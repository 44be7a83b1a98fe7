"""The Textual driver of a ``veilig`` process that a browser tab drives (``veilig serve web``).

Textual's own web driver speaks the protocol: screen output and metadata out on stdout,
keys and metadata in on stdin, files delivered in chunks on request. This one changes
two things:

- Its packets are written whole, one at a time. Textual writes screen updates from the
  app's thread and file chunks from its input thread; two packets larger than a pipe's
  atomic write (4 KiB) could interleave when the server reads slower than the app
  writes (a loaded host), and the stream would be garbled. A lock around each packet
  prevents that.
- It takes one message from the server: a file the page uploaded into this session's
  area, posted to the app as :class:`~tui.web.events.FileUploaded`.

The server starts the process with ``TEXTUAL_DRIVER=tui.web.driver:VeiligWebDriver``.
"""

from __future__ import annotations

import threading
from typing import Any

from textual.app import App
from textual.drivers.web_driver import WebDriver

from tui.web.events import FileUploaded

UPLOADED = "veilig_upload"  # {"type": "veilig_upload", "name": "verslag.pdf"}


class VeiligWebDriver(WebDriver):
    def __init__(
        self,
        app: App[Any],
        *,
        debug: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        self._packet_lock = threading.Lock()

    def write(self, data: str) -> None:
        with self._packet_lock:
            super().write(data)

    def write_meta(self, data: dict[str, object]) -> None:
        with self._packet_lock:
            super().write_meta(data)

    def write_binary_encoded(self, data: tuple[str | bytes, ...]) -> None:
        with self._packet_lock:
            super().write_binary_encoded(data)

    def on_meta(self, packet_type: str, payload: dict[str, object]) -> None:
        if packet_type == UPLOADED:
            name = payload.get("name")
            if isinstance(name, str):
                self._app.post_message(FileUploaded(name))  # post_message is thread-safe
            return
        super().on_meta(packet_type, payload)
