#!/usr/bin/env bash
# The README's second command (and CI's): sets up, builds with warnings as
# errors, checks formatting, runs the whole test suite, then rebuilds with
# AddressSanitizer + UndefinedBehaviorSanitizer and runs the whole suite
# again under them (unit, bad-input, golden, robustness and CLI tests), then
# builds the concurrency tests with ThreadSanitizer and runs them (label tsan).
# Not here: deploy/repeat_tests.sh, which runs tests N times to find flakes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="$(nproc)"

"$ROOT/deploy/setup.sh" build

echo "== clang-format check"
mapfile -t SOURCES < <(git ls-files '*.h' '*.cc' 2>/dev/null || find src index tools bench tests -name '*.h' -o -name '*.cc')
clang-format --dry-run -Werror "${SOURCES[@]}"

echo "== tests (Release)"
ctest --test-dir build --output-on-failure -j"$JOBS"

# Sanitizer builds at -O1 -g1 (line tables only): half the compile time of
# -O2 -g (measured on src/server/match_service.cc: 28 s vs 62 s), and the
# reports still name file and line.
SANITIZER_FLAGS="-O1 -g1 -DNDEBUG"

echo "== tests under ASan + UBSan"
cmake -S "$ROOT" -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHASHMATCH_WERROR=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$SANITIZER_FLAGS" \
  -DHASHMATCH_SANITIZE=ON -DHASHMATCH_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan -j"$JOBS"
# The crash torture runs 10 SIGKILL cycles of each kind in the Release tree,
# 3 here (deploy/crash_torture.sh runs 100).
HASHMATCH_TORTURE_CYCLES=3 \
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j"$JOBS"

echo "== concurrency tests under ThreadSanitizer"
# Only the targets of the tsan-labelled tests (about 2.5 min on 2 cores).
cmake -S "$ROOT" -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHASHMATCH_WERROR=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$SANITIZER_FLAGS" \
  -DHASHMATCH_TSAN=ON -DHASHMATCH_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan -j"$JOBS" --target vetted_concurrency_test stderr_capture_test
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
  ctest --test-dir build-tsan -L tsan --output-on-failure -j"$JOBS"
