"""One way to own async resources: ``async with thing:`` closes it with ``await thing.aclose()``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class AsyncClosing(ABC):
    """Base for objects that hold connections, processes or clients until ``aclose()``."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release everything; safe to call twice."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
