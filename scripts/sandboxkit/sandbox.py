"""The sandbox Asterisk (scripts/sandbox.sh) as the tests and the demo use it."""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "sandbox.sh"
AMI_USER = "pbxctl"
AMI_SECRET = "sandbox-ami-secret"
# cdr_csv with loguniqueid and loguserfield (the [csv] section of asterisk-conf/cdr.conf.j2).
CDR_COLUMNS = ["accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel",
               "lastapp", "lastdata", "start", "answer", "end", "duration", "billsec",
               "disposition", "amaflags", "uniqueid", "userfield"]


def _run(*args: str, timeout: float = 900) -> str:
    done = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True,
                          timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"scripts/sandbox.sh {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout.strip()


def build() -> None:
    """Build the cached chroot when missing (minutes the first time, instant after)."""
    _run("build")


def start() -> None:
    """(Re)start Asterisk in the chroot with the files in its /etc/asterisk."""
    _run("start", timeout=120)


def stop() -> None:
    """Stop Asterisk in the chroot."""
    _run("stop", timeout=60)


def kill_hard() -> int:
    """``kill -9`` the chroot's Asterisk, as a crash would; returns how many processes."""
    root = Path(_run("path")).resolve()
    killed = 0
    for proc in Path("/proc").iterdir():
        try:
            if (proc.name.isdigit() and (proc / "comm").read_text().strip() == "asterisk"
                    and (proc / "root").resolve() == root):
                os.kill(int(proc.name), signal.SIGKILL)
                killed += 1
        except (OSError, ProcessLookupError):
            continue
    return killed


def forget_registrations() -> None:
    """Drop what Asterisk persisted (registrations in its AstDB) so a run starts clean.

    Asterisk must be stopped.
    """
    (Path(_run("path")) / "var" / "lib" / "asterisk" / "astdb.sqlite3").unlink(missing_ok=True)


def kamailio_dir(name: str) -> Path:
    """An empty directory for an edge's files, at a host path that names the same files
    inside the chroot (the chroot's copy of the sandbox's own path leads back to its root),
    so what pbxctl renders for the host is what Kamailio reads in the chroot."""
    root = Path(_run("path")).resolve()
    back_to_root = root / str(root).lstrip("/")
    if not back_to_root.is_symlink():
        back_to_root.parent.mkdir(parents=True, exist_ok=True)
        back_to_root.symlink_to("/")
    directory = root / "etc" / "kamailio-pbxctl" / name
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def kamailio_check(config: Path) -> subprocess.CompletedProcess[str]:
    """``kamailio -c``, the sandbox's Kamailio checking ``config`` (a file under a
    :func:`kamailio_dir`), without starting it."""
    root = Path(_run("path")).resolve()
    return subprocess.run(["chroot", str(root), "kamailio", "-c", "-f", str(config)],
                          capture_output=True, text=True, timeout=60)


def directory() -> Path:
    """The sandbox's root on the host ($PBXCTL_SANDBOX_DIR or the shared cached one)."""
    return Path(_run("path"))


def config_dir() -> Path:
    """The chroot's /etc/asterisk, seen from the host: a node's --config-dir."""
    return Path(_run("confdir"))


def log_dir() -> Path:
    """The chroot's /var/log/asterisk, seen from the host."""
    return Path(_run("logdir"))


def recordings_dir() -> Path:
    """The chroot's monitor directory, where MixMonitor writes recordings."""
    path = Path(_run("path")) / "var" / "spool" / "asterisk" / "monitor"
    path.mkdir(parents=True, exist_ok=True)
    return path


def voicemail_dir() -> Path:
    """The chroot's voicemail spool: ``<context>/<mailbox>/INBOX/msg0000.wav`` and so on."""
    return Path(_run("path")) / "var" / "spool" / "asterisk" / "voicemail"


def master_csv() -> Path:
    """Where cdr_csv writes its CDRs."""
    return log_dir() / "cdr-csv" / "Master.csv"


def cdr_rows() -> list[dict[str, str]]:
    """Every CDR in Master.csv, oldest first."""
    path = master_csv()
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [dict(zip(CDR_COLUMNS, row, strict=False)) for row in csv.reader(handle)]


def set_global_variable(name: str, value: str) -> None:
    """Set an Asterisk global variable (an empty value clears it) from Asterisk's CLI:
    pbxctl's AMI user has no right to (Setvar needs the ``call`` class)."""
    if not re.fullmatch(r"[A-Z_]+", name) or not re.fullmatch(r"[0-9]*", value):
        raise ValueError(f"not a variable for the sandbox clock: {name}={value!r}")
    _run("cli", f'dialplan set global {name} "{value}"', timeout=30)


def log_position(name: str = "messages") -> int:
    """Where a log (``messages`` or ``full``) ends now; see :func:`log_since`."""
    path = log_dir() / name
    return path.stat().st_size if path.exists() else 0


def log_since(position: int, name: str = "full") -> str:
    """What Asterisk wrote to a log after ``position``."""
    with (log_dir() / name).open("rb") as handle:
        handle.seek(position)
        return handle.read().decode("utf-8", errors="replace")


def problems_since(position: int) -> list[str]:
    """WARNING and ERROR lines Asterisk logged after ``position``."""
    text = log_since(position, "messages")
    return [line for line in text.splitlines() if "WARNING[" in line or "ERROR[" in line]
