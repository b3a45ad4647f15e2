"""``pbxctl webhook``: tell other systems (CRM, ticketing) about calls."""

from __future__ import annotations

from datetime import datetime

import click

from pbxctl.cli.output import comma_list, emit_json, emit_rows, note
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.cli.types import ROW_ID
from pbxctl.webhooks.events import EVENT_NAMES


def _iso(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment else ""


@click.group()
def webhook() -> None:
    """Webhooks: signed JSON POSTs about calls, delivered by 'pbxctl serve'."""


@webhook.command("add")
@click.argument("url")
@click.option("--events", required=True,
              help=f"Comma-separated, from: {', '.join(EVENT_NAMES)}.")
@click.option("--branch", default=None, help="Only events of this branch.")
@click.option("--json", "as_json", is_flag=True, help="Print id and secret as JSON.")
@click.pass_context
def add(ctx: click.Context, url: str, events: str, branch: str | None, as_json: bool) -> None:
    """Deliver EVENTS to URL; prints the signing secret once."""

    async def work(s: Services) -> tuple[int, str]:
        return await s.webhooks.add(url, comma_list(events) or (),
                                                            branch)

    hook_id, secret = run_in_transaction(ctx, work)
    if as_json:
        emit_json({"id": hook_id, "secret": secret})
        return
    note(f"Webhook {hook_id} added. Its signing secret is shown only now; each POST carries "
         "X-Pbxctl-Signature: sha256=HMAC-SHA256(secret, '<X-Pbxctl-Timestamp>.<body>').")
    click.echo(secret)


@webhook.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """Webhooks and how their deliveries stand (never their secrets)."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [vars(w) | {"branch": w.branch or "all"}
                for w in await s.webhooks.list()]

    emit_rows(run_in_transaction(ctx, work),
              ("id", "url", "events", "branch", "pending", "delivered", "failed"), as_json,
              empty="no webhooks; add one with 'pbxctl webhook add'")


@webhook.command("remove")
@click.argument("webhook_id", type=ROW_ID)
@click.pass_context
def remove(ctx: click.Context, webhook_id: int) -> None:
    """Stop delivering to a webhook (its undelivered messages are dropped)."""

    async def work(s: Services) -> None:
        await s.webhooks.remove(webhook_id)

    run_in_transaction(ctx, work)
    note(f"Webhook {webhook_id} removed.")


@webhook.command("deliveries")
@click.option("--webhook", "webhook_id", type=ROW_ID, default=None, help="Only this webhook.")
@click.option("--state", type=click.Choice(("pending", "delivered", "failed")), default=None)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def deliveries(ctx: click.Context, webhook_id: int | None, state: str | None, limit: int,
               as_json: bool) -> None:
    """The delivery log: newest messages first, with attempts and the last error."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [{"id": m.id, "webhook": m.webhook_id, "event": m.event, "state": m.state,
                 "attempts": m.attempts, "created": _iso(m.created_at),
                 "delivered": _iso(m.delivered_at),
                 "next_attempt": _iso(m.next_attempt_at) if m.state == "pending" else "",
                 "last_error": m.last_error or ""}
                for m in await s.webhooks.messages(
                    webhook_id, state, limit)]

    emit_rows(run_in_transaction(ctx, work),
              ("id", "webhook", "event", "state", "attempts", "created", "delivered",
               "next_attempt", "last_error"), as_json, empty="no deliveries yet")


@webhook.command("attempts")
@click.argument("message_id", type=ROW_ID)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def attempts(ctx: click.Context, message_id: int, as_json: bool) -> None:
    """Every attempt to deliver one message: when, the HTTP status or error, how long."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [{"at": _iso(a.attempted_at), "status": a.status or "", "error": a.error or "",
                 "ms": a.milliseconds}
                for a in await s.webhooks.attempts(message_id)]

    emit_rows(run_in_transaction(ctx, work), ("at", "status", "error", "ms"), as_json,
              empty="not attempted yet")


@webhook.command("retry")
@click.argument("webhook_id", type=ROW_ID)
@click.pass_context
def retry(ctx: click.Context, webhook_id: int) -> None:
    """Deliver a webhook's given-up messages again (after fixing the receiver)."""

    async def work(s: Services) -> int:
        return await s.webhooks.retry_failed(webhook_id)

    note(f"{run_in_transaction(ctx, work)} messages of webhook {webhook_id} queued again.")
