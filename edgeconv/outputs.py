"""Publishing files into the user's folders without ever losing one of theirs.

Every folder edgeconv writes into gets a manifest, `.edgeconv-manifest.json`: for each file
edgeconv wrote there, its sha256 and the jobs that wrote it (a job is a command and a model
name, say `compile:kws`; two models compiled into one folder share the runtime files). A file
edgeconv must write counts as its own only if the manifest lists it and its content is still
what was written; anything else at that path is the user's, and publishing refuses (naming
the file) unless `force`. Everything is checked before anything is written.

A publication then writes each file to a hidden temporary file in its folder and renames it
over the target (atomic), removes the job's stale files (those only it owned and nobody
edited since) and rewrites the manifest. That commit runs with SIGINT and SIGTERM blocked, so
an interrupt leaves the folders either as they were or fully updated; temporary files and
folders created for the publication are removed on every other path.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import secrets
import signal
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from edgeconv.frontend.ir import ModelError

MANIFEST = ".edgeconv-manifest.json"
MANIFEST_FORMAT = 1
TEMP_MARK = ".edgeconv-tmp-"
COMMIT_SIGNALS = {signal.SIGINT, signal.SIGTERM}


class OutputError(ModelError):
    """An output cannot be written without harming a user's file, or at all (exit 2)."""


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived. A BaseException, so that `except Exception` in the code it
    interrupts does not swallow it and every `finally` still runs. `committed` lists the
    folders whose publication had completed when the signal was delivered."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.committed: list[Path] = []


class _CommitState:
    """Whether a commit is running, and the signals that arrived during it. A signal whose
    Python handler runs just after the mask went up (it arrived just before) is deferred too."""

    active = False
    deferred: list[int] = []


def raise_interrupted(signum: int, frame) -> None:  # a signal handler
    if _CommitState.active:
        _CommitState.deferred.append(signum)
        return
    raise Interrupted(signum)


def install_signal_handlers() -> None:
    """SIGINT and SIGTERM raise Interrupted (the command line installs this)."""
    for sig in COMMIT_SIGNALS:
        signal.signal(sig, raise_interrupted)


@dataclass
class FolderWrite:
    """What one job writes into one folder: file name -> content."""

    folder: Path
    job: str
    files: dict[str, bytes]


@dataclass
class _Entry:
    sha256: str
    jobs: set[str] = field(default_factory=set)


@dataclass
class _Plan:
    write: FolderWrite
    manifest: dict[str, _Entry]
    stale: list[str]  # files to delete at commit
    temps: dict[str, Path] = field(default_factory=dict)  # file name -> its temporary file
    manifest_temp: Path | None = None
    committed: bool = False


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def file_mode() -> int:
    """The mode a new file gets from open(): 0o666 less the process umask."""
    return 0o666 & ~_umask()


def _umask() -> int:
    try:  # Linux states it without changing it (os.umask would, for every thread).
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def describe_os_error(exc: OSError, path: Path | str | None = None) -> str:
    """An OSError as a sentence about the path."""
    where = path if path is not None else (exc.filename or "a file")
    reasons = {
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOSPC: "no space left on the device",
        errno.EDQUOT: "disk quota exceeded",
        errno.ENOTDIR: "a part of this path is a file, not a folder",
        errno.EEXIST: "already exists",
        errno.EISDIR: "is a folder",
        errno.ENOENT: "no such file or folder",
        errno.EROFS: "the file system is read-only",
        errno.ENAMETOOLONG: "the name is too long",
        errno.EXDEV: "cannot move files across file systems",
    }
    reason = reasons.get(exc.errno) or (exc.strerror or "cannot be written").lower()
    return f"{where}: {reason}"


def _read_manifest(folder: Path, force: bool) -> dict[str, _Entry]:
    path = folder / MANIFEST
    if not path.exists():
        return {}
    try:
        raw = json.loads(path.read_text())
        return {str(name): _Entry(str(e["sha256"]), {str(j) for j in e["jobs"]}) for name, e in raw["files"].items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        if force:
            return {}
        raise OutputError(f"{path} is not an edgeconv manifest it can read; --force replaces it") from None


def _manifest_text(manifest: dict[str, _Entry]) -> str:
    files = {name: {"sha256": e.sha256, "jobs": sorted(e.jobs)} for name, e in sorted(manifest.items())}
    return json.dumps({"format": MANIFEST_FORMAT, "written_by": "edgeconv", "files": files}, indent=1) + "\n"


def _same_file(a: Path, protected: list[Path]) -> bool:
    return any(os.path.exists(p) and a.exists() and os.path.samefile(a, p) for p in protected)


def _existing_ancestor(folder: Path) -> Path:
    p = folder.absolute()
    while not os.path.lexists(p):
        p = p.parent
    return p


def _plan(write: FolderWrite, force: bool, protected: list[Path]) -> _Plan:
    folder = write.folder
    if os.path.lexists(folder) and not folder.is_dir():
        raise OutputError(f"{folder} exists and is not a folder; give -o a folder")
    anchor = _existing_ancestor(folder)
    if not anchor.is_dir():
        raise OutputError(f"{folder}: {anchor} is a file, not a folder")
    manifest = _read_manifest(folder, force) if folder.is_dir() else {}
    for name in write.files:
        target = folder / name
        if _same_file(target, protected):
            raise OutputError(f"{target} is the input model, which edgeconv never overwrites; choose another output")
        if not os.path.lexists(target):
            continue
        if target.is_symlink() or not target.is_file():
            raise OutputError(f"{target} exists and is not a regular file; move it away or choose another -o")
        entry = manifest.get(name)
        ours = entry is not None and entry.sha256 == sha256_file(target)
        if not ours and not force:
            edited = " (edited since edgeconv wrote it)" if entry is not None else ""
            raise OutputError(f"{target} exists and is not edgeconv's output{edited}; --force overwrites it")
    # The job's previous files that it no longer writes.
    stale = []
    for name, entry in list(manifest.items()):
        if write.job not in entry.jobs or name in write.files:
            continue
        entry.jobs.discard(write.job)
        if entry.jobs:
            continue  # another job still owns it
        del manifest[name]
        path = folder / name
        if (
            path.is_file()
            and not path.is_symlink()
            and not _same_file(path, protected)
            and sha256_file(path) == entry.sha256
        ):
            stale.append(name)
        # a stale file the user edited (or removed) is theirs: left alone, forgotten
    for name, content in write.files.items():
        entry = manifest.get(name)
        target = folder / name
        ours = (
            entry is not None and os.path.lexists(target) and target.is_file() and entry.sha256 == sha256_file(target)
        )
        jobs = (entry.jobs if ours else set()) | {write.job}
        manifest[name] = _Entry(hashlib.sha256(content).hexdigest(), jobs)
    return _Plan(write, manifest, sorted(stale))


def _missing_folders(folder: Path) -> list[Path]:
    """The folders to create for `folder`, outermost first."""
    missing = []
    p = folder.absolute()
    while not os.path.lexists(p):
        missing.append(p)
        p = p.parent
    return missing[::-1]


def _write_temp(folder: Path, name: str, content: bytes, mode: int, token: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{name[:80]}{TEMP_MARK}{token}-", dir=folder)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), mode)  # mkstemp's 0600 would make every output private
        f.write(content)
    return Path(tmp)


def write_atomically(path: Path, content: bytes, mode: int | None = None) -> None:
    """One file that is no user's (a cache entry) written the way publish() writes each of its
    files: a hidden temporary file beside it, then one rename, so that no reader ever sees half
    of it and writers racing to store the same content cannot collide. No manifest, no checks:
    for a user's folder, use publish()."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_temp(path.parent, path.name, content, file_mode() if mode is None else mode, secrets.token_hex(4))
    try:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _remove_temps(folder: Path, token: str) -> None:
    """Every temporary file of this publication, found by its token: also one whose name
    had not yet been recorded when an interrupt arrived."""
    if folder.is_dir():
        for tmp in folder.glob(f".*{TEMP_MARK}{token}-*"):
            tmp.unlink(missing_ok=True)


def check_writable(
    folder: Path | str, job: str, names: list[str], force: bool = False, protected: tuple[Path | str, ...] = ()
) -> None:
    """Refuse now (OutputError) what publish would refuse later: for commands that work for
    minutes (train, quantize) before they have anything to write."""
    try:
        _plan(FolderWrite(Path(folder), job, {name: b"" for name in names}), force, [Path(p) for p in protected])
    except OSError as exc:
        raise OutputError(describe_os_error(exc)) from None


def publish(writes: list[FolderWrite], force: bool = False, protected: tuple[Path | str, ...] = ()) -> list[Path]:
    """Write every FolderWrite, all or nothing. Refuses (OutputError) before writing anything
    if a file in the way is not edgeconv's own, unless `force`; never writes over or deletes
    a `protected` path (the input model). Returns the paths written."""
    protected_paths = [Path(p) for p in protected]
    try:
        plans = [_plan(w, force, protected_paths) for w in writes]
    except OSError as exc:
        raise OutputError(describe_os_error(exc)) from None
    mode = file_mode()
    token = secrets.token_hex(4)
    created = [d for plan in plans for d in _missing_folders(plan.write.folder)]
    try:
        for d in created:
            if not os.path.lexists(d):  # two writes may share a new parent
                os.mkdir(d)  # 0o777 less the umask
        for plan in plans:
            folder = plan.write.folder
            for name, content in sorted(plan.write.files.items()):
                plan.temps[name] = _write_temp(folder, name, content, mode, token)
            plan.manifest_temp = _write_temp(folder, MANIFEST, _manifest_text(plan.manifest).encode(), mode, token)
        _commit(plans)
    except OSError as exc:
        raise OutputError(describe_os_error(exc)) from None
    finally:
        for plan in plans:
            _remove_temps(plan.write.folder, token)
        if not all(plan.committed for plan in plans):
            for d in reversed(created):
                try:
                    d.rmdir()  # only if empty: never a folder someone else filled meanwhile
                except OSError:
                    pass
    return [p.write.folder / name for p in plans for name in sorted(p.write.files)]


def _commit(plans: list[_Plan]) -> None:
    """The renames and deletions, with SIGINT/SIGTERM held until all are done. The mask holds
    them back from this thread; a handler that defers them (installed here when this is the
    main thread, whatever handler the program had) covers a signal another thread received.
    A signal that arrived meanwhile is acted on afterwards: Interrupted saying the folders
    were fully written, or whatever the program's own handler does."""
    on_main = threading.current_thread() is threading.main_thread()
    previous = {}
    if on_main:
        for sig in COMMIT_SIGNALS:
            if signal.getsignal(sig) is not None:  # None: installed outside Python, left alone
                previous[sig] = signal.signal(sig, _defer)
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, COMMIT_SIGNALS)
    _CommitState.active, _CommitState.deferred = True, []
    try:
        for plan in plans:
            folder = plan.write.folder
            for name, tmp in plan.temps.items():
                os.replace(tmp, folder / name)
            plan.temps.clear()
            for name in plan.stale:
                (folder / name).unlink(missing_ok=True)
            os.replace(plan.manifest_temp, folder / MANIFEST)
            plan.manifest_temp = None
            if not plan.manifest:  # edgeconv has nothing left here: its manifest goes, and the
                (folder / MANIFEST).unlink()  # folder (and a package's examples/) if left empty
                try:
                    folder.rmdir()
                    folder.parent.rmdir()
                except OSError:
                    pass  # not empty: the user's files are still in it
            plan.committed = True
    finally:
        # Unblocking runs the handlers of the signals held back (CPython checks for them in
        # pthread_sigmask), while the commit still counts as active: they are deferred.
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
        _CommitState.active = False
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if _CommitState.deferred:
        _act_on(
            _CommitState.deferred[0],
            previous.get(_CommitState.deferred[0], raise_interrupted),
            [plan.write.folder for plan in plans],
        )


def _defer(signum: int, frame) -> None:  # the signal handler during a commit
    _CommitState.deferred.append(signum)


def _act_on(signum: int, handler, committed: list[Path]) -> None:
    """What the program would have done with the signal, now that the commit is complete."""
    if handler is raise_interrupted:
        exc = Interrupted(signum)
        exc.committed = committed
        raise exc
    if handler == signal.SIG_DFL:
        os.kill(os.getpid(), signum)  # the default action (terminate), delivered now
    elif callable(handler):
        handler(signum, None)  # e.g. Python's SIGINT handler raises KeyboardInterrupt
    # SIG_IGN: ignored, as before


def tree_writes(out_dir: Path, job: str, files: dict[str, bytes]) -> list[FolderWrite]:
    """A job's files at paths inside out_dir ("src/a.c") as one FolderWrite per folder (each
    folder has its manifest). The top folder always gets one, and so does every subfolder (two
    levels deep, as packages go) whose manifest names this job: what the job wrote there before
    and no longer writes (a package's files, when the same models are compiled in another
    format or plain) is removed as stale."""
    by_folder: dict[str, dict[str, bytes]] = {".": {}}
    for path, content in files.items():
        p = PurePosixPath(path)
        by_folder.setdefault(str(p.parent), {})[p.name] = content
    for folder in _folders_with_job(out_dir, job):
        by_folder.setdefault(folder, {})
    return [
        FolderWrite(out_dir if d == "." else out_dir / d, job, f)  # the top folder first
        for d, f in sorted(by_folder.items(), key=lambda item: (item[0] != ".", item[0]))
    ]


def _folders_with_job(out_dir: Path, job: str) -> list[str]:
    found = []
    for manifest in sorted(out_dir.glob(f"*/{MANIFEST}")) + sorted(out_dir.glob(f"*/*/{MANIFEST}")):
        try:
            files = json.loads(manifest.read_text())["files"]
            jobs = {j for entry in files.values() for j in entry["jobs"]}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            continue  # not a manifest edgeconv can read: publish decides if anything is written there
        if job in jobs:
            found.append(manifest.parent.relative_to(out_dir).as_posix())
    return found


def read_files(folder: Path, names: list[str]) -> dict[str, bytes]:
    """Files of a work folder, by name, as a FolderWrite's contents."""
    return {name: (folder / name).read_bytes() for name in names}


def text_files(files: dict[str, str]) -> dict[str, bytes]:
    return {name: text.encode() for name, text in files.items()}


def publish_text(
    folder: Path | str, job: str, files: dict[str, str], force: bool = False, protected: tuple[Path | str, ...] = ()
) -> Path:
    """One job's text files (say the emitter's) into one folder; returns the folder."""
    publish([FolderWrite(Path(folder), job, text_files(files))], force=force, protected=protected)
    return Path(folder)
