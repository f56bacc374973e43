"""One way to word rejection reasons, so that they all read alike:
"Expected to <do X> with key '<key>', but <what was found>"."""

from __future__ import annotations


def expected(action: str, but: str, key: int | str | None = None) -> str:
    subject = f" with key '{key}'" if key is not None else ""
    return f"Expected to {action}{subject}, but {but}"


class RejectionError(Exception):
    """Raised inside processing to reject the current command (a value, not a bug)."""

    def __init__(self, rejection_type: int, reason: str) -> None:
        super().__init__(reason)
        self.rejection_type = rejection_type
        self.reason = reason
