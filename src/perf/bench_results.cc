#include "src/perf/bench_results.h"

#include <cmath>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "src/common/status_macros.h"

namespace hashmatch {
namespace perf {
namespace {

using google::protobuf::ListValue;
using google::protobuf::Struct;
using google::protobuf::Value;

absl::StatusOr<Struct> ParseObject(absl::string_view text,
                                   absl::string_view what) {
  Struct s;
  const auto status = google::protobuf::util::JsonStringToMessage(
      std::string(text), &s, google::protobuf::util::JsonParseOptions());
  if (!status.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what,
        ": output is not a JSON object: ", std::string(status.message())));
  }
  return s;
}

// Reads typed members of one JSON object; `what` prefixes every error.
class Reader {
 public:
  Reader(const Struct& s, std::string what) : s_(s), what_(std::move(what)) {}

  const Value* Find(absl::string_view key) const {
    auto it = s_.fields().find(std::string(key));
    return it == s_.fields().end() ? nullptr : &it->second;
  }

  absl::Status Missing(absl::string_view key, absl::string_view type) const {
    return absl::InvalidArgumentError(
        absl::StrCat(what_, ": no ", type, " \"", key, "\""));
  }

  absl::StatusOr<double> Num(absl::string_view key) const {
    const Value* v = Find(key);
    if (v == nullptr || v->kind_case() != Value::kNumberValue) {
      return Missing(key, "number");
    }
    return v->number_value();
  }
  // A number, or `fallback` when absent or null.
  double NumOr(absl::string_view key, double fallback) const {
    const Value* v = Find(key);
    if (v == nullptr || v->kind_case() != Value::kNumberValue) return fallback;
    return v->number_value();
  }
  absl::StatusOr<int64_t> Int(absl::string_view key) const {
    ASSIGN_OR_RETURN(double d, Num(key));
    return static_cast<int64_t>(std::llround(d));
  }
  absl::StatusOr<std::string> Str(absl::string_view key) const {
    const Value* v = Find(key);
    if (v == nullptr || v->kind_case() != Value::kStringValue) {
      return Missing(key, "string");
    }
    return v->string_value();
  }
  absl::StatusOr<const Struct*> Obj(absl::string_view key) const {
    const Value* v = Find(key);
    if (v == nullptr || v->kind_case() != Value::kStructValue) {
      return Missing(key, "object");
    }
    return &v->struct_value();
  }
  absl::StatusOr<const ListValue*> List(absl::string_view key) const {
    const Value* v = Find(key);
    if (v == nullptr || v->kind_case() != Value::kListValue) {
      return Missing(key, "array");
    }
    return &v->list_value();
  }
  const std::string& what() const { return what_; }

 private:
  const Struct& s_;
  std::string what_;
};

absl::StatusOr<const Struct*> ObjectAt(const ListValue& list, int i,
                                       absl::string_view what) {
  if (list.values(i).kind_case() != Value::kStructValue) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, "[", i, "] is not an object"));
  }
  return &list.values(i).struct_value();
}

double ToMs(double v, absl::string_view unit) {
  if (unit == "ns") return v * 1e-6;
  if (unit == "us") return v * 1e-3;
  if (unit == "s") return v * 1e3;
  return v;  // "ms".
}

// 1920x1080 at the end of "medium_1920x1080": megapixels, or 0.
double MegapixelsOf(absl::string_view input) {
  const size_t underscore = input.rfind('_');
  const absl::string_view dims = underscore == absl::string_view::npos
                                     ? input
                                     : input.substr(underscore + 1);
  std::vector<absl::string_view> wh = absl::StrSplit(dims, 'x');
  int w = 0, h = 0;
  if (wh.size() != 2 || !absl::SimpleAtoi(wh[0], &w) ||
      !absl::SimpleAtoi(wh[1], &h)) {
    return 0;
  }
  return static_cast<double>(w) * h * 1e-6;
}

absl::StatusOr<LatencyUs> ReadLatency(const Reader& r, absl::string_view key) {
  ASSIGN_OR_RETURN(const Struct* s, r.Obj(key));
  Reader l(*s, absl::StrCat(r.what(), ".", key));
  LatencyUs out;
  ASSIGN_OR_RETURN(out.mean, l.Num("mean_us"));
  ASSIGN_OR_RETURN(out.p50, l.Num("p50_us"));
  ASSIGN_OR_RETURN(out.p99, l.Num("p99_us"));
  return out;
}

}  // namespace

absl::StatusOr<std::vector<GbRun>> ParseGoogleBenchmarkJson(
    absl::string_view text) {
  constexpr absl::string_view kWhat = "hashing_benchmark";
  ASSIGN_OR_RETURN(Struct root, ParseObject(text, kWhat));
  Reader top(root, std::string(kWhat));
  ASSIGN_OR_RETURN(const ListValue* list, top.List("benchmarks"));
  std::vector<GbRun> runs;
  for (int i = 0; i < list->values_size(); ++i) {
    ASSIGN_OR_RETURN(const Struct* b,
                     ObjectAt(*list, i, absl::StrCat(kWhat, " benchmarks")));
    Reader r(*b, absl::StrCat(kWhat, " benchmarks[", i, "]"));
    absl::StatusOr<std::string> type = r.Str("run_type");
    if (type.ok() && *type != "iteration") continue;
    GbRun run;
    ASSIGN_OR_RETURN(run.name, r.Str("name"));
    const Value* error = r.Find("error_occurred");
    if (error != nullptr && error->kind_case() == Value::kBoolValue &&
        error->bool_value()) {
      absl::StatusOr<std::string> message = r.Str("error_message");
      run.error = message.ok() ? *message : "error";
      runs.push_back(std::move(run));
      continue;
    }
    ASSIGN_OR_RETURN(run.iterations, r.Int("iterations"));
    ASSIGN_OR_RETURN(const std::string unit, r.Str("time_unit"));
    ASSIGN_OR_RETURN(const double real, r.Num("real_time"));
    ASSIGN_OR_RETURN(const double cpu, r.Num("cpu_time"));
    run.real_ms = ToMs(real, unit);
    run.cpu_ms = ToMs(cpu, unit);
    static const char* const kStandard[] = {
        "family_index",     "per_family_instance_index",
        "repetitions",      "repetition_index",
        "threads",          "iterations",
        "real_time",        "cpu_time",
        "items_per_second", "bytes_per_second"};
    for (const auto& [key, value] : b->fields()) {
      if (value.kind_case() != Value::kNumberValue) continue;
      bool standard = false;
      for (const char* k : kStandard) standard = standard || key == k;
      if (!standard) run.counters[key] = value.number_value();
    }
    runs.push_back(std::move(run));
  }
  return runs;
}

HashingResult HashingFromRuns(const std::vector<GbRun>& runs) {
  HashingResult out;
  std::map<std::string, const GbRun*> baseline;
  for (const GbRun& run : runs) {
    std::vector<std::string> parts = absl::StrSplit(run.name, '/');
    if (parts.size() == 3 && parts[0] == "PdqHash" && parts[1] == "baseline") {
      baseline[parts[2]] = &run;
    }
  }
  for (const GbRun& run : runs) {
    std::vector<std::string> parts = absl::StrSplit(run.name, '/');
    if (parts.size() != 3) continue;
    if (parts[0] == "PdqHash" && parts[1] == "optimized") {
      PdqRow row;
      row.input = parts[2];
      row.megapixels = MegapixelsOf(row.input);
      row.error = run.error;
      row.optimized_ms = run.cpu_ms;
      auto speedup = run.counters.find("speedup");
      row.speedup = speedup == run.counters.end() ? 0 : speedup->second;
      auto b = baseline.find(row.input);
      if (b != baseline.end() && b->second->error.empty()) {
        row.baseline_ms = b->second->cpu_ms;
      } else {
        row.baseline_ms = row.optimized_ms * row.speedup;
      }
      if (row.speedup == 0 && row.optimized_ms > 0) {
        row.speedup = row.baseline_ms / row.optimized_ms;
      }
      out.pdq.push_back(std::move(row));
    } else if (parts[0] == "HashBytes") {
      HashBytesRow row;
      row.mode = parts[1];
      row.input = parts[2];
      row.ms = run.cpu_ms;
      row.error = run.error;
      out.hash_bytes.push_back(std::move(row));
    }
  }
  return out;
}

absl::StatusOr<IndexResult> ParseIndexJson(absl::string_view text) {
  constexpr absl::string_view kWhat = "index_benchmark";
  ASSIGN_OR_RETURN(Struct root, ParseObject(text, kWhat));
  Reader r(root, std::string(kWhat));
  IndexResult x;
  ASSIGN_OR_RETURN(x.n, r.Int("n"));
  ASSIGN_OR_RETURN(x.codes, r.Str("codes"));
  ASSIGN_OR_RETURN(x.radius, r.Int("radius"));
  ASSIGN_OR_RETURN(x.queries, r.Int("queries"));
  ASSIGN_OR_RETURN(x.faiss_queries, r.Int("faiss_queries"));
  ASSIGN_OR_RETURN(x.mih_build_s, r.Num("mih_build_s"));
  ASSIGN_OR_RETURN(x.mih_rss_mb, r.Num("mih_rss_mb"));
  ASSIGN_OR_RETURN(x.binary_index_build_s, r.Num("binary_index_build_s"));
  ASSIGN_OR_RETURN(x.binary_index_rss_mb, r.Num("binary_index_rss_mb"));
  x.candidates_mean = r.NumOr("candidates_mean", 0);
  ASSIGN_OR_RETURN(x.mih_interleaved, ReadLatency(r, "mih_interleaved"));
  ASSIGN_OR_RETURN(x.flat_interleaved, ReadLatency(r, "flat_interleaved"));
  ASSIGN_OR_RETURN(x.faiss_interleaved, ReadLatency(r, "faiss_interleaved"));
  ASSIGN_OR_RETURN(x.mih_back_to_back, ReadLatency(r, "mih_back_to_back"));
  ASSIGN_OR_RETURN(x.flat_back_to_back, ReadLatency(r, "flat_back_to_back"));
  ASSIGN_OR_RETURN(x.binary_index_dihedral,
                   ReadLatency(r, "binary_index_dihedral"));
  x.mih_qps_1t = r.NumOr("mih_qps_1t", 0);
  x.mih_qps_2t = r.NumOr("mih_qps_2t", 0);
  x.binary_index_qps_1t = r.NumOr("binary_index_qps_1t", 0);
  x.binary_index_qps_2t = r.NumOr("binary_index_qps_2t", 0);
  ASSIGN_OR_RETURN(x.true_matches, r.Int("true_matches"));
  ASSIGN_OR_RETURN(x.missed, r.Int("missed"));
  ASSIGN_OR_RETURN(x.extra, r.Int("extra"));
  ASSIGN_OR_RETURN(x.binary_index_mismatches, r.Int("binary_index_mismatches"));
  ASSIGN_OR_RETURN(x.faiss_mismatches, r.Int("faiss_mismatches"));
  x.merge_s = r.NumOr("merge_s", 0);
  return x;
}

absl::StatusOr<StoreResult> ParseMakeStoreJson(absl::string_view text) {
  constexpr absl::string_view kWhat = "match_load --make_store";
  ASSIGN_OR_RETURN(Struct root, ParseObject(text, kWhat));
  Reader r(root, std::string(kWhat));
  StoreResult x;
  ASSIGN_OR_RETURN(x.entries, r.Int("entries"));
  ASSIGN_OR_RETURN(x.seconds, r.Num("seconds"));
  return x;
}

absl::StatusOr<LoadResult> ParseMatchLoadJson(absl::string_view text) {
  constexpr absl::string_view kWhat = "match_load";
  ASSIGN_OR_RETURN(Struct root, ParseObject(text, kWhat));
  Reader r(root, std::string(kWhat));
  LoadResult x;
  x.duration_s = r.NumOr("duration_s", 0);
  ASSIGN_OR_RETURN(const ListValue* levels, r.List("levels"));
  for (int i = 0; i < levels->values_size(); ++i) {
    ASSIGN_OR_RETURN(const Struct* s,
                     ObjectAt(*levels, i, absl::StrCat(kWhat, " levels")));
    Reader l(*s, absl::StrCat(kWhat, " levels[", i, "]"));
    LoadLevel level;
    ASSIGN_OR_RETURN(level.rpc, l.Str("rpc"));
    ASSIGN_OR_RETURN(level.concurrency, l.Int("concurrency"));
    ASSIGN_OR_RETURN(level.calls, l.Int("calls"));
    ASSIGN_OR_RETURN(level.ok_rps, l.Num("ok_rps"));
    ASSIGN_OR_RETURN(level.p50_ms, l.Num("p50_ms"));
    ASSIGN_OR_RETURN(level.p95_ms, l.Num("p95_ms"));
    ASSIGN_OR_RETURN(level.p99_ms, l.Num("p99_ms"));
    ASSIGN_OR_RETURN(level.max_ms, l.Num("max_ms"));
    ASSIGN_OR_RETURN(level.matches, l.Int("matches"));
    level.srv_us = l.NumOr("srv_us", -1);
    level.cli_us = l.NumOr("cli_us", 0);
    ASSIGN_OR_RETURN(level.errors, l.Int("errors"));
    x.levels.push_back(std::move(level));
  }
  if (r.Find("image_baseline") != nullptr) {
    ASSIGN_OR_RETURN(const Struct* s, r.Obj("image_baseline"));
    Reader b(*s, absl::StrCat(kWhat, " image_baseline"));
    ImageBaseline base;
    ASSIGN_OR_RETURN(base.threads, b.Int("threads"));
    ASSIGN_OR_RETURN(base.images_per_s_mean, b.Num("images_per_s_mean"));
    ASSIGN_OR_RETURN(base.best_image_rps, b.Num("best_image_rps"));
    ASSIGN_OR_RETURN(base.percent_of_in_process,
                     b.Num("percent_of_in_process"));
    base.cpu_us_per_image = (b.NumOr("cpu_us_per_image_before", 0) +
                             b.NumOr("cpu_us_per_image_after", 0)) /
                            2;
    x.image_baseline = base;
  }
  return x;
}

absl::StatusOr<VideoResult> ParseVideoJson(absl::string_view text) {
  constexpr absl::string_view kWhat = "video_hash_bench";
  ASSIGN_OR_RETURN(Struct root, ParseObject(text, kWhat));
  Reader r(root, std::string(kWhat));
  VideoResult x;
  ASSIGN_OR_RETURN(x.seconds, r.Int("seconds"));
  ASSIGN_OR_RETURN(const ListValue* clips, r.List("clips"));
  for (int i = 0; i < clips->values_size(); ++i) {
    ASSIGN_OR_RETURN(const Struct* s,
                     ObjectAt(*clips, i, absl::StrCat(kWhat, " clips")));
    Reader c(*s, absl::StrCat(kWhat, " clips[", i, "]"));
    VideoClip clip;
    ASSIGN_OR_RETURN(clip.clip, c.Str("clip"));
    clip.mbit_s = c.NumOr("mbit_s", 0);
    ASSIGN_OR_RETURN(clip.duration_s, c.Num("duration_s"));
    ASSIGN_OR_RETURN(const ListValue* rows, c.List("rows"));
    for (int k = 0; k < rows->values_size(); ++k) {
      ASSIGN_OR_RETURN(const Struct* rs,
                       ObjectAt(*rows, k, absl::StrCat(c.what(), " rows")));
      Reader w(*rs, absl::StrCat(c.what(), " rows[", k, "]"));
      VideoRow row;
      ASSIGN_OR_RETURN(row.mode, w.Str("mode"));
      ASSIGN_OR_RETURN(row.cpu_s, w.Num("cpu_s"));
      ASSIGN_OR_RETURN(row.cpu_s_per_min, w.Num("cpu_s_per_min"));
      row.wall_s = w.NumOr("wall_s", 0);
      ASSIGN_OR_RETURN(row.decoded, w.Int("decoded"));
      ASSIGN_OR_RETURN(row.sampled, w.Int("sampled"));
      row.kept = static_cast<int64_t>(w.NumOr("kept", 0));
      ASSIGN_OR_RETURN(row.speedup, w.Num("speedup"));
      clip.rows.push_back(std::move(row));
    }
    if (clip.rows.size() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(c.what(), ": fewer than 2 rows (baseline, defaults)"));
    }
    x.clips.push_back(std::move(clip));
  }
  return x;
}

}  // namespace perf
}  // namespace hashmatch
