# Sourced by scripts/s3-server and scripts/kafka-server: what starting and stopping a test
# server on loopback needs.

free_port() { # prints a free loopback port
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() { # PORT SECONDS: waits until something accepts connections on 127.0.0.1:PORT
    python3 - "$1" "$2" <<'PY'
import socket, sys, time
port, limit = int(sys.argv[1]), time.time() + float(sys.argv[2])
while time.time() < limit:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(f"nothing answers on 127.0.0.1:{port}")
PY
}

stop_server() { # DIR: stops the process in DIR/pid (SIGTERM, then SIGKILL after 5 s)
    local dir=$1 pid
    if [ -f "$dir/pid" ]; then
        pid=$(cat "$dir/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/pid"
    fi
}
