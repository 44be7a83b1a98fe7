"""``veilig serve web`` under 1,000 connects and disconnects on loopback: no process, file
area, descriptor or memory is left behind (textual-serve has had reports of leaked
processes; this is the check that ours does not)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import aiohttp
import pytest

from tests.web_helpers import WebServer, open_fds, rss_kib, wait_empty, wait_gone

pytestmark = pytest.mark.slow  # 1,000 sessions, each a process started and ended

CYCLES = 1000
WARM_UP = 100
FULL_START_EVERY = 50  # every 50th session waits until the app has drawn its first screen


async def cycles(server: WebServer, count: int, first: int) -> int:
    """``count`` page loads, each with its WebSocket opened and closed. Returns how often
    the per-address limit made a page wait for an earlier session to finish ending."""
    waits = 0
    async with aiohttp.ClientSession() as client:
        for n in range(first, first + count):
            while True:
                async with client.get(server.url + "/open") as page:
                    if page.status == 503:  # 8 sessions of this address still ending
                        waits += 1
                        await asyncio.to_thread(wait_gone, server.children()[:1], 5.0)
                        continue
                    assert page.status == 200
                    ticket = re.search(r'/ws/([^"]+)"', await page.text())[1]
                break
            ws = await client.ws_connect(f"{server.url}/ws/{ticket}", origin=server.url)
            if n % FULL_START_EVERY == 0:
                message = await asyncio.wait_for(ws.receive(), 60)
                assert message.type is aiohttp.WSMsgType.BINARY
            await ws.close()
    return waits


def test_a_thousand_connects_and_disconnects_leave_the_server_flat(
    home: Path, tmp_path: Path
) -> None:
    server = WebServer(home, tmp_path / "areas", env={})
    try:
        started = time.monotonic()
        asyncio.run(cycles(server, WARM_UP, 0))
        wait_gone(server.children(), 10.0)
        rss_before, fds_before = rss_kib(server.pid), open_fds(server.pid)
        waits = asyncio.run(cycles(server, CYCLES - WARM_UP, WARM_UP))
        wait_gone(server.children(), 10.0)
        wait_empty(tmp_path / "areas", 5.0)
        rss_after, fds_after = rss_kib(server.pid), open_fds(server.pid)
        elapsed = time.monotonic() - started
        print(
            f"\n{CYCLES} cycles in {elapsed:.0f} s ({waits} waits for the per-address limit); "
            f"server RSS {rss_before} KiB after {WARM_UP}, {rss_after} KiB after {CYCLES}; "
            f"descriptors {fds_before} -> {fds_after}"
        )
        assert server.children() == []
        assert fds_after <= fds_before + 2
        assert rss_after - rss_before < 8 * 1024, (rss_before, rss_after)
    finally:
        log = server.stop()
    assert "Traceback" not in log, log[-3000:]
