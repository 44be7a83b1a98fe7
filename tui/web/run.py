"""``veilig serve web``: from the command line's options to a running server, until a
signal stops it (every session ended, every file area deleted)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import tempfile
from pathlib import Path

from core.config import Settings
from core.errors import VeiligError
from core.i18n import _, current_language
from core.mail import WaysIn
from tui.ssh.files import FileAreas
from tui.web.server import WebConfig, WebServer, is_loopback


def serve_web(args: argparse.Namespace, settings: Settings) -> int:
    from core.starter import Starter
    from tui.factory import make_context

    public_url = args.public_url or settings.public_url
    WaysIn(web=public_url)  # refuses an address that is not one
    if not public_url and not is_loopback(args.host):
        raise VeiligError(
            _("Give --public-url (the address people type) to listen beyond this host.")
        )
    org = Starter(make_context(settings)).organisation_name()  # refuses a home not set up
    logging.getLogger().setLevel(logging.INFO)  # a server: its log goes to stderr
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    config = WebConfig(
        home=settings.home,
        areas=FileAreas(Path(args.files) if args.files else default_files_root()),
        org=org,
        public_url=public_url.rstrip("/") if public_url else None,
        desk=args.desk,
        behind_proxy=args.behind_proxy,
        language=current_language(),
    )
    port = 8080 if args.port is None else args.port
    try:
        asyncio.run(_serve(WebServer(config), args.host, port))
    finally:
        config.areas.close()
    return 0


def default_files_root() -> Path:
    """Like the SSH areas: outside VEILIG_HOME and fixed per user, so that a new start
    deletes what a killed server left (``FileAreas`` does that); one server per folder."""
    return Path(tempfile.gettempdir()) / f"veilig-web-{os.getuid()}"


async def _serve(server: WebServer, host: str, port: int) -> None:
    port = await server.start(host, port)
    print(_("veilig: web on http://{host}:{port}").format(host=host, port=port), flush=True)
    if server.config.public_url:
        people = _("People open {url}/open (messages) or {url}/write (write to us).")
        print(people.format(url=server.config.public_url), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # stop cleanly
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
