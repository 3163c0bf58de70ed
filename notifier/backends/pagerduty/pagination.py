"""Classic (offset) pagination that no server answer can turn into a loop.

The ``pagerduty`` client's own paginator trusts ``more``: an empty page that
says ``"more": true`` makes it ask ``limit=0&offset=0`` forever, and a server
that ignores ``offset`` makes it read the same page a hundred times. Here every
listing is bounded in items and pages, a page that does not advance is an
invalid answer, and an item seen on an earlier page is dropped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

#: PagerDuty's largest page (``limit``)
PAGE_SIZE = 100


class PageError(Exception):
    """A page that cannot be read or does not advance; ``str()`` is the reason,
    in words fit for a user's message (never text of the server's answer)."""


@dataclass(frozen=True)
class Listing:
    items: list[Any]
    #: False when a cap stopped the listing while the server still said "more"
    complete: bool


def paginate(
    fetch: Callable[[int, int], object],
    wrapper: str,
    *,
    max_items: int,
    max_pages: int,
    page_size: int = PAGE_SIZE,
) -> Listing:
    """Read the pages of a list: ``fetch(offset, limit)`` returns one decoded
    answer, whose ``wrapper`` key holds the page's items.

    At most ``max_pages`` requests and ``max_items`` items. Raises
    :class:`PageError` for a page of the wrong shape, an empty page that claims
    more, a page at another offset than asked, or a page with nothing new.
    """
    items: list[Any] = []
    seen: set[Hashable] = set()
    offset = 0
    for _ in range(max_pages):
        limit = min(page_size, max_items - len(items))
        if limit <= 0:
            break
        body = fetch(offset, limit)
        page, more = _page(body, wrapper, offset)
        if not page:
            if more:
                raise PageError("an empty page claimed more")
            return Listing(items, complete=True)
        new = 0
        for item in page:
            key = _identity(item)
            if key in seen:
                continue  # shifted in from an earlier page (or repeated): keep the first
            seen.add(key)
            items.append(item)
            new += 1
        if new == 0:
            raise PageError("a page repeated earlier results")
        if not more:
            return Listing(items[:max_items], complete=True)
        offset += len(page)
    return Listing(items[:max_items], complete=False)


def _page(body: object, wrapper: str, offset: int) -> tuple[list[Any], bool]:
    if not isinstance(body, Mapping):
        raise PageError("a page was not an object")
    page = body.get(wrapper)
    if not isinstance(page, list):
        raise PageError(f"a page had no {wrapper} list")
    more = body.get("more", False)  # no "more": not paginated, this is all
    if not isinstance(more, bool):
        raise PageError("a page's 'more' was not true or false")
    echoed = body.get("offset")
    if echoed is not None:
        if isinstance(echoed, bool) or not isinstance(echoed, int):
            raise PageError("a page's offset was not a number")
        if echoed != offset:
            shown = str(echoed) if abs(echoed) < 10**9 else "out of range"
            raise PageError(f"a page started at offset {shown} instead of {offset}")
    return page, more


def _identity(item: object) -> Hashable:
    """An item's id, or (for items without one, like on-call entries) its content."""
    if isinstance(item, Mapping):
        item_id = item.get("id")
        if isinstance(item_id, str) and item_id:
            return ("id", item_id)
    return ("content", json.dumps(item, sort_keys=True, default=repr))
