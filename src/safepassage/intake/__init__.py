"""Intake: registration files from registrars (plain CSV, ODK and KoboToolbox exports).

Pure parsing only; the shipped XLSForm (``registration.xlsx`` beside this module) is what
registrars load into ODK Collect or KoboCollect. The application layer does the importing.
"""

from __future__ import annotations

from safepassage.intake.registrations import (
    COLUMNS,
    FORM_ID,
    Duplicate,
    Parsed,
    Registration,
    RowError,
    age_band,
    parse_registrations,
)

__all__ = [
    "COLUMNS",
    "FORM_ID",
    "Duplicate",
    "Parsed",
    "Registration",
    "RowError",
    "age_band",
    "parse_registrations",
]
