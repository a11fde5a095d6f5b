#!/usr/bin/env bash
# Flake hunt (issue 20): runs the ctest tests of a build tree N times in a
# row (default 20) and reports, per test, runs, failures and time, plus the
# total wall time. Not part of CI (deploy/test.sh): a full 20x run of the
# whole suite takes hours on 2 shared cores; select tests with -R/-E/-L.
#
#   deploy/repeat_tests.sh                      # build/, every test, 20x
#   deploy/repeat_tests.sh -n 5 -R 'eval|common'
#   deploy/repeat_tests.sh --asan -R match_server_test   # build-asan/, CI's
#                                                         # ASAN/UBSAN_OPTIONS
#   deploy/repeat_tests.sh --tsan               # build-tsan/, label tsan
#   GTEST_FILTER='OwnServerTest.*' deploy/repeat_tests.sh -R match_server_test
#       # one test case: GoogleTest reads GTEST_FILTER from the environment
#
# Options:
#   -n, --times N      iterations (default 20)
#   -j, --jobs J       ctest parallelism within an iteration (default 1: the
#                      tests run one after another; CI runs -j$(nproc), use
#                      -j 2 to also catch tests that disturb each other)
#   -R, -E, -L REGEX   ctest's include / exclude / label selection
#   --asan             the ASan+UBSan tree (build-asan) with CI's options
#   --tsan             the TSan tree (build-tsan), label tsan unless -L given
#   --build-dir DIR    another tree (default build, build-asan, build-tsan)
#   --logs DIR         where each iteration's ctest output and JUnit file go
#                      (default BUILD_DIR/repeat-logs/<date>-<time>)
#
# The tree must be built (see deploy/test.sh for the sanitizer
# configurations). Every iteration runs the same selection; a failed test's
# output is in LOGS/iteration-<i>.log. Exit status 0 only when every run of
# every test passed.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

TIMES=20
JOBS=1
FLAVOR=release
BUILD_DIR=""
LOGS=""
SELECT=()
HAVE_LABEL=0

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    -n | --times) TIMES="${2:?}"; shift 2 ;;
    -j | --jobs) JOBS="${2:?}"; shift 2 ;;
    -R | -E) SELECT+=("$1" "${2:?}"); shift 2 ;;
    -L) SELECT+=("$1" "${2:?}"); HAVE_LABEL=1; shift 2 ;;
    --asan) FLAVOR=asan; shift ;;
    --tsan) FLAVOR=tsan; shift ;;
    --build-dir) BUILD_DIR="${2:?}"; shift 2 ;;
    --logs) LOGS="${2:?}"; shift 2 ;;
    -h | --help) usage ;;
    *) echo "repeat_tests.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
if ! [[ "$TIMES" =~ ^[1-9][0-9]*$ && "$JOBS" =~ ^[1-9][0-9]*$ ]]; then
  echo "repeat_tests.sh: --times and --jobs take positive integers" >&2
  exit 2
fi

case "$FLAVOR" in
  release) : "${BUILD_DIR:=$ROOT/build}" ;;
  asan)
    : "${BUILD_DIR:=$ROOT/build-asan}"
    # As deploy/test.sh runs the ASan+UBSan suite.
    export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
    export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
    ;;
  tsan)
    : "${BUILD_DIR:=$ROOT/build-tsan}"
    export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
    if [[ $HAVE_LABEL -eq 0 ]]; then SELECT+=(-L tsan); fi
    ;;
esac
if [[ ! -f "$BUILD_DIR/CTestTestfile.cmake" ]]; then
  echo "repeat_tests.sh: $BUILD_DIR is not a configured build tree" \
    "(build it first; deploy/test.sh shows the configurations)" >&2
  exit 1
fi
BUILD_DIR="$(cd "$BUILD_DIR" && pwd)"
: "${LOGS:=$BUILD_DIR/repeat-logs/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$LOGS"

# The selection, listed once: an empty selection is an error, not a pass.
mapfile -t TESTS < <(ctest --test-dir "$BUILD_DIR" -N "${SELECT[@]}" |
  sed -n 's/^ *Test *#[0-9]*: //p')
if [[ ${#TESTS[@]} -eq 0 ]]; then
  echo "repeat_tests.sh: no test matches in $BUILD_DIR: ${SELECT[*]:-}" >&2
  exit 1
fi
echo "== $FLAVOR tree $BUILD_DIR: ${#TESTS[@]} tests x $TIMES (ctest -j$JOBS${GTEST_FILTER:+, GTEST_FILTER=$GTEST_FILTER}); logs in $LOGS"

now_ms() { echo $(($(date +%s%N) / 1000000)); }
START=$(now_ms)
for ((i = 1; i <= TIMES; i++)); do
  ITER_START=$(now_ms)
  # A failing iteration is recorded and the loop goes on.
  ctest --test-dir "$BUILD_DIR" "${SELECT[@]}" -j"$JOBS" --output-on-failure \
    --output-junit "$LOGS/iteration-$i.xml" >"$LOGS/iteration-$i.log" 2>&1 || true
  # Failed tests of this iteration, for the progress line.
  FAILED=$(sed -n 's/^[[:space:]]*[0-9]* - \(.*\) (.*)$/\1/p' \
    "$LOGS/iteration-$i.log" | tr '\n' ' ')
  echo "iteration $i/$TIMES: $((($(now_ms) - ITER_START) / 1000)) s${FAILED:+, FAILED: $FAILED}"
done
TOTAL_MS=$(($(now_ms) - START))

# Per-test counts from the JUnit files (a test missing from an iteration's
# file, e.g. after a ctest crash, counts as a failed run).
/usr/bin/python3 - "$LOGS" "$TIMES" "$TOTAL_MS" "${TESTS[@]}" <<'EOF'
import sys
import xml.etree.ElementTree as ET

logs, times, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) / 1000
tests = sys.argv[4:]
runs = {t: 0 for t in tests}
fails = {t: 0 for t in tests}
seconds = {t: 0.0 for t in tests}
slowest = {t: 0.0 for t in tests}
failed_in = {t: [] for t in tests}
for i in range(1, times + 1):
    seen = {}
    try:
        root = ET.parse(f"{logs}/iteration-{i}.xml").getroot()
        for case in root.iter("testcase"):
            seen[case.get("name")] = case
    except (OSError, ET.ParseError):
        pass
    for t in tests:
        runs[t] += 1
        case = seen.get(t)
        if case is None or case.get("status") != "run":
            fails[t] += 1
            failed_in[t].append(i)
        if case is not None:
            s = float(case.get("time") or 0)
            seconds[t] += s
            slowest[t] = max(slowest[t], s)
width = max(len(t) for t in tests)
print(f"\n{'test':<{width}}  runs  fail  total s  max s  failed in iterations")
for t in tests:
    print(f"{t:<{width}}  {runs[t]:4d}  {fails[t]:4d}  {seconds[t]:7.1f}"
          f"  {slowest[t]:5.1f}  {' '.join(map(str, failed_in[t]))}")
all_runs, all_fails = sum(runs.values()), sum(fails.values())
print(f"\n{len(tests)} tests x {times} = {all_runs} runs, {all_fails} failed;"
      f" wall time {total:.0f} s ({total / 60:.1f} min); logs in {logs}")
sys.exit(1 if all_fails else 0)
EOF
