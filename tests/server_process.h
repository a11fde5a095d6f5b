// A server binary running as a child process for end-to-end tests: started
// with its stdout/stderr in files, waited for through a port file, signalled
// and reaped; plus the small socket and file helpers those tests share.
//
//   testing_util::TempDir dir("match_server_test");
//   testing_util::ServerProcess server;
//   ASSERT_TRUE(server.Start(MATCH_SERVER_BINARY,
//                            {"--db", dir.path() + "/db", "--listen",
//                             "127.0.0.1:0", "--port_file",
//                             dir.path() + "/port"}, dir.path()));
//   absl::StatusOr<int> port = server.WaitForPortFile(dir.path() + "/port");
//   ...
//   EXPECT_EQ(server.Stop(SIGTERM), 0);       // exit code
//   std::string log = server.Stderr();
//
// Failures to spawn are returned as false/errors, never thrown. The
// destructor SIGKILLs a child that is still running. Each ServerProcess owns
// its own output files, so several may run at once; one object is not
// thread-safe.
#ifndef HASHMATCH_TESTS_SERVER_PROCESS_H_
#define HASHMATCH_TESTS_SERVER_PROCESS_H_

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace hashmatch {
namespace testing_util {

inline std::string ReadWholeFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream text;
  text << f.rdbuf();
  return text.str();
}

inline bool WriteWholeFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
  return static_cast<bool>(f);
}

// A fresh directory under $TEST_TMPDIR (or /tmp), removed with its contents
// by the destructor.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix) {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string tmpl =
        absl::StrCat(base != nullptr ? base : "/tmp", "/", prefix, "_XXXXXX");
    if (mkdtemp(tmpl.data()) != nullptr) path_ = tmpl;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    if (path_.empty()) return;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  // Empty if the directory could not be made.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess() {
    if (running()) {
      kill(pid_, SIGKILL);
      int status = 0;
      waitpid(pid_, &status, 0);
    }
  }

  // Spawns `binary args...` with stdin from /dev/null and stdout/stderr in
  // files under `scratch_dir`. `env` entries ("NAME=value") are added to
  // (and override) this process's environment.
  absl::Status Start(const std::string& binary,
                     const std::vector<std::string>& args,
                     const std::string& scratch_dir,
                     const std::vector<std::string>& env = {}) {
    static std::atomic<int> counter{0};
    const std::string prefix =
        absl::StrCat(scratch_dir, "/server_", getpid(), "_", counter++);
    out_path_ = prefix + "_stdout";
    err_path_ = prefix + "_stderr";
    std::vector<std::string> argv_storage = {binary};
    argv_storage.insert(argv_storage.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (std::string& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);

    std::map<std::string, std::string> env_map;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv = *e;
      const size_t eq = kv.find('=');
      if (eq == std::string::npos) continue;
      env_map[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const std::string& kv : env) {
      const size_t eq = kv.find('=');
      if (eq == std::string::npos) continue;
      env_map[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    std::vector<std::string> env_storage;
    for (const auto& [k, v] : env_map) env_storage.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (std::string& kv : env_storage) envp.push_back(kv.data());
    envp.push_back(nullptr);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                     O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path_.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int rc = posix_spawn(&pid_, binary.c_str(), &actions, nullptr,
                               argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      pid_ = -1;
      return absl::InternalError(
          absl::StrCat("posix_spawn ", binary, ": ", rc));
    }
    exit_code_ = -1;
    return absl::OkStatus();
  }

  // Waits until `path` holds a port number followed by a newline or the
  // end of file (written atomically by the server), the child exits, or
  // `timeout` passes.
  absl::StatusOr<int> WaitForPortFile(
      const std::string& path,
      std::chrono::milliseconds timeout = std::chrono::seconds(60),
      std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      std::string text = ReadWholeFile(path);
      int port = 0;
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &port) &&
          port > 0) {
        return port;
      }
      if (!running()) {
        return absl::FailedPreconditionError(
            absl::StrCat("server exited with ", exit_code_, " before writing ",
                         path, "; stderr:\n", Stderr()));
      }
      std::this_thread::sleep_for(poll);
    }
    return absl::DeadlineExceededError(
        absl::StrCat("no port in ", path, "; stderr:\n", Stderr()));
  }

  // True while the child has not been reaped (reaps it if it has exited).
  bool running() {
    if (pid_ <= 0) return false;
    int status = 0;
    const pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == 0) return true;
    Reaped(status);
    return false;
  }

  pid_t pid() const { return pid_; }

  bool Signal(int sig) { return pid_ > 0 && kill(pid_, sig) == 0; }

  // Waits up to `timeout` for the child to exit; its exit code, 128 + signal
  // if it was killed by one, or -1 on timeout (the child keeps running).
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (running()) {
      if (std::chrono::steady_clock::now() >= end) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return exit_code_;
  }

  // Sends `sig` and waits; SIGKILLs the child if it outlives `timeout`
  // (and returns -1 then).
  int Stop(int sig = SIGTERM,
           std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    if (!running()) return exit_code_;
    Signal(sig);
    const int code = Wait(timeout);
    if (code == -1) {
      Signal(SIGKILL);
      Wait();
      return -1;
    }
    return code;
  }

  std::string Stdout() const { return ReadWholeFile(out_path_); }
  std::string Stderr() const { return ReadWholeFile(err_path_); }

 private:
  void Reaped(int status) {
    if (WIFEXITED(status)) {
      exit_code_ = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      exit_code_ = 128 + WTERMSIG(status);
    }
    pid_ = -1;
  }

  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string out_path_;
  std::string err_path_;
};

// GET http://127.0.0.1:port/path over a plain socket (HTTP/1.0, so the
// server closes the connection); the whole response, headers included.
inline absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to port ", port));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
  if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::InternalError("send");
  }
  std::string response;
  char buf[16384];
  while (true) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return response;
}

// The sum of the Prometheus samples named `name` whose labels include every
// `key="value"` of `labels` (e.g. {{"rpc", "MatchImage"}}); 0 when none.
inline double PrometheusSum(
    const std::string& exposition, const std::string& name,
    const std::vector<std::pair<std::string, std::string>>& labels = {}) {
  double sum = 0;
  std::istringstream lines(exposition);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t name_end = line.find_first_of("{ ");
    if (name_end == std::string::npos || line.compare(0, name_end, name) != 0 ||
        name_end != name.size()) {
      continue;
    }
    const size_t space = line.rfind(' ');
    const std::string label_text = line.substr(name_end, space - name_end);
    bool all = true;
    for (const auto& [k, v] : labels) {
      const std::string want = absl::StrCat(k, "=\"", v, "\"");
      const size_t at = label_text.find(want);
      if (at == std::string::npos ||
          (label_text[at - 1] != '{' && label_text[at - 1] != ',')) {
        all = false;
      }
    }
    double v = 0;
    if (all && absl::SimpleAtod(line.substr(space + 1), &v)) sum += v;
  }
  return sum;
}

// The contents of every regular file under `dir`, by path.
inline std::map<std::string, std::string> ReadTree(const std::string& dir) {
  std::map<std::string, std::string> files;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    if (it->is_regular_file()) {
      files[it->path().string()] = ReadWholeFile(it->path().string());
    }
  }
  return files;
}

}  // namespace testing_util
}  // namespace hashmatch

#endif  // HASHMATCH_TESTS_SERVER_PROCESS_H_
