"""The HTTP ingest function in Python: PUT/POST /<key> stores the body as an object, appends
a row to db0://ingested and publishes an event on events://ingested; GET /<key> reads it."""

import json
import logging
import time

import bindery

log = logging.getLogger("ingest")


def init(ctx):
    """Once, before the first event: the table and the stream, when missing."""
    try:
        ctx.table.create("db0://ingested").schema(
            "event_id string NOT NULL, key string NOT NULL, size int64 NOT NULL, gen string, content_type string, at timestamp"
        ).primary_key("event_id").do()
    except bindery.AlreadyExists:
        pass
    try:
        ctx.stream.create("events://ingested", shards=1).do()
    except bindery.AlreadyExists:
        pass


def handler(ctx, event):
    key = event.path.lstrip("/")
    if not key:
        return bindery.Response("use PUT /<key> to store a body, GET /<key> to read it\n", status=400)
    try:
        if event.method in ("PUT", "POST"):
            return ingest(ctx, event, key)
        if event.method == "GET":
            obj = ctx.object.get(f"uploads://{key}").do()
            headers = {"etag": obj.meta.gen}
            if "content-type" in obj.meta.metadata:
                headers["content-type"] = obj.meta.metadata["content-type"]
            return bindery.Response(obj.data, headers=headers)
        return bindery.Response(f"method {event.method} is not allowed; use PUT, POST or GET\n", status=405)
    except bindery.NotFound:
        return bindery.Response(f"no object '{key}'\n", status=404)
    except bindery.InvalidInput as e:
        return bindery.Response(f"{e.message}\n", status=400)


def ingest(ctx, event, key):
    content_type = event.header("content-type") or "application/octet-stream"
    meta = ctx.object.put(f"uploads://{key}", event.body).metadata({"content-type": content_type}).do()
    size = len(event.body)
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(event.timestamp or time.time()))
    ctx.table.write("db0://ingested").with_items([{
        "event_id": event.id, "key": key, "size": size, "gen": meta.gen, "content_type": content_type, "at": at,
    }]).do()
    placed = ctx.stream.publish("events://ingested").messages(
        [bindery.Message(json.dumps({"key": key, "size": size, "gen": meta.gen}), key=key)]
    ).do()
    shard, position = placed[0]
    log.info("Ingested %s (%d bytes) at %d:%d.", key, size, shard, position)
    return bindery.Response(
        {"key": key, "gen": meta.gen, "size": size, "event_id": event.id, "position": f"{shard}:{position}"},
        status=201,
    )
