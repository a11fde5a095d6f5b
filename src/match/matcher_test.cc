#include "src/match/matcher.h"

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/common/file_util.h"
#include "src/hashing/bit_hash.h"
#include "src/hashing/image_hasher.h"

namespace hashmatch {
namespace {

using hashmatch::v1::Entry;
using hashmatch::v1::MatchHashesRequest;
using hashmatch::v1::MatchImageRequest;
using hashmatch::v1::MatchResponse;
using hashmatch::v1::SignalType;

// Benign photos from Debian's mate-backgrounds (deploy/setup.sh installs it).
constexpr char kPhoto[] = "/usr/share/backgrounds/mate/nature/GreenMeadow.jpg";
constexpr char kOtherPhoto[] =
    "/usr/share/backgrounds/mate/nature/FreshFlower.jpg";

std::string ReadPhoto(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileToString(path, 64 << 20);
  EXPECT_TRUE(bytes.ok()) << path << ": " << bytes.status()
                          << " (apt-get install mate-backgrounds)";
  return bytes.ok() ? *bytes : std::string();
}

cv::Mat DecodeMat(const std::string& bytes) {
  std::vector<uint8_t> buf(bytes.begin(), bytes.end());
  return cv::imdecode(buf, cv::IMREAD_COLOR);
}

std::string EncodeMat(const cv::Mat& m, const std::string& ext,
                      std::vector<int> params = {}) {
  std::vector<uint8_t> buf;
  EXPECT_TRUE(cv::imencode(ext, m, buf, params));
  return std::string(buf.begin(), buf.end());
}

// The photo at half size, re-encoded as JPEG quality 70.
std::string Transformed(const std::string& bytes) {
  cv::Mat m = DecodeMat(bytes), small;
  cv::resize(m, small, cv::Size(m.cols / 2, m.rows / 2), 0, 0, cv::INTER_AREA);
  return EncodeMat(small, ".jpg", {cv::IMWRITE_JPEG_QUALITY, 70});
}

struct PhotoHashes {
  std::string pdq, md5, sha256;  // Raw bytes.
  int quality = 0;
};

PhotoHashes HashPhoto(const std::string& bytes) {
  ImageHasher hasher;
  const Algorithm algos[] = {Algorithm::kPdq, Algorithm::kMd5,
                             Algorithm::kSha256};
  absl::StatusOr<ImageHashes> h = hasher.HashBytes(bytes, algos, {});
  EXPECT_TRUE(h.ok()) << h.status();
  PhotoHashes out;
  if (!h.ok()) return out;
  out.pdq = *HexToBytes(h->results[0].hex);
  out.quality = *h->results[0].quality;
  out.md5 = *HexToBytes(h->results[1].hex);
  out.sha256 = *HexToBytes(h->results[2].hex);
  return out;
}

// `hash` with its first `bits` bits inverted.
std::string FlipBits(std::string hash, int bits) {
  for (int i = 0; i < bits; ++i) hash[i / 8] ^= static_cast<char>(1 << (i % 8));
  return hash;
}

std::string HandMadePdq(uint8_t seed) {
  std::string h(32, '\0');
  for (int i = 0; i < 32; ++i) h[i] = static_cast<char>(seed * 37 + i * 101);
  return h;
}

class MatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("matcher_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    StoreOptions so;
    so.sync = false;
    absl::StatusOr<std::unique_ptr<HashStore>> store =
        HashStore::Open(so, dir_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    absl::StatusOr<std::unique_ptr<VettedIndex>> index =
        VettedIndex::Open(store_.get(), VettedIndexOptions());
    ASSERT_TRUE(index.ok()) << index.status();
    index_ = *std::move(index);
    MakeMatcher(MatcherOptions());
  }

  void TearDown() override {
    matcher_.reset();
    index_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  void MakeMatcher(const MatcherOptions& options) {
    absl::StatusOr<std::unique_ptr<Matcher>> m =
        Matcher::Create(store_.get(), index_.get(), options);
    ASSERT_TRUE(m.ok()) << m.status();
    matcher_ = *std::move(m);
  }

  // Puts one ACTIVE entry and catches the index up; returns its id.
  uint64_t Add(SignalType signal, const std::string& hash,
               const std::string& external_id,
               const std::string& classification = "class-a") {
    Entry e;
    e.set_signal_type(signal);
    e.set_hash(hash);
    e.set_source_agency("agency-1");
    e.set_external_id(external_id);
    e.set_classification(classification);
    e.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
    absl::StatusOr<std::vector<Entry>> stored = store_->Put({e});
    EXPECT_TRUE(stored.ok()) << stored.status();
    EXPECT_TRUE(index_->CatchUp().ok());
    return stored.ok() ? (*stored)[0].id() : 0;
  }

  static MatchHashesRequest OneHash(SignalType signal, const std::string& raw,
                                    std::optional<int> quality = std::nullopt) {
    MatchHashesRequest r;
    hashmatch::v1::QueryHash* h = r.add_hashes();
    h->set_signal_type(signal);
    h->set_raw(raw);
    if (quality.has_value()) h->set_quality(*quality);
    return r;
  }

  static MatchImageRequest Image(const std::string& bytes) {
    MatchImageRequest r;
    r.set_image(bytes);
    return r;
  }

  std::filesystem::path dir_;
  std::unique_ptr<HashStore> store_;
  std::unique_ptr<VettedIndex> index_;
  std::unique_ptr<Matcher> matcher_;
};

// ---- policy through MatchHashes ----

TEST_F(MatcherTest, PdqDistance31MatchesAnd32DoesNotAtDefault) {
  const std::string h = HandMadePdq(1);
  const uint64_t id = Add(hashmatch::v1::SIGNAL_TYPE_PDQ, h, "x1");

  absl::StatusOr<MatchResponse> r = matcher_->MatchHashes(
      OneHash(hashmatch::v1::SIGNAL_TYPE_PDQ, FlipBits(h, 31), 90));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_MATCH);
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_PDQ_THRESHOLD);
  EXPECT_EQ(r->rule_detail(),
            "pdq distance 31 <= 31 (original), entry " + std::to_string(id));
  ASSERT_EQ(r->matches_size(), 1);
  EXPECT_EQ(r->matches(0).entry_id(), id);
  EXPECT_EQ(r->matches(0).distance(), 31);
  EXPECT_EQ(r->matches(0).dihedral(), hashmatch::v1::DIHEDRAL_VARIANT_ORIGINAL);
  EXPECT_EQ(r->matches(0).classification(), "class-a");
  EXPECT_EQ(r->matches(0).source_agency(), "agency-1");
  EXPECT_EQ(r->matches(0).state(), hashmatch::v1::VETTING_STATE_ACTIVE);
  EXPECT_EQ(r->matches(0).entry_hash_hex(), BytesToHex(h));
  EXPECT_EQ(r->index_sequence(), index_->applied_sequence());
  EXPECT_EQ(r->index_sequence(), 1u);
  ASSERT_EQ(r->query_hashes_size(), 1);
  EXPECT_EQ(r->query_hashes(0).hex(), BytesToHex(FlipBits(h, 31)));
  EXPECT_EQ(r->query_hashes(0).quality(), 90);

  r = matcher_->MatchHashes(
      OneHash(hashmatch::v1::SIGNAL_TYPE_PDQ, FlipBits(h, 32), 90));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_NO_MATCH);
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_NO_ENTRY_WITHIN_THRESHOLD);
  EXPECT_EQ(r->matches_size(), 0);
}

// A still image whose PDQ is near a frame of a video entry matches it (lane
// VPDQ, rule VIDEO_FRAME) with the frame's ordinal and time, unless the
// request turns video_frames off; a PDQ image entry decides first.
TEST_F(MatcherTest, PdqHashMatchesAFrameOfAVideoEntry) {
  Entry video;
  video.set_signal_type(hashmatch::v1::SIGNAL_TYPE_VPDQ);
  for (int i = 0; i < 3; ++i) {
    hashmatch::v1::VideoFrame* f = video.add_video_frames();
    f->set_pdq(HandMadePdq(20 + i));
    f->set_quality(100);
    f->set_frame_number(25 * i);
    f->set_timestamp_seconds(1.5 * i);
  }
  video.set_hash(VideoFramesDigest(video.video_frames()));
  video.set_source_agency("agency-1");
  video.set_external_id("clip-1");
  video.set_classification("class-v");
  video.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
  absl::StatusOr<std::vector<Entry>> stored = store_->Put({video});
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_TRUE(index_->CatchUp().ok());
  const uint64_t vid = (*stored)[0].id();

  absl::StatusOr<MatchResponse> r = matcher_->MatchHashes(OneHash(
      hashmatch::v1::SIGNAL_TYPE_PDQ, FlipBits(HandMadePdq(22), 5), 80));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_MATCH);
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_VIDEO_FRAME);
  EXPECT_EQ(r->rule_detail(),
            "vpdq distance 5 <= 31, entry " + std::to_string(vid));
  ASSERT_EQ(r->matches_size(), 1);
  EXPECT_EQ(r->matches(0).entry_id(), vid);
  EXPECT_EQ(r->matches(0).signal_type(), hashmatch::v1::SIGNAL_TYPE_VPDQ);
  EXPECT_EQ(r->matches(0).distance(), 5);
  EXPECT_EQ(r->matches(0).video_frame(), 2);
  EXPECT_DOUBLE_EQ(r->matches(0).video_timestamp_seconds(), 3.0);
  EXPECT_EQ(r->matches(0).classification(), "class-v");

  MatchHashesRequest off =
      OneHash(hashmatch::v1::SIGNAL_TYPE_PDQ, FlipBits(HandMadePdq(22), 5), 80);
  off.mutable_options()->set_video_frames(false);
  r = matcher_->MatchHashes(off);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_NO_MATCH);
  EXPECT_EQ(r->rule_detail(), "no entry matched (pdq <= 31)");

  // With video frames on, the NO_MATCH explanation names the lane; a PDQ
  // image entry at a larger distance still decides before a video frame.
  r = matcher_->MatchHashes(
      OneHash(hashmatch::v1::SIGNAL_TYPE_PDQ, HandMadePdq(40), 80));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rule_detail(), "no entry matched (pdq <= 31; vpdq <= 31)");
  const uint64_t still =
      Add(hashmatch::v1::SIGNAL_TYPE_PDQ, FlipBits(HandMadePdq(20), 9), "s1");
  r = matcher_->MatchHashes(
      OneHash(hashmatch::v1::SIGNAL_TYPE_PDQ, HandMadePdq(20), 80));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_PDQ_THRESHOLD);
  EXPECT_EQ(r->matches_size(), 2);
  EXPECT_EQ(r->matches(0).entry_id(), vid);  // Distance 0 lists first.
  EXPECT_EQ(r->matches(1).entry_id(), still);
}

TEST_F(MatcherTest, PerRequestThresholdOverride) {
  const std::string h = HandMadePdq(2);
  Add(hashmatch::v1::SIGNAL_TYPE_PDQ, h, "x1");
  MatchHashesRequest req =
      OneHash(hashmatch::v1::SIGNAL_TYPE_PDQ, FlipBits(h, 32));
  req.mutable_options()->set_pdq_threshold(32);
  absl::StatusOr<MatchResponse> r = matcher_->MatchHashes(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_MATCH);
  EXPECT_EQ(r->matches(0).distance(), 32);

  req.mutable_options()->set_pdq_threshold(10);
  req.mutable_hashes(0)->set_raw(FlipBits(h, 11));
  r = matcher_->MatchHashes(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_NO_MATCH);

  for (int bad : {-1, 64}) {
    req.mutable_options()->set_pdq_threshold(bad);
    r = matcher_->MatchHashes(req);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("options.pdq_threshold"),
              std::string::npos)
        << r.status();
  }
  req.mutable_options()->clear_pdq_threshold();
  req.mutable_options()->set_phash_threshold(33);
  EXPECT_EQ(matcher_->MatchHashes(req).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(MatcherTest, ExactHitWithLowQualityIsExactMatch) {
  const std::string md5(16, '\x5a');
  const uint64_t id = Add(hashmatch::v1::SIGNAL_TYPE_MD5, md5, "m1");
  MatchHashesRequest req =
      OneHash(hashmatch::v1::SIGNAL_TYPE_PDQ, HandMadePdq(3), 10);
  hashmatch::v1::QueryHash* h = req.add_hashes();
  h->set_signal_type(hashmatch::v1::SIGNAL_TYPE_MD5);
  h->set_hex(absl::AsciiStrToUpper(BytesToHex(md5)));
  absl::StatusOr<MatchResponse> r = matcher_->MatchHashes(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_MATCH);
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_EXACT_MD5);
  // Query hashes in policy order: exact lanes first.
  ASSERT_EQ(r->query_hashes_size(), 2);
  EXPECT_EQ(r->query_hashes(0).signal_type(), hashmatch::v1::SIGNAL_TYPE_MD5);
  EXPECT_EQ(r->query_hashes(0).hex(), BytesToHex(md5));
  EXPECT_FALSE(r->query_hashes(0).has_quality());
  ASSERT_EQ(r->matches_size(), 1);
  EXPECT_EQ(r->matches(0).entry_id(), id);
  EXPECT_EQ(r->matches(0).distance(), 0);
  EXPECT_EQ(r->matches(0).dihedral(),
            hashmatch::v1::DIHEDRAL_VARIANT_UNSPECIFIED);
}

TEST_F(MatcherTest, LowQualityWithoutExactHitIsLowQuality) {
  const std::string h = HandMadePdq(4);
  Add(hashmatch::v1::SIGNAL_TYPE_PDQ, h, "x1");
  absl::StatusOr<MatchResponse> r = matcher_->MatchHashes(
      OneHash(hashmatch::v1::SIGNAL_TYPE_PDQ, FlipBits(h, 3), 49));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_LOW_QUALITY);
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_QUALITY_GATE);
  // The near-match is still listed.
  ASSERT_EQ(r->matches_size(), 1);
  EXPECT_EQ(r->matches(0).distance(), 3);
  // Quality unknown: the gate does not apply.
  r = matcher_->MatchHashes(
      OneHash(hashmatch::v1::SIGNAL_TYPE_PDQ, FlipBits(h, 3)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_MATCH);
  EXPECT_FALSE(r->query_hashes(0).has_quality());
}

TEST_F(MatcherTest, MatchesAreOrderedAndTruncated) {
  const std::string h = HandMadePdq(5);
  std::vector<uint64_t> ids;
  for (int d = 4; d >= 0; --d) {
    ids.push_back(Add(hashmatch::v1::SIGNAL_TYPE_PDQ, FlipBits(h, d),
                      absl::StrCat("p", d)));
  }
  const std::string sha(32, '\x11');
  const uint64_t sha_id = Add(hashmatch::v1::SIGNAL_TYPE_SHA256, sha, "s");
  MatchHashesRequest req = OneHash(hashmatch::v1::SIGNAL_TYPE_PDQ, h, 100);
  hashmatch::v1::QueryHash* q = req.add_hashes();
  q->set_signal_type(hashmatch::v1::SIGNAL_TYPE_SHA256);
  q->set_raw(sha);

  absl::StatusOr<MatchResponse> r = matcher_->MatchHashes(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_EXACT_SHA256);
  ASSERT_EQ(r->matches_size(), 6);
  EXPECT_FALSE(r->matches_truncated());
  EXPECT_EQ(r->matches(0).entry_id(), sha_id);
  for (int i = 1; i < 6; ++i) {
    EXPECT_EQ(r->matches(i).distance(), i - 1);
    EXPECT_EQ(r->matches(i).entry_id(), ids[5 - i]);
  }

  req.mutable_options()->set_max_matches(3);
  r = matcher_->MatchHashes(req);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->matches_size(), 3);
  EXPECT_TRUE(r->matches_truncated());
  EXPECT_EQ(r->matches(0).entry_id(), sha_id);
  EXPECT_EQ(r->matches(1).distance(), 0);
  EXPECT_EQ(r->matches(2).distance(), 1);

  req.mutable_options()->set_max_matches(6);
  r = matcher_->MatchHashes(req);
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->matches_truncated());

  for (int bad : {0, 1001}) {
    req.mutable_options()->set_max_matches(bad);
    EXPECT_EQ(matcher_->MatchHashes(req).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST_F(MatcherTest, RetractedAndPendingEntriesDoNotMatch) {
  const std::string md5(16, '\x22');
  const uint64_t id = Add(hashmatch::v1::SIGNAL_TYPE_MD5, md5, "m");
  ASSERT_TRUE(store_->Retract(id, "agency-1", "test").ok());
  Entry pending;
  pending.set_signal_type(hashmatch::v1::SIGNAL_TYPE_MD5);
  pending.set_hash(md5);
  pending.set_source_agency("agency-2");
  pending.set_external_id("m2");
  pending.set_state(hashmatch::v1::VETTING_STATE_PENDING);
  ASSERT_TRUE(store_->Put({pending}).ok());
  ASSERT_TRUE(index_->CatchUp().ok());
  absl::StatusOr<MatchResponse> r =
      matcher_->MatchHashes(OneHash(hashmatch::v1::SIGNAL_TYPE_MD5, md5));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_NO_MATCH);
  EXPECT_EQ(r->matches_size(), 0);
}

// ---- MatchHashes errors ----

void ExpectError(const absl::StatusOr<MatchResponse>& r, absl::StatusCode code,
                 const std::string& fragment) {
  EXPECT_EQ(r.status().code(), code) << r.status();
  EXPECT_NE(r.status().message().find(fragment), std::string::npos)
      << "\"" << r.status().message() << "\" lacks \"" << fragment << "\"";
}

TEST_F(MatcherTest, MatchHashesErrors) {
  const std::string pdq = HandMadePdq(6);
  MatchHashesRequest req;
  ExpectError(matcher_->MatchHashes(req), absl::StatusCode::kInvalidArgument,
              "no hashes");

  for (int i = 0; i < 17; ++i) {
    auto* h = req.add_hashes();
    h->set_signal_type(hashmatch::v1::SIGNAL_TYPE_PDQ);
    h->set_raw(pdq);
  }
  ExpectError(matcher_->MatchHashes(req), absl::StatusCode::kResourceExhausted,
              "17 hashes");

  auto one = [&](auto&& edit) {
    MatchHashesRequest r = OneHash(hashmatch::v1::SIGNAL_TYPE_PDQ, pdq);
    edit(r.mutable_hashes(0));
    return matcher_->MatchHashes(r);
  };
  using QH = hashmatch::v1::QueryHash;
  ExpectError(one([](QH* h) {
                h->set_signal_type(hashmatch::v1::SIGNAL_TYPE_UNSPECIFIED);
              }),
              absl::StatusCode::kInvalidArgument,
              "hashes[0]: SIGNAL_TYPE_UNSPECIFIED is not allowed");
  ExpectError(
      one([](QH* h) { h->set_signal_type(static_cast<SignalType>(7)); }),
      absl::StatusCode::kInvalidArgument, "unknown signal_type 7");
  ExpectError(one([&](QH* h) { h->set_hex(BytesToHex(pdq)); }),
              absl::StatusCode::kInvalidArgument, "not both");
  ExpectError(one([](QH* h) { h->clear_raw(); }),
              absl::StatusCode::kInvalidArgument, "no hash");
  ExpectError(one([](QH* h) { h->set_raw(std::string(31, 'a')); }),
              absl::StatusCode::kInvalidArgument,
              "pdq raw hash must be 32 bytes, got 31");
  ExpectError(one([](QH* h) {
                h->clear_raw();
                h->set_hex(std::string(63, 'a'));
              }),
              absl::StatusCode::kInvalidArgument,
              "pdq hex must be 64 hex digits, got 63");
  ExpectError(one([](QH* h) {
                h->clear_raw();
                h->set_hex(std::string(63, 'a') + "g");
              }),
              absl::StatusCode::kInvalidArgument, "hashes[0]: ");
  ExpectError(
      one([](QH* h) { h->set_signal_type(hashmatch::v1::SIGNAL_TYPE_MD5); }),
      absl::StatusCode::kInvalidArgument,
      "md5 raw hash must be 16 bytes, got 32");
  ExpectError(one([](QH* h) { h->set_quality(101); }),
              absl::StatusCode::kInvalidArgument, "hashes[0]: quality");
  ExpectError(one([](QH* h) { h->set_quality(-1); }),
              absl::StatusCode::kInvalidArgument, "hashes[0]: quality");

  MatchHashesRequest long_ref = OneHash(hashmatch::v1::SIGNAL_TYPE_PDQ, pdq);
  long_ref.set_content_ref(std::string(257, 'r'));
  ExpectError(matcher_->MatchHashes(long_ref),
              absl::StatusCode::kInvalidArgument, "content_ref is 257 bytes");
  long_ref.set_content_ref(std::string(256, 'r'));
  absl::StatusOr<MatchResponse> ok = matcher_->MatchHashes(long_ref);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->content_ref(), std::string(256, 'r'));
}

// Issue 14, defect 7a: SIGNAL_TYPE_VPDQ names a video entry's identity (the
// digest of its frames), not a hash a query can be matched by; MatchHashes
// with it (raw or hex, with a video entry in the store) was INTERNAL
// ("index search failed") instead of the caller's error. MatchImage's
// options.signals refuses it the same way instead of computing PDQ.
TEST_F(MatcherTest, NonHashSignalTypesAreInvalidArgument) {
  Entry video;
  video.set_signal_type(hashmatch::v1::SIGNAL_TYPE_VPDQ);
  hashmatch::v1::VideoFrame* f = video.add_video_frames();
  f->set_pdq(HandMadePdq(50));
  f->set_quality(100);
  video.set_hash(VideoFramesDigest(video.video_frames()));
  video.set_source_agency("agency-1");
  video.set_external_id("clip-7a");
  video.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
  absl::StatusOr<std::vector<Entry>> stored = store_->Put({video});
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_TRUE(index_->CatchUp().ok());

  ExpectError(matcher_->MatchHashes(
                  OneHash(hashmatch::v1::SIGNAL_TYPE_VPDQ, video.hash())),
              absl::StatusCode::kInvalidArgument,
              "hashes[0]: SIGNAL_TYPE_VPDQ is not allowed");
  MatchHashesRequest hex;
  hashmatch::v1::QueryHash* h = hex.add_hashes();
  h->set_signal_type(hashmatch::v1::SIGNAL_TYPE_VPDQ);
  h->set_hex(BytesToHex(HandMadePdq(50)));
  ExpectError(matcher_->MatchHashes(hex), absl::StatusCode::kInvalidArgument,
              "SIGNAL_TYPE_VPDQ is not allowed");
  // Second in the request, after a good PDQ hash: still the caller's error.
  MatchHashesRequest second =
      OneHash(hashmatch::v1::SIGNAL_TYPE_PDQ, HandMadePdq(50));
  *second.add_hashes() = hex.hashes(0);
  ExpectError(matcher_->MatchHashes(second), absl::StatusCode::kInvalidArgument,
              "hashes[1]: SIGNAL_TYPE_VPDQ is not allowed");

  MatchImageRequest image;
  image.set_image(
      EncodeMat(cv::Mat(64, 64, CV_8UC3, cv::Scalar(9, 99, 199)), ".png"));
  image.mutable_options()->add_signals(hashmatch::v1::SIGNAL_TYPE_VPDQ);
  ExpectError(matcher_->MatchImage(image), absl::StatusCode::kInvalidArgument,
              "options.signals: SIGNAL_TYPE_VPDQ is not allowed");

  MatcherOptions bad_defaults;
  bad_defaults.default_signals = {hashmatch::v1::SIGNAL_TYPE_VPDQ};
  EXPECT_EQ(
      Matcher::Create(store_.get(), index_.get(), bad_defaults).status().code(),
      absl::StatusCode::kInvalidArgument);
}

// ---- MatchImage ----

class MatcherPhotoTest : public MatcherTest {
 protected:
  void SetUp() override {
    MatcherTest::SetUp();
    photo_ = ReadPhoto(kPhoto);
    other_ = ReadPhoto(kOtherPhoto);
    ASSERT_FALSE(photo_.empty());
    ASSERT_FALSE(other_.empty());
    hashes_ = HashPhoto(photo_);
    ASSERT_GE(hashes_.quality, 50);
    pdq_id_ = Add(hashmatch::v1::SIGNAL_TYPE_PDQ, hashes_.pdq, "photo:pdq");
    md5_id_ = Add(hashmatch::v1::SIGNAL_TYPE_MD5, hashes_.md5, "photo:md5");
    sha_id_ =
        Add(hashmatch::v1::SIGNAL_TYPE_SHA256, hashes_.sha256, "photo:sha");
  }

  std::string photo_, other_;
  PhotoHashes hashes_;
  uint64_t pdq_id_ = 0, md5_id_ = 0, sha_id_ = 0;
};

TEST_F(MatcherPhotoTest, OriginalPhotoMatchesEveryLane) {
  MatchImageRequest req = Image(photo_);
  req.set_content_ref("upload-1");
  absl::StatusOr<MatchResponse> r = matcher_->MatchImage(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->content_ref(), "upload-1");
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_MATCH);
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_EXACT_MD5);
  ASSERT_EQ(r->query_hashes_size(), 3);
  EXPECT_EQ(r->query_hashes(0).signal_type(), hashmatch::v1::SIGNAL_TYPE_MD5);
  EXPECT_EQ(r->query_hashes(1).signal_type(),
            hashmatch::v1::SIGNAL_TYPE_SHA256);
  EXPECT_EQ(r->query_hashes(2).signal_type(), hashmatch::v1::SIGNAL_TYPE_PDQ);
  EXPECT_EQ(r->query_hashes(2).hex(), BytesToHex(hashes_.pdq));
  EXPECT_EQ(r->query_hashes(2).quality(), hashes_.quality);
  ASSERT_EQ(r->matches_size(), 3);
  // Exact lanes first (by id), then PDQ.
  EXPECT_EQ(r->matches(0).entry_id(), md5_id_);
  EXPECT_EQ(r->matches(1).entry_id(), sha_id_);
  EXPECT_EQ(r->matches(2).entry_id(), pdq_id_);
  EXPECT_EQ(r->matches(2).distance(), 0);
  EXPECT_EQ(r->matches(2).dihedral(), hashmatch::v1::DIHEDRAL_VARIANT_ORIGINAL);
}

TEST_F(MatcherPhotoTest, TransformedCopyMatchesUnrelatedPhotoDoesNot) {
  absl::StatusOr<MatchResponse> r =
      matcher_->MatchImage(Image(Transformed(photo_)));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_MATCH);
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_PDQ_THRESHOLD);
  ASSERT_EQ(r->matches_size(), 1);
  EXPECT_EQ(r->matches(0).entry_id(), pdq_id_);
  EXPECT_LE(r->matches(0).distance(), 16);
  EXPECT_EQ(r->matches(0).dihedral(), hashmatch::v1::DIHEDRAL_VARIANT_ORIGINAL);

  r = matcher_->MatchImage(Image(other_));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_NO_MATCH);
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_NO_ENTRY_WITHIN_THRESHOLD);
  EXPECT_EQ(r->matches_size(), 0);
}

TEST_F(MatcherPhotoTest, DihedralLookupFindsRotatedPhoto) {
  cv::Mat m = DecodeMat(photo_), rotated;
  // OpenCV's clockwise quarter turn; PDQ's rotate_90 variant of the upload
  // (a counter-clockwise quarter turn) undoes it.
  cv::rotate(m, rotated, cv::ROTATE_90_CLOCKWISE);
  const std::string png = EncodeMat(rotated, ".png");
  absl::StatusOr<MatchResponse> r = matcher_->MatchImage(Image(png));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_MATCH);
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_PDQ_THRESHOLD);
  ASSERT_EQ(r->matches_size(), 1);
  EXPECT_EQ(r->matches(0).entry_id(), pdq_id_);
  EXPECT_EQ(r->matches(0).dihedral(),
            hashmatch::v1::DIHEDRAL_VARIANT_ROTATE_90);
  EXPECT_LE(r->matches(0).distance(), 31);
  EXPECT_NE(r->rule_detail().find("(rotate_90)"), std::string::npos)
      << r->rule_detail();

  MatchImageRequest off = Image(png);
  off.mutable_options()->set_dihedral(false);
  r = matcher_->MatchImage(off);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_NO_MATCH);
  EXPECT_EQ(r->matches_size(), 0);

  // Off by server default, on by request.
  MatcherOptions options;
  options.dihedral = false;
  MakeMatcher(options);
  r = matcher_->MatchImage(Image(png));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_NO_MATCH);
  MatchImageRequest on = Image(png);
  on.mutable_options()->set_dihedral(true);
  r = matcher_->MatchImage(on);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_MATCH);
}

// Which variant finds each OpenCV transform of the vetted photo: the variant
// V of the upload's hash that equals the vetted hash, i.e. V undoes the
// transform (PDQ rotations are counter-clockwise).
TEST_F(MatcherPhotoTest, DihedralVariantPerTransform) {
  const cv::Mat m = DecodeMat(Transformed(photo_));
  struct Case {
    const char* name;
    std::function<cv::Mat(const cv::Mat&)> transform;
    hashmatch::v1::DihedralVariant expected;
  };
  const Case cases[] = {
      {"rotate clockwise",
       [](const cv::Mat& in) {
         cv::Mat out;
         cv::rotate(in, out, cv::ROTATE_90_CLOCKWISE);
         return out;
       },
       hashmatch::v1::DIHEDRAL_VARIANT_ROTATE_90},
      {"rotate 180",
       [](const cv::Mat& in) {
         cv::Mat out;
         cv::rotate(in, out, cv::ROTATE_180);
         return out;
       },
       hashmatch::v1::DIHEDRAL_VARIANT_ROTATE_180},
      {"rotate counter-clockwise",
       [](const cv::Mat& in) {
         cv::Mat out;
         cv::rotate(in, out, cv::ROTATE_90_COUNTERCLOCKWISE);
         return out;
       },
       hashmatch::v1::DIHEDRAL_VARIANT_ROTATE_270},
      {"mirror left-right",
       [](const cv::Mat& in) {
         cv::Mat out;
         cv::flip(in, out, 1);
         return out;
       },
       hashmatch::v1::DIHEDRAL_VARIANT_FLIP_Y},
      {"mirror top-bottom",
       [](const cv::Mat& in) {
         cv::Mat out;
         cv::flip(in, out, 0);
         return out;
       },
       hashmatch::v1::DIHEDRAL_VARIANT_FLIP_X},
      {"transpose",
       [](const cv::Mat& in) {
         cv::Mat out;
         cv::transpose(in, out);
         return out;
       },
       hashmatch::v1::DIHEDRAL_VARIANT_FLIP_PLUS1},
      {"anti-transpose",
       [](const cv::Mat& in) {
         cv::Mat t, out;
         cv::transpose(in, t);
         cv::rotate(t, out, cv::ROTATE_180);
         return out;
       },
       hashmatch::v1::DIHEDRAL_VARIANT_FLIP_MINUS1},
  };
  for (const Case& c : cases) {
    absl::StatusOr<MatchResponse> r =
        matcher_->MatchImage(Image(EncodeMat(c.transform(m), ".png")));
    ASSERT_TRUE(r.ok()) << c.name << ": " << r.status();
    ASSERT_EQ(r->matches_size(), 1) << c.name;
    EXPECT_EQ(r->matches(0).dihedral(), c.expected)
        << c.name << ": got "
        << hashmatch::v1::DihedralVariant_Name(r->matches(0).dihedral());
    EXPECT_LE(r->matches(0).distance(), 20) << c.name;
  }
}

TEST_F(MatcherPhotoTest, RequestedSignals) {
  MatchImageRequest req = Image(Transformed(photo_));
  req.mutable_options()->add_signals(hashmatch::v1::SIGNAL_TYPE_SHA256);
  absl::StatusOr<MatchResponse> r = matcher_->MatchImage(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_NO_MATCH);
  ASSERT_EQ(r->query_hashes_size(), 1);
  EXPECT_EQ(r->query_hashes(0).signal_type(),
            hashmatch::v1::SIGNAL_TYPE_SHA256);

  req.mutable_options()->add_signals(hashmatch::v1::SIGNAL_TYPE_PHASH);
  r = matcher_->MatchImage(req);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->query_hashes_size(), 2);
  EXPECT_EQ(r->query_hashes(1).signal_type(), hashmatch::v1::SIGNAL_TYPE_PHASH);
  EXPECT_EQ(r->query_hashes(1).hex().size(), 16u);

  req.mutable_options()->add_signals(hashmatch::v1::SIGNAL_TYPE_UNSPECIFIED);
  ExpectError(matcher_->MatchImage(req), absl::StatusCode::kInvalidArgument,
              "options.signals: SIGNAL_TYPE_UNSPECIFIED");
}

TEST_F(MatcherPhotoTest, ImageErrors) {
  ExpectError(matcher_->MatchImage(Image("")),
              absl::StatusCode::kInvalidArgument, "image is empty");
  ExpectError(matcher_->MatchImage(Image(std::string(1000, '\x42'))),
              absl::StatusCode::kInvalidArgument, "image: ");
  // A JPEG cut in half.
  ExpectError(matcher_->MatchImage(Image(photo_.substr(0, photo_.size() / 2))),
              absl::StatusCode::kInvalidArgument, "image: ");
  // Not an image, even when only digests are asked for.
  MatchImageRequest md5_only = Image("not an image at all");
  md5_only.mutable_options()->add_signals(hashmatch::v1::SIGNAL_TYPE_MD5);
  ExpectError(matcher_->MatchImage(md5_only),
              absl::StatusCode::kInvalidArgument, "image: ");

  MatcherOptions small;
  small.decode.max_encoded_bytes = photo_.size() - 1;
  small.decode.max_pixels = 1000 * 1000;
  MakeMatcher(small);
  ExpectError(matcher_->MatchImage(Image(photo_)),
              absl::StatusCode::kResourceExhausted,
              "over the limit of " + std::to_string(photo_.size() - 1));
  // 1280x1024 photo at half size: 640x512 = 327680 pixels.
  small.decode.max_encoded_bytes = 32 << 20;
  small.decode.max_pixels = 640 * 512 - 1;
  MakeMatcher(small);
  const std::string half = Transformed(photo_);
  absl::StatusOr<MatchResponse> r = matcher_->MatchImage(Image(half));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted)
      << r.status();
  md5_only.set_image(half);
  ExpectError(matcher_->MatchImage(md5_only),
              absl::StatusCode::kResourceExhausted, "pixels");
  // Error messages never carry the image bytes, not even the first ones.
  r = matcher_->MatchImage(Image("MARKER-1234567890 garbage"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "image: unrecognised image format; supported: JPEG, PNG, WebP, "
            "BMP, TIFF");
  EXPECT_EQ(r.status().message().find(BytesToHex("MARK")), std::string::npos);
}

TEST_F(MatcherTest, FlatImageIsLowQualityUnlessExact) {
  const cv::Mat gray(200, 300, CV_8UC3, cv::Scalar(128, 128, 128));
  const std::string png = EncodeMat(gray, ".png");
  absl::StatusOr<MatchResponse> r = matcher_->MatchImage(Image(png));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_LOW_QUALITY);
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_QUALITY_GATE);
  ASSERT_EQ(r->query_hashes_size(), 3);
  EXPECT_LT(r->query_hashes(2).quality(), 50);

  const PhotoHashes h = HashPhoto(png);
  const uint64_t id = Add(hashmatch::v1::SIGNAL_TYPE_SHA256, h.sha256, "flat");
  r = matcher_->MatchImage(Image(png));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_MATCH);
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_EXACT_SHA256);
  EXPECT_EQ(r->rule_detail(), absl::StrCat("sha256 equals entry ", id));
}

TEST_F(MatcherPhotoTest, Batch) {
  hashmatch::v1::MatchBatchRequest req;
  absl::StatusOr<hashmatch::v1::MatchBatchResponse> r =
      matcher_->MatchBatch(req);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);

  const std::string t = Transformed(photo_);
  *req.add_images() = Image(t);
  *req.add_images() = Image("");
  req.add_images()->set_image(Transformed(other_));
  r = matcher_->MatchBatch(req);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->items_size(), 3);
  ASSERT_TRUE(r->items(0).has_response());
  EXPECT_EQ(r->items(0).response().verdict(), hashmatch::v1::VERDICT_MATCH);
  ASSERT_TRUE(r->items(1).has_error());
  EXPECT_EQ(r->items(1).error().code(), 3);  // INVALID_ARGUMENT
  EXPECT_EQ(r->items(1).error().message(), "image is empty");
  ASSERT_TRUE(r->items(2).has_response());
  EXPECT_EQ(r->items(2).response().verdict(), hashmatch::v1::VERDICT_NO_MATCH);

  hashmatch::v1::MatchBatchRequest big;
  for (int i = 0; i < 17; ++i) *big.add_images() = Image("x");
  r = matcher_->MatchBatch(big);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(r.status().message().find("17 images"), std::string::npos);
  big.mutable_images()->RemoveLast();
  r = matcher_->MatchBatch(big);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->items_size(), 16);
  EXPECT_EQ(r->items(15).error().code(), 3);
}

TEST_F(MatcherPhotoTest, IndexInfo) {
  Add(hashmatch::v1::SIGNAL_TYPE_PDQ, HandMadePdq(9), "extra");
  MatcherOptions hour;
  hour.exact_counts_max_age_ms = 3600 * 1000;
  MakeMatcher(hour);
  hashmatch::v1::IndexInfo info = matcher_->GetIndexInfo();
  EXPECT_EQ(info.sequence(), 4u);
  std::map<int, uint64_t> counts;
  for (const auto& c : info.counts()) counts[c.signal_type()] = c.entries();
  EXPECT_EQ(counts[hashmatch::v1::SIGNAL_TYPE_PDQ], 2u);
  EXPECT_EQ(counts[hashmatch::v1::SIGNAL_TYPE_MD5], 1u);
  EXPECT_EQ(counts[hashmatch::v1::SIGNAL_TYPE_SHA256], 1u);
  EXPECT_EQ(counts[hashmatch::v1::SIGNAL_TYPE_PHASH], 0u);
  EXPECT_EQ(counts.size(), 6u);
  EXPECT_EQ(counts[hashmatch::v1::SIGNAL_TYPE_VPDQ], 0u);
  EXPECT_EQ(info.pdq_threshold(), 31);
  EXPECT_EQ(info.pdq_quality_gate(), 50);
  EXPECT_TRUE(info.dihedral());
  EXPECT_EQ(info.max_batch(), 16);
  EXPECT_EQ(info.max_hashes(), 16);
  EXPECT_EQ(info.max_image_bytes(), 32 << 20);
  EXPECT_EQ(info.default_signals_size(), 3);

  // Within the max age (an hour) the MD5/SHA-256 counts are not rescanned;
  // the index counts and the sequence are always current.
  ASSERT_TRUE(store_->Retract(md5_id_, "agency-1", "test").ok());
  ASSERT_TRUE(index_->CatchUp().ok());
  info = matcher_->GetIndexInfo();
  EXPECT_EQ(info.sequence(), 5u);
  for (const auto& c : info.counts()) counts[c.signal_type()] = c.entries();
  EXPECT_EQ(counts[hashmatch::v1::SIGNAL_TYPE_MD5], 1u);

  MatcherOptions fresh;
  fresh.exact_counts_max_age_ms = 0;
  MakeMatcher(fresh);
  info = matcher_->GetIndexInfo();
  for (const auto& c : info.counts()) counts[c.signal_type()] = c.entries();
  EXPECT_EQ(counts[hashmatch::v1::SIGNAL_TYPE_MD5], 0u);
  ASSERT_TRUE(store_->Retract(sha_id_, "agency-1", "test").ok());
  info = matcher_->GetIndexInfo();
  for (const auto& c : info.counts()) counts[c.signal_type()] = c.entries();
  EXPECT_EQ(counts[hashmatch::v1::SIGNAL_TYPE_SHA256], 0u);
  EXPECT_EQ(counts[hashmatch::v1::SIGNAL_TYPE_PDQ], 2u);
}

TEST_F(MatcherPhotoTest, ConcurrentCalls) {
  const std::string match = Transformed(photo_);
  const std::string no_match = Transformed(other_);
  std::atomic<int> wrong{0}, done{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 6; ++i) {
        const bool expect_match = (i + t) % 2 == 0;
        absl::StatusOr<MatchResponse> r =
            matcher_->MatchImage(Image(expect_match ? match : no_match));
        absl::StatusOr<MatchResponse> h = matcher_->MatchHashes(
            OneHash(hashmatch::v1::SIGNAL_TYPE_PDQ, hashes_.pdq, 100));
        if (!r.ok() || !h.ok() ||
            r->verdict() != (expect_match ? hashmatch::v1::VERDICT_MATCH
                                          : hashmatch::v1::VERDICT_NO_MATCH) ||
            h->verdict() != hashmatch::v1::VERDICT_MATCH) {
          ++wrong;
        }
        ++done;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(done.load(), 24);
  EXPECT_EQ(wrong.load(), 0);
}

TEST_F(MatcherTest, CreateRejectsBadOptions) {
  MatcherOptions o;
  o.pdq_threshold = 64;
  EXPECT_EQ(Matcher::Create(store_.get(), index_.get(), o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = MatcherOptions();
  o.max_batch = 0;
  EXPECT_EQ(Matcher::Create(store_.get(), index_.get(), o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = MatcherOptions();
  o.default_signals = {hashmatch::v1::SIGNAL_TYPE_UNSPECIFIED};
  EXPECT_EQ(Matcher::Create(store_.get(), index_.get(), o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = MatcherOptions();
  o.default_max_matches = 2000;
  EXPECT_EQ(Matcher::Create(store_.get(), index_.get(), o).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      Matcher::Create(nullptr, index_.get(), MatcherOptions()).status().code(),
      absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hashmatch
