//! The OpenAPI 3.1 description of a gateway, made from its spec: a path per exposed binding
//! and operation (only the operations `gateway.bindings` exposes it for, where it limits
//! them; each method's `x-bindery-operation` names its operation), the problem details, and
//! the bearer security scheme.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use bindery_core::Kind;
use serde_json::{json, Value};

use crate::objects::json as json_response;
use crate::Gateway;

pub(crate) async fn serve(doc: Arc<Value>) -> Response {
    json_response(StatusCode::OK, &doc)
}

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn errors() -> Value {
    json!({
        "400": problem("Bad input, named."),
        "401": problem("No token, or a bad one."),
        "403": problem("The token lacks the scope."),
        "404": problem("No such binding, object or table."),
        "412": problem("A condition does not hold."),
        "415": problem("The body's content type is not one this endpoint takes."),
        "422": problem("The request is well formed but cannot be applied."),
        "413": problem("The body is over the gateway's limit."),
        "501": problem("The driver cannot do this."),
        "503": problem("The backend is unavailable (Retry-After)."),
    })
}

fn param(name: &str, location: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": location, "description": description, "required": location == "path", "schema": schema})
}

fn op(summary: &str, scope: &str, params: Vec<Value>, ok: Value) -> Value {
    let mut responses = errors();
    for (code, r) in ok.as_object().into_iter().flatten() {
        responses[code] = r.clone();
    }
    json!({
        "summary": summary,
        "description": format!("Needs the scope `{scope}`."),
        "x-bindery-operation": scope.rsplit(':').next().unwrap_or(scope),
        "parameters": params,
        "responses": responses,
    })
}

/// Drops from `paths` the methods of binding `n` the spec does not expose it for (and the
/// paths left with none).
fn only_exposed(paths: &mut serde_json::Map<String, Value>, n: &str, ops: &[String]) {
    let prefixes = ["objects", "tables", "streams", "watch", "call"].map(|k| format!("/v1/{k}/{n}"));
    paths.retain(|path, item| {
        let ours = prefixes
            .iter()
            .any(|p| path == p || path.starts_with(&format!("{p}/")));
        if !ours {
            return true;
        }
        if let Some(methods) = item.as_object_mut() {
            methods.retain(|_, op| {
                op.get("x-bindery-operation")
                    .and_then(Value::as_str)
                    .is_none_or(|o| ops.iter().any(|x| x == o))
            });
            return !methods.is_empty();
        }
        true
    });
}

/// The document for `gateway`'s bindings.
pub(crate) fn document(g: &Gateway, title: &str) -> Value {
    let string = json!({"type": "string"});
    let mut paths = serde_json::Map::new();
    for b in &g.bindings {
        let n = &b.name;
        let path_param = |what: &str| param("path", "path", what, string.clone());
        let body = |ct: &[&str], schema: Value| {
            let content: serde_json::Map<String, Value> = ct
                .iter()
                .map(|c| (c.to_string(), json!({"schema": schema})))
                .collect();
            json!({"required": true, "content": content})
        };
        match b.kind {
            Kind::Object => {
                let etag = json!({"ETag": {"schema": {"type": "string"}, "description": "The generation."}});
                let conditions = vec![
                    path_param("The object's path."),
                    param(
                        "If-Match",
                        "header",
                        "Only if the generation is this (412 otherwise).",
                        string.clone(),
                    ),
                    param(
                        "If-None-Match",
                        "header",
                        "`*`: only if absent; on reads, 304 when it matches.",
                        string.clone(),
                    ),
                ];
                let mut get_params = conditions.clone();
                get_params.push(param("Range", "header", "One byte range (206).", string.clone()));
                // Only where the driver keeps revisions (elsewhere a version is a 501).
                let versioned = g
                    .ctx
                    .host()
                    .bindings()
                    .iter()
                    .any(|x| x.name() == n.as_str() && x.capability().versioning);
                if versioned {
                    get_params.push(param("version", "query", "A revision or tag.", string.clone()));
                }
                let mut put = op(
                    "Write an object (streamed)",
                    &format!("{n}:write"),
                    conditions.clone(),
                    json!({"200": {"description": "Written.", "headers": etag, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ObjectMeta"}}}}}),
                );
                put["requestBody"] = body(
                    &["application/octet-stream"],
                    json!({"type": "string", "format": "binary"}),
                );
                paths.insert(
                    format!("/v1/objects/{n}/{{path}}"),
                    json!({
                        "get": op("Read an object (streamed)", &format!("{n}:read"), get_params,
                            json!({"200": {"description": "The object.", "headers": etag, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                                   "206": {"description": "The range asked for."},
                                   "304": {"description": "Not modified."}})),
                        "head": op("An object's metadata", &format!("{n}:read"), conditions.clone(),
                            json!({"200": {"description": "The metadata, as headers.", "headers": etag}})),
                        "put": put,
                        "delete": op("Delete an object", &format!("{n}:delete"), conditions,
                            json!({"204": {"description": "Deleted."}})),
                    }),
                );
                paths.insert(
                    format!("/v1/objects/{n}"),
                    json!({"get": op("List objects", &format!("{n}:read"), vec![
                        param("prefix", "query", "Only paths beginning with it.", string.clone()),
                        param("delimiter", "query", "Group paths by it into prefixes.", string.clone()),
                        param("limit", "query", "At most this many (1 to 10000; default 1000).", json!({"type": "integer", "minimum": 1, "maximum": 10000})),
                        param("page_token", "query", "The `next_page_token` of the page before.", string.clone()),
                    ], json!({"200": {"description": "A page.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Listing"}}}}}))}),
                );
                paths.insert(format!("/v1/watch/{n}/{{path}}"), watch_path(n));
            }
            Kind::Table => {
                let mut write = op(
                    "Write rows (upsert where the driver can)",
                    &format!("{n}:write"),
                    vec![param("table", "path", "The table.", string.clone())],
                    json!({"200": {"description": "How many rows were written.", "content": {"application/json": {"schema": {"type": "object", "properties": {"written": {"type": "integer"}}}}}}}),
                );
                write["requestBody"] = body(
                    &[
                        "application/json",
                        "application/x-ndjson",
                        "application/vnd.apache.arrow.stream",
                    ],
                    json!({"type": "array", "items": {"type": "object"}}),
                );
                let next = json!({
                    "Bindery-Next-Page-Token": {"schema": {"type": "string"}, "description": "A paged read's next page token (absent on the last page)."},
                    "Link": {"schema": {"type": "string"}, "description": "`<url>; rel=\"next\"`: the next page (absent on the last page)."},
                });
                let rows_ok = json!({"200": {"description": "The rows.", "headers": next, "content": {
                    "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                    "application/x-ndjson": {"schema": {"type": "string"}},
                    "text/csv": {"schema": {"type": "string"}},
                    "application/vnd.apache.arrow.stream": {"schema": {"type": "string", "format": "binary"}}}}});
                paths.insert(
                    format!("/v1/tables/{n}/{{table}}"),
                    json!({
                        "get": op("Read rows (streamed)", &format!("{n}:read"), vec![
                            param("table", "path", "The table.", string.clone()),
                            param("where", "query", "A filter (`age > 30 AND addr = 'NY'`).", string.clone()),
                            param("select", "query", "Columns, comma separated.", string.clone()),
                            param("limit", "query", "At most this many rows.", json!({"type": "integer", "minimum": 0})),
                            param("order_by", "query", "Columns, comma separated: `age desc,user` (or `-age`); NULLs last.", string.clone()),
                            param("page_size", "query", "A page of this many rows, in order_by then key order; the next page's token is in the Bindery-Next-Page-Token and Link headers.", json!({"type": "integer", "minimum": 1, "maximum": 100000})),
                            param("page_token", "query", "The rows after the page that gave this token (same order_by, where and select).", string.clone()),
                            param("format", "query", "json, ndjson, csv or arrow (else by Accept).", json!({"type": "string", "enum": ["json", "ndjson", "csv", "arrow"]})),
                        ], rows_ok.clone()),
                        "post": write,
                    }),
                );
                let mut query = op(
                    "Read rows by a query in the body",
                    &format!("{n}:read"),
                    vec![param("table", "path", "The table.", string.clone())],
                    rows_ok.clone(),
                );
                let names =
                    json!({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]});
                query["requestBody"] = body(
                    &["application/json"],
                    json!({
                        "type": "object",
                        "additionalProperties": false,
                        "properties": {
                            "where": {"type": "string"},
                            "select": names,
                            "order_by": names,
                            "limit": {"type": "integer", "minimum": 0},
                            "page_size": {"type": "integer", "minimum": 1, "maximum": 100000},
                            "page_token": {"type": "string"},
                            "format": {"type": "string", "enum": ["json", "ndjson", "csv", "arrow"]},
                        }
                    }),
                );
                paths.insert(
                    format!("/v1/tables/{n}/{{table}}/_query"),
                    json!({ "post": query }),
                );
                let row_params = |extra: Vec<Value>| {
                    let mut p = vec![
                        param("table", "path", "The table.", string.clone()),
                        param("key", "path", "The row's key: one segment per key column (partition key first), each percent-encoded.", string.clone()),
                    ];
                    p.extend(extra);
                    p
                };
                let row_etag =
                    json!({"ETag": {"schema": {"type": "string"}, "description": "A digest of the row."}});
                let row_ok = |what: &str| json!({"200": {"description": what, "headers": row_etag, "content": {"application/json": {"schema": {"type": "object"}}}}});
                let if_match = || {
                    param(
                        "If-Match",
                        "header",
                        "Only if the row's ETag is this (412 otherwise).",
                        string.clone(),
                    )
                };
                let mut patch = op(
                    "Change one row by a JSON merge patch (RFC 7396)",
                    &format!("{n}:write"),
                    row_params(vec![if_match()]),
                    row_ok("The row after the change."),
                );
                patch["requestBody"] = body(&["application/merge-patch+json"], json!({"type": "object"}));
                let mut get_row = op(
                    "Read one row by key",
                    &format!("{n}:read"),
                    row_params(vec![param(
                        "If-None-Match",
                        "header",
                        "304 when the row's ETag is this.",
                        string.clone(),
                    )]),
                    row_ok("The row."),
                );
                get_row["responses"]["304"] = json!({"description": "Not modified."});
                paths.insert(
                    format!("/v1/tables/{n}/{{table}}/_rows/{{key}}"),
                    json!({
                        "get": get_row,
                        "patch": patch,
                        "delete": op("Delete one row by key", &format!("{n}:delete"), row_params(vec![if_match()]), json!({"204": {"description": "Deleted."}})),
                    }),
                );
                paths.insert(
                    format!("/v1/tables/{n}/{{table}}/_schema"),
                    json!({"get": op("A table's schema", &format!("{n}:read"), vec![
                        param("table", "path", "The table.", string.clone()),
                        param("version", "query", "An older version of the schema.", json!({"type": "integer", "minimum": 1})),
                    ], json!({"200": {"description": "The schema.", "content": {"application/json": {"schema": {"type": "object"}}}}}))}),
                );
                paths.insert(format!("/v1/watch/{n}/{{path}}"), watch_path(n));
            }
            Kind::Stream => {
                let mut publish = op(
                    "Publish messages",
                    &format!("{n}:publish"),
                    vec![param("stream", "path", "The stream.", string.clone())],
                    json!({"200": {"description": "Each message's position.", "content": {"application/json": {"schema": {"type": "object", "properties": {"positions": {"type": "array", "items": {"type": "string"}}}}}}}}),
                );
                publish["requestBody"] = body(
                    &[
                        "application/json",
                        "application/x-ndjson",
                        "application/octet-stream",
                    ],
                    json!({"type": "array", "items": {"$ref": "#/components/schemas/Message"}}),
                );
                paths.insert(
                    format!("/v1/streams/{n}/{{stream}}"),
                    json!({
                        "get": op("Consume as Server-Sent Events", &format!("{n}:consume"), vec![
                            param("stream", "path", "The stream.", string.clone()),
                            param("from", "query", "earliest, latest, timestamp:MS or position:S:P[,…].", string.clone()),
                            param("group", "query", "A consumer group (checkpointed as sent).", string.clone()),
                            param("where", "query", "A filter on the messages.", string.clone()),
                            param("Last-Event-ID", "header", "Resume where an event left off.", string.clone()),
                        ], json!({"200": {"description": "Events named `message`.", "content": {"text/event-stream": {"schema": {"type": "string"}}}}})),
                        "post": publish,
                    }),
                );
            }
            Kind::Generic => {
                let mut call = op(
                    "Call the driver",
                    &format!("{n}:call"),
                    vec![
                        path_param("The call's path."),
                        param(
                            "operation",
                            "query",
                            "The driver's operation (`http`: the method).",
                            string.clone(),
                        ),
                    ],
                    json!({"200": {"description": "The driver's answer."}}),
                );
                call["requestBody"] = body(
                    &["application/octet-stream"],
                    json!({"type": "string", "format": "binary"}),
                );
                paths.insert(format!("/v1/call/{n}/{{path}}"), json!({"post": call}));
            }
        }
    }
    for (n, ops) in &g.operations {
        only_exposed(&mut paths, n, ops);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": format!("bindery gateway: {title}"), "version": env!("CARGO_PKG_VERSION")},
        "paths": paths,
        "security": [{"bearer": []}, {}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An API token of the spec, or a JWT whose scope claim holds `binding:operation` scopes."}},
            "schemas": {
                "Problem": {"type": "object", "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                    "detail": {"type": "string"}, "kind": {"type": "string"}, "binding": {"type": "string"},
                    "operation": {"type": "string"}, "path": {"type": "string"}}},
                "ObjectMeta": {"type": "object", "properties": {
                    "path": {"type": "string"}, "size": {"type": "integer"}, "gen": {"type": "string"},
                    "modified_ms": {"type": ["integer", "null"]}, "metadata": {"type": "object", "additionalProperties": {"type": "string"}}}},
                "Listing": {"type": "object", "properties": {
                    "objects": {"type": "array", "items": {"$ref": "#/components/schemas/ObjectMeta"}},
                    "prefixes": {"type": "array", "items": {"type": "string"}},
                    "next_page_token": {"type": ["string", "null"]}}},
                "Message": {"type": "object", "required": ["value"], "properties": {
                    "key": {}, "value": {}, "headers": {"type": "object", "additionalProperties": {"type": "string"}}}},
            }
        }
    })
}

fn watch_path(n: &str) -> Value {
    json!({"get": op("Watch changes as Server-Sent Events", &format!("{n}:read"), vec![
        param("path", "path", "The object prefix or table.", json!({"type": "string"})),
        param("initial", "query", "The current state first, then `synced`.", json!({"type": "boolean"})),
        param("cursor", "query", "Resume after this cursor.", json!({"type": "string"})),
        param("Last-Event-ID", "header", "Resume after this cursor.", json!({"type": "string"})),
    ], json!({"200": {"description": "Events named by the change's kind.", "content": {"text/event-stream": {"schema": {"type": "string"}}}}}))})
}
