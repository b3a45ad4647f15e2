"""Allow-list validation of every user-supplied name and number.

Nothing reaches the database or a rendered Asterisk file without passing one of these
checks, so no input can add a line, a section or a dialplan application to a config file.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import re
from collections.abc import Iterator, Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pbxctl.errors import ValidationError

SLUG_RE = re.compile(r"[a-z][a-z0-9-]{0,30}[a-z0-9]")
EXTENSION_RE = re.compile(r"[1-9][0-9]{1,5}")
# Letters of any script, digits, space and a little punctuation; no ; [ ] " < > \ or control chars.
DISPLAY_NAME_RE = re.compile(r"[^\W_][\w .,'()\-]{0,62}[\w.)]|[^\W_]")
AMI_USER_RE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,31}")
SECRET_RE = re.compile(r"[A-Za-z0-9_.~!@%^*+=:-]{8,128}")
HOSTNAME_RE = re.compile(r"(?=.{1,253}\Z)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                         r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
PATH_RE = re.compile(r"/[A-Za-z0-9_./-]{0,4095}")
E164_RE = re.compile(r"\+[1-9][0-9]{6,14}")
MAX_ROW_ID = 2**31 - 1   # row ids are INTEGER columns: signed 32 bits on PostgreSQL

# Section and context names Asterisk gives a meaning of its own; a slug may not take them.
RESERVED_NAMES = frozenset({
    "general", "globals", "default", "system", "global", "transport", "anonymous",
    "internal", "parkedcalls", "zonemessages", "authentication", "modules", "options",
    "directories", "files", "compat", "cdr", "csv", "mappings",
})
RESERVED_PREFIX = "pbxctl"

MAX_RANGE_SIZE = 10_000


def slug(field: str, value: str) -> str:
    """A lower-case identifier usable as an Asterisk section, context and accountcode."""
    if not SLUG_RE.fullmatch(value):
        raise ValidationError(
            field, f"{value!r} is not allowed; use 2-32 characters a-z, 0-9 and '-', "
                   "starting with a letter")
    if value in RESERVED_NAMES or value.startswith(RESERVED_PREFIX):
        raise ValidationError(field, f"{value!r} is a name reserved by Asterisk or pbxctl")
    return value


def extension_number(field: str, value: str) -> str:
    """An internal extension: 2-6 digits, not starting with 0."""
    if not EXTENSION_RE.fullmatch(value):
        raise ValidationError(field, f"{value!r} is not an extension number (2-6 digits, "
                                     "not starting with 0)")
    return value


def display_name(field: str, value: str) -> str:
    """A human name or title: letters of any script, digits, space and . , ' ( ) -."""
    if not DISPLAY_NAME_RE.fullmatch(value):
        raise ValidationError(
            field, f"{value!r} is not allowed; use up to 64 letters, digits, spaces and "
                   ". , ' ( ) - (no ; [ ] \" < > or line breaks)")
    return value


def extension_range(field: str, value: str) -> tuple[int, int]:
    """``START-END`` of extension numbers, both of the same length."""
    match = re.fullmatch(r"([1-9][0-9]{1,5})-([1-9][0-9]{1,5})", value)
    if not match:
        raise ValidationError(field, f"{value!r} is not a range like 200-299")
    start, end = match.group(1), match.group(2)
    if len(start) != len(end):
        raise ValidationError(field, f"{value!r}: both ends must have the same number of digits")
    if int(start) > int(end):
        raise ValidationError(field, f"{value!r}: the start is above the end")
    if int(end) - int(start) + 1 > MAX_RANGE_SIZE:
        raise ValidationError(field, f"{value!r}: at most {MAX_RANGE_SIZE} extensions per branch")
    return int(start), int(end)


def timezone(field: str, value: str) -> str:
    """An IANA time zone name such as ``Europe/Moscow``."""
    if not re.fullmatch(r"[A-Za-z_]+(/[A-Za-z0-9_+-]+){0,2}|UTC", value):
        raise ValidationError(field, f"{value!r} is not a time zone name like Europe/Moscow")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(field, f"unknown time zone {value!r}") from None
    if value not in available_timezones():
        raise ValidationError(field, f"unknown time zone {value!r}")
    return value


# The languages a branch's phones may speak: ISO 639-1 codes every provisioning template
# spells in its vendor's words.
LANGUAGES = ("en", "ru", "de", "fr", "es", "it")
DEFAULT_LANGUAGE = "en"


def language(field: str, value: str) -> str:
    """A language of the branch's phones, as an ISO 639-1 code pbxctl's templates know."""
    if value not in LANGUAGES:
        raise ValidationError(field, f"{value!r} is not a language pbxctl's phone templates "
                                     f"know; one of {', '.join(LANGUAGES)}")
    return value


def host(field: str, value: str) -> str:
    """An IP address or a DNS host name."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    if not HOSTNAME_RE.fullmatch(value):
        raise ValidationError(field, f"{value!r} is neither an IP address nor a host name")
    return value


def bind_address(field: str, value: str) -> str:
    """An IP literal a server listens on, ``0.0.0.0`` or ``::`` for every address. A host
    name is refused (Asterisk falls back to 0.0.0.0 when it cannot use one), and so are
    addresses that name no interface by themselves: IPv4-mapped, scoped or link-local IPv6,
    multicast."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ValidationError(field, f"{value!r} is not an IP address (IPv4 or IPv6); "
                                     "host names are not accepted") from None
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            raise ValidationError(field, f"write the IPv4 address {address.ipv4_mapped} "
                                         f"instead of {value!r}")
        if address.scope_id is not None or address.is_link_local:
            raise ValidationError(field, f"{value!r} is link-local or scoped; use a global, "
                                         "unique-local or loopback address")
    if address.is_multicast:
        raise ValidationError(field, f"{value!r} is a multicast address")
    return str(address)


def ip_address(field: str, value: str) -> str:
    """A literal IP address (used where Asterisk must not resolve names)."""
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValidationError(field, f"{value!r} is not an IP address") from None


def port(field: str, value: int) -> int:
    """A TCP/UDP port number."""
    if not 1 <= value <= 65535:
        raise ValidationError(field, f"{value} is not a port number (1-65535)")
    return value


def bind_endpoint(field: str, value: str) -> tuple[str, int]:
    """``ADDRESS:PORT`` (``[IPv6]:PORT``) a server listens on: a :func:`bind_address` and
    a :func:`port`."""
    address, colon, number = value.rpartition(":")
    if not colon or not number.isdigit():
        raise ValidationError(field, f"{value!r} is not ADDRESS:PORT (e.g. 127.0.0.10:5090)")
    if address.startswith("[") and address.endswith("]"):
        address = address[1:-1]
    elif ":" in address:
        raise ValidationError(field, f"{value!r}: write an IPv6 address in brackets, "
                                     "[ADDRESS]:PORT")
    return bind_address(field, address), port(field, int(number))


def ami_user(field: str, value: str) -> str:
    """An AMI user name (a manager.conf section)."""
    if not AMI_USER_RE.fullmatch(value) or value.lower() in RESERVED_NAMES:
        raise ValidationError(field, f"{value!r} is not allowed; use letters, digits, _ . -")
    return value


def secret(field: str, value: str) -> str:
    """A secret written into a config file: 8-128 characters without spaces or ; [ ] \"."""
    if not SECRET_RE.fullmatch(value):
        raise ValidationError(
            field, "must be 8-128 characters of letters, digits and _ . ~ ! @ % ^ * + = : -")
    return value


PIN_RE = re.compile(r"[0-9]{4,10}")


def voicemail_pin(field: str, value: str, extension: str) -> str:
    """A mailbox PIN: 4-10 digits, not one a caller tries first (one digit repeated, a
    run like 1234 or 9876, or one holding the extension's number)."""
    if not PIN_RE.fullmatch(value):
        raise ValidationError(field, "must be 4 to 10 digits")
    if guessable_pin(value, extension):
        raise ValidationError(field, "is too easy to guess (one digit repeated, a run like "
                                     "1234 or 9876, or one holding the extension's number)")
    return value


# A mailbox address: a dot-atom local part and a host name of labels, nothing that could
# end a header or a voicemail.conf field (no spaces, quotes, commas, |, CR or LF).
EMAIL_RE = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}")
EMAIL_MAX = 254


def email(field: str, value: str) -> str:
    """An e-mail address ``local@host.domain`` (ASCII, no quoted or bracketed forms),
    254 characters at most, the local part 64 at most."""
    if len(value) > EMAIL_MAX or not EMAIL_RE.fullmatch(value) \
            or len(value.rsplit("@", 1)[0]) > 64:
        raise ValidationError(field, f"{value[:80]!r} is not an e-mail address like "
                                     "anna.petrova@example.com (ASCII, at most 254 characters)")
    return value


def guessable_pin(pin: str, extension: str) -> bool:
    """True for the PINs a fraudster tries first on a mailbox."""
    steps = {(int(b) - int(a)) % 10 for a, b in zip(pin, pin[1:], strict=False)}
    return (len(steps) == 1 and steps <= {0, 1, 9}) or extension in pin \
        or extension[::-1] in pin


def directory(field: str, value: str) -> str:
    """An absolute directory path of plain characters."""
    if not PATH_RE.fullmatch(value) or "/../" in value + "/" or value.endswith("/.."):
        raise ValidationError(field, f"{value!r} is not an absolute path of plain characters")
    return value.rstrip("/") or "/"


def file_path(field: str, value: str) -> str:
    """An absolute file path of plain characters."""
    if value.endswith("/"):
        raise ValidationError(field, f"{value!r} is a directory, not a file")
    return directory(field, value)


def e164(field: str, value: str) -> str:
    """A number in E.164 form: ``+`` then 7-15 digits."""
    if not E164_RE.fullmatch(value):
        raise ValidationError(field, f"{value!r} is not an E.164 number like +78435550101")
    return value


CONTRACT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ./_-]{0,63}")
CURRENCY_RE = re.compile(r"[A-Z]{3}")
SIP_USER_RE = re.compile(r"[A-Za-z0-9_.+-]{1,64}")


def contract(field: str, value: str) -> str:
    """A contract reference such as ``T2-2026/114``."""
    if not CONTRACT_RE.fullmatch(value):
        raise ValidationError(field, f"{value!r} is not a contract reference (letters, digits, "
                                     "space . / _ -)")
    return value


def currency(field: str, value: str) -> str:
    """An ISO 4217 currency code."""
    if not CURRENCY_RE.fullmatch(value):
        raise ValidationError(field, f"{value!r} is not an ISO currency code like RUB")
    return value


def sip_user(field: str, value: str) -> str:
    """A SIP user name a carrier gave us."""
    if not SIP_USER_RE.fullmatch(value):
        raise ValidationError(field, f"{value!r} is not a SIP user name")
    return value


# The widest network a carrier's calls may come from: anything wider (up to /0, every
# address) would let the whole internet call in as that carrier.
WIDEST_PREFIX = {4: 8, 6: 32}
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")


def cidr(field: str, value: str) -> str:
    """An IPv4/IPv6 address or network, as Asterisk's identify ``match`` takes it: at most
    /8 wide for IPv4 and /32 for IPv6, and IPv4 written as IPv4 (not ``::ffff:…``)."""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValidationError(field, f"{value!r} is not an IP address or network") from None
    widest = WIDEST_PREFIX[network.version]
    if network.prefixlen < widest:
        raise ValidationError(field, f"{value!r} is wider than /{widest}: it would let "
                                     "most of the internet in; list the carrier's own networks")
    if isinstance(network, ipaddress.IPv6Network) and (
            network.subnet_of(_IPV4_MAPPED) or network.supernet_of(_IPV4_MAPPED)):
        raise ValidationError(field, f"{value!r} is an IPv4-mapped network; write the IPv4 "
                                     "address or network itself")
    return str(network)


class CsvRows:
    """The rows of an uploaded CSV file (header first) as ``csv.DictReader`` reads them;
    a line the csv module cannot read (a field over its 128 KiB limit, a NUL) is a
    :class:`ValidationError` of ``file`` naming the line, not a crash."""

    def __init__(self, text: str) -> None:
        self._reader = csv.DictReader(io.StringIO(text))

    @property
    def fieldnames(self) -> Sequence[str] | None:
        """The header's column names (None for an empty file)."""
        try:
            return self._reader.fieldnames
        except csv.Error as exc:
            raise ValidationError("file", f"line 1: {exc}") from None

    def __iter__(self) -> Iterator[tuple[int, dict[str | Any, str | Any]]]:
        """(line number, row) from line 2 on; the number is the line the record starts
        on, so a quoted field holding a line break does not shift the ones after it."""
        self.fieldnames  # noqa: B018 - reads the header first, like DictReader
        while True:
            line = self._reader.line_num + 1
            try:
                row = next(self._reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ValidationError("file", f"line {line}: {exc}") from None
            yield line, row


def iso_date(field: str, text: str) -> date:
    """A calendar date written like 2026-12-31."""
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise ValidationError(field, f"{text!r} is not a date like 2026-12-31")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(field, f"{text!r} is not a date like 2026-12-31") from None


MAC_RE = re.compile(r"[0-9a-f]{2}(?:([:.-]?)[0-9a-f]{2})(?:\1[0-9a-f]{2}){4}")


def mac(field: str, value: str) -> str:
    """A phone's MAC address (``80:5E:C0:12:34:56``, ``80-5e-c0-12-34-56`` or
    ``805ec0123456``), as 12 lower-case hex digits; not all zeros, not a group address."""
    lowered = value.lower()
    if not MAC_RE.fullmatch(lowered):
        raise ValidationError(field, f"{value!r} is not a MAC address (6 hex pairs, e.g. "
                                     "80:5E:C0:12:34:56)")
    digits = re.sub(r"[:.-]", "", lowered)
    if digits == "0" * 12 or int(digits[:2], 16) & 1:
        raise ValidationError(field, f"{value} is not a phone's own address (all zeros or a "
                                     "group address)")
    return digits


DEVICE_NAME_RE = re.compile(r"[1-9][0-9]{1,5}-(?:app|[0-9a-f]{12})")


def device(field: str, value: str) -> str:
    """A device as named on the command line: its MAC (as 12 lower-case hex digits) or
    its name (``201-805ec0123456``, ``201-app``)."""
    if DEVICE_NAME_RE.fullmatch(value):
        return value
    try:
        return mac(field, value)
    except ValidationError:
        raise ValidationError(field, f"{value!r} is neither a MAC address nor a device name "
                                     "(e.g. 201-805ec0123456, 201-app)") from None
