# Sourced by scripts/test: installs tansu when missing (scripts/kafka-server), starts a broker
# on loopback (memory storage), exports BINDERY_KAFKA_URL for the tests, and stops it when the
# run ends. The interop tests' independent client, the confluent-kafka Python package, goes
# into a virtualenv at ~/.cache/bindery-venv (kept between runs); BINDERY_PYTHON is its python.

bindery_make_venv
if ! "$bindery_venv/bin/python" -c 'import confluent_kafka' 2>/dev/null; then
    echo "bindery setup: pip install confluent-kafka into $bindery_venv" >&2
    "$bindery_venv/bin/pip" install --quiet confluent-kafka
fi
export BINDERY_PYTHON="$bindery_venv/bin/python"

"$bindery_root/scripts/kafka-server" install
kafka_dir="$(mktemp -d /tmp/bindery-kafka.XXXXXX)"
bindery_stop_kafka() {
    "$bindery_root/scripts/kafka-server" stop "$kafka_dir" || true
    rm -rf "$kafka_dir"
}
bindery_on_exit="${bindery_on_exit:-}bindery_stop_kafka; "
trap 'eval "$bindery_on_exit"' EXIT
BINDERY_KAFKA_URL="$("$bindery_root/scripts/kafka-server" start "$kafka_dir" | sed -n 's/^url=//p')"
export BINDERY_KAFKA_URL
echo "bindery test: tansu (Kafka protocol) at $BINDERY_KAFKA_URL ($kafka_dir)" >&2
