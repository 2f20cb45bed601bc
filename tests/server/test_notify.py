"""Notifications leave by SMTP and events by signed webhooks (issue 21): every event reaches the
subscriber signed, failures are retried with backoff on the domain clock, nothing is lost across
a restart, e-mails go through a real SMTP server (aiosmtpd) with and without STARTTLS."""

from __future__ import annotations

import socket
from datetime import timedelta
from pathlib import Path

from server import accounts
from server.accounts import LAB_DOMAIN
from server.notify import subscriptions
from server.pki_files import LabPki
from server.store import Store
from server.store.location import PgUrl
from shared.clock import VirtualClock, epoch
from shared.delivery import RETRY_INITIAL, DeliveryStatus
from shared.policy import DEFAULT_POLICY
from tests.server.notifying import Served, catcher, receiver, serve_notifying, until


async def _hook(served: Served, url: str, clock: VirtualClock) -> str:
    created = await subscriptions.add_webhook(served.store, LAB_DOMAIN, url, clock.now())
    return created.webhook.secret


async def _va(served: Served, clock: VirtualClock, name: str) -> None:
    account = await accounts.resolve_account(served.store, LAB_DOMAIN)
    await accounts.create_virtual_account(served.store, account=account, name=name, description="", now=clock.now())


async def _notify(store: Store, clock: VirtualClock, subject: str = "Insufficient Licenses: UCCE") -> None:
    def body(uow: object) -> None:
        va = uow.accounts.virtual_accounts(uow.accounts.by_domain(LAB_DOMAIN).id)[0]  # type: ignore[attr-defined]
        uow.events.notify(  # type: ignore[attr-defined]
            at=epoch(clock.now()), kind="Insufficient Licenses", severity="warning", va_id=va.id,
            subject=subject, body="DEFAULT: 3 in use, 2 purchased.",
        )  # fmt: skip

    await store.write(body)


async def _deliveries(store: Store, channel: str) -> list[object]:
    return await store.read(lambda uow: uow.deliveries.listing(channel=channel))


async def test_every_event_reaches_the_subscriber_signed(
    ssm_db: Path | PgUrl, tmp_path: Path, clock: VirtualClock, lab_pki: LabPki, pki_dir: Path
) -> None:
    async with receiver(clock) as hook, serve_notifying(ssm_db, clock, lab_pki, pki_dir) as served:
        hook.secret = await _hook(served, hook.url, clock)
        await _va(served, clock, "East")
        await _va(served, clock, "West")
        account = await accounts.resolve_account(served.store, LAB_DOMAIN)
        await accounts.create_token(
            served.store, account=account, va_name="East", now=clock.now(), policy=DEFAULT_POLICY
        )
        await hook.wait(3)
        assert [c.verdict for c in hook.calls] == ["ok"] * 3
        events = [c.event for c in hook.calls]
        assert sorted(e["type"] for e in events) == [
            "token_created",
            "virtual_account_created",
            "virtual_account_created",
        ]
        assert {e["smart_account"] for e in events} == {LAB_DOMAIN}
        assert {e["virtual_account"] for e in events} == {"East", "West"}
        assert all(c.headers["X-SSMlab-Event"] == c.event["type"] for c in hook.calls)
        assert len({c.event["id"] for c in hook.calls}) == 3
        webhook_id = (await subscriptions.webhooks(served.store))[0][0].id
        log = await until(lambda: _log_len(served, webhook_id, 3))
        assert all(a.ok and a.status_code == 200 for a in log)
        rows = await _deliveries(served.store, "webhook")
        assert {r.status for r in rows} == {DeliveryStatus.DELIVERED}  # type: ignore[attr-defined]


async def _log_len(served: Served, webhook_id: int, n: int) -> list[object] | None:
    log = await subscriptions.webhook_log(served.store, webhook_id)
    return log if len(log) >= n else None


async def test_a_wrong_secret_fails_verification_and_is_retried(
    ssm_db: Path | PgUrl, tmp_path: Path, clock: VirtualClock, lab_pki: LabPki, pki_dir: Path
) -> None:
    async with receiver(clock) as hook, serve_notifying(ssm_db, clock, lab_pki, pki_dir) as served:
        secret = await _hook(served, hook.url, clock)
        hook.secret = "whsec_not-the-one-shown"
        await _va(served, clock, "East")
        await hook.wait(1)
        assert hook.calls[0].verdict == "signature_mismatch"
        rows = await until(lambda: _failed(served))
        assert rows[0].attempts == 1 and "HTTP 400" in rows[0].last_error
        hook.secret = secret  # the receiver is given the right secret: the retry verifies
        await clock.advance(timedelta(seconds=RETRY_INITIAL))
        await hook.wait(2)
        assert hook.calls[1].verdict == "ok" and hook.calls[1].body == hook.calls[0].body


async def _failed(served: Served) -> list[object] | None:
    rows = await _deliveries(served.store, "webhook")
    return rows if rows and rows[0].status == DeliveryStatus.FAILED else None  # type: ignore[attr-defined]


async def test_a_500_is_retried_after_backoff_on_the_domain_clock(
    ssm_db: Path | PgUrl, tmp_path: Path, clock: VirtualClock, lab_pki: LabPki, pki_dir: Path
) -> None:
    async with receiver(clock) as hook, serve_notifying(ssm_db, clock, lab_pki, pki_dir) as served:
        hook.secret = await _hook(served, hook.url, clock)
        hook.script = [500, 500]
        t0 = epoch(clock.now())
        await _va(served, clock, "East")
        await hook.wait(1)
        row = (await until(lambda: _failed(served)))[0]
        assert row.next_attempt_at == t0 + RETRY_INITIAL and row.last_error.startswith("HTTP 500")
        await clock.advance(timedelta(seconds=RETRY_INITIAL - 1))
        assert len(hook.calls) == 1  # not before its instant
        await clock.advance(timedelta(seconds=1))
        await hook.wait(2)
        row = (await until(lambda: _failed_again(served)))[0]
        assert row.next_attempt_at == t0 + RETRY_INITIAL + 2 * RETRY_INITIAL  # doubled
        await clock.advance(timedelta(seconds=2 * RETRY_INITIAL))
        await hook.wait(3)
        assert [c.verdict for c in hook.calls] == ["ok"] * 3 and hook.calls[2].body == hook.calls[0].body
        row = (await until(lambda: _delivered(served)))[0]
        assert row.attempts == 3 and row.delivered_at == t0 + 3 * RETRY_INITIAL


async def _failed_again(served: Served) -> list[object] | None:
    rows = await _deliveries(served.store, "webhook")
    return rows if rows and rows[0].attempts == 2 and rows[0].status == DeliveryStatus.FAILED else None  # type: ignore[attr-defined]


async def _delivered(served: Served, channel: str = "webhook") -> list[object] | None:
    rows = await _deliveries(served.store, channel)
    return rows if rows and all(r.status == DeliveryStatus.DELIVERED for r in rows) else None  # type: ignore[attr-defined]


async def test_nothing_is_lost_across_a_restart(
    ssm_db: Path | PgUrl, tmp_path: Path, clock: VirtualClock, lab_pki: LabPki, pki_dir: Path
) -> None:
    """A failed call waiting for its retry, and events committed while no SSM ran, are all
    delivered by the next SSM on the same database."""
    db = ssm_db
    async with receiver(clock) as hook:
        async with serve_notifying(db, clock, lab_pki, pki_dir) as served:
            hook.secret = await _hook(served, hook.url, clock)
            hook.script = [503]
            await _va(served, clock, "East")
            await hook.wait(1)
            await until(lambda: _failed(served))
        store = await Store.open(db)  # between the two runs: an event committed, no SSM to send it
        try:
            account = await accounts.resolve_account(store, LAB_DOMAIN)
            await accounts.create_virtual_account(store, account=account, name="West", description="", now=clock.now())
        finally:
            await store.close()
        later = VirtualClock(clock.now())
        async with serve_notifying(db, later, lab_pki, pki_dir) as served:
            await hook.wait(2)  # the new event at once
            await later.advance(timedelta(seconds=RETRY_INITIAL))
            await hook.wait(3)  # the failed one at its retry
            assert sorted(c.event["virtual_account"] for c in hook.good()) == ["East", "East", "West"]
            await until(lambda: _delivered(served))


async def test_mail_through_smtp_with_starttls(
    ssm_db: Path | PgUrl, tmp_path: Path, clock: VirtualClock, lab_pki: LabPki, pki_dir: Path
) -> None:
    async with (
        catcher(pki_dir, require_starttls=True) as (caught, port),
        serve_notifying(ssm_db, clock, lab_pki, pki_dir, smtp=("127.0.0.1", port)) as served,
    ):
        await subscriptions.add_address(served.store, LAB_DOMAIN, "Licensing@Example.com", clock.now())
        await subscriptions.add_address(served.store, LAB_DOMAIN, "noc@example.com", clock.now())
        await _notify(served.store, clock)
        await until(lambda: caught.mails)
        mail = caught.mails[0]
        assert mail.tls and mail.subject == "Insufficient Licenses: UCCE"
        assert mail.to == "licensing@example.com, noc@example.com"
        assert mail.body.strip() == "DEFAULT: 3 in use, 2 purchased."
        assert mail.headers["X-SSMlab-Kind"] == "Insufficient Licenses"
        rows = await until(lambda: _delivered(served, "mail"))
        assert rows[0].attempts == 1  # type: ignore[attr-defined]


async def test_mail_through_smtp_without_starttls(
    ssm_db: Path | PgUrl, tmp_path: Path, clock: VirtualClock, lab_pki: LabPki, pki_dir: Path
) -> None:
    async with (
        catcher(None) as (caught, port),
        serve_notifying(ssm_db, clock, lab_pki, pki_dir, smtp=("127.0.0.1", port)) as served,
    ):
        await subscriptions.add_address(served.store, LAB_DOMAIN, "noc@example.com", clock.now())
        await _notify(served.store, clock)
        await until(lambda: caught.mails)
        assert not caught.mails[0].tls and caught.mails[0].to == "noc@example.com"


async def test_an_smtp_server_that_is_down_keeps_the_mail_until_it_comes_back(
    ssm_db: Path | PgUrl, tmp_path: Path, clock: VirtualClock, lab_pki: LabPki, pki_dir: Path
) -> None:
    with socket.socket() as s:  # a free loopback port, nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    async with serve_notifying(ssm_db, clock, lab_pki, pki_dir, smtp=("127.0.0.1", port)) as served:
        await subscriptions.add_address(served.store, LAB_DOMAIN, "noc@example.com", clock.now())
        await _notify(served.store, clock)
        rows = await until(lambda: _failed_mail(served))
        assert rows[0].attempts == 1 and rows[0].last_error  # type: ignore[attr-defined]
        async with catcher(pki_dir, port=port) as (caught, _):
            await clock.advance(timedelta(seconds=RETRY_INITIAL))
            await until(lambda: caught.mails)
            assert caught.mails[0].subject == "Insufficient Licenses: UCCE"
            await until(lambda: _delivered(served, "mail"))


async def _failed_mail(served: Served) -> list[object] | None:
    rows = await _deliveries(served.store, "mail")
    return rows if rows and rows[0].status == DeliveryStatus.FAILED else None  # type: ignore[attr-defined]


async def test_without_smtp_the_mail_waits_and_an_account_without_addresses_gets_none(
    ssm_db: Path | PgUrl, tmp_path: Path, clock: VirtualClock, lab_pki: LabPki, pki_dir: Path
) -> None:
    async with serve_notifying(ssm_db, clock, lab_pki, pki_dir) as served:
        await _notify(served.store, clock, "no address yet")
        assert await _deliveries(served.store, "mail") == []
        await subscriptions.add_address(served.store, LAB_DOMAIN, "noc@example.com", clock.now())
        await _notify(served.store, clock)
        await clock.advance(timedelta(hours=2))
        rows = await _deliveries(served.store, "mail")
        assert [(r.status, r.attempts) for r in rows] == [(DeliveryStatus.PENDING, 0)]  # type: ignore[attr-defined]


async def test_a_clock_jump_makes_the_retries_due_on_the_way_once_at_its_end(
    ssm_db: Path | PgUrl, tmp_path: Path, clock: VirtualClock, lab_pki: LabPki, pki_dir: Path
) -> None:
    """A receiver down for a whole 30-day jump is not called every hour of it: the first retry at
    its instant, the rest once when the jump ends; the backoff goes on from there."""
    async with receiver(clock) as hook, serve_notifying(ssm_db, clock, lab_pki, pki_dir) as served:
        hook.secret = await _hook(served, hook.url, clock)
        hook.script = [503] * 10
        t0 = epoch(clock.now())
        await _va(served, clock, "East")
        await hook.wait(1)
        await until(lambda: _failed(served))
        await clock.advance(timedelta(days=30))
        await hook.wait(3)
        await until(lambda: _failed_times(served, 3))
        row = (await _deliveries(served.store, "webhook"))[0]
        end = t0 + 30 * 86400
        assert len(hook.calls) == 3 and row.next_attempt_at == end + 4 * RETRY_INITIAL  # type: ignore[attr-defined]
        log = await subscriptions.webhook_log(served.store, row.webhook_id)  # type: ignore[attr-defined]
        assert [a.at for a in reversed(log)] == [t0, t0 + RETRY_INITIAL, end]


async def _failed_times(served: Served, n: int) -> list[object] | None:
    rows = await _deliveries(served.store, "webhook")
    return rows if rows and rows[0].attempts == n and rows[0].status == DeliveryStatus.FAILED else None  # type: ignore[attr-defined]
