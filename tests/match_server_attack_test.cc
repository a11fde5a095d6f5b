// Attacks on a running match_server that once worked (issue 14), each as a
// regression test that builds its crafted input at test time from nothing
// but generated pixels:
//  - a progressive JPEG whose last scan repeats (defect 1): refused at the
//    scan limit, stopped by the decode budget, by the caller's deadline and
//    by cancellation, so the image workers are free again at once;
//  - readiness reflects a saturated worker pool;
//  - SIGTERM is honoured within --drain_seconds while such decodes run
//    (defect 2);
//  - per-RPC log sampling and rotation never drop error or MATCH lines
//    (defect 7).
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "opencv2/core.hpp"
#include "opencv2/imgcodecs.hpp"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/hashmatch/v1/match.grpc.pb.h"
#include "src/hashing/image_hasher.h"
#include "src/hashing/test_util.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace {

namespace v1 = hashmatch::v1;
using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using testing_util::RepeatLastJpegScan;
using testing_util::ServerProcess;
using testing_util::TempDir;

// The file: a flat 8000x8000 progressive JPEG whose last scan is
// repeated (300 times: 279 KB, ~11 s of CPU before the fix; 3000: 535 KB,
// 470 s).
const std::string& CraftedJpeg(int repeats) {
  static const std::string* base = [] {
    std::vector<uint8_t> out;
    cv::imencode(".jpg", cv::Mat(8000, 8000, CV_8UC3, cv::Scalar(90, 120, 150)),
                 out, {cv::IMWRITE_JPEG_PROGRESSIVE, 1});
    return new std::string(out.begin(), out.end());
  }();
  static auto* cache = new std::map<int, std::string>();
  auto it = cache->find(repeats);
  if (it == cache->end()) {
    it = cache->emplace(repeats, RepeatLastJpegScan(*base, repeats)).first;
  }
  return it->second;
}

// An ordinary upload.
std::string NormalJpeg() {
  std::vector<uint8_t> out;
  cv::imencode(".jpg", testing_util::SmoothTexture(640, 480, 21), out);
  return std::string(out.begin(), out.end());
}

std::shared_ptr<grpc::Channel> Insecure(int port) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), args);
}

void SetTimeout(grpc::ClientContext* context, int ms) {
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(ms));
}

HealthCheckResponse::ServingStatus Health(
    const std::shared_ptr<grpc::Channel>& channel) {
  HealthCheckResponse response;
  grpc::ClientContext context;
  SetTimeout(&context, 2000);
  if (!Health::NewStub(channel)
           ->Check(&context, HealthCheckRequest(), &response)
           .ok()) {
    return HealthCheckResponse::UNKNOWN;
  }
  return response.status();
}

// Polls health until it is `want` (true) or 60 s pass (false).
bool WaitHealth(const std::shared_ptr<grpc::Channel>& channel,
                HealthCheckResponse::ServingStatus want) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < end) {
    if (Health(channel) == want) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

class AttackTest : public ::testing::Test {
 protected:
  void StartServer(const std::vector<std::string>& extra) {
    std::vector<std::string> flags = {"--db",
                                      dir_.path() + "/db",
                                      "--seed_demo",
                                      "--listen",
                                      "127.0.0.1:0",
                                      "--port_file",
                                      dir_.path() + "/port",
                                      "--metrics_listen",
                                      "127.0.0.1:0",
                                      "--metrics_port_file",
                                      dir_.path() + "/metrics_port"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    ASSERT_TRUE(server_.Start(MATCH_SERVER_BINARY, flags, dir_.path()).ok());
    absl::StatusOr<int> port = server_.WaitForPortFile(dir_.path() + "/port");
    ASSERT_TRUE(port.ok()) << port.status();
    channel_ = Insecure(*port);
    stub_ = v1::MatchService::NewStub(channel_);
    ASSERT_TRUE(WaitHealth(channel_, HealthCheckResponse::SERVING))
        << server_.Stderr();
    absl::StatusOr<int> metrics =
        server_.WaitForPortFile(dir_.path() + "/metrics_port");
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_port_ = *metrics;
  }

  grpc::Status MatchImage(const std::string& bytes, int timeout_ms,
                          grpc::ClientContext* context = nullptr) {
    grpc::ClientContext own;
    if (context == nullptr) context = &own;
    SetTimeout(context, timeout_ms);
    v1::MatchImageRequest request;
    request.set_image(bytes);
    v1::MatchResponse response;
    return stub_->MatchImage(context, request, &response);
  }

  // Image calls in flight, from /metrics (-1 when unreadable).
  double InFlight() {
    absl::StatusOr<std::string> m =
        testing_util::HttpGet(metrics_port_, "/metrics");
    if (!m.ok()) return -1;
    return testing_util::PrometheusSum(*m, "hashmatch_inflight_rpcs");
  }

  bool WaitInFlight(double at_least) {
    const auto end =
        std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < end) {
      if (InFlight() >= at_least) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return false;
  }

  TempDir dir_{"match_server_attack"};
  ServerProcess server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::MatchService::Stub> stub_;
  int metrics_port_ = 0;
};

TEST_F(AttackTest, RepeatedScanJpegIsRefusedAtTheScanLimit) {
  // The default scan limit only: on a slow machine (ASan, shared cores) the
  // 64 scans it allows could outlast the default decode budget.
  StartServer({"--max_decode_ms", "0"});
  const grpc::Status s = MatchImage(CraftedJpeg(300), 60000);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  EXPECT_TRUE(absl::StrContains(s.error_message(), "more than 64 scans"))
      << s.error_message();
  EXPECT_TRUE(MatchImage(NormalJpeg(), 30000).ok());
  absl::StatusOr<std::string> m =
      testing_util::HttpGet(metrics_port_, "/metrics");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(testing_util::PrometheusSum(*m, "hashmatch_decode_failures_total",
                                        {{"reason", "too_costly"}}),
            1);
}

// Without the scan limit, the per-decode budget stops both workers' decodes
// and the next upload is served.
TEST_F(AttackTest, DecodeBudgetStopsTheWorkAndFreesTheWorkers) {
  StartServer({"--max_jpeg_scans", "0", "--max_decode_ms", "300",
               "--image_workers", "2"});
  std::vector<grpc::Status> crafted(2);
  std::vector<std::thread> threads;
  for (grpc::Status& s : crafted) {
    threads.emplace_back([&] { s = MatchImage(CraftedJpeg(3000), 120000); });
  }
  for (std::thread& t : threads) t.join();
  for (const grpc::Status& s : crafted) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << s.error_message();
    EXPECT_TRUE(
        absl::StrContains(s.error_message(), "longer than the limit of 300 ms"))
        << s.error_message();
  }
  EXPECT_TRUE(MatchImage(NormalJpeg(), 30000).ok());
}

// With neither limit, the caller's deadline is what stops the decode: the
// single worker is free for the next call at once (before the fix it stayed
// busy for minutes and the next call timed out too).
TEST_F(AttackTest, CallersDeadlineStopsTheDecode) {
  StartServer({"--max_jpeg_scans", "0", "--max_decode_ms", "0",
               "--image_workers", "1"});
  const grpc::Status crafted = MatchImage(CraftedJpeg(3000), 500);
  EXPECT_EQ(crafted.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  const grpc::Status normal = MatchImage(NormalJpeg(), 20000);
  EXPECT_TRUE(normal.ok()) << normal.error_message();
}

// A pool whose queue ages past --max_queue_wait_ms says NOT_SERVING, and
// SERVING again once cancelled calls have left it.
TEST_F(AttackTest, SaturatedPoolIsNotServingUntilItDrains) {
  StartServer({"--max_jpeg_scans", "0", "--max_decode_ms", "0",
               "--image_workers", "1", "--max_queue_wait_ms", "200"});
  grpc::ClientContext first, second;
  std::thread a([&] { MatchImage(CraftedJpeg(3000), 120000, &first); });
  ASSERT_TRUE(WaitInFlight(1));
  std::thread b([&] { MatchImage(CraftedJpeg(3000), 120000, &second); });
  EXPECT_TRUE(WaitHealth(channel_, HealthCheckResponse::NOT_SERVING));
  first.TryCancel();
  second.TryCancel();
  a.join();
  b.join();
  EXPECT_TRUE(WaitHealth(channel_, HealthCheckResponse::SERVING));
  const std::string log = server_.Stderr();
  EXPECT_TRUE(absl::StrContains(log, "\"event\":\"saturated\"")) << log;
  EXPECT_TRUE(absl::StrContains(log, "\"event\":\"saturation_recovered\""));
  EXPECT_TRUE(MatchImage(NormalJpeg(), 20000).ok());
}

// Defect 2: SIGTERM with --drain_seconds 1 while two unbounded decodes run
// took 347 s; the drain now cancels them at its deadline.
TEST_F(AttackTest, SigtermHonoursTheDrainDeadlineDuringCraftedDecodes) {
  StartServer({"--max_jpeg_scans", "0", "--max_decode_ms", "0",
               "--image_workers", "2", "--drain_seconds", "1"});
  std::vector<grpc::Status> crafted(2);
  std::vector<std::thread> threads;
  for (grpc::Status& s : crafted) {
    threads.emplace_back([&] { s = MatchImage(CraftedJpeg(3000), 300000); });
  }
  ASSERT_TRUE(WaitInFlight(2));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(server_.Signal(SIGTERM));
  EXPECT_EQ(server_.Wait(std::chrono::seconds(30)), 0) << server_.Stderr();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  for (std::thread& t : threads) t.join();
  for (const grpc::Status& s : crafted) EXPECT_FALSE(s.ok());
  // 1 s of drain plus shutdown; the decodes alone would take minutes.
  EXPECT_LT(seconds, 20) << server_.Stderr();
}

// Defect 3: a PNG whose iCCP profile name is a forged log line. libpng
// rejects the profile (no signature) with a warning that quotes the name,
// and printed it raw to stderr, the server's JSON log stream.
constexpr char kForgedEvent[] = "FAKE_INJECTED";

std::string PngWithForgedProfileName() {
  return testing_util::PngWithBadIccProfile(absl::StrCat(
      "\n{\"level\":\"info\",\"event\":\"", kForgedEvent, "\"}\n"));
}

TEST_F(AttackTest, LibraryWarningsCannotForgeLogLines) {
  StartServer({});
  const grpc::Status s = MatchImage(PngWithForgedProfileName(), 30000);
  EXPECT_TRUE(s.ok()) << s.error_message();  // The image itself decodes.
  ASSERT_EQ(server_.Stop(SIGTERM), 0);
  const std::string log = server_.Stderr();
  EXPECT_FALSE(absl::StrContains(log, kForgedEvent)) << log;
  for (absl::string_view line : absl::StrSplit(log, '\n', absl::SkipEmpty())) {
    EXPECT_TRUE(absl::StartsWith(line, "{\"ts\":")) << line;
  }
  EXPECT_TRUE(absl::StrContains(
      log, "\"event\":\"library_message\",\"library\":\"libpng\""))
      << log;
}

// The same file against a server that lets library output through, as every
// server did before the fix: the forged line is there. (This proves the
// test above tests something.)
TEST_F(AttackTest, WithoutCaptureTheProfileNameForgesALine) {
  StartServer({"--capture_library_output=false"});
  EXPECT_TRUE(MatchImage(PngWithForgedProfileName(), 30000).ok());
  ASSERT_EQ(server_.Stop(SIGTERM), 0);
  bool forged = false;
  for (absl::string_view line :
       absl::StrSplit(server_.Stderr(), '\n', absl::SkipEmpty())) {
    forged |= absl::StartsWith(line, "{\"level\":\"info\",\"event\":\"FAKE");
  }
  EXPECT_TRUE(forged) << server_.Stderr();
}

std::string Sha256Hex(const std::string& s) {
  ImageHasher hasher;
  static constexpr Algorithm kSha[] = {Algorithm::kSha256};
  return hasher.HashBytes(s, kSha, {})->results[0].hex;
}

// Per-client fairness (item 6): a greedy platform is held to its own limit
// of calls in flight, and a normal platform's upload does not wait behind
// the greedy one's backlog (the image workers take turns between callers).
TEST_F(AttackTest, GreedyPlatformCannotStarveANormalOne) {
  const std::string tokens = dir_.path() + "/tokens";
  ASSERT_TRUE(testing_util::WriteWholeFile(
      tokens, absl::StrCat("greedy ", Sha256Hex("greedy-token"), "\nnormal ",
                           Sha256Hex("normal-token"), "\n")));
  StartServer({"--tokens_file", tokens, "--image_workers", "1",
               "--max_calls_per_principal", "4"});
  std::vector<uint8_t> encoded;
  cv::imencode(".jpg", testing_util::SmoothTexture(4000, 4000, 8), encoded);
  const std::string slow(encoded.begin(), encoded.end());
  const std::string quick = NormalJpeg();
  auto call = [&](const std::string& token, const std::string& image) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    return MatchImage(image, 120000, &context);
  };
  // The normal platform alone, for the latency printed below.
  auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(call("normal-token", quick).ok());
  const double alone_ms = std::chrono::duration<double, std::milli>(
                              std::chrono::steady_clock::now() - start)
                              .count();

  std::mutex mu;
  std::vector<std::string> finished;
  std::vector<grpc::Status> greedy(6);
  std::vector<std::thread> threads;
  for (grpc::Status& s : greedy) {
    threads.emplace_back([&] {
      s = call("greedy-token", slow);
      if (s.ok()) {
        std::lock_guard<std::mutex> lock(mu);
        finished.push_back("greedy");
      }
    });
  }
  ASSERT_TRUE(WaitInFlight(4));
  // Give the two calls over the limit time to be refused.
  const auto refused_by =
      std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto refused = [&] {
    int n = 0;
    absl::StatusOr<std::string> m =
        testing_util::HttpGet(metrics_port_, "/metrics");
    if (m.ok()) {
      n = static_cast<int>(testing_util::PrometheusSum(
          *m, "hashmatch_rejected_total", {{"reason", "principal"}}));
    }
    return n;
  };
  while (refused() < 2 && std::chrono::steady_clock::now() < refused_by) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  start = std::chrono::steady_clock::now();
  const grpc::Status normal = call("normal-token", quick);
  const double loaded_ms = std::chrono::duration<double, std::milli>(
                               std::chrono::steady_clock::now() - start)
                               .count();
  {
    std::lock_guard<std::mutex> lock(mu);
    finished.push_back("normal");
  }
  for (std::thread& t : threads) t.join();
  EXPECT_TRUE(normal.ok()) << normal.error_message();
  int ok = 0, limited = 0;
  for (const grpc::Status& s : greedy) {
    if (s.ok()) ++ok;
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
        absl::StrContains(s.error_message(),
                          "principal greedy has 4 calls in flight")) {
      ++limited;
    }
  }
  EXPECT_EQ(ok, 4);
  EXPECT_EQ(limited, 2);
  // With one worker, the normal call ran after at most the greedy call that
  // was running and the greedy call whose turn came first: not after all 4.
  int greedy_before = 0;
  for (const std::string& who : finished) {
    if (who == "normal") break;
    ++greedy_before;
  }
  EXPECT_LE(greedy_before, 2);
  std::printf(
      "normal platform MatchImage: %.1f ms alone, %.1f ms behind a "
      "greedy platform's 4 slow calls (%d finished before it)\n",
      alone_ms, loaded_ms, greedy_before);
}

std::vector<std::string> RpcLines(const std::string& log) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(log, '\n')) {
    if (absl::StrContains(line, "\"event\":\"rpc\"")) {
      out.emplace_back(line);
    }
  }
  return out;
}

// 1 in 10 routine lines; every MATCH and every error.
TEST_F(AttackTest, LogSamplingKeepsErrorsAndMatches) {
  StartServer({"--log_sample_ok_rpcs", "10"});
  const std::string no_match = NormalJpeg();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(MatchImage(no_match, 30000).ok());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(MatchImage("not an image", 30000).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  // A seeded demo photo, as the demo sends it: MATCH.
  const std::string photo = testing_util::ReadFileOrEmpty(
      "/usr/share/backgrounds/mate/nature/LadyBird.jpg");
  if (!photo.empty()) {
    for (int i = 0; i < 2; ++i) ASSERT_TRUE(MatchImage(photo, 30000).ok());
  }
  ASSERT_EQ(server_.Stop(SIGTERM), 0);
  int routine = 0, errors = 0, matches = 0;
  for (const std::string& line : RpcLines(server_.Stderr())) {
    if (absl::StrContains(line, "\"verdict\":\"MATCH\"")) {
      ++matches;
    } else if (absl::StrContains(line, "\"code\":\"INVALID_ARGUMENT\"")) {
      ++errors;
    } else {
      ++routine;
    }
  }
  EXPECT_EQ(routine, 3);  // Lines 1, 11 and 21 of 30.
  EXPECT_EQ(errors, 3);
  if (!photo.empty()) {
    EXPECT_EQ(matches, 2);
  }
}

TEST_F(AttackTest, LogFileRotatesWholeLinesAt0600) {
  const std::string log = dir_.path() + "/match.log";
  StartServer({"--log_file", log, "--log_rotate_bytes", "4000",
               "--log_keep_files", "2"});
  for (int i = 0; i < 60; ++i) {
    EXPECT_EQ(MatchImage("not an image", 30000).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  ASSERT_EQ(server_.Stop(SIGTERM), 0);
  EXPECT_EQ(server_.Stderr(), "");  // Everything went to the file.
  for (const std::string& path : {log, log + ".1", log + ".2"}) {
    SCOPED_TRACE(path);
    struct stat st;
    ASSERT_EQ(stat(path.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600);
    const std::string text = testing_util::ReadFileOrEmpty(path);
    ASSERT_FALSE(text.empty());
    EXPECT_EQ(text.back(), '\n');
    for (absl::string_view line :
         absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      EXPECT_TRUE(absl::StartsWith(line, "{\"ts\":")) << line;
      EXPECT_TRUE(absl::EndsWith(line, "}")) << line;
    }
    if (path != log) {
      EXPECT_GE(st.st_size, 4000);
    }
  }
  EXPECT_FALSE(std::filesystem::exists(log + ".3"));
}

}  // namespace
}  // namespace hashmatch
