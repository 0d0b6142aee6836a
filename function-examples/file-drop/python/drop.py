"""The file-drop broker in Python: PUT /files/<name> checks and stores a file, DELETE removes
it, GET reads or lists; the watch trigger announces every change to the folder (an upload's,
or any program's) on events://files."""

import json
import os

import bindery


def init(ctx):
    try:
        ctx.stream.create("events://files", shards=1).do()
    except bindery.AlreadyExists:
        pass


def check(name, body, limit):
    """Why a file may not be stored, as (status, reason), or None."""
    if len(body) > limit:
        return 413, f"'{name}' is {len(body)} bytes; files may be at most {limit}"
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    data = bytes(body)
    try:
        if ext == "json":
            json.loads(data)
        elif ext == "csv":
            lines = [l for l in data.decode().splitlines() if l]
            if not lines:
                return 422, f"'{name}' is not a CSV file: it has no header row"
            fields = lines[0].count(",") + 1
            for i, line in enumerate(lines[1:]):
                if line.count(",") + 1 != fields:
                    return 422, f"'{name}' is not a CSV file: row {i + 2} has {line.count(',') + 1} fields, the header {fields}"
        elif ext == "txt":
            data.decode()
        else:
            return 422, f"'{name}': only .csv, .json and .txt files are taken"
    except UnicodeDecodeError as e:
        return 422, f"'{name}' is not UTF-8 text: {e}"
    except json.JSONDecodeError as e:
        return 422, f"'{name}' is not JSON: {e}"
    return None


def announce(ctx, event):
    """Announces a change the watch trigger saw (its JSON body: kind, path, gen, size)."""
    change = json.loads(bytes(event.body))
    name = change["path"]
    if change["kind"] == "resync":
        announcement = {"type": "resync"}
    else:
        announcement = {"type": change["kind"], "name": name, "size": change["size"], "gen": change["gen"]}
    ctx.stream.publish("events://files").messages([bindery.Message(json.dumps(announcement), key=name)]).do()
    return "announced"


def handler(ctx, event):
    if event.trigger_kind == "watch":
        return announce(ctx, event)
    if not event.path.startswith("/files/"):
        return bindery.Response("use /files/<name>\n", status=404)
    name = event.path[len("/files/"):]
    path = f"files://{name}"
    try:
        if event.method == "GET" and not name:
            return [{"name": e.path, "size": e.meta.size, "gen": e.meta.gen} for e in ctx.object.list("files://").do() if not e.is_prefix]
        if event.method == "GET":
            obj = ctx.object.get(path).do()
            return bindery.Response(obj.data, headers={"etag": obj.meta.gen})
        if event.method == "PUT":
            refused = check(name, event.body, int(os.environ.get("DROP_MAX_BYTES", 1 << 20)))
            if refused:
                return bindery.Response(refused[1] + "\n", status=refused[0])
            put = ctx.object.put(path, event.body)
            gen = event.header("if-match")
            created = False
            if gen:
                put.condition("if-match", gen)
            else:
                try:
                    ctx.object.head(path).do()
                except bindery.NotFound:
                    put.condition("if-none-match", "*")
                    created = True
            try:
                meta = put.do()
            except bindery.ConditionFailed:
                if not created:
                    raise
                meta, created = ctx.object.put(path, event.body).do(), False
            kind = "created" if created else "updated"
            return bindery.Response({"type": kind, "name": name, "gen": meta.gen}, status=201 if created else 200)
        if event.method == "DELETE":
            meta = ctx.object.head(path).do()
            ctx.object.delete(path).condition("if-match", meta.gen).do()
            return {"type": "deleted", "name": name}
        return bindery.Response(f"method {event.method} is not allowed; use GET, PUT or DELETE\n", status=405)
    except bindery.NotFound:
        return bindery.Response(f"no file '{name}'\n", status=404)
    except bindery.ConditionFailed as e:
        return bindery.Response(f"'{name}' changed meanwhile: {e.message}\n", status=412)
    except bindery.InvalidInput as e:
        return bindery.Response(f"{e.message}\n", status=400)
