#include "src/server/json_log.h"

#include <fcntl.h>
#include <grpc/support/log.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "src/common/stderr_capture.h"

namespace hashmatch {
namespace server {
namespace {

std::mutex& SinkMutex() {
  static std::mutex mu;
  return mu;
}

std::function<void(absl::string_view)>& Sink() {
  static auto* sink = new std::function<void(absl::string_view)>();
  return *sink;
}

// The configured output (GUARDED_BY SinkMutex once serving).
struct Output {
  LogOptions options;
  int file_fd = -1;        // Open `options.file`, or -1.
  int64_t file_bytes = 0;  // Its size.
};

Output& Out() {
  static auto* out = new Output();
  return *out;
}

std::atomic<int64_t>& RpcCounter() {
  static std::atomic<int64_t> n{0};
  return n;
}

std::atomic<int64_t>& SampledOut() {
  static std::atomic<int64_t> n{0};
  return n;
}

std::atomic<int>& SampleEvery() {
  static std::atomic<int> n{1};
  return n;
}

absl::Status OpenLogFile(Output* out) {
  const int fd = ::open(out->options.file.c_str(),
                        O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::Status(absl::ErrnoToStatusCode(errno),
                        absl::StrCat("cannot open log file ", out->options.file,
                                     ": ", std::strerror(errno)));
  }
  struct stat st;
  out->file_bytes = ::fstat(fd, &st) == 0 ? st.st_size : 0;
  out->file_fd = fd;
  return absl::OkStatus();
}

// FILE -> FILE.1 -> ... -> FILE.<keep>, then a new FILE. On failure the
// current file stays in use (logging must not stop).
void Rotate(Output* out) {
  const std::string& base = out->options.file;
  const int keep = out->options.keep_files;
  if (keep <= 0) {
    if (::ftruncate(out->file_fd, 0) == 0) out->file_bytes = 0;
    return;
  }
  std::remove(absl::StrCat(base, ".", keep).c_str());
  for (int i = keep - 1; i >= 1; --i) {
    std::rename(absl::StrCat(base, ".", i).c_str(),
                absl::StrCat(base, ".", i + 1).c_str());
  }
  if (std::rename(base.c_str(), absl::StrCat(base, ".1").c_str()) != 0) return;
  const int old_fd = out->file_fd;
  if (OpenLogFile(out).ok()) {
    ::close(old_fd);
  } else {
    out->file_fd = old_fd;
  }
}

void WriteAll(int fd, absl::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // Nowhere left to report a logging failure.
    }
    done += static_cast<size_t>(n);
  }
}

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not one.
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xE0) == 0xC0) {
    n = 2;
    cp = c & 0x1F;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3;
    cp = c & 0x0F;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    const unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3F);
  }
  // Overlong forms, surrogates and values past U+10FFFF are invalid.
  if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) ||
      (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
      (cp >= 0xD800 && cp <= 0xDFFF)) {
    return 0;
  }
  return n;
}

std::string Timestamp() {
  const auto now = std::chrono::system_clock::now();
  const int64_t ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         now.time_since_epoch())
                         .count();
  const time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec,
                         static_cast<int>(ms % 1000));
}

}  // namespace

std::string JsonQuote(absl::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back('"');
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"') {
      out += "\\\"";
    } else if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F) {
      absl::StrAppendFormat(&out, "\\u%04x", c);
    } else if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      const size_t n = Utf8SequenceLength(s, i);
      if (n == 0) {
        out += "\\ufffd";
        ++i;
        continue;
      }
      out.append(s.data() + i, n);
      i += n;
      continue;
    }
    ++i;
  }
  out.push_back('"');
  return out;
}

LogLine::LogLine(absl::string_view level, absl::string_view event) {
  text_ =
      absl::StrCat("{\"ts\":\"", Timestamp(), "\",\"level\":", JsonQuote(level),
                   ",\"event\":", JsonQuote(event));
}

LogLine& LogLine::Str(absl::string_view key, absl::string_view value) {
  absl::StrAppend(&text_, ",", JsonQuote(key), ":", JsonQuote(value));
  return *this;
}

LogLine& LogLine::Int(absl::string_view key, int64_t value) {
  absl::StrAppend(&text_, ",", JsonQuote(key), ":", value);
  return *this;
}

LogLine& LogLine::Double(absl::string_view key, double value) {
  if (!std::isfinite(value)) {
    absl::StrAppend(&text_, ",", JsonQuote(key), ":null");
  } else {
    absl::StrAppend(&text_, ",", JsonQuote(key), ":",
                    absl::StrFormat("%.3f", value));
  }
  return *this;
}

LogLine& LogLine::Bool(absl::string_view key, bool value) {
  absl::StrAppend(&text_, ",", JsonQuote(key), ":", value ? "true" : "false");
  return *this;
}

std::string LogLine::Finish() const { return absl::StrCat(text_, "}"); }

void LogLine::Emit() const {
  const std::string line = absl::StrCat(text_, "}\n");
  std::lock_guard<std::mutex> lock(SinkMutex());
  if (Sink()) {
    Sink()(absl::string_view(line.data(), line.size() - 1));
    return;
  }
  Output& out = Out();
  if (out.file_fd < 0) {
    WriteAll(out.options.fd, line);
    return;
  }
  WriteAll(out.file_fd, line);
  out.file_bytes += static_cast<int64_t>(line.size());
  if (out.options.rotate_bytes > 0 &&
      out.file_bytes >= out.options.rotate_bytes) {
    Rotate(&out);
  }
}

absl::Status ConfigureLogging(const LogOptions& options) {
  if (options.sample_ok_rpcs < 1) {
    return absl::InvalidArgumentError("log sampling must be 1 or more");
  }
  if (options.rotate_bytes < 0 || options.keep_files < 0) {
    return absl::InvalidArgumentError(
        "log rotation size and kept files must not be negative");
  }
  if (options.fd < 0) return absl::InvalidArgumentError("bad log descriptor");
  std::lock_guard<std::mutex> lock(SinkMutex());
  Output& out = Out();
  Output next;
  next.options = options;
  if (!options.file.empty()) {
    absl::Status s = OpenLogFile(&next);
    if (!s.ok()) return s;
  }
  if (out.file_fd >= 0) ::close(out.file_fd);
  out = next;
  SampleEvery().store(options.sample_ok_rpcs);
  return absl::OkStatus();
}

void LogLibraryOutput(absl::string_view line) {
  static std::mutex mu;
  static std::chrono::steady_clock::time_point window_start;
  static int in_window = 0;
  static int64_t suppressed = 0;
  int64_t report_suppressed = 0;
  {
    std::lock_guard<std::mutex> lock(mu);
    const auto now = std::chrono::steady_clock::now();
    if (now - window_start >= std::chrono::minutes(1)) {
      window_start = now;
      in_window = 0;
    }
    if (in_window >= kMaxLibraryLinesPerMinute) {
      ++suppressed;
      return;
    }
    ++in_window;
    report_suppressed = suppressed;
    suppressed = 0;
  }
  const std::optional<LibraryMessage> message = ClassifyLibraryMessage(line);
  LogLine out("warning", message ? "library_message" : "stderr_output");
  if (message) {
    out.Str("library", message->library).Str("summary", message->summary);
  } else {
    out.Int("bytes", static_cast<int64_t>(line.size()));
  }
  if (report_suppressed > 0) out.Int("suppressed", report_suppressed);
  out.Emit();
}

bool ShouldLogRpc(bool routine) {
  if (!routine) return true;
  const int every = SampleEvery().load(std::memory_order_relaxed);
  if (every <= 1) return true;
  if (RpcCounter().fetch_add(1, std::memory_order_relaxed) % every == 0) {
    return true;
  }
  SampledOut().fetch_add(1, std::memory_order_relaxed);
  return false;
}

int64_t SampledOutRpcLines() { return SampledOut().load(); }

void SetLogSinkForTest(std::function<void(absl::string_view line)> sink) {
  std::lock_guard<std::mutex> lock(SinkMutex());
  Sink() = std::move(sink);
}

namespace {

void GrpcLogToJson(gpr_log_func_args* args) {
  const char* level = args->severity == GPR_LOG_SEVERITY_ERROR  ? "error"
                      : args->severity == GPR_LOG_SEVERITY_INFO ? "info"
                                                                : "debug";
  LogLine(level, "grpc_log")
      .Str("file", args->file != nullptr ? args->file : "")
      .Int("line", args->line)
      .Str("message", args->message != nullptr ? args->message : "")
      .Emit();
}

}  // namespace

void RouteGrpcLogsToJson() { gpr_set_log_function(GrpcLogToJson); }

}  // namespace server
}  // namespace hashmatch
