"""Errors a user can cause. The CLI prints their message on one line and exits 2."""

from __future__ import annotations

import errno
import os


class SaurusError(Exception):
    """Base class: something the user can fix (bad file, bad option, unknown character)."""


class DataError(SaurusError):
    """The training or evaluation data cannot be used (missing, empty, not UTF-8)."""


class VocabularyError(SaurusError):
    """Text holds a character the model has never seen."""


class ModelFileError(SaurusError):
    """A model file is missing, truncated, corrupt or not a saurus model."""


class OptionError(SaurusError):
    """An option is out of range (a zero hidden size, a negative count)."""


class TrainingError(SaurusError):
    """Training cannot go on (the weights diverged to NaN or infinity)."""


def os_reason(err: OSError) -> str:
    """An operating-system error's reason in lower-case words ("permission denied",
    "read-only file system", "no space left on device"), without Python's decorations."""
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if err.strerror:
        return err.strerror.lower()
    if err.errno:
        return os.strerror(err.errno).lower()
    return str(err) or "input/output error"
