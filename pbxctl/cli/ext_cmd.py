"""``pbxctl ext``: phones and softphones."""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import click
import segno

from pbxctl.cli.output import emit_json, emit_rows, note
from pbxctl.cli.runtime import Services, run_in_transaction, settings_of
from pbxctl.cli.secret_input import secret_option
from pbxctl.render.provisioning import ACCOUNT_FILE, LINPHONE_FILE
from pbxctl.services.devices import ProvisioningLink
from pbxctl.services.extensions import SipCredentials, extension_snapshot

COLUMNS = ("number", "branch", "name", "department", "voicemail_pin", "email")


@click.group()
def ext() -> None:
    """Extensions: phones and softphones with generated SIP credentials."""


def _print_credentials(creds: SipCredentials, as_json: bool) -> None:
    if as_json:
        emit_json(dataclasses.asdict(creds))
        return
    note("SIP credentials (shown only now; pbxctl keeps only a hash):")
    click.echo(f"  server:    {creds.server}:{creds.port} ({creds.transport.upper()})")
    click.echo(f"  username:  {creds.username}")
    click.echo(f"  password:  {creds.password}")
    click.echo(f"  realm:     {creds.realm}")


@ext.command("add")
@click.argument("branch")
@click.argument("number")
@click.option("--name", required=True, help="Display name, e.g. 'Anna Petrova'.")
@click.option("--department", default=None,
              help="Cost centre for this phone's calls [default: the branch].")
@click.option("--email", default=None,
              help="Mail each new voicemail message here, the recording attached.")
@click.option("--json", "as_json", is_flag=True, help="Print the credentials as JSON.")
@click.pass_context
def add(ctx: click.Context, branch: str, number: str, name: str, department: str | None,
        email: str | None, as_json: bool) -> None:
    """Add extension NUMBER to BRANCH and print its SIP credentials once."""

    async def work(s: Services) -> SipCredentials:
        _extension, creds = await s.extensions.add(branch, number, name, department, email)
        return creds

    creds = run_in_transaction(ctx, work)
    note(f"Extension {number} ({name}) added to branch {branch}.")
    _print_credentials(creds, as_json)
    note("Run 'pbxctl apply' so the phone can register.")


@ext.command("list")
@click.option("--branch", default=None, help="Only this branch.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, branch: str | None, as_json: bool) -> None:
    """List extensions."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [extension_snapshot(e) for e in await s.extensions.list(branch)]

    emit_rows(run_in_transaction(ctx, work), COLUMNS, as_json,
              empty="no extensions yet; add one with 'pbxctl ext add'")


@ext.command("remove")
@click.argument("number")
@click.pass_context
def remove(ctx: click.Context, number: str) -> None:
    """Remove extension NUMBER."""

    async def work(s: Services) -> None:
        await s.extensions.remove(number)

    run_in_transaction(ctx, work)
    note(f"Extension {number} removed. Run 'pbxctl apply' to update the node.")


@ext.command("update")
@click.argument("number")
@click.option("--email", default=None,
              help="Mail each new voicemail message here, the recording attached.")
@click.option("--no-email", is_flag=True, help="Mail voicemail messages to nobody.")
@click.pass_context
def update(ctx: click.Context, number: str, email: str | None, no_email: bool) -> None:
    """Change extension NUMBER: where its voicemail is mailed."""
    if no_email == (email is not None):
        raise click.UsageError("give --email ADDRESS or --no-email")

    async def work(s: Services) -> None:
        await s.extensions.set_email(number, email)

    run_in_transaction(ctx, work)
    note(f"Voicemail of {number} is mailed to {email} by 'pbxctl serve'." if email
         else f"Voicemail of {number} is mailed to nobody now.")


@ext.command("passwd")
@click.argument("number")
@click.option("--json", "as_json", is_flag=True, help="Print the credentials as JSON.")
@click.pass_context
def passwd(ctx: click.Context, number: str, as_json: bool) -> None:
    """Give extension NUMBER a new SIP password (printed once)."""

    async def work(s: Services) -> SipCredentials:
        return await s.extensions.rotate_password(number)

    creds = run_in_transaction(ctx, work)
    note(f"New password for extension {number}; the old one stops working at the next apply.")
    _print_credentials(creds, as_json)


@ext.command("voicemail")
@click.argument("number")
@secret_option("--pin", "voicemail PIN")
@click.option("--no-pin", is_flag=True,
              help="Remove the PIN: the mailbox then opens from the extension's own phones.")
@click.option("--json", "as_json", is_flag=True, help="Print the PIN as JSON.")
@click.pass_context
def voicemail(ctx: click.Context, number: str, pin: str | None, no_pin: bool,
              as_json: bool) -> None:
    """Set the PIN of extension NUMBER's mailbox (*97): the one given, else a generated
    one, printed once."""
    if no_pin and pin is not None:
        raise click.UsageError("give --pin (or --pin-file/--pin-env) or --no-pin, not both")

    async def work(s: Services) -> str | None:
        if no_pin:
            await s.extensions.remove_voicemail_pin(number)
            return None
        return await s.extensions.set_voicemail_pin(number, pin)

    chosen = run_in_transaction(ctx, work)
    if chosen is None:
        note(f"Mailbox {number} has no PIN now: it opens from {number}'s own phones with "
             "*97. Run 'pbxctl apply'.")
        return
    if as_json:
        emit_json({"number": number, "pin": chosen})
    elif pin is None:
        note("Voicemail PIN (shown only now):")
        click.echo(f"  pin:       {chosen}")
    note(f"Mailbox {number} asks for its PIN at *97 after 'pbxctl apply'.")


@ext.command("qr")
@click.argument("number")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the QR code as a PNG to FILE (mode 0600: it holds a secret).")
@click.option("--text", "plain", is_flag=True,
              help="Link to the plain SIP account (for softphones without Linphone's "
                   "remote provisioning) instead of the Linphone XML.")
@click.option("--minutes", type=int, default=None,
              help="Minutes the link works [default: provisioning_link_minutes].")
@click.option("--json", "as_json", is_flag=True, help="Print the link as JSON, no QR code.")
@click.pass_context
def qr(ctx: click.Context, number: str, output: Path | None, plain: bool,
       minutes: int | None, as_json: bool) -> None:
    """Print a QR code of a one-time link that sets up extension NUMBER's softphone with
    its own login; the link works once, until it expires."""
    lifetime = settings_of(ctx).provisioning_link_minutes if minutes is None else minutes

    async def work(s: Services) -> ProvisioningLink:
        return await s.devices.softphone_link(number, lifetime)

    link = run_in_transaction(ctx, work)
    url = link.url + (ACCOUNT_FILE if plain else LINPHONE_FILE)
    assert link.expires is not None
    if as_json:
        emit_json({"device": link.device, "url": url, "expires": link.expires.isoformat()})
    else:
        code = segno.make(url, error="m")
        code.terminal(compact=True)
        click.echo(url)
        if output is not None:
            _write_png(code, output)
    note(f"One-time link for {link.device}, until {link.expires:%Y-%m-%d %H:%M} UTC. "
         "Run 'pbxctl apply' so the softphone can register.")


def _write_png(code: segno.QRCode, output: Path) -> None:
    """The QR code as a PNG, 0600 from the start."""
    buffer = io.BytesIO()
    code.save(buffer, kind="png", scale=8)
    try:
        descriptor = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(descriptor, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(buffer.getvalue())
    except OSError as exc:
        raise click.ClickException(f"--output: {exc.strerror}: {output}") from None
    note(f"Wrote the QR code to {output}.")
