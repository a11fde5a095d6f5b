// ReportServiceImpl over a real ReportStore and a real HashStore (the vetted
// entries reports are checked against) and a gRPC server on loopback, called
// through the generated stub.
#include "src/ingest/report_service.h"

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "index/store/hash_store.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "tests/fake_authenticator.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace ingest {
namespace {

namespace v1 = ::hashmatch::v1;

v1::MatchReport Report(const std::string& key, const std::string& platform,
                       int64_t matched_at,
                       std::vector<std::pair<uint64_t, std::string>> matches) {
  v1::MatchReport r;
  r.set_report_key(key);
  r.set_platform(platform);
  r.set_content_ref("upload-" + key);
  r.set_matched_at_micros(matched_at);
  r.set_index_sequence(42);
  v1::ReportedHash* h = r.add_query_hashes();
  h->set_signal_type(v1::SIGNAL_TYPE_PDQ);
  h->set_hash(std::string(32, '\x5a'));
  for (const auto& [entry, agency] : matches) {
    v1::ReportedMatch* m = r.add_matches();
    m->set_entry_id(entry);
    m->set_signal_type(v1::SIGNAL_TYPE_PDQ);
    m->set_distance(3);
    m->set_source_agency(agency);
    m->set_classification("A1");
  }
  return r;
}

// An entry for the vetted store, with the id it has there.
v1::Entry StoreEntry(uint64_t id, const std::string& agency,
                     v1::VettingState state,
                     v1::SignalType signal = v1::SIGNAL_TYPE_PDQ) {
  v1::Entry e;
  e.set_id(id);
  e.set_signal_type(signal);
  e.set_hash(std::string(signal == v1::SIGNAL_TYPE_MD5 ? 16 : 32,
                         static_cast<char>(id)));
  e.set_source_agency(agency);
  e.set_external_id(absl::StrCat("x", id));
  e.set_classification("A1");
  e.set_state(state);
  if (state == v1::VETTING_STATE_RETRACTED) {
    e.mutable_retraction()->set_retracted_by(agency);
    e.mutable_retraction()->set_reason("withdrawn after the match");
    e.mutable_retraction()->set_previous_state(v1::VETTING_STATE_ACTIVE);
  }
  return e;
}

// The store sequence the vetted store is loaded at.
constexpr uint64_t kStoreSequence = 100;

class ReportServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    auth_.Add("replica-token", "ms-1", v1::ROLE_REPLICA);
    auth_.Add("replica2-token", "ms-2", v1::ROLE_REPLICA);
    auth_.Add("a-token", "agency-a", v1::ROLE_AGENCY);
    auth_.Add("b-token", "agency-b", v1::ROLE_AGENCY);
    auth_.Add("auditor-token", "auditor-1", v1::ROLE_AUDITOR);
    auth_.Add("admin-token", "admin-1", v1::ROLE_ADMIN);
    auth_.Add("platform-token", "platform-1", v1::ROLE_PLATFORM);
    auto store = ReportStore::Open(dir_.path() + "/reports",
                                   ReportStoreOptions{.sync = false});
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    // The vetted entries, at the ids the tests name (loaded as a replica's
    // snapshot, which keeps ids): agency-a's ACTIVE 1, 10, 11, 100, 101;
    // agency-b's ACTIVE 20; agency-a's 30 retracted (after the match);
    // agency-b's 40 PENDING (below quorum); agency-a's MD5 entry 50.
    StoreOptions entry_options;
    entry_options.sync = false;
    auto entries = HashStore::Open(entry_options, dir_.path() + "/store");
    ASSERT_TRUE(entries.ok()) << entries.status();
    entries_ = std::move(*entries);
    const std::vector<v1::Entry> snapshot = {
        StoreEntry(1, "agency-a", v1::VETTING_STATE_ACTIVE),
        StoreEntry(10, "agency-a", v1::VETTING_STATE_ACTIVE),
        StoreEntry(11, "agency-a", v1::VETTING_STATE_ACTIVE),
        StoreEntry(20, "agency-b", v1::VETTING_STATE_ACTIVE),
        StoreEntry(30, "agency-a", v1::VETTING_STATE_RETRACTED),
        StoreEntry(40, "agency-b", v1::VETTING_STATE_PENDING),
        StoreEntry(50, "agency-a", v1::VETTING_STATE_ACTIVE,
                   v1::SIGNAL_TYPE_MD5),
        StoreEntry(100, "agency-a", v1::VETTING_STATE_ACTIVE),
        StoreEntry(101, "agency-a", v1::VETTING_STATE_ACTIVE)};
    ASSERT_TRUE(entries_->BeginSnapshot(kStoreSequence).ok());
    ASSERT_TRUE(entries_->AddSnapshotEntries(snapshot).ok());
    ASSERT_TRUE(entries_->FinishSnapshot(kStoreSequence, snapshot.size()).ok());
    ReportServiceOptions options;
    options.max_reports_per_call = 50;
    options.max_content_ref_bytes = 64;
    options.now_micros = [] { return int64_t{777}; };
    service_ = std::make_unique<ReportServiceImpl>(store_.get(), entries_.get(),
                                                   &auth_, options);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::ReportService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now());
      server_->Wait();
    }
  }

  void Auth(grpc::ClientContext* context, const std::string& token) {
    context->set_deadline(std::chrono::system_clock::now() +
                          std::chrono::seconds(20));
    if (!token.empty()) {
      context->AddMetadata("authorization", "Bearer " + token);
    }
  }

  grpc::Status Submit(const std::string& token,
                      const std::vector<v1::MatchReport>& reports,
                      std::vector<uint64_t>* ids = nullptr) {
    grpc::ClientContext context;
    Auth(&context, token);
    v1::SubmitReportsRequest request;
    for (const v1::MatchReport& r : reports) *request.add_reports() = r;
    v1::SubmitReportsResponse response;
    grpc::Status s = stub_->SubmitReports(&context, request, &response);
    if (ids != nullptr) {
      ids->assign(response.report_ids().begin(), response.report_ids().end());
    }
    return s;
  }

  grpc::Status List(const std::string& token, const v1::ListReportsRequest& r,
                    v1::ListReportsResponse* response) {
    grpc::ClientContext context;
    Auth(&context, token);
    return stub_->ListReports(&context, r, response);
  }

  // Every page; fails the test on an error.
  std::vector<v1::MatchReport> ListAll(const std::string& token,
                                       const v1::ReportFilter& filter,
                                       int page_size, int* pages = nullptr) {
    std::vector<v1::MatchReport> all;
    v1::ListReportsRequest request;
    *request.mutable_filter() = filter;
    request.set_page_size(page_size);
    int n = 0;
    for (;;) {
      v1::ListReportsResponse response;
      grpc::Status s = List(token, request, &response);
      EXPECT_TRUE(s.ok()) << s.error_message();
      if (!s.ok()) break;
      ++n;
      for (const v1::MatchReport& r : response.reports()) all.push_back(r);
      if (response.next_page_token().empty()) break;
      request.set_page_token(response.next_page_token());
    }
    if (pages != nullptr) *pages = n;
    return all;
  }

  // Reports 1..3: a's entry 10; a's 10 and b's 20; b's 20.
  void SubmitThree() {
    std::vector<uint64_t> ids;
    ASSERT_TRUE(Submit("replica-token",
                       {Report("k1", "plat-x", 100, {{10, "agency-a"}}),
                        Report("k2", "plat-y", 200,
                               {{10, "agency-a"}, {20, "agency-b"}}),
                        Report("k3", "plat-x", 300, {{20, "agency-b"}})},
                       &ids)
                    .ok());
    ASSERT_EQ(ids, (std::vector<uint64_t>{1, 2, 3}));
  }

  testing_util::TempDir dir_{"report_service_test"};
  testing_util::FakeAuthenticator auth_;
  std::unique_ptr<ReportStore> store_;
  std::unique_ptr<HashStore> entries_;
  std::unique_ptr<ReportServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::ReportService::Stub> stub_;
};

TEST_F(ReportServiceTest, SubmitSetsServerFieldsAndIsIdempotent) {
  SubmitThree();
  absl::StatusOr<v1::MatchReport> stored = store_->Get(2);
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->match_server(), "ms-1");
  EXPECT_EQ(stored->received_at_micros(), 777);
  EXPECT_EQ(stored->content_ref(), "upload-k2");
  EXPECT_EQ(stored->index_sequence(), 42u);
  EXPECT_EQ(stored->query_hashes(0).hash(), std::string(32, '\x5a'));

  // A redelivery (lost ack) gets the same ids and stores nothing new; the
  // new report in the same call is stored.
  std::vector<uint64_t> ids;
  grpc::Status s = Submit("replica-token",
                          {Report("k2", "plat-y", 200, {{10, "agency-a"}}),
                           Report("k4", "plat-y", 400, {{10, "agency-a"}}),
                           Report("k1", "plat-x", 100, {{10, "agency-a"}})},
                          &ids);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ids, (std::vector<uint64_t>{2, 4, 1}));
  EXPECT_EQ(store_->last_id(), 4u);
  // Another match server's "k1" is its own report.
  ASSERT_TRUE(Submit("replica2-token",
                     {Report("k1", "plat-x", 100, {{10, "agency-a"}})}, &ids)
                  .ok());
  EXPECT_EQ(ids, (std::vector<uint64_t>{5}));
  EXPECT_EQ(ListAll("auditor-token", v1::ReportFilter(), 0).size(), 5u);
}

TEST_F(ReportServiceTest, SubmitChecksRolesAndLimits) {
  const v1::MatchReport ok = Report("k", "p", 1, {{1, "agency-a"}});
  EXPECT_EQ(Submit("", {ok}).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Submit("nope", {ok}).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(Submit("platform-token", {ok}).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(Submit("a-token", {ok}).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);

  EXPECT_EQ(Submit("replica-token", {}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  std::vector<v1::MatchReport> many(51, ok);
  grpc::Status s = Submit("replica-token", many);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("limit 50"), std::string::npos)
      << s.error_message();

  v1::MatchReport bad = ok;
  bad.set_content_ref(std::string(65, 'c'));
  s = Submit("replica-token", {ok, bad});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("reports[1].content_ref"), std::string::npos)
      << s.error_message();
  bad = ok;
  bad.clear_report_key();
  EXPECT_EQ(Submit("replica-token", {bad}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  bad = ok;
  bad.set_report_id(9);
  EXPECT_EQ(Submit("replica-token", {bad}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  bad = ok;
  bad.clear_matches();
  EXPECT_EQ(Submit("replica-token", {bad}).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  bad = ok;
  bad.mutable_query_hashes(0)->set_hash(std::string(65, 'h'));
  EXPECT_EQ(Submit("replica-token", {bad}).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  bad = ok;
  for (int i = 0; i < 300; ++i) *bad.add_matches() = ok.matches(0);
  EXPECT_EQ(Submit("replica-token", {bad}).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Nothing of a refused call was stored.
  EXPECT_EQ(store_->last_id(), 0u);
}

TEST_F(ReportServiceTest, AgencySeesOnlyItsOwnMatches) {
  SubmitThree();
  std::vector<v1::MatchReport> a = ListAll("a-token", v1::ReportFilter(), 0);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].report_id(), 1u);
  EXPECT_EQ(a[1].report_id(), 2u);
  ASSERT_EQ(a[1].matches_size(), 1);  // agency-b's match removed
  EXPECT_EQ(a[1].matches(0).source_agency(), "agency-a");
  EXPECT_EQ(a[1].matches(0).entry_id(), 10u);

  std::vector<v1::MatchReport> b = ListAll("b-token", v1::ReportFilter(), 0);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].report_id(), 2u);
  ASSERT_EQ(b[0].matches_size(), 1);
  EXPECT_EQ(b[0].matches(0).source_agency(), "agency-b");
  EXPECT_EQ(b[1].report_id(), 3u);

  // Asking for another agency's entry shows nothing.
  v1::ReportFilter f;
  f.set_entry_id(20);
  EXPECT_TRUE(ListAll("a-token", f, 0).empty());
  EXPECT_EQ(ListAll("b-token", f, 0).size(), 2u);

  for (const std::string token : {"auditor-token", "admin-token"}) {
    std::vector<v1::MatchReport> all = ListAll(token, v1::ReportFilter(), 0);
    ASSERT_EQ(all.size(), 3u) << token;
    EXPECT_EQ(all[1].matches_size(), 2) << token;
  }
  v1::ListReportsResponse response;
  EXPECT_EQ(
      List("platform-token", v1::ListReportsRequest(), &response).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(
      List("replica-token", v1::ListReportsRequest(), &response).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(List("", v1::ListReportsRequest(), &response).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ReportServiceTest, FiltersByPlatformTimeAndEntry) {
  SubmitThree();
  v1::ReportFilter f;
  f.set_platform("plat-x");
  std::vector<v1::MatchReport> r = ListAll("auditor-token", f, 0);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].report_id(), 1u);
  EXPECT_EQ(r[1].report_id(), 3u);
  f.Clear();
  f.set_since_micros(200);
  f.set_until_micros(300);  // exclusive
  r = ListAll("auditor-token", f, 0);
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].report_id(), 2u);
  f.Clear();
  f.set_entry_id(10);
  r = ListAll("auditor-token", f, 0);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[1].report_id(), 2u);
}

TEST_F(ReportServiceTest, PagesAndRejectsBadTokensAndSizes) {
  std::vector<v1::MatchReport> batch;
  for (int i = 0; i < 25; ++i) {
    batch.push_back(Report(absl::StrCat("p", i), "plat", 1000 + i,
                           {{static_cast<uint64_t>(100 + i % 2), "agency-a"}}));
  }
  ASSERT_TRUE(Submit("replica-token", batch).ok());
  int pages = 0;
  std::vector<v1::MatchReport> all =
      ListAll("a-token", v1::ReportFilter(), 10, &pages);
  ASSERT_EQ(all.size(), 25u);
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].report_id(), i + 1);
  EXPECT_EQ(pages, 3);
  v1::ReportFilter odd;
  odd.set_entry_id(101);
  EXPECT_EQ(ListAll("a-token", odd, 5).size(), 12u);

  v1::ListReportsRequest request;
  request.set_page_size(10);
  v1::ListReportsResponse first;
  ASSERT_TRUE(List("a-token", request, &first).ok());
  ASSERT_FALSE(first.next_page_token().empty());

  v1::ListReportsResponse response;
  v1::ListReportsRequest bad = request;
  bad.set_page_token("garbage!");
  grpc::Status s = List("a-token", bad, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("not a token this server issued"),
            std::string::npos);
  // A token with one character changed is forged.
  std::string forged = first.next_page_token();
  forged[5] = forged[5] == 'A' ? 'B' : 'A';
  bad.set_page_token(forged);
  EXPECT_EQ(List("a-token", bad, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // A token of another filter.
  bad = request;
  bad.set_page_token(first.next_page_token());
  bad.mutable_filter()->set_platform("plat");
  s = List("a-token", bad, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("different filter"), std::string::npos);

  bad = request;
  bad.set_page_size(1001);
  EXPECT_EQ(List("a-token", bad, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  bad.set_page_size(-1);
  EXPECT_EQ(List("a-token", bad, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  bad = request;
  bad.mutable_filter()->set_since_micros(5);
  bad.mutable_filter()->set_until_micros(5);
  EXPECT_EQ(List("a-token", bad, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  bad.mutable_filter()->set_since_micros(-1);
  bad.mutable_filter()->set_until_micros(0);
  EXPECT_EQ(List("a-token", bad, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(ReportServiceTest, WatchSendsStoredThenLiveReportsRedacted) {
  SubmitThree();
  grpc::ClientContext context;
  Auth(&context, "a-token");
  v1::WatchReportsRequest request;
  request.set_after_report_id(1);
  std::unique_ptr<grpc::ClientReader<v1::MatchReport>> reader =
      stub_->WatchReports(&context, request);
  v1::MatchReport r;
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_EQ(r.report_id(), 2u);
  EXPECT_EQ(r.matches_size(), 1);  // agency-b's match removed
  // Report 3 is agency-b's alone: not sent. New ones arrive live.
  std::thread submitter([this] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ASSERT_TRUE(
        Submit("replica-token", {Report("k5", "plat", 500, {{20, "agency-b"}}),
                                 Report("k6", "plat", 600, {{11, "agency-a"}})})
            .ok());
  });
  ASSERT_TRUE(reader->Read(&r));
  EXPECT_EQ(r.report_id(), 5u);
  EXPECT_EQ(r.matches(0).entry_id(), 11u);
  submitter.join();
  EXPECT_EQ(service_->active_streams(), 1);
  context.TryCancel();
  while (reader->Read(&r)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  for (int i = 0; i < 200 && service_->active_streams() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(service_->active_streams(), 0);
}

TEST_F(ReportServiceTest, WatchChecksRolesAndDrains) {
  {
    grpc::ClientContext context;
    Auth(&context, "replica-token");
    auto reader = stub_->WatchReports(&context, v1::WatchReportsRequest());
    v1::MatchReport r;
    EXPECT_FALSE(reader->Read(&r));
    EXPECT_EQ(reader->Finish().error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  grpc::ClientContext context;
  Auth(&context, "auditor-token");
  auto reader = stub_->WatchReports(&context, v1::WatchReportsRequest());
  for (int i = 0; i < 200 && service_->active_streams() != 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  service_->StartDraining();
  v1::MatchReport r;
  EXPECT_FALSE(reader->Read(&r));
  grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(s.error_message(), "server draining");
}

// Issue 14, defect 4: a replica's claims are checked against the store.
// The attack: a report on agency-a's entry 10 that names agency-b as its
// source_agency was stored, shown to agency-b and hidden from agency-a.
TEST_F(ReportServiceTest, AForgedAgencyIsRefusedAndNeverShown) {
  grpc::Status s = Submit("replica-token",
                          {Report("forged", "plat", 1, {{10, "agency-b"}})});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION)
      << s.error_message();
  EXPECT_EQ(s.error_message(),
            "reports[0].matches[0]: entry 10 belongs to agency \"agency-a\", "
            "not to the reported source_agency \"agency-b\"");
  // In a batch, with good reports around it: the call is refused whole and
  // names the report; nothing is stored (the sender then sends one at a time
  // and drops the refused one).
  s = Submit("replica-token", {Report("good-1", "plat", 1, {{10, "agency-a"}}),
                               Report("good-2", "plat", 2, {{20, "agency-b"}}),
                               Report("forged", "plat", 3,
                                      {{20, "agency-b"}, {11, "agency-b"}})});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("reports[2].matches[1]: entry 11"),
            std::string::npos)
      << s.error_message();
  // An empty claim is no wildcard.
  EXPECT_EQ(Submit("replica-token", {Report("blank", "plat", 1, {{10, ""}})})
                .error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(store_->last_id(), 0u);
  EXPECT_TRUE(ListAll("b-token", v1::ReportFilter(), 0).empty());
  EXPECT_TRUE(ListAll("a-token", v1::ReportFilter(), 0).empty());
  EXPECT_TRUE(ListAll("auditor-token", v1::ReportFilter(), 0).empty());

  // The honest reports alone are stored and shown to their owners only.
  ASSERT_TRUE(
      Submit("replica-token", {Report("good-1", "plat", 1, {{10, "agency-a"}}),
                               Report("good-2", "plat", 2, {{20, "agency-b"}})})
          .ok());
  std::vector<v1::MatchReport> a = ListAll("a-token", v1::ReportFilter(), 0);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].matches(0).entry_id(), 10u);
  std::vector<v1::MatchReport> b = ListAll("b-token", v1::ReportFilter(), 0);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].matches(0).entry_id(), 20u);
}

// The attack: a report naming an entry that does not exist was accepted.
TEST_F(ReportServiceTest, AReportOnAnEntryThatDoesNotExistIsRefused) {
  grpc::Status s =
      Submit("replica-token", {Report("k1", "plat", 1, {{10, "agency-a"}}),
                               Report("k2", "plat", 2, {{999, "agency-a"}})});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(),
            "reports[1].matches[0]: entry 999 does not exist in this store (a "
            "report of a match server that follows another store?)");
  EXPECT_EQ(store_->last_id(), 0u);
}

// The attack: a match server following an unrelated store got its reports
// accepted. Its entries' ids may exist here, but with another owner or
// signal type, or (for exact lanes) another hash; or its store is ahead of
// this one. All are refused; so is a redelivery of such a report.
TEST_F(ReportServiceTest, AReplicaOfAnotherStoreIsRefused) {
  // Ahead of this store's sequence: it follows another store.
  v1::MatchReport ahead = Report("k1", "plat", 1, {{10, "agency-a"}});
  ahead.set_index_sequence(kStoreSequence + 1);
  grpc::Status s = Submit("replica-token", {ahead});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(),
            "reports[0].index_sequence 101 is ahead of this store's sequence "
            "100: the match server follows another store");
  // Entry 10 here is agency-a's PDQ hash; the other store's entry 10 is an
  // MD5 of agency-a.
  v1::MatchReport other_signal = Report("k2", "plat", 1, {{10, "agency-a"}});
  other_signal.mutable_matches(0)->set_signal_type(v1::SIGNAL_TYPE_MD5);
  s = Submit("replica-token", {other_signal});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(s.error_message(),
            "reports[0].matches[0]: entry 10 is SIGNAL_TYPE_PDQ, not the "
            "reported SIGNAL_TYPE_MD5");
  // Entry 50 is agency-a's MD5 here; an exact match on it must carry that
  // MD5 among the query hashes.
  v1::MatchReport exact = Report("k3", "plat", 1, {{50, "agency-a"}});
  exact.mutable_matches(0)->set_signal_type(v1::SIGNAL_TYPE_MD5);
  exact.mutable_matches(0)->set_distance(0);
  v1::ReportedHash* md5 = exact.add_query_hashes();
  md5->set_signal_type(v1::SIGNAL_TYPE_MD5);
  md5->set_hash(std::string(16, '\x07'));  // Not entry 50's MD5.
  s = Submit("replica-token", {exact});
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("no query hash of the report equals its "
                                   "SIGNAL_TYPE_MD5"),
            std::string::npos)
      << s.error_message();
  EXPECT_EQ(store_->last_id(), 0u);
  // With entry 50's own MD5 it is this store's match, and is stored.
  md5->set_hash(std::string(16, static_cast<char>(50)));
  exact.set_index_sequence(kStoreSequence);  // Caught up: not ahead.
  std::vector<uint64_t> ids;
  ASSERT_TRUE(Submit("replica-token", {exact}, &ids).ok());
  EXPECT_EQ(ids, (std::vector<uint64_t>{1}));
}

// A report on an entry retracted after the match, or on one that is PENDING
// (or DISPUTED) now, is still a fact about a match: it is kept, attributed to
// the entry's owner. A redelivery (lost ack) passes the checks again and
// gets its first id.
TEST_F(ReportServiceTest, RetractedAndPendingEntriesKeepTheirReports) {
  std::vector<uint64_t> ids;
  ASSERT_TRUE(Submit("replica-token",
                     {Report("r1", "plat", 1, {{30, "agency-a"}}),
                      Report("r2", "plat", 2, {{40, "agency-b"}})},
                     &ids)
                  .ok());
  EXPECT_EQ(ids, (std::vector<uint64_t>{1, 2}));
  ASSERT_TRUE(Submit("replica-token",
                     {Report("r2", "plat", 2, {{40, "agency-b"}})}, &ids)
                  .ok());
  EXPECT_EQ(ids, (std::vector<uint64_t>{2}));
  std::vector<v1::MatchReport> a = ListAll("a-token", v1::ReportFilter(), 0);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].matches(0).entry_id(), 30u);
  std::vector<v1::MatchReport> b = ListAll("b-token", v1::ReportFilter(), 0);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].matches(0).entry_id(), 40u);
  // The retracted entry's reports are not transferable: its owner stays.
  EXPECT_EQ(
      Submit("replica-token", {Report("r3", "plat", 3, {{30, "agency-b"}})})
          .error_code(),
      grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(store_->last_id(), 2u);
}

}  // namespace
}  // namespace ingest
}  // namespace hashmatch
