"""The provisioning server as phones meet it: each vendor's phone fetches its file by its
own path and User-Agent and finds its account under the keys its vendor documents; a
softphone's link works once; every refusal is the same answer; refusals are throttled
per address; every fetch is audited."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pbxctl.api.provisioning import NOT_FOUND_BODY, create_provisioning_app
from pbxctl.db.models import Device
from pbxctl.db.session import make_engine
from pbxctl.services.audit import Actor
from pbxctl.services.bundle import unit_of_work
from pbxctl.services.devices import DeviceService
from pbxctl.settings import Settings
from tests.api.conftest import Api
from tests.conftest import Pbxctl
from tests.support.phone_files import LINPHONE_AGENT, PHONES, account, grandstream_items

MACS = {model: f"805ec00000{i:02x}" for i, model in enumerate(PHONES, start=1)}
NUMBERS = {model: str(201 + i) for i, model in enumerate(PHONES)}


@pytest.fixture
def phones(company: Pbxctl) -> dict[str, str]:
    """A phone of each model, one per extension of branch kazan; their URL paths."""
    paths = {}
    for model, number in NUMBERS.items():
        company.ok("ext", "add", "kazan", number, "--name", f"Person {number}")
        added = company.ok("device", "add", number, "--mac", MACS[model], "--model", model,
                           "--json")
        paths[model] = json.loads(added.stdout)["url"]
    return paths


@pytest.fixture
async def server(company: Pbxctl, aiohttp_client: Any) -> AsyncIterator[Any]:
    """The provisioning server on the company's database (5 refusals block an address)."""
    engine = make_engine(company.database_url)
    settings = Settings(database_url=company.database_url, provisioning_failures=5)
    yield await aiohttp_client(create_provisioning_app(engine, settings))
    await engine.dispose()


async def _cli(company: Pbxctl, *args: str) -> str:
    """``pbxctl ARGS``'s stdout (in a thread: it runs its own event loop)."""
    return (await asyncio.to_thread(company.ok, *args)).stdout


async def _get(server: Any, path: str, agent: str = "curl/8.5.0") -> tuple[int, str]:
    response = await server.get(path, headers={"User-Agent": agent})
    return response.status, await response.text()


@pytest.mark.parametrize("model", list(PHONES))
async def test_each_phone_finds_its_account_under_its_vendors_keys(
        company: Pbxctl, phones: dict[str, str], server: Any, model: str) -> None:
    agent, pattern = PHONES[model]
    mac = MACS[model]
    status, text = await _get(server, phones[model] + pattern.format(mac=mac), agent)
    assert status == 200, text
    number = NUMBERS[model]
    found = account(model, text)
    assert (found.user, found.auth_user, found.server, found.port) == \
        (number, f"{number}-{mac}", "127.0.0.1", 5060)
    assert len(found.password) >= 20
    colleagues = [n for n in NUMBERS.values() if n != number]
    for colleague in colleagues:                      # busy lamps of the branch's others
        assert colleague in text
    audit = await _cli(company, "audit", "--json")
    fetched = [e for e in json.loads(audit) if e["action"] == "provision.fetch"]
    assert fetched[-1]["object_key"] == f"{number}-{mac}" and agent in fetched[-1]["detail"]
    assert found.password not in audit


async def test_vendor_specific_keys(company: Pbxctl, phones: dict[str, str],
                                    server: Any) -> None:
    _status, yealink = await _get(server, phones["yealink-t4x"] + f"{MACS['yealink-t4x']}.cfg")
    assert yealink.startswith("#!version:1.0.0.1\n")
    assert "local_time.time_zone = +3\n" in yealink           # Europe/Moscow
    assert "linekey.2.type = 16\n" in yealink and "account.1.codec.pcmu.enable = 1" in yealink
    assert "lang.gui = English\n" in yealink and "lang.wui = English\n" in yealink
    _status, gs = await _get(server, phones["grandstream-grp"]
                             + f"cfg{MACS['grandstream-grp']}.xml")
    root = ET.fromstring(gs)
    assert root.tag == "gs_provision" and root.findtext("mac") == MACS["grandstream-grp"]
    items = grandstream_items(gs)
    assert items["dateTime.timezone"] == "UTC-3" and items["language.gui"] == "en"
    assert items["account.1.enable"] == "Yes" and items["account.1.sip.transport"] == "UDP"
    # Busy lamps on the virtual multi-purpose keys after the line's own (VPK 1)
    blf = {(items[f"pks.vpk.{k}.keyMode"], items[f"pks.vpk.{k}.account"],
            items[f"pks.vpk.{k}.value"]) for k in range(2, len(PHONES) + 1)}
    assert blf == {("BLF", "0", n) for n in NUMBERS.values() if n != "202"}
    assert not any(name.startswith("P") for name in items)
    _status, snom = await _get(server, phones["snom-d7xx"] + f"{MACS['snom-d7xx']}.xml")
    snom_settings = ET.fromstring(snom).find("phone-settings")
    assert snom_settings is not None
    assert snom_settings.findtext("utc_offset") == "10800"
    assert (snom_settings.findtext("language"), snom_settings.findtext("web_language")) \
        == ("English", "English")
    assert "blf &lt;sip:201@127.0.0.1&gt;" in snom
    master_path = phones["polycom-vvx"] + f"{MACS['polycom-vvx']}.cfg"
    _status, master = await _get(server, master_path)
    assert ET.fromstring(master).attrib["CONFIG_FILES"] == f"{MACS['polycom-vvx']}-phone.cfg"
    _status, polycom = await _get(server, phones["polycom-vvx"]
                                  + f"{MACS['polycom-vvx']}-phone.cfg")
    assert ET.fromstring(polycom).find("tcpIpApp").attrib[    # type: ignore[union-attr]
        "tcpIpApp.sntp.gmtOffset"] == "10800"
    assert ET.fromstring(polycom).find("lcl").attrib == {     # type: ignore[union-attr]
        "lcl.ml.lang": "English_United_States"}
    # A MAC in upper case, as some phones ask
    status, _text = await _get(server, phones["yealink-t4x"]
                               + f"{MACS['yealink-t4x'].upper()}.cfg")
    assert status == 200


LANGUAGE_SPELLINGS = {   # each vendor's documented words for a branch's language
    "ru": ("Russian", "ru", "Russian", "Russian_Russia"),
    "de": ("German", "de", "Deutsch", "German_Germany"),
    "fr": ("French", "fr", "Français", "French_France"),
    "es": ("Spanish", "es", "Espanol", "Spanish_Spain"),
    "it": ("Italian", "it", "Italiano", "Italian_Italy"),
}


@pytest.mark.parametrize("language", list(LANGUAGE_SPELLINGS))
async def test_every_phone_speaks_its_branchs_language(
        company: Pbxctl, phones: dict[str, str], server: Any, language: str) -> None:
    await _cli(company, "branch", "update", "kazan", "--language", language)
    yealink_word, grandstream_code, snom_word, polycom_word = LANGUAGE_SPELLINGS[language]

    async def fetch(model: str, name: str) -> str:
        status, text = await _get(server, phones[model] + name.format(mac=MACS[model]))
        assert status == 200
        return text

    yealink = await fetch("yealink-t4x", "{mac}.cfg")
    assert f"lang.gui = {yealink_word}\n" in yealink and f"lang.wui = {yealink_word}\n" in yealink
    grandstream = grandstream_items(await fetch("grandstream-grp", "cfg{mac}.xml"))
    assert grandstream["language.gui"] == grandstream_code
    snom = ET.fromstring(await fetch("snom-d7xx", "{mac}.xml")).find("phone-settings")
    assert snom is not None and snom.findtext("language") == snom.findtext("web_language") \
        == snom_word
    polycom = ET.fromstring(await fetch("polycom-vvx", "{mac}-phone.cfg")).find("lcl")
    assert polycom is not None and polycom.attrib["lcl.ml.lang"] == polycom_word
    assert f"\nlanguage = {language}\n" in await fetch("generic", "{mac}.cfg")


async def test_every_refusal_is_the_same_answer(phones: dict[str, str], server: Any) -> None:
    yealink = phones["yealink-t4x"]
    key = yealink.split("/")[2]
    wrong = [
        f"/p/{'A' * len(key)}/{MACS['yealink-t4x']}.cfg",     # wrong secret
        yealink + "805ec0ffffff.cfg",                         # unknown MAC
        yealink + f"{MACS['snom-d7xx']}.xml",                 # another phone's MAC
        yealink + f"cfg{MACS['yealink-t4x']}.xml",            # a name it never asks for
    ]
    answers = set()
    for path in wrong:
        response = await server.get(path)
        answers.add((response.status, await response.text(),
                     response.headers.get("Content-Type")))
    assert answers == {(404, NOT_FOUND_BODY, "text/plain; charset=utf-8")}


async def test_refusals_block_the_address_even_for_a_good_secret(
        phones: dict[str, str], server: Any) -> None:
    good = phones["yealink-t4x"] + f"{MACS['yealink-t4x']}.cfg"
    for path in ("/p/guess/805ec0000001.cfg", "/nothing", "/p/x/y.cfg", "/q/x/linphone.xml",
                 "/p/a/b/c"):
        assert (await server.get(path)).status == 404
    response = await server.get(good)
    assert response.status == 429 and int(response.headers["Retry-After"]) > 0


async def test_a_softphone_link_works_once_then_answers_like_a_stranger(
        company: Pbxctl, server: Any) -> None:
    await _cli(company, "ext", "add", "kazan", "210", "--name", "Mobile Maria")
    link = json.loads(await _cli(company, "ext", "qr", "210", "--json"))
    path = "/" + link["url"].split("/", 1)[1] if "://" in link["url"] else link["url"]
    assert path.endswith("/linphone.xml") and link["device"] == "210-app"
    status, text = await _get(server, path, LINPHONE_AGENT)
    assert status == 200
    found = account("linphone", text)
    assert (found.user, found.auth_user) == ("210", "210-app")
    again = await _get(server, path, LINPHONE_AGENT)
    text_too = await _get(server, path.replace("linphone.xml", "account.txt"))
    assert again == text_too == (404, NOT_FOUND_BODY)
    # A new link gives the softphone a new password: the old one stops at the next apply.
    second = json.loads(await _cli(company, "ext", "qr", "210", "--json", "--text"))
    status, plain = await _get(server, second["url"])
    assert status == 200 and account("generic", plain).password != found.password
    devices = json.loads(await _cli(company, "device", "list", "--json"))
    assert [d["name"] for d in devices] == ["210-app"]


@pytest.mark.parametrize("fetches", [2, 4])
async def test_a_link_fetched_at_once_from_many_places_works_once(
        company: Pbxctl, server: Any, fetches: int, monkeypatch: pytest.MonkeyPatch) -> None:
    await _cli(company, "ext", "add", "kazan", "212", "--name", "Twice Tanya")
    link = json.loads(await _cli(company, "ext", "qr", "212", "--json"))
    found_valid = asyncio.Barrier(fetches)
    spend = DeviceService.use_link

    async def all_at_once(self: DeviceService, device: Device) -> bool:
        await found_valid.wait()      # every request has found the link still valid
        return await spend(self, device)

    monkeypatch.setattr(DeviceService, "use_link", all_at_once)
    path = "/" + link["url"].split("/", 1)[1] if "://" in link["url"] else link["url"]
    answers = await asyncio.gather(*(_get(server, path, LINPHONE_AGENT)
                                     for _ in range(fetches)))
    served = [text for status, text in answers if status == 200]
    assert len(served) == 1 and account("linphone", served[0]).auth_user == "212-app"
    assert sorted(answers) == sorted([(200, served[0])]
                                     + [(404, NOT_FOUND_BODY)] * (fetches - 1))
    audit = json.loads(await _cli(company, "audit", "--json"))
    actions = [e["action"] for e in audit if e["action"].startswith("provision.")]
    assert sorted(actions) == ["provision.fetch"] + ["provision.refused"] * (fetches - 1)


async def test_a_link_expires(company: Pbxctl) -> None:
    await _cli(company, "ext", "add", "kazan", "211", "--name", "Late Lev")
    link = json.loads(await _cli(company, "ext", "qr", "211", "--json", "--minutes", "5"))
    key = link["url"].split("/")[-2]
    engine = make_engine(company.database_url)
    try:
        async with unit_of_work(engine, Actor("test", "http"), Settings()) as s:
            later = datetime.now(UTC) + timedelta(minutes=6)
            assert await s.provisioning.fetch(key, "linphone.xml", "127.0.0.1", "x",
                                              later) is None
            assert await s.provisioning.fetch(key, "linphone.xml", "127.0.0.1", "x",
                                              datetime.now(UTC)) is not None
    finally:
        await engine.dispose()


async def test_devices_through_the_api(api: Api) -> None:
    status, added = await api.call("POST", "/api/v1/devices", body={
        "extension": "201", "mac": "80-5e-c0-12-34-56", "model": "polycom-vvx"})
    assert status == 201 and added["device"] == "201-805ec0123456"
    assert added["url"].startswith("/p/")
    status, link = await api.call("POST", "/api/v1/extensions/201/softphone-link")
    assert status == 200 and link["url"].endswith("/linphone.xml")
    assert link["account_url"].endswith("/account.txt") and link["expires"]
    status, listed = await api.call("GET", "/api/v1/devices?extension=201", "viewer")
    assert [d["name"] for d in listed["items"]] == ["201-805ec0123456", "201-app"]
    assert added["url"].split("/")[2] not in str(listed)
    before, audited = await api.db_state(), len(await api.audit())
    for body, field in (({"extension": "201", "mac": "80:5E:C0:12:34", "model": "generic"},
                         "mac"),
                        ({"extension": "201", "mac": "80:5E:C0:12:34:57", "model": "x"},
                         "model"),
                        ({"extension": "2x1", "mac": "80:5E:C0:12:34:57",
                          "model": "generic"}, "extension")):
        status, refused = await api.call("POST", "/api/v1/devices", body=body)
        assert status == 400 and refused["error"]["message"].startswith(f"{field}"), refused
    status, refused = await api.call("POST", "/api/v1/extensions/201/softphone-link",
                                     body={"minutes": 0})
    assert status == 400 and "minutes" in refused["error"]["message"]
    assert await api.db_state() == before and len(await api.audit()) == audited
    status, removed = await api.call("DELETE", "/api/v1/devices/80:5E:C0:12:34:56")
    assert (status, removed) == (200, {"removed": "80:5E:C0:12:34:56"})
    status, listed = await api.call("GET", "/api/v1/devices?extension=201")
    assert [d["name"] for d in listed["items"]] == ["201-app"]


async def test_behind_an_edge_a_phone_is_set_up_to_register_at_the_edge(
        company: Pbxctl, phones: dict[str, str], server: Any, tmp_path: Path) -> None:
    await _cli(company, "edge", "add", "edge1", "--sip-address", "127.0.0.10", "--sip-port",
               "5070", "--rpc", "127.0.0.10:5090", "--config-dir", str(tmp_path))
    model = "yealink-t4x"
    agent, pattern = PHONES[model]
    status, text = await _get(server, phones[model] + pattern.format(mac=MACS[model]), agent)
    assert status == 200, text
    found = account(model, text)
    assert (found.server, found.port) == ("127.0.0.10", 5070)
