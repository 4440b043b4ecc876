"""The errors the package raises: one base class, one subclass per kind of refusal.

Every error raised from a server answer carries the server's ``code``, ``message`` and ``field``
(``{"error": {"code", "message", "field"}}``) and the HTTP ``status``; errors found locally, before
any request, carry the same code and message the server would have given.
"""
from __future__ import annotations

import email.utils
import time
from typing import Any, Optional

__all__ = [
    "TicketboothError",
    "NotFound",
    "Unauthorized",
    "Forbidden",
    "Invalid",
    "Conflict",
    "RateLimited",
    "ServerError",
    "NotCached",
    "IntegrityError",
]


class TicketboothError(Exception):
    """Base class of every error this package raises.

    Attributes:
        message: what went wrong, in the server's words when the server said it.
        code: the server's stable error code (``not_found``, ``invalid_metadata``, ...), or the
            code a local check uses; ``None`` when there is none.
        field: the metadata key, multipart part, parameter or tensor at fault, else ``None``.
        status: the HTTP status of the answer, or ``None`` for a local error.
    """

    def __init__(self, message: str, *, code: Optional[str] = None, field: Optional[str] = None,
                 status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.field = field
        self.status = status

    def __str__(self) -> str:
        # As the CLI prints it: "field: message (code)".
        text = f"{self.field}: {self.message}" if self.field else self.message
        if self.code:
            text += f" ({self.code})"
        return text

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(message={self.message!r}, code={self.code!r}, "
                f"field={self.field!r}, status={self.status!r})")


class NotFound(TicketboothError):
    """404: no such ticket (or token, or owner)."""


class Unauthorized(TicketboothError):
    """401: no token, or an unknown, revoked or expired one."""


class Forbidden(TicketboothError):
    """403: the token lacks the scope the action needs, or the ticket (or result) is someone else's."""


class Invalid(TicketboothError, ValueError):
    """The request or the file was refused: 400, 413, 415, 416 or 422 from the server, or the same
    check made locally before sending a byte (also raised by ``Ticket.apply(strict=True)`` for a
    missing, extra or mis-shaped tensor, named in ``field``). Also a :class:`ValueError`."""


class Conflict(TicketboothError):
    """409: the owner already has a ticket of that name, you already reported a result of that
    kind, dataset and seed on that ticket, or a token limit was hit."""


class RateLimited(TicketboothError):
    """429: too many requests or uploads; ``retry_after`` says how many seconds to wait."""

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ServerError(TicketboothError):
    """5xx: the server failed or is unavailable (503 carries ``retry_after``)."""

    def __init__(self, message: str, *, retry_after: Optional[float] = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class NotCached(TicketboothError):
    """Offline (``TICKETBOOTH_OFFLINE=1``) and the ticket is not in the local cache."""


class IntegrityError(TicketboothError):
    """The downloaded bytes do not have the sha256 the server announced; nothing was kept."""


def _retry_after(value: Optional[str]) -> Optional[float]:
    if not value:
        return None
    value = value.strip()
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def from_response(response: Any) -> TicketboothError:
    """The error for a ``requests.Response`` that is not a success."""
    status = response.status_code
    code = message = field = None
    try:
        body = response.json()
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            code, message, field = err.get("code"), err.get("message"), err.get("field")
    except ValueError:
        pass
    if not message:
        text = (response.text or "").strip()
        message = f"HTTP {status} {response.reason or ''}".strip() + (f": {text[:200]}" if text else "")
    kw = dict(code=code, field=field, status=status)
    retry = _retry_after(response.headers.get("Retry-After"))
    if status == 404:
        return NotFound(message, **kw)
    if status == 401:
        return Unauthorized(message, **kw)
    if status == 403:
        return Forbidden(message, **kw)
    if status in (400, 413, 415, 416, 422):
        return Invalid(message, **kw)
    if status == 409:
        return Conflict(message, **kw)
    if status == 429:
        return RateLimited(message, retry_after=retry, **kw)
    if status >= 500:
        return ServerError(message, retry_after=retry, **kw)
    return TicketboothError(message, **kw)
