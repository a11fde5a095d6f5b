// Runs a binary as a subprocess for end-to-end tests and captures its exit
// code, stdout and stderr (through temporary files in ::testing::TempDir()).
//
//   testing_util::RunResult r =
//       testing_util::RunBinary(HASHMATCH_BINARY, {"db", "stats", dir});
//   EXPECT_EQ(r.exit_code, 0) << r.err;
//
// Failures to spawn or wait are reported with ADD_FAILURE and leave
// exit_code at -1. Not thread-safe (fixed scratch file names per process).
#ifndef HASHMATCH_TESTS_RUN_BINARY_H_
#define HASHMATCH_TESTS_RUN_BINARY_H_

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

extern char** environ;

namespace hashmatch {
namespace testing_util {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string ReadAndRemove(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream text;
  text << f.rdbuf();
  f.close();
  std::remove(path.c_str());
  return text.str();
}

// Runs `binary args...` with stdin from /dev/null.
inline RunResult RunBinary(const std::string& binary,
                           const std::vector<std::string>& args) {
  RunResult result;
  const std::string prefix =
      absl::StrCat(::testing::TempDir(), "/run_binary_", getpid());
  const std::string out_path = prefix + "_stdout";
  const std::string err_path = prefix + "_stderr";
  std::vector<std::string> argv_storage = {binary};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, binary.c_str(), &actions, nullptr,
                             argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    ADD_FAILURE() << "posix_spawn failed: " << rc;
    return result;
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) {
    ADD_FAILURE() << "waitpid failed";
    return result;
  }
  if (WIFEXITED(status)) {
    result.exit_code = WEXITSTATUS(status);
  } else {
    ADD_FAILURE() << binary << " did not exit normally, status " << status;
  }
  result.out = ReadAndRemove(out_path);
  result.err = ReadAndRemove(err_path);
  return result;
}

}  // namespace testing_util
}  // namespace hashmatch

#endif  // HASHMATCH_TESTS_RUN_BINARY_H_
