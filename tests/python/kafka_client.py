"""An independent Kafka client for the kafka driver's interop tests (confluent-kafka, which
bundles its own librdkafka build).

    kafka_client.py consume BROKERS TOPIC COUNT   prints COUNT messages from the earliest, one
                                                  JSON object per line
    kafka_client.py produce BROKERS TOPIC         reads JSON objects (key, value, headers; bytes
                                                  as hex) from stdin, publishes them, prints
                                                  each one's partition and offset, in order

Messages are JSON objects: {"key": hex or null, "value": hex, "headers": [[name, hex]],
"partition": n, "offset": n}.
"""

import json
import sys
import uuid

from confluent_kafka import Consumer, KafkaException, Producer


def hexed(b):
    return None if b is None else b.hex()


def consume(brokers, topic, count):
    c = Consumer({
        "bootstrap.servers": brokers,
        "group.id": f"interop-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    c.subscribe([topic])
    got = 0
    idle = 0
    while got < count and idle < 60:
        m = c.poll(1.0)
        if m is None:
            idle += 1
            continue
        if m.error():
            raise KafkaException(m.error())
        print(json.dumps({
            "key": hexed(m.key()),
            "value": hexed(m.value() or b""),
            "headers": [[k, hexed(v or b"")] for k, v in (m.headers() or [])],
            "partition": m.partition(),
            "offset": m.offset(),
        }), flush=True)
        got += 1
    c.close()
    if got < count:
        sys.exit(f"only {got} of {count} messages arrived")


def produce(brokers, topic):
    # One message per record batch: tansu 0.6.0 misplaces messages inside multi-message
    # batches (see the README).
    p = Producer({"bootstrap.servers": brokers, "enable.idempotence": True, "acks": "all",
                  "batch.num.messages": 1})
    placed = {}

    def done(i):
        # Delivery reports come per partition, not in send order: each knows its message.
        def report(err, msg):
            if err is not None:
                raise KafkaException(err)
            placed[i] = (msg.partition(), msg.offset())
        return report

    for i, line in enumerate(sys.stdin):
        m = json.loads(line)
        p.produce(
            topic,
            value=bytes.fromhex(m["value"]),
            key=None if m.get("key") is None else bytes.fromhex(m["key"]),
            headers=[(k, bytes.fromhex(v)) for k, v in m.get("headers", [])],
            on_delivery=done(i),
        )
        p.poll(0)
    if p.flush(30) != 0:
        sys.exit("messages were not delivered within 30 s")
    for i in sorted(placed):
        part, off = placed[i]
        print(json.dumps({"partition": part, "offset": off}), flush=True)


if __name__ == "__main__":
    mode, brokers, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    if mode == "consume":
        consume(brokers, topic, int(sys.argv[4]))
    else:
        produce(brokers, topic)
