//! A built-in driver with the capabilities the host can fill taken away, so the conformance
//! suites check the host's fill layer against a real driver: a `bare-memory` binding's driver
//! never sees a byte range, a delimiter, a listing limit or start-after; a `bare-sqlite`
//! binding's never sees a key lookup, filter, projection or limit. The suite's answers must
//! be the same as with the whole driver.

use std::sync::Arc;

use bindery::Context;
use bindery_core::{
    async_trait, BindingConfig, Capability, Driver, DriverInfo, Instance, ObjectDriver, Result, StreamDriver,
    TableDriver,
};
use bindery_runtime::{Factory, Registry};

use crate::Fixture;

/// The capability flags the host's fill layer stands in for.
const FILLED: [&str; 10] = [
    "get_with_range",
    "list_with_delimiter",
    "list_with_limit",
    "list_with_start_after",
    "consume_with_filter",
    "read_with_keys",
    "read_with_filter",
    "read_with_select",
    "read_with_limit",
    "read_with_order",
];

fn bare(mut capability: Capability) -> Capability {
    for flag in FILLED {
        capability.set_flag(flag, false);
    }
    capability
}

/// `inner` as `bare-<name>`, without what the host fills.
struct Bare(Arc<dyn Driver>);

#[async_trait]
impl Driver for Bare {
    fn info(&self) -> DriverInfo {
        let mut info = self.0.info();
        info.name = format!("bare-{}", info.name);
        info.capability = bare(info.capability);
        info
    }

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        Ok(Arc::new(BareInstance(self.0.connect(config).await?)))
    }
}

struct BareInstance(Arc<dyn Instance>);

impl Instance for BareInstance {
    fn capability(&self) -> Capability {
        bare(self.0.capability())
    }
    fn object(&self) -> Option<&dyn ObjectDriver> {
        self.0.object()
    }
    fn table(&self) -> Option<&dyn TableDriver> {
        self.0.table()
    }
    fn stream(&self) -> Option<&dyn StreamDriver> {
        self.0.stream()
    }
}

/// A fixture whose binding `name` (of `kind`, with `extra` lines) is on `bare-<driver>`.
pub async fn bare_fixture(name: &str, kind: &str, driver: &str, extra: &str) -> Fixture {
    let Some(Factory::Builtin(inner)) = Registry::builtin().builtin_named(driver) else {
        panic!("no built-in driver '{driver}'");
    };
    let registry = Registry::builtin().with(Arc::new(Bare(inner)));
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = dir.path().join("function.yaml");
    let text = format!(
        "metadata:\n  name: suite\nspec:\n  dataBindings:\n    {name}:\n      kind: {kind}\n      driver: bare-{driver}\n{extra}"
    );
    std::fs::write(&spec, text).expect("write spec");
    let ctx = Context::connect_with(&spec, registry.clone())
        .await
        .expect("connect");
    Fixture { ctx, dir, registry }
}
