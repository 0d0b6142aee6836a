# Sourced by scripts/test: installs Garage and s3s-fs when missing (scripts/s3-server), starts
# one of each on loopback with a bucket `bindery`, exports BINDERY_GARAGE_URL,
# BINDERY_S3FS_URL, BINDERY_S3_KEY_ID and BINDERY_S3_SECRET for the tests, and stops both when
# the run ends.

"$bindery_root/scripts/s3-server" install
s3_dir="$(mktemp -d /tmp/bindery-s3.XXXXXX)"
export BINDERY_S3_KEY_ID="GK$(openssl rand -hex 12)"
export BINDERY_S3_SECRET="$(openssl rand -hex 32)"
bindery_stop_s3() {
    "$bindery_root/scripts/s3-server" stop "$s3_dir/garage" || true
    "$bindery_root/scripts/s3-server" stop "$s3_dir/s3s-fs" || true
    rm -rf "$s3_dir"
}
bindery_on_exit="${bindery_on_exit:-}bindery_stop_s3; "
trap 'eval "$bindery_on_exit"' EXIT
BINDERY_GARAGE_URL="$("$bindery_root/scripts/s3-server" start garage "$s3_dir/garage" | sed -n 's/^url=//p')"
BINDERY_S3FS_URL="$("$bindery_root/scripts/s3-server" start s3s-fs "$s3_dir/s3s-fs" | sed -n 's/^url=//p')"
export BINDERY_GARAGE_URL BINDERY_S3FS_URL
echo "bindery test: Garage at $BINDERY_GARAGE_URL, s3s-fs at $BINDERY_S3FS_URL ($s3_dir)" >&2
