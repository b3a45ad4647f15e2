"""/metrics: what an operator alerts on, in Prometheus text format, without a token."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pbxctl.api.app import create_app
from pbxctl.db.migrate import upgrade
from pbxctl.db.session import make_engine, transaction
from pbxctl.metrics import EventRate, ServeMetrics
from pbxctl.services.audit import Actor, AuditTrail


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_metrics_show_links_events_cdrs_webhooks_and_failed_applies(
        database_url: str, aiohttp_client) -> None:  # noqa: ANN001
    engine = make_engine(database_url)
    await upgrade(engine)
    async with transaction(engine) as session:
        audit = AuditTrail(session, Actor("tester", "cli"))
        audit.record("apply.failed", "node", "local", detail="reload refused")
        audit.record("apply.failed", "node", "local", detail="verify failed")
    metrics = ServeMetrics()
    metrics.link_state("local", True)
    metrics.link_state("local", False)
    metrics.reconnected("local")
    metrics.link_state("local", True)
    for _ in range(3):
        metrics.event_received("local")
    metrics.cdr_stored("local", rated=True)
    metrics.cdr_stored("local", rated=False)
    metrics.failed_attempt()
    metrics.failed_attempt()
    metrics.delivered()
    metrics.gave_up()
    await metrics.refresh_from_database(engine)
    client = await aiohttp_client(create_app(engine, metrics.registry))
    for probe in ("/wp-admin/setup.php", "/.env"):
        await client.get(probe)
    response = await client.get("/metrics")
    assert response.status == 200
    found = samples(await response.text())
    await engine.dispose()
    assert found[("pbxctl_ami_connected", (("node", "local"),))] == 1
    assert found[("pbxctl_ami_reconnects_total", (("node", "local"),))] == 1
    assert found[("pbxctl_ami_events_total", (("node", "local"),))] == 3
    assert found[("pbxctl_ami_events_per_second", (("node", "local"),))] > 0
    assert found[("pbxctl_cdrs_stored_total", (("node", "local"), ("rating", "rated")))] == 1
    assert found[("pbxctl_cdrs_stored_total", (("node", "local"), ("rating", "unrated")))] == 1
    assert found[("pbxctl_webhook_failures_total", ())] == 2
    assert found[("pbxctl_webhook_deliveries_total", (("outcome", "given_up"),))] == 1
    assert found[("pbxctl_apply_failures", (("node", "local"),))] == 2
    assert found[("pbxctl_webhook_outbox_messages", (("state", "pending"),))] == 0
    unmatched = [labels for name, labels in found if name == "pbxctl_http_requests_total"
                 and ("route", "unmatched") in labels]
    assert len(unmatched) == 1 and not any("wp-admin" in str(k) for k in found)


def test_event_rate_is_the_average_over_its_window() -> None:
    rate = EventRate(window=10)
    for second in (100.0, 100.5, 101.0, 109.9):
        rate.tick(now=second)
    assert rate.per_second(now=109.9) == 0.4
    assert rate.per_second(now=110.5) == 0.2     # the events of second 100 have left
    assert rate.per_second(now=200.0) == 0.0
