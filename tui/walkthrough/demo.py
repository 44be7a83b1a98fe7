"""``veilig demo``: play walkthrough scripts on the real apps, live or headless."""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from core.config import Settings
from core.context import Context
from core.i18n import _
from tui.app import VeiligApp
from tui.walkthrough.player import Player
from tui.walkthrough.script import ScriptError, Step, parse, sections

HEADLESS_SIZE = (120, 40)
log = logging.getLogger(__name__)


@dataclass
class DemoResult:
    ok: bool
    failure: str = ""
    steps: int = 0
    codes: int = 0
    messages: int = 0
    attachments: int = 0
    audit_entries: int = 0
    audit_intact: bool = False
    screenshots: int = 0

    def summary(self) -> str:
        if not self.ok:
            return _("The walkthrough stopped at {step}").format(step=self.failure)
        return "\n".join(
            [
                _("Walkthrough complete: {steps} steps.").format(steps=self.steps),
                _("  messages stored, end-to-end encrypted: {n}").format(n=self.messages),
                _("  attachments: {n}").format(n=self.attachments),
                _("  verification codes used: {n}").format(n=self.codes),
                _("  audit log: {n} entries, chain {state}").format(
                    n=self.audit_entries, state=_("verified") if self.audit_intact else _("BROKEN")
                ),
            ]
            + ([_("  screenshots: {n}").format(n=self.screenshots)] if self.screenshots else [])
        )


def _app_for(step: Step, ctx: Context, player: Player) -> VeiligApp:
    from core.desk import Desk  # noqa: F401 - the desk screens need it importable
    from core.recipient import Recipient
    from core.starter import Starter
    from tui.desk.login import LoginScreen
    from tui.recipient import RecipientScreen
    from tui.starter import StarterScreen

    org = Starter(ctx).organisation_name()
    kind = step.argument.split()[0] if step.argument else ""
    if kind == "start":
        return VeiligApp(ctx, StarterScreen(Starter(ctx), org))
    if kind == "desk":
        return VeiligApp(ctx, LoginScreen(ctx, org))
    if kind == "open":
        return VeiligApp(ctx, RecipientScreen(Recipient(ctx), org))
    raise ScriptError(f"{step}: unknown app {kind!r} (start, desk, open)")


def play(
    ctx: Context,
    settings: Settings,
    totp_secret: str,
    scripts: list[Path],
    *,
    headless: bool,
    speed: float = 1.0,
    screenshots: Path | None = None,
) -> DemoResult:
    """Play ``scripts`` in order; stop at the first step whose expectation fails."""
    files = Path(tempfile.mkdtemp(prefix="veilig-demo-files-"))
    try:
        return _play(ctx, settings, totp_secret, scripts, files, headless, speed, screenshots)
    finally:
        shutil.rmtree(files, ignore_errors=True)


def _play(
    ctx: Context,
    settings: Settings,
    totp_secret: str,
    scripts: list[Path],
    files: Path,
    headless: bool,
    speed: float,
    screenshots: Path | None,
) -> DemoResult:
    player = Player(
        settings=settings,
        totp_secret=totp_secret,
        files=files,
        speed=speed,
        screenshots=screenshots,
        deliver=ctx.outbox.deliver_due,
    )
    failure = ""
    try:
        plan = [section for script in scripts for section in sections(parse(script))]
    except ScriptError as exc:
        return DemoResult(ok=False, failure=str(exc))
    for app_step, steps in plan:
        try:
            app = _app_for(app_step, ctx, player)
        except ScriptError as exc:
            failure = str(exc)
            break

        async def autopilot(pilot, steps=steps, app=app) -> None:
            nonlocal failure
            try:
                await pilot.pause()
                await player.play(pilot, steps)
            except ScriptError as exc:
                failure = str(exc)
            except Exception as exc:  # any crash of a step names the step
                log.exception("walkthrough step failed")
                failure = f"{player.current}: {type(exc).__name__}"
            finally:
                app.exit()

        app.run(headless=headless, size=HEADLESS_SIZE if headless else None, auto_pilot=autopilot)
        if failure:
            break
    return _result(ctx, player, failure)


def _result(ctx: Context, player: Player, failure: str) -> DemoResult:
    with ctx.repo.transaction() as tx:
        messages = tx.messages(limit=10_000)
        problems = ctx.audit.verify(tx)
        entries = sum(1 for _entry in tx.audit_entries())
    return DemoResult(
        ok=not failure,
        failure=failure,
        steps=player.tally.steps,
        codes=player.tally.codes,
        messages=len(messages),
        attachments=sum(m.attachment_count for m in messages),
        audit_entries=entries,
        audit_intact=not problems,
        screenshots=len(player.tally.screenshots),
    )
