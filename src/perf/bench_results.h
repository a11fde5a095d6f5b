// Parsers for the machine-readable output of the benchmarks in bench/, as
// `hashmatch eval perf` runs them:
//   hashing_benchmark   Google Benchmark's --benchmark_out_format=json file
//   index_benchmark     --json=FILE (bench/bench_json.h)
//   match_load          --json=FILE, once for --make_store and once per run
//   video_hash_bench    --json FILE
//
//   ASSIGN_OR_RETURN(std::vector<GbRun> runs, ParseGoogleBenchmarkJson(text));
//   HashingResult hashing = HashingFromRuns(runs);
//   ASSIGN_OR_RETURN(IndexResult index, ParseIndexJson(text));
//
// Errors: INVALID_ARGUMENT when the text is not JSON or lacks a required
// key (the message names it and which benchmark's output it was). Optional
// keys default to 0. Pure functions; thread-safe.
#ifndef HASHMATCH_SRC_PERF_BENCH_RESULTS_H_
#define HASHMATCH_SRC_PERF_BENCH_RESULTS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashmatch {
namespace perf {

// One benchmark of a Google Benchmark JSON file (run_type "iteration";
// aggregates are skipped). Times in milliseconds whatever the file's unit.
struct GbRun {
  std::string name;
  int64_t iterations = 0;
  double real_ms = 0;
  double cpu_ms = 0;
  std::map<std::string, double> counters;  // User counters ("speedup", ...).
  std::string error;  // Non-empty when the benchmark reported an error.
};

absl::StatusOr<std::vector<GbRun>> ParseGoogleBenchmarkJson(
    absl::string_view text);

// PdqHash/{baseline,optimized}/INPUT and HashBytes/MODE/INPUT of
// hashing_benchmark, in the file's order.
struct PdqRow {
  std::string input;      // "medium_1920x1080".
  double megapixels = 0;  // From the WxH at the end of the name; 0 if none.
  double baseline_ms = 0;
  double optimized_ms = 0;
  double speedup = 0;  // The benchmark's own counter (CPU time ratio).
  std::string error;
};
struct HashBytesRow {
  std::string mode;  // "pdq", "pdq-cli512", ...
  std::string input;
  double ms = 0;  // CPU time per image, decode included.
  std::string error;
};
struct HashingResult {
  std::vector<PdqRow> pdq;
  std::vector<HashBytesRow> hash_bytes;
};

// Pairs the baseline and optimized runs by input. A PdqHash/optimized run
// without its baseline run takes baseline_ms = optimized_ms * speedup.
HashingResult HashingFromRuns(const std::vector<GbRun>& runs);

struct LatencyUs {
  double mean = 0, p50 = 0, p99 = 0;
};

// index_benchmark --json.
struct IndexResult {
  int64_t n = 0;
  std::string codes;
  int64_t radius = 0;
  int64_t queries = 0;
  int64_t faiss_queries = 0;
  double mih_build_s = 0, mih_rss_mb = 0;
  double binary_index_build_s = 0, binary_index_rss_mb = 0;
  double candidates_mean = 0;
  LatencyUs mih_interleaved, flat_interleaved, faiss_interleaved;
  LatencyUs mih_back_to_back, flat_back_to_back, binary_index_dihedral;
  double mih_qps_1t = 0, mih_qps_2t = 0;
  double binary_index_qps_1t = 0, binary_index_qps_2t = 0;
  int64_t true_matches = 0, missed = 0, extra = 0;
  int64_t binary_index_mismatches = 0, faiss_mismatches = 0;
  double merge_s = 0;
};

absl::StatusOr<IndexResult> ParseIndexJson(absl::string_view text);

// match_load --make_store --json.
struct StoreResult {
  int64_t entries = 0;
  double seconds = 0;
};
absl::StatusOr<StoreResult> ParseMakeStoreJson(absl::string_view text);

// match_load --server --json.
struct LoadLevel {
  std::string rpc;  // "MatchHashes" or "MatchImage".
  int64_t concurrency = 0;
  int64_t calls = 0;
  double ok_rps = 0;
  double p50_ms = 0, p95_ms = 0, p99_ms = 0, max_ms = 0;
  int64_t matches = 0;
  double srv_us = -1;  // Server CPU us per call; -1 when not measured.
  double cli_us = 0;
  int64_t errors = 0;
};
struct ImageBaseline {
  int64_t threads = 0;
  double images_per_s_mean = 0;
  double best_image_rps = 0;
  double percent_of_in_process = 0;
  double cpu_us_per_image = 0;  // Mean of before and after.
};
struct LoadResult {
  std::vector<LoadLevel> levels;
  std::optional<ImageBaseline> image_baseline;
  double duration_s = 0;
};
absl::StatusOr<LoadResult> ParseMatchLoadJson(absl::string_view text);

// video_hash_bench --json.
struct VideoRow {
  std::string mode;
  double cpu_s = 0, cpu_s_per_min = 0, wall_s = 0;
  int64_t decoded = 0, sampled = 0, kept = 0;
  double speedup = 0;
};
struct VideoClip {
  std::string clip;  // "camera", "phone", "clean".
  double mbit_s = 0;
  double duration_s = 0;
  std::vector<VideoRow> rows;  // [0] baseline, [1] HashVideo defaults.
};
struct VideoResult {
  int64_t seconds = 0;
  std::vector<VideoClip> clips;
};
// Also INVALID_ARGUMENT when a clip has fewer than 2 rows.
absl::StatusOr<VideoResult> ParseVideoJson(absl::string_view text);

}  // namespace perf
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_PERF_BENCH_RESULTS_H_
