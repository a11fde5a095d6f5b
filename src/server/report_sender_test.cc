// ReportSender against a real ReportServiceImpl (src/ingest) on loopback:
// delivery, waiting while the ingestion side is down, a redelivery after a
// lost ack stored once, and MatchReportOf.
#include "src/server/report_sender.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "index/store/hash_store.h"
#include "src/ingest/report_service.h"
#include "src/ingest/report_store.h"
#include "tests/fake_authenticator.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace server {
namespace {

namespace v1 = ::hashmatch::v1;

// A report on entry 7, agency-a's PDQ entry in the ingestion side's store.
v1::MatchReport Report(const std::string& ref) {
  v1::MatchReport r;
  r.set_content_ref(ref);
  v1::ReportedMatch* m = r.add_matches();
  m->set_entry_id(7);
  m->set_signal_type(v1::SIGNAL_TYPE_PDQ);
  m->set_source_agency("agency-a");
  return r;
}

// A test fake in front of the real ReportServiceImpl::Submit: stores the
// first `lose` calls' reports, then answers UNAVAILABLE as if the answer
// was lost on the way back.
class AckLosingReportService final : public v1::ReportService::CallbackService {
 public:
  AckLosingReportService(ingest::ReportServiceImpl* real, int lose)
      : real_(real), lose_(lose) {}
  grpc::ServerUnaryReactor* SubmitReports(
      grpc::CallbackServerContext* context,
      const v1::SubmitReportsRequest* request,
      v1::SubmitReportsResponse* response) override {
    v1::Principal caller;
    caller.set_name("ms-1");
    caller.add_roles(v1::ROLE_REPLICA);
    absl::StatusOr<v1::SubmitReportsResponse> r =
        real_->Submit(caller, *request);
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    if (r.ok() && calls_.fetch_add(1) < lose_) {
      reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "ack lost"));
    } else if (r.ok()) {
      *response = *std::move(r);
      reactor->Finish(grpc::Status::OK);
    } else {
      reactor->Finish(grpc::Status(grpc::StatusCode::INTERNAL,
                                   std::string(r.status().message())));
    }
    return reactor;
  }

 private:
  ingest::ReportServiceImpl* const real_;
  const int lose_;
  std::atomic<int> calls_{0};
};

class ReportSenderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    auth_.Add("replica-token", "ms-1", v1::ROLE_REPLICA);
    auto store = ingest::ReportStore::Open(dir_.path() + "/reports",
                                           ingest::ReportStoreOptions());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    // The vetted store the service checks reports against: entry 7 is
    // agency-a's (loaded as a snapshot, which keeps the id).
    auto entries = HashStore::Open(StoreOptions(), dir_.path() + "/store");
    ASSERT_TRUE(entries.ok()) << entries.status();
    entries_ = std::move(*entries);
    v1::Entry e;
    e.set_id(7);
    e.set_signal_type(v1::SIGNAL_TYPE_PDQ);
    e.set_hash(std::string(32, '\x07'));
    e.set_source_agency("agency-a");
    e.set_external_id("e7");
    e.set_state(v1::VETTING_STATE_ACTIVE);
    ASSERT_TRUE(entries_->BeginSnapshot(1).ok());
    ASSERT_TRUE(entries_->AddSnapshotEntries({e}).ok());
    ASSERT_TRUE(entries_->FinishSnapshot(1, 1).ok());
    service_ = std::make_unique<ingest::ReportServiceImpl>(
        store_.get(), entries_.get(), &auth_, ingest::ReportServiceOptions());
    auto queue =
        ReportQueue::Open(dir_.path() + "/queue", ReportQueueOptions());
    ASSERT_TRUE(queue.ok()) << queue.status();
    queue_ = std::move(*queue);
  }
  void TearDown() override { StopServer(); }

  // Serves `service` on `port` (0: pick one); returns the port.
  int StartServer(grpc::Service* service, int port) {
    grpc::ServerBuilder builder;
    int bound = 0;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", port),
                             grpc::InsecureServerCredentials(), &bound);
    builder.RegisterService(service);
    server_ = builder.BuildAndStart();
    EXPECT_NE(server_, nullptr);
    return bound;
  }
  void StopServer() {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now());
      server_->Wait();
      server_.reset();
    }
  }
  ReportSenderOptions Options(int port) {
    ReportSenderOptions o;
    o.target = absl::StrCat("127.0.0.1:", port);
    o.token = "replica-token";
    o.initial_backoff = std::chrono::milliseconds(20);
    o.max_backoff = std::chrono::milliseconds(200);
    o.max_batch = 3;
    return o;
  }
  bool WaitFor(const std::function<bool()>& done) {
    for (int i = 0; i < 1000; ++i) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
  }

  testing_util::TempDir dir_{"report_sender_test"};
  testing_util::FakeAuthenticator auth_;
  std::unique_ptr<ingest::ReportStore> store_;
  std::unique_ptr<HashStore> entries_;
  std::unique_ptr<ingest::ReportServiceImpl> service_;
  std::unique_ptr<ReportQueue> queue_;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(ReportSenderTest, DeliversAndEmptiesTheQueue) {
  const int port = StartServer(service_.get(), 0);
  for (int i = 0; i < 7; ++i) {
    ASSERT_TRUE(queue_->Append(Report(absl::StrCat("ref-", i))).ok());
  }
  ReportSender sender(queue_.get(), Options(port));
  sender.Notify();
  ASSERT_TRUE(WaitFor([&] { return sender.delivered() == 7; }));
  EXPECT_EQ(queue_->size(), 0);
  EXPECT_EQ(store_->last_id(), 7u);
  absl::StatusOr<v1::MatchReport> r = store_->Get(7);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->content_ref(), "ref-6");
  EXPECT_EQ(r->match_server(), "ms-1");
  EXPECT_EQ(r->report_key(), queue_->queue_id() + ":7");
}

TEST_F(ReportSenderTest, WaitsWhileIngestionIsDownThenDelivers) {
  // A free port with nothing listening on it.
  const int port = StartServer(service_.get(), 0);
  StopServer();
  ASSERT_TRUE(queue_->Append(Report("waiting")).ok());
  ReportSender sender(queue_.get(), Options(port));
  ASSERT_TRUE(WaitFor([&] { return sender.failed_attempts() >= 3; }));
  EXPECT_EQ(sender.delivered(), 0);
  EXPECT_EQ(queue_->size(), 1);
  ASSERT_EQ(StartServer(service_.get(), port), port);
  ASSERT_TRUE(WaitFor([&] { return sender.delivered() == 1; }));
  EXPECT_EQ(queue_->size(), 0);
  EXPECT_EQ(store_->last_id(), 1u);
}

TEST_F(ReportSenderTest, RedeliveryAfterALostAckIsStoredOnce) {
  AckLosingReportService losing(service_.get(), /*lose=*/2);
  const int port = StartServer(&losing, 0);
  ASSERT_TRUE(queue_->Append(Report("a")).ok());
  ASSERT_TRUE(queue_->Append(Report("b")).ok());
  ReportSender sender(queue_.get(), Options(port));
  ASSERT_TRUE(WaitFor([&] { return sender.delivered() == 2; }));
  EXPECT_GE(sender.failed_attempts(), 2);
  EXPECT_EQ(queue_->size(), 0);
  EXPECT_EQ(store_->last_id(), 2u);  // sent 3 times, stored once
}

TEST_F(ReportSenderTest, RefusedReportIsDroppedNotBlocking) {
  const int port = StartServer(service_.get(), 0);
  v1::MatchReport bad = Report("bad");
  bad.clear_matches();  // INVALID_ARGUMENT at the server
  ASSERT_TRUE(queue_->Append(Report("before")).ok());
  ASSERT_TRUE(queue_->Append(bad).ok());
  ASSERT_TRUE(queue_->Append(Report("after")).ok());
  ReportSender sender(queue_.get(), Options(port));
  // The sender removes reports from the queue, then counts them: wait for
  // the counts (an empty queue alone can come just before the last count).
  ASSERT_TRUE(
      WaitFor([&] { return sender.delivered() + sender.dropped() == 3; }));
  EXPECT_EQ(sender.dropped(), 1);
  EXPECT_EQ(sender.delivered(), 2);
  EXPECT_EQ(queue_->size(), 0);
  EXPECT_EQ(store_->last_id(), 2u);
}

// Issue 14, defect 4: reports the ingestion side refuses as inconsistent
// with its store (FAILED_PRECONDITION: a forged agency, an entry it does not
// hold) never succeed, so they are dropped like malformed ones instead of
// blocking the queue; the others of the batch are delivered.
TEST_F(ReportSenderTest, ReportsTheStoreRefusesAreDroppedNotBlocking) {
  const int port = StartServer(service_.get(), 0);
  v1::MatchReport forged = Report("forged");
  forged.mutable_matches(0)->set_source_agency("agency-b");
  v1::MatchReport unknown = Report("unknown");
  unknown.mutable_matches(0)->set_entry_id(8);
  ASSERT_TRUE(queue_->Append(Report("before")).ok());
  ASSERT_TRUE(queue_->Append(forged).ok());
  ASSERT_TRUE(queue_->Append(unknown).ok());
  ASSERT_TRUE(queue_->Append(Report("after")).ok());
  std::mutex mu;
  std::vector<std::string> dropped;
  ReportSenderOptions options = Options(port);
  options.on_event = [&](const std::string& event, const absl::Status& s) {
    std::lock_guard<std::mutex> lock(mu);
    if (event == "dropped") dropped.push_back(s.ToString());
  };
  ReportSender sender(queue_.get(), options);
  ASSERT_TRUE(WaitFor([&] { return queue_->size() == 0; }));
  EXPECT_EQ(sender.dropped(), 2);
  EXPECT_EQ(sender.delivered(), 2);
  ASSERT_EQ(store_->last_id(), 2u);
  EXPECT_EQ(store_->Get(1)->content_ref(), "before");
  EXPECT_EQ(store_->Get(2)->content_ref(), "after");
  std::lock_guard<std::mutex> lock(mu);
  ASSERT_EQ(dropped.size(), 2u);
  EXPECT_NE(dropped[0].find("FAILED_PRECONDITION"), std::string::npos)
      << dropped[0];
  EXPECT_NE(dropped[0].find("belongs to agency \"agency-a\""),
            std::string::npos)
      << dropped[0];
  EXPECT_NE(dropped[1].find("entry 8 does not exist"), std::string::npos)
      << dropped[1];
}

TEST(MatchReportOfTest, CopiesTheVerdictNotMedia) {
  v1::MatchResponse response;
  response.set_content_ref("upload-9");
  response.set_verdict(v1::VERDICT_MATCH);
  response.set_index_sequence(12);
  v1::ComputedHash* h = response.add_query_hashes();
  h->set_signal_type(v1::SIGNAL_TYPE_PDQ);
  h->set_hex("00ff10");
  h->set_quality(90);
  v1::EntryMatch* m = response.add_matches();
  m->set_entry_id(5);
  m->set_signal_type(v1::SIGNAL_TYPE_PDQ);
  m->set_distance(4);
  m->set_source_agency("agency-a");
  m->set_classification("A1");
  v1::MatchReport r = MatchReportOf(response, "platform-1");
  EXPECT_EQ(r.platform(), "platform-1");
  EXPECT_EQ(r.content_ref(), "upload-9");
  EXPECT_EQ(r.index_sequence(), 12u);
  ASSERT_EQ(r.query_hashes_size(), 1);
  EXPECT_EQ(r.query_hashes(0).hash(), std::string("\x00\xff\x10", 3));
  EXPECT_EQ(r.query_hashes(0).quality(), 90);
  ASSERT_EQ(r.matches_size(), 1);
  EXPECT_EQ(r.matches(0).entry_id(), 5u);
  EXPECT_EQ(r.matches(0).distance(), 4);
  EXPECT_EQ(r.matches(0).source_agency(), "agency-a");
  EXPECT_EQ(r.matches(0).classification(), "A1");
  EXPECT_GT(r.matched_at_micros(), 0);
  EXPECT_TRUE(r.report_key().empty());  // the queue sets it
}

}  // namespace
}  // namespace server
}  // namespace hashmatch
