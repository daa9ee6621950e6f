"""The console's session: a signed, HttpOnly, SameSite=Strict cookie holding the gRPC session
token from SignIn, the user's name, role and scope, the CSRF token of its forms and the chosen
language. Nothing is kept on the console's side: signing out revokes the token at the server.
"""

from __future__ import annotations

import hmac
import os
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

COOKIE = "fupin_console"
MAX_AGE_S = 8 * 3600  # as the server's sessions (registry/access/users.py SESSION)


@dataclass
class Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    token: str = ""
    user_id: str = ""
    username: str = ""
    name: str = ""
    role: str = ""  # admin, office, cooperative, platform, auditor
    scope: str = ""
    lang: str = ""  # chosen by the user; "" = the account's or the browser's
    account_lang: str = ""
    flash: str = ""  # a message key shown once

    @property
    def signed_in(self) -> bool:
        return bool(self.token)

    def csrf_ok(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(self.csrf, presented or "")


class Cookies:
    """Reads and writes the signed cookie."""

    def __init__(self, secret: str, *, secure: bool) -> None:
        self.serializer = URLSafeTimedSerializer(secret, salt="fupin-console")
        self.secure = secure

    def load(self, request: Request) -> Session:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return Session()
        try:
            data: dict[str, Any] = self.serializer.loads(raw, max_age=MAX_AGE_S)
            return Session(**data)
        except (BadSignature, TypeError):
            return Session()

    def save(self, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            self.serializer.dumps(asdict(session)),
            max_age=MAX_AGE_S,
            httponly=True,
            samesite="strict",
            secure=self.secure,
            path="/",
        )


def secret_key(path: Path) -> str:
    """The cookie-signing key in path, made (mode 600) on the first start."""
    if path.is_file():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key
