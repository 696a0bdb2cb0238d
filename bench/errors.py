"""One exception type per failure family. Every message names the file (or item) and the reason."""
from __future__ import annotations

import os


class BenchError(Exception):
    """Base of every error the suite raises on purpose."""


class ECGReadError(BenchError):
    """An ECG file could not be turned into a usable Signal.

    `kind` is a short machine-readable family name (e.g. "format", "corrupt", "unsafe_xml", "validation"); the
    message always starts with the file path.
    """

    kind = "read"

    def __init__(self, path: str | os.PathLike | None, reason: str, kind: str | None = None):
        self.path = str(path) if path is not None else "<memory>"
        self.reason = reason
        if kind is not None:
            self.kind = kind
        super().__init__(f"{self.path}: {reason}")


class ECGFormatError(ECGReadError):
    """Unknown format, or bytes that do not decode in the detected format."""

    kind = "format"


class UnsafeXMLError(ECGReadError):
    """XML refused before or during parsing: external entities, entity expansion, DTDs, oversized input."""

    kind = "unsafe_xml"


class ECGValidationError(ECGReadError):
    """Decoded, but not a usable ECG: NaN, flat or saturated leads, filler values, wrong units, too short..."""

    kind = "validation"


class CohortError(BenchError):
    """A cohort source is misconfigured: missing folder, bad labels CSV (names the column / rows)."""


class GridError(BenchError):
    """A grid file is invalid (names the file and the key)."""
