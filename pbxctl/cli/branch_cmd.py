"""``pbxctl branch``: sales sites."""

from __future__ import annotations

import click

from pbxctl.cli.output import comma_list, emit_json, emit_rows, emit_table, note
from pbxctl.cli.runtime import Services, run_in_transaction
from pbxctl.services.branches import BranchSpec, branch_details, branch_snapshot
from pbxctl.services.policies import OutboundChange, policy_snapshot
from pbxctl.validation import DEFAULT_LANGUAGE, LANGUAGES

COLUMNS = ("slug", "name", "city", "timezone", "language", "ext_range", "node",
           "standby_node", "extensions")


@click.group()
def branch() -> None:
    """Branches: sales sites with their own extension range and time zone."""


@branch.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="Human name, e.g. 'Kazan salon'.")
@click.option("--city", required=True)
@click.option("--timezone", required=True, help="IANA zone, e.g. Europe/Moscow.")
@click.option("--ext-range", required=True, help="Extension numbers, e.g. 200-299.")
@click.option("--node", default=None,
              help="Node serving the branch [default: local, else the only node].")
@click.option("--standby-node", default=None,
              help="Node taking the branch's calls when its own does not answer.")
@click.option("--language", default=DEFAULT_LANGUAGE, show_default=True,
              help=f"What its phones speak: {', '.join(LANGUAGES)}.")
@click.pass_context
def add(ctx: click.Context, slug: str, name: str, city: str, timezone: str, ext_range: str,
        node: str | None, standby_node: str | None, language: str) -> None:
    """Add branch SLUG (also its default department)."""
    spec = BranchSpec(slug=slug, name=name, city=city, timezone=timezone,
                      ext_range=ext_range, node=node, standby_node=standby_node,
                      language=language)

    async def work(s: Services) -> dict[str, object]:
        return branch_snapshot(await s.branches.add(spec))

    added = run_in_transaction(ctx, work)
    standby = f", standby node {added['standby_node']}" if added["standby_node"] else ""
    note(f"Branch {slug} added on node {added['node']}{standby}.")


@branch.command("update")
@click.argument("slug")
@click.option("--standby-node", default=None,
              help="Node taking the branch's calls when its own does not answer.")
@click.option("--no-standby", is_flag=True, help="The branch has no standby node any more.")
@click.option("--language", default=None,
              help=f"What its phones speak: {', '.join(LANGUAGES)}.")
@click.pass_context
def update(ctx: click.Context, slug: str, standby_node: str | None, no_standby: bool,
           language: str | None) -> None:
    """Change branch SLUG's standby node or its phones' language."""
    if standby_node is not None and no_standby:
        raise click.UsageError("give either --standby-node NAME or --no-standby")
    standby = standby_node is not None or no_standby
    if not standby and language is None:
        raise click.UsageError("give --standby-node NAME, --no-standby or --language")

    async def work(s: Services) -> None:
        if standby:
            await s.branches.set_standby(slug, standby_node)
        if language is not None:
            await s.branches.set_language(slug, language)

    run_in_transaction(ctx, work)
    if standby:
        note(f"Branch {slug}: standby node {standby_node or '(none)'}. "
             "Run 'pbxctl edge render'.")
    if language is not None:
        note(f"Branch {slug}: phones speak {language} from their next fetch.")


@branch.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def list_(ctx: click.Context, as_json: bool) -> None:
    """List branches."""

    async def work(s: Services) -> list[dict[str, object]]:
        return [{**branch_snapshot(b), "extensions": len(b.extensions)}
                for b in await s.branches.list()]

    emit_rows(run_in_transaction(ctx, work), COLUMNS, as_json,
              empty="no branches yet; add one with 'pbxctl branch add'")


@branch.command("show")
@click.argument("slug")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def show(ctx: click.Context, slug: str, as_json: bool) -> None:
    """Show branch SLUG and its extensions."""

    async def work(s: Services) -> dict[str, object]:
        return branch_details(await s.branches.get(slug))

    data = run_in_transaction(ctx, work)
    if as_json:
        emit_json(data)
        return
    extensions = data.pop("extensions")
    outbound = data.pop("outbound")
    outbound_policy = outbound if isinstance(outbound, dict) else {}
    data["hours"] = ", ".join(data["hours"]) or "always open"  # type: ignore[arg-type]
    data["holidays"] = ", ".join(data["holidays"]) or "none"  # type: ignore[arg-type]
    for key, value in outbound_policy.items():
        data[f"outbound {key}"] = _shown(value)
    if outbound_policy:
        if outbound_policy["max_calls"] is None:
            data["outbound max_calls"] = "no limit"
        if outbound_policy["after_hours_allow"] is None:
            data["outbound after_hours_allow"] = "as by day"
        elif not outbound_policy["after_hours_allow"]:
            data["outbound after_hours_allow"] = "emergency only"
    emit_table([{"field": k, "value": v} for k, v in data.items()], ("field", "value"))
    click.echo()
    emit_table(extensions, ("number", "name", "department"),  # type: ignore[arg-type]
               empty="no extensions yet")


def _shown(value: object) -> object:
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "none"
    return value


@branch.command("remove")
@click.argument("slug")
@click.option("--with-extensions", is_flag=True, help="Remove its extensions too.")
@click.pass_context
def remove(ctx: click.Context, slug: str, with_extensions: bool) -> None:
    """Remove branch SLUG."""

    async def work(s: Services) -> None:
        await s.branches.remove(slug, with_extensions=with_extensions)

    run_in_transaction(ctx, work)
    note(f"Branch {slug} removed. Run 'pbxctl apply' to update the node.")


@branch.command("outbound")
@click.argument("slug")
@click.option("--carriers", default=None, help="Carriers to try in order, e.g. tele2,mts.")
@click.option("--caller-id", default=None, help="Number presented on outgoing calls.")
@click.option("--allow", default=None,
              help="Destination classes the branch may call, e.g. local,national,mobile.")
@click.option("--dialing", default=None, help="How people dial: national:CC, e.g. national:7.")
@click.option("--national-prefix", default=None, help="Trunk prefix [default: by country].")
@click.option("--international-prefix", default=None, help="[default: by country]")
@click.option("--allow-foreign-caller-id/--own-caller-id-only", default=None,
              help="May the branch present another branch's number?")
@click.option("--max-calls", default=None, metavar="N|none",
              help="Concurrent outbound calls of the branch (1-1000); none removes the limit.")
@click.option("--max-minutes", default=None, metavar="CLASS=LIMIT,...|none",
              help="Longest call per class, e.g. international=30,mobile=120 (minutes; 90s "
                   "for seconds); replaces the whole set; none removes every limit.")
@click.option("--after-hours-allow", default=None, metavar="CLASSES|all|none",
              help="Classes that still go out when the branch is closed, e.g. "
                   "local,national; all removes the rule, none leaves emergency calls only.")
@click.pass_context
def outbound(ctx: click.Context, slug: str, carriers: str | None, caller_id: str | None,
             allow: str | None, dialing: str | None, national_prefix: str | None,
             international_prefix: str | None, allow_foreign_caller_id: bool | None,
             max_calls: str | None, max_minutes: str | None,
             after_hours_allow: str | None) -> None:
    """Set how branch SLUG calls out (options not given stay as they are).

    Emergency numbers always go out, whatever the policy: never limited, cut or refused
    after hours.
    """
    change = OutboundChange(carriers=comma_list(carriers), caller_id=caller_id,
                            allow=comma_list(allow),
                            dialing=dialing, national_prefix=national_prefix,
                            international_prefix=international_prefix,
                            allow_foreign_caller_id=allow_foreign_caller_id,
                            max_calls=int(max_calls) if max_calls and max_calls.isdigit()
                            else max_calls,
                            max_minutes=_class_limits(max_minutes),
                            after_hours_allow=comma_list(after_hours_allow))

    async def work(s: Services) -> dict[str, object] | None:
        return policy_snapshot(await s.policies.set_outbound(slug, change))

    policy = run_in_transaction(ctx, work) or {}
    limits = policy["max_minutes"] or {}
    night = policy["after_hours_allow"]
    note(f"Outbound policy of {slug}: carriers {', '.join(policy['carriers']) or '(none)'}, "  # type: ignore[arg-type]
         f"allowed {', '.join(policy['allow']) or '(emergency only)'}, "  # type: ignore[arg-type]
         f"caller ID {policy['caller_id'] or '(phone)'}, "
         f"at most {policy['max_calls'] or 'any number of'} calls at once, "
         f"longest calls {', '.join(f'{c} {t}' for c, t in limits.items()) or 'unlimited'}, "  # type: ignore[attr-defined]
         f"after hours {'as by day' if night is None else ', '.join(night) or 'emergency only'}. "  # type: ignore[arg-type]
         "Run 'pbxctl apply'.")


def _class_limits(text: str | None) -> tuple[tuple[str, int | str], ...] | None:
    """``international=30,mobile=90s`` as (class, limit) pairs; ``none`` as no pairs."""
    if text is None:
        return None
    if text.strip() == "none":
        return ()
    pairs = []
    for item in comma_list(text) or ():
        dest_class, equals, limit = item.partition("=")
        if not equals:
            raise click.BadParameter(f"{item!r} is not CLASS=LIMIT, e.g. international=30",
                                     param_hint="--max-minutes")
        pairs.append((dest_class.strip(), limit.strip()))
    return tuple(pairs)


@branch.command("hours")
@click.argument("slug")
@click.argument("intervals", nargs=-1)
@click.option("--always-open", is_flag=True, help="Remove the opening hours.")
@click.pass_context
def hours(ctx: click.Context, slug: str, intervals: tuple[str, ...], always_open: bool) -> None:
    """Set the weekly opening hours of SLUG in its own time zone, e.g.
    'mon-fri 09:00-18:00' 'sat 10:00-14:00'."""
    if not intervals and not always_open:
        raise click.UsageError("give opening intervals or --always-open")
    if intervals and always_open:
        raise click.UsageError("--always-open takes no intervals")

    async def work(s: Services) -> int:
        return len(await s.policies.set_hours(slug, intervals))

    count = run_in_transaction(ctx, work)
    note(f"Branch {slug}: {count} opening interval(s). Run 'pbxctl apply'.")


@branch.command("holidays")
@click.argument("slug")
@click.option("--add", "add_days", multiple=True, help="Closed day, e.g. 2026-12-31.")
@click.option("--remove", "remove_days", multiple=True, help="No longer a closed day.")
@click.option("--name", default=None, help="Name for the added days.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def holidays(ctx: click.Context, slug: str, add_days: tuple[str, ...],
             remove_days: tuple[str, ...], name: str | None, as_json: bool) -> None:
    """List, add or remove the days SLUG is closed (its local dates)."""

    async def work(s: Services) -> list[dict[str, object]]:
        days = await s.policies.change_holidays(slug, add_days, remove_days, name)
        return [{"day": h.day.isoformat(), "name": h.name} for h in days]

    emit_rows(run_in_transaction(ctx, work), ("day", "name"), as_json,
              empty=f"branch {slug} has no holidays")
