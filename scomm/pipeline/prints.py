"""A booking's prints as the messages carry them: base64 templates by finger position."""

from __future__ import annotations

import base64

from scomm.biometrics.template import Template
from scomm.errors import InputError


def encode_fingers(fingers: dict[int, Template]) -> dict[str, str]:
    from scomm.biometrics.formats import to_bytes

    return {str(f): base64.b64encode(to_bytes(t)).decode() for f, t in fingers.items()}


def decode_fingers(encoded: dict[str, str], where: str) -> dict[int, Template]:
    from scomm.biometrics.formats import from_bytes

    out = {}
    for f, b in encoded.items():
        try:
            position, data = int(f), base64.b64decode(b, validate=True)
        except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError
            raise InputError(where, f"finger {f!r}: not a base64 template ({exc})") from None
        out[position] = from_bytes(data, f"{where}, finger {f}")
    return out
