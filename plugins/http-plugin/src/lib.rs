//! The `http` driver built as a plugin library: the generic kind through the ABI.

bindery_plugin::export_driver!(bindery_driver_http::HttpDriver);
