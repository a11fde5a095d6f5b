#include "src/server/json_log.h"

#include <grpc/support/log.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <ctime>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

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
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n =
        ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // Nowhere left to report a logging failure.
    }
    done += static_cast<size_t>(n);
  }
}

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
