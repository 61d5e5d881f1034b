"""Short booking codes a guest can read over the phone.

A booking's ``reference`` stays the unguessable key of its public URL; the ``code`` is for people:
seven characters from an alphabet without look-alikes (no 0/O, 1/I/L, and no U/V pair), unique
per restaurant. 30 ** 7 is about 2.2e10 codes, so a collision is astronomically rare; the
restaurant's unique constraint still catches one, and the booking is then tried again once with a
new code (``retry_on_code_collision``).
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.db import IntegrityError

from bookings.errors import LockTimeout

CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 7
CODE_CONSTRAINT = "booking_unique_code"

_SEPARATORS = re.compile(r"[\s\-_.·–—]+")

P = ParamSpec("P")
R = TypeVar("R")


def _random_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def new_booking_code() -> str:
    """Return a fresh short code (the model field's default, so it rides in the booking's INSERT)."""
    # Looked up at call time, so a test can force a collision by replacing _random_code.
    return _random_code()


def normalize_code(text: str) -> str | None:
    """Return the canonical code staff or a guest typed ("k7m-4qpx", "K7M 4QPX"), or None if it is not one."""
    candidate = _SEPARATORS.sub("", text or "").upper()
    if len(candidate) == CODE_LENGTH and all(ch in CODE_ALPHABET for ch in candidate):
        return candidate
    return None


def format_code(code: str) -> str:
    """Return the code grouped three and four ("K7M-4QPX"), the way it is shown and read aloud."""
    return f"{code[:3]}-{code[3:]}" if len(code) == CODE_LENGTH else code


def is_code_collision(exc: BaseException) -> bool:
    """Return whether an IntegrityError is the per-restaurant code constraint (not any other)."""
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    return isinstance(exc, IntegrityError) and getattr(diag, "constraint_name", None) == CODE_CONSTRAINT


def retry_on_code_collision(service: Callable[P, R]) -> Callable[P, R]:
    """Run a booking service again, once, when its new booking drew a code already in use.

    The service's transaction has rolled back by then (its claim, lock and rows included), and a
    new ``Booking`` draws a new code, so the retry is the whole booking again. A second collision
    in a row is not retried again: the caller is asked to retry (BUSY_RETRY), as for a lost race.
    """

    @functools.wraps(service)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return service(*args, **kwargs)
        except IntegrityError as exc:
            if not is_code_collision(exc):
                raise
        try:
            return service(*args, **kwargs)
        except IntegrityError as exc:
            if is_code_collision(exc):
                raise LockTimeout() from exc  # 503 + Retry-After, never a 500
            raise

    return run
