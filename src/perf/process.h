// Child processes for `hashmatch eval perf`: a program run to completion with
// its output captured and a wall-time limit (RunProcess), or a server kept
// running in the background (BackgroundProcess). No shell is involved: argv
// is passed to posix_spawn as is.
//
//   ProcessOptions options;
//   options.timeout = absl::Seconds(60);
//   ASSIGN_OR_RETURN(ProcessResult r,
//                    RunProcess({"/path/index_benchmark", "--n=1000"},
//                               options));
//   if (r.exit_code != 0) ... r.err_tail ...
//
// Each child runs in its own process group (so a timeout also kills what it
// started, e.g. ffmpeg), with stdin from /dev/null and the environment of
// this process. Being in other groups, children do not get the terminal's
// Ctrl-C: a caller that wants them stopped then sets the `cancel` flag of
// ProcessOptions (CancelOnSignals() sets one from SIGINT, SIGTERM, SIGHUP).
//
// Thread safety: RunProcess may be called from several threads; a
// BackgroundProcess object is not thread-safe.
#ifndef HASHMATCH_SRC_PERF_PROCESS_H_
#define HASHMATCH_SRC_PERF_PROCESS_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace hashmatch {
namespace perf {

struct ProcessOptions {
  // Wall time the process may run; past it its process group is killed
  // (SIGKILL) and RunProcess returns DEADLINE_EXCEEDED. Default 10 minutes.
  absl::Duration timeout = absl::Minutes(10);
  // Most stdout kept; past it the process group is killed and RunProcess
  // returns RESOURCE_EXHAUSTED. Default 64 MiB.
  size_t max_stdout_bytes = size_t{64} << 20;
  // Only the last this many bytes of stderr are kept (err_tail). Default
  // 16 KiB.
  size_t stderr_tail_bytes = size_t{16} << 10;
  // Look argv[0] up in PATH when it has no '/' (posix_spawnp). Default false.
  bool search_path = false;
  // When non-null and it becomes true, the process group is killed and
  // RunProcess returns CANCELLED (checked at least every 200 ms). Not owned.
  const std::atomic<bool>* cancel = nullptr;
};

// A flag that SIGINT, SIGTERM and SIGHUP set from now on (their handlers
// are replaced; the flag stays set). Call once, from one thread.
const std::atomic<bool>* CancelOnSignals();

struct ProcessResult {
  // The exit status, or 128 + the signal number when a signal ended it.
  int exit_code = -1;
  std::string out;       // All of stdout.
  std::string err_tail;  // The end of stderr (ProcessOptions).
  double wall_seconds = 0;
};

// Runs argv (argv[0] the program) to completion. A non-zero exit is not an
// error here: check exit_code. Errors: INVALID_ARGUMENT (empty argv),
// NOT_FOUND (argv[0] does not exist), DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED
// and CANCELLED as in ProcessOptions (all carry the stderr tail), INTERNAL
// (pipe, spawn or wait failed).
absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         const ProcessOptions& options);

// The last `max_lines` lines of `text`, for error messages.
std::string TailLines(const std::string& text, int max_lines);

// "; stderr ends with:\n" and the last 20 lines of `err_tail`, or "; no
// stderr" when it is empty.
std::string StderrNote(const std::string& err_tail);

// A long-running child (a server) whose stdout and stderr go to a log file.
// The destructor SIGKILLs its process group and reaps it if it still runs.
class BackgroundProcess {
 public:
  // Starts argv with stdout and stderr appended to `log_path`. Errors as
  // RunProcess (NOT_FOUND, INTERNAL), and the log file's open error.
  static absl::StatusOr<std::unique_ptr<BackgroundProcess>> Start(
      const std::vector<std::string>& argv, const std::string& log_path);

  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;
  ~BackgroundProcess();

  pid_t pid() const { return pid_; }

  // True while the process has not exited (reaps it when it has).
  bool Running();

  // Sends `signal` to the process, waits up to `grace` for it to exit, then
  // SIGKILLs its group. Returns its exit code (128 + signal number when a
  // signal ended it). INTERNAL if waiting fails.
  absl::StatusOr<int> Stop(int signal, absl::Duration grace);

 private:
  explicit BackgroundProcess(pid_t pid) : pid_(pid) {}
  pid_t pid_;
  bool reaped_ = false;
  int exit_code_ = -1;
};

}  // namespace perf
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_PERF_PROCESS_H_
