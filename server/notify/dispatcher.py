"""The dispatcher: makes the due delivery attempts and records each outcome (domain time).

One attempt: in one transaction, count it and schedule the retry (``shared.delivery``), then send,
then commit the outcome. So a delivery is never lost: a crash between the two commits leaves a
retry scheduled, and a restart resumes every delivery that was not recorded as delivered.

It sleeps on the domain clock until the next attempt falls due (a virtual clock's advance runs
the first retry at its own instant; the retries due later in the same jump are made once, when the
jump ends, as the agent batches its reports); a real-time poll wakes it when new deliveries are
queued by whatever wrote an event or a notification. Without ``--smtp`` the e-mails stay pending.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from datetime import timedelta
from email.message import EmailMessage

import aiohttp

from server.notify import messages, senders
from server.notify.senders import Outcome, Smtp
from server.store import Store, UnitOfWork
from server.store.rows import Delivery
from shared import delivery
from shared.clock import AnyClock, epoch, utc
from shared.delivery import Channel
from shared.logging import get_logger

log = get_logger("ssm.notify")

#: Real seconds between looks for newly queued deliveries.
POLL = 0.5
#: With nothing queued, sleep this much domain time (a new delivery wakes it sooner).
IDLE = timedelta(days=365)

_Work = tuple[Channel, object]


def _due(uow: UnitOfWork, *, t: int, mail: bool) -> list[Delivery]:
    return uow.deliveries.due(t, mail=mail)


class Dispatcher:
    def __init__(self, store: Store, clock: AnyClock, *, smtp: Smtp | None, tls: ssl.SSLContext) -> None:
        self.store = store
        self.clock = clock
        self.smtp = smtp
        self.tls = tls
        self.wake = asyncio.Event()
        self.attempts = 0  # made by this process (a figure for tests and /metrics)

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=senders.TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(ssl=self.tls)) as session:
            poll = asyncio.create_task(self._poll(), name="deliveries-poll")
            try:
                while True:
                    self.wake.clear()
                    try:
                        await self.deliver_due(session)
                    except Exception:
                        log.exception("deliveries_failed")
                    nxt = await self.store.read(lambda uow: uow.deliveries.next_due(mail=self.smtp is not None))
                    target = utc(nxt) if nxt is not None else self.clock.now() + IDLE
                    if nxt is not None and self.clock.catching_up:
                        # A jump of the clock: the retries due on the way are made once, at its end
                        # (a dead receiver is not called every hour of a year-long jump).
                        self.clock.after_catch_up(self.wake)
                        target = self.clock.now() + IDLE
                    await self.clock.sleep_until(target, interrupt=self.wake)
            finally:
                poll.cancel()

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(POLL)
            try:
                nxt = await self.store.read(lambda uow: uow.deliveries.next_due(mail=self.smtp is not None))
            except Exception:
                log.exception("deliveries_poll_failed")
                continue
            if nxt is not None and nxt <= epoch(self.clock.now()) and not self.wake.is_set():
                self.clock.poke(self.wake)

    async def deliver_due(self, session: aiohttp.ClientSession) -> int:
        """Make every attempt due now; how many were made."""
        made = 0
        while True:
            t = epoch(self.clock.now())
            due = await self.store.read(functools.partial(_due, t=t, mail=self.smtp is not None))
            if not due:
                return made
            for d in due:
                made += await self._attempt(session, d.id, t)

    async def _attempt(self, session: aiohttp.ClientSession, delivery_id: int, t: int) -> int:
        work = await self.store.write(lambda uow: self._prepare(uow, delivery_id, t))
        if work is None:
            return 0
        d, what = work
        if isinstance(what, messages.WebhookCall):
            headers = messages.webhook_headers(what, d.id, t)
            outcome = await senders.post_webhook(session, what.url, what.body, headers)
        else:
            assert self.smtp is not None and isinstance(what, EmailMessage)
            outcome = await senders.send_mail(self.smtp, what, self.tls)
        self.attempts += 1
        await self.store.write(lambda uow: self._record(uow, d, t, outcome))
        return 1

    def _prepare(self, uow: UnitOfWork, delivery_id: int, t: int) -> tuple[Delivery, object] | None:
        d = uow.deliveries.get(delivery_id)
        if d is None or d.status == delivery.DeliveryStatus.DELIVERED or (d.next_attempt_at or t + 1) > t:
            return None  # done or rescheduled meanwhile
        what: object
        if d.channel == Channel.WEBHOOK:
            what = messages.webhook_call(uow, d)
        else:
            what = messages.mail(uow, d, self.smtp.sender if self.smtp else messages.DEFAULT_FROM)
        if what is None:
            uow.deliveries.record(d.id, at=t, ok=False, status_code=None, error="its event or notification is gone")
            uow.deliveries.drop(d.id)
            return None
        uow.deliveries.attempting(d.id, next_at=delivery.next_attempt(t, d.attempts + 1))
        return d, what

    @staticmethod
    def _record(uow: UnitOfWork, d: Delivery, t: int, outcome: Outcome) -> None:
        uow.deliveries.record(d.id, at=t, ok=outcome.ok, status_code=outcome.status_code, error=outcome.error)
        if not outcome.ok:
            log.warning(
                "delivery_failed",
                delivery=d.id,
                channel=d.channel,
                webhook=d.webhook_id,
                attempts=d.attempts + 1,
                status_code=outcome.status_code,
                error=outcome.error,
                retry_at=delivery.next_attempt(t, d.attempts + 1),
            )
