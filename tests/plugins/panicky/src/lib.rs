//! A plugin whose driver panics inside `get`, and in `connect` when its url says so.

use std::sync::Arc;

use bindery_plugin::*;

#[derive(Default)]
pub struct Panicky;

struct PanickyInstance;

#[async_trait]
impl Driver for Panicky {
    fn info(&self) -> DriverInfo {
        let capability = Capability {
            get: true,
            head: true,
            ..Capability::NONE
        };
        DriverInfo {
            name: "panicky".into(),
            kinds: vec![Kind::Object],
            capability,
            description: "Panics on get (a test plugin).".into(),
            version: "0.0.1".into(),
            local_url: false,
            options: Vec::new(),
        }
    }

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        if config.url.as_deref() == Some("panic") {
            panic!("connect was told to panic");
        }
        Ok(Arc::new(PanickyInstance))
    }
}

impl Instance for PanickyInstance {
    fn capability(&self) -> Capability {
        Panicky.info().capability
    }
    fn object(&self) -> Option<&dyn ObjectDriver> {
        Some(self)
    }
}

#[async_trait]
impl ObjectDriver for PanickyInstance {
    async fn get(&self, path: &str, _op: OpGet) -> Result<GetResponse> {
        panic!("get of '{path}' panicked on purpose");
    }

    async fn head(&self, path: &str, _op: OpStat) -> Result<ObjectMeta> {
        Ok(ObjectMeta {
            path: path.to_string(),
            gen: "1".into(),
            ..Default::default()
        })
    }
}

export_driver!(Panicky);
