def handler(event, context):
    return {"ok": True, "path": event.get("rawPath")}
