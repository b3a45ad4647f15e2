"""Reading a served provisioning file as each vendor's phone does, by the keys its
documentation names: the SIP account a test then registers with."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

# What each vendor's phone sends, and the path it asks for ({mac}: lower-case hex).
PHONES = {
    "yealink-t4x": ("Yealink SIP-T46U 108.86.0.20 80:5e:c0:00:00:01", "{mac}.cfg"),
    "grandstream-grp": ("Grandstream Model HW GRP2614 SW 1.0.5.15 DevId {mac}", "cfg{mac}.xml"),
    "snom-d7xx": ("Mozilla/4.0 (compatible; snomD785-SIP 10.1.54.13 1.1.3-s)", "{mac}.xml"),
    "polycom-vvx": ("FileTransport PolycomVVX-VVX_450-UA/6.4.3.5018", "{mac}-phone.cfg"),
    "generic": ("curl/8.5.0", "{mac}.cfg"),
}
LINPHONE_AGENT = "Linphone-Desktop/5.2.4 (Linux) LinphoneSDK/5.3.30"


@dataclass(frozen=True)
class Account:
    """A SIP account as a phone reads it from its file."""

    user: str
    auth_user: str
    password: str
    server: str
    port: int


def _key_values(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines()
             if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.split(";")[0].rpartition(":")
    return host, int(port)


def grandstream_items(text: str) -> dict[str, str]:
    """A GRP file's named settings (``<config version="2">``)."""
    config = ET.fromstring(text).find("config")
    assert config is not None and config.get("version") == "2"
    return {e.attrib["name"]: e.text or "" for e in config if e.tag == "item"}


def account(model: str, text: str) -> Account:
    """The account in ``text``, a file served to a phone of ``model``, by its vendor's
    documented keys."""
    if model == "yealink-t4x":
        kv = _key_values(text)
        return Account(kv["account.1.user_name"], kv["account.1.auth_name"],
                       kv["account.1.password"], kv["account.1.sip_server.1.address"],
                       int(kv["account.1.sip_server.1.port"]))
    if model == "grandstream-grp":
        items = grandstream_items(text)
        return Account(items["account.1.sip.userid"], items["account.1.sip.subscriber.userid"],
                       items["account.1.sip.subscriber.password"],
                       *_host_port(items["account.1.sip.server.1.address"]))
    if model == "snom-d7xx":
        settings = ET.fromstring(text).find("phone-settings")
        assert settings is not None
        s = {e.tag: e.text or "" for e in settings if e.get("idx") in ("1", None)}
        return Account(s["user_name"], s["user_pname"], s["user_pass"],
                       *_host_port(s["user_host"]))
    if model == "polycom-vvx":
        reg = ET.fromstring(text).find("reg")
        assert reg is not None
        return Account(reg.attrib["reg.1.address"], reg.attrib["reg.1.auth.userId"],
                       reg.attrib["reg.1.auth.password"],
                       reg.attrib["reg.1.server.1.address"],
                       int(reg.attrib["reg.1.server.1.port"]))
    if model == "linphone":
        ns = {"lp": "http://www.linphone.org/xsds/lpconfig.xsd"}
        entries = {f"{s.get('name')}.{e.get('name')}": e.text or ""
                   for s in ET.fromstring(text).findall("lp:section", ns)
                   for e in s.findall("lp:entry", ns)}
        proxy = re.fullmatch(r"<sip:(.+);transport=udp>", entries["proxy_0.reg_proxy"])
        assert proxy is not None
        return Account(entries["auth_info_0.username"], entries["auth_info_0.userid"],
                       entries["auth_info_0.passwd"], *_host_port(proxy[1]))
    kv = _key_values(text)
    return Account(kv["user"], kv["auth_user"], kv["password"], kv["sip_server"],
                   int(kv["sip_port"]))
