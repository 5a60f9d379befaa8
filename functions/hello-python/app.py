"""Example REST handler: API Gateway HTTP API payload format 2.0 in, a response out."""

import json
import os


def handler(event, context):
    """Greet on GET /hello, echo an item id on GET /items/{id}, store nothing on POST /items."""
    route = event["routeKey"]
    if route == "GET /hello":
        name = (event.get("queryStringParameters") or {}).get("name", "world")
        return {"message": f"{os.environ.get('GREETING', 'Hello')}, {name}!"}
    if route == "GET /items/{id}":
        return {"id": event["pathParameters"]["id"], "requestId": context.aws_request_id}
    if route == "POST /items":
        item = json.loads(event.get("body") or "{}")
        return {"statusCode": 201, "headers": {"content-type": "application/json"},
                "body": json.dumps({"created": item})}
    return {"statusCode": 404, "body": "no such route"}
