"""The metadata store in Python: datasets' datapackage.json on a git binding, with revisions,
tags, reads at a revision, revert and diff, over HTTP (the routes of the Rust version, in
function-examples/metastore/src/main.rs)."""

import json

import bindery

STATUS = {
    "InvalidInput": 400,
    "NotFound": 404,
    "AlreadyExists": 409,
    "ConditionFailed": 412,
}


def doc(name):
    return f"meta://{name}/datapackage.json"


def answer(status, value):
    return bindery.Response(json.dumps(value), status=status, headers={"content-type": "application/json"})


def query(event, name):
    return next((v for k, v in event.query if k == name), None)


def handler(ctx, event):
    parts = event.path.strip("/").split("/")
    route = (event.method, *parts)
    try:
        match route:
            case ("GET", "datasets"):
                names = [e.path.removesuffix("/datapackage.json") for e in ctx.object.list("meta://").do()
                         if e.path.endswith("/datapackage.json")]
                return answer(200, names)
            case ("PUT", "datasets", name):
                return put(ctx, event, name)
            case ("GET", "datasets", name):
                get = ctx.object.get(doc(name))
                if query(event, "version"):
                    get = get.version(query(event, "version"))
                found = get.do()
                return bindery.Response(
                    found.data, headers={"content-type": "application/json", "etag": f'"{found.meta.gen}"'}
                )
            case ("DELETE", "datasets", name):
                ctx.object.head(doc(name)).do()
                d = ctx.object.delete(doc(name)).option("message", f"delete dataset {name}")
                if event.header("x-author"):
                    d = d.option("author", event.header("x-author"))
                d.do()
                return bindery.Response(b"", status=204)
            case ("GET", "datasets", name, "revisions"):
                revs = ctx.object.versions(doc(name)).do()
                if not revs:
                    return answer(404, {"error": f"no dataset '{name}'"})
                return answer(200, [
                    {"revision": r["id"], "author": r["author"], "message": r["message"], "deleted": r["deleted"],
                     "size": r["size"], "etag": r["gen"], "time": int(r["time"]) if r["time"] else None}
                    for r in revs
                ])
            case ("POST", "datasets", name, "revert"):
                to = query(event, "to")
                if not to:
                    return answer(400, {"error": "revert needs ?to=REVISION (an id or a tag)"})
                meta = ctx.object.revert(doc(name), to).do()
                return answer(200, {"name": name, "reverted_to": to, "etag": meta.gen})
            case ("GET", "datasets", name, "diff"):
                frm = query(event, "from")
                if not frm:
                    return answer(400, {"error": "diff needs ?from=REVISION (and &to=REVISION, or now)"})
                d = ctx.object.diff(doc(name), frm)
                if query(event, "to"):
                    d = d.to(query(event, "to"))
                return answer(200, d.do()["patch"])
            case ("GET", "tags"):
                return answer(200, [tag_json(t) for t in ctx.object.tags("meta://").do()])
            case ("GET", "tags", tag):
                return answer(200, tag_json(ctx.object.tag_get("meta://", tag).do()))
            case ("PUT", "tags", tag):
                body = json.loads(bytes(event.body) or b"{}")
                t = ctx.object.tag_create("meta://", tag)
                if body.get("revision"):
                    t = t.revision(body["revision"])
                if body.get("description"):
                    t = t.description(body["description"])
                if event.header("x-author"):
                    t = t.author(event.header("x-author"))
                return answer(201, tag_json(t.do()))
            case ("PATCH", "tags", tag):
                body = json.loads(bytes(event.body))
                t = ctx.object.tag_update("meta://", tag)
                if body.get("name"):
                    t = t.rename(body["name"])
                if body.get("description") is not None:
                    t = t.description(body["description"])
                return answer(200, tag_json(t.do()))
            case ("DELETE", "tags", tag):
                ctx.object.tag_delete("meta://", tag).do()
                return bindery.Response(b"", status=204)
        return answer(404, {"error": f"no route {event.method} /{event.path.strip('/')}"})
    except bindery.Error as e:
        return answer(STATUS.get(e.kind, 500), {"error": e.message})
    except json.JSONDecodeError as e:
        return answer(400, {"error": f"the body is not JSON: {e}"})


def put(ctx, event, name):
    document = json.loads(bytes(event.body))
    if not isinstance(document, dict):
        return answer(400, {"error": "a datapackage.json is a JSON object"})
    try:
        ctx.object.head(doc(name)).do()
        existed = True
    except bindery.NotFound:
        existed = False
    p = ctx.object.put(doc(name), json.dumps(document, indent=2)).metadata({"content-type": "application/json"})
    if event.header("if-match"):
        p = p.condition("if-match", event.header("if-match").strip('"'))
    if event.header("x-author"):
        p = p.option("author", event.header("x-author"))
    message = event.header("x-message") or f"{'update' if existed else 'create'} dataset {name}"
    meta = p.option("message", message).do()
    newest = ctx.object.versions(doc(name)).limit(1).do()
    revision = newest[0]["id"] if newest else ""
    return bindery.Response(
        json.dumps({"name": name, "revision": revision, "etag": meta.gen}),
        status=200 if existed else 201,
        headers={"content-type": "application/json", "etag": f'"{meta.gen}"'},
    )


def tag_json(t):
    return {"name": t["name"], "revision": t["revision"], "description": t["description"], "author": t["author"]}
