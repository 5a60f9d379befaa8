"""HTTP API route selection: the most specific route wins, as API Gateway documents it."""

from __future__ import annotations

import pytest

from reconciler.adapters.local.gateway.routing import RouteMatch, RouteTable

# The example API of "Routing API requests" in the API Gateway developer guide.
AWS_EXAMPLE = ["GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}"]


class TestAwsDocumentedExample:
    """The request table of http-api-develop-routes.md, row by row."""

    @pytest.mark.parametrize(
        ("method", "path", "route_key", "parameters"),
        [
            pytest.param("GET", "/pets/dog/1", "GET /pets/dog/1", {}, id="static-route"),
            pytest.param("GET", "/pets/dog/2", "GET /pets/dog/{id}", {"id": "2"}, id="variable"),
            pytest.param(
                "GET", "/pets/cat/1", "GET /pets/{proxy+}", {"proxy": "cat/1"}, id="greedy-get"
            ),
            pytest.param("POST", "/test/5", "ANY /{proxy+}", {"proxy": "test/5"}, id="greedy-any"),
            pytest.param(
                "POST", "/pets/dog/1", "ANY /{proxy+}", {"proxy": "pets/dog/1"}, id="other-method"
            ),
        ],
    )
    def test_request_selects_the_documented_route(self, method, path, route_key, parameters):
        table = RouteTable([*AWS_EXAMPLE, "$default"])

        assert table.match(method, path) == RouteMatch(route_key, parameters)

    def test_default_route_catches_what_nothing_else_does(self):
        """`/` has no segment for `{proxy+}` to take, so only `$default` is left."""
        table = RouteTable([*AWS_EXAMPLE, "$default"])

        assert table.match("GET", "/") == RouteMatch("$default", {})


class TestPrecedence:
    """Which of several matching routes wins."""

    @pytest.mark.parametrize(
        ("routes", "method", "path", "route_key"),
        [
            pytest.param(
                ["GET /items/{id}", "GET /items/new"],
                "GET",
                "/items/new",
                "GET /items/new",
                id="literal-beats-variable",
            ),
            pytest.param(
                ["GET /{a}/{b}/c", "GET /{a}/b/c"],
                "GET",
                "/a/b/c",
                "GET /{a}/b/c",
                id="more-literals-win",
            ),
            pytest.param(
                ["GET /{a}/b/c", "GET /a/{b}/{c}"],
                "GET",
                "/a/b/c",
                "GET /{a}/b/c",
                id="literal-count-before-position",
            ),
            pytest.param(
                ["GET /{a}/b", "GET /a/{b}"],
                "GET",
                "/a/b",
                "GET /a/{b}",
                id="at-equal-counts-leftmost-literal-wins",
            ),
            pytest.param(
                ["GET /a/{proxy+}", "GET /{x}/b"],
                "GET",
                "/a/b",
                "GET /{x}/b",
                id="variable-beats-greedy",
            ),
            pytest.param(
                ["GET /{proxy+}", "GET /a/b/{proxy+}", "GET /a/{proxy+}"],
                "GET",
                "/a/b/c",
                "GET /a/b/{proxy+}",
                id="longer-greedy-prefix-wins",
            ),
            pytest.param(
                ["GET /{x}/{proxy+}", "GET /a/{proxy+}"],
                "GET",
                "/a/b",
                "GET /a/{proxy+}",
                id="equal-prefix-literal-greedy-wins",
            ),
            pytest.param(
                ["ANY /items", "GET /items"],
                "GET",
                "/items",
                "GET /items",
                id="method-beats-any-on-literal",
            ),
            pytest.param(
                ["ANY /items/{id}", "POST /items/{id}"],
                "POST",
                "/items/9",
                "POST /items/{id}",
                id="method-beats-any-on-variable",
            ),
            pytest.param(
                ["ANY /{proxy+}", "GET /{proxy+}"],
                "GET",
                "/x",
                "GET /{proxy+}",
                id="method-beats-any-on-greedy",
            ),
            pytest.param(
                ["GET /{proxy+}", "ANY /items"],
                "GET",
                "/items",
                "ANY /items",
                id="specific-path-beats-method",
            ),
            pytest.param(
                ["ANY /items", "GET /{proxy+}"],
                "DELETE",
                "/items",
                "ANY /items",
                id="any-serves-undeclared-method",
            ),
            pytest.param(
                ["GET /a/{x}", "GET /a/{y}"],
                "GET",
                "/a/1",
                "GET /a/{x}",
                id="repeated-route-first-declared-wins",
            ),
            pytest.param(["$default", "GET /"], "GET", "/", "GET /", id="root-route"),
            pytest.param(["GET /items", "$default"], "GET", "/item", "$default", id="default-last"),
        ],
    )
    def test_most_specific_route_wins(self, routes, method, path, route_key):
        assert table_match(routes, method, path).route_key == route_key

    def test_declaration_order_does_not_change_the_winner(self):
        """Precedence comes from the routes themselves, never from where they are declared."""
        routes = ["ANY /{proxy+}", "GET /a/{proxy+}", "GET /a/{x}", "GET /a/b", "ANY /a/b"]

        winners = [RouteTable(order).match("GET", "/a/b") for order in (routes, routes[::-1])]

        assert winners == [RouteMatch("GET /a/b", {})] * 2


class TestNoMatch:
    """Requests no declared route takes."""

    @pytest.mark.parametrize(
        ("routes", "method", "path"),
        [
            pytest.param(["GET /items"], "POST", "/items", id="other-method"),
            pytest.param(["GET /items"], "HEAD", "/items", id="head-is-not-get"),
            pytest.param(["GET /items"], "GET", "/Items", id="paths-are-case-sensitive"),
            pytest.param(["GET /items"], "GET", "/items/", id="trailing-slash"),
            pytest.param(["GET /items/{id}"], "GET", "/items/", id="empty-variable"),
            pytest.param(["GET /items/{id}"], "GET", "/items", id="missing-variable"),
            pytest.param(["GET /items/{id}"], "GET", "/items/1/2", id="extra-segment"),
            pytest.param(["GET /files/{proxy+}"], "GET", "/files", id="greedy-needs-a-segment"),
            pytest.param(["GET /files/{proxy+}"], "GET", "/files/", id="greedy-needs-a-character"),
            pytest.param(["GET /{proxy+}"], "GET", "/", id="root-is-not-greedy"),
            pytest.param(["GET /a/b"], "GET", "/a//b", id="empty-segment"),
            pytest.param([], "GET", "/", id="no-routes"),
        ],
    )
    def test_unmatched_request_gets_none_without_default(self, routes, method, path):
        assert RouteTable(routes).match(method, path) is None

    def test_unmatched_request_falls_to_default(self):
        table = RouteTable(["GET /items", "$default"])

        assert table.match("GET", "/items/") == RouteMatch("$default", {})


class TestPathParameters:
    """What a matched route captures, and how it is decoded."""

    @pytest.mark.parametrize(
        ("route", "path", "parameters"),
        [
            pytest.param(
                "GET /orders/{orderId}/items/{itemId}",
                "/orders/7/items/b",
                {"orderId": "7", "itemId": "b"},
                id="two-variables",
            ),
            pytest.param("GET /items/{id}", "/items/a%20b", {"id": "a b"}, id="percent-decoded"),
            pytest.param("GET /items/{id}", "/items/a+b", {"id": "a+b"}, id="plus-is-literal"),
            pytest.param("GET /items/{id}", "/items/a%2Fb", {"id": "a/b"}, id="encoded-slash"),
            pytest.param(
                "GET /files/{path+}",
                "/files/a/b%20c/d.txt",
                {"path": "a/b c/d.txt"},
                id="greedy-decoded",
            ),
            pytest.param(
                "GET /{bucket}/{key+}",
                "/b1/x/y",
                {"bucket": "b1", "key": "x/y"},
                id="variable-and-greedy",
            ),
            pytest.param("GET /files/{p+}", "/files/a/", {"p": "a/"}, id="greedy-keeps-slash"),
            pytest.param("GET /a:b/~c", "/a%3Ab/%7Ec", {}, id="literal-compared-decoded"),
        ],
    )
    def test_route_captures_decoded_parameters(self, route, path, parameters):
        assert RouteTable([route]).match("GET", path) == RouteMatch(route, parameters)

    def test_each_route_names_its_own_parameters(self):
        """Routes sharing a variable position keep the names they declared."""
        table = RouteTable(["GET /items/{id}", "GET /items/{itemId}/tags"])

        assert table.match("GET", "/items/4/tags") == RouteMatch(
            "GET /items/{itemId}/tags", {"itemId": "4"}
        )
        assert table.match("GET", "/items/4") == RouteMatch("GET /items/{id}", {"id": "4"})


def test_many_routes_still_find_the_one_that_matches():
    """Thousands of routes compile into one tree that still picks the right one."""
    routes = [f"GET /r{n}/{{id}}" for n in range(5000)] + ["GET /r4999/new", "$default"]
    table = RouteTable(routes)

    assert table.match("GET", "/r4999/new") == RouteMatch("GET /r4999/new", {})
    assert table.match("GET", "/r123/x") == RouteMatch("GET /r123/{id}", {"id": "x"})
    assert table.match("GET", "/r5000/x") == RouteMatch("$default", {})


def table_match(routes: list[str], method: str, path: str) -> RouteMatch:
    match = RouteTable(routes).match(method, path)
    assert match is not None
    return match
