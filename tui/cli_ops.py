"""The service commands of `veilig`: serve, outbox, backup, restore; apart from tui.cli,
which parses and runs the dialogs."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import logging
import sys

from core.config import Settings
from core.i18n import _, format_datetime, ngettext

OUTBOX_WATCH_SECONDS = 5  # `veilig outbox --watch`: how often to look for due mail


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    if args.protocol == "web":
        from tui.web.run import serve_web

        return serve_web(args, settings)
    import signal
    import socket
    from pathlib import Path

    from core.mail import WaysIn
    from tui.factory import make_context
    from tui.ssh.files import FileAreas
    from tui.ssh.server import Hub, host_fingerprint, start_server, stop_server

    make_context(settings)  # refuses a home that is not set up, before listening
    logging.getLogger().setLevel(logging.INFO)  # a server: its log goes to stderr
    logging.getLogger("asyncssh").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the staff key checks open the database
    public = args.public_host or (socket.getfqdn() if args.host in ("0.0.0.0", "::") else args.host)  # noqa: S104
    if args.public_host:
        WaysIn(ssh=public)  # the e-mails will name it: refuse one that is not a host name
    hub = Hub(
        home=settings.home,
        areas=FileAreas(Path(args.files) if args.files else None),
        public_host=public,
        settings=settings,
        advertise=bool(args.public_host),
    )

    async def run() -> None:
        server = await start_server(hub, args.host, 2222 if args.port is None else args.port)
        print(
            _("veilig: SSH on {host}:{port}, host key {fingerprint}").format(
                host=args.host, port=hub.port, fingerprint=host_fingerprint(settings.home)
            ),
            flush=True,
        )
        guests = _("Guests: ssh -p {port} guest@{host}").format(port=hub.port, host=public)
        print(guests, flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGHUP):  # stop cleanly: sessions, areas
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await stop_server(hub, server)

    try:
        asyncio.run(run())
    finally:
        hub.areas.close()
    return 0

    return 0


def cmd_outbox(args: argparse.Namespace, settings: Settings) -> int:
    from core.retention import Retention
    from tui.factory import make_context

    ctx = make_context(settings)
    sweep_every = 3600 // OUTBOX_WATCH_SECONDS
    if args.watch:
        print(
            _(
                "Delivering every {n} seconds; a line only when something changes. Ctrl+C stops."
            ).format(n=OUTBOX_WATCH_SECONDS),
            flush=True,
        )

    async def run() -> int:
        last: list[str] | None = None
        for round_ in itertools.count():
            if round_ % sweep_every == 0:
                ctx.sweep_orphan_blobs()
                # The daily purge and the signed audit head (once a day, whoever runs it).
                purged = Retention(ctx).run_if_due()
                if purged is not None and purged.purged:
                    print(_("purged {n} conversations").format(n=len(purged.purged)))
            report = await ctx.outbox.deliver_due()
            retrying = ctx.outbox.retrying()
            lines = [
                _("Sent: {sent}, failed: {failed}, waiting: {pending}").format(
                    sent=report.sent, failed=report.failed, pending=report.pending
                )
            ] + [
                "  "
                + _("{channel}: {n} attempts, last error {error}, next try {when}").format(
                    channel=item.channel,
                    n=item.attempts,
                    error=item.last_error,
                    when=format_datetime(item.next_attempt_at),
                )
                for item in retrying
            ]
            # Watching, a round that changed nothing prints nothing: what was sent or
            # failed is news, and so is a different queue; "sent 0" every 5 s is not.
            if not args.watch or report.sent or report.failed or lines != last:
                print("\n".join(lines), flush=True)
            last = lines
            if not args.watch:
                # Non-zero while mail is stuck, so a cron job or monitor notices an outage.
                return 0 if report.failed == 0 and not retrying else 1
            await asyncio.sleep(OUTBOX_WATCH_SECONDS)
        return 0

    return asyncio.run(run())


def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from storage.backup import backup, save_server_key

    dest = Path(args.dest)
    report = backup(settings, dest)
    print(
        ngettext(
            "Backed up the {engine} database and {n} sealed file into {dest} ({size} bytes).",
            "Backed up the {engine} database and {n} sealed files into {dest} ({size} bytes).",
            report.blobs,
        ).format(engine=report.engine, n=report.blobs, dest=dest, size=report.size)
    )
    if args.server_key:
        save_server_key(settings, dest, Path(args.server_key))
        print(
            _("server.key copied to {path}: store it apart from the backup.").format(
                path=args.server_key
            )
        )
    else:
        print(
            _(
                "Not in the backup: server.key (copy {path} somewhere else, or use --server-key)"
                " and the recovery key (never on this host)."
            ).format(path=settings.home / "server.key")
        )
    return 0


def cmd_restore(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from storage.backup import restore
    from tui.factory import make_context

    blobs = restore(settings, Path(args.src), Path(args.server_key))
    ctx = make_context(settings)  # migrates a backup from an older version
    with ctx.repo.transaction() as tx:
        missing = [b for b in tx.blob_ids() if not (settings.blob_dir / b[:2] / b).exists()]
        problems = ctx.audit.verify(tx)
    for problem in problems:
        print(_("veilig audit: {problem}").format(problem=problem), file=sys.stderr)
    print(
        ngettext(
            "Restored into {home}: {n} sealed file.",
            "Restored into {home}: {n} sealed files.",
            blobs,
        ).format(home=settings.home, n=blobs)
    )
    if missing or problems:
        print(_("The restored home is NOT intact: run `veilig audit verify`."))
        return 1
    print(_("Every message has its sealed files and the audit log is intact."))
    return 0
