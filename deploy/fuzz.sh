#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/, HASHMATCH_FUZZ=ON: clang-14, ASan +
# UBSan) in their own build directory and runs each one on a scratch copy of
# its seed corpus, then prints one line per target. CI runs it with
# `--seconds 20`.
#
#   deploy/fuzz.sh [--seconds N | --runs N] [--jobs J] [--targets a,b,...]
#                  [--timeout S] [--build-dir DIR] [--no-build]
#                  [--keep-corpus DIR]
#
#   --seconds N     fuzz each target for N seconds (-max_total_time; default 20)
#   --runs N        or for N executions each (-runs)
#   --jobs J        targets run at once, one process each (default: nproc);
#                   also the build's -j
#   --targets LIST  comma-separated target names (default: all, e.g.
#                   image_header,hashlist_csv)
#   --timeout S     seconds one input may take (-timeout; default 1). The
#                   targets' own work budgets stay under 0.3 s; raise this
#                   only on a machine loaded by other work
#   --build-dir DIR default build-fuzz (relative to the repository)
#   --no-build      use the binaries already in the build directory
#   --keep-corpus DIR  copy each grown corpus to DIR/<target>/ (the scratch
#                   copies are deleted at exit; fuzz/corpus/ is never written)
#
# Every input gets -timeout=1 (one second, or --timeout; a slower input is a
# timeout and fails the run), -rss_limit_mb=2048 (also the malloc limit), the target's
# dictionary fuzz/<target>.dict when there is one, and the corpus copied
# from fuzz/corpus/<target>/ into a scratch directory. Crashing, leaking,
# out-of-memory and timing-out inputs are saved under
# <build-dir>/artifacts/<target>/, each target's libFuzzer output under
# <build-dir>/fuzz-logs/<target>.log.
#
# Exit status: 0 when every target ran its time (or runs) with no crash,
# leak, out-of-memory or timeout; 1 otherwise (the table says which); 2 for
# bad arguments or a missing toolchain.
#
# Needs Debian's clang-14 and libclang-rt-14-dev (deploy/setup.sh installs
# them); the default gcc build does not.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET=20
RUNS=""
JOBS="$(nproc)"
TIMEOUT=1
TARGETS=""
BUILD_DIR="build-fuzz"
BUILD=1
KEEP_CORPUS=""

usage() {
  sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
}

while (($#)); do
  case "$1" in
    --seconds) SECONDS_PER_TARGET="${2:?}"; RUNS=""; shift 2 ;;
    --runs) RUNS="${2:?}"; shift 2 ;;
    --jobs) JOBS="${2:?}"; shift 2 ;;
    --targets) TARGETS="${2:?}"; shift 2 ;;
    --timeout) TIMEOUT="${2:?}"; shift 2 ;;
    --build-dir) BUILD_DIR="${2:?}"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --keep-corpus) KEEP_CORPUS="${2:?}"; shift 2 ;;
    -h | --help) usage ;;
    *) echo "fuzz.sh: unknown argument $1" >&2; usage ;;
  esac
done
for n in "$SECONDS_PER_TARGET" "$JOBS" "$TIMEOUT" ${RUNS:+"$RUNS"}; do
  [[ "$n" =~ ^[0-9]+$ && "$n" -gt 0 ]] || { echo "fuzz.sh: not a positive number: $n" >&2; exit 2; }
done
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR="$ROOT/$BUILD_DIR" ;; esac

ALL_TARGETS=()
for f in "$ROOT"/fuzz/*_fuzzer.cc; do
  name="$(basename "$f" _fuzzer.cc)"
  ALL_TARGETS+=("$name")
done
if [[ -n "$TARGETS" ]]; then
  IFS=',' read -r -a SELECTED <<<"$TARGETS"
  for t in "${SELECTED[@]}"; do
    [[ -f "$ROOT/fuzz/${t}_fuzzer.cc" ]] || { echo "fuzz.sh: no target $t (fuzz/${t}_fuzzer.cc)" >&2; exit 2; }
  done
else
  SELECTED=("${ALL_TARGETS[@]}")
fi

if ((BUILD)); then
  if ! command -v clang++-14 >/dev/null ||
    ! compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null; then
    echo "fuzz.sh: needs clang++-14 and libFuzzer: apt-get install clang-14 libclang-rt-14-dev (deploy/setup.sh)" >&2
    exit 2
  fi
  # -O1 -g1: line tables for the reports at about half the compile time of
  # -O2 -g (as deploy/test.sh's sanitizer builds). NDEBUG stays unset so
  # that assert()s run under the fuzzer.
  echo "== fuzz: configuring $BUILD_DIR (clang-14, ASan + UBSan + libFuzzer)"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DHASHMATCH_FUZZ=ON -DHASHMATCH_BUILD_BENCH=OFF >/dev/null
  echo "== fuzz: building ${#SELECTED[@]} targets"
  build_targets=()
  for t in "${SELECTED[@]}"; do build_targets+=("${t}_fuzzer"); done
  build_start=$SECONDS
  cmake --build "$BUILD_DIR" -j"$JOBS" --target "${build_targets[@]}"
  echo "== fuzz: built in $((SECONDS - build_start)) s"
fi

SHM=/dev/shm
[[ -d "$SHM" && -w "$SHM" ]] || SHM="${TMPDIR:-/tmp}"
SCRATCH="$(mktemp -d "$SHM/hashmatch-fuzz.XXXXXX")"
cleanup() { rm -rf "$SCRATCH"; }
trap cleanup EXIT
ARTIFACTS="$BUILD_DIR/artifacts"
LOGS="$BUILD_DIR/fuzz-logs"
mkdir -p "$ARTIFACTS" "$LOGS"

# Runs one target; its summary goes to $SCRATCH/<target>.result as
# "executions exec_per_s crashes leaks ooms timeouts seeds corpus status".
run_target() {
  local t="$1"
  local bin="$BUILD_DIR/fuzz/${t}_fuzzer"
  local corpus="$SCRATCH/corpus/$t" art="$ARTIFACTS/$t/" log="$LOGS/$t.log"
  local tmp="$SCRATCH/tmp/$t"
  mkdir -p "$corpus" "$art" "$tmp"
  rm -f "$art"/crash-* "$art"/leak-* "$art"/oom-* "$art"/timeout-* "$art"/slow-unit-*
  if [[ -d "$ROOT/fuzz/corpus/$t" ]]; then cp -R "$ROOT/fuzz/corpus/$t/." "$corpus/"; fi
  local seeds
  seeds="$(find "$corpus" -type f | wc -l)"
  local args=("-timeout=$TIMEOUT" -rss_limit_mb=2048 -print_final_stats=1
    "-artifact_prefix=$art")
  if [[ -n "$RUNS" ]]; then args+=("-runs=$RUNS"); else args+=("-max_total_time=$SECONDS_PER_TARGET"); fi
  if [[ -f "$ROOT/fuzz/$t.dict" ]]; then args+=("-dict=$ROOT/fuzz/$t.dict"); fi
  local status=0
  if [[ ! -x "$bin" ]]; then
    echo "fuzz.sh: $bin is missing (build it, or drop --no-build)" >"$log"
    status=127
  else
    TMPDIR="$tmp" UBSAN_OPTIONS=print_stacktrace=1 \
      "$bin" "${args[@]}" "$corpus" >"$log" 2>&1 || status=$?
  fi
  local execs rate
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)"
  if [[ -z "$execs" ]]; then
    # No final stats (the run died): the last progress line, if any.
    execs="$({ grep -aoE '^#[0-9]+' "$log" || true; } | tail -1 | tr -d '#')"
    rate="$({ grep -aoE 'exec/s: [0-9]+' "$log" || true; } | tail -1 | grep -oE '[0-9]+' || true)"
  fi
  count() { find "$art" -maxdepth 1 -name "$1-*" | wc -l; }
  local crashes leaks ooms timeouts corpus_after
  crashes="$(count crash)"
  leaks="$(count leak)"
  ooms="$(count oom)"
  timeouts="$(count timeout)"
  corpus_after="$(find "$corpus" -type f | wc -l)"
  # Deadly signals and sanitizer reports that left no artifact still fail.
  if ((status != 0)) && ((crashes + leaks + ooms + timeouts == 0)); then crashes=1; fi
  if [[ -n "$KEEP_CORPUS" ]]; then
    mkdir -p "$KEEP_CORPUS/$t"
    cp -R "$corpus/." "$KEEP_CORPUS/$t/"
  fi
  echo "${execs:-0} ${rate:-0} $crashes $leaks $ooms $timeouts $seeds $corpus_after $status" \
    >"$SCRATCH/$t.result"
}

echo "== fuzz: ${#SELECTED[@]} targets, $([[ -n "$RUNS" ]] && echo "$RUNS runs" || echo "$SECONDS_PER_TARGET s") each, $JOBS at a time"
run_start=$SECONDS
running=0
for t in "${SELECTED[@]}"; do
  run_target "$t" &
  running=$((running + 1))
  if ((running >= JOBS)); then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true

failed=0
printf '%-18s %12s %8s %7s %6s %5s %8s %16s\n' target executions exec/s crashes leaks ooms timeouts "corpus (seeds)"
for t in "${SELECTED[@]}"; do
  if [[ ! -f "$SCRATCH/$t.result" ]]; then
    printf '%-18s %s\n' "$t" "no result (the runner failed; see $LOGS/$t.log)"
    failed=1
    continue
  fi
  read -r execs rate crashes leaks ooms timeouts seeds corpus status <"$SCRATCH/$t.result"
  printf '%-18s %12s %8s %7s %6s %5s %8s %16s\n' "$t" "$execs" "$rate" "$crashes" "$leaks" "$ooms" \
    "$timeouts" "$corpus ($seeds)"
  if ((crashes + leaks + ooms + timeouts > 0 || status != 0)); then
    failed=1
    echo "   $t: exit $status; inputs in $ARTIFACTS/$t/, output in $LOGS/$t.log" >&2
  fi
done
echo "== fuzz: ran in $((SECONDS - run_start)) s"
exit "$failed"
