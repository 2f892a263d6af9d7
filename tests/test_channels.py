"""microasgi.channels with the in-memory backend, and what every backend shares: the message
kinds, the queue policies, the settings and the errors."""

import subprocess
import sys
from typing import Any

import anyio
import pytest

from microasgi.channels import (
    Channels,
    ChannelsError,
    Policy,
    PublishError,
    SlowConsumerError,
    Subscription,
)
from microasgi.channels.hub import redacted
from microasgi.channels.messages import decode, encode, normalize

TIMEOUT = 2.0


async def receive(subscription: Subscription, count: int = 1) -> list[Any]:
    """The next ``count`` messages, each wait bounded."""
    messages = []
    with anyio.fail_after(TIMEOUT):
        for _ in range(count):
            messages.append(await anext(subscription))
    return messages


def test_subscribers_receive_every_kind_of_message_in_order() -> None:
    async def main() -> None:
        async with (
            Channels() as channels,
            channels.subscribe("room") as first,
            channels.subscribe("room") as second,
        ):
            sent = ["text", b"\x00\xffbytes", {"n": [1, 2.5, None, True]}, 7, None]
            for message in sent:
                await channels.publish("room", message)
            assert await receive(first, len(sent)) == sent
            assert await receive(second, len(sent)) == sent
            assert first.pending == second.pending == 0

    anyio.run(main)


def test_only_what_is_published_while_subscribed_on_that_channel_arrives() -> None:
    async def main() -> None:
        async with Channels() as channels:
            await channels.publish("room", "before anyone listened")
            async with channels.subscribe("room") as room, channels.subscribe("other") as other:
                await channels.publish("other", "elsewhere")
                await channels.publish("room", "now")
                assert await receive(room) == ["now"]
                assert await receive(other) == ["elsewhere"]
            async with channels.subscribe("room") as again:
                await channels.publish("room", "again")
                assert await receive(again) == ["again"]
                assert room.pending == 0  # the left subscription heard nothing more

    anyio.run(main)


def test_json_messages_are_copies_and_arrive_as_json_would_carry_them() -> None:
    async def main() -> None:
        async with Channels() as channels, channels.subscribe("room") as room:
            document: dict[str, tuple[str, ...]] = {"tags": ("a", "b")}
            await channels.publish("room", document)
            document["tags"] = ("changed",)
            await channels.publish("room", bytearray(b"ab"))
            await channels.publish("room", memoryview(b"cd"))
            assert await receive(room, 3) == [{"tags": ["a", "b"]}, b"ab", b"cd"]

    anyio.run(main)


@pytest.mark.parametrize("message", [object(), {(1, 2): "tuple key"}, float("nan"), {"s": {1}}])
def test_a_message_that_is_not_str_bytes_or_json_is_refused(message: object) -> None:
    async def main() -> None:
        async with Channels() as channels:
            with pytest.raises(TypeError, match="str, bytes or JSON-able"):
                await channels.publish("room", message)

    anyio.run(main)


def test_channel_names_are_non_empty_strings() -> None:
    channels = Channels()
    with pytest.raises(ValueError, match="may not be empty"):
        channels.subscribe("")
    with pytest.raises(TypeError, match="is a str, not bytes"):
        channels.subscribe(b"room")  # type: ignore[arg-type]

    async def main() -> None:
        async with channels:
            with pytest.raises(ValueError, match="may not be empty"):
                await channels.publish("", "x")

    anyio.run(main)


def test_channels_must_be_open_to_publish_or_subscribe() -> None:
    channels = Channels()

    async def main() -> None:
        with pytest.raises(RuntimeError, match="use `async with Channels"):
            await channels.publish("room", "x")
        with pytest.raises(RuntimeError, match="not open"):
            async with channels.subscribe("room"):
                pass  # pragma: no cover - entering raises
        async with channels:
            with pytest.raises(RuntimeError, match="already open"):
                await channels.__aenter__()
        # Closed, it can be opened again (a second lifespan of the same app).
        async with channels, channels.subscribe("room") as room:
            await channels.publish("room", "reopened")
            assert await receive(room) == ["reopened"]
        await channels.__aexit__(None, None, None)  # closing twice is harmless

    anyio.run(main)


def test_closing_ends_each_subscription_after_its_queued_messages() -> None:
    heard: list[Any] = []

    async def listen(channels: Channels, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with channels.subscribe("room") as room:
            task_status.started()
            async for message in room:
                heard.append(message)

    async def main() -> None:
        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as task_group, Channels() as channels:
                await task_group.start(listen, channels)
                await channels.publish("room", "last words")

    anyio.run(main)
    assert heard == ["last words"]


def test_a_cancelled_subscriber_leaves_the_channel() -> None:
    async def main() -> None:
        async with Channels() as channels:
            with anyio.move_on_after(0.05):
                async with channels.subscribe("room") as room:
                    await anext(room)  # pragma: no branch - cancelled while waiting
            assert channels._topics == {}
            await channels.publish("room", "to nobody")

    anyio.run(main)


def test_subscribers_joining_at_once_all_hear_the_channel() -> None:
    heard: list[Any] = []

    async def listen(channels: Channels, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with channels.subscribe("room") as room:
            task_status.started()
            heard.extend(await receive(room))

    async def main() -> None:
        async with Channels() as channels, anyio.create_task_group() as task_group:
            async with anyio.create_task_group() as joining:
                for _ in range(3):
                    joining.start_soon(task_group.start, listen, channels)
            await channels.publish("room", "all of you")

    anyio.run(main)
    assert heard == ["all of you"] * 3


def test_the_memory_backend_runs_on_trio() -> None:
    async def main() -> None:
        async with Channels() as channels, channels.subscribe("room") as room:
            await channels.publish("room", "on trio")
            assert await receive(room) == ["on trio"]

    anyio.run(main, backend="trio")


# The queue policies: a consumer that does not read while 5 messages come into a queue of 3.


async def overflow(channels: Channels, policy: Policy) -> tuple[Subscription, list[Any]]:
    """Publish 1..5 to a subscription of 3 that nobody reads; then read what it kept."""
    async with channels.subscribe("room", queue_size=3, policy=policy) as room:
        for number in range(1, 6):
            await channels.publish("room", number)
        # "disconnect" counts the 3 queued and the 4th; the 5th is no longer its.
        await wait_delivered(room, 4 if policy == "disconnect" else 5)
        kept = []
        try:
            with anyio.fail_after(TIMEOUT):
                kept = [message async for message in until_empty(room)]
        except SlowConsumerError:
            kept.append("SlowConsumerError")
        return room, kept


async def wait_delivered(subscription: Subscription, count: int) -> None:
    """Until ``count`` messages reached the subscription (queued or dropped); bounded."""
    with anyio.fail_after(TIMEOUT):
        # Polling: a subscription signals its consumer only, and this consumer must not read.
        while subscription.pending + subscription.dropped < count:  # noqa: ASYNC110
            await anyio.sleep(0.01)


async def until_empty(subscription: Subscription) -> Any:
    while subscription.pending:
        yield await anext(subscription)
    if subscription.dropped and subscription.policy == "disconnect":
        await anext(subscription)  # raises


def run_overflow(url: str, policy: Policy) -> tuple[Subscription, list[Any], int]:
    result: list[Any] = []

    async def main() -> None:
        async with Channels(url) as channels:
            room, kept = await overflow(channels, policy)
            result.extend([room, kept, channels.dropped])

    anyio.run(main)
    return result[0], result[1], result[2]


def test_drop_oldest_keeps_the_latest_messages_and_counts_the_rest() -> None:
    room, kept, total = run_overflow("memory://", "drop_oldest")
    assert kept == [3, 4, 5]
    assert room.dropped == total == 2


def test_drop_newest_keeps_the_backlog_and_counts_what_did_not_fit() -> None:
    room, kept, total = run_overflow("memory://", "drop_newest")
    assert kept == [1, 2, 3]
    assert room.dropped == total == 2


def test_disconnect_ends_the_subscription_with_a_clear_error() -> None:
    async def main() -> None:
        async with Channels(queue_size=2) as channels, channels.subscribe("room") as room:
            assert room.policy == "disconnect"  # the default: nothing is lost silently
            for number in range(4):
                await channels.publish("room", number)
            with pytest.raises(SlowConsumerError, match=r"'room' fell 2 messages behind"):
                await anext(room)
            with pytest.raises(SlowConsumerError):
                await anext(room)  # it stays ended
            # The three that never reached it, counted once: later ones are not its.
            assert room.dropped == channels.dropped == 3

    anyio.run(main)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="queue_size must be an int of at least 1, not 0"):
        Channels(queue_size=0)
    with pytest.raises(ValueError, match="not True"):
        Channels(queue_size=True)
    with pytest.raises(ValueError, match="policy must be one of 'drop_oldest'"):
        Channels(policy="block")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not 'later'"):
        Channels().subscribe("room", policy="later")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="Unsupported channels URL 'kafka://h:1'"):
        Channels("kafka://h:1")
    channels = Channels(queue_size=5, policy="drop_newest")
    assert (channels.backend, channels.queue_size, channels.policy) == ("memory", 5, "drop_newest")


def test_urls_in_messages_hide_the_password() -> None:
    assert redacted("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redacted("redis://user:s3cret@cache/1") == "redis://user:***@cache/1"
    assert redacted("redis://cache:6379") == "redis://cache:6379"
    channels = Channels("redis://:s3cret@127.0.0.1:1/0")
    assert channels.url == "redis://:***@127.0.0.1:1/0"
    assert channels.backend == "redis"


def test_a_redis_url_without_redis_py_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "microasgi.channels.redis_backend", raising=False)
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'microasgi\[redis\]'"):
        Channels("redis://127.0.0.1:6379/0")


def test_importing_microasgi_does_not_import_redis() -> None:
    code = "import sys, microasgi, microasgi.channels; print(sorted(m for m in sys.modules"
    code += " if m.split('.')[0] == 'redis'))"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert completed.stdout.strip() == "[]"


def test_the_errors_share_a_base_class() -> None:
    assert issubclass(SlowConsumerError, ChannelsError)
    assert issubclass(PublishError, ChannelsError)


@pytest.mark.parametrize(
    "message", ["", "texte accentué", "\x00s looks tagged", b"", b"\x00j{", {"a": 1}, [1], 0.5]
)
def test_the_wire_form_keeps_the_kind_and_value(message: object) -> None:
    assert decode(encode(message)) == normalize(message) == message


def test_payloads_from_other_tools_arrive_as_text_or_bytes() -> None:
    assert decode(b"hello from redis-cli") == "hello from redis-cli"
    assert decode(b"\xff\xfe") == b"\xff\xfe"
    with pytest.raises(ValueError, match="Expecting value"):
        decode(b"\x00jnot json")
