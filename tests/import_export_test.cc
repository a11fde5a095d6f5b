// End-to-end tests of `hashmatch import|export` (the binary, HASHMATCH_BINARY):
// offline export from a real store, validation of bad files (exit 1, every
// bad line listed, nothing submitted), and import/export over gRPC against
// FakeIngestService below: an in-process IngestService (Submit and
// ExportEntries only) backed by a real HashStore, that can be told to fail a
// Submit so an interrupted import can be re-run. The test against the real
// ingest_server lives in ingest_server's tests once it lands.
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "index/store/hash_store.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "src/hashlist/hash_list_format.h"
#include "tests/run_binary.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using ::testing::HasSubstr;
using testing_util::RunResult;

RunResult Hashmatch(const std::vector<std::string>& args) {
  return testing_util::RunBinary(HASHMATCH_BINARY, args);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << data;
}

std::string Hex64(int i) {
  return absl::StrCat(std::string(48, 'c'), absl::Hex(i, absl::kZeroPad16));
}

// A CSV of n PDQ rows; every third row has no external id.
std::string PdqCsv(int n) {
  std::string csv = "signal_type,signal_value,external_id,quality,note\n";
  for (int i = 0; i < n; ++i) {
    absl::StrAppend(&csv, "pdq,", Hex64(i), ",",
                    i % 3 == 0 ? "" : absl::StrCat("x", i), ",", i % 101,
                    ",row ", i, "\n");
  }
  return csv;
}

// Submit + ExportEntries over a real HashStore, as agency "agency-a".
class FakeIngestService final : public v1::IngestService::Service {
 public:
  explicit FakeIngestService(HashStore* store) : store_(store) {}

  // The next Submit calls fail with UNAVAILABLE after `ok_calls` succeed
  // (-1: never fail).
  void FailAfter(int ok_calls) { fail_after_ = ok_calls; }
  int submit_calls() const { return submit_calls_; }

  grpc::Status Submit(grpc::ServerContext*, const v1::SubmitRequest* request,
                      v1::SubmitResponse* response) override {
    const int call = submit_calls_++;
    if (fail_after_ >= 0 && call >= fail_after_) {
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "injected failure");
    }
    std::vector<v1::Entry> entries;
    for (const v1::Submission& s : request->submissions()) {
      v1::Entry& e = entries.emplace_back();
      e.set_signal_type(s.hash().signal_type());
      e.set_hash(s.hash().raw());
      if (s.hash().has_quality()) e.set_quality(s.hash().quality());
      e.set_source_agency("agency-a");
      e.set_external_id(s.external_id());
      e.set_classification(s.classification());
      e.set_note(s.note());
      e.set_state(v1::VETTING_STATE_ACTIVE);
    }
    absl::StatusOr<std::vector<v1::Entry>> stored = store_->Put(entries);
    if (!stored.ok()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                          std::string(stored.status().message()));
    }
    for (v1::Entry& e : *stored) *response->add_entries() = std::move(e);
    response->set_sequence(store_->LastSequence());
    return grpc::Status::OK;
  }

  grpc::Status ExportEntries(grpc::ServerContext*,
                             const v1::ExportEntriesRequest* request,
                             grpc::ServerWriter<v1::Entry>* writer) override {
    absl::StatusOr<uint64_t> seq =
        store_->ForEachEntry(0, [&](const v1::Entry& e) {
          if (EntryMatchesFilter(request->filter(), e)) writer->Write(e);
          return absl::OkStatus();
        });
    return seq.ok() ? grpc::Status::OK
                    : grpc::Status(grpc::StatusCode::INTERNAL, "store");
  }

 private:
  HashStore* store_;
  std::atomic<int> fail_after_{-1};
  std::atomic<int> submit_calls_{0};
};

class ImportExportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/import_export_test_", getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  std::unique_ptr<HashStore> OpenStore(const std::string& name) {
    StoreOptions options;
    options.sync = false;
    auto store = HashStore::Open(options, absl::StrCat(dir_, "/", name));
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // Starts a FakeIngestService over a new store `name`; returns its address.
  std::string StartServer(const std::string& name) {
    store_ = OpenStore(name);
    service_ = std::make_unique<FakeIngestService>(store_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    EXPECT_NE(port, 0);
    return absl::StrCat("127.0.0.1:", port);
  }

  std::string Path(const std::string& name) {
    return absl::StrCat(dir_, "/", name);
  }

  std::string dir_;
  std::unique_ptr<HashStore> store_;
  std::unique_ptr<FakeIngestService> service_;
  std::unique_ptr<grpc::Server> server_;
};

std::vector<v1::Entry> AllEntries(const HashStore& store) {
  std::vector<v1::Entry> out;
  EXPECT_TRUE(store
                  .ForEachEntry(0,
                                [&](const v1::Entry& e) {
                                  out.push_back(e);
                                  return absl::OkStatus();
                                })
                  .ok());
  return out;
}

TEST_F(ImportExportTest, OfflineLosslessExportRoundTripsTheStoreBitForBit) {
  std::unique_ptr<HashStore> store = OpenStore("store");
  std::vector<v1::Entry> in(3);
  for (int i = 0; i < 3; ++i) {
    in[i].set_signal_type(i == 2 ? v1::SIGNAL_TYPE_MD5 : v1::SIGNAL_TYPE_PDQ);
    in[i].set_hash(std::string(i == 2 ? 16 : 32, static_cast<char>(i + 1)));
    in[i].set_quality(i * 40);
    in[i].set_source_agency("hotline-a");
    in[i].set_external_id(absl::StrCat("e,\"", i));
    in[i].set_classification("A1");
    in[i].set_note("line\nbreak");
    in[i].set_state(v1::VETTING_STATE_ACTIVE);
    in[i].add_endorsements()->set_agency("hotline-a");
  }
  auto stored = store->Put(in);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_TRUE(store->Retract((*stored)[1].id(), "hotline-a", "mistake").ok());
  const std::vector<v1::Entry> want = AllEntries(*store);

  // Works while this process holds the store (read-only open).
  RunResult r = Hashmatch({"export", "--db", Path("store"), "--format",
                           "hashmatch", "--out", Path("all.hml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("3 entries (hashmatch)"));
  EXPECT_EQ(r.out, "");
  ParseResult parsed =
      ParseHashList(ReadFile(Path("all.hml")), HashListFormat::kHashmatch, {});
  ASSERT_TRUE(parsed.errors.empty()) << parsed.errors[0].message;
  ASSERT_EQ(parsed.entries.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(parsed.entries[i].entry.SerializeAsString(),
              want[i].SerializeAsString());
  }
  EXPECT_EQ(parsed.entries[1].entry.state(), v1::VETTING_STATE_RETRACTED);

  // Filters; stdout.
  r = Hashmatch({"export", "--db", Path("store"), "--format", "csv", "--states",
                 "active", "--signal_types", "pdq"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string hex01;
  for (int i = 0; i < 32; ++i) hex01 += "01";
  EXPECT_TRUE(absl::StrContains(
      r.out, absl::StrCat("\npdq,", hex01, ",\"e,\"\"0\",,A1,\"line\nbreak\",",
                          want[0].id(), ",hotline-a,active,")))
      << r.out;
  ParseResult csv = ParseHashList(r.out, HashListFormat::kCsv, {});
  ASSERT_TRUE(csv.errors.empty()) << csv.errors[0].message;
  ASSERT_EQ(csv.entries.size(), 1u);  // The tombstone and the md5 filtered.
  EXPECT_EQ(csv.entries[0].entry.external_id(), "e,\"0");

  // A dry-run import of the lossless export skips the tombstone.
  r = Hashmatch(
      {"import", "--format", "hashmatch", "--dry_run", Path("all.hml")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("2 entries valid (3 rows, 1 retracted entries "
                               "skipped); nothing submitted (--dry_run)"));
}

TEST_F(ImportExportTest, ExportErrorsLeaveNoFile) {
  RunResult r = Hashmatch({"export", "--db", Path("missing"), "--format", "csv",
                           "--out", Path("x.csv")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
  EXPECT_FALSE(std::filesystem::exists(Path("x.csv")));
  const std::string addr = StartServer("s");
  r = Hashmatch({"export", "--server", addr, "--format", "csv", "--out",
                 Path("no/such/dir/x.csv")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cannot create"));
  r = Hashmatch(
      {"export", "--server", addr, "--db", Path("s"), "--format", "csv"});
  EXPECT_EQ(r.exit_code, 2);
  r = Hashmatch({"export", "--server", addr, "--format", "xml"});
  EXPECT_EQ(r.exit_code, 2);
  r = Hashmatch({"export", "--server", addr, "--format", "csv",
                 "--updated_since", "yesterday"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--updated_since"));
}

TEST_F(ImportExportTest, BadFileListsEveryBadLineAndSubmitsNothing) {
  const std::string addr = StartServer("s");
  std::string csv = PdqCsv(10);
  absl::StrAppend(&csv, "pdq,abc,short,,\n", "md5,", std::string(32, 'g'),
                  ",nothex,,\n", "pdq,", Hex64(1), ",x1,,dup\n");
  WriteFile(Path("bad.csv"), csv);
  RunResult r = Hashmatch(
      {"import", "--server", addr, "--format", "csv", Path("bad.csv")});
  EXPECT_EQ(r.exit_code, 1);
  const std::string p = Path("bad.csv");
  EXPECT_THAT(r.err, HasSubstr(p + ":12: signal_value: a pdq hash has 64 hex "
                                   "digits, got 3"));
  EXPECT_THAT(
      r.err, HasSubstr(p + ":13: signal_value: not a hex digit at position 1"));
  EXPECT_THAT(r.err, HasSubstr(p + ":14: duplicate external_id \"x1\" (first "
                                   "on line 3)"));
  EXPECT_THAT(r.err, HasSubstr("3 error(s) in 13 rows; nothing was submitted"));
  EXPECT_EQ(service_->submit_calls(), 0);
  EXPECT_EQ(store_->LastSequence(), 0u);

  // The error cap, the row limit and the file size limit (flags).
  r = Hashmatch({"import", "--dry_run", "--format", "csv", "--max_errors", "1",
                 Path("bad.csv")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("3 error(s) (the first 1 shown, --max_errors)"));
  WriteFile(Path("good.csv"), PdqCsv(5));
  r = Hashmatch({"import", "--dry_run", "--format", "csv", "--max_rows", "4",
                 Path("good.csv")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr(":6: more than 4 rows (the row limit)"));
  r = Hashmatch({"import", "--dry_run", "--format", "csv", "--max_file_bytes",
                 "100", Path("good.csv")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_THAT(r.err, HasSubstr("--max_file_bytes"));
  // Empty file.
  WriteFile(Path("empty.csv"), "");
  r = Hashmatch({"import", "--dry_run", "--format", "csv", Path("empty.csv")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("empty.csv:1: empty file"));
  EXPECT_EQ(service_->submit_calls(), 0);
}

TEST_F(ImportExportTest, BatchesAndAnInterruptedImportCompletesOnRerun) {
  const std::string addr = StartServer("s");
  WriteFile(Path("list.csv"), PdqCsv(1200));
  service_->FailAfter(1);
  RunResult r = Hashmatch({"import", "--server", addr, "--format", "csv",
                           "--batch_size", "500", Path("list.csv")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("Submit of entries 501..1000 failed: "
                               "UNAVAILABLE: injected failure"));
  EXPECT_THAT(r.err, HasSubstr("500 of 1200 entries were stored before the "
                               "failure; run the same command again"));
  EXPECT_EQ(AllEntries(*store_).size(), 500u);

  service_->FailAfter(-1);
  r = Hashmatch({"import", "--server", addr, "--format", "csv", "--batch_size",
                 "500", Path("list.csv")});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("1200 entries submitted in 3 batches"));
  const std::vector<v1::Entry> entries = AllEntries(*store_);
  ASSERT_EQ(entries.size(), 1200u);  // No duplicates.
  EXPECT_EQ(entries[0].external_id(), "pdq:" + Hex64(0));
  EXPECT_EQ(entries[1].external_id(), "x1");
  EXPECT_EQ(entries[1].quality(), 1);
  EXPECT_EQ(entries[1].note(), "row 1");
}

TEST_F(ImportExportTest, LosslessExportImportExportRoundTrip) {
  const std::string addr = StartServer("a");
  WriteFile(
      Path("list.jsonl"),
      absl::StrCat("{\"signal_type\":\"pdq\",\"signal_value\":\"", Hex64(7),
                   "\",\"external_id\":\"j7\",\"quality\":88,"
                   "\"classification\":\"B\",\"note\":\"n\\u00e9\"}\n",
                   "{\"signal_type\":\"md5\",\"signal_value\":\"",
                   std::string(32, 'f'), "\"}\n"));
  RunResult r = Hashmatch(
      {"import", "--server", addr, "--format", "jsonl", Path("list.jsonl")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Hashmatch({"export", "--server", addr, "--format", "hashmatch", "--out",
                 Path("a.hml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Offline export of the same store gives the same bytes.
  r = Hashmatch({"export", "--db", Path("a"), "--format", "hashmatch", "--out",
                 Path("a-offline.hml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(Path("a.hml")), ReadFile(Path("a-offline.hml")));

  // Into a fresh server, and out again.
  server_->Shutdown();
  const std::string addr_b = StartServer("b");
  r = Hashmatch(
      {"import", "--server", addr_b, "--format", "hashmatch", Path("a.hml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  r = Hashmatch({"export", "--server", addr_b, "--format", "hashmatch", "--out",
                 Path("b.hml")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ParseResult a =
      ParseHashList(ReadFile(Path("a.hml")), HashListFormat::kHashmatch, {});
  ParseResult b =
      ParseHashList(ReadFile(Path("b.hml")), HashListFormat::kHashmatch, {});
  ASSERT_EQ(a.entries.size(), 2u);
  ASSERT_EQ(b.entries.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    // Identical except the times the new store assigned.
    v1::Entry ea = a.entries[i].entry;
    v1::Entry eb = b.entries[i].entry;
    EXPECT_NE(ea.created_at_micros(), 0);
    for (v1::Entry* e : {&ea, &eb}) {
      e->clear_created_at_micros();
      e->clear_updated_at_micros();
    }
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(ea, eb))
        << ea.DebugString() << "\n"
        << eb.DebugString();
  }
  EXPECT_EQ(b.entries[0].entry.note(), "n\xC3\xA9");
  EXPECT_EQ(b.entries[1].entry.external_id(), "md5:" + std::string(32, 'f'));
}

}  // namespace
}  // namespace hashmatch
