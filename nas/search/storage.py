"""Where trials are recorded: an Optuna JournalStorage file (default, no server) or an SQLAlchemy URL.

Errors a user can fix (a malformed URL, a server that cannot be reached, a missing
database driver, a journal in a directory that does not exist) are `StorageError`s
with one line; nothing is created or changed when opening fails.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import optuna

from nas.errors import WeftError

optuna.logging.set_verbosity(optuna.logging.WARNING)  # trials are reported by the progress bar

JOURNAL_FILE = "search.journal"
_URL_HELP = "allowed: a journal file path, or an SQLAlchemy URL such as sqlite:///FILE or postgresql://USER@HOST:PORT/DB"


class StorageError(WeftError):
    """A trial storage cannot be opened: malformed URL, unreachable server, missing driver or directory."""


def is_url(spec: str) -> bool:
    return "://" in str(spec)


def open_storage(spec: str | Path, *, writer: bool = False) -> optuna.storages.BaseStorage:
    """A journal file at `spec`, or the relational database at the SQLAlchemy URL `spec`. A `writer` (a
    search, not a plot or an export) first repairs a journal whose last record was cut short."""
    if not is_url(spec):
        return _journal_storage(Path(spec), writer)
    import sqlalchemy
    from sqlalchemy.engine import make_url

    try:
        url = make_url(str(spec))
        url.get_dialect()
    except (sqlalchemy.exc.ArgumentError, sqlalchemy.exc.NoSuchModuleError, ValueError) as error:
        raise StorageError(f"storage URL {_redact(spec)} is malformed ({_first_line(error)}); {_URL_HELP}") from None
    except ImportError as error:
        raise StorageError(f"storage URL {_redact(spec)} needs a database driver that is not installed "
                           f"({_first_line(error)}); install it (for PostgreSQL: pip install 'psycopg[binary]')") from None
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise StorageError(f"storage URL {_redact(spec)} is an in-memory database: its trials would be lost when "
                           "the search ends; give a file, sqlite:///FILE")
    try:
        return _rdb_storage(str(spec), url.get_backend_name())
    except ImportError as error:
        raise StorageError(f"storage URL {_redact(spec)} needs a database driver that is not installed "
                           f"({_first_line(error)}); install it (for PostgreSQL: pip install 'psycopg[binary]')") from None
    except (sqlalchemy.exc.SQLAlchemyError, OSError) as error:
        raise StorageError(f"cannot reach storage {_redact(spec)}: {_first_line(error)}") from None


def _journal_storage(path: Path, writer: bool) -> optuna.storages.JournalStorage:
    """The journal at `path`, refused when it is a directory or some other file."""
    if not path.parent.is_dir():
        raise StorageError(f"journal storage {path}: directory {path.parent} does not exist")
    if path.is_dir():
        raise StorageError(f"journal storage {path} is a directory; give a journal file path, {_URL_HELP}")
    if path.exists() and path.stat().st_size:
        _check_journal(path)
        if writer:
            _drop_partial_record(path)
    try:
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    except (ValueError, OSError) as error:  # a damaged record inside the journal
        raise StorageError(f"journal storage {path} cannot be read ({_first_line(error)})") from None


def _check_journal(path: Path) -> None:
    """Refuse a file that is not an Optuna journal (an SQLite file given as a path, a user's text file)
    before anything is appended to it; its first record may be cut short (a crash while writing it)."""
    with path.open("rb") as file:
        first = file.readline()
    try:
        record = json.loads(first)
        journal = isinstance(record, dict) and "op_code" in record
    except ValueError:  # UnicodeDecodeError is a ValueError too
        journal = not first.endswith(b"\n") and first.startswith(b'{"op_code":')
    if not journal:
        hint = f" (an SQLite database? give sqlite:///{path})" if first.startswith(b"SQLite format") else ""
        raise StorageError(f"journal storage {path} is not an Optuna journal{hint}; {_URL_HELP}")


def _drop_partial_record(path: Path) -> None:
    """Cut a last record that a crash or a full disk left half-written: appending after it would make the
    journal unreadable from then on. Optuna appends under its journal lock, so under that lock a last line
    without its newline is no write in progress but one that ended mid-way."""
    from optuna.storages.journal import JournalFileSymlinkLock
    from optuna.storages.journal._file import get_lock_file

    with path.open("rb") as file:
        if file.seek(0, 2) == 0 or (file.seek(-1, 2), file.read(1))[1] == b"\n":
            return  # the usual case: nothing to cut, and a journal on a read-only mount stays readable
    try:
        with get_lock_file(JournalFileSymlinkLock(str(path))), path.open("rb+") as file:
            data_end = file.seek(0, 2)
            file.seek(-1, 2)
            if file.read(1) == b"\n":
                return  # a write that was in progress when first looked at, finished since
            cut = _end_of_last_line(file, data_end)
            file.truncate(cut)
    except OSError as error:
        raise StorageError(f"journal storage {path}: its last record was cut short and cannot be dropped "
                           f"({_first_line(error)}); copy the journal somewhere writable") from None
    print(f"journal storage {path}: its last record was cut short ({data_end - cut} bytes, a write interrupted "
          "by a crash or a full disk); dropped it, the records before it are kept", file=sys.stderr)


def _end_of_last_line(file, data_end: int, block: int = 1 << 16) -> int:
    """The offset just past the file's last newline (0 when it has none)."""
    position = data_end
    while position > 0:
        start = max(0, position - block)
        file.seek(start)
        newline = file.read(position - start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return 0


def _rdb_storage(url: str, backend: str, attempts: int = 5) -> optuna.storages.RDBStorage:
    """RDBStorage; retried when workers starting together race to create the tables."""
    import sqlalchemy

    for attempt in range(attempts):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=_engine_kwargs(backend))
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))  # another process created them meanwhile: the next try sees them


def _engine_kwargs(backend: str) -> dict:
    if backend == "postgresql":
        return {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    if backend == "sqlite":
        return {"connect_args": {"timeout": 60}}
    return {}


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _redact(spec) -> str:
    """The URL without its password."""
    try:
        from sqlalchemy.engine import make_url
        return make_url(str(spec)).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as given, it has no parseable password
        return repr(str(spec))
