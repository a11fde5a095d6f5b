#!/usr/bin/env bash
# The README's first command: sets up, builds, and hashes a few benign demo
# photos from Debian's plasma-workspace-wallpapers package, then shows which
# pairs match under PDQ (distance <= 31). The same wallpaper at different sizes
# and crops matches; different photos do not.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/deploy/setup.sh" build

W=/usr/share/wallpapers
PHOTOS=(
  "$W/Autumn/contents/images/2560x1600.jpg"
  "$W/Autumn/contents/images/640x480.jpg"
  "$W/Autumn/contents/screenshot.jpg"
  "$W/ColorfulCups/contents/images/2560x1600.jpg"
  "$W/ColorfulCups/contents/screenshot.jpg"
  "$W/Kite/contents/images/2560x1600.jpg"
  "$W/Path/contents/images/1920x1080.jpg"
)
HM="$ROOT/build/tools/hashmatch"
echo
echo "== PDQ and MD5 of ${#PHOTOS[@]} demo photos (path, algorithm, hex, quality)"
"$HM" hash --algo pdq,md5 "${PHOTOS[@]}"
echo
echo "== Pairs within PDQ distance 31"
"$HM" pairs --algo pdq --threshold 31 "${PHOTOS[@]}"
