"""Phones that set themselves up, on a real Asterisk 22: a Yealink desk phone and a
Linphone softphone fetch their files from the provisioning server over HTTP, as they
would; SIPp phones register with the credentials parsed out of those files (each device
its own login on the extension) and call a colleague. A removed device's login stops
working at the next apply; the extension's other devices go on."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from sandboxkit.sipp import SoftPhone

from pbxctl.api.provisioning import create_provisioning_app
from pbxctl.db.session import make_engine
from pbxctl.settings import Settings
from tests.conftest import Pbxctl
from tests.integration.conftest import add_phone, add_sandbox_node
from tests.support.phone_files import LINPHONE_AGENT, PHONES, account

MAC = "805ec0a1b2c3"


async def _fetch(database_url: str, path: str, agent: str) -> tuple[int, str]:
    """GET ``path`` from a provisioning server listening on a real port."""
    engine = make_engine(database_url)
    app = create_provisioning_app(engine, Settings(database_url=database_url))
    try:
        async with TestServer(app) as server, ClientSession() as http, \
                http.get(server.make_url(path), headers={"User-Agent": agent}) as response:
            return response.status, await response.text()
    finally:
        await engine.dispose()


def _phone(model: str, text: str) -> SoftPhone:
    found = account(model, text)
    return SoftPhone(found.user, found.password, found.server, found.port,
                     auth_user=found.auth_user)


# What is tested here is the rendered configuration, the same from either database.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_provisioned_phones_register_with_their_own_logins_and_call(
        pbxctl: Pbxctl, asterisk: Path, tmp_path: Path) -> None:
    add_sandbox_node(pbxctl, asterisk)
    pbxctl.ok("branch", "add", "tver", "--name", "Tver", "--city", "Tver",
              "--timezone", "Europe/Moscow", "--ext-range", "880-889")
    pbxctl.ok("ext", "add", "tver", "881", "--name", "Vera")
    colleague = add_phone(pbxctl, "tver", "882", "Gleb")
    desk_path = json.loads(pbxctl.ok("device", "add", "881", "--mac", MAC, "--model",
                                     "yealink-t4x", "--json").stdout)["url"]
    app_path = json.loads(pbxctl.ok("ext", "qr", "881", "--json").stdout)["url"]
    pbxctl.ok("apply")

    agent, pattern = PHONES["yealink-t4x"]
    status, text = asyncio.run(_fetch(pbxctl.database_url,
                                      desk_path + pattern.format(mac=MAC), agent))
    assert status == 200, text
    desk = _phone("yealink-t4x", text)
    assert (desk.username, desk.auth_user) == ("881", f"881-{MAC}")
    status, text = asyncio.run(_fetch(pbxctl.database_url, app_path, LINPHONE_AGENT))
    assert status == 200, text
    app = _phone("linphone", text)
    assert (app.username, app.auth_user) == ("881", "881-app")

    assert desk.register(tmp_path).ok, "the desk phone could not register"
    assert app.register(tmp_path).ok, "the softphone could not register"
    assert colleague.register(tmp_path).ok
    answering = colleague.answer_one_call(tmp_path)
    call = desk.call(tmp_path, "882", hold_ms=1000)
    assert call.ok, call.errors
    assert answering.wait().ok

    # Each password is the device's own: the desk phone's does not open the app's login.
    assert SoftPhone("881", desk.password, auth_user="881-app").register_refused(
        tmp_path, desk.password).ok
    pbxctl.ok("device", "remove", MAC)
    pbxctl.ok("apply")
    assert desk.register_refused(tmp_path, desk.password).ok, "a removed device registered"
    assert app.register(tmp_path).ok, "the softphone lost its login with the desk phone"
