// Crash recovery: a child process appends to the log and reports each
// acknowledged index; it is killed with SIGKILL at some point; the parent
// reopens the log. Every acknowledged record must be there, the log must
// verify, and the chain must continue.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/audit/audit_log.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace audit {
namespace {

// Appends batches of `batch` events forever, writing the last index after
// each acknowledged Append to `fd`. Never returns.
[[noreturn]] void AppendForever(const std::string& dir, const SigningKey& key,
                                int batch, int fd) {
  AuditLogOptions options;
  options.signing_key = key;
  options.checkpoint_interval = 16;
  absl::StatusOr<std::unique_ptr<AuditLog>> log = AuditLog::Open(options, dir);
  if (!log.ok()) _exit(3);
  std::vector<ingest::AuditEvent> events(batch);
  for (uint64_t n = 0;; ++n) {
    for (int i = 0; i < batch; ++i) {
      events[i].actor = "hotline-a";
      events[i].action = "submit";
      events[i].target = absl::StrCat("entry:", n);
      // Large records make a torn final frame likely when the kill lands
      // inside a write.
      events[i].detail = std::string(3000, static_cast<char>('a' + n % 26));
    }
    if (!(*log)->Append(events).ok()) _exit(4);
    const uint64_t last = (*log)->last_index();
    if (::write(fd, &last, sizeof(last)) != sizeof(last)) _exit(5);
  }
}

TEST(AuditCrashTest, EveryAcknowledgedRecordSurvivesSigkill) {
  testing_util::TempDir dir("audit_crash_test");
  ASSERT_FALSE(dir.path().empty());
  const SigningKey key = *SigningKey::Generate();
  uint64_t torn_seen = 0;
  for (int round = 0; round < 6; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      AppendForever(dir.path(), key, 1 + round * 7, fds[1]);
    }
    ::close(fds[1]);
    // Let it acknowledge a few appends (a different number each round),
    // then kill it wherever it is.
    uint64_t acked = 0, value = 0;
    for (int i = 0; i < 20 + round * 13; ++i) {
      ASSERT_EQ(::read(fds[0], &value, sizeof(value)),
                static_cast<ssize_t>(sizeof(value)));
      acked = value;
    }
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << status;
    while (::read(fds[0], &value, sizeof(value)) ==
           static_cast<ssize_t>(sizeof(value))) {
      acked = value;
    }
    ::close(fds[0]);

    AuditLogOptions options;
    options.signing_key = key;
    options.checkpoint_interval = 16;
    absl::StatusOr<std::unique_ptr<AuditLog>> log =
        AuditLog::Open(options, dir.path());
    ASSERT_TRUE(log.ok()) << "round " << round << ": " << log.status();
    EXPECT_GE((*log)->last_index(), acked) << "round " << round;
    torn_seen += (*log)->open_info().torn_bytes > 0 ? 1 : 0;
    ASSERT_TRUE((*log)
                    ->Append({ingest::AuditEvent{"system", "restart", "", "",
                                                 "", 0, ""}})
                    .ok());
    ASSERT_TRUE((*log)->Close().ok());
    ChainVerifierOptions verify;
    verify.public_keys = {key.public_key()};
    verify.max_unsigned_tail = 0;
    absl::StatusOr<VerifyLogResult> r = VerifyAuditLogDir(dir.path(), verify);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->error.failure, VerifyFailure::kNone)
        << "round " << round << ": " << r->error.message;
  }
  // Not asserted (it depends on where the kills land), but reported.
  std::printf("rounds with a torn final frame: %llu of 6\n",
              static_cast<unsigned long long>(torn_seen));
}

}  // namespace
}  // namespace audit
}  // namespace hashmatch
