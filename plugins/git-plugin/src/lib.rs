//! The `git` driver built as a plugin library: the versions suite loads it through the ABI.

bindery_plugin::export_driver!(bindery_driver_git::GitDriver);
