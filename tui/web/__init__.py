"""``veilig serve web``: the guided dialogs in a web browser, one ``veilig`` process per tab.

- :mod:`tui.web.server`: the aiohttp server (pages, WebSocket, uploads, downloads,
  origin and host checks, security headers, limits).
- :mod:`tui.web.session`: one tab's process and the relay of Textual's web-driver
  protocol between it and the browser.
- :mod:`tui.web.driver`: the Textual driver inside that process.
- :mod:`tui.web.page`: the page, its words and its headers.
"""
