// `hashmatch entry` against a real ingest_server: the curation workflow an
// agency and a platform run from the command line (quorum, confirm, dispute
// with suspension, resolution, retraction of one's own entry only), paging
// under --max_page_size, a reason over --max_note_bytes, and usage errors.
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "tests/ingest_server_process.h"
#include "tests/run_binary.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using testing_util::IngestServerProcess;
using testing_util::RunBinary;
using testing_util::RunResult;

std::string Pdq(char seed) { return std::string(32, seed); }

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  for (absl::string_view l : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    lines.emplace_back(l);
  }
  return lines;
}

std::vector<std::string> Fields(const std::string& line) {
  return absl::StrSplit(line, '\t');
}

class EntryCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/entry_command_test_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  RunResult Entry(const std::string& token, std::vector<std::string> args) {
    args.insert(args.begin(), "entry");
    args.insert(args.end(), {"--server", ingest_->address(), "--token", token});
    return RunBinary(HASHMATCH_BINARY, args);
  }

  std::string dir_;
  std::unique_ptr<IngestServerProcess> ingest_;
};

TEST_F(EntryCommandTest, CurationWorkflowFromTheCommandLine) {
  ingest_ = std::make_unique<IngestServerProcess>(dir_);
  ASSERT_TRUE(
      ingest_
          ->Start(0, {"--quorum", "2", "--max_page_size", "2",
                      "--max_note_bytes", "32", "--allow_platform_suspend"})
          .ok());
  const std::string a = ingest_->AddPrincipal("agency-a", v1::ROLE_AGENCY);
  const std::string b = ingest_->AddPrincipal("agency-b", v1::ROLE_AGENCY);
  const std::string p = ingest_->AddPrincipal("platform-p", v1::ROLE_PLATFORM);
  std::vector<uint64_t> ids;
  for (char c : {'\x11', '\x22', '\x33'}) {
    ids.push_back(ingest_->Submit(a, absl::StrCat("ext-", int{c}), Pdq(c), "A1",
                                  v1::VETTING_STATE_PENDING));
  }
  ASSERT_NE(ids[0], 0u);

  // One page of 2 (the server's maximum) and the token on stderr; --all
  // follows it; a larger page is refused by the server.
  RunResult r = Entry(a, {"list", "--state", "pending"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = Lines(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_NE(r.err.find("next_page_token: "), std::string::npos) << r.err;
  std::vector<std::string> f = Fields(lines[0]);
  ASSERT_EQ(f.size(), 10u) << lines[0];
  EXPECT_EQ(f[0], absl::StrCat(ids[0]));
  EXPECT_EQ(f[1], "pdq");
  EXPECT_EQ(f[2], std::string(64, '1'));
  EXPECT_EQ(f[3], "pending");
  EXPECT_EQ(f[4], "agency-a");
  EXPECT_EQ(f[5], "ext-17");
  EXPECT_EQ(f[6], "A1");
  EXPECT_EQ(f[7], "agency-a");
  EXPECT_EQ(f[8], "0/0");
  r = Entry(a, {"list", "--state", "pending", "--all"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Lines(r.out).size(), 3u) << r.out;
  r = Entry(a, {"list", "--page_size", "3"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("INVALID_ARGUMENT"), std::string::npos) << r.err;
  r = Entry(a, {"list", "--state", "active"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;

  // The second agency's confirmation reaches the quorum of 2.
  r = Entry(b, {"confirm", absl::StrCat(ids[0]), "--note", "seen it too"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  f = Fields(Lines(r.out)[0]);
  EXPECT_EQ(f[3], "active");
  EXPECT_EQ(f[7], "agency-a,agency-b");
  EXPECT_NE(r.out.find("  endorsed\tagency-b\t"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("seen it too"), std::string::npos) << r.out;

  // A platform disputes and suspends it; the owner rejects the dispute.
  r = Entry(p, {"dispute", absl::StrCat(ids[0]), "--reason", "a cat photo",
                "--content_ref", "upload-9", "--suspend"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  f = Fields(Lines(r.out)[0]);
  EXPECT_EQ(f[3], "disputed");
  EXPECT_EQ(f[8], "1/1");
  EXPECT_NE(r.out.find("a cat photo\tupload-9\tsuspended\topen"),
            std::string::npos)
      << r.out;
  r = Entry(a, {"resolve", absl::StrCat(ids[0]), "--outcome", "rejected",
                "--resolution", "verified by two analysts"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  f = Fields(Lines(r.out)[0]);
  EXPECT_EQ(f[3], "active");
  EXPECT_EQ(f[8], "0/1");
  EXPECT_NE(r.out.find("rejected by agency-a"), std::string::npos) << r.out;

  // Get by id and by (agency, external id), as text and JSON.
  r = Entry(b, {"get", absl::StrCat(ids[0])});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Fields(Lines(r.out)[0])[3], "active");
  r = Entry(
      b, {"get", "--agency", "agency-a", "--external_id", "ext-34", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(absl::StrCat("\"id\":\"", ids[1], "\"")),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"state\":\"VETTING_STATE_PENDING\""),
            std::string::npos)
      << r.out;
  r = Entry(b, {"get", "999"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("NOT_FOUND"), std::string::npos) << r.err;

  // Retraction: only by the owner, with a reason within --max_note_bytes.
  r = Entry(b, {"retract", absl::StrCat(ids[0]), "--reason", "not mine"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("PERMISSION_DENIED"), std::string::npos) << r.err;
  r = Entry(
      a, {"retract", absl::StrCat(ids[0]), "--reason", std::string(33, 'x')});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("INVALID_ARGUMENT"), std::string::npos) << r.err;
  r = Entry(a, {"retract", absl::StrCat(ids[0]), "--reason", "mislabelled"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(Fields(Lines(r.out)[0])[3], "retracted");
  EXPECT_NE(r.out.find("  retracted\tagency-a\t"), std::string::npos) << r.out;
  EXPECT_NE(r.err.find("store sequence"), std::string::npos) << r.err;
  r = Entry(a, {"list", "--state", "retracted"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(Lines(r.out).size(), 1u) << r.out;
  EXPECT_EQ(Fields(Lines(r.out)[0])[0], absl::StrCat(ids[0]));

  // A platform may not confirm; no token at all is UNAUTHENTICATED.
  r = Entry(p, {"confirm", absl::StrCat(ids[1])});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("PERMISSION_DENIED"), std::string::npos) << r.err;
  r = RunBinary(HASHMATCH_BINARY,
                {"entry", "get", "1", "--server", ingest_->address()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("UNAUTHENTICATED"), std::string::npos) << r.err;
}

TEST_F(EntryCommandTest, UsageErrorsExitTwoBeforeAnyRpc) {
  // No server runs: each of these must fail in argument checking.
  const std::vector<std::vector<std::string>> cases = {
      {"entry"},
      {"entry", "frobnicate", "--server", "127.0.0.1:1"},
      {"entry", "get", "--server", "127.0.0.1:1"},
      {"entry", "get", "abc", "--server", "127.0.0.1:1"},
      {"entry", "get", "0", "--server", "127.0.0.1:1"},
      {"entry", "get", "--agency", "a", "--server", "127.0.0.1:1"},
      {"entry", "retract", "5", "--server", "127.0.0.1:1"},
      {"entry", "dispute", "5", "--server", "127.0.0.1:1"},
      {"entry", "resolve", "5", "--outcome", "maybe", "--resolution", "r",
       "--server", "127.0.0.1:1"},
      {"entry", "resolve", "5", "--outcome", "upheld", "--server",
       "127.0.0.1:1"},
      {"entry", "list", "--state", "gone", "--server", "127.0.0.1:1"},
      {"entry", "list", "--type", "sha1", "--server", "127.0.0.1:1"},
      {"entry", "list", "--page_size", "0", "--server", "127.0.0.1:1"},
      {"entry", "list", "7", "--server", "127.0.0.1:1"},
      {"entry", "get", "1"},
  };
  for (const std::vector<std::string>& args : cases) {
    RunResult r = RunBinary(HASHMATCH_BINARY, args);
    EXPECT_EQ(r.exit_code, 2) << absl::StrJoin(args, " ") << "\n" << r.err;
    EXPECT_NE(r.err.find("Usage:"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace hashmatch
