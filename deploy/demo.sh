#!/usr/bin/env bash
# The README's first command: sets up, builds, and hashes a few benign demo
# photos from Debian's wallpaper packages, then shows which pairs match under
# PDQ (distance <= 31). The same photo at another size (the packages ship
# real rescaled copies) matches; different photos do not.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/deploy/setup.sh" build

W=/usr/share/wallpapers
M=/usr/share/backgrounds/mate/abstract
PHOTOS=(
  "$W/Autumn/contents/images/2560x1600.jpg"
  "$W/Autumn/contents/screenshot.jpg"
  "$W/ColorfulCups/contents/images/2560x1600.jpg"
  "$W/ColorfulCups/contents/screenshot.jpg"
  "$M/Elephants.jpg"
  "$M/Elephants_3840x2160.jpg"
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
