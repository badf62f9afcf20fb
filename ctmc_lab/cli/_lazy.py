"""Parser pieces that read the library only when they are used, so building the parser loads no NumPy.

``ctmc-lab --help`` and every parse that does not need a registry must start as fast as the
interpreter allows (the library's modules import NumPy and SciPy, about half a second on a
small machine). Three deferrals keep the registries the single source of the choices:

* :class:`LazyChoices`: an argparse ``choices`` container read from a registry on first
  membership test, iteration or length (a parse that uses the option, or its help);
* :class:`LazyText`: a help-string parameter (``help="... %(name)s"`` with ``action.name =
  LazyText(...)``) computed when the help is formatted, by argparse and by the docs alike;
* :class:`DeferredParser`: a subcommand parser whose options are added on first parse or
  help (``ctmc-lab bench`` takes its options from the checkout's benchmark runner).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

__all__ = ["LazyChoices", "LazyText", "DeferredParser", "complete"]


class LazyChoices(Sequence):
    """A sequence of names computed by ``make()`` on first use, then kept.

    Examples
    --------
    >>> c = LazyChoices(lambda: ["b", "a"])
    >>> "a" in c, list(c)
    (True, ['b', 'a'])
    """

    def __init__(self, make: Callable[[], Sequence[str]]):
        self._make = make
        self._items: tuple[str, ...] | None = None

    def _load(self) -> tuple[str, ...]:
        if self._items is None:
            self._items = tuple(self._make())
        return self._items

    def __getitem__(self, i):
        return self._load()[i]

    def __len__(self) -> int:
        return len(self._load())

    def __contains__(self, value) -> bool:
        return value in self._load()

    def __iter__(self):
        return iter(self._load())

    def __str__(self) -> str:
        # As argparse's own %(choices)s (the docs' renderer formats the help with the raw object).
        return ", ".join(self._load())


class LazyText:
    """Text computed by ``make()`` when first formatted (``str``), then kept."""

    def __init__(self, make: Callable[[], str]):
        self._make = make
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = str(self._make())
        return self._text


class DeferredParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that runs queued ``fill(parser)`` steps before its first parse or help.

    ``defer(fill)`` queues a step; a parser with nothing queued is a plain ``ArgumentParser``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pending: list[Callable[[argparse.ArgumentParser], None]] = []

    def defer(self, fill: Callable[[argparse.ArgumentParser], None]) -> None:
        self._pending.append(fill)

    @property
    def deferred(self) -> bool:
        """Whether steps are still queued."""
        return bool(self._pending)

    def fill(self) -> None:
        """Run the queued steps, in order, once."""
        while self._pending:
            self._pending.pop(0)(self)

    def parse_known_args(self, args=None, namespace=None):
        self.fill()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self.fill()
        return super().format_help()

    def format_usage(self) -> str:
        self.fill()
        return super().format_usage()


def complete(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser`` with every deferred subcommand parser filled (for the docs, which read the actions)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                if isinstance(sub, DeferredParser):
                    sub.fill()
                complete(sub)
    return parser
