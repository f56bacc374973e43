"""Parking and waking job activations (long_polling.py) and the job activator's give-back rules
(jobs.py), driven directly on an event loop, without gRPC."""

from __future__ import annotations

import asyncio
import threading

from propolis.gateway.config import GatewayConfig
from propolis.gateway.jobs import JobActivator
from propolis.gateway.long_polling import JobNotifications
from propolis.gateway.requests import JobActivation
from propolis.gateway.routing import Router

from propolis.records import DEFAULT_TENANT, JobIntent, ValueType
from tests.gateway.fake_broker import FakeBroker


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 10))


async def parked(notifications: JobNotifications, job_type: str, count: int):
    """Register `count` waiters and park each of them (as tasks)."""
    waiters = [notifications.register(job_type) for _ in range(count)]
    tasks = [asyncio.ensure_future(w.park(5)) for w in waiters]
    await asyncio.sleep(0)
    assert all(w.parked for w in waiters)
    return waiters, tasks


def test_news_wakes_one_parked_waiter_not_all():
    async def scenario():
        notifications = JobNotifications(asyncio.get_running_loop())
        waiters, tasks = await parked(notifications, "charge", 3)
        notifications.notify("charge")
        await asyncio.sleep(0)
        assert [w.woken for w in waiters] == [True, False, False]
        assert tasks[0].done() and not tasks[1].done()
        for task in tasks:
            task.cancel()

    run(scenario())


def test_news_goes_to_parked_waiters_in_turn():
    async def scenario():
        notifications = JobNotifications(asyncio.get_running_loop())
        waiters = [notifications.register("charge") for _ in range(3)]
        woken = []
        for _ in range(4):
            tasks = [asyncio.ensure_future(w.park(5)) for w in waiters]
            await asyncio.sleep(0)
            notifications.notify("charge")
            await asyncio.sleep(0)
            [first] = [i for i, w in enumerate(waiters) if w.consume()]
            woken.append(first)
            for task in tasks:
                task.cancel()
            await asyncio.sleep(0)
        assert woken == [0, 1, 2, 0]

    run(scenario())


def test_news_of_another_type_wakes_nobody():
    async def scenario():
        notifications = JobNotifications(asyncio.get_running_loop())
        waiters, tasks = await parked(notifications, "charge", 2)
        notifications.notify("ship")
        await asyncio.sleep(0)
        assert not any(w.woken for w in waiters)
        for task in tasks:
            task.cancel()

    run(scenario())


def test_news_while_no_waiter_is_parked_marks_every_busy_waiter():
    async def scenario():
        notifications = JobNotifications(asyncio.get_running_loop())
        busy = [notifications.register("charge") for _ in range(2)]  # activating, not parked
        notifications.notify("charge")
        assert all(w.woken for w in busy)
        # a busy waiter that then parks does not sleep past the news
        assert await busy[0].park(5) is True

    run(scenario())


def test_news_passed_on_skips_the_waiter_that_passes_it():
    async def scenario():
        notifications = JobNotifications(asyncio.get_running_loop())
        passer = notifications.register("charge")
        notifications.notify("charge", passed_by=passer)
        assert not passer.woken

    run(scenario())


def test_a_waiter_leaving_with_news_it_did_not_act_on_passes_it_on():
    async def scenario():
        notifications = JobNotifications(asyncio.get_running_loop())
        leaving = notifications.register("charge")
        waiters, tasks = await parked(notifications, "charge", 1)
        leaving.wake()  # news arrived while it was busy
        notifications.unregister(leaving)
        await asyncio.sleep(0)
        assert waiters[0].woken and tasks[0].done()

    run(scenario())


def test_a_waiter_parks_until_its_timeout_without_news():
    async def scenario():
        notifications = JobNotifications(asyncio.get_running_loop())
        waiter = notifications.register("charge")
        assert await waiter.park(0.05) is False
        assert not waiter.parked

    run(scenario())


def test_news_from_a_broker_thread_reaches_the_loop_in_one_hand_over_per_burst():
    async def scenario():
        loop = asyncio.get_running_loop()
        notifications = JobNotifications(loop)
        handed_over = []
        original = loop.call_soon_threadsafe

        def counting(callback, *args):
            handed_over.append(callback)
            return original(callback, *args)

        loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
        waiters, tasks = await parked(notifications, "charge", 1)
        thread = threading.Thread(target=lambda: [notifications.on_jobs_available("charge") for _ in range(100)])
        thread.start()
        thread.join()
        await asyncio.sleep(0.01)
        assert waiters[0].woken
        assert len(handed_over) <= 2  # once, or twice if the loop drained in the middle
        del loop.call_soon_threadsafe

    run(scenario())


def test_news_after_close_is_ignored():
    async def scenario():
        notifications = JobNotifications(asyncio.get_running_loop())
        waiters, tasks = await parked(notifications, "charge", 1)
        notifications.close()
        notifications.on_jobs_available("charge")
        await asyncio.sleep(0.01)
        assert not waiters[0].woken
        tasks[0].cancel()

    run(scenario())


# -- the activator -----------------------------------------------------------------------------


def activator_for(broker: FakeBroker, **config) -> tuple[JobActivator, JobNotifications]:
    notifications = JobNotifications(asyncio.get_running_loop())
    activator = JobActivator(broker, Router(broker), GatewayConfig(**config), notifications)
    broker.add_job_available_listener(notifications.on_jobs_available)
    return activator, notifications


def stream_activation(max_jobs: int = 5) -> JobActivation:
    value = {"type": "charge", "worker": "s", "timeout": 60_000, "maxJobsToActivate": max_jobs, "fetchVariables": [], "tenantIds": [DEFAULT_TENANT]}
    return JobActivation("charge", value, max_jobs)


def test_a_stream_whose_write_fails_gives_back_that_job_and_every_job_not_yet_written():
    broker = FakeBroker()

    async def scenario():
        activator, _ = activator_for(broker)
        keys = [broker.add_job("charge") for _ in range(4)]
        written = []

        async def write(job):
            if len(written) == 1:
                raise ConnectionResetError("the client went away")
            written.append(job[0])

        try:
            await activator.stream(stream_activation(), write)
        except ConnectionResetError:
            pass
        await activator.drain(5)
        assert written == keys[:1]
        assert sorted(broker.yielded) == sorted(keys[1:])

    run(scenario())


def test_a_stream_cancelled_while_a_write_waits_gives_back_the_unwritten_jobs():
    broker = FakeBroker()

    async def scenario():
        activator, _ = activator_for(broker)
        keys = [broker.add_job("charge") for _ in range(3)]
        written = []
        blocked = asyncio.Event()

        async def write(job):
            if written:
                blocked.set()
                await asyncio.Event().wait()  # flow control: the client reads no more
            written.append(job[0])

        task = asyncio.ensure_future(activator.stream(stream_activation(), write))
        await blocked.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await activator.drain(5)
        assert written == keys[:1]
        assert sorted(broker.yielded) == sorted(keys[1:])
        yields = broker.commands(ValueType.JOB, JobIntent.YIELD)
        assert {s.key for s in yields} == set(keys[1:]) and {s.partition_id for s in yields} == {1}

    run(scenario())


def test_a_job_that_cannot_be_given_back_at_first_is_tried_again():
    broker = FakeBroker()

    async def scenario():
        activator, _ = activator_for(broker, job_yield_retry_delay_ms=1)
        key = broker.add_job("charge")
        jobs, _ = await activator.activate(stream_activation())
        failures = iter([True])

        original = broker.execute

        async def flaky(*args, **kwargs):
            if args[2] == JobIntent.YIELD and next(failures, False):
                from propolis.broker.client import BrokerOverloadedError

                raise BrokerOverloadedError("busy")
            return await original(*args, **kwargs)

        broker.execute = flaky  # type: ignore[method-assign]
        activator.give_back(jobs)
        await activator.drain(5)
        assert broker.yielded == [key]

    run(scenario())


def test_a_full_batch_passes_the_news_on_so_another_parked_waiter_looks_too():
    broker = FakeBroker()

    async def scenario():
        activator, notifications = activator_for(broker)
        other = notifications.register("charge", (DEFAULT_TENANT,))  # the same group as the activation
        other_parked = asyncio.ensure_future(other.park(5))
        for _ in range(3):
            broker.add_job("charge", announce=False)
        activation = stream_activation(max_jobs=2)
        activation.request_timeout_ms = 1_000
        jobs = await activator.long_poll(activation)
        assert len(jobs) == 2
        await asyncio.sleep(0)
        assert other_parked.done() and other.woken

    run(scenario())


def test_news_wakes_one_parked_waiter_of_each_tenant_group():
    async def scenario():
        notifications = JobNotifications(asyncio.get_running_loop())
        flood = [notifications.register("charge", ("flood",)) for _ in range(3)]
        light = notifications.register("charge", ("light",))
        parked = [asyncio.ensure_future(w.park(5)) for w in (*flood, light)]
        await asyncio.sleep(0)
        notifications.notify("charge")
        await asyncio.sleep(0)
        assert light.woken  # the flood's waiters do not swallow the news
        assert [w.woken for w in flood].count(True) == 1
        # Passed on by a flood waiter: only the flood's group hears it.
        notifications.notify("charge", passed_by=next(w for w in flood if w.woken))
        await asyncio.sleep(0)
        assert [w.woken for w in flood].count(True) == 2
        for future in parked:
            future.cancel()

    run(scenario())
