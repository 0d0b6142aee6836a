//! The `sqlite` driver built as a plugin library: the table conformance suite loads it through
//! the ABI, where table requests cross as Cap'n Proto envelopes and batches by the Arrow C
//! Data Interface.

bindery_plugin::export_driver!(bindery_driver_sqlite::Sqlite);
