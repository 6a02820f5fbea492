"""The frame format both transports share (qorch.wire, FR-014): what a receiver makes of
bytes that are not a well-formed frame."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from qorch.transport import TransportError
from qorch.wire import REJECTED_FRAMES, FrameReader, Prepended, encode_frame, encode_varint


async def read_all(data: bytes, max_bytes: int = 1024) -> list:
    send, receive = trio.testing.memory_stream_pair()
    await send.send_all(data)
    await send.aclose()
    reader = FrameReader(receive, max_bytes)
    out = []
    while (message := await reader.read()) is not None:
        out.append(message)
    return out


def test_frames_round_trip_and_a_clean_end_is_none():
    frames = encode_frame({"id": 1, "verb": "status", "body": {}}) + encode_frame({"id": 2})
    assert trio.run(read_all, frames) == [{"id": 1, "verb": "status", "body": {}}, {"id": 2}]
    long = encode_frame({"id": 3, "pad": "x" * 300})
    n = len(long) - 2  # the payload: 317 bytes, so a two-byte varint, low 7 bits first
    assert long[:2] == bytes([n & 0x7F | 0x80, n >> 7])
    assert trio.run(read_all, long)[0]["id"] == 3


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\xff" * 11, "protocol"),  # a varint that never ends
        (b"\x03abc", "protocol"),  # not JSON
        (b"\x02[]", "protocol"),  # JSON, not an object
        (b"\x04\xff\xfe{}", "protocol"),  # not UTF-8
        (b"\xe8\x07" + b"{" * 10, "too_large"),  # declares 1000 bytes; the limit is 100
        (b"\x09{}", "unreachable"),  # the stream ends inside the frame
    ],
    ids=["endless-varint", "not-json", "not-object", "not-utf8", "too-large", "cut-short"],
)
def test_malformed_frames_are_reported_by_code_and_counted(data, code):
    before = dict(REJECTED_FRAMES)
    with pytest.raises(TransportError) as info:
        trio.run(read_all, data, 100)
    assert info.value.code == code
    counted = {k: REJECTED_FRAMES[k] - before.get(k, 0) for k in REJECTED_FRAMES}
    # a sender's error (too large, malformed) is counted; a cut stream is not its fault
    expected = {code: 1} if code != "unreachable" else {}
    assert {k: v for k, v in counted.items() if v} == expected


def test_bytes_read_past_a_handshake_are_replayed_first():
    async def scenario() -> list:
        send, receive = trio.testing.memory_stream_pair()
        await send.send_all(encode_frame({"id": 2}))
        await send.aclose()
        head = encode_frame({"id": 1})
        reader = FrameReader(Prepended(receive, head), 100)
        return [await reader.read(), await reader.read(), await reader.read()]

    assert trio.run(scenario) == [{"id": 1}, {"id": 2}, None]


def test_infinity_is_not_json():
    with pytest.raises(ValueError):
        encode_frame({"x": float("inf")})


@pytest.mark.parametrize(
    "payload",
    [b'{"id": 1, "x": ' + b"9" * 5000 + b"}", b"[" * 30_000],
    ids=["5000-digit-int", "30000-deep"],
)
def test_json_that_python_refuses_is_a_protocol_error_not_a_crash(payload):
    with pytest.raises(TransportError) as info:
        trio.run(read_all, encode_varint(len(payload)) + payload, 100_000)
    assert info.value.code == "protocol"


def test_a_send_cancelled_part_way_closes_the_channel_instead_of_corrupting_it():
    from qorch.wire import Channel

    async def scenario():
        near, far = trio.testing.lockstep_stream_pair()  # every byte waits for a reader
        channel = Channel(near, "far", "near", None, (), 1 << 20)
        with pytest.raises(TransportError) as info:
            await channel.call("status", {"pad": "x" * 50_000}, timeout=0.2)
        assert info.value.code == "timeout"
        assert channel.closed.is_set()  # the next call will redial rather than hang
        with pytest.raises(TransportError) as again:
            await channel.call("status", {}, timeout=0.2)
        assert again.value.code == "unreachable"
        await far.aclose()

    trio.run(scenario)
