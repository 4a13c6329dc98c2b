"""IBAN shape and checksum. Changing a supplier's bank account is the classic invoice
fraud, so a mistyped or invented IBAN must be refused before anyone approves it."""

from __future__ import annotations

import re

_SHAPE = re.compile(r"^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$")


def normalize_iban(raw: str) -> str:
    """Accept the printed form (spaces, lower case) and return the electronic form, or
    raise ``ValueError`` saying what is wrong."""
    iban = raw.replace(" ", "").upper()
    if not _SHAPE.match(iban):
        raise ValueError(
            "IBAN must be a 2-letter country code, 2 check digits and 11-30 letters or digits"
        )
    if _mod97(iban[4:] + iban[:4]) != 1:
        raise ValueError(f"IBAN {iban} fails its checksum; check for a typo")
    return iban


def with_check_digits(country: str, bban: str) -> str:
    """Build a valid IBAN from a country code and national account number (for seed data)."""
    check = 98 - _mod97(bban + country + "00")
    return f"{country}{check:02d}{bban}"


def _mod97(text: str) -> int:
    digits = "".join(str(int(ch, 36)) for ch in text)
    return int(digits) % 97
