"""Query parameters: each given once, or the request is refused naming it."""

from __future__ import annotations

import pytest

from tests.server.conftest import Served


@pytest.mark.parametrize(
    ("who", "url", "field"),
    [
        ("observer", "/api/v1/report?at=1&at=2", "query.at"),
        ("observer", "/api/v1/log/entries?start=0&limit=5&start=3", "query.start"),
        (None, "/api/v1/proofs/inclusion?index=0&index=1", "query.index"),
    ],
)
def test_a_query_parameter_given_twice_is_refused_by_name(
    served: Served, who: str | None, url: str, field: str
) -> None:
    answer = served.client.get(url, headers=served.headers(who))
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["field"] == field
    assert problem["detail"] == "is given more than once"


def test_the_same_parameters_once_each_are_answered(served: Served) -> None:
    answer = served.client.get(
        "/api/v1/log/entries?start=0&limit=5", headers=served.headers("observer")
    )
    assert answer.status_code == 200
    assert [e["index"] for e in answer.json()] == [0, 1, 2, 3, 4]
