"""How a command-line edge ends: one line on stderr and an exit code, never a traceback.

`run_guarded` wraps the body of the `spikepipe` command and of every benchmark script. What
it turns into a line (the program name first, then what failed, the file or value at fault
and the fix) and the exit code (`Exit`, documented in README.md):

- bad input (`workloads.ConfigError`): 2
- training stopped because the loss diverged (`models.train.TrainingDiverged`): 3
- the operating system refused (`OSError`: a path that cannot be read or written, a full
  disk; `MemoryError`): 74
- Ctrl-C (`KeyboardInterrupt`, or the `SystemError` numba wraps one in): 130
- anything else is a defect: "internal error: ...; please report it with the command line",
  70, or the traceback itself when the environment sets SPIKEPIPE_DEBUG=1.

Paths in OS errors come from `workloads.errors.path_error`, which records what was being
done with the file ("read", "write"); `describe_os_error` turns that into the line's fix.

`OneLineParser` is the parser of every such edge; its `--help` shows each option's default
once (`DefaultsFormatter`).
"""
from __future__ import annotations

import argparse
import errno
import os
import re
import sys
from enum import IntEnum
from typing import Callable, NoReturn

from models.train import TrainingDiverged
from workloads.errors import ConfigError

DEBUG_ENV = "SPIKEPIPE_DEBUG"


class Exit(IntEnum):
    """Exit codes of `spikepipe` and the benchmark scripts (README.md, 'Exit codes')."""

    OK = 0
    CHECK_FAILED = 1  # ran, and a result did not match its reference (validate, --emulate)
    BAD_INPUT = 2
    DIVERGED = 3
    INTERNAL = 70  # sysexits EX_SOFTWARE
    OS_ERROR = 74  # sysexits EX_IOERR
    INTERRUPTED = 130  # 128 + SIGINT


STATES_DEFAULT = re.compile(r"(?<!['\w])default(?![\w'])", re.IGNORECASE)
"""The word 'default' in a help text, unquoted: the text states the default itself ('default' in
quotes names a choice, as in `train --init`)."""


class DefaultsFormatter(argparse.HelpFormatter):
    """Appends "(default: X)" to the help of every option that has a default and whose help does not
    state one; flags, required options and those defaulting to None (the help says what that means)
    show none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help
        if (text is None or action.default is None or action.default is argparse.SUPPRESS or action.required
                or action.nargs == 0 or STATES_DEFAULT.search(text)):
            return text
        return f"{text} (default: %(default)s)"


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line naming the option and where help is (exit 2),
    and whose help shows every option's default (`DefaultsFormatter`; its subparsers inherit both)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        self.exit(Exit.BAD_INPUT, f"{self.prog}: error: {message}; see {self.prog} --help\n")


_FIXES = {
    errno.ENOSPC: "free some space or choose a path on another disk",
    errno.EDQUOT: "free some space or choose a path on another disk",
    errno.EISDIR: "give a file name, not a directory",
    errno.ENOTDIR: "a part of the path is a file, not a directory; choose another path",
    errno.EROFS: "the file system is read-only; choose a writable path",
}


def describe_os_error(exc: OSError) -> str:
    """'cannot write /x: No such file or directory; choose a writable path' and the like."""
    action = getattr(exc, "action", None) or "access"
    name = exc.filename if exc.filename is not None else None
    reason = _flat(exc.strerror or str(exc) or type(exc).__name__)
    fix = _FIXES.get(exc.errno) or ("choose a writable path" if action in ("write", "create") else
                                    "check the path and its permissions")
    what = f"cannot {action} {name}" if name is not None else f"cannot {action} a file"
    return f"{what}: {reason}; {fix}"


def is_interrupt(exc: BaseException) -> bool:
    """A KeyboardInterrupt, or a SystemError that numba raised around one (Ctrl-C inside a kernel)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return True
        if not isinstance(exc, SystemError):
            return False
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def run_guarded(prog: str, body: Callable[[], int | None]) -> int:
    """Run `body` and return its exit code; every failure becomes one line on stderr prefixed `prog`."""
    def say(text: str) -> None:
        print(f"{prog}: {text}", file=sys.stderr, flush=True)

    try:
        return int(body() or 0)
    except BrokenPipeError:  # output piped into `head` and the like: not an error
        try:
            sys.stdout = open(os.devnull, "w")  # the interpreter's final flush must not fail either
        except OSError:
            pass
        return Exit.OK
    except ConfigError as exc:
        say(f"error: {_flat(str(exc))}")
        return Exit.BAD_INPUT
    except TrainingDiverged as exc:
        say(f"stopped: {_flat(str(exc))}")
        return Exit.DIVERGED
    except MemoryError as exc:
        detail = f" ({exc})" if str(exc) else ""
        say(f"error: out of memory{detail}; use a smaller --batch or network, or a larger machine")
        return Exit.OS_ERROR
    except OSError as exc:
        say(f"error: {describe_os_error(exc)}")
        return Exit.OS_ERROR
    except BaseException as exc:
        if is_interrupt(exc):
            say("interrupted")
            return Exit.INTERRUPTED
        if not isinstance(exc, Exception) or os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise  # SystemExit and the like; or the traceback was asked for
        say(f"internal error: {type(exc).__name__}: {_flat(str(exc), 300)}; please report it with the command "
            f"line (set {DEBUG_ENV}=1 for the traceback)")
        return Exit.INTERNAL


def _flat(text: str, limit: int | None = None) -> str:
    """`text` on one line (at most `limit` characters)."""
    flat = " ".join(text.split())
    return flat if limit is None or len(flat) <= limit else flat[:limit - 3] + "..."
