// End-to-end tests of match_server: a real server process on loopback
// (port 0 + --port_file) over a temporary store, called through the
// generated gRPC stubs, the `hashmatch match` CLI and plain HTTP (metrics).
//
// The store is filled before the server starts, through HashStore, with
// entries whose ids the tests know: the PDQ of the Autumn wallpaper at
// 2560x1600 (its 400 px screenshot is 16 bits away: a PDQ MATCH) and the MD5
// of the Kite screenshot (an EXACT_MD5 MATCH); the Path screenshot matches
// nothing. Slow requests use a generated 6000x6000 JPEG (made at test time,
// never committed). TLS material is made at test time with the openssl CLI.
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "index/store/hash_store.h"
#include "index/vetted/vetted_index.h"
#include "opencv2/core.hpp"
#include "opencv2/imgcodecs.hpp"
#include "opencv2/imgproc.hpp"
#include "proto/grpc/health/v1/health.grpc.pb.h"
#include "proto/hashmatch/v1/match.grpc.pb.h"
#include "src/common/file_util.h"
#include "src/hashing/bit_hash.h"
#include "src/hashing/image_hasher.h"
#include "tests/run_binary.h"
#include "tests/server_process.h"
#include "tests/tls_files.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;
using ::grpc::health::v1::Health;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using testing_util::ServerProcess;
using testing_util::TempDir;

const char kWallpapers[] = "/usr/share/wallpapers";
std::string Wallpaper(const std::string& name, const std::string& file) {
  return absl::StrCat(kWallpapers, "/", name, "/contents/", file);
}
const std::string kAutumnLarge = Wallpaper("Autumn", "images/2560x1600.jpg");
const std::string kAutumnSmall = Wallpaper("Autumn", "screenshot.jpg");
const std::string kKiteSmall = Wallpaper("Kite", "screenshot.jpg");
const std::string kPathSmall = Wallpaper("Path", "screenshot.jpg");

std::string ReadOrDie(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path, 64 << 20);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

bool PhotosPresent() {
  for (const std::string& p :
       {kAutumnLarge, kAutumnSmall, kKiteSmall, kPathSmall}) {
    if (access(p.c_str(), R_OK) != 0) return false;
  }
  return true;
}

// Ids of the entries the fixture store holds.
struct SeededIds {
  uint64_t autumn_pdq = 0;
  uint64_t kite_md5 = 0;
};

// Creates a store in `dir` with the Autumn PDQ and the Kite MD5 entries.
absl::StatusOr<SeededIds> MakeStore(const std::string& dir) {
  ImageHasher hasher;
  static constexpr Algorithm kPdq[] = {Algorithm::kPdq};
  static constexpr Algorithm kMd5[] = {Algorithm::kMd5};
  absl::StatusOr<ImageHashes> autumn =
      hasher.HashBytes(ReadOrDie(kAutumnLarge), kPdq, {});
  if (!autumn.ok()) return autumn.status();
  absl::StatusOr<ImageHashes> kite =
      hasher.HashBytes(ReadOrDie(kKiteSmall), kMd5, {});
  if (!kite.ok()) return kite.status();
  absl::StatusOr<std::unique_ptr<HashStore>> store =
      HashStore::Open(StoreOptions(), dir);
  if (!store.ok()) return store.status();
  std::vector<v1::Entry> entries(2);
  entries[0].set_signal_type(v1::SIGNAL_TYPE_PDQ);
  entries[0].set_hash(*HexToBytes(autumn->results[0].hex));
  entries[0].set_quality(*autumn->results[0].quality);
  entries[0].set_external_id("autumn-pdq");
  entries[1].set_signal_type(v1::SIGNAL_TYPE_MD5);
  entries[1].set_hash(*HexToBytes(kite->results[0].hex));
  entries[1].set_external_id("kite-md5");
  for (v1::Entry& e : entries) {
    e.set_source_agency("test-hotline");
    e.set_classification("test-class");
    e.set_state(v1::VETTING_STATE_ACTIVE);
  }
  absl::StatusOr<std::vector<v1::Entry>> stored = (*store)->Put(entries);
  if (!stored.ok()) return stored.status();
  return SeededIds{(*stored)[0].id(), (*stored)[1].id()};
}

// A JPEG of smooth random texture (`side` x `side`): decodes and hashes
// slowly when large, compresses well.
std::string SmoothJpeg(int side, uint64_t seed) {
  cv::Mat small(64, 64, CV_8UC3);
  cv::RNG rng(seed);
  rng.fill(small, cv::RNG::UNIFORM, 0, 256);
  cv::Mat big;
  cv::resize(small, big, cv::Size(side, side), 0, 0, cv::INTER_CUBIC);
  std::vector<uint8_t> out;
  cv::imencode(".jpg", big, out, {cv::IMWRITE_JPEG_QUALITY, 85});
  return std::string(out.begin(), out.end());
}

// `jpeg` with a COM (comment) segment holding `text` right after SOI.
std::string WithJpegComment(const std::string& jpeg, const std::string& text) {
  const size_t len = text.size() + 2;
  std::string com = {'\xff', '\xfe', static_cast<char>((len >> 8) & 0xff),
                     static_cast<char>(len & 0xff)};
  com += text;
  return jpeg.substr(0, 2) + com + jpeg.substr(2);
}

std::string RandomMarker() {
  std::random_device rd;
  std::mt19937_64 rng((uint64_t{rd()} << 32) ^ rd());
  return absl::StrCat("HMMARKER", absl::Hex(rng(), absl::kZeroPad16),
                      absl::Hex(rng(), absl::kZeroPad16));
}

std::string Hex(const std::string& s) { return absl::BytesToHexString(s); }

// The server's flags for a store in `dir`, writing its ports to files there.
std::vector<std::string> BaseFlags(const std::string& dir) {
  return {"--db",
          dir + "/db",
          "--listen",
          "127.0.0.1:0",
          "--port_file",
          dir + "/port",
          "--metrics_listen",
          "127.0.0.1:0",
          "--metrics_port_file",
          dir + "/metrics_port"};
}

std::vector<std::string> Concat(std::vector<std::string> a,
                                const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

std::shared_ptr<grpc::Channel> Insecure(int port) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<grpc::ClientContext> Context(int timeout_ms = 30000) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() +
                        std::chrono::milliseconds(timeout_ms));
  return context;
}

// Polls grpc.health.v1 Check until SERVING (the port file is written before
// the index is loaded, while health says NOT_SERVING).
bool WaitServing(const std::shared_ptr<grpc::Channel>& channel) {
  std::unique_ptr<Health::Stub> health = Health::NewStub(channel);
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < end) {
    HealthCheckResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(2));
    if (health->Check(&context, HealthCheckRequest(), &response).ok() &&
        response.status() == HealthCheckResponse::SERVING) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

v1::QueryHash PdqHex(const std::string& hex) {
  v1::QueryHash q;
  q.set_signal_type(v1::SIGNAL_TYPE_PDQ);
  q.set_hex(hex);
  return q;
}

// What the server exposes (src/server/server_metrics.h, its log events).
const char kMetricRequests[] = "hashmatch_rpc_requests_total";
const char kMetricVerdicts[] = "hashmatch_verdicts_total";
const char kMetricIndexEntries[] = "hashmatch_index_entries";
const char kMetricInflight[] = "hashmatch_inflight_rpcs";
const char kMetricReady[] = "hashmatch_ready";
// Log events: "listening" is logged once the port is bound and health says
// NOT_SERVING; "index_loaded" once health says SERVING.
const char kLogListening[] = "\"event\":\"listening\"";
const char kLogIndexLoaded[] = "\"event\":\"index_loaded\"";

const char kAutumnSmallPdq[] =
    "2aaab51ba44a91b5625b74b385924ab22a44dbb678b4922e9b76aad546ec7d56";

// One server for the RPC and error-path tests, started once.
class MatchServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!PhotosPresent()) return;
    dir_ = new TempDir("match_server_test");
    ASSERT_FALSE(dir_->path().empty());
    absl::StatusOr<SeededIds> ids = MakeStore(dir_->path() + "/db");
    ASSERT_TRUE(ids.ok()) << ids.status();
    ids_ = *ids;
    server_ = new ServerProcess();
    ASSERT_TRUE(server_
                    ->Start(MATCH_SERVER_BINARY,
                            Concat(BaseFlags(dir_->path()),
                                   {"--max_image_bytes", "1000000",
                                    "--max_request_bytes", "4000000",
                                    "--max_batch", "3", "--max_hashes", "4"}),
                            dir_->path())
                    .ok());
    absl::StatusOr<int> port = server_->WaitForPortFile(dir_->path() + "/port");
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    ASSERT_TRUE(WaitServing(Insecure(port_))) << server_->Stderr();
    absl::StatusOr<int> metrics =
        server_->WaitForPortFile(dir_->path() + "/metrics_port");
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_port_ = *metrics;
  }

  static void TearDownTestSuite() {
    if (server_ != nullptr) {
      EXPECT_EQ(server_->Stop(SIGTERM), 0) << server_->Stderr();
    }
    delete server_;
    server_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    if (!PhotosPresent()) GTEST_SKIP() << "wallpaper packages not installed";
    ASSERT_GT(port_, 0);
    stub_ = v1::MatchService::NewStub(Insecure(port_));
  }

  grpc::Status MatchImage(const std::string& bytes, v1::MatchResponse* r) {
    v1::MatchImageRequest request;
    request.set_image(bytes);
    return stub_->MatchImage(Context().get(), request, r);
  }

  grpc::Status MatchHashes(const std::vector<v1::QueryHash>& hashes,
                           v1::MatchResponse* r) {
    v1::MatchHashesRequest request;
    for (const v1::QueryHash& h : hashes) *request.add_hashes() = h;
    return stub_->MatchHashes(Context().get(), request, r);
  }

  static TempDir* dir_;
  static ServerProcess* server_;
  static SeededIds ids_;
  static int port_;
  static int metrics_port_;
  std::unique_ptr<v1::MatchService::Stub> stub_;
};

TempDir* MatchServerTest::dir_ = nullptr;
ServerProcess* MatchServerTest::server_ = nullptr;
SeededIds MatchServerTest::ids_;
int MatchServerTest::port_ = 0;
int MatchServerTest::metrics_port_ = 0;

TEST_F(MatchServerTest, GetIndexInfoDescribesTheStoreAndLimits) {
  v1::IndexInfo info;
  grpc::Status s =
      stub_->GetIndexInfo(Context().get(), v1::GetIndexInfoRequest(), &info);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(info.sequence(), 2u);
  uint64_t pdq = 0, md5 = 0;
  for (const v1::SignalCount& c : info.counts()) {
    if (c.signal_type() == v1::SIGNAL_TYPE_PDQ) pdq = c.entries();
    if (c.signal_type() == v1::SIGNAL_TYPE_MD5) md5 = c.entries();
  }
  EXPECT_EQ(pdq, 1u);
  EXPECT_EQ(md5, 1u);
  EXPECT_EQ(info.pdq_threshold(), 31);
  EXPECT_EQ(info.pdq_quality_gate(), 50);
  EXPECT_TRUE(info.dihedral());
  EXPECT_EQ(info.max_image_bytes(), 1000000);
  EXPECT_EQ(info.max_batch(), 3);
  EXPECT_EQ(info.max_hashes(), 4);
}

TEST_F(MatchServerTest, MatchImageFindsTheResizedPhotoByPdq) {
  v1::MatchImageRequest request;
  request.set_image(ReadOrDie(kAutumnSmall));
  request.set_content_ref("upload-1");
  v1::MatchResponse r;
  grpc::Status s = stub_->MatchImage(Context().get(), request, &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.verdict(), v1::VERDICT_MATCH);
  EXPECT_EQ(r.rule(), v1::DECISION_RULE_PDQ_THRESHOLD);
  EXPECT_EQ(r.content_ref(), "upload-1");
  EXPECT_EQ(r.index_sequence(), 2u);
  ASSERT_EQ(r.matches_size(), 1);
  EXPECT_EQ(r.matches(0).entry_id(), ids_.autumn_pdq);
  EXPECT_EQ(r.matches(0).signal_type(), v1::SIGNAL_TYPE_PDQ);
  EXPECT_EQ(r.matches(0).distance(), 16);
  EXPECT_EQ(r.matches(0).dihedral(), v1::DIHEDRAL_VARIANT_ORIGINAL);
  EXPECT_EQ(r.matches(0).classification(), "test-class");
  EXPECT_EQ(r.matches(0).source_agency(), "test-hotline");
  bool saw_pdq = false;
  for (const v1::ComputedHash& h : r.query_hashes()) {
    if (h.signal_type() != v1::SIGNAL_TYPE_PDQ) continue;
    saw_pdq = true;
    EXPECT_EQ(h.hex(), kAutumnSmallPdq);
    EXPECT_EQ(h.quality(), 100);
  }
  EXPECT_TRUE(saw_pdq);
}

TEST_F(MatchServerTest, MatchImageExactMd5AndNoMatch) {
  v1::MatchResponse kite;
  grpc::Status s = MatchImage(ReadOrDie(kKiteSmall), &kite);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(kite.verdict(), v1::VERDICT_MATCH);
  EXPECT_EQ(kite.rule(), v1::DECISION_RULE_EXACT_MD5);
  ASSERT_GE(kite.matches_size(), 1);
  EXPECT_EQ(kite.matches(0).entry_id(), ids_.kite_md5);
  EXPECT_EQ(kite.matches(0).distance(), 0);

  v1::MatchResponse path;
  s = MatchImage(ReadOrDie(kPathSmall), &path);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(path.verdict(), v1::VERDICT_NO_MATCH);
  EXPECT_EQ(path.rule(), v1::DECISION_RULE_NO_ENTRY_WITHIN_THRESHOLD);
  EXPECT_EQ(path.matches_size(), 0);
}

TEST_F(MatchServerTest, MatchImageRotatedPhotoMatchesThroughDihedral) {
  cv::Mat img = cv::imread(kAutumnSmall, cv::IMREAD_COLOR);
  ASSERT_FALSE(img.empty());
  cv::Mat rotated;
  cv::rotate(img, rotated, cv::ROTATE_90_CLOCKWISE);
  std::vector<uint8_t> png;
  ASSERT_TRUE(cv::imencode(".png", rotated, png));
  v1::MatchResponse r;
  grpc::Status s = MatchImage(std::string(png.begin(), png.end()), &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.verdict(), v1::VERDICT_MATCH);
  ASSERT_GE(r.matches_size(), 1);
  EXPECT_EQ(r.matches(0).entry_id(), ids_.autumn_pdq);
  EXPECT_NE(r.matches(0).dihedral(), v1::DIHEDRAL_VARIANT_ORIGINAL);
  EXPECT_NE(r.matches(0).dihedral(), v1::DIHEDRAL_VARIANT_UNSPECIFIED);

  // The request can turn dihedral lookup off: then the rotation is unknown.
  v1::MatchImageRequest request;
  request.set_image(std::string(png.begin(), png.end()));
  request.mutable_options()->set_dihedral(false);
  s = stub_->MatchImage(Context().get(), request, &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.verdict(), v1::VERDICT_NO_MATCH);
  EXPECT_EQ(r.matches_size(), 0);
}

TEST_F(MatchServerTest, MatchHashesByHexAndRaw) {
  v1::MatchResponse r;
  grpc::Status s = MatchHashes({PdqHex(kAutumnSmallPdq)}, &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.verdict(), v1::VERDICT_MATCH);
  ASSERT_EQ(r.matches_size(), 1);
  EXPECT_EQ(r.matches(0).entry_id(), ids_.autumn_pdq);
  EXPECT_EQ(r.matches(0).distance(), 16);

  v1::QueryHash raw;
  raw.set_signal_type(v1::SIGNAL_TYPE_PDQ);
  raw.set_raw(std::string(32, '\0'));
  raw.set_quality(100);
  s = MatchHashes({raw}, &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.verdict(), v1::VERDICT_NO_MATCH);

  // Low quality and nothing exact: LOW_QUALITY, not NO_MATCH.
  v1::QueryHash weak = PdqHex(kAutumnSmallPdq);
  weak.set_quality(10);
  s = MatchHashes({weak}, &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.verdict(), v1::VERDICT_LOW_QUALITY);
  EXPECT_EQ(r.rule(), v1::DECISION_RULE_QUALITY_GATE);
}

TEST_F(MatchServerTest, MatchBatchAnswersEachItemInOrder) {
  v1::MatchBatchRequest request;
  request.add_images()->set_image(ReadOrDie(kAutumnSmall));
  request.add_images()->set_image("not an image at all");
  request.add_images()->set_image(ReadOrDie(kPathSmall));
  v1::MatchBatchResponse r;
  grpc::Status s = stub_->MatchBatch(Context().get(), request, &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(r.items_size(), 3);
  ASSERT_TRUE(r.items(0).has_response());
  EXPECT_EQ(r.items(0).response().verdict(), v1::VERDICT_MATCH);
  ASSERT_TRUE(r.items(1).has_error());
  EXPECT_EQ(r.items(1).error().code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_FALSE(r.items(1).error().message().empty());
  ASSERT_TRUE(r.items(2).has_response());
  EXPECT_EQ(r.items(2).response().verdict(), v1::VERDICT_NO_MATCH);
}

TEST_F(MatchServerTest, ImageErrorsHaveSpecificCodes) {
  v1::MatchResponse r;
  grpc::Status s = MatchImage("", &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "empty: " << s.error_message();

  std::string corrupt = ReadOrDie(kPathSmall);
  corrupt.resize(200);  // A JPEG header with no scan data.
  s = MatchImage(corrupt, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "corrupt: " << s.error_message();

  s = MatchImage("GIF89a-and-garbage", &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "garbage: " << s.error_message();

  // Over --max_image_bytes (1000000) but under --max_request_bytes.
  const std::string oversize = WithJpegComment(
      ReadOrDie(kPathSmall), std::string(60000, 'x'));  // One COM is < 64K.
  std::string padded = oversize;
  while (padded.size() <= 1000000) {
    padded = WithJpegComment(padded, std::string(60000, 'y'));
  }
  s = MatchImage(padded, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << "oversize image: " << s.error_message();

  // Over --max_request_bytes (4000000): refused by gRPC before decoding.
  s = MatchImage(std::string(4500000, 'z'), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << "oversize request: " << s.error_message();
}

TEST_F(MatchServerTest, HashErrorsHaveSpecificCodes) {
  v1::MatchResponse r;
  grpc::Status s = MatchHashes({PdqHex(std::string(64, 'g'))}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "bad hex: " << s.error_message();

  s = MatchHashes({PdqHex(std::string(62, 'a'))}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "short hex: " << s.error_message();

  v1::QueryHash raw;
  raw.set_signal_type(v1::SIGNAL_TYPE_MD5);
  raw.set_raw(std::string(15, 'a'));
  s = MatchHashes({raw}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "wrong length: " << s.error_message();

  v1::QueryHash unknown = PdqHex(kAutumnSmallPdq);
  unknown.set_signal_type(static_cast<v1::SignalType>(99));
  s = MatchHashes({unknown}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "unknown signal: " << s.error_message();

  v1::QueryHash unspecified = PdqHex(kAutumnSmallPdq);
  unspecified.set_signal_type(v1::SIGNAL_TYPE_UNSPECIFIED);
  s = MatchHashes({unspecified}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "unspecified signal: " << s.error_message();

  // A video's identity hash is not a query hash (issue 14, defect 7a: this
  // was INTERNAL "index search failed").
  v1::QueryHash video = PdqHex(kAutumnSmallPdq);
  video.set_signal_type(v1::SIGNAL_TYPE_VPDQ);
  s = MatchHashes({video}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "vpdq signal: " << s.error_message();
  EXPECT_NE(s.error_message().find("SIGNAL_TYPE_VPDQ is not allowed"),
            std::string::npos)
      << s.error_message();

  s = MatchHashes({}, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "no hashes: " << s.error_message();

  s = MatchHashes(std::vector<v1::QueryHash>(5, PdqHex(kAutumnSmallPdq)), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << "over --max_hashes: " << s.error_message();

  v1::MatchHashesRequest bad_option;
  *bad_option.add_hashes() = PdqHex(kAutumnSmallPdq);
  bad_option.mutable_options()->set_pdq_threshold(64);
  s = stub_->MatchHashes(Context().get(), bad_option, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << "threshold 64: " << s.error_message();
}

TEST_F(MatchServerTest, BatchOverTheLimitFailsAsAWhole) {
  v1::MatchBatchRequest request;
  for (int i = 0; i < 4; ++i) {
    request.add_images()->set_image(ReadOrDie(kPathSmall));
  }
  v1::MatchBatchResponse r;
  grpc::Status s = stub_->MatchBatch(Context().get(), request, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.error_message();
  s = stub_->MatchBatch(Context().get(), v1::MatchBatchRequest(), &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
      << s.error_message();
}

TEST_F(MatchServerTest, HealthIsServingAndReflectionIsOn) {
  std::unique_ptr<Health::Stub> health = Health::NewStub(Insecure(port_));
  for (const char* service : {"", "hashmatch.v1.MatchService"}) {
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::Status s = health->Check(Context().get(), request, &response);
    ASSERT_TRUE(s.ok()) << service << ": " << s.error_message();
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING) << service;
  }
  HealthCheckRequest unknown;
  unknown.set_service("no.such.Service");
  HealthCheckResponse response;
  EXPECT_EQ(health->Check(Context().get(), unknown, &response).error_code(),
            grpc::StatusCode::NOT_FOUND);
}

TEST_F(MatchServerTest, MetricsCountRequestsAndVerdicts) {
  absl::StatusOr<std::string> before =
      testing_util::HttpGet(metrics_port_, "/metrics");
  ASSERT_TRUE(before.ok()) << before.status();
  ASSERT_TRUE(absl::StartsWith(*before, "HTTP/1.")) << *before;
  v1::MatchResponse r;
  ASSERT_TRUE(MatchHashes({PdqHex(kAutumnSmallPdq)}, &r).ok());
  ASSERT_TRUE(MatchHashes({PdqHex(kAutumnSmallPdq)}, &r).ok());
  EXPECT_FALSE(MatchHashes({PdqHex("zz")}, &r).ok());
  absl::StatusOr<std::string> after =
      testing_util::HttpGet(metrics_port_, "/metrics");
  ASSERT_TRUE(after.ok()) << after.status();
  using testing_util::PrometheusSum;
  auto delta = [&](const char* name,
                   std::vector<std::pair<std::string, std::string>> labels) {
    return PrometheusSum(*after, name, labels) -
           PrometheusSum(*before, name, labels);
  };
  EXPECT_EQ(delta(kMetricRequests, {{"rpc", "MatchHashes"}, {"code", "OK"}}), 2)
      << *after;
  EXPECT_EQ(delta(kMetricRequests,
                  {{"rpc", "MatchHashes"}, {"code", "INVALID_ARGUMENT"}}),
            1)
      << *after;
  EXPECT_EQ(delta(kMetricVerdicts, {{"verdict", "MATCH"}}), 2) << *after;
  EXPECT_EQ(PrometheusSum(*after, kMetricIndexEntries), 2) << *after;
  EXPECT_EQ(PrometheusSum(*after, kMetricIndexEntries, {{"signal", "PDQ"}}), 1)
      << *after;
  EXPECT_GE(PrometheusSum(*after, "hashmatch_rpc_latency_seconds_count",
                          {{"rpc", "MatchHashes"}}),
            3)
      << *after;
}

TEST_F(MatchServerTest, CliPrintsVerdictsAndExitsThreeOnAMatch) {
  const std::string server = absl::StrCat("127.0.0.1:", port_);
  testing_util::RunResult r = testing_util::RunBinary(
      HASHMATCH_BINARY,
      {"match", "--server", server, kAutumnSmall, kPathSmall, "/no/such"});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  ASSERT_EQ(lines.size(), 3u) << r.out;
  EXPECT_EQ(lines[0],
            absl::StrCat(kAutumnSmall,
                         "\tMATCH\tpdq_threshold\tentry=", ids_.autumn_pdq,
                         " signal=pdq distance=16 variant=original"
                         "\tindex_sequence=2"));
  EXPECT_EQ(lines[1], absl::StrCat(kPathSmall,
                                   "\tNO_MATCH\tno_entry_within_threshold\t-"
                                   "\tindex_sequence=2"));
  EXPECT_NE(r.err.find("/no/such: NOT_FOUND"), std::string::npos) << r.err;

  r = testing_util::RunBinary(
      HASHMATCH_BINARY, {"match", "--server", server, "--hashes", kPathSmall});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\tNO_MATCH\t"), std::string::npos) << r.out;

  r = testing_util::RunBinary(
      HASHMATCH_BINARY,
      {"match", "--server", server, "--hashes", "--json", kKiteSmall});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.out.find("\"verdict\":\"VERDICT_MATCH\""), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"rule\":\"DECISION_RULE_EXACT_MD5\""),
            std::string::npos)
      << r.out;

  // A file the server refuses: the code name per file, exit 1.
  TempDir tmp("match_cli");
  const std::string bad = tmp.path() + "/bad.jpg";
  ASSERT_TRUE(testing_util::WriteWholeFile(bad, "not an image"));
  r = testing_util::RunBinary(HASHMATCH_BINARY,
                              {"match", "--server", server, bad});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bad.jpg: INVALID_ARGUMENT: "), std::string::npos)
      << r.err;
}

// Servers of their own: tokens, capacity, deadlines, drain, TLS, privacy.
class OwnServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PhotosPresent()) GTEST_SKIP() << "wallpaper packages not installed";
    ASSERT_FALSE(dir_.path().empty());
    absl::StatusOr<SeededIds> ids = MakeStore(dir_.path() + "/db");
    ASSERT_TRUE(ids.ok()) << ids.status();
    ids_ = *ids;
  }

  // Starts the server with BaseFlags + `extra`; sets port_ (and
  // metrics_port_). Waits for health SERVING over plaintext unless `tls`
  // (then the test waits itself).
  void StartServer(const std::vector<std::string>& extra, bool tls = false) {
    ASSERT_TRUE(server_
                    .Start(MATCH_SERVER_BINARY,
                           Concat(BaseFlags(dir_.path()), extra), dir_.path())
                    .ok());
    absl::StatusOr<int> port = server_.WaitForPortFile(dir_.path() + "/port");
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    if (!tls) {
      ASSERT_TRUE(WaitServing(Insecure(port_))) << server_.Stderr();
    }
    absl::StatusOr<int> metrics =
        server_.WaitForPortFile(dir_.path() + "/metrics_port");
    ASSERT_TRUE(metrics.ok()) << metrics.status();
    metrics_port_ = *metrics;
  }

  TempDir dir_{"match_server_own"};
  ServerProcess server_;
  SeededIds ids_;
  int port_ = 0;
  int metrics_port_ = 0;
};

std::string Sha256Hex(const std::string& s) {
  ImageHasher hasher;
  static constexpr Algorithm kSha[] = {Algorithm::kSha256};
  return hasher.HashBytes(s, kSha, {})->results[0].hex;
}

TEST_F(OwnServerTest, TokensGuardMatchServiceButNotHealth) {
  const std::string tokens = dir_.path() + "/tokens";
  ASSERT_TRUE(testing_util::WriteWholeFile(
      tokens,
      absl::StrCat("# platform tokens\nplatform-a ", Sha256Hex("secret-a"),
                   "\nplatform-b ", Sha256Hex("secret-b"), "\n")));
  StartServer({"--tokens_file", tokens});
  auto stub = v1::MatchService::NewStub(Insecure(port_));
  v1::MatchHashesRequest request;
  *request.add_hashes() = PdqHex(kAutumnSmallPdq);
  v1::MatchResponse r;

  grpc::Status s = stub->MatchHashes(Context().get(), request, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << "missing: " << s.error_message();

  auto bad = Context();
  bad->AddMetadata("authorization", "Bearer secret-c");
  s = stub->MatchHashes(bad.get(), request, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << "unknown: " << s.error_message();

  auto good = Context();
  good->AddMetadata("authorization", "Bearer secret-b");
  s = stub->MatchHashes(good.get(), request, &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.verdict(), v1::VERDICT_MATCH);

  v1::IndexInfo info;
  s = stub->GetIndexInfo(Context().get(), v1::GetIndexInfoRequest(), &info);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAUTHENTICATED);

  HealthCheckResponse health;
  s = Health::NewStub(Insecure(port_))
          ->Check(Context().get(), HealthCheckRequest(), &health);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(health.status(), HealthCheckResponse::SERVING);

  // The CLI takes the token from the environment.
  const std::string server = absl::StrCat("127.0.0.1:", port_);
  setenv("HASHMATCH_TOKEN", "secret-a", 1);
  testing_util::RunResult cli = testing_util::RunBinary(
      HASHMATCH_BINARY, {"match", "--server", server, kAutumnSmall});
  EXPECT_EQ(cli.exit_code, 3) << cli.err;
  cli = testing_util::RunBinary(
      HASHMATCH_BINARY,
      {"match", "--server", server, "--token", "wrong", kAutumnSmall});
  EXPECT_EQ(cli.exit_code, 1);
  EXPECT_NE(cli.err.find("UNAUTHENTICATED"), std::string::npos) << cli.err;
  unsetenv("HASHMATCH_TOKEN");

  // Nothing in flight: SIGTERM exits at once, although `stub`'s connection
  // is still open (idle connections do not hold the 10 s drain).
  const auto stop_start = std::chrono::steady_clock::now();
  EXPECT_EQ(server_.Stop(SIGTERM), 0) << server_.Stderr();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_start,
            std::chrono::seconds(5));
  // Tokens never reach the log.
  EXPECT_EQ(server_.Stderr().find("secret-"), std::string::npos);
}

TEST_F(OwnServerTest, PastCapacityIsResourceExhaustedAndDeadlinesHold) {
  StartServer({"--max_concurrent_rpcs", "1"});
  const std::string slow = SmoothJpeg(6000, 1);
  auto stub = v1::MatchService::NewStub(Insecure(port_));

  // Time one slow request alone.
  v1::MatchImageRequest slow_request;
  slow_request.set_image(slow);
  v1::MatchResponse r;
  auto start = std::chrono::steady_clock::now();
  grpc::Status s = stub->MatchImage(Context().get(), slow_request, &r);
  const double slow_ms = std::chrono::duration<double, std::milli>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_GT(slow_ms, 100) << "the slow image is not slow enough";

  // While it runs again, the only slot is taken: fast requests are refused
  // at once (not queued).
  std::atomic<bool> slow_done{false};
  grpc::Status slow_status;
  std::thread slow_thread([&] {
    v1::MatchResponse sr;
    slow_status = stub->MatchImage(Context().get(), slow_request, &sr);
    slow_done = true;
  });
  int exhausted = 0, other = 0;
  v1::MatchHashesRequest fast;
  *fast.add_hashes() = PdqHex(kAutumnSmallPdq);
  while (!slow_done) {
    v1::MatchResponse fr;
    auto t0 = std::chrono::steady_clock::now();
    grpc::Status fs = stub->MatchHashes(Context().get(), fast, &fr);
    const double ms = std::chrono::duration<double, std::milli>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
    if (fs.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++exhausted;
      EXPECT_LT(ms, slow_ms / 2) << "refusal waited for the slot";
    } else if (!fs.ok()) {
      ++other;
      ADD_FAILURE() << fs.error_code() << " " << fs.error_message();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  slow_thread.join();
  EXPECT_TRUE(slow_status.ok()) << slow_status.error_message();
  EXPECT_GT(exhausted, 0);
  EXPECT_EQ(other, 0);

  // Capacity is back once the slow request is done.
  s = stub->MatchHashes(Context().get(), fast, &r);
  EXPECT_TRUE(s.ok()) << s.error_message();

  // A deadline shorter than the work: DEADLINE_EXCEEDED.
  s = stub->MatchImage(Context(20).get(), slow_request, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << s.error_message();
  // The server is still healthy afterwards: once the abandoned decode
  // finishes (its time varies with the machine's load) the slot is free.
  const auto healthy_by =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    s = stub->MatchHashes(Context().get(), fast, &r);
  } while (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED &&
           std::chrono::steady_clock::now() < healthy_by);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(server_.Stop(SIGTERM), 0) << server_.Stderr();
}

// The request in flight during the drain is a MatchVideo stream the test
// holds open: it stays in flight exactly until the test half-closes it, and
// what is left to do then is matching one frame hash. (It was a 36 MP
// MatchImage: under ASan on a loaded machine its decode outlasted the 20 s
// drain, and the server rightly cancelled it, 2 runs in 20.)
TEST_F(OwnServerTest, SigtermDrainsInFlightRequestsAndExitsZero) {
  StartServer({"--drain_seconds", "20"});
  auto channel = Insecure(port_);
  auto stub = v1::MatchService::NewStub(channel);

  // Watch health: SERVING now, NOT_SERVING once draining.
  grpc::ClientContext watch_context;
  HealthCheckRequest watch_request;
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> watch =
      Health::NewStub(channel)->Watch(&watch_context, watch_request);
  HealthCheckResponse state;
  ASSERT_TRUE(watch->Read(&state));
  EXPECT_EQ(state.status(), HealthCheckResponse::SERVING);

  // A video given as its frame hashes: one frame of quality 100 that no
  // entry is near.
  grpc::ClientContext video_context;
  video_context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(120));
  v1::MatchVideoResponse video_response;
  std::unique_ptr<grpc::ClientWriter<v1::MatchVideoRequest>> video =
      stub->MatchVideo(&video_context, &video_response);
  v1::MatchVideoRequest header;
  header.mutable_header()->set_content_ref("held-open");
  v1::VideoFrame* frame = header.mutable_header()->add_frames();
  std::string pdq(32, '\0');
  for (size_t i = 0; i < pdq.size(); ++i) {
    pdq[i] = static_cast<char>(i * 37 + 11);
  }
  frame->set_pdq(pdq);
  frame->set_quality(100);
  ASSERT_TRUE(video->Write(header));
  // In flight once admitted (the metrics show it); then SIGTERM.
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  bool in_flight = false;
  while (!in_flight && std::chrono::steady_clock::now() < end) {
    absl::StatusOr<std::string> m =
        testing_util::HttpGet(metrics_port_, "/metrics");
    in_flight = m.ok() && testing_util::PrometheusSum(*m, kMetricInflight) >= 1;
    if (!in_flight) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_TRUE(in_flight);
  ASSERT_TRUE(server_.Signal(SIGTERM));

  ASSERT_TRUE(watch->Read(&state));
  EXPECT_EQ(state.status(), HealthCheckResponse::NOT_SERVING);
  // New requests are refused while the video call is still open.
  v1::MatchHashesRequest fast;
  *fast.add_hashes() = PdqHex(kAutumnSmallPdq);
  v1::MatchResponse r;
  grpc::Status s = stub->MatchHashes(Context().get(), fast, &r);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  // The held call is answered, not cut: the drain waited for it.
  ASSERT_TRUE(video->WritesDone());
  grpc::Status video_status = video->Finish();
  EXPECT_TRUE(video_status.ok()) << video_status.error_message();
  EXPECT_EQ(video_response.content_ref(), "held-open");
  EXPECT_EQ(video_response.query_frames(), 1);
  EXPECT_EQ(video_response.verdict(), v1::VERDICT_NO_MATCH);
  EXPECT_EQ(server_.Wait(), 0) << server_.Stderr();
  watch_context.TryCancel();
}

// Readiness. The server binds, writes the port file and logs "listening"
// with health NOT_SERVING, then loads the index and flips to SERVING. A
// store of 300k PDQ entries makes the load take far longer (hundreds of ms)
// than this test needs to see the port file and open a Watch (a few ms), so
// the stream starts NOT_SERVING; the log order is checked as well, which
// does not depend on timing at all.
TEST_F(OwnServerTest, ReadinessIsNotServingUntilTheIndexIsLoaded) {
  {
    StoreOptions options;
    options.sync = false;
    absl::StatusOr<std::unique_ptr<HashStore>> store =
        HashStore::Open(options, dir_.path() + "/db");
    ASSERT_TRUE(store.ok()) << store.status();
    std::mt19937_64 rng(7);
    std::vector<v1::Entry> batch;
    for (int i = 0; i < 300000; ++i) {
      v1::Entry e;
      e.set_signal_type(v1::SIGNAL_TYPE_PDQ);
      std::string hash(32, '\0');
      for (char& c : hash) c = static_cast<char>(rng());
      e.set_hash(hash);
      e.set_source_agency("bulk");
      e.set_external_id(absl::StrCat("bulk-", i));
      e.set_state(v1::VETTING_STATE_ACTIVE);
      batch.push_back(std::move(e));
      if (batch.size() == 10000) {
        ASSERT_TRUE((*store)->Put(batch).ok());
        batch.clear();
      }
    }
  }
  ASSERT_TRUE(server_
                  .Start(MATCH_SERVER_BINARY,
                         Concat(BaseFlags(dir_.path()), {}), dir_.path())
                  .ok());
  absl::StatusOr<int> port =
      server_.WaitForPortFile(dir_.path() + "/port", std::chrono::seconds(60),
                              std::chrono::milliseconds(1));
  ASSERT_TRUE(port.ok()) << port.status();
  auto channel = Insecure(*port);
  grpc::ClientContext watch_context;
  watch_context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(120));
  HealthCheckRequest request;
  request.set_service("hashmatch.v1.MatchService");
  std::unique_ptr<grpc::ClientReader<HealthCheckResponse>> watch =
      Health::NewStub(channel)->Watch(&watch_context, request);
  HealthCheckResponse state;
  ASSERT_TRUE(watch->Read(&state));
  EXPECT_EQ(state.status(), HealthCheckResponse::NOT_SERVING);
  // Not ready: MatchService refuses with UNAVAILABLE, not a wrong answer.
  auto stub = v1::MatchService::NewStub(channel);
  v1::MatchHashesRequest hashes;
  *hashes.add_hashes() = PdqHex(kAutumnSmallPdq);
  v1::MatchResponse r;
  grpc::Status s = stub->MatchHashes(Context().get(), hashes, &r);
  bool served_early = s.ok();
  if (!s.ok()) {
    EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE);
  }

  ASSERT_TRUE(watch->Read(&state));
  EXPECT_EQ(state.status(), HealthCheckResponse::SERVING);
  EXPECT_FALSE(served_early) << "answered while NOT_SERVING";
  s = stub->MatchHashes(Context().get(), hashes, &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.verdict(), v1::VERDICT_MATCH);
  EXPECT_EQ(r.index_sequence(), 300002u);
  watch_context.TryCancel();
  absl::StatusOr<int> metrics_port =
      server_.WaitForPortFile(dir_.path() + "/metrics_port");
  ASSERT_TRUE(metrics_port.ok());
  absl::StatusOr<std::string> m =
      testing_util::HttpGet(*metrics_port, "/metrics");
  ASSERT_TRUE(m.ok());
  // Set just after health turns SERVING: poll briefly.
  for (int i = 0; i < 200; ++i) {
    m = testing_util::HttpGet(*metrics_port, "/metrics");
    ASSERT_TRUE(m.ok());
    if (testing_util::PrometheusSum(*m, kMetricReady) == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(testing_util::PrometheusSum(*m, kMetricReady), 1) << *m;
  EXPECT_EQ(server_.Stop(SIGTERM), 0);

  const std::string log = server_.Stderr();
  const size_t listening = log.find(kLogListening);
  const size_t loaded = log.find(kLogIndexLoaded);
  ASSERT_NE(listening, std::string::npos) << log;
  ASSERT_NE(loaded, std::string::npos) << log;
  EXPECT_LT(listening, loaded) << log;
}

using testing_util::MakeTlsFiles;

std::shared_ptr<grpc::Channel> TlsChannel(int port, const std::string& d,
                                          bool client_cert) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = testing_util::ReadWholeFile(d + "/ca.pem");
  if (client_cert) {
    ssl.pem_cert_chain = testing_util::ReadWholeFile(d + "/client.pem");
    ssl.pem_private_key = testing_util::ReadWholeFile(d + "/client.key");
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                   grpc::SslCredentials(ssl), args);
}

TEST_F(OwnServerTest, TlsServesTlsClientsOnly) {
  ASSERT_TRUE(MakeTlsFiles(dir_.path()));
  const std::string& d = dir_.path();
  StartServer({"--tls_cert", d + "/server.pem", "--tls_key", d + "/server.key"},
              /*tls=*/true);
  ASSERT_TRUE(WaitServing(TlsChannel(port_, d, false))) << server_.Stderr();
  v1::IndexInfo info;
  grpc::Status s = v1::MatchService::NewStub(TlsChannel(port_, d, false))
                       ->GetIndexInfo(Context().get(), {}, &info);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(info.sequence(), 2u);
  s = v1::MatchService::NewStub(Insecure(port_))
          ->GetIndexInfo(Context(3000).get(), {}, &info);
  EXPECT_FALSE(s.ok()) << "plaintext client was served";

  testing_util::RunResult cli = testing_util::RunBinary(
      HASHMATCH_BINARY,
      {"match", "--server", absl::StrCat("127.0.0.1:", port_), "--tls_ca",
       d + "/ca.pem", "--tls_server_name", "localhost", kAutumnSmall});
  EXPECT_EQ(cli.exit_code, 3) << cli.err;
  EXPECT_NE(cli.out.find("\tMATCH\t"), std::string::npos) << cli.out;
  EXPECT_EQ(server_.Stop(SIGTERM), 0) << server_.Stderr();
}

TEST_F(OwnServerTest, MutualTlsNeedsAClientCertificate) {
  ASSERT_TRUE(MakeTlsFiles(dir_.path()));
  const std::string& d = dir_.path();
  StartServer({"--tls_cert", d + "/server.pem", "--tls_key", d + "/server.key",
               "--tls_client_ca", d + "/ca.pem"},
              /*tls=*/true);
  ASSERT_TRUE(WaitServing(TlsChannel(port_, d, true))) << server_.Stderr();
  v1::IndexInfo info;
  grpc::Status s = v1::MatchService::NewStub(TlsChannel(port_, d, true))
                       ->GetIndexInfo(Context().get(), {}, &info);
  ASSERT_TRUE(s.ok()) << s.error_message();
  s = v1::MatchService::NewStub(TlsChannel(port_, d, false))
          ->GetIndexInfo(Context(5000).get(), {}, &info);
  EXPECT_FALSE(s.ok()) << "client without a certificate was served";
  EXPECT_NE(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << "the handshake should fail, not hang";

  testing_util::RunResult cli = testing_util::RunBinary(
      HASHMATCH_BINARY,
      {"match", "--server", absl::StrCat("127.0.0.1:", port_), "--tls_ca",
       d + "/ca.pem", "--tls_cert", d + "/client.pem", "--tls_key",
       d + "/client.key", "--tls_server_name", "localhost", kPathSmall});
  EXPECT_EQ(cli.exit_code, 0) << cli.err;
  EXPECT_NE(cli.out.find("\tNO_MATCH\t"), std::string::npos) << cli.out;
  EXPECT_EQ(server_.Stop(SIGTERM), 0) << server_.Stderr();
}

// The privacy guarantee: bytes of an uploaded image never reach the data
// directory or the logs, on success and on errors.
TEST_F(OwnServerTest, UploadedBytesNeverReachDiskOrLogs) {
  StartServer({"--max_image_bytes", "1000000"});
  const std::string marker = RandomMarker();
  const std::string marked = WithJpegComment(ReadOrDie(kAutumnSmall), marker);
  auto stub = v1::MatchService::NewStub(Insecure(port_));

  v1::MatchImageRequest request;
  request.set_image(marked);
  request.set_content_ref("privacy-test");
  v1::MatchResponse r;
  grpc::Status s = stub->MatchImage(Context().get(), request, &r);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(r.verdict(), v1::VERDICT_MATCH);  // Decoded, hashed, matched.

  // Error paths see the bytes too: corrupt, unsupported, oversize, batch.
  request.set_image(marker + marker);
  EXPECT_EQ(stub->MatchImage(Context().get(), request, &r).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  request.set_image(marked.substr(0, marked.size() / 2));
  EXPECT_FALSE(stub->MatchImage(Context().get(), request, &r).ok());
  std::string oversize = marked;
  while (oversize.size() <= 1000000) {
    oversize = WithJpegComment(oversize, marker + std::string(60000, 'q'));
  }
  request.set_image(oversize);
  EXPECT_EQ(stub->MatchImage(Context().get(), request, &r).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::MatchBatchRequest batch;
  batch.add_images()->set_image(marked);
  batch.add_images()->set_image(marker);
  v1::MatchBatchResponse br;
  s = stub->MatchBatch(Context().get(), batch, &br);
  ASSERT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(br.items_size(), 2);
  EXPECT_TRUE(br.items(0).has_response());
  ASSERT_TRUE(br.items(1).has_error());
  EXPECT_EQ(br.items(1).error().message().find(marker), std::string::npos);

  ASSERT_EQ(server_.Stop(SIGTERM), 0) << server_.Stderr();
  const std::string log = server_.Stderr() + server_.Stdout();
  EXPECT_NE(log.find("privacy-test"), std::string::npos)
      << "the log should show the RPCs (content_ref is logged)";
  const std::vector<std::string> needles = {marker, Hex(marker),
                                            absl::AsciiStrToUpper(Hex(marker)),
                                            absl::Base64Escape(marker)};
  for (const std::string& needle : needles) {
    EXPECT_EQ(log.find(needle), std::string::npos) << "log has " << needle;
  }
  std::map<std::string, std::string> files =
      testing_util::ReadTree(dir_.path() + "/db");
  ASSERT_FALSE(files.empty());
  for (const auto& [path, content] : files) {
    for (const std::string& needle : needles) {
      EXPECT_EQ(content.find(needle), std::string::npos)
          << path << " has " << needle;
    }
  }
}

// --snapshot_dir: saved at drain, loaded at the next start, and a corrupt
// file is rejected (the index rebuilt from the store) without losing a MATCH.
TEST_F(OwnServerTest, SnapshotSavedAtDrainLoadedAndCorruptOneRejected) {
  const std::string snap = dir_.path() + "/snapshot";
  const std::vector<std::string> flags = {"--seed_demo", "--snapshot_dir",
                                          snap};
  auto expect_match = [&] {
    auto stub = v1::MatchService::NewStub(Insecure(port_));
    v1::MatchHashesRequest request;
    *request.add_hashes() = PdqHex(kAutumnSmallPdq);
    v1::MatchResponse r;
    grpc::Status s = stub->MatchHashes(Context().get(), request, &r);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(r.verdict(), v1::VERDICT_MATCH);
  };
  const char kUsed[] =
      "\"event\":\"index_snapshot\",\"signal\":\"SIGNAL_TYPE_PDQ\","
      "\"used\":true";
  const char kRejected[] =
      "\"event\":\"index_snapshot\",\"signal\":\"SIGNAL_TYPE_PDQ\","
      "\"used\":false";

  StartServer(flags);
  expect_match();
  EXPECT_NE(server_.Stderr().find(kRejected), std::string::npos)
      << "no snapshot yet: " << server_.Stderr();
  ASSERT_EQ(server_.Stop(SIGTERM), 0) << server_.Stderr();
  EXPECT_NE(server_.Stderr().find("\"event\":\"snapshot_saved\""),
            std::string::npos)
      << server_.Stderr();
  const std::string path = VettedIndex::SnapshotPath(snap, v1::SIGNAL_TYPE_PDQ);
  std::string bytes = testing_util::ReadWholeFile(path);
  ASSERT_GT(bytes.size(), 48u) << path;

  // Restart (old port files removed so the new ones are waited for):
  // loaded from the snapshot.
  auto remove_port_files = [&] {
    std::remove((dir_.path() + "/port").c_str());
    std::remove((dir_.path() + "/metrics_port").c_str());
  };
  remove_port_files();
  StartServer(flags);
  EXPECT_NE(server_.Stderr().find(kUsed), std::string::npos)
      << server_.Stderr();
  expect_match();
  ASSERT_EQ(server_.Stop(SIGTERM), 0) << server_.Stderr();

  // One flipped payload byte: DATA_LOSS, rebuilt from the store.
  bytes[bytes.size() - 1] ^= 0x5a;
  ASSERT_TRUE(testing_util::WriteWholeFile(path, bytes));
  remove_port_files();
  StartServer(flags);
  const std::string log = server_.Stderr();
  EXPECT_NE(log.find(kRejected), std::string::npos) << log;
  EXPECT_NE(log.find("\"code\":\"DATA_LOSS\""), std::string::npos) << log;
  expect_match();
  ASSERT_EQ(server_.Stop(SIGTERM), 0) << server_.Stderr();
  // The drain rewrote a good snapshot.
  EXPECT_NE(testing_util::ReadWholeFile(path), bytes);
}

}  // namespace
}  // namespace hashmatch
