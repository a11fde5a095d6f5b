// The machine-readable results of the bench programs: the JSON file their
// --json flag writes, next to their usual human-readable output. `hashmatch
// eval perf` reads these files (src/perf/bench_results.h names the keys).
//
//   bench::JsonObject level;
//   level.Str("rpc", "MatchHashes").Int("concurrency", 16).Num("p99_ms", 2.5);
//   bench::JsonObject all;
//   all.Raw("levels", bench::JsonArray({level.Done()}));
//   if (!bench::WriteJsonFile(path, all.Done())) return 1;
//
// Non-finite numbers are written as null. Header-only; value types with no
// shared state.
#ifndef HASHMATCH_BENCH_BENCH_JSON_H_
#define HASHMATCH_BENCH_BENCH_JSON_H_

#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace hashmatch {
namespace bench {

inline std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\u%04x", c);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

inline std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.10g", v);
  return buf;
}

// One JSON object, its members in insertion order.
class JsonObject {
 public:
  JsonObject& Num(std::string_view key, double v) {
    return Raw(key, JsonNumber(v));
  }
  JsonObject& Int(std::string_view key, int64_t v) {
    return Raw(key, std::to_string(v));
  }
  JsonObject& Str(std::string_view key, std::string_view v) {
    return Raw(key, JsonString(v));
  }
  // `json` must be a JSON value (an object, an array, a number...).
  JsonObject& Raw(std::string_view key, const std::string& json) {
    if (!body_.empty()) body_ += ",";
    body_ += JsonString(key) + ":" + json;
    return *this;
  }
  std::string Done() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

inline std::string JsonArray(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ",";
    out += items[i];
  }
  return out + "]";
}

// Writes `json` and a newline to `path`; false (with a message on stderr)
// on failure.
inline bool WriteJsonFile(const std::string& path, const std::string& json) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  bool ok = f != nullptr &&
            std::fwrite(json.data(), 1, json.size(), f) == json.size() &&
            std::fputc('\n', f) != EOF;
  if (f != nullptr && std::fclose(f) != 0) ok = false;
  if (!ok) std::fprintf(stderr, "cannot write %s\n", path.c_str());
  return ok;
}

}  // namespace bench
}  // namespace hashmatch

#endif  // HASHMATCH_BENCH_BENCH_JSON_H_
