#include "src/perf/process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace hashmatch {
namespace perf {
namespace {

using Clock = std::chrono::steady_clock;

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

std::string ErrnoText(int e) { return std::strerror(e); }

// Spawns argv in a new process group with stdin from /dev/null; stdout and
// stderr become `out_fd` and `err_fd`.
absl::StatusOr<pid_t> Spawn(const std::vector<std::string>& argv, int out_fd,
                            int err_fd, bool search_path) {
  if (argv.empty() || argv[0].empty()) {
    return absl::InvalidArgumentError("no program to run");
  }
  const bool has_slash = argv[0].find('/') != std::string::npos;
  if ((has_slash || !search_path) && access(argv[0].c_str(), X_OK) != 0) {
    const int e = errno;
    if (e == ENOENT) return absl::NotFoundError(argv[0] + " does not exist");
    return absl::InternalError(
        absl::StrCat(argv[0], " is not executable: ", ErrnoText(e)));
  }
  std::vector<std::string> storage = argv;
  std::vector<char*> args;
  for (std::string& a : storage) args.push_back(a.data());
  args.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, err_fd, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t defaults;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGINT);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
                                      POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETSIGMASK);
  pid_t pid = 0;
  const int rc =
      search_path
          ? posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ)
          : posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc == ENOENT) return absl::NotFoundError(argv[0] + " was not found");
  if (rc != 0) {
    return absl::InternalError(
        absl::StrCat("cannot start ", argv[0], ": ", ErrnoText(rc)));
  }
  return pid;
}

void KillGroup(pid_t pid) {
  kill(-pid, SIGKILL);
  kill(pid, SIGKILL);
}

void AppendTail(std::string* tail, const char* data, size_t n, size_t keep) {
  tail->append(data, n);
  if (tail->size() > 2 * keep) tail->erase(0, tail->size() - keep);
}

void TrimTail(std::string* tail, size_t keep) {
  if (tail->size() > keep) tail->erase(0, tail->size() - keep);
}

std::atomic<bool> signal_cancel{false};

void OnCancelSignal(int) { signal_cancel.store(true); }

}  // namespace

const std::atomic<bool>* CancelOnSignals() {
  struct sigaction action;
  std::memset(&action, 0, sizeof(action));
  action.sa_handler = OnCancelSignal;
  sigemptyset(&action.sa_mask);
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) {
    sigaction(sig, &action, nullptr);
  }
  return &signal_cancel;
}

std::string TailLines(const std::string& text, int max_lines) {
  size_t end = text.size();
  while (end > 0 && text[end - 1] == '\n') --end;
  size_t start = end;
  int lines = 0;
  while (start > 0) {
    if (text[start - 1] == '\n' && ++lines == max_lines) break;
    --start;
  }
  return text.substr(start, end - start);
}

std::string StderrNote(const std::string& err_tail) {
  const std::string tail = TailLines(err_tail, 20);
  if (tail.empty()) return "; no stderr";
  return absl::StrCat("; stderr ends with:\n", tail);
}

absl::StatusOr<ProcessResult> RunProcess(const std::vector<std::string>& argv,
                                         const ProcessOptions& options) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", ErrnoText(errno)));
  }
  if (pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int e = errno;
    close(out_pipe[0]);
    close(out_pipe[1]);
    return absl::InternalError(absl::StrCat("pipe: ", ErrnoText(e)));
  }
  const Clock::time_point start = Clock::now();
  absl::StatusOr<pid_t> pid =
      Spawn(argv, out_pipe[1], err_pipe[1], options.search_path);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (!pid.ok()) {
    close(out_pipe[0]);
    close(err_pipe[0]);
    return pid.status();
  }
  const Clock::time_point deadline =
      start + absl::ToChronoNanoseconds(options.timeout);
  ProcessResult result;
  absl::Status failure;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  char buf[65536];
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left.count() <= 0) {
      failure = absl::DeadlineExceededError(absl::StrCat(
          argv[0], " ran longer than ", absl::FormatDuration(options.timeout),
          " and was killed"));
      break;
    }
    if (options.cancel != nullptr && options.cancel->load()) {
      failure = absl::CancelledError(
          absl::StrCat(argv[0], " was killed: the run was cancelled"));
      break;
    }
    const int n = poll(
        fds, 2, static_cast<int>(std::min<int64_t>(left.count() + 1, 200)));
    if (n < 0) {
      if (errno == EINTR) continue;
      failure = absl::InternalError(absl::StrCat("poll: ", ErrnoText(errno)));
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t got = read(fds[i].fd, buf, sizeof(buf));
      if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (got <= 0) {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
        continue;
      }
      if (i == 0) {
        result.out.append(buf, static_cast<size_t>(got));
      } else {
        AppendTail(&result.err_tail, buf, static_cast<size_t>(got),
                   options.stderr_tail_bytes);
      }
    }
    if (result.out.size() > options.max_stdout_bytes) {
      failure = absl::ResourceExhaustedError(
          absl::StrCat(argv[0], " wrote more than ", options.max_stdout_bytes,
                       " bytes to stdout and was killed"));
      break;
    }
  }
  for (pollfd& f : fds) {
    if (f.fd >= 0) close(f.fd);
  }
  if (!failure.ok()) KillGroup(*pid);
  // Both pipes are closed: the process has exited or is about to (a
  // grandchild could still hold them; the deadline bounds that wait too).
  int status = 0;
  while (true) {
    const pid_t w = waitpid(*pid, &status, failure.ok() ? WNOHANG : 0);
    if (w == *pid) break;
    if (w < 0 && errno != EINTR) {
      return absl::InternalError(absl::StrCat("waitpid: ", ErrnoText(errno)));
    }
    if (w == 0) {
      if (options.cancel != nullptr && options.cancel->load()) {
        failure = absl::CancelledError(
            absl::StrCat(argv[0], " was killed: the run was cancelled"));
        KillGroup(*pid);
        continue;
      }
      if (Clock::now() >= deadline) {
        failure = absl::DeadlineExceededError(absl::StrCat(
            argv[0], " ran longer than ", absl::FormatDuration(options.timeout),
            " and was killed"));
        KillGroup(*pid);
        continue;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  TrimTail(&result.err_tail, options.stderr_tail_bytes);
  result.exit_code = ExitCodeOf(status);
  result.wall_seconds =
      std::chrono::duration<double>(Clock::now() - start).count();
  if (!failure.ok()) {
    return absl::Status(
        failure.code(),
        absl::StrCat(failure.message(), StderrNote(result.err_tail)));
  }
  return result;
}

absl::StatusOr<std::unique_ptr<BackgroundProcess>> BackgroundProcess::Start(
    const std::vector<std::string>& argv, const std::string& log_path) {
  const int fd =
      open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot open ", log_path, ": ", ErrnoText(errno)));
  }
  absl::StatusOr<pid_t> pid = Spawn(argv, fd, fd, /*search_path=*/false);
  close(fd);
  if (!pid.ok()) return pid.status();
  return std::unique_ptr<BackgroundProcess>(new BackgroundProcess(*pid));
}

BackgroundProcess::~BackgroundProcess() {
  if (reaped_) return;
  KillGroup(pid_);
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
}

bool BackgroundProcess::Running() {
  if (reaped_) return false;
  int status = 0;
  const pid_t w = waitpid(pid_, &status, WNOHANG);
  if (w == pid_) {
    reaped_ = true;
    exit_code_ = ExitCodeOf(status);
    return false;
  }
  return w == 0;
}

absl::StatusOr<int> BackgroundProcess::Stop(int signal, absl::Duration grace) {
  if (!Running()) return exit_code_;
  kill(pid_, signal);
  const Clock::time_point deadline =
      Clock::now() + absl::ToChronoNanoseconds(grace);
  while (Running()) {
    if (Clock::now() >= deadline) {
      KillGroup(pid_);
      int status = 0;
      pid_t w;
      while ((w = waitpid(pid_, &status, 0)) < 0 && errno == EINTR) {
      }
      if (w != pid_) {
        return absl::InternalError(absl::StrCat("waitpid: ", ErrnoText(errno)));
      }
      reaped_ = true;
      exit_code_ = ExitCodeOf(status);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return exit_code_;
}

}  // namespace perf
}  // namespace hashmatch
