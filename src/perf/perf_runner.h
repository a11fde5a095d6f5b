// Runs the benchmarks of bench/ as child processes and gathers their
// machine-readable results into a PerfReport (perf_report.h): the engine of
// `hashmatch eval perf`.
//
//   PerfOptions options;
//   options.bench_dir = "build/bench";
//   options.match_server = "build/src/server/match_server";
//   ASSIGN_OR_RETURN(PerfReport report, RunPerf(options));
//
// Benchmarks (PerfOptions::benchmarks):
//   hashing  hashing_benchmark: PdqHash/{baseline,optimized}/* and
//            HashBytes/{pdq,pdq-cli512,pdq-fast}/* (Google Benchmark JSON).
//   index    index_benchmark --json: MihIndex vs FlatScan vs FAISS.
//   rpc      match_load --make_store in a temporary directory, a
//            match_server on it (127.0.0.1, port 0) until it is SERVING,
//            match_load --rpc=hashes then --rpc=image (the photos of
//            images_dir) against it, then SIGTERM to the server.
//   video    video_hash_bench --json with clips made in video_dir (or a
//            temporary directory).
// Each program runs with a wall-time limit (timeout). Errors: NOT_FOUND
// when a program or the photos are missing (the message says how to build
// or install them); a program that exits non-zero, times out or writes
// unparsable output fails the run with its name and the end of its stderr
// (INTERNAL, DEADLINE_EXCEEDED, INVALID_ARGUMENT); CANCELLED when
// PerfOptions::cancel is set. The temporary directory is removed and the
// match_server stopped in every case.
//
// Thread safety: RunPerf may run on one thread at a time per process (it
// starts child processes and binds a port).
#ifndef HASHMATCH_SRC_PERF_PERF_RUNNER_H_
#define HASHMATCH_SRC_PERF_PERF_RUNNER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "src/perf/perf_report.h"

namespace hashmatch {
namespace perf {

struct PerfOptions {
  // Directory holding the bench binaries (required).
  std::string bench_dir;
  // The match_server binary (required for "rpc").
  std::string match_server;
  // Which benchmarks to run, in this order. Default: all four.
  std::vector<std::string> benchmarks = {"hashing", "index", "rpc", "video"};
  // Wall-time limit of each benchmark program. Default 10 minutes.
  absl::Duration timeout = absl::Minutes(10);
  // Parent of the temporary working directory. Default: $TMPDIR or /tmp.
  std::string temp_root;

  // hashing: Google Benchmark filter and --benchmark_min_time (seconds).
  std::string hashing_filter = "PdqHash/|HashBytes/(pdq|pdq-cli512|pdq-fast)/";
  double hashing_min_time = 0.2;

  // index: codes, their kind, queries (FAISS times the first faiss_queries).
  int64_t index_n = 1000000;
  std::string index_codes = "realistic";
  int64_t index_queries = 200;
  int64_t index_faiss_queries = 50;

  // rpc: store size, seconds per level, concurrency levels per RPC, the
  // MatchImage photos (every .jpg of images_dir, at most max_images).
  int64_t rpc_store_n = 1000000;
  double rpc_seconds = 5;
  std::string hashes_concurrency = "1,16,24";
  std::string image_concurrency = "1,2,4";
  std::string images_dir = "/usr/share/backgrounds/mate/nature";
  int max_images = 64;

  // video: clip length (1-10 or a multiple of 10 up to 60), clips, repeats,
  // and where clips are made and kept ("" = a temporary directory).
  int video_seconds = 20;
  std::string video_clips = "camera,phone";
  int video_repeats = 2;
  std::string video_dir;

  // Called with one line per step (e.g. to print progress); may be empty.
  std::function<void(absl::string_view)> progress;

  // When non-null and it becomes true, the running program (and the
  // match_server) is killed and RunPerf returns CANCELLED. Not owned.
  const std::atomic<bool>* cancel = nullptr;
};

// Runs the benchmarks; fills report.runs, the results, machine and load
// averages and total_seconds. The caller fills command, date, build type
// and commit.
absl::StatusOr<PerfReport> RunPerf(const PerfOptions& options);

// The sizes of a run of a few seconds (for tests): `options` with small
// sizes, one clip of 1 s, two photos.
PerfOptions QuickOptions(PerfOptions options);

// `argv` as one shell-quoted line.
std::string ShellQuote(const std::vector<std::string>& argv);

}  // namespace perf
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_PERF_PERF_RUNNER_H_
