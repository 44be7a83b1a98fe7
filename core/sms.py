"""Where text messages go: a file (embedded default), an HTTP JSON gateway, or Twilio.

- unset ``VEILIG_SMS_URL``: one JSON line per SMS in ``VEILIG_HOME/sms.log`` (0600);
- ``http(s)://host/path``: POST ``{"to": "+31…", "body": "…"}``; any 2xx is success;
- ``twilio://ACCOUNT_SID:AUTH_TOKEN@api.twilio.com/?from=%2B31…``: Twilio's Messages API
  (form-encoded To/From/Body, HTTP basic auth with the account SID and auth token;
  ``twilio+http://`` talks plain HTTP to a local test double).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import urllib.parse
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from core.errors import InvalidInput
from core.transports import DeliveryFailed

if TYPE_CHECKING:
    import urllib.request


@dataclass(frozen=True)
class Sms:
    to: str  # E.164
    body: str = field(repr=False)  # holds the code: never in a traceback
    message_id: str  # stable across retries

    def to_json(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Sms:
        return cls(**json.loads(raw))


class SmsTransport(Protocol):
    async def send(self, sms: Sms) -> None: ...


@dataclass
class SmsFileTransport:
    path: Path

    async def send(self, sms: Sms) -> None:
        if self.path.exists() and sms.message_id in self.path.read_text("utf-8"):
            return  # delivered before a crash cut the bookkeeping short
        line = {"at": datetime.now(UTC).isoformat(), **asdict(sms)}
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")


def _post(request: urllib.request.Request, timeout: float) -> None:
    import urllib.error
    import urllib.request  # on first use: http.client is not needed for the first screen

    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - URL is the operator's
            if not 200 <= response.status < 300:
                raise DeliveryFailed(f"HTTP {response.status}")
    except urllib.error.HTTPError as exc:
        raise DeliveryFailed(f"HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise DeliveryFailed(type(exc).__name__) from None


@dataclass
class SmsHttpTransport:
    url: str = field(repr=False)  # may carry a token: never in a traceback
    timeout: float = 15.0

    async def send(self, sms: Sms) -> None:
        import urllib.request

        request = urllib.request.Request(  # noqa: S310
            self.url,
            data=json.dumps({"to": sms.to, "body": sms.body}).encode(),
            headers={"Content-Type": "application/json", "Idempotency-Key": sms.message_id},
            method="POST",
        )
        await asyncio.to_thread(_post, request, self.timeout)


@dataclass
class TwilioTransport:
    url: str = field(repr=False)  # may carry a token: never in a traceback
    timeout: float = 15.0

    def _request(self, sms: Sms) -> urllib.request.Request:
        import urllib.request

        parts = urllib.parse.urlsplit(self.url)
        sender = urllib.parse.parse_qs(parts.query).get("from", [""])[0]
        if not (parts.username and parts.password and parts.hostname and sender):
            raise InvalidInput("twilio:// needs ACCOUNT_SID:AUTH_TOKEN@host/?from=+31…")
        scheme = "http" if parts.scheme == "twilio+http" else "https"
        host = parts.hostname + (f":{parts.port}" if parts.port else "")
        sid = urllib.parse.unquote(parts.username)
        token = urllib.parse.unquote(parts.password)
        endpoint = f"{scheme}://{host}/2010-04-01/Accounts/{urllib.parse.quote(sid)}/Messages.json"
        auth = base64.b64encode(f"{sid}:{token}".encode()).decode()
        return urllib.request.Request(  # noqa: S310
            endpoint,
            data=urllib.parse.urlencode({"To": sms.to, "From": sender, "Body": sms.body}).encode(),
            headers={
                "Authorization": f"Basic {auth}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            method="POST",
        )

    async def send(self, sms: Sms) -> None:
        await asyncio.to_thread(_post, self._request(sms), self.timeout)


def sms_transport(url: str | None, log_path: Path) -> SmsTransport:
    if not url:
        return SmsFileTransport(log_path)
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme in ("http", "https"):
        return SmsHttpTransport(url)
    if scheme in ("twilio", "twilio+http"):
        return TwilioTransport(url)
    raise InvalidInput(f"VEILIG_SMS_URL: unknown scheme {scheme!r} (http, https, twilio)")
