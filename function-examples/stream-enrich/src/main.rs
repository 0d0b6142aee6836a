//! A stream enrichment function.
//!
//! Each message of `events://orders` is a JSON order, `{"order": "o-1", "user": "ana",
//! "amount": 120.5}`. The handler looks the user up in `db0://users` (by key) and upserts the
//! order with the user's name, country and tier into `db0://orders_enriched`, keyed by the
//! order, so a message delivered again (delivery is at least once) writes the same row. The
//! trigger checkpoints each order once it is written. An order of an unknown user, or one
//! that is not an order, fails: the trigger retries it, then sends it to
//! `events://orders-dead`.
//!
//! On its first start it creates the streams and tables and puts three users in `users`.
//! Run one order with
//! `bindery invoke function-examples/stream-enrich/function.yaml --body '{"order": "o-1", "user": "ana", "amount": 120.5}'`.

use bindery::function::{Event, Function, Json};
use bindery::{Context, Error, ErrorKind};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Order {
    order: String,
    user: String,
    amount: f64,
}

#[derive(Deserialize)]
struct User {
    name: String,
    country: Option<String>,
    tier: Option<String>,
}

async fn handler(ctx: Context, event: Event) -> bindery::Result<Json<Value>> {
    let order: Order = event.json()?;
    let users: Vec<User> = ctx
        .table()
        .read("db0://users")
        .key([order.user.as_str()])
        .select(["name", "country", "tier"])
        .load()
        .scan_async()
        .await?;
    let user = users
        .into_iter()
        .next()
        .ok_or_else(|| Error::not_found(format!("order '{}': no user '{}'", order.order, order.user)))?;
    let row = json!({
        "order": order.order,
        "user": order.user,
        "amount": order.amount,
        "name": user.name,
        "country": user.country,
        "tier": user.tier,
        "source": format!("{}:{}", event.shard.unwrap_or(0), event.position.unwrap_or(0)),
        "event_id": event.id,
    });
    ctx.table()
        .write("db0://orders_enriched")
        .with_items([row.clone()])
        .await?;
    bindery::tracing::info!(order = %order.order, user = %order.user, "Enriched.");
    Ok(Json(row))
}

async fn init(ctx: Context) -> bindery::Result<()> {
    let t = ctx.table();
    let users = t
        .create("db0://users")
        .schema("user string NOT NULL, name string NOT NULL, country string, tier string")
        .primary_key("user", None)
        .await;
    if users.is_ok() {
        t.write("db0://users")
            .with_items([
                json!({"user": "ana", "name": "Ana Lima", "country": "BR", "tier": "gold"}),
                json!({"user": "bob", "name": "Bob Stone", "country": "US", "tier": "silver"}),
                json!({"user": "chen", "name": "Chen Wei", "country": "SG"}),
            ])
            .await?;
    }
    let enriched = t
        .create("db0://orders_enriched")
        .schema(
            "order string NOT NULL, user string NOT NULL, amount float64, name string, country string, tier string, source string, event_id string",
        )
        .primary_key("order", None)
        .await;
    let orders = ctx.stream().create("events://orders", "", 2).await;
    let dead = ctx.stream().create("events://orders-dead", "", 1).await;
    for r in [users, enriched, orders, dead] {
        match r {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    Function::new(handler).init(init).main()
}
