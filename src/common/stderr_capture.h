// Capturing what the process writes to stderr (file descriptor 2), line by
// line, so that chatty libraries (libpng's "iCCP: known incorrect sRGB
// profile" once per decoded PNG, libjpeg's "Corrupt JPEG data", OpenCV's and
// FFmpeg's log lines) can be counted and summarised instead of flooding the
// terminal or a server log.
//
//   ASSIGN_OR_RETURN(std::unique_ptr<StderrCapture> capture,
//                    StderrCapture::Start([&](absl::string_view line) {
//                      if (ClassifyLibraryMessage(line)) { ...count...; return;
//                      }
//                      ...write line + "\n" to a saved copy of stderr...
//                    }));
//   ... decode images ...
//   capture->Stop();  // Every line written before this has been delivered.
//
// How: Start points fd 2 at the write end of a pipe; a background thread
// reads the other end and hands each line to on_line. Writers never wait on
// on_line for long: the pipe holds 64 KiB and the thread drains it as fast as
// on_line returns, so a process writing megabytes to stderr is slowed, never
// stopped, as long as on_line does not block.
//
// Rules for on_line (it runs on the capture's thread, one call at a time, in
// the order the bytes reached the pipe, never after Stop returns):
//   * never write to fd 2 (std::cerr, stderr, perror, logging to stderr):
//     that feeds the pipe it drains, and deadlocks once the pipe is full.
//     Write to original_fd() (or another descriptor) instead;
//   * never wait for a lock that a thread writing to stderr may hold while
//     it writes (that writer may be blocked on a full pipe);
//   * never call Stop or destroy the capture.
//
// Other notes:
//   * One capture at a time per process (fd 2 is process-wide): Start
//     returns FAILED_PRECONDITION while another capture is running.
//   * Sanitizer reports (ASan, UBSan with ASan, TSan builds) are pointed at
//     original_fd() while capturing, so a crash report is never left
//     unread in the pipe when the process dies.
//   * Child processes started while capturing inherit the pipe as their
//     stderr. Their lines are captured until Stop; Stop waits at most
//     kChildDrainMillis for them after fd 2 is restored, then closes the
//     pipe, after which their writes fail (EPIPE; SIGPIPE unless ignored).
//     Give children their own stderr (e.g. original_fd()) instead.
//   * Bytes written to fd 2 by another thread at the very moment Stop runs
//     may reach either the capture or the restored stderr.
//
// Thread safety: Stop, original_fd and the destructor may be called from
// any thread (not from on_line); Stop is idempotent and concurrent calls
// are safe. ClassifyLibraryMessage is a pure function.
#ifndef HASHMATCH_SRC_COMMON_STDERR_CAPTURE_H_
#define HASHMATCH_SRC_COMMON_STDERR_CAPTURE_H_

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashmatch {

// Redirects file descriptor 2 into a pipe drained by a background thread;
// every complete line (or a chunk of at most 4 KiB when a line is longer; a
// trailing partial line is delivered at Stop) is handed to on_line, without
// the newline. original_fd() is a dup of the former stderr, for output that
// must still reach it.
class StderrCapture {
 public:
  // Longest piece handed to on_line: a longer line arrives in pieces of
  // this size (the last one shorter).
  static constexpr size_t kMaxChunk = 4096;
  // How long Stop waits for writers other than this process's fd 2 (child
  // processes that inherited it) to finish before closing the pipe.
  static constexpr int kChildDrainMillis = 200;

  // Flushes stdio's stderr, then redirects fd 2. Errors: FAILED_PRECONDITION
  // when another capture is running; the errno of pipe/dup/dup2 as a Status
  // (nothing is redirected then).
  static absl::StatusOr<std::unique_ptr<StderrCapture>> Start(
      std::function<void(absl::string_view line)> on_line);

  StderrCapture(const StderrCapture&) = delete;
  StderrCapture& operator=(const StderrCapture&) = delete;
  ~StderrCapture();  // Stop() if not stopped; closes original_fd().

  // Flushes stdio's stderr, restores fd 2 to the former stderr, delivers
  // what is pending (every byte written to fd 2 before the call), joins the
  // thread. Idempotent.
  void Stop();

  // A duplicate (close-on-exec) of the stderr that Start replaced; valid
  // until the capture is destroyed, also after Stop.
  int original_fd() const { return original_fd_; }

 private:
  StderrCapture(std::function<void(absl::string_view)> on_line, int original_fd,
                int read_fd, int wake_read_fd, int wake_write_fd);

  void Run();  // The reader thread.
  // Appends bytes read from the pipe and delivers every complete line or
  // full chunk.
  void Feed(const char* data, size_t size);

  const std::function<void(absl::string_view)> on_line_;
  const int original_fd_;
  const int read_fd_;       // Closed by the reader thread's owner (Stop).
  const int wake_read_fd_;  // Readable once Stop has restored fd 2.
  const int wake_write_fd_;
  std::string pending_;  // Reader thread only.
  std::thread reader_;
  std::mutex stop_mu_;
  bool stopped_ = false;  // GUARDED_BY(stop_mu_)
};

// A line written by an image or video library (libpng, libjpeg, libtiff,
// libwebp, OpenCV "[ WARN:..." / "[ERROR:...", FFmpeg "[mjpeg @ 0x...]"
// style), reduced to a safe summary: the library name and the message's
// leading text made only of [A-Za-z0-9 :,._-] (stop at the first other
// character, e.g. a quote that starts an image-supplied profile name), at
// most 80 bytes, trimmed. Never contains bytes from the image beyond that
// prefix. nullopt for lines that are not recognised library output.
//
// What is recognised, and the text the summary is taken from:
//   libpng   "libpng warning: ..." / "libpng error: ..."   the line
//   libjpeg  libjpeg-turbo's warnings ("Corrupt JPEG data: ...",
//            "Premature end of JPEG file", ...)              the line
//   libtiff  "TIFFxxx: ..." / "_TIFFxxx: ..." (module: message)  the line
//   libwebp  "libwebp..."                                    the line
//   opencv   "[ WARN:0@1.25] rest" (also ERROR, FATAL, INFO, DEBUG,
//            VERBOSE; the thread and time tag dropped)       "WARN: rest"
//   ffmpeg   "[name @ 0x55d0c0ffee00] rest" (the address dropped)
//                                                            "name: rest"
// so that one message repeated by every image has one summary.
struct LibraryMessage {
  std::string library;  // libpng, libjpeg, libtiff, libwebp, opencv, ffmpeg.
  std::string summary;
};
std::optional<LibraryMessage> ClassifyLibraryMessage(absl::string_view line);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_COMMON_STDERR_CAPTURE_H_
