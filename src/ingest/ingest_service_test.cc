// IngestServiceImpl on loopback: a real HashStore and IngestCore behind a
// gRPC server, called through the generated stub.
#include "src/ingest/ingest_service.h"

#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "index/store/hash_store.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "tests/fake_authenticator.h"

namespace hashmatch {
namespace ingest {
namespace {

class RecordingSink : public AuditSink {
 public:
  absl::Status Append(absl::Span<const AuditEvent> events) override {
    std::lock_guard<std::mutex> lock(mu_);
    count_ += events.size();
    return absl::OkStatus();
  }
  size_t count() {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }

 private:
  std::mutex mu_;
  size_t count_ = 0;
};

std::string Pdq(int seed) {
  std::string h(32, '\0');
  for (size_t i = 0; i < h.size(); ++i) {
    h[i] = static_cast<char>((seed * 131 + static_cast<int>(i) * 7) & 0xff);
  }
  return h;
}

v1::SubmitRequest OneHash(const std::string& ext, int seed) {
  v1::SubmitRequest r;
  v1::Submission* s = r.add_submissions();
  s->set_external_id(ext);
  s->mutable_hash()->set_signal_type(v1::SIGNAL_TYPE_PDQ);
  s->mutable_hash()->set_raw(Pdq(seed));
  return r;
}

class IngestServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat(
               "ingest_service_test_", ::getpid(), "_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    auth_.Add("a-token", "hotline-a", v1::ROLE_AGENCY);
    auth_.Add("b-token", "police-b", v1::ROLE_AGENCY);
    auth_.Add("p-token", "platform-x", v1::ROLE_PLATFORM);
    auth_.Add("admin-token", "root", v1::ROLE_ADMIN);
    auth_.Add("auditor-token", "aud", v1::ROLE_AUDITOR);
  }
  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
    server_.reset();
    service_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void Start(IngestOptions core_options = IngestOptions(),
             IngestServiceOptions options = IngestServiceOptions()) {
    StoreOptions so;
    so.sync = false;
    auto store = HashStore::Open(so, (dir_ / "store").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    // The service owns its core (as in ingest_server).
    auto core =
        std::make_unique<IngestCore>(core_options, store_.get(), &sink_);
    service_ =
        std::make_unique<IngestServiceImpl>(std::move(core), auth_, options);
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::IngestService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::seconds(20));
    if (!token.empty()) c->AddMetadata("authorization", "Bearer " + token);
    return c;
  }

  std::filesystem::path dir_;
  testing_util::FakeAuthenticator auth_;
  RecordingSink sink_;
  std::unique_ptr<HashStore> store_;
  std::unique_ptr<IngestServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::IngestService::Stub> stub_;
};

TEST_F(IngestServiceTest, EveryRpcChecksCredentialsAndRole) {
  Start();
  v1::SubmitResponse sr;
  EXPECT_EQ(stub_->Submit(Ctx("").get(), OneHash("x", 1), &sr).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(
      stub_->Submit(Ctx("bogus").get(), OneHash("x", 1), &sr).error_code(),
      grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(
      stub_->Submit(Ctx("p-token").get(), OneHash("x", 1), &sr).error_code(),
      grpc::StatusCode::PERMISSION_DENIED);
  v1::DisputeRequest d;
  d.set_entry_id(1);
  d.set_reason("r");
  v1::DisputeResponse dr;
  EXPECT_EQ(stub_->Dispute(Ctx("a-token").get(), d, &dr).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  v1::Entry e;
  v1::GetEntryRequest g;
  g.set_entry_id(1);
  EXPECT_EQ(stub_->GetEntry(Ctx("p-token").get(), g, &e).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  {
    auto ctx = Ctx("");
    auto stream = stub_->SubmitStream(ctx.get());
    v1::SubmitResponse r;
    EXPECT_FALSE(stream->Read(&r));
    EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  }
  {
    auto ctx = Ctx("p-token");
    auto reader = stub_->ExportEntries(ctx.get(), v1::ExportEntriesRequest());
    v1::Entry x;
    EXPECT_FALSE(reader->Read(&x));
    EXPECT_EQ(reader->Finish().error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  EXPECT_EQ(sink_.count(), 0u);
}

TEST_F(IngestServiceTest, UnaryWorkflowWithQuorumTwo) {
  IngestOptions o;
  o.quorum = 2;
  o.allow_platform_suspend = true;
  Start(o);
  v1::SubmitResponse sr;
  ASSERT_TRUE(stub_->Submit(Ctx("a-token").get(), OneHash("c1", 1), &sr).ok());
  const uint64_t id = sr.entries(0).id();
  EXPECT_EQ(sr.entries(0).state(), v1::VETTING_STATE_PENDING);

  v1::ConfirmRequest c;
  c.set_entry_id(id);
  v1::ConfirmResponse cr;
  EXPECT_EQ(stub_->Confirm(Ctx("a-token").get(), c, &cr).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(stub_->Confirm(Ctx("b-token").get(), c, &cr).ok());
  EXPECT_EQ(cr.entry().state(), v1::VETTING_STATE_ACTIVE);

  v1::DisputeRequest d;
  d.set_entry_id(id);
  d.set_reason("false positive on a cat photo");
  d.set_suspend(true);
  v1::DisputeResponse dr;
  ASSERT_TRUE(stub_->Dispute(Ctx("p-token").get(), d, &dr).ok());
  EXPECT_EQ(dr.entry().state(), v1::VETTING_STATE_DISPUTED);

  v1::ResolveDisputeRequest rd;
  rd.set_entry_id(id);
  rd.set_outcome(v1::ResolveDisputeRequest::OUTCOME_REJECTED);
  rd.set_resolution("verified");
  v1::ResolveDisputeResponse rdr;
  EXPECT_EQ(stub_->ResolveDispute(Ctx("b-token").get(), rd, &rdr).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  ASSERT_TRUE(stub_->ResolveDispute(Ctx("admin-token").get(), rd, &rdr).ok());
  EXPECT_EQ(rdr.entry().state(), v1::VETTING_STATE_ACTIVE);

  v1::RetractRequest rr;
  rr.set_entry_id(id);
  rr.set_reason("withdrawn");
  v1::RetractResponse rres;
  grpc::Status denied = stub_->Retract(Ctx("b-token").get(), rr, &rres);
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_NE(denied.error_message().find("hotline-a"), std::string::npos);
  ASSERT_TRUE(stub_->Retract(Ctx("a-token").get(), rr, &rres).ok());
  EXPECT_EQ(rres.entry().state(), v1::VETTING_STATE_RETRACTED);
  EXPECT_EQ(stub_->Confirm(Ctx("b-token").get(), c, &cr).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);

  v1::GetEntryRequest g;
  g.mutable_external()->set_agency("hotline-a");
  g.mutable_external()->set_external_id("c1");
  v1::Entry got;
  ASSERT_TRUE(stub_->GetEntry(Ctx("auditor-token").get(), g, &got).ok());
  EXPECT_EQ(got.id(), id);
  EXPECT_EQ(got.retraction().reason(), "withdrawn");

  v1::ListEntriesRequest l;
  l.set_page_token("garbage");
  v1::ListEntriesResponse lr;
  EXPECT_EQ(stub_->ListEntries(Ctx("a-token").get(), l, &lr).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  l.clear_page_token();
  ASSERT_TRUE(stub_->ListEntries(Ctx("a-token").get(), l, &lr).ok());
  EXPECT_EQ(lr.entries_size(), 1);
  EXPECT_EQ(sink_.count(), 5u);  // submit, confirm, dispute, resolve, retract
}

TEST_F(IngestServiceTest, SubmitStreamCommitsEachRequestAndEndsOnError) {
  Start();
  auto ctx = Ctx("a-token");
  auto stream = stub_->SubmitStream(ctx.get());
  uint64_t last_sequence = 0;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(stream->Write(OneHash(absl::StrCat("s", i), i)));
    v1::SubmitResponse r;
    ASSERT_TRUE(stream->Read(&r));
    ASSERT_EQ(r.entries_size(), 1);
    EXPECT_EQ(r.entries(0).external_id(), absl::StrCat("s", i));
    EXPECT_GT(r.sequence(), last_sequence);
    last_sequence = r.sequence();
    // Committed before the response arrived.
    EXPECT_TRUE(store_->FindExternal("hotline-a", absl::StrCat("s", i)).ok());
  }
  // A request with a good and a bad item: the stream ends with its error
  // and nothing of it is stored.
  v1::SubmitRequest bad = OneHash("good-part", 50);
  v1::Submission* b = bad.add_submissions();
  b->set_external_id("bad-part");
  b->mutable_hash()->set_signal_type(v1::SIGNAL_TYPE_PDQ);
  b->mutable_hash()->set_hex("zz");
  ASSERT_TRUE(stream->Write(bad));
  v1::SubmitResponse r;
  EXPECT_FALSE(stream->Read(&r));
  grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("submission 1"), std::string::npos)
      << s.error_message();
  EXPECT_EQ(store_->FindExternal("hotline-a", "good-part").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->LastSequence(), last_sequence);

  // Half-close ends a stream OK.
  auto ctx2 = Ctx("a-token");
  auto stream2 = stub_->SubmitStream(ctx2.get());
  ASSERT_TRUE(stream2->Write(OneHash("t", 99)));
  ASSERT_TRUE(stream2->Read(&r));
  ASSERT_TRUE(stream2->WritesDone());
  EXPECT_FALSE(stream2->Read(&r));
  EXPECT_TRUE(stream2->Finish().ok());
}

TEST_F(IngestServiceTest, SubmitStreamLimit) {
  IngestServiceOptions so;
  so.max_submit_streams = 1;
  Start(IngestOptions(), so);
  auto ctx = Ctx("a-token");
  auto first = stub_->SubmitStream(ctx.get());
  ASSERT_TRUE(first->Write(OneHash("a", 1)));
  v1::SubmitResponse r;
  ASSERT_TRUE(first->Read(&r));
  auto ctx2 = Ctx("a-token");
  auto second = stub_->SubmitStream(ctx2.get());
  EXPECT_FALSE(second->Read(&r));
  EXPECT_EQ(second->Finish().error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  first->WritesDone();
  EXPECT_TRUE(first->Finish().ok());
}

// A stream that goes quiet (after acknowledged requests, or from its
// start) is ended after stream_idle_timeout_ms and its slot is free; one
// that keeps sending is not ended, however long it lasts.
TEST_F(IngestServiceTest, IdleSubmitStreamsEndAndFreeTheirSlots) {
  std::mutex mu;
  std::vector<std::string> timeouts;
  IngestServiceOptions so;
  so.max_submit_streams = 1;
  so.stream_idle_timeout_ms = 500;
  so.on_stream_timeout = [&](absl::string_view rpc, absl::string_view limit) {
    std::lock_guard<std::mutex> lock(mu);
    timeouts.push_back(absl::StrCat(rpc, "/", limit));
  };
  Start(IngestOptions(), so);
  const std::string idle_message =
      "no SubmitStream request for 0.5 s (limit "
      "--stream_idle_timeout_seconds)";

  auto ctx = Ctx("a-token");
  auto quiet = stub_->SubmitStream(ctx.get());
  ASSERT_TRUE(quiet->Write(OneHash("acked", 1)));
  v1::SubmitResponse r;
  ASSERT_TRUE(quiet->Read(&r));
  // It holds the only slot while it waits.
  auto ctx2 = Ctx("a-token");
  auto refused = stub_->SubmitStream(ctx2.get());
  EXPECT_FALSE(refused->Read(&r));
  EXPECT_EQ(refused->Finish().error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  // Read returns once the server ends the stream (the client's deadline is
  // 20 s away).
  EXPECT_FALSE(quiet->Read(&r));
  grpc::Status s = quiet->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << s.error_message();
  EXPECT_EQ(s.error_message(), idle_message);
  EXPECT_TRUE(store_->FindExternal("hotline-a", "acked").ok());

  // The slot is free: a stream that never sends anything takes it, and is
  // ended the same way.
  auto ctx3 = Ctx("a-token");
  auto silent = stub_->SubmitStream(ctx3.get());
  EXPECT_FALSE(silent->Read(&r));
  s = silent->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << s.error_message();
  EXPECT_EQ(s.error_message(), idle_message);

  // Requests 150 ms apart (1.2 s in all, over twice the limit): never idle.
  auto ctx4 = Ctx("a-token");
  auto steady = stub_->SubmitStream(ctx4.get());
  for (int i = 0; i < 8; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    ASSERT_TRUE(steady->Write(OneHash(absl::StrCat("steady", i), 10 + i)));
    ASSERT_TRUE(steady->Read(&r)) << i;
  }
  ASSERT_TRUE(steady->WritesDone());
  EXPECT_FALSE(steady->Read(&r));
  EXPECT_TRUE(steady->Finish().ok());

  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(timeouts, (std::vector<std::string>{"SubmitStream/idle",
                                                "SubmitStream/idle"}));
}

TEST_F(IngestServiceTest, ExportStreamsEveryMatchingEntryInIdOrder) {
  IngestServiceOptions so;
  so.export_chunk = 7;  // Many chunks.
  Start(IngestOptions(), so);
  for (int batch = 0; batch < 3; ++batch) {
    v1::SubmitRequest req;
    for (int i = 0; i < 100; ++i) {
      v1::Submission* s = req.add_submissions();
      s->set_external_id(absl::StrCat("e", batch, "-", i));
      s->mutable_hash()->set_signal_type(i % 3 == 0 ? v1::SIGNAL_TYPE_MD5
                                                    : v1::SIGNAL_TYPE_PDQ);
      s->mutable_hash()->set_raw(
          Pdq(batch * 1000 + i).substr(0, i % 3 == 0 ? 16 : 32));
    }
    v1::SubmitResponse sr;
    ASSERT_TRUE(stub_->Submit(Ctx("b-token").get(), req, &sr).ok());
  }
  v1::ExportEntriesRequest all;
  auto ctx = Ctx("auditor-token");
  auto reader = stub_->ExportEntries(ctx.get(), all);
  std::vector<uint64_t> ids;
  v1::Entry e;
  while (reader->Read(&e)) ids.push_back(e.id());
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(ids.size(), 300u);
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], i + 1);

  v1::ExportEntriesRequest md5;
  md5.mutable_filter()->add_signal_types(v1::SIGNAL_TYPE_MD5);
  auto ctx2 = Ctx("a-token");
  auto r2 = stub_->ExportEntries(ctx2.get(), md5);
  int n = 0;
  while (r2->Read(&e)) {
    EXPECT_EQ(e.signal_type(), v1::SIGNAL_TYPE_MD5);
    ++n;
  }
  ASSERT_TRUE(r2->Finish().ok());
  EXPECT_EQ(n, 102);

  // A bad filter.
  v1::ExportEntriesRequest bad;
  bad.mutable_filter()->add_signal_types(v1::SIGNAL_TYPE_UNSPECIFIED);
  auto ctx3 = Ctx("a-token");
  auto r3 = stub_->ExportEntries(ctx3.get(), bad);
  EXPECT_FALSE(r3->Read(&e));
  EXPECT_EQ(r3->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  // A client that leaves early: the export is released.
  auto ctx4 = Ctx("a-token");
  auto r4 = stub_->ExportEntries(ctx4.get(), all);
  ASSERT_TRUE(r4->Read(&e));
  ctx4->TryCancel();
  while (r4->Read(&e)) {
  }
  EXPECT_EQ(r4->Finish().error_code(), grpc::StatusCode::CANCELLED);
  for (int i = 0; i < 200 && service_->exports() != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(service_->exports(), 0);
}

}  // namespace
}  // namespace ingest
}  // namespace hashmatch
