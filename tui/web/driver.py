"""The Textual driver of a ``veilig`` process that a browser tab drives (``veilig serve web``).

Textual's own web driver speaks the protocol: screen output and metadata out on stdout,
keys and metadata in on stdin, files delivered in chunks on request. This one adds a
single message from the server: a file the page uploaded into this session's area.
The server starts the process with ``TEXTUAL_DRIVER=tui.web.driver:VeiligWebDriver``.
"""

from __future__ import annotations

from textual.drivers.web_driver import WebDriver

from tui.web.events import FileUploaded

UPLOADED = "veilig_upload"  # {"type": "veilig_upload", "name": "verslag.pdf"}


class VeiligWebDriver(WebDriver):
    def on_meta(self, packet_type: str, payload: dict[str, object]) -> None:
        if packet_type == UPLOADED:
            name = payload.get("name")
            if isinstance(name, str):
                self._app.post_message(FileUploaded(name))  # post_message is thread-safe
            return
        super().on_meta(packet_type, payload)
