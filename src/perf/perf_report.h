// The report of `hashmatch eval perf`: machine, build and command, one table
// per benchmark with the ratio to the baseline measured in the same run, and
// the speed targets of docs/performance.md next to the numbers; as Markdown
// (the block between kBeginMarker and kEndMarker of docs/performance.md) and
// as JSON.
//
//   PerfReport report;
//   report.machine = ReadMachineInfo();
//   report.index = *ParseIndexJson(text);
//   ...
//   ASSIGN_OR_RETURN(std::string doc, ReplaceMarkedBlock(old_doc,
//                                                        RenderMarkdown(report)));
//   RETURN_IF_ERROR(WriteFileAtomically(path, doc));
//
// Pure functions except ReadMachineInfo and WriteFileAtomically (files);
// thread-safe.
#ifndef HASHMATCH_SRC_PERF_PERF_REPORT_H_
#define HASHMATCH_SRC_PERF_PERF_REPORT_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/perf/bench_results.h"

namespace hashmatch {
namespace perf {

inline constexpr char kBeginMarker[] = "<!-- BEGIN eval perf -->";
inline constexpr char kEndMarker[] = "<!-- END eval perf -->";

struct MachineInfo {
  std::string cpu_model;  // "model name" of /proc/cpuinfo; "" if unknown.
  int cores = 0;          // Processors listed in /proc/cpuinfo.
  double memory_gib = 0;  // MemTotal of /proc/meminfo.
  std::string kernel;     // /proc/sys/kernel/osrelease.
};

// From the texts of /proc/cpuinfo and /proc/meminfo (missing fields stay
// empty / 0).
MachineInfo ParseMachineInfo(absl::string_view cpuinfo,
                             absl::string_view meminfo);
// Reads /proc; never fails (unreadable files leave fields empty).
MachineInfo ReadMachineInfo();
// The first three fields of /proc/loadavg ("1.02 0.85 0.60"), or "".
std::string ReadLoadAverage();

// One benchmark program run: what ran and how long it took.
struct BenchRun {
  std::string name;     // "hashing", "index", "rpc: make store", ...
  std::string command;  // The exact argv, shell-quoted.
  double wall_seconds = 0;
};

struct PerfReport {
  MachineInfo machine;
  std::string build_type;  // "Release", "Release+ASan/UBSan", ...
  std::string git_commit;  // "" when unknown.
  std::string date_utc;    // "2026-11-29 07:40:12 UTC".
  std::string command;     // The exact `hashmatch eval perf ...` line.
  bool quick = false;      // --quick: targets are not judged.
  std::string load_start, load_end;  // /proc/loadavg at start and end.
  double total_seconds = 0;
  std::vector<BenchRun> runs;
  std::optional<HashingResult> hashing;
  std::optional<IndexResult> index;
  std::optional<StoreResult> store;
  std::optional<LoadResult> load;  // MatchHashes and MatchImage levels.
  std::optional<VideoResult> video;
};

// A speed target of docs/performance.md and this run's number for it.
struct TargetCheck {
  std::string area;    // "hashing", "index", "rpc", "video".
  std::string target;  // As docs/performance.md states it.
  std::string result;  // This run's number(s).
  // Met or not; nullopt when not judged (--quick, or nothing measured).
  std::optional<bool> met;
};

std::vector<TargetCheck> CheckTargets(const PerfReport& report);

// The Markdown block (without the markers), ending in a newline.
std::string RenderMarkdown(const PerfReport& report);
// The same as one JSON object, pretty-printed.
std::string RenderJson(const PerfReport& report);

// `doc` with the text between kBeginMarker and kEndMarker replaced by
// `block` (markers kept, each on its own line). Without markers the marked
// block is inserted before the first heading after the title (the end when
// there is none; after a "# Performance" title when `doc` is empty).
// Everything outside the markers is kept byte for byte. Errors:
// INVALID_ARGUMENT when a marker appears more than once, only one of them
// appears, or the end marker comes first (the file is left to a human).
absl::StatusOr<std::string> ReplaceMarkedBlock(absl::string_view doc,
                                               absl::string_view block);

// Writes `contents` to a temporary file in the directory of `path`, fsyncs
// it and renames it over `path`. INTERNAL (naming the file) on failure; the
// temporary file is removed then.
absl::Status WriteFileAtomically(const std::string& path,
                                 absl::string_view contents);

}  // namespace perf
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_PERF_PERF_REPORT_H_
