"""The stream enrichment function in Python: each order on events://orders is looked up
against db0://users and upserted, enriched, into db0://orders_enriched. An order of an
unknown user raises, is retried, then goes to events://orders-dead."""

import bindery


def init(ctx):
    """Once: the streams and tables, and three users in a new users table."""
    try:
        ctx.table.create("db0://users").schema(
            "user string NOT NULL, name string NOT NULL, country string, tier string"
        ).primary_key("user").do()
        ctx.table.write("db0://users").with_items([
            {"user": "ana", "name": "Ana Lima", "country": "BR", "tier": "gold"},
            {"user": "bob", "name": "Bob Stone", "country": "US", "tier": "silver"},
            {"user": "chen", "name": "Chen Wei", "country": "SG"},
        ]).do()
    except bindery.AlreadyExists:
        pass
    for create in (
        lambda: ctx.table.create("db0://orders_enriched").schema(
            "order string NOT NULL, user string NOT NULL, amount float64, name string, country string, tier string, source string, event_id string"
        ).primary_key("order").do(),
        lambda: ctx.stream.create("events://orders", shards=2).do(),
        lambda: ctx.stream.create("events://orders-dead", shards=1).do(),
    ):
        try:
            create()
        except bindery.AlreadyExists:
            pass


def handler(ctx, event):
    order = event.json()
    users = ctx.table.read("db0://users").key(order["user"]).select("name", "country", "tier").load().scan()
    if not users:
        raise LookupError(f"order '{order['order']}': no user '{order['user']}'")
    row = {
        "order": order["order"], "user": order["user"], "amount": float(order["amount"]),
        **users[0], "source": f"{event.shard or 0}:{event.position or 0}", "event_id": event.id,
    }
    ctx.table.write("db0://orders_enriched").with_items([row]).do()
    return row
