// JSON-lines logging for match_server: one JSON object per line on stderr,
//
//   {"ts":"2026-11-28T12:00:00.123Z","level":"info","event":"rpc",...}
//
//   LogLine("info", "rpc").Str("rpc", "MatchImage").Int("latency_us", 812)
//       .Emit();
//
// Strings are escaped per RFC 8259 (quotes, backslash, control characters as
// \uXXXX; bytes that are not valid UTF-8 become U+FFFD), so a caller's
// content_ref cannot break the line. Callers must never pass media bytes.
//
// Thread safety: Emit writes each line with one write(2) under a mutex, so
// lines from concurrent threads never interleave. A LogLine itself is not
// shared between threads.
#ifndef HASHMATCH_SRC_SERVER_JSON_LOG_H_
#define HASHMATCH_SRC_SERVER_JSON_LOG_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"

namespace hashmatch {
namespace server {

// `s` as a JSON string literal, quotes included.
std::string JsonQuote(absl::string_view s);

class LogLine {
 public:
  // Starts {"ts":...,"level":level,"event":event.
  LogLine(absl::string_view level, absl::string_view event);

  LogLine& Str(absl::string_view key, absl::string_view value);
  LogLine& Int(absl::string_view key, int64_t value);
  LogLine& Double(absl::string_view key, double value);
  LogLine& Bool(absl::string_view key, bool value);

  // The finished line, without the trailing newline.
  std::string Finish() const;
  // Writes Finish() + "\n" to the log sink (stderr by default).
  void Emit() const;

 private:
  std::string text_;
};

// Routes gRPC's own log lines (e.g. a bind failure) through LogLine as
// event "grpc_log", so a server's stderr stays JSON lines. Call once, early.
void RouteGrpcLogsToJson();

// Replaces where Emit writes (tests capture lines). An empty function
// restores stderr. Not thread-safe against concurrent Emit.
void SetLogSinkForTest(std::function<void(absl::string_view line)> sink);

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_JSON_LOG_H_
