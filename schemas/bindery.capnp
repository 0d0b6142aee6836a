# bindery's language-independent contract: the envelopes requests and responses travel in,
# the capability record, the error record and the plugin handshake.
#
# In-process, the host uses the Rust mirrors of these types (bindery-core); across the plugin
# ABI (bindery-abi) every envelope is one of these messages. Payload bytes never go inside an
# envelope: they cross beside it as a buffer (pointer, length, release callback), so they are
# never copied. Fields are only ever added, never renumbered; the ABI version in the
# handshake changes when an incompatible change is unavoidable.

@0x9747e69652a59385;

struct KeyValue {
  key @0 :Text;
  value @1 :Text;
}

enum Kind {
  object @0;
  table @1;
  stream @2;
  generic @3;
}

# The error record. Messages name what failed and why.
enum ErrorKind {
  notFound @0;
  alreadyExists @1;
  conditionFailed @2;
  unsupported @3;
  invalidInput @4;
  permissionDenied @5;
  unavailable @6;
  timeout @7;
  cancelled @8;
  internal @9;
}

struct ErrorRecord {
  kind @0 :ErrorKind;
  message @1 :Text;
  retryable @2 :Bool;
  operation @3 :Text;
  path @4 :Text;
}

# The capability record: the names of the capabilities that are set, and named limits.
# Names a side does not know are ignored by it, so either side can add capabilities.
struct Capabilities {
  flags @0 :List(Text);
  limits @1 :List(Limit);

  struct Limit {
    name @0 :Text;
    value @1 :UInt64;
  }
}

# The plugin handshake: what a plugin library answers first.
struct Handshake {
  abiVersion @0 :UInt32;
  driverName @1 :Text;
  driverVersion @2 :Text;
  description @3 :Text;
  kinds @4 :List(Kind);
  capabilities @5 :Capabilities;
  localUrl @6 :Bool;     # the binding's url names a local folder or file the driver owns
  options @7 :List(OptionDoc);   # the options a binding may set (`bindery plugins` prints them)
}

# One option a driver documents; a key ending in `.NAME` stands for a family of keys.
struct OptionDoc {
  key @0 :Text;
  help @1 :Text;
}

# What a plugin gets to connect one binding.
struct BindingConfig {
  name @0 :Text;
  kind @1 :Kind;
  url @2 :Text;          # absent when the spec has none
  options @3 :List(KeyValue);
  secrets @4 :List(KeyValue);
  baseDir @5 :Text;
}

struct ConnectResult {
  union {
    ok @0 :Capabilities;
    error @1 :ErrorRecord;
  }
}

enum Command {
  objectGet @0;
  objectPut @1;
  objectHead @2;
  objectDelete @3;
  objectList @4;
  streamCreate @5;
  streamUpdate @6;
  streamDelete @7;
  streamListShards @8;
  streamPublish @9;
  streamConsume @10;
  streamCheckpoint @11;
  tableRead @12;
  tableWrite @13;
  tableCreate @14;
  tableDrop @15;
  tableAlter @16;
  tableSchema @17;
  genericCall @18;
  objectWatch @19;
  tableWatch @20;
  objectVersions @21;
  objectTags @22;
  objectRevert @23;
  objectDiff @24;
  tableDelete @25;
}

struct Conditions {
  ifMatch @0 :Text;      # absent: no condition
  ifNoneMatch @1 :Text;
}

struct ObjectGet {
  conditions @0 :Conditions;
  hasRange @1 :Bool;
  offset @2 :UInt64;
  hasLength @3 :Bool;
  length @4 :UInt64;
  whole @5 :Bool;        # the caller takes the whole answer at once: one buffer is fine
}

# The data of a put follows the request as buffers.
struct ObjectPut {
  conditions @0 :Conditions;
  metadata @1 :List(KeyValue);
}

struct ObjectList {
  delimiter @0 :Text;    # absent: none
  hasLimit @1 :Bool;
  limit @2 :UInt64;
  startAfter @3 :Text;   # absent: from the start
}

# One request: command, path, options, and the command's details.
struct DataRequest {
  command @0 :Command;
  path @1 :Text;
  options @2 :List(KeyValue);
  details :union {
    objectGet @3 :ObjectGet;
    objectPut @4 :ObjectPut;
    objectHead @5 :Conditions;
    objectDelete @6 :Conditions;
    objectList @7 :ObjectList;
    streamCreate @8 :UInt32;        # shards
    streamUpdate @9 :UInt32;        # shards
    streamDelete @10 :Void;
    streamListShards @11 :Void;
    streamPublish @12 :List(Message);
    streamConsume @13 :StreamConsume;
    streamCheckpoint @14 :StreamCheckpoint;
    tableRead @15 :TableRead;
    tableWrite @16 :TableWrite;
    tableCreate @17 :TableCreate;
    tableDrop @18 :Void;
    tableAlter @19 :TableAlter;
    tableSchema @20 :Void;
    genericCall @21 :GenericCall;
    objectWatch @22 :Watch;
    tableWatch @23 :Watch;
    objectVersions @25 :Versions;
    objectTags @26 :TagRequest;
    objectRevert @27 :Text;         # the revision or tag
    objectDiff @28 :DiffRequest;
    tableDelete @29 :TableDelete;
  }
  # get, head and list: the revision or tag to read at; a table schema: its version number;
  # absent: now (the current one).
  version @24 :Text;
}

# A page of an object's revisions.
struct Versions {
  hasLimit @0 :Bool;
  limit @1 :UInt64;
  startAfter @2 :Text;  # a revision id; absent: from the newest
}

# One revision of an object.
struct Revision {
  id @0 :Text;
  hasTime @1 :Bool;
  timeNanos @2 :Int64;  # since the Unix epoch
  author @3 :Text;
  message @4 :Text;
  size @5 :UInt64;
  gen @6 :Text;
  deleted @7 :Bool;
}

# A name for a revision.
struct Tag {
  name @0 :Text;
  revision @1 :Text;
  description @2 :Text;
  author @3 :Text;
  hasTime @4 :Bool;
  timeNanos @5 :Int64;
}

# What a tags request does.
struct TagRequest {
  union {
    create @0 :Tag;
    get @1 :Text;
    update @2 :TagUpdate;
    delete @3 :Text;
    list @4 :Void;
  }
}

struct TagUpdate {
  name @0 :Text;
  rename @1 :Text;       # absent: unchanged
  description @2 :Text;  # absent: unchanged
}

struct DiffRequest {
  from @0 :Text;
  to @1 :Text;           # absent: the object as it is now
}

# The difference of two revisions of an object.
struct Diff {
  format @0 :Format;
  patch @1 :Text;
  hasFrom @2 :Bool;      # false: the object did not exist at the older revision
  fromSize @3 :UInt64;
  fromGen @4 :Text;
  hasTo @5 :Bool;
  toSize @6 :UInt64;
  toGen @7 :Text;

  enum Format {
    jsonPatch @0;
    unified @1;
    sizes @2;
  }
}

# A watch: from now, or after a cursor; with the current state first or not.
struct Watch {
  cursor @0 :Text;      # absent: from now
  initial @1 :Bool;
}

# One watched change.
struct Change {
  kind @0 :Kind;
  path @1 :Text;
  gen @2 :Text;
  hasSize @3 :Bool;
  size @4 :UInt64;
  timeNanos @5 :Int64;  # since the Unix epoch
  cursor @6 :Text;
  row @7 :Text;         # a table row after the change, JSON; absent: not known
  before @8 :Text;      # a table row before the change, JSON; absent: not known

  enum Kind {
    created @0;
    updated @1;
    deleted @2;
    synced @3;
    resync @4;
  }
}

# A generic call: the operation and payload mean what the driver defines. The payload is
# inside the envelope (generic requests are small; an object's data crosses beside).
struct GenericCall {
  operation @0 :Text;
  payload @1 :Data;
  idempotent @2 :Bool;
}

# The head of a generic answer (its first frame); the body follows in the frames' buffers.
struct CallReply {
  status @0 :UInt32;
  metadata @1 :List(KeyValue);
}

# A literal of the filter language (a key value, an expression's parameter).
struct Value {
  union {
    null @0 :Void;
    bool @1 :Bool;
    int @2 :Int64;
    float @3 :Float64;
    str @4 :Text;
  }
}

# A primary key's values: the partition key's, then the sorting key's.
struct Key {
  values @0 :List(Value);
}

# Filters and conditions cross as the text the function wrote, parsed again on the plugin's
# side (the same parser, so the same tree).
struct TableRead {
  keys @0 :List(Key);
  filter @1 :Text;          # absent: none
  select @2 :List(Text);
  sql @3 :Text;             # absent: none
  hasPartition @4 :Bool;
  part @5 :UInt32;
  parts @6 :UInt32;
  hasLimit @7 :Bool;
  limit @8 :UInt64;
  schema @9 :Text;          # absent: the table's own; else the schema's text form
  orderBy @10 :List(Text);  # "column asc" / "column desc", NULLs last; empty: any order
}

# Rows removed: those of the keys (if any) passing the filter (if any); at least one is given.
struct TableDelete {
  keys @0 :List(Key);
  filter @1 :Text;          # absent: none
  condition @2 :Text;       # absent: none
}

struct TableWrite {
  keys @0 :List(Key);
  items :union {
    none @1 :Void;
    json @2 :Text;          # a JSON array of objects
    batches @3 :UInt32;     # this many Arrow batches follow as body buffers (C Data Interface)
  }
  expression @4 :Text;      # absent: none
  params @5 :List(Param);
  condition @6 :Text;       # absent: none

  struct Param {
    name @0 :Text;
    value @1 :Value;
  }
}

struct TableCreate {
  schema @0 :Text;          # the columns' text form
  key @1 :List(Text);
}

struct TableAlter {
  schema @0 :Text;          # absent: none
  add @1 :List(Text);       # each column's text form
}

# A stream message. Its value travels inside the envelope (a copy at the plugin boundary;
# object data, by contrast, crosses beside it).
struct Message {
  hasKey @0 :Bool;
  key @1 :Data;
  value @2 :Data;
  headers @3 :List(Header);
  hasTimestamp @4 :Bool;
  timestampNanos @5 :Int64;      # since the Unix epoch
  shard @6 :UInt32;
  position @7 :UInt64;

  struct Header {
    name @0 :Text;
    value @1 :Data;
  }
}

struct ShardPosition {
  shard @0 :UInt32;
  position @1 :UInt64;
}

struct ShardInfo {
  id @0 :UInt32;
  first @1 :UInt64;
  next @2 :UInt64;
}

struct StreamConsume {
  start @0 :Start;
  positions @1 :List(ShardPosition);   # with start = positions
  timestampNanos @2 :Int64;             # with start = timestamp
  group @3 :Text;                       # absent: no group
  filter @4 :Text;                      # absent: no filter
  select @5 :List(Text);
  follow @6 :Bool;

  enum Start {
    default @0;
    earliest @1;
    latest @2;
    positions @3;
    timestamp @4;
    checkpoint @5;
  }
}

struct StreamCheckpoint {
  group @0 :Text;
  positions @1 :List(ShardPosition);
}

struct ObjectMeta {
  path @0 :Text;
  size @1 :UInt64;
  gen @2 :Text;
  hasModified @3 :Bool;
  modifiedNanos @4 :Int64;   # since the Unix epoch
  metadata @5 :List(KeyValue);
}

struct ListEntry {
  union {
    object @0 :ObjectMeta;
    prefix @1 :Text;
  }
}

enum Encoding {
  none @0;
  raw @1;
}

# One frame of a response. code 0 is a frame; any other code is an error, described by
# head.error, and ends the response. The frame's buffer crosses beside this envelope; for a
# batch frame, that buffer is an `ArrowArray` and an `ArrowSchema` (the Arrow C Data
# Interface, in that order, as one struct) whose ownership passes to the receiver.
struct ResponseMessage {
  code @0 :UInt16;
  size @1 :UInt64;
  encoding @2 :Encoding;
  isArray @3 :Bool;
  isLast @4 :Bool;
  behind @5 :UInt32;
  head :union {
    none @6 :Void;
    object @7 :ObjectMeta;
    entries @8 :List(ListEntry);
    error @9 :ErrorRecord;
    messages @10 :List(Message);
    shards @11 :List(ShardInfo);
    positions @12 :List(ShardPosition);
    batch @13 :Void;        # an Arrow batch crosses beside, by the C Data Interface
    count @14 :UInt64;
    reply @15 :CallReply;
    changes @16 :List(Change);
    revisions @17 :List(Revision);
    tags @18 :List(Tag);
    diff @19 :Diff;
    page @20 :Text;         # a paged read's next page token
  }
}
