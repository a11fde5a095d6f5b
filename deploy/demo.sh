#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, starts a
# match_server on a local demo store seeded from benign Debian photos, and
# shows a real MATCH and a real NO_MATCH through the `hashmatch match` client,
# then stops the server cleanly (SIGTERM: it drains and exits 0).
#
#   deploy/demo.sh [BUILD_DIR]
#
# Environment: HASHMATCH_DEMO_DATA (store directory, default
# BUILD_DIR/demo-data, git-ignored; kept between runs, seeding is idempotent),
# HASHMATCH_DEMO_PORT (gRPC port, default 50051), HASHMATCH_DEMO_METRICS_PORT
# (default 9464). Nothing is written outside the store directory and a
# temporary directory (removed at exit): the transformed photo is made there
# on the fly, never committed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
"$ROOT/deploy/setup.sh" "$BUILD"

DATA="${HASHMATCH_DEMO_DATA:-$BUILD/demo-data}"
PORT="${HASHMATCH_DEMO_PORT:-50051}"
METRICS_PORT="${HASHMATCH_DEMO_METRICS_PORT:-9464}"
SERVER_BIN="$BUILD/src/server/match_server"
HM="$BUILD/tools/hashmatch"
# The photos src/match/demo_seed.h names: one seeded, one not.
PHOTOS=/usr/share/backgrounds/mate/nature
SEEDED="$PHOTOS/LadyBird.jpg"
OTHER="$PHOTOS/Storm.jpg"

TMP="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

echo
echo "== Starting match_server on 127.0.0.1:$PORT (store $DATA, --seed_demo)"
"$SERVER_BIN" --db "$DATA" --seed_demo --listen "127.0.0.1:$PORT" \
  --port_file "$TMP/port" --metrics_listen "127.0.0.1:$METRICS_PORT" \
  2>"$TMP/server.log" &
SERVER_PID=$!

# Ready when grpc.health.v1 says SERVING (the index is loaded).
if ! /usr/bin/python3 "$ROOT/examples/python/match_client.py" \
  --server "127.0.0.1:$PORT" --wait_serving 120; then
  echo "demo: the server did not become ready; its log:" >&2
  cat "$TMP/server.log" >&2
  exit 1
fi

# A transformed copy of a seeded photo: 60% size, JPEG quality 70, made
# here in the temporary directory with Pillow (python3-pil, a dependency of
# python3-skimage).
UPLOAD="$TMP/$(basename "$SEEDED" .jpg)_resized_q70.jpg"
/usr/bin/python3 - "$SEEDED" "$UPLOAD" <<'EOF'
import sys
from PIL import Image
src, dst = sys.argv[1], sys.argv[2]
im = Image.open(src).convert("RGB")
im = im.resize((im.width * 6 // 10, im.height * 6 // 10), Image.LANCZOS)
im.save(dst, quality=70)
print("made %s (%dx%d, JPEG quality 70) from %s" % (dst, im.width, im.height,
                                                   src))
EOF

echo
echo "== hashmatch match: the transformed seeded photo, then a photo that is not seeded"
set +e
"$HM" match --server "127.0.0.1:$PORT" "$UPLOAD" "$OTHER" | tee "$TMP/match.out"
STATUS=${PIPESTATUS[0]}
set -e
echo "(exit status $STATUS: 3 means at least one MATCH)"

echo
echo "== The same with --hashes: hashed here, only the hashes are sent (MatchHashes)"
set +e
"$HM" match --server "127.0.0.1:$PORT" --hashes "$UPLOAD" "$OTHER"
set -e

# Videos made here with Debian's ffmpeg: 3 s of the unseeded photo, then 3 s
# of the seeded one with a corner logo; and 6 s of the unseeded photo alone.
SEEDED_VIDEO="$TMP/slideshow_with_seeded.mp4"
OTHER_VIDEO="$TMP/slideshow_other.mp4"
FFMPEG="ffmpeg -nostdin -hide_banner -loglevel error -y"
$FFMPEG -loop 1 -framerate 10 -t 3 -i "$OTHER" -loop 1 -framerate 10 -t 3 \
  -i "$SEEDED" -filter_complex \
  "[0:v]scale=640:360,setsar=1[a];[1:v]scale=640:360,setsar=1,drawbox=x=520:y=316:w=96:h=24:color=white@0.5:t=fill[b];[a][b]concat=n=2:v=1:a=0,format=yuv420p" \
  -c:v libx264 "$SEEDED_VIDEO"
$FFMPEG -loop 1 -framerate 10 -t 6 -i "$OTHER" -vf \
  "scale=640:360,setsar=1,format=yuv420p" -c:v libx264 "$OTHER_VIDEO"

echo
echo "== hashmatch match --video: a slideshow showing the seeded photo (with a logo) for 3 of its 6 s, then one that does not"
set +e
"$HM" match --video --server "127.0.0.1:$PORT" "$SEEDED_VIDEO" "$OTHER_VIDEO" |
  tee "$TMP/video.out"
VIDEO_STATUS=${PIPESTATUS[0]}
set -e
echo "(exit status $VIDEO_STATUS: MatchVideo streams the file; a frame that is a vetted photo decides MATCH)"

echo
echo "== Stopping the server (SIGTERM: health NOT_SERVING, in-flight RPCs finish, exit 0)"
kill -TERM "$SERVER_PID"
SERVER_STATUS=0
wait "$SERVER_PID" || SERVER_STATUS=$?
SERVER_PID=""
echo "match_server exited with status $SERVER_STATUS; last log lines:"
tail -n 3 "$TMP/server.log"
if [ "$STATUS" -ne 3 ] || [ "$SERVER_STATUS" -ne 0 ] ||
  [ "$VIDEO_STATUS" -ne 3 ] ||
  ! grep -q "^$UPLOAD	MATCH	" "$TMP/match.out" ||
  ! grep -q "^$OTHER	NO_MATCH	" "$TMP/match.out" ||
  ! grep -q "^$SEEDED_VIDEO	MATCH	" "$TMP/video.out" ||
  ! grep -q "^$OTHER_VIDEO	NO_MATCH	" "$TMP/video.out"; then
  echo "demo: FAILED (expected a MATCH and a clean exit)" >&2
  exit 1
fi
echo
echo "Demo done: MATCH for the transformed seeded photo and the video showing it,"
echo "NO_MATCH for the other photo and video."
echo "The store stays in $DATA; rerun to start again, or run the server yourself:"
echo "  $SERVER_BIN --db $DATA --listen 127.0.0.1:$PORT"
