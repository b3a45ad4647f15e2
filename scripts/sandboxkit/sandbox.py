"""The sandbox Asterisk (scripts/sandbox.sh) as the tests and the demo use it.

The sandbox runs one Asterisk per node in the same chroot: ``local`` (the default, in the
package's directories, on 127.0.0.1) and any named node (its own directories under
/srv/nodes/NAME, on the addresses pbxctl rendered for it). Every function about an
Asterisk takes the node, ``local`` unless given."""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "sandbox.sh"
AMI_USER = "pbxctl"
AMI_SECRET = "sandbox-ami-secret"
DEFAULT_NODE = "local"
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


def start(node: str = DEFAULT_NODE) -> None:
    """(Re)start the node's Asterisk in the chroot with the files in its config dir."""
    _run("start", node, timeout=120)


def stop(node: str = DEFAULT_NODE) -> None:
    """Stop the node's Asterisk (the others keep running)."""
    _run("stop", node, timeout=60)


def kill_hard(node: str = DEFAULT_NODE) -> int:
    """``kill -9`` the node's Asterisk, as a crash would; returns how many processes."""
    return int(_run("kill", node))


def forget_registrations(node: str = DEFAULT_NODE) -> None:
    """Drop what the node's Asterisk persisted (registrations in its AstDB) so a run
    starts clean. That Asterisk must be stopped."""
    (Path(_run("dbdir", node)) / "astdb.sqlite3").unlink(missing_ok=True)


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


def directory() -> Path:
    """The sandbox's root on the host ($PBXCTL_SANDBOX_DIR or the shared cached one)."""
    return Path(_run("path"))


def config_dir(node: str = DEFAULT_NODE) -> Path:
    """The node's config dir (local's /etc/asterisk), seen from the host: its --config-dir."""
    return Path(_run("confdir", node))


def log_dir(node: str = DEFAULT_NODE) -> Path:
    """The node's log dir (local's /var/log/asterisk), seen from the host."""
    return Path(_run("logdir", node))


def recordings_dir(node: str = DEFAULT_NODE) -> Path:
    """The node's monitor directory, where MixMonitor writes recordings."""
    path = Path(_run("spooldir", node)) / "monitor"
    path.mkdir(parents=True, exist_ok=True)
    return path


def voicemail_dir(node: str = DEFAULT_NODE) -> Path:
    """The node's voicemail spool: ``<context>/<mailbox>/INBOX/msg0000.wav`` and so on."""
    return Path(_run("spooldir", node)) / "voicemail"


def master_csv(node: str = DEFAULT_NODE) -> Path:
    """Where the node's cdr_csv writes its CDRs."""
    return log_dir(node) / "cdr-csv" / "Master.csv"


def cdr_rows(node: str = DEFAULT_NODE) -> list[dict[str, str]]:
    """Every CDR in the node's Master.csv, oldest first."""
    path = master_csv(node)
    if not path.exists():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return [dict(zip(CDR_COLUMNS, row, strict=False)) for row in csv.reader(handle)]


def cli(command: str, node: str = DEFAULT_NODE) -> str:
    """What the node's Asterisk CLI answers to ``command`` (``pjsip show contacts``)."""
    return _run("cli", command, node, timeout=30)


def set_global_variable(name: str, value: str, node: str = DEFAULT_NODE) -> None:
    """Set an Asterisk global variable (an empty value clears it) from the node's CLI:
    pbxctl's AMI user has no right to (Setvar needs the ``call`` class)."""
    if not re.fullmatch(r"[A-Z_]+", name) or not re.fullmatch(r"[0-9]*", value):
        raise ValueError(f"not a variable for the sandbox clock: {name}={value!r}")
    cli(f'dialplan set global {name} "{value}"', node)


def log_position(name: str = "messages", node: str = DEFAULT_NODE) -> int:
    """Where a log of the node (``messages`` or ``full``) ends now; see :func:`log_since`."""
    path = log_dir(node) / name
    return path.stat().st_size if path.exists() else 0


def log_since(position: int, name: str = "full", node: str = DEFAULT_NODE) -> str:
    """What the node's Asterisk wrote to a log after ``position``."""
    with (log_dir(node) / name).open("rb") as handle:
        handle.seek(position)
        return handle.read().decode("utf-8", errors="replace")


def problems_since(position: int, node: str = DEFAULT_NODE) -> list[str]:
    """WARNING and ERROR lines the node's Asterisk logged after ``position``."""
    text = log_since(position, "messages", node)
    return [line for line in text.splitlines() if "WARNING[" in line or "ERROR[" in line]
