// `hashmatch import|export` against real ingest_server processes on
// loopback: a lossless export from one server imported into a fresh one and
// exported again is the same list (except the times the new server sets); a
// file with bad rows exits 1 with every bad line listed and stores nothing;
// a caller without the agency role gets PERMISSION_DENIED.
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/hashlist/hash_list_format.h"
#include "tests/run_binary.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using ::testing::HasSubstr;
using testing_util::RunResult;

RunResult Hashmatch(const std::vector<std::string>& args) {
  return testing_util::RunBinary(HASHMATCH_BINARY, args);
}

// One ingest_server with a bootstrap admin, in its own data directory.
class IngestServer {
 public:
  explicit IngestServer(const std::string& dir) : dir_(dir) {}

  void Start() {
    ASSERT_TRUE(server_
                    .Start(INGEST_SERVER_BINARY,
                           {"--data", dir_ + "/data", "--listen", "127.0.0.1:0",
                            "--port_file", dir_ + "/port", "--metrics_listen",
                            "127.0.0.1:0", "--bootstrap_admin", "root",
                            "--bootstrap_token_file", dir_ + "/root.token",
                            "--drain_seconds", "5"},
                           dir_)
                    .ok());
    absl::StatusOr<int> port = server_.WaitForPortFile(dir_ + "/port");
    ASSERT_TRUE(port.ok()) << port.status() << server_.Stderr();
    address_ = absl::StrCat("127.0.0.1:", *port);
    root_token_ = std::string(absl::StripAsciiWhitespace(
        testing_util::ReadWholeFile(dir_ + "/root.token")));
    ASSERT_FALSE(root_token_.empty());
  }

  // Adds a principal with one role; returns its token.
  std::string AddPrincipal(const std::string& name, v1::Role role) {
    v1::AddPrincipalRequest request;
    request.mutable_principal()->set_name(name);
    request.mutable_principal()->add_roles(role);
    request.set_issue_token(true);
    v1::AddPrincipalResponse response;
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + root_token_);
    auto channel =
        grpc::CreateChannel(address_, grpc::InsecureChannelCredentials());
    grpc::Status s = v1::AdminService::NewStub(channel)->AddPrincipal(
        &context, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return response.token();
  }

  const std::string& address() const { return address_; }
  testing_util::ServerProcess& process() { return server_; }

 private:
  std::string dir_;
  std::string address_;
  std::string root_token_;
  testing_util::ServerProcess server_;
};

std::string Hex64(int i) {
  return absl::StrCat(std::string(48, 'd'), absl::Hex(i, absl::kZeroPad16));
}

class ImportExportServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* sub : {"/a", "/b"}) {
      std::filesystem::create_directories(dir_.path() + sub);
    }
  }
  std::string Path(const std::string& name) { return dir_.path() + "/" + name; }

  testing_util::TempDir dir_{"import_export_server_test"};
};

ParseResult ParseFile(const std::string& path) {
  return ParseHashList(testing_util::ReadWholeFile(path),
                       HashListFormat::kHashmatch, {});
}

TEST_F(ImportExportServerTest, LosslessRoundTripBetweenTwoServers) {
  IngestServer a(Path("a"));
  ASSERT_NO_FATAL_FAILURE(a.Start());
  const std::string token_a = a.AddPrincipal("hotline-a", v1::ROLE_AGENCY);
  std::string csv =
      "signal_type,signal_value,external_id,quality,"
      "classification,note\n";
  for (int i = 0; i < 1200; ++i) {
    absl::StrAppend(&csv, "pdq,", Hex64(i), ",",
                    i % 4 == 0 ? "" : absl::StrCat("case-", i), ",", i % 101,
                    ",A", i % 3, ",\"note, ", i, "\"\n");
  }
  absl::StrAppend(&csv, "md5,", std::string(32, 'e'), ",m1,,B,\n", "sha256,",
                  std::string(64, 'f'), ",,,,\n");
  ASSERT_TRUE(testing_util::WriteWholeFile(Path("list.csv"), csv));
  RunResult r = Hashmatch({"import", "--server", a.address(), "--token",
                           token_a, "--format", "csv", Path("list.csv")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("1202 entries submitted in 3 batches"));
  // Idempotent: the same file again changes nothing.
  r = Hashmatch({"import", "--server", a.address(), "--token", token_a,
                 "--format", "csv", Path("list.csv")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Hashmatch({"export", "--server", a.address(), "--token", token_a,
                 "--format", "hashmatch", "--out", Path("a.hml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("1202 entries (hashmatch)"));

  IngestServer b(Path("b"));
  ASSERT_NO_FATAL_FAILURE(b.Start());
  const std::string token_b = b.AddPrincipal("hotline-a", v1::ROLE_AGENCY);
  r = Hashmatch({"import", "--server", b.address(), "--token", token_b,
                 "--format", "hashmatch", Path("a.hml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Hashmatch({"export", "--server", b.address(), "--token", token_b,
                 "--format", "hashmatch", "--out", Path("b.hml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  ParseResult pa = ParseFile(Path("a.hml"));
  ParseResult pb = ParseFile(Path("b.hml"));
  ASSERT_TRUE(pa.errors.empty());
  ASSERT_TRUE(pb.errors.empty());
  ASSERT_EQ(pa.entries.size(), 1202u);
  ASSERT_EQ(pb.entries.size(), pa.entries.size());
  for (size_t i = 0; i < pa.entries.size(); ++i) {
    // Identical except the times the new server set (documented).
    v1::Entry ea = pa.entries[i].entry;
    v1::Entry eb = pb.entries[i].entry;
    for (v1::Entry* e : {&ea, &eb}) {
      e->clear_created_at_micros();
      e->clear_updated_at_micros();
      for (v1::Endorsement& en : *e->mutable_endorsements()) {
        en.clear_at_micros();
      }
    }
    ASSERT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ea, eb))
        << i << "\n"
        << ea.DebugString() << "\n"
        << eb.DebugString();
  }
  EXPECT_EQ(pb.entries[0].entry.external_id(), "pdq:" + Hex64(0));
  EXPECT_EQ(pb.entries[1].entry.note(), "note, 1");
  EXPECT_EQ(pb.entries[1].entry.state(), v1::VETTING_STATE_ACTIVE);
  EXPECT_EQ(a.process().Stop(), 0);
  EXPECT_EQ(b.process().Stop(), 0);
}

TEST_F(ImportExportServerTest, BadRowsStoreNothingAndRolesAreChecked) {
  IngestServer a(Path("a"));
  ASSERT_NO_FATAL_FAILURE(a.Start());
  const std::string agency = a.AddPrincipal("hotline-a", v1::ROLE_AGENCY);
  const std::string auditor = a.AddPrincipal("audit-1", v1::ROLE_AUDITOR);
  std::string jsonl;
  for (int i = 0; i < 20; ++i) {
    absl::StrAppend(&jsonl, "{\"signal_type\":\"pdq\",\"signal_value\":\"",
                    Hex64(i), "\"}\n");
  }
  absl::StrAppend(&jsonl,
                  "{\"signal_type\":\"pdq\",\"signal_value\":\"xyz\"}\n",
                  "{\"signal_type\":\"tmk\",\"signal_value\":\"", Hex64(99),
                  "\"}\n", "{\"signal_type\":\"pdq\",\"signal_value\":\"",
                  Hex64(3), "\",\"quality\":7}\n");
  ASSERT_TRUE(testing_util::WriteWholeFile(Path("bad.jsonl"), jsonl));
  RunResult r = Hashmatch({"import", "--server", a.address(), "--token", agency,
                           "--format", "jsonl", Path("bad.jsonl")});
  EXPECT_EQ(r.exit_code, 1);
  const std::string p = Path("bad.jsonl");
  EXPECT_THAT(r.err, HasSubstr(p + ":21: signal_value: a pdq hash has 64"));
  EXPECT_THAT(r.err, HasSubstr(p + ":22: unknown signal_type \"tmk\""));
  EXPECT_THAT(r.err, HasSubstr(p + ":23: duplicate external_id \"pdq:" +
                               Hex64(3) + "\" (first on line 4)"));
  EXPECT_THAT(r.err, HasSubstr("3 error(s) in 23 rows; nothing was submitted"));
  r = Hashmatch({"export", "--server", a.address(), "--token", agency,
                 "--format", "jsonl"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");  // Nothing stored.
  EXPECT_THAT(r.err, HasSubstr("0 entries (jsonl)"));

  // Only agencies submit; an auditor may export.
  jsonl.resize(jsonl.find("{\"signal_type\":\"pdq\",\"signal_value\":\"xyz"));
  ASSERT_TRUE(testing_util::WriteWholeFile(Path("good.jsonl"), jsonl));
  r = Hashmatch({"import", "--server", a.address(), "--token", auditor,
                 "--format", "jsonl", Path("good.jsonl")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("PERMISSION_DENIED"));
  r = Hashmatch({"import", "--server", a.address(), "--format", "jsonl",
                 Path("good.jsonl")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("UNAUTHENTICATED"));
  r = Hashmatch({"import", "--server", a.address(), "--token", agency,
                 "--format", "jsonl", Path("good.jsonl")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Hashmatch({"export", "--server", a.address(), "--token", auditor,
                 "--format", "csv", "--states", "active"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("20 entries (csv)"));
  EXPECT_EQ(a.process().Stop(), 0);
}

}  // namespace
}  // namespace hashmatch
