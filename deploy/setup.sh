#!/usr/bin/env bash
# Installs every Debian 12 package that hashmatch's build, tests and demo need
# (idempotent: installs only what is missing), then configures and builds.
#
#   deploy/setup.sh [BUILD_DIR] [extra cmake args...]
#
# Defaults: BUILD_DIR=build, Release, warnings as errors, ccache when present.
# Runs apt-get as root, or through sudo for another user.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${1:-build}"
shift || true
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac

# Build toolchain and libraries.
PACKAGES=(
  g++ cmake make pkg-config ccache clang-format
  libopencv-dev libabsl-dev libssl-dev
  libprotobuf-dev protobuf-compiler librocksdb-dev libfaiss-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libgrpc++-dev protobuf-compiler-grpc prometheus-cpp-dev
  libavformat-dev libavcodec-dev libavutil-dev libswscale-dev
  zlib1g-dev libzstd-dev libjpeg-dev
)
# The ffmpeg command line makes the video test clips (from the photos below)
# at test time; python3-imageio ships a real clip (cockatoo.mp4).
PACKAGES+=(ffmpeg python3-imageio)
# deploy/fuzz.sh: clang-14 with libFuzzer and the sanitizer runtimes (the
# default build does not use them).
PACKAGES+=(clang-14 libclang-rt-14-dev)
# Python client example and its test (Debian's packages; never PyPI).
PACKAGES+=(python3-grpcio python3-grpc-tools)
# Benign photos for the golden tests, the robustness tests and the demo
# (README: "Test data"). Nothing else is ever hashed in tests.
PACKAGES+=(mate-backgrounds plasma-workspace-wallpapers gnome-backgrounds python3-skimage)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then SUDO=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -q
  "${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PACKAGES[@]} packages present" >&2
fi

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DHASHMATCH_WERROR=ON "$@" >/dev/null
cmake --build "$BUILD_DIR" -j"$(nproc)"
