// MatchVideo's upload time limits, in process: a stream that sends only a
// header (or nothing) or stops mid-upload is ended with DEADLINE_EXCEEDED
// once video_idle_timeout_ms passes, a trickle that never idles is ended by
// video_upload_timeout_ms, the slots they held are free at once, and each
// end is counted. (tests/stream_limits_test.cc does the same against the
// match_server binary and its flags.)
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "index/store/hash_store.h"
#include "index/vetted/vetted_index.h"
#include "proto/hashmatch/v1/match.grpc.pb.h"
#include "src/match/matcher.h"
#include "src/server/match_service.h"
#include "src/server/server_metrics.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace server {
namespace {

namespace v1 = ::hashmatch::v1;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kIdleMs = 500;
constexpr int kUploadMs = 1500;

// A MatchVideo header that needs no decoding: the query's frame hashes.
v1::MatchVideoRequest FramesHeader(const std::string& content_ref) {
  v1::MatchVideoRequest m;
  m.mutable_header()->set_content_ref(content_ref);
  v1::VideoFrame* f = m.mutable_header()->add_frames();
  f->set_pdq(std::string(32, '\x5a'));
  f->set_quality(90);
  return m;
}

// One client-streaming MatchVideo call driven by the test.
struct VideoCall {
  explicit VideoCall(v1::MatchService::Stub* stub) {
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(20));
    writer = stub->MatchVideo(&context, &response);
  }
  grpc::ClientContext context;
  v1::MatchVideoResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::MatchVideoRequest>> writer;
};

class MatchVideoLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    StoreOptions store_options;
    store_options.sync = false;
    store_ = *HashStore::Open(store_options, dir_.path() + "/db");
    index_ = *VettedIndex::Open(store_.get(), VettedIndexOptions());
    matcher_ = *Matcher::Create(store_.get(), index_.get(), MatcherOptions());
    metrics_ = *ServerMetrics::Create("");
    MatchServiceOptions options;
    options.max_concurrent_videos = 2;
    options.video_idle_timeout_ms = kIdleMs;
    options.video_upload_timeout_ms = kUploadMs;
    options.worker_threads = 1;
    options.log_rpcs = false;
    service_ =
        std::make_unique<MatchServiceImpl>(options, metrics_.get(), nullptr);
    service_->SetMatcher(matcher_.get());
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = v1::MatchService::NewStub(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
    service_.reset();
  }

  double Timeouts(const std::string& limit) {
    return testing_util::PrometheusSum(
        metrics_->Serialize(), "hashmatch_stream_timeouts_total",
        {{"rpc", "MatchVideo"}, {"limit", limit}});
  }

  // A complete call whose header carries frames: OK unless refused.
  grpc::Status MatchFrames() {
    VideoCall call(stub_.get());
    call.writer->Write(FramesHeader("frames"));
    call.writer->WritesDone();
    return call.writer->Finish();
  }

  testing_util::TempDir dir_{"match_video_limits_test"};
  std::unique_ptr<HashStore> store_;
  std::unique_ptr<VettedIndex> index_;
  std::unique_ptr<Matcher> matcher_;
  std::unique_ptr<ServerMetrics> metrics_;
  std::unique_ptr<MatchServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::MatchService::Stub> stub_;
};

TEST_F(MatchVideoLimitsTest, StalledUploadsEndAndFreeTheirSlots) {
  // Both slots: one header-only stream, one that sends nothing at all.
  VideoCall header_only(stub_.get());
  v1::MatchVideoRequest header;
  header.mutable_header()->set_content_ref("stalled");
  header.mutable_header()->set_total_bytes(1000);
  ASSERT_TRUE(header_only.writer->Write(header));
  VideoCall silent(stub_.get());
  // Once the server has admitted both, a third call is refused.
  const Clock::time_point start = Clock::now();
  while (service_->active_calls() < 2 &&
         Clock::now() - start < std::chrono::seconds(5)) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  ASSERT_EQ(service_->active_calls(), 2);
  grpc::Status refused = MatchFrames();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(), "video capacity"))
      << refused.error_message();

  // Finish() returns once the server ends the call (the client's own
  // deadline is 20 s away, and would say "Deadline Exceeded").
  for (VideoCall* call : {&header_only, &silent}) {
    grpc::Status s = call->writer->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << s.error_message();
    EXPECT_EQ(s.error_message(),
              "no MatchVideo message for 0.5 s (limit "
              "--video_idle_timeout_seconds)");
  }
  const double waited_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  EXPECT_LT(waited_ms, 5000);
  EXPECT_EQ(Timeouts("idle"), 2);
  EXPECT_EQ(Timeouts("upload"), 0);

  // Their slots are free: two calls at once are admitted.
  grpc::Status first, second;
  std::thread other([&] { second = MatchFrames(); });
  first = MatchFrames();
  other.join();
  EXPECT_TRUE(first.ok()) << first.error_message();
  EXPECT_TRUE(second.ok()) << second.error_message();
}

TEST_F(MatchVideoLimitsTest, MessagesResetTheIdleTimer) {
  // Ten chunks 100 ms apart (1 s in all, twice the idle timeout) then the
  // end: the upload is read to the end (and its bytes, not a video, are
  // refused as such).
  VideoCall call(stub_.get());
  v1::MatchVideoRequest header;
  header.mutable_header()->set_content_ref("steady");
  ASSERT_TRUE(call.writer->Write(header));
  v1::MatchVideoRequest chunk;
  chunk.set_chunk(std::string(100, 'v'));
  for (int i = 0; i < 10; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    ASSERT_TRUE(call.writer->Write(chunk)) << "chunk " << i;
  }
  call.writer->WritesDone();
  grpc::Status s = call.writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();
  EXPECT_EQ(Timeouts("idle"), 0);
}

TEST_F(MatchVideoLimitsTest, ATrickleThatNeverIdlesHitsTheUploadLimit) {
  VideoCall call(stub_.get());
  v1::MatchVideoRequest header;
  header.mutable_header()->set_content_ref("trickle");
  ASSERT_TRUE(call.writer->Write(header));
  v1::MatchVideoRequest chunk;
  chunk.set_chunk("x");
  // One byte every 100 ms, for up to 10 s: the server ends it after 1.5 s.
  const Clock::time_point start = Clock::now();
  while (Clock::now() - start < std::chrono::seconds(10) &&
         call.writer->Write(chunk)) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  grpc::Status s = call.writer->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << s.error_message();
  EXPECT_EQ(s.error_message(),
            "MatchVideo upload not complete after 1.5 s (limit "
            "--video_upload_timeout_seconds)");
  EXPECT_GE(Clock::now() - start, milliseconds(kUploadMs));
  EXPECT_EQ(Timeouts("upload"), 1);
  EXPECT_EQ(Timeouts("idle"), 0);
  EXPECT_TRUE(MatchFrames().ok());
}

}  // namespace
}  // namespace server
}  // namespace hashmatch
