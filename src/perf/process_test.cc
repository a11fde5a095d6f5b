#include "src/perf/process.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace hashmatch {
namespace perf {
namespace {

TEST(RunProcess, CapturesStdoutStderrTailAndExitCode) {
  ProcessOptions options;
  options.stderr_tail_bytes = 8;
  absl::StatusOr<ProcessResult> r = RunProcess(
      {"/bin/sh", "-c", "echo out; echo 0123456789abcdef >&2; exit 3"},
      options);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 3);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err_tail, "9abcdef\n");
  EXPECT_GE(r->wall_seconds, 0);
}

TEST(RunProcess, LargeOutputOnBothPipesDoesNotDeadlock) {
  absl::StatusOr<ProcessResult> r = RunProcess(
      {"/bin/sh", "-c",
       "i=0; while [ $i -lt 2000 ]; do echo "
       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; "
       "echo yyyy >&2; i=$((i+1)); done"},
      ProcessOptions());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0);
  EXPECT_EQ(r->out.size(), 2000u * 64);
}

TEST(RunProcess, SignalIsReportedAs128PlusSignal) {
  absl::StatusOr<ProcessResult> r =
      RunProcess({"/bin/sh", "-c", "kill -9 $$"}, ProcessOptions());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 128 + SIGKILL);
}

TEST(RunProcess, TimeoutKillsTheWholeGroup) {
  ProcessOptions options;
  options.timeout = absl::Milliseconds(300);
  const auto start = std::chrono::steady_clock::now();
  // The background sleep keeps the pipes open: only killing the group ends
  // it.
  absl::StatusOr<ProcessResult> r = RunProcess(
      {"/bin/sh", "-c", "echo started >&2; sleep 30 & sleep 30"}, options);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(r.status().message().find("started"), std::string::npos)
      << r.status();
  EXPECT_LT(seconds, 10);
}

TEST(RunProcess, CancelFlagKillsTheGroup) {
  std::atomic<bool> cancel{false};
  ProcessOptions options;
  options.cancel = &cancel;
  std::thread setter([&cancel] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    cancel.store(true);
  });
  const auto start = std::chrono::steady_clock::now();
  absl::StatusOr<ProcessResult> r =
      RunProcess({"/bin/sh", "-c", "sleep 30 & sleep 30"}, options);
  setter.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_LT(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count(),
      10);
}

TEST(RunProcess, StdoutLimit) {
  ProcessOptions options;
  options.max_stdout_bytes = 1000;
  absl::StatusOr<ProcessResult> r = RunProcess(
      {"/bin/sh", "-c", "while true; do echo xxxxxxxxxxxxxxxx; done"}, options);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
}

TEST(RunProcess, MissingProgramIsNotFound) {
  absl::StatusOr<ProcessResult> r =
      RunProcess({"/nonexistent/dir/prog"}, ProcessOptions());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("/nonexistent/dir/prog"),
            std::string::npos);
  EXPECT_EQ(RunProcess({}, ProcessOptions()).status().code(),
            absl::StatusCode::kInvalidArgument);
  ProcessOptions path;
  path.search_path = true;
  absl::StatusOr<ProcessResult> t = RunProcess({"true"}, path);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->exit_code, 0);
}

TEST(TailLines, KeepsTheLastLines) {
  EXPECT_EQ(StderrNote("x\ny\n"), "; stderr ends with:\nx\ny");
  EXPECT_EQ(StderrNote("\n"), "; no stderr");
  EXPECT_EQ(TailLines("a\nb\nc\nd\n", 2), "c\nd");
  EXPECT_EQ(TailLines("a\nb", 5), "a\nb");
  EXPECT_EQ(TailLines("", 3), "");
}

std::string ReadLog(const std::string& path) {
  std::ifstream f(path);
  std::stringstream text;
  text << f.rdbuf();
  return text.str();
}

// Waits until the log at `path` starts with `text` (the child printed it,
// so it has run every command before). False after 60 s.
bool WaitForLog(const std::string& path, const std::string& text) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (ReadLog(path).substr(0, text.size()) != text) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

TEST(BackgroundProcess, LogsAndStopsWithTheSignal) {
  const std::string log =
      absl::StrCat(::testing::TempDir(), "/bg_", getpid(), ".log");
  std::remove(log.c_str());
  absl::StatusOr<std::unique_ptr<BackgroundProcess>> p =
      BackgroundProcess::Start({"/bin/sh", "-c",
                                "trap 'echo bye; exit 7' TERM; echo hello; "
                                "while true; do sleep 0.05; done"},
                               log);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_TRUE((*p)->Running());
  // The trap is set once "hello" is out: a SIGTERM before that would end
  // the shell without it (no fixed sleep: a loaded machine can take longer).
  ASSERT_TRUE(WaitForLog(log, "hello\n"));
  absl::StatusOr<int> code = (*p)->Stop(SIGTERM, absl::Seconds(10));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 7);
  EXPECT_FALSE((*p)->Running());
  EXPECT_EQ(ReadLog(log), "hello\nbye\n");
  std::remove(log.c_str());
}

TEST(BackgroundProcess, IgnoredSignalEndsInSigkill) {
  const std::string log =
      absl::StrCat(::testing::TempDir(), "/bg2_", getpid(), ".log");
  std::remove(log.c_str());
  absl::StatusOr<std::unique_ptr<BackgroundProcess>> p =
      BackgroundProcess::Start({"/bin/sh", "-c",
                                "trap '' TERM; echo ignoring; "
                                "while true; do sleep 0.05; done"},
                               log);
  ASSERT_TRUE(p.ok()) << p.status();
  ASSERT_TRUE(WaitForLog(log, "ignoring\n"));  // SIGTERM is ignored now.
  absl::StatusOr<int> code = (*p)->Stop(SIGTERM, absl::Milliseconds(300));
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 128 + SIGKILL);
  std::remove(log.c_str());
}

}  // namespace
}  // namespace perf
}  // namespace hashmatch
