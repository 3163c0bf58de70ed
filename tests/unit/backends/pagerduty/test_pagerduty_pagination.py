"""Offset pagination that no server answer can turn into a loop, and the
message for a redirect (the server's Location header is untrusted text)."""

from __future__ import annotations

from typing import Any

import httpx2
import pagerduty
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.backends.pagerduty.client import translate_error
from notifier.backends.pagerduty.pagination import Listing, PageError, paginate
from notifier.backends.port import InvalidResponseError


class Server:
    """Answers ``fetch(offset, limit)`` from a list of bodies (the last one again
    once they run out) and records what was asked."""

    def __init__(self, bodies: list[object]) -> None:
        self.bodies = bodies
        self.asked: list[tuple[int, int]] = []

    def __call__(self, offset: int, limit: int) -> object:
        self.asked.append((offset, limit))
        return self.bodies[min(len(self.asked), len(self.bodies)) - 1]


class HonestServer:
    """Classic pagination over ``items``, with its own largest page."""

    def __init__(self, items: list[dict[str, Any]], max_page: int) -> None:
        self.items = items
        self.max_page = max_page
        self.asked: list[tuple[int, int]] = []

    def __call__(self, offset: int, limit: int) -> object:
        self.asked.append((offset, limit))
        size = min(limit, self.max_page)
        chosen = self.items[offset : offset + size]
        more = offset + len(chosen) < len(self.items)
        return {"things": chosen, "limit": size, "offset": offset, "more": more}


def things(*ids: str) -> list[dict[str, str]]:
    return [{"id": i} for i in ids]


def page(items: list[Any], *, more: bool, offset: int | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"things": items, "limit": 100, "more": more}
    if offset is not None:
        body["offset"] = offset
    return body


def read(fetch: Any, *, max_items: int = 1000, max_pages: int = 25, page_size: int = 100) -> Any:
    return paginate(fetch, "things", max_items=max_items, max_pages=max_pages, page_size=page_size)


# ---- the cases of the issue ------------------------------------------------------------


def test_an_empty_page_claiming_more_stops_after_one_request() -> None:
    server = Server([page([], more=True, offset=0)])
    with pytest.raises(PageError, match=r"^an empty page claimed more$"):
        read(server)
    assert server.asked == [(0, 100)]


def test_the_same_page_again_stops_after_two_requests() -> None:
    server = Server([page(things("A", "B"), more=True)])  # no offset echoed
    with pytest.raises(PageError, match=r"^a page repeated earlier results$"):
        read(server)
    assert server.asked == [(0, 100), (2, 100)]


def test_a_page_at_another_offset_than_asked_is_refused() -> None:
    server = Server([page(things("A"), more=True, offset=0)])
    with pytest.raises(PageError, match=r"^a page started at offset 0 instead of 1$"):
        read(server)


def test_overlapping_pages_drop_the_duplicates_and_go_on() -> None:
    # An incident resolved between two requests shifts the next page by one.
    server = Server(
        [
            page(things("A", "B", "C"), more=True, offset=0),
            page(things("C", "D", "E"), more=True, offset=3),
            page(things("F"), more=False, offset=6),
        ]
    )
    listing = read(server)
    assert [t["id"] for t in listing.items] == ["A", "B", "C", "D", "E", "F"]
    assert listing.complete


def test_items_without_ids_are_compared_by_content() -> None:
    entries = [{"level": 1, "user": {"id": "U1"}}, {"level": 2, "user": {"id": "U1"}}]
    server = Server([page([*entries, entries[0]], more=False)])
    assert read(server).items == entries


def test_no_more_property_means_this_is_all() -> None:
    server = Server([{"things": things("A")}])
    assert read(server) == Listing(things("A"), complete=True)


def test_the_caps_bound_items_and_pages() -> None:
    endless = Server([page(things(str(n)), more=True) for n in range(1000)])
    listing = read(endless, max_items=1000, max_pages=5)
    assert len(endless.asked) == 5 and len(listing.items) == 5 and not listing.complete
    server = HonestServer(things(*map(str, range(50))), max_page=100)
    listing = read(server, max_items=7)
    assert server.asked == [(0, 7)] and len(listing.items) == 7 and not listing.complete


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ([1, 2], "a page was not an object"),
        ("<html>", "a page was not an object"),
        ({"users": []}, "a page had no things list"),
        ({"things": {"id": "A"}}, "a page had no things list"),
        ({"things": [], "more": "yes"}, "a page's 'more' was not true or false"),
        ({"things": [], "more": False, "offset": "0"}, "a page's offset was not a number"),
        ({"things": [], "more": False, "offset": True}, "a page's offset was not a number"),
        ({"things": [], "more": False, "offset": 10**20}, "offset out of range instead of 0"),
    ],
)
def test_unreadable_pages_name_the_problem(body: object, reason: str) -> None:
    with pytest.raises(PageError, match=reason):
        read(Server([body]))


# ---- properties --------------------------------------------------------------------------

ids = st.sampled_from([f"P{n}" for n in range(12)])
items = st.one_of(
    st.builds(lambda i: {"id": i}, ids),
    st.fixed_dictionaries({"level": st.integers(1, 3)}),
    st.none(),
    st.integers(),
)
bodies = st.one_of(
    st.fixed_dictionaries(
        {"things": st.lists(items, max_size=6), "more": st.booleans()},
        optional={"offset": st.one_of(st.none(), st.integers(-5, 40)), "limit": st.integers()},
    ),
    st.none(),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


@settings(max_examples=400, deadline=None)
@given(
    answers=st.lists(bodies, min_size=1, max_size=8),
    max_items=st.integers(1, 40),
    max_pages=st.integers(1, 10),
    page_size=st.integers(1, 10),
)
def test_whatever_the_server_answers_the_listing_is_bounded(
    answers: list[object], max_items: int, max_pages: int, page_size: int
) -> None:
    server = Server(answers)
    try:
        listing = read(server, max_items=max_items, max_pages=max_pages, page_size=page_size)
    except PageError as exc:
        assert str(exc) and "\n" not in str(exc)
    else:
        assert len(listing.items) <= max_items
        keys = [i["id"] if isinstance(i, dict) and "id" in i else repr(i) for i in listing.items]
        assert len(keys) == len(set(keys))  # no duplicates
    assert 1 <= len(server.asked) <= max_pages
    offsets = [offset for offset, _ in server.asked]
    assert offsets == sorted(set(offsets))  # always forward, never the same page twice
    assert all(1 <= limit <= page_size for _, limit in server.asked)


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(0, 120),
    max_page=st.integers(1, 30),
    page_size=st.integers(1, 100),
)
def test_an_honest_server_is_read_whole_and_in_order(
    count: int, max_page: int, page_size: int
) -> None:
    everything = things(*(f"P{n}" for n in range(count)))
    server = HonestServer(everything, max_page)
    listing = read(server, max_items=1000, max_pages=200, page_size=page_size)
    assert listing == Listing(everything, complete=True)
    per_page = min(max_page, page_size)
    assert len(server.asked) == max(1, -(-count // per_page))  # ceil: no extra request


# ---- redirects: the Location header is the server's text -----------------------------------

API = "https://api.pagerduty.com"


def redirect(status: int, location: str | None) -> InvalidResponseError:
    # as it arrives on the wire: bytes, whatever the server put there
    headers = {"location": location.encode("utf-8", "replace")} if location is not None else {}
    response = httpx2.Response(
        status, headers=headers, request=httpx2.Request("GET", f"{API}/incidents")
    )
    error = translate_error(
        pagerduty.ServerHttpError("redirect", response),
        account="work",
        action="list incidents",
        api_url=API,
    )
    assert isinstance(error, InvalidResponseError)
    return error


@pytest.mark.parametrize(
    ("location", "says"),
    [
        ("https://evil.example/incidents", "redirected the request to another host, evil.example;"),
        ("https://api.pagerduty.com:8443/x", "another host, api.pagerduty.com:8443;"),
        ("http://api.pagerduty.com/incidents", "another host, http://api.pagerduty.com;"),
        ("//evil.example/x", "another host, evil.example;"),
        ("https://user:pw@evil.example/", "another host, an unreadable address;"),
        ("/v2/incidents", "answered with a redirect (HTTP 302 to /v2/incidents)"),
        ("https://api.pagerduty.com/v2/incidents", "(HTTP 302 to /v2/incidents)"),
        ("/a b\u202e<script>", "(HTTP 302 to another path)"),
        ("http://[::1", "another host, an unreadable address;"),
        ("https://[zz]/", "another host, an unreadable address;"),
        ("https://a:99999999/", "another host, an unreadable address;"),
    ],
)
def test_a_redirect_says_where_it_went(location: str, says: str) -> None:
    text = str(redirect(302, location))
    assert says in text
    assert text.startswith("PagerDuty account 'work' could not list incidents: ")
    assert "check api_url in config.toml" in text


def test_a_redirect_without_a_target() -> None:
    assert "(HTTP 301 without a target)" in str(redirect(301, None))


locations = st.one_of(
    st.text(max_size=300),
    st.builds(
        "".join,
        st.tuples(
            st.sampled_from(["http://", "https://", "//", "", "ftp:", "HTTPS://", "/"]),
            st.text(alphabet="[]:.@%a1-/ \u202e\n", max_size=20),
            st.text(max_size=20),
        ),
    ),
)


@settings(max_examples=500, deadline=None)
@given(location=locations, status=st.sampled_from([301, 302, 303, 307, 308]))
def test_any_location_makes_one_short_plain_line(location: str, status: int) -> None:
    error = redirect(status, location)
    text = str(error)
    assert "\n" not in text and "\r" not in text and "\u202e" not in text
    assert len(text) < 400
    assert error.retryable
