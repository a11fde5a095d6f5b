// Issue 14, defect 6, with real processes: what ingest_server, match_server
// and the hashmatch CLI create for data, tokens and keys is owner-only
// (directories 0700, files 0600) under a permissive umask, which the
// children inherit from this test (022, the usual default, and 000). Before
// the fix, match_server's --db and --report_queue were 0755 directories of
// 0644 files (the hash list, and queued reports with platforms' content
// references), index snapshots and the audit log 0644, and the README's
// `hashmatch admin principal add ... > x.token` left a 0644 token file;
// `add --out FILE` writes the token to a new 0600 file instead.
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "proto/hashmatch/v1/match.grpc.pb.h"
#include "tests/follower_process.h"
#include "tests/ingest_server_process.h"
#include "tests/run_binary.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using testing_util::FollowerProcess;
using testing_util::IngestServerProcess;
using testing_util::RunBinary;
using testing_util::RunResult;

class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  const mode_t old_;
};

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode;
}

// Every directory under `root` (and `root`) is 0700 and every file 0600,
// except public keys (*.pub, 0644 by design: they are given to auditors).
// Returns the number of files checked.
int ExpectOwnerOnly(const std::string& root) {
  int files = 0;
  EXPECT_TRUE(std::filesystem::is_directory(root)) << root;
  if (!std::filesystem::is_directory(root)) return 0;
  EXPECT_EQ(ModeOf(root) & 07777, 0700u) << root;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    const std::string path = e.path().string();
    const mode_t mode = ModeOf(path);
    if (S_ISDIR(mode)) {
      EXPECT_EQ(mode & 07777, 0700u) << path;
      continue;
    }
    ++files;
    EXPECT_TRUE(S_ISREG(mode)) << path;
    const mode_t want = absl::EndsWith(path, ".pub") ? 0644 : 0600;
    EXPECT_EQ(mode & 07777, want) << path;
  }
  return files;
}

class FileModesTest : public ::testing::TestWithParam<mode_t> {};

TEST_P(FileModesTest, DataTokenAndKeyFilesAreOwnerOnly) {
  ScopedUmask mask(GetParam());
  testing_util::TempDir dir("file_modes_test");
  ASSERT_FALSE(dir.path().empty());
  const std::string root = dir.path();

  // ingest_server: DATA (principals, store, reports, audit log and its
  // generated signing key).
  std::filesystem::create_directories(root + "/ingest");
  IngestServerProcess ingest(root + "/ingest");
  ASSERT_TRUE(ingest.Start().ok()) << ingest.process().Stderr();
  const std::string root_token = root + "/ingest/root.token";

  // Tokens from `hashmatch admin principal add --out FILE`.
  auto add = [&](const std::string& name, const std::string& role,
                 const std::string& out) {
    return RunBinary(
        HASHMATCH_BINARY,
        {"admin", "principal", "add", name, "--role", role, "--server",
         ingest.address(), "--token_file", root_token, "--out", out});
  };
  const std::string agency_file = root + "/agency-a.token";
  RunResult r = add("agency-a", "agency", agency_file);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");  // The token is only in the file.
  EXPECT_TRUE(absl::StrContains(r.err, "its token is in " + agency_file))
      << r.err;
  EXPECT_EQ(ModeOf(agency_file) & 07777, 0600u);
  const std::string agency = std::string(
      absl::StripAsciiWhitespace(testing_util::ReadWholeFile(agency_file)));
  ASSERT_FALSE(agency.empty());
  // An existing FILE is refused before the principal is added (its token
  // would be lost), and is left as it was.
  r = add("agency-b", "agency", agency_file);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_TRUE(absl::StrContains(r.err, "already exists; not overwriting it"))
      << r.err;
  EXPECT_EQ(std::string(absl::StripAsciiWhitespace(
                testing_util::ReadWholeFile(agency_file))),
            agency);
  r = RunBinary(HASHMATCH_BINARY,
                {"admin", "principal", "list", "--server", ingest.address(),
                 "--token_file", root_token});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(absl::StrContains(r.out, "agency-b")) << r.out;
  // The token works.
  std::mt19937_64 rng(61);
  const std::string pdq = testing_util::RandomPdq(rng);
  ASSERT_NE(ingest.Submit(agency, "e1", pdq), 0u);
  const std::string replica_file = root + "/replica.token";
  r = add("ms-1", "replica", replica_file);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ModeOf(replica_file) & 07777, 0600u);
  const std::string replica = std::string(
      absl::StripAsciiWhitespace(testing_util::ReadWholeFile(replica_file)));
  // With --json the response is printed without the token.
  const std::string auditor_file = root + "/auditor.token";
  r = RunBinary(HASHMATCH_BINARY,
                {"admin", "principal", "add", "auditor-1", "--role", "auditor",
                 "--server", ingest.address(), "--token_file", root_token,
                 "--out", auditor_file, "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "auditor-1")) << r.out;
  const std::string auditor = std::string(
      absl::StripAsciiWhitespace(testing_util::ReadWholeFile(auditor_file)));
  ASSERT_FALSE(auditor.empty());
  EXPECT_FALSE(absl::StrContains(r.out, auditor)) << r.out;
  EXPECT_EQ(ModeOf(auditor_file) & 07777, 0600u);

  // match_server --follow: --db, --report_queue, --snapshot_dir (saved at
  // drain).
  FollowerProcess ms(root + "/ms", ingest.address(), replica);
  ms.extra_args = {"--report_to",         ingest.address(),
                   "--report_queue",      root + "/ms/queue",
                   "--report_token_file", replica_file,
                   "--snapshot_dir",      root + "/ms/snapshots/index"};
  ASSERT_TRUE(ms.Start().ok()) << ms.process().Stderr();
  ASSERT_TRUE(ms.WaitServing()) << ms.process().Stderr();
  ASSERT_TRUE(ms.WaitVerdict(pdq, v1::VERDICT_MATCH));
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < end &&
         ms.Metric("delivered", "hashmatch_reports") < 1) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_GE(ms.Metric("delivered", "hashmatch_reports"), 1);
  EXPECT_EQ(ms.process().Stop(SIGTERM), 0) << ms.process().Stderr();

  // Exports of the hash list and of the reports.
  r = RunBinary(HASHMATCH_BINARY,
                {"export", "--db", root + "/ms/db", "--format", "csv", "--out",
                 root + "/export.csv"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ModeOf(root + "/export.csv") & 07777, 0600u);
  r = RunBinary(
      HASHMATCH_BINARY,
      {"reports", "export", "--server", ingest.address(), "--token_file",
       auditor_file, "--format", "jsonl", "--out", root + "/reports.jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ModeOf(root + "/reports.jsonl") & 07777, 0600u);
  EXPECT_FALSE(testing_util::ReadWholeFile(root + "/reports.jsonl").empty());
  EXPECT_EQ(ingest.process().Stop(SIGTERM), 0) << ingest.process().Stderr();

  // DATA: principals, store, reports, audit (log, signing key).
  EXPECT_GE(ExpectOwnerOnly(root + "/ingest/data"), 12);
  EXPECT_EQ(ModeOf(root + "/ingest/data/audit/signing.key") & 07777, 0600u);
  EXPECT_EQ(ModeOf(root + "/ingest/root.token") & 07777, 0600u);
  EXPECT_GE(ExpectOwnerOnly(root + "/ms/db"), 5);
  EXPECT_GE(ExpectOwnerOnly(root + "/ms/queue"), 5);
  // --snapshot_dir's missing parents are created 0700 too.
  EXPECT_GE(ExpectOwnerOnly(root + "/ms/snapshots"), 1);
  EXPECT_FALSE(std::filesystem::is_empty(root + "/ms/snapshots/index"));
}

INSTANTIATE_TEST_SUITE_P(Umasks, FileModesTest,
                         ::testing::Values(mode_t{022}, mode_t{0}),
                         [](const ::testing::TestParamInfo<mode_t>& info) {
                           return "umask_0" + std::to_string(info.param / 8) +
                                  std::to_string(info.param % 8);
                         });

}  // namespace
}  // namespace hashmatch
