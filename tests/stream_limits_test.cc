// Streams held open to exhaust a server's stream limit, against the real
// binaries (issue 14, defect 5): --max_concurrent_videos MatchVideo calls
// that send only a header hold every video slot until
// --video_idle_timeout_seconds ends them (DEADLINE_EXCEEDED naming the
// limit, logged, counted), then a further MatchVideo succeeds; the same
// for ingest_server's SubmitStream and --stream_idle_timeout_seconds.
// Every wait is on an observable condition with a bounded deadline.
#include <signal.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "proto/hashmatch/v1/ingest.grpc.pb.h"
#include "proto/hashmatch/v1/match.grpc.pb.h"
#include "tests/ingest_server_process.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using Clock = std::chrono::steady_clock;
using testing_util::ServerProcess;
using testing_util::TempDir;

// A MatchVideo header that needs no decoding: the query's frame hashes.
v1::MatchVideoRequest FramesHeader() {
  v1::MatchVideoRequest m;
  m.mutable_header()->set_content_ref("after");
  v1::VideoFrame* f = m.mutable_header()->add_frames();
  f->set_pdq(std::string(32, '\x5a'));
  f->set_quality(90);
  return m;
}

struct VideoCall {
  VideoCall(v1::MatchService::Stub* stub, std::chrono::seconds deadline) {
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    writer = stub->MatchVideo(&context, &response);
  }
  grpc::ClientContext context;
  v1::MatchVideoResponse response;
  std::unique_ptr<grpc::ClientWriter<v1::MatchVideoRequest>> writer;
};

grpc::Status MatchFrames(v1::MatchService::Stub* stub,
                         v1::MatchVideoResponse* response = nullptr) {
  VideoCall call(stub, std::chrono::seconds(30));
  call.writer->Write(FramesHeader());
  call.writer->WritesDone();
  grpc::Status s = call.writer->Finish();
  if (response != nullptr) *response = call.response;
  return s;
}

TEST(StreamLimitsTest, HeaderOnlyMatchVideoStreamsLoseTheirSlotsWhenIdle) {
  TempDir dir("stream_limits_video");
  ASSERT_FALSE(dir.path().empty());
  ServerProcess server;
  ASSERT_TRUE(
      server
          .Start(MATCH_SERVER_BINARY,
                 {"--db", dir.path() + "/db", "--listen", "127.0.0.1:0",
                  "--port_file", dir.path() + "/port", "--metrics_listen",
                  "127.0.0.1:0", "--metrics_port_file",
                  dir.path() + "/metrics_port", "--max_concurrent_videos", "4",
                  "--video_idle_timeout_seconds", "2"},
                 dir.path())
          .ok());
  absl::StatusOr<int> port = server.WaitForPortFile(dir.path() + "/port");
  ASSERT_TRUE(port.ok()) << port.status();
  absl::StatusOr<int> metrics_port =
      server.WaitForPortFile(dir.path() + "/metrics_port");
  ASSERT_TRUE(metrics_port.ok()) << metrics_port.status();
  auto stub = v1::MatchService::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", *port), grpc::InsecureChannelCredentials()));
  // Serving once the (empty) index is loaded.
  const Clock::time_point loading = Clock::now();
  grpc::Status s;
  do {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    v1::IndexInfo info;
    s = stub->GetIndexInfo(&context, v1::GetIndexInfoRequest(), &info);
    if (!s.ok()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  } while (!s.ok() && Clock::now() - loading < std::chrono::seconds(60));
  ASSERT_TRUE(s.ok()) << s.error_message() << server.Stderr();

  // The attack: four header-only streams. Their own deadline is 60 s: if
  // the server never ended them they would hold the slots that long.
  v1::MatchVideoRequest header;
  header.mutable_header()->set_content_ref("stalled");
  header.mutable_header()->set_total_bytes(1 << 20);
  std::vector<std::unique_ptr<VideoCall>> stalled;
  const Clock::time_point opened = Clock::now();
  for (int i = 0; i < 4; ++i) {
    stalled.push_back(
        std::make_unique<VideoCall>(stub.get(), std::chrono::seconds(60)));
    ASSERT_TRUE(stalled.back()->writer->Write(header));
  }
  // Every other MatchVideo is refused once the server has admitted all
  // four (until then a call may still get a slot, and gives it back).
  grpc::Status refused;
  do {
    refused = MatchFrames(stub.get());
  } while (refused.ok() && Clock::now() - opened < std::chrono::seconds(10));
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << refused.error_message();
  EXPECT_TRUE(absl::StrContains(refused.error_message(),
                                "server at video capacity (4 videos"))
      << refused.error_message();

  // The idle timeout ends each of them with a status naming the limit.
  for (auto& call : stalled) {
    grpc::Status ended = call->writer->Finish();
    EXPECT_EQ(ended.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << ended.error_message();
    EXPECT_EQ(ended.error_message(),
              "no MatchVideo message for 2 s (limit "
              "--video_idle_timeout_seconds)");
  }
  const double held_s =
      std::chrono::duration<double>(Clock::now() - opened).count();
  EXPECT_GE(held_s, 2.0);
  EXPECT_LT(held_s, 30.0);

  // And the slots are free: a further MatchVideo succeeds.
  v1::MatchVideoResponse response;
  s = MatchFrames(stub.get(), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.verdict(), v1::VERDICT_NO_MATCH);
  EXPECT_EQ(response.content_ref(), "after");

  absl::StatusOr<std::string> metrics =
      testing_util::HttpGet(*metrics_port, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_EQ(
      testing_util::PrometheusSum(*metrics, "hashmatch_stream_timeouts_total",
                                  {{"rpc", "MatchVideo"}, {"limit", "idle"}}),
      4)
      << *metrics;
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Stderr();
  const std::string log = server.Stderr();
  size_t logged = 0;
  for (size_t at = log.find("\"event\":\"video_upload_timeout\"");
       at != std::string::npos;
       at = log.find("\"event\":\"video_upload_timeout\"", at + 1)) {
    ++logged;
  }
  EXPECT_EQ(logged, 4u) << log;
  EXPECT_TRUE(absl::StrContains(log, "\"video_idle_timeout_seconds\":2"))
      << log;
}

TEST(StreamLimitsTest, IdleSubmitStreamsLoseTheirSlots) {
  TempDir dir("stream_limits_ingest");
  ASSERT_FALSE(dir.path().empty());
  testing_util::IngestServerProcess ingest(dir.path());
  ASSERT_TRUE(ingest
                  .Start(0, {"--max_submit_streams", "2",
                             "--stream_idle_timeout_seconds", "2"})
                  .ok())
      << ingest.process().Stderr();
  const std::string agency = ingest.AddPrincipal("agency-a", v1::ROLE_AGENCY);
  auto stub = v1::IngestService::NewStub(ingest.channel());
  auto context = [&agency](std::chrono::seconds deadline) {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + deadline);
    c->AddMetadata("authorization", "Bearer " + agency);
    return c;
  };
  auto request = [](int i) {
    v1::SubmitRequest r;
    v1::Submission* s = r.add_submissions();
    s->set_external_id(absl::StrCat("e", i));
    s->set_classification("A1");
    s->mutable_hash()->set_signal_type(v1::SIGNAL_TYPE_PDQ);
    s->mutable_hash()->set_raw(std::string(32, static_cast<char>(0x21 + i)));
    return r;
  };

  // Two streams submit one request each (acknowledged), then go quiet.
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<
      grpc::ClientReaderWriter<v1::SubmitRequest, v1::SubmitResponse>>>
      quiet;
  for (int i = 0; i < 2; ++i) {
    contexts.push_back(context(std::chrono::seconds(60)));
    quiet.push_back(stub->SubmitStream(contexts.back().get()));
    ASSERT_TRUE(quiet.back()->Write(request(i)));
    v1::SubmitResponse r;
    ASSERT_TRUE(quiet.back()->Read(&r));
  }
  {
    auto c = context(std::chrono::seconds(30));
    auto third = stub->SubmitStream(c.get());
    v1::SubmitResponse r;
    EXPECT_FALSE(third->Read(&r));
    EXPECT_EQ(third->Finish().error_code(),
              grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  for (auto& stream : quiet) {
    v1::SubmitResponse r;
    EXPECT_FALSE(stream->Read(&r));  // Returns when the server ends it.
    grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
        << s.error_message();
    EXPECT_EQ(s.error_message(),
              "no SubmitStream request for 2 s (limit "
              "--stream_idle_timeout_seconds)");
  }
  // A new stream is admitted and works.
  auto c = context(std::chrono::seconds(30));
  auto next = stub->SubmitStream(c.get());
  ASSERT_TRUE(next->Write(request(2)));
  v1::SubmitResponse r;
  ASSERT_TRUE(next->Read(&r));
  ASSERT_TRUE(next->WritesDone());
  EXPECT_FALSE(next->Read(&r));
  grpc::Status s = next->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(ingest.process().Stop(SIGTERM), 0) << ingest.process().Stderr();
  // Every acknowledged request is stored: 3 entries.
  EXPECT_EQ(ingest.LastSequence(), 3u);
  const std::string log = ingest.process().Stderr();
  EXPECT_TRUE(absl::StrContains(
      log,
      "\"event\":\"stream_timeout\",\"rpc\":\"SubmitStream\",\"limit\":"
      "\"idle\""))
      << log;
}

}  // namespace
}  // namespace hashmatch
