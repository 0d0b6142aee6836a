//! The `log` driver built as a plugin library: the stream suite runs against it through the
//! ABI, so streams (publish, long-lived consumes, cancellation) cross the plugin boundary.

bindery_plugin::export_driver!(bindery_driver_log::LogDriver);
