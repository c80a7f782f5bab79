"""Progress events of a sweep. The core yields them; the CLI renders them; the core never prints."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..core.codecs import EncodeSpec


@dataclass(frozen=True)
class Stage:
    name: str
    detail: str = ""


@dataclass(frozen=True)
class SweepStarted:
    total: int
    cached: int


@dataclass(frozen=True)
class PointDone:
    row: dict
    cached: bool


@dataclass(frozen=True)
class PointFailed:
    spec: EncodeSpec
    error: str


Event = Stage | SweepStarted | PointDone | PointFailed
EventSink = Callable[[Event], None]


def no_events(_: Event) -> None:
    """The default sink: nobody is listening."""
