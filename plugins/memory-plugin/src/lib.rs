//! The `memory` driver built as a plugin library: the smallest complete plugin, and the
//! driver the conformance suite loads through the ABI.

bindery_plugin::export_driver!(bindery_driver_memory::MemoryDriver);
