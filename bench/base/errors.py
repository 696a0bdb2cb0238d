"""One exception type per failure family. Every message names the file (or item) and the reason."""
from __future__ import annotations

import os


class BenchError(Exception):
    """Base of every error the suite raises on purpose."""


class ECGReadError(BenchError):
    """An ECG file could not be turned into a usable Signal.

    `kind` is a short machine-readable family name: "format" (unknown format, empty or missing file), "corrupt"
    (recognised but undecodable), "unsafe_xml", "too_large", "validation"; the message always starts with the
    file path.
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


class ECGCorruptError(ECGFormatError):
    """The format was recognised but its content does not decode: truncated, bad base64, broken structure."""

    kind = "corrupt"


class ECGTooLargeError(ECGReadError):
    """The file is larger than the reader's size bound; refused before any parsing."""

    kind = "too_large"


class ECGValidationError(ECGReadError):
    """Decoded, but not a usable ECG: NaN, flat or saturated leads, filler values, wrong units, too short...

    `check` names the failed check (e.g. "non_finite", "flat", "saturated", "filler", "amplitude", "too_short",
    "unknown_lead", "missing_lead", "missing_rate").
    """

    kind = "validation"

    def __init__(self, path, reason: str, check: str = "validation"):
        self.check = check
        super().__init__(path, reason)


class CohortError(BenchError):
    """A cohort source is misconfigured: missing folder, bad labels CSV (names the column / rows)."""


class GridError(BenchError):
    """A grid file is invalid (names the file and the key)."""


class ModelError(BenchError):
    """A model cannot be built as configured: an input shape it does not accept, an unknown depth, a weights file
    that is missing or does not fit the architecture, or pretrained weights that would need a download."""


class ExecutorError(BenchError):
    """An executor cannot run the grid as configured (e.g. parallel workers against a single-writer SQLite store,
    no cluster at the given address)."""


class ReportError(BenchError):
    """Tables or figures cannot be built: no MLflow store or no grid runs in the experiment (names both)."""


class UsageError(BenchError):
    """Command-line flags that cannot go together or are out of range (names the flags)."""


class DiskFullError(BenchError):
    """Not enough free space for a file of known size (names the path, the bytes needed and the bytes free);
    raised before the file is written, so a full disk never becomes a SIGBUS in a memory map."""


class TrackingError(BenchError):
    """The MLflow tracking store cannot be used as given (e.g. credentials written into the tracking URI)."""


class TrackedModelError(BenchError):
    """A model cannot be found in or loaded from MLflow: unknown run or experiment, unfinished run, no model logged
    (names the run or experiment)."""
