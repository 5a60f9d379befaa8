"""Example WebSocket handler: API Gateway WebSocket events in, route responses out."""

import json


def handler(event, context):
    """Accept connections that say hello, answer messages, and shrug at anything else."""
    request = event["requestContext"]
    route = request["routeKey"]
    if route == "$connect":
        # A non-2xx answer to $connect rejects the connection, as on AWS.
        allowed = (event.get("queryStringParameters") or {}).get("name") != "mallory"
        return {"statusCode": 200 if allowed else 403}
    if route == "$disconnect":
        return {"statusCode": 200}
    if route == "sendmessage":
        body = json.loads(event.get("body") or "{}")
        reply = {"from": request["connectionId"], "message": body.get("message", "")}
        return {"statusCode": 200, "body": json.dumps(reply)}
    return {"statusCode": 200, "body": json.dumps({"error": "unknown action", "route": route})}
