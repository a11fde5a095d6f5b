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

#include "absl/status/status.h"
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

// Where Emit writes and which routine lines it keeps. Every field documents
// its default; ConfigureLogging applies them process-wide.
struct LogOptions {
  // Descriptor lines go to when `file` is empty. Default 2 (stderr); a
  // server that captures libraries' stderr (StderrCapture) passes its dup
  // of the real stderr here.
  int fd = 2;
  // When set: lines are appended to this file (created 0600) instead.
  std::string file;
  // With `file`: once it reaches this many bytes it is renamed FILE.1 (FILE.1
  // to FILE.2, ... up to FILE.<keep_files>, the oldest dropped) and a new
  // FILE is started. 0: never rotate. Default 0.
  int64_t rotate_bytes = 0;
  // Rotated files kept. Default 5.
  int keep_files = 5;
  // Of the routine per-RPC lines (OK and not MATCH), keep 1 in this many;
  // errors, warnings and MATCH lines are always kept (ShouldLogRpc). Default
  // 1 (all).
  int sample_ok_rpcs = 1;
};

// INVALID_ARGUMENT for bad values, or the error opening `file`. Not
// thread-safe against concurrent Emit: call at start.
absl::Status ConfigureLogging(const LogOptions& options);

// Whether a per-RPC line goes out: always unless `routine` (an OK call whose
// verdict is not MATCH), then one in LogOptions::sample_ok_rpcs. Thread-safe.
bool ShouldLogRpc(bool routine);

// Lines not written since start because of sampling (a metric's source).
int64_t SampledOutRpcLines();

// A line a library wrote to stderr (captured by StderrCapture, see
// StartLibraryOutputCapture), as a JSON line: {"event":"library_message",
// "library":..,"summary":..} with the safe summary of ClassifyLibraryMessage
// (never the rest of the line, which can carry bytes of an upload), or
// {"event":"stderr_output","bytes":N} for a line no known library wrote. At
// most kMaxLibraryLinesPerMinute such lines a minute; the next line after a
// full minute carries "suppressed":N. Thread-safe; writes only to the log
// output, never to fd 2.
inline constexpr int kMaxLibraryLinesPerMinute = 60;
void LogLibraryOutput(absl::string_view line);

// Routes gRPC's own log lines (e.g. a bind failure) through LogLine as
// event "grpc_log", so a server's stderr stays JSON lines. Call once, early.
void RouteGrpcLogsToJson();

// Replaces where Emit writes (tests capture lines). An empty function
// restores stderr. Not thread-safe against concurrent Emit.
void SetLogSinkForTest(std::function<void(absl::string_view line)> sink);

}  // namespace server
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_SERVER_JSON_LOG_H_
