#include "src/common/stderr_capture.h"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#include <sanitizer/common_interface_defs.h>
#define HASHMATCH_HAS_SANITIZER_REPORT_FD 1
#endif

namespace hashmatch {
namespace {

// Whether a capture is running (fd 2 is process-wide).
std::atomic<bool> g_capturing{false};

// Where sanitizer reports go: fd 2 normally, the saved stderr while
// capturing (a report left in the pipe would die with the process).
void SetSanitizerReportFd([[maybe_unused]] int fd) {
#ifdef HASHMATCH_HAS_SANITIZER_REPORT_FD
  __sanitizer_set_report_fd(reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
#endif
}

void CloseFd(int fd) {
  if (fd >= 0) close(fd);
}

absl::Status ErrnoStatus(int err, absl::string_view what) {
  return absl::ErrnoToStatus(err,
                             absl::StrCat("stderr capture: ", what, " failed"));
}

}  // namespace

StderrCapture::StderrCapture(std::function<void(absl::string_view)> on_line,
                             int original_fd, int read_fd, int wake_read_fd,
                             int wake_write_fd)
    : on_line_(std::move(on_line)),
      original_fd_(original_fd),
      read_fd_(read_fd),
      wake_read_fd_(wake_read_fd),
      wake_write_fd_(wake_write_fd) {}

absl::StatusOr<std::unique_ptr<StderrCapture>> StderrCapture::Start(
    std::function<void(absl::string_view line)> on_line) {
  bool expected = false;
  if (!g_capturing.compare_exchange_strong(expected, true)) {
    return absl::FailedPreconditionError(
        "stderr capture: another capture is running");
  }
  int data[2] = {-1, -1};
  int wake[2] = {-1, -1};
  int original = -1;
  auto fail = [&](absl::string_view what) {
    const int err = errno;
    for (int fd : {data[0], data[1], wake[0], wake[1], original}) CloseFd(fd);
    g_capturing.store(false);
    return ErrnoStatus(err, what);
  };
  if (pipe2(data, O_CLOEXEC) != 0) return fail("pipe");
  if (pipe2(wake, O_CLOEXEC) != 0) return fail("pipe");
  std::fflush(stderr);
  original = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
  if (original < 0) return fail("dup of fd 2");
  if (dup2(data[1], STDERR_FILENO) < 0) return fail("dup2 onto fd 2");
  // From here fd 2 is the pipe's only write end (plus children's copies).
  close(data[1]);
  SetSanitizerReportFd(original);
  std::unique_ptr<StderrCapture> capture(new StderrCapture(
      std::move(on_line), original, data[0], wake[0], wake[1]));
  capture->reader_ = std::thread([c = capture.get()] { c->Run(); });
  return capture;
}

StderrCapture::~StderrCapture() {
  Stop();
  CloseFd(original_fd_);
}

void StderrCapture::Stop() {
  std::lock_guard<std::mutex> lock(stop_mu_);
  if (stopped_) return;
  stopped_ = true;
  std::fflush(stderr);
  // Restoring fd 2 drops the last write end this process holds: the reader
  // sees end of file once it has read everything written before.
  while (dup2(original_fd_, STDERR_FILENO) < 0 && errno == EINTR) {
  }
  SetSanitizerReportFd(STDERR_FILENO);
  // Tells the reader to give up on writers that hold the pipe longer
  // (children): at most kChildDrainMillis from now.
  const char one = 1;
  while (write(wake_write_fd_, &one, 1) < 0 && errno == EINTR) {
  }
  if (reader_.joinable()) reader_.join();
  for (int fd : {read_fd_, wake_read_fd_, wake_write_fd_}) CloseFd(fd);
  g_capturing.store(false);
}

void StderrCapture::Run() {
  using Clock = std::chrono::steady_clock;
  char buf[1 << 16];
  bool stopping = false;
  Clock::time_point deadline;
  for (;;) {
    pollfd fds[2] = {{read_fd_, POLLIN, 0}, {wake_read_fd_, POLLIN, 0}};
    int timeout_ms = -1;
    if (stopping) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - Clock::now());
      if (left.count() <= 0) break;
      timeout_ms = static_cast<int>(left.count());
    }
    const int ready = poll(fds, stopping ? 1 : 2, timeout_ms);
    if (ready < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (ready == 0) break;  // Stopping, and no writer finished in time.
    if (!stopping && (fds[1].revents & POLLIN) != 0) {
      stopping = true;
      deadline = Clock::now() + std::chrono::milliseconds(kChildDrainMillis);
    }
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) == 0) continue;
    const ssize_t n = read(read_fd_, buf, sizeof(buf));
    if (n > 0) {
      Feed(buf, static_cast<size_t>(n));
    } else if (n == 0) {
      break;  // Every write end is closed: all bytes have been read.
    } else if (errno != EINTR && errno != EAGAIN) {
      break;
    }
  }
  if (!pending_.empty()) on_line_(pending_);
  pending_.clear();
}

void StderrCapture::Feed(const char* data, size_t size) {
  pending_.append(data, size);
  size_t pos = 0;
  for (;;) {
    const size_t nl = pending_.find('\n', pos);
    const size_t line_end = nl == std::string::npos ? pending_.size() : nl;
    const size_t length = line_end - pos;
    if (length > kMaxChunk) {
      // Known to be longer than a chunk: deliver one now.
      on_line_(absl::string_view(pending_).substr(pos, kMaxChunk));
      pos += kMaxChunk;
    } else if (nl != std::string::npos) {
      on_line_(absl::string_view(pending_).substr(pos, length));
      pos = nl + 1;
    } else {
      break;  // A partial line of at most kMaxChunk bytes: wait for more.
    }
  }
  pending_.erase(0, pos);
}

namespace {

constexpr size_t kMaxSummary = 80;

bool IsSummaryChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == ' ' ||
         c == ':' || c == ',' || c == '.' || c == '_' || c == '-';
}

// The leading run of summary characters of `text`, at most kMaxSummary
// bytes, without surrounding whitespace.
std::string SafePrefix(absl::string_view text) {
  size_t n = 0;
  while (n < text.size() && n < kMaxSummary && IsSummaryChar(text[n])) ++n;
  return std::string(absl::StripAsciiWhitespace(text.substr(0, n)));
}

// libjpeg-turbo's warnings (jerror.h, JWRN_*), as its default
// output_message prints them: the message alone, no library name.
constexpr absl::string_view kJpegWarnings[] = {
    "Corrupt JPEG data:",
    "Premature end of JPEG file",
    "Invalid SOS parameters for sequential JPEG",
    "Warning: unknown JFIF revision number",
    "Unknown Adobe color transform code",
    "Inconsistent progression sequence for component",
    "Application transferred too many scanlines",
};

constexpr absl::string_view kOpenCvLevels[] = {"WARN", "ERROR", "FATAL",
                                               "INFO", "DEBUG", "VERBOSE"};

std::optional<LibraryMessage> Message(absl::string_view library,
                                      absl::string_view text) {
  return LibraryMessage{std::string(library), SafePrefix(text)};
}

// libtiff's default handlers: "MODULE: message", MODULE one of its
// functions (TIFFReadDirectory, _TIFFVSetField, ...).
bool IsTiffModuleLine(absl::string_view line) {
  absl::string_view rest = line;
  if (!absl::ConsumePrefix(&rest, "TIFF") &&
      !absl::ConsumePrefix(&rest, "_TIFF")) {
    return false;
  }
  size_t n = 0;
  while (n < rest.size() &&
         (absl::ascii_isalnum(static_cast<unsigned char>(rest[n])) ||
          rest[n] == '_')) {
    ++n;
  }
  return absl::StartsWith(rest.substr(n), ": ");
}

// "[ WARN:0@1.25] rest" -> "WARN: rest".
std::optional<LibraryMessage> OpenCvMessage(absl::string_view line) {
  const size_t close = line.find(']');
  if (close == absl::string_view::npos || close > 40) return std::nullopt;
  absl::string_view tag = line.substr(1, close - 1);
  const size_t colon = tag.find(':');
  if (colon == absl::string_view::npos) return std::nullopt;
  absl::string_view level = absl::StripAsciiWhitespace(tag.substr(0, colon));
  bool known = false;
  for (absl::string_view l : kOpenCvLevels) known |= level == l;
  if (!known) return std::nullopt;
  absl::string_view rest =
      absl::StripLeadingAsciiWhitespace(line.substr(close + 1));
  return Message("opencv", absl::StrCat(level, ": ", rest));
}

// "[mjpeg @ 0x55d0c0ffee00] rest" -> "mjpeg: rest".
std::optional<LibraryMessage> FfmpegMessage(absl::string_view line) {
  const size_t at = line.find(" @ 0x");
  if (at == absl::string_view::npos || at < 2 || at > 65) return std::nullopt;
  absl::string_view name = line.substr(1, at - 1);
  for (char c : name) {
    if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
          c == ',' || c == '.' || c == '-')) {
      return std::nullopt;
    }
  }
  size_t end = at + 5;
  while (end < line.size() &&
         absl::ascii_isxdigit(static_cast<unsigned char>(line[end]))) {
    ++end;
  }
  if (end == at + 5 || end >= line.size() || line[end] != ']') {
    return std::nullopt;
  }
  absl::string_view rest =
      absl::StripLeadingAsciiWhitespace(line.substr(end + 1));
  return Message("ffmpeg", absl::StrCat(name, ": ", rest));
}

}  // namespace

std::optional<LibraryMessage> ClassifyLibraryMessage(absl::string_view line) {
  if (absl::StartsWith(line, "libpng warning:") ||
      absl::StartsWith(line, "libpng error:")) {
    return Message("libpng", line);
  }
  for (absl::string_view prefix : kJpegWarnings) {
    if (absl::StartsWith(line, prefix)) return Message("libjpeg", line);
  }
  if (IsTiffModuleLine(line)) return Message("libtiff", line);
  if (absl::StartsWith(line, "libwebp")) return Message("libwebp", line);
  if (absl::StartsWith(line, "[")) {
    if (std::optional<LibraryMessage> m = OpenCvMessage(line)) return m;
    return FfmpegMessage(line);
  }
  return std::nullopt;
}

}  // namespace hashmatch
