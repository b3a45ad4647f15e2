"""Settings from ``PBXCTL_*`` environment variables and an optional TOML file.

Precedence, highest first: environment, TOML file (``--config`` or
``/etc/pbxctl/pbxctl.toml`` when present), defaults.
"""

from __future__ import annotations

import os
import pwd
import tomllib
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from pbxctl.errors import PbxctlError

DEFAULT_CONFIG_FILE = Path("/etc/pbxctl/pbxctl.toml")
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./pbxctl.db"
SUPPORTED_DRIVERS = ("sqlite+aiosqlite", "postgresql+asyncpg")
Networks = list[IPv4Network | IPv6Network]
MAX_BAN_SECONDS = 366 * 86400
SANDBOX_DIR = Path("/var/cache/pbxctl/sandbox")   # make sandbox / demo: etc, log, spool


def _no_networks(description: str) -> Any:
    """A setting listing networks, none by default."""
    return Field(default_factory=list, description=description)


def _loopback() -> Networks:
    return [IPv4Network("127.0.0.1/32"), IPv6Network("::1/128")]


class Settings(BaseSettings):
    """Everything pbxctl reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="PBXCTL_", extra="forbid")

    database_url: str = DEFAULT_DATABASE_URL
    template_dir: Path | None = Field(
        default=None,
        description="Directory whose templates override the packaged ones, file by file.")
    actor: str | None = Field(
        default=None, description="Name recorded in the audit trail instead of the OS user.")
    ami_timeout: float = Field(default=10.0, gt=0)
    kamailio_rpc_timeout: float = Field(
        default=5.0, gt=0, description="apply: seconds an edge's Kamailio has to answer "
                                       "each JSON-RPC call.")
    ami_ping_interval: float = Field(
        default=5.0, gt=0, description="serve: seconds between pings of each AMI link.")
    ami_ping_timeout: float = Field(
        default=3.0, gt=0, description="serve: a ping unanswered this long means the link "
                                       "is dead (half-open) and is reconnected.")
    ami_backoff_max: float = Field(
        default=30.0, gt=0, description="serve: longest wait between reconnect attempts.")
    storage_retry_max: float = Field(
        default=5.0, gt=0, description="serve: longest wait between tries to store events "
                                       "while the database is unreachable.")
    storage_give_up: float = Field(
        default=30.0, gt=0, description="serve: a CDR that could not be stored for this "
                                        "long is left to the node's Master.csv catch-up.")
    cdr_catch_up_every: float = Field(
        default=60.0, gt=0, description="serve: seconds between routine catch-ups from "
                                        "each node's Master.csv.")
    webhook_first_retry: float = Field(
        default=5.0, gt=0, description="Seconds before the first retry of a failed "
                                       "webhook delivery; each further retry waits twice as long.")
    webhook_max_attempts: int = Field(default=15, ge=1)
    webhook_timeout: float = Field(default=10.0, gt=0)
    ban_after: int = Field(
        default=5, ge=1, description="serve: security failures (wrong password, unknown "
                                     "account, ACL) from one address that ban it...")
    ban_window: float = Field(default=60.0, gt=0, description="...within this many seconds.")
    ban_for: float = Field(default=3600.0, gt=0, le=MAX_BAN_SECONDS,
                           description="Seconds a ban lasts, 366 days at most (serve lifts "
                                       "it then).")
    ban_limit: int = Field(
        default=10_000, ge=1, description="Most active bans (the ACL Asterisk checks stays "
                                          "small); past it a new ban lifts the one ending "
                                          "soonest.")
    ban_allow_networks: Networks = Field(
        default_factory=_loopback,
        description="Networks never banned, besides every carrier's match and host "
                    "addresses: add the branches' office networks.")
    spend_check_every: float = Field(
        default=2.0, gt=0, le=300, description="serve: seconds between two looks of the "
                                               "spend brake at the departments' spend.")
    secrets_key_file: Path | None = Field(
        default=None, description="File (mode 0600) with the key that encrypts the secrets "
                                  "in the database [default: next to the SQLite database, "
                                  "<database>.key; /etc/pbxctl/secrets.key for PostgreSQL].")
    secrets_key: SecretStr | None = Field(
        default=None, description="The key itself (PBXCTL_SECRETS_KEY), used instead of "
                                  "the key file; several keys, comma-separated, newest first.")
    webhook_allow_networks: Networks = _no_networks(
        description="Networks webhooks may be delivered to although they are not public "
                    "(loopback, private, link-local...), e.g. [\"10.20.0.0/16\"]; cloud "
                    "metadata addresses are refused even here.")
    node_config_roots: list[Path] = Field(
        default_factory=lambda: [Path("/etc/asterisk"), Path("/var/log/asterisk"),
                                 Path("/var/spool/asterisk"), SANDBOX_DIR],
        description="Directories a node's config_dir, cdr_csv and recordings_dir must be "
                    "(or lie under), after symbolic links are followed: pbxctl writes "
                    "Asterisk files there and reads CDRs and recordings from there.")
    backup_dir: Path | None = Field(
        default=None, description="serve: directory (made 0700) of the scheduled backups, "
                                  "pbxctl-scheduled-<UTC time>.tar (0600); none: no "
                                  "scheduled backups.")
    backup_every: float = Field(
        default=86400.0, ge=60, description="serve: seconds between two scheduled backups "
                                            "(a failed one is tried again after at most "
                                            "backup_retry seconds).")
    backup_retry: float = Field(default=600.0, ge=10)
    backup_keep: int = Field(
        default=7, ge=1, description="serve: scheduled backups kept, newest first; older "
                                     "ones it wrote are deleted after each good one (files "
                                     "it did not write never are).")
    backup_media: bool = Field(
        default=False, description="serve: scheduled backups take the nodes' recordings "
                                   "and voicemail too (as backup --with-media).")
    backup_passphrase_file: Path | None = Field(
        default=None, description="serve: file (0600) whose first line encrypts the "
                                  "scheduled backups (.tar.enc); none: not encrypted.")
    smtp_host: str | None = Field(
        default=None, description="serve: SMTP server that voicemail is mailed through "
                                  "(to each extension's e-mail address, the recording "
                                  "attached); none: voicemail is not mailed.")
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_starttls: bool = Field(
        default=True, description="serve: STARTTLS before anything else is said (required "
                                  "with smtp_username); the server's certificate is "
                                  "checked.")
    smtp_ca_file: Path | None = Field(
        default=None, description="CA certificates the SMTP server's certificate is "
                                  "checked against [default: the system's].")
    smtp_username: str | None = Field(default=None, description="serve: SMTP AUTH user.")
    smtp_password_file: Path | None = Field(
        default=None, description="serve: file (0600) whose first line is the SMTP AUTH "
                                  "password.")
    smtp_from: str | None = Field(
        default=None, description="serve: the address voicemail is mailed from.")
    smtp_timeout: float = Field(default=30.0, gt=0)
    mail_first_retry: float = Field(
        default=30.0, gt=0, description="serve: seconds before a failed voicemail mail is "
                                        "tried again; each further retry waits twice as "
                                        "long (an hour at most).")
    mail_max_attempts: int = Field(
        default=12, ge=1, description="serve: attempts before a voicemail mail is given up "
                                      "(logged, pbxctl_voicemail_mails{state=\"failed\"}).")
    voicemail_scan_every: float = Field(
        default=5.0, gt=0, le=300, description="serve: seconds between two looks at the "
                                               "nodes' voicemail spools for new messages.")
    api_auth_failures: int = Field(
        default=10, ge=1, description="serve: failed API token attempts from one address "
                                      "within api_auth_window seconds that block it.")
    api_auth_window: float = Field(default=60.0, gt=0)
    api_auth_block: float = Field(
        default=300.0, gt=0, description="serve: seconds a blocked address is answered 429.")
    api_trusted_proxies: Networks = _no_networks(
        description="serve: reverse proxies (TLS terminators) whose X-Forwarded-For names "
                    "the client, for throttling failed tokens per client; from any other "
                    "peer the header is ignored.")

    provisioning_listen: str | None = Field(
        default=None, description="serve: HOST:PORT where phones fetch their set-up "
                                  "(/p/<key>/<file>, one-time links /q/<key>/<file>); "
                                  "none: no provisioning server.")
    provisioning_url: str | None = Field(
        default=None, pattern=r"^https?://[A-Za-z0-9.\[\]:-]+(/[A-Za-z0-9._~/-]*)?$",
        description="The provisioning server's address as phones reach it, e.g. "
                    "http://pbx.example.com:8088 (it starts the URLs 'device add' and "
                    "'ext qr' print).")
    provisioning_failures: int = Field(
        default=10, ge=1, description="serve: refused provisioning requests from one "
                                      "address within provisioning_window seconds that "
                                      "block it for provisioning_block seconds (429).")
    provisioning_window: float = Field(default=60.0, gt=0)
    provisioning_block: float = Field(default=600.0, gt=0)
    provisioning_link_minutes: int = Field(
        default=15, ge=1, le=10080, description="Minutes a one-time softphone link "
                                                "('ext qr') works, unless used before.")

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(tuple(f"{d}://" for d in SUPPORTED_DRIVERS)):
            raise ValueError(f"must start with one of {', '.join(SUPPORTED_DRIVERS)}://")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Values passed to the constructor come from the TOML file: the environment wins.
        return (env_settings, init_settings)


def load_settings(config_file: Path | None = None) -> Settings:
    """Read settings; ``config_file`` must exist when given explicitly."""
    if config_file is None and DEFAULT_CONFIG_FILE.is_file():
        config_file = DEFAULT_CONFIG_FILE
    from_file: dict[str, Any] = {}  # validated by Settings
    if config_file is not None:
        try:
            with config_file.open("rb") as handle:
                from_file = tomllib.load(handle)
        except FileNotFoundError:
            raise PbxctlError(f"config file {config_file} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise PbxctlError(f"config file {config_file}: {exc}") from None
    try:
        return Settings(**from_file)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors())
        raise PbxctlError(f"invalid settings: {problems}") from None


def os_user() -> str:
    """The operating-system user running this process, for the audit trail."""
    for var in ("SUDO_USER", "USER", "LOGNAME"):
        if os.environ.get(var):
            return os.environ[var]
    return pwd.getpwuid(os.getuid()).pw_name
