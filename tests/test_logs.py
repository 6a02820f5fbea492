"""Structured logs (FR-012): JSON lines with correlation ids, text on terminals."""

from __future__ import annotations

import io
import json
import logging

import pytest
import trio
from loguru import logger

from qorch.logs import configure_logging, correlation


@pytest.fixture
def stream():
    s = io.StringIO()
    yield s
    configure_logging("WARNING", "text", io.StringIO())


def lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_correlation_ids(stream):
    assert configure_logging("INFO", "json", stream) == "json"
    with correlation(request_id="r1", job_id="j1"):
        logger.info("compiling")
        with correlation(fragment_id="f3"):
            logger.bind(node="n2").warning("retry")
    logger.info("outside")
    first, second, third = lines(stream)
    assert first["message"] == "compiling" and first["level"] == "INFO"
    assert (first["request_id"], first["job_id"]) == ("r1", "j1") and "fragment_id" not in first
    assert (second["job_id"], second["fragment_id"], second["extra"]) == (
        "j1",
        "f3",
        {"node": "n2"},
    )
    assert "job_id" not in third


def test_ids_follow_into_child_tasks(stream):
    configure_logging("INFO", "json", stream)

    async def child(n):
        with correlation(fragment_id=f"f{n}"):
            await trio.sleep(0)
            logger.info("run")

    async def main():
        with correlation(job_id="j9"):
            async with trio.open_nursery() as nursery:
                for n in range(3):
                    nursery.start_soon(child, n)

    trio.run(main)
    got = lines(stream)
    assert {(g["job_id"], g["fragment_id"]) for g in got} == {
        ("j9", "f0"),
        ("j9", "f1"),
        ("j9", "f2"),
    }


def test_auto_is_json_off_a_terminal_and_text_can_be_forced(stream):
    assert configure_logging("INFO", "auto", stream) == "json"
    configure_logging("INFO", "text", stream)
    with correlation(job_id="j1"):
        logger.info("hello")
    assert "[job_id=j1] hello" in stream.getvalue()


def test_standard_logging_is_routed_and_levels_filter(stream):
    configure_logging("WARNING", "json", stream)
    logging.getLogger("somelib").warning("from stdlib")
    logger.info("too quiet")
    got = lines(stream)
    assert [g["message"] for g in got] == ["from stdlib"]


def test_exceptions_are_one_field_not_a_traceback(stream):
    configure_logging("INFO", "json", stream)
    try:
        raise ValueError("boom")
    except ValueError:
        logger.exception("failed")
    (line,) = lines(stream)
    assert line["exception"] == "ValueError: boom"


def test_unknown_correlation_keys_are_rejected():
    with pytest.raises(ValueError), correlation(jobid="x"):
        pass
