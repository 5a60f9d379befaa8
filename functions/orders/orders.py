"""Example orders API: the same handler runs on the local cloud, AWS Lambda and Azure."""

import json
import os

_ORDERS = {"1001": {"id": "1001", "status": "shipped"}}


def handler(event, context):
    """List, read and create orders (kept in memory: an example, not a database)."""
    route = event["routeKey"]
    if route == "GET /orders":
        return {"orders": list(_ORDERS.values())}
    if route == "GET /orders/{id}":
        order = _ORDERS.get(event["pathParameters"]["id"])
        if order is None:
            return {"statusCode": 404, "body": json.dumps({"error": "no such order"})}
        return order
    if route == "POST /orders":
        if not os.environ.get("PAYMENT_API_KEY"):
            return {"statusCode": 503, "body": json.dumps({"error": "payments not configured"})}
        order = json.loads(event.get("body") or "{}")
        order_id = str(1000 + len(_ORDERS) + 1)
        _ORDERS[order_id] = {"id": order_id, "status": "new", **order}
        return {"statusCode": 201, "body": json.dumps(_ORDERS[order_id])}
    return {"statusCode": 404, "body": "no such route"}
