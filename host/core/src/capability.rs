//! The capability record: what a driver (or one connected binding of it) can do.
//!
//! A flat record of flags and limits, named `op` and `op_with_arg` like OpenDAL's. The host
//! checks it before dispatch, fills gaps it can fill correctly (the runtime's fill layer), and
//! otherwise answers `Unsupported` naming binding, driver and operation. On the wire it is a
//! list of the names of the set flags plus named limits, so either side can add a capability
//! without breaking the other.

macro_rules! capability {
    (flags { $( $(#[$fm:meta])* $flag:ident, )* } limits { $( $(#[$lm:meta])* $limit:ident, )* }) => {
        /// What a driver can do; every flag defaults to `false`, every limit to none.
        ///
        /// A driver declares its capability as one constant (in its `impl Connect`), naming what it can do and
        /// ending with `..Capability::NONE` (so a flag added later is off for it):
        /// `const CAPABILITY: Capability = Capability { get: true, head: true, ..Capability::NONE };`
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct Capability {
            $( $(#[$fm])* pub $flag: bool, )*
            $( $(#[$lm])* pub $limit: Option<u64>, )*
        }

        impl Capability {
            /// Nothing at all: every flag off, no limit.
            pub const NONE: Capability = Capability {
                $( $flag: false, )*
                $( $limit: None, )*
            };

            /// The names of every flag this version knows.
            pub const FLAGS: &'static [&'static str] = &[$(stringify!($flag)),*];
            /// The names of every limit this version knows.
            pub const LIMITS: &'static [&'static str] = &[$(stringify!($limit)),*];

            /// The names of the flags that are set.
            pub fn flags(&self) -> Vec<&'static str> {
                let mut out = Vec::new();
                $( if self.$flag { out.push(stringify!($flag)); } )*
                out
            }

            /// Whether the named flag is set; unknown names are `false`.
            pub fn has(&self, name: &str) -> bool {
                match name {
                    $( stringify!($flag) => self.$flag, )*
                    _ => false,
                }
            }

            /// Sets the named flag; returns `false` for a name this version does not know.
            pub fn set_flag(&mut self, name: &str, value: bool) -> bool {
                match name {
                    $( stringify!($flag) => { self.$flag = value; true } )*
                    _ => false,
                }
            }

            /// The limits that are set, by name.
            pub fn limits(&self) -> Vec<(&'static str, u64)> {
                let mut out = Vec::new();
                $( if let Some(v) = self.$limit { out.push((stringify!($limit), v)); } )*
                out
            }

            /// Sets the named limit; returns `false` for a name this version does not know.
            pub fn set_limit(&mut self, name: &str, value: u64) -> bool {
                match name {
                    $( stringify!($limit) => { self.$limit = Some(value); true } )*
                    _ => false,
                }
            }
        }
    };
}

capability! {
    flags {
        /// Object `get`.
        get,
        /// `get` of a byte range without reading the whole object (otherwise the host reads
        /// the object and slices it).
        get_with_range,
        /// `get` with `if-match` (generation) enforced.
        get_with_if_match,
        /// `get` with `if-none-match` (generation) enforced.
        get_with_if_none_match,
        /// Object `put`.
        put,
        /// `put` with `if-match` (generation) enforced atomically.
        put_with_if_match,
        /// `put` with `if-none-match: *` (create only) enforced atomically.
        put_with_if_none_match,
        /// `put` stores user metadata.
        put_with_metadata,
        /// Object `head`.
        head,
        /// Object `del`.
        delete,
        /// `del` with `if-match` (generation) enforced.
        delete_with_if_match,
        /// Object `list`.
        list,
        /// `list` groups keys by a delimiter into common prefixes (otherwise the host does).
        list_with_delimiter,
        /// `list` stops after a number of entries by itself (otherwise the host does).
        list_with_limit,
        /// `list` starts after a given path (continuation; otherwise the host skips to it).
        list_with_start_after,
        /// Object `watch`: changes under a prefix, also those made outside bindery, with
        /// cursors, `initial` and `resync` (see `bindery_core::watch`).
        watch,
        /// Object revisions: `versions`, `get` / `head` / `list` at a version, `tags`,
        /// `revert`, `diff` (see `bindery_core::version`); on tables, the history of each
        /// table's schema: `schema(path).version(n)`.
        versioning,
        /// Stream `create`, `update`, `delete` and `list_shards`.
        stream_admin,
        /// Stream `update`: adding shards to a stream (with `stream_admin`).
        stream_grow,
        /// Stream `publish`.
        publish,
        /// Stream `consume`.
        consume,
        /// `consume` in a consumer group, members splitting the shards.
        consume_with_group,
        /// Durable `checkpoint` per consumer group.
        consume_with_checkpoint,
        /// `consume` from a timestamp.
        consume_from_timestamp,
        /// `consume` applies `where_` and `select` itself (otherwise the host does).
        consume_with_filter,
        /// Table `read`.
        table_read,
        /// Table `write` of items.
        table_write,
        /// `write` of items upserts each by its key (without it, a driver appends items as
        /// new rows and refuses a key that is already there).
        write_upsert,
        /// Table `create`, `drop`, `alter` and `schema`.
        table_admin,
        /// `read` of the rows of given keys by itself (otherwise the host filters by key).
        read_with_keys,
        /// `read` applies `where_` itself (otherwise the host does, with arrow compute).
        read_with_filter,
        /// `read` applies `select` itself (otherwise the host does).
        read_with_select,
        /// `read` stops after a number of rows by itself (otherwise the host does).
        read_with_limit,
        /// `read` returns rows in `order_by` itself (otherwise the host sorts them).
        read_with_order,
        /// `read` with a read-only query in the driver's own language (`sql`).
        read_with_sql,
        /// `read` of one of several disjoint parts of a table (`partition`).
        read_with_partition,
        /// `write` by an update expression (`with_expression`).
        write_with_expression,
        /// `write` with a condition applied atomically (`condition`).
        write_with_condition,
        /// Table `delete` of rows by keys or a filter, with a condition, atomically.
        table_delete,
        /// Generic `call` (the driver defines the operations).
        call,
    }
    limits {
        /// The largest object a single put may write, and the largest message value a
        /// publish may carry, in bytes (the host refuses larger ones before the driver sees
        /// them).
        max_object_size,
    }
}

impl Capability {
    /// This capability with `watch`: `Capability::FULL_OBJECT.watched()`.
    pub const fn watched(self) -> Capability {
        Capability { watch: true, ..self }
    }

    /// This capability with `versioning`.
    pub const fn versioned(self) -> Capability {
        Capability {
            versioning: true,
            ..self
        }
    }

    /// Every object operation and option, as a driver that implements them all reports.
    pub const FULL_OBJECT: Capability = Capability {
        get: true,
        get_with_range: true,
        get_with_if_match: true,
        get_with_if_none_match: true,
        put: true,
        put_with_if_match: true,
        put_with_if_none_match: true,
        put_with_metadata: true,
        head: true,
        delete: true,
        delete_with_if_match: true,
        list: true,
        list_with_delimiter: true,
        list_with_limit: true,
        list_with_start_after: true,
        ..Capability::NONE
    };

    /// A partitioned log's streams: created, grown and deleted; published to; consumed alone
    /// or in groups, with checkpoints, from a position or a time (`log`, `kafka`).
    pub const PARTITIONED_LOG: Capability = Capability {
        stream_admin: true,
        stream_grow: true,
        publish: true,
        consume: true,
        consume_with_group: true,
        consume_with_checkpoint: true,
        consume_from_timestamp: true,
        ..Capability::NONE
    };

    /// What a SQL database does itself: reads with filters, projection, limits, a query of
    /// its own and partitions pushed down; writes that upsert by key, with update expressions
    /// and conditions; tables created, altered and dropped (`sqlite`, `postgres`).
    pub const SQL_TABLE: Capability = Capability {
        table_read: true,
        table_write: true,
        table_admin: true,
        read_with_filter: true,
        read_with_select: true,
        read_with_limit: true,
        read_with_sql: true,
        read_with_partition: true,
        read_with_order: true,
        write_upsert: true,
        write_with_expression: true,
        write_with_condition: true,
        table_delete: true,
        ..Capability::NONE
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_by_name() {
        let full = Capability::FULL_OBJECT;
        let mut back = Capability::default();
        for f in full.flags() {
            assert!(back.set_flag(f, true));
        }
        assert_eq!(back, full);
        assert!(!back.set_flag("no_such_flag", true));
        assert!(back.set_limit("max_object_size", 10));
        assert_eq!(back.limits(), vec![("max_object_size", 10)]);
    }
}
