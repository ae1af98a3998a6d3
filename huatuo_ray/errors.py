"""The error family every step raises for problems a user can fix; the CLI shows any of them as one message.

Anything else that escapes a command is a bug and keeps its traceback.
"""

from __future__ import annotations


class HuatuoError(Exception):
    """Base of the errors shown as ``error: <message>`` without a traceback."""


class RecipeError(HuatuoError, ValueError):
    """A recipe that cannot be loaded or validated; the message names the key and the value."""


class InputError(HuatuoError, ValueError):
    """An input that is missing, unreadable, incomplete or produced by another recipe; names what to run."""


class InputReadError(HuatuoError, RuntimeError):
    """Reading an input failed for a reason outside its bytes (an I/O error of the file system: EIO, ESTALE, a
    vanished file): the work unit fails, Ray retries it, and if it still fails it stays pending for the rerun.

    Damaged data (a truncated or corrupt compressed stream, malformed records) is never this: it is quarantined.
    """


class OutputLocked(HuatuoError, RuntimeError):
    """Another run holds the lock of a step's output directory; the message names its host and pid."""


class OutputMismatch(HuatuoError, RuntimeError):
    """An output directory written with other settings or from another input (resuming would mix the two)."""


class ModelNotFound(HuatuoError, ValueError):
    """A model, tokenizer or classifier named by the recipe that is not on this machine."""


class LedgerError(HuatuoError, RuntimeError):
    """Counts that do not add up: a record was lost or double counted."""


class SetupError(HuatuoError, ValueError):
    """A step that cannot start with these settings (bad paths, inconsistent batch arithmetic, a changed run)."""


class ServerError(HuatuoError, RuntimeError):
    """The LLM server could not be started or died."""


class Incomplete(HuatuoError, RuntimeError):
    """A step that ran through but left work pending (e.g. LLM errors to retry); rerunning finishes it."""
