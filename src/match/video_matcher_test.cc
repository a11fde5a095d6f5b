#include "src/match/video_matcher.h"

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace hashmatch {
namespace {

namespace v1 = ::hashmatch::v1;

// Random 256-bit codes: two of them are ~128 bits apart, far over 31.
std::string RandomCode(std::mt19937_64& rng) {
  std::string s(32, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

std::string Flip(std::string code, int bits) {
  for (int b = 0; b < bits; ++b) code[b / 8] ^= static_cast<char>(1 << (b % 8));
  return code;
}

v1::VideoFrame Frame(const std::string& pdq, int quality, double t) {
  v1::VideoFrame f;
  f.set_pdq(pdq);
  f.set_quality(quality);
  f.set_frame_number(static_cast<int64_t>(t * 25));
  f.set_timestamp_seconds(t);
  return f;
}

class VideoMatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("video_matcher_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    StoreOptions so;
    so.sync = false;
    auto store = HashStore::Open(so, dir_.string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    auto index = VettedIndex::Open(store_.get(), VettedIndexOptions());
    ASSERT_TRUE(index.ok()) << index.status();
    index_ = *std::move(index);
    std::mt19937_64 rng(7);
    for (int i = 0; i < 10; ++i) a_.push_back(RandomCode(rng));
    for (int i = 0; i < 10; ++i) b_.push_back(RandomCode(rng));
    // The vetted video: frames a_[0..9] at 0..9 s.
    v1::Entry e;
    e.set_signal_type(v1::SIGNAL_TYPE_VPDQ);
    for (int i = 0; i < 10; ++i) *e.add_video_frames() = Frame(a_[i], 90, i);
    e.set_hash(VideoFramesDigest(e.video_frames()));
    e.set_source_agency("agency-1");
    e.set_external_id("clip");
    e.set_classification("class-v");
    e.set_state(v1::VETTING_STATE_ACTIVE);
    video_id_ = Put(e);
    matcher_ = std::make_unique<VideoMatcher>(store_.get(), index_.get(),
                                              VideoMatcherOptions());
  }
  void TearDown() override {
    matcher_.reset();
    index_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  uint64_t Put(const v1::Entry& e) {
    auto stored = store_->Put({e});
    EXPECT_TRUE(stored.ok()) << stored.status();
    EXPECT_TRUE(index_->CatchUp().ok());
    return stored.ok() ? (*stored)[0].id() : 0;
  }

  // A query of a_[from..to) (3 bits off each) then b_[0..extra).
  v1::MatchVideoHeader Query(int from, int to, int extra, int quality = 80) {
    v1::MatchVideoHeader h;
    h.set_content_ref("upload-1");
    double t = 0;
    for (int i = from; i < to; ++i) {
      *h.add_frames() = Frame(Flip(a_[i], 3), quality, t++);
    }
    for (int i = 0; i < extra; ++i)
      *h.add_frames() = Frame(b_[i], quality, t++);
    return h;
  }

  std::filesystem::path dir_;
  std::unique_ptr<HashStore> store_;
  std::unique_ptr<VettedIndex> index_;
  std::unique_ptr<VideoMatcher> matcher_;
  std::vector<std::string> a_, b_;
  uint64_t video_id_ = 0;
};

TEST_F(VideoMatcherTest, WholeCopyMatchesWithBothPercentages) {
  auto r = matcher_->MatchFrames(Query(0, 10, 0));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), v1::VERDICT_MATCH);
  EXPECT_EQ(r->rule(), v1::DECISION_RULE_VIDEO_FRAMES_PERCENT);
  EXPECT_EQ(r->content_ref(), "upload-1");
  EXPECT_EQ(r->query_frames(), 10);
  EXPECT_EQ(r->query_frames_usable(), 10);
  EXPECT_EQ(r->query_frame_hashes_size(), 10);
  ASSERT_EQ(r->matches_size(), 1);
  const v1::VideoEntryMatch& m = r->matches(0);
  EXPECT_EQ(m.entry_id(), video_id_);
  EXPECT_EQ(m.signal_type(), v1::SIGNAL_TYPE_VPDQ);
  EXPECT_EQ(m.classification(), "class-v");
  EXPECT_DOUBLE_EQ(m.query_match_percent(), 100.0);
  EXPECT_DOUBLE_EQ(m.compared_match_percent(), 100.0);
  EXPECT_EQ(m.distance(), 3);
  EXPECT_TRUE(m.decisive());
  ASSERT_EQ(m.frames_size(), 10);
  EXPECT_DOUBLE_EQ(m.frames(4).query_timestamp_seconds(), 4.0);
  EXPECT_DOUBLE_EQ(m.frames(4).entry_timestamp_seconds(), 4.0);
  EXPECT_EQ(m.frames(4).distance(), 3);
  EXPECT_EQ(r->index_sequence(), 1u);
}

TEST_F(VideoMatcherTest, PercentagesDecideAndAreConfigurable) {
  // Half the upload is the vetted video (a 5 s clip of it), half is not:
  // query 50% < 80% -> listed, not decisive; compared 50%.
  v1::MatchVideoHeader q = Query(0, 5, 5);
  auto r = matcher_->MatchFrames(q);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), v1::VERDICT_NO_MATCH);
  ASSERT_EQ(r->matches_size(), 1);
  EXPECT_DOUBLE_EQ(r->matches(0).query_match_percent(), 50.0);
  EXPECT_DOUBLE_EQ(r->matches(0).compared_match_percent(), 50.0);
  EXPECT_FALSE(r->matches(0).decisive());

  q.mutable_options()->set_query_match_percent(50);
  r = matcher_->MatchFrames(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict(), v1::VERDICT_MATCH);
  EXPECT_EQ(r->rule_detail(),
            "vpdq entry " + std::to_string(video_id_) +
                ": query frames matched 50.0% >= 50%, entry frames matched "
                "50.0% >= 0%");
  // A short clip (3 of 10 entry frames): query 100%, compared 30%.
  q = Query(2, 5, 0);
  q.mutable_options()->set_compared_match_percent(31);
  r = matcher_->MatchFrames(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verdict(), v1::VERDICT_NO_MATCH);
  EXPECT_DOUBLE_EQ(r->matches(0).compared_match_percent(), 30.0);
  q.mutable_options()->set_compared_match_percent(30);
  EXPECT_EQ(matcher_->MatchFrames(q)->verdict(), v1::VERDICT_MATCH);
  // Frame distance threshold 2 < 3 bits: nothing matches.
  q.mutable_options()->set_pdq_threshold(2);
  r = matcher_->MatchFrames(q);
  EXPECT_EQ(r->verdict(), v1::VERDICT_NO_MATCH);
  EXPECT_EQ(r->matches_size(), 0);
  // Unrelated frames only.
  r = matcher_->MatchFrames(Query(0, 0, 10));
  EXPECT_EQ(r->verdict(), v1::VERDICT_NO_MATCH);
  EXPECT_EQ(r->matches_size(), 0);
}

TEST_F(VideoMatcherTest, LowQualityFramesAreNotUsed) {
  auto r = matcher_->MatchFrames(Query(0, 10, 0, /*quality=*/49));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), v1::VERDICT_LOW_QUALITY);
  EXPECT_EQ(r->rule(), v1::DECISION_RULE_QUALITY_GATE);
  EXPECT_EQ(r->query_frames_usable(), 0);
  v1::MatchVideoHeader q = Query(0, 10, 0, 49);
  q.mutable_options()->set_quality_threshold(40);
  EXPECT_EQ(matcher_->MatchFrames(q)->verdict(), v1::VERDICT_MATCH);
}

TEST_F(VideoMatcherTest, AFrameThatIsAVettedImageMatchesIt) {
  v1::Entry still;
  still.set_signal_type(v1::SIGNAL_TYPE_PDQ);
  still.set_hash(Flip(b_[3], 6));
  still.set_source_agency("agency-2");
  still.set_external_id("img");
  still.set_classification("class-i");
  still.set_state(v1::VETTING_STATE_ACTIVE);
  const uint64_t still_id = Put(still);
  auto r = matcher_->MatchFrames(Query(0, 0, 6));  // b_[3] at 3 s.
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), v1::VERDICT_MATCH);
  EXPECT_EQ(r->rule(), v1::DECISION_RULE_PDQ_THRESHOLD);
  EXPECT_EQ(r->rule_detail(), "frame at 3.000 s: pdq distance 6 <= 31, entry " +
                                  std::to_string(still_id));
  ASSERT_EQ(r->matches_size(), 1);
  EXPECT_EQ(r->matches(0).signal_type(), v1::SIGNAL_TYPE_PDQ);
  EXPECT_EQ(r->matches(0).source_agency(), "agency-2");
  v1::MatchVideoHeader q = Query(0, 0, 6);
  q.mutable_options()->set_image_entries(false);
  EXPECT_EQ(matcher_->MatchFrames(q)->verdict(), v1::VERDICT_NO_MATCH);
  // With both: the video entry decides and lists first.
  r = matcher_->MatchFrames(Query(0, 10, 0));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->rule(), v1::DECISION_RULE_VIDEO_FRAMES_PERCENT);
}

TEST_F(VideoMatcherTest, RetractedVideoNoLongerMatches) {
  ASSERT_TRUE(store_->Retract(video_id_, "agency-1", "test").ok());
  ASSERT_TRUE(index_->CatchUp().ok());
  auto r = matcher_->MatchFrames(Query(0, 10, 0));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), v1::VERDICT_NO_MATCH);
  EXPECT_EQ(r->matches_size(), 0);
}

TEST_F(VideoMatcherTest, LimitsAndTruncation) {
  v1::MatchVideoHeader q = Query(0, 10, 0);
  q.mutable_options()->set_max_frames_per_match(2);
  auto r = matcher_->MatchFrames(q);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->matches(0).frames_size(), 2);

  VideoMatcherOptions small;
  small.max_query_frames = 9;
  VideoMatcher limited(store_.get(), index_.get(), small);
  EXPECT_EQ(limited.MatchFrames(Query(0, 10, 0)).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(limited.MatchFrames(Query(0, 9, 0)).ok());
  small.max_content_ref_bytes = 4;
  VideoMatcher short_ref(store_.get(), index_.get(), small);
  EXPECT_EQ(short_ref.MatchFrames(Query(0, 5, 0)).status().code(),
            absl::StatusCode::kInvalidArgument);  // content_ref 8 > 4 bytes.

  std::vector<std::pair<v1::MatchVideoHeader, std::string>> bad;
  bad.push_back({v1::MatchVideoHeader(), "needs video chunks or frame"});
  q = Query(0, 3, 0);
  q.mutable_frames(1)->set_pdq("short");
  bad.push_back({q, "frames[1]: PDQ hash must be 32 bytes"});
  q = Query(0, 3, 0);
  q.mutable_frames(2)->set_quality(101);
  bad.push_back({q, "frames[2]: quality 101"});
  q = Query(0, 3, 0);
  q.mutable_options()->set_query_match_percent(101);
  bad.push_back({q, "options.query_match_percent"});
  q = Query(0, 3, 0);
  q.mutable_options()->set_pdq_threshold(64);
  bad.push_back({q, "options.pdq_threshold"});
  q = Query(0, 3, 0);
  q.mutable_options()->set_max_matches(0);
  bad.push_back({q, "options.max_matches"});
  for (const auto& [header, message] : bad) {
    auto s = matcher_->MatchFrames(header).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << message;
    EXPECT_NE(s.message().find(message), std::string::npos) << s;
  }
}

TEST_F(VideoMatcherTest, BadVideoBytesAreInvalidArgument) {
  v1::MatchVideoHeader h;
  auto s = matcher_->MatchBytes(h, "").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "video is empty");
  s = matcher_->MatchBytes(h, std::string(5000, '\x42')).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(s.message().rfind("video: ", 0), 0u) << s;
  s = matcher_->MatchBytes(Query(0, 1, 0), "data").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("takes no video chunks"), std::string::npos);
  VideoMatcherOptions tiny;
  tiny.hash.decode.max_bytes = 100;
  VideoMatcher limited(store_.get(), index_.get(), tiny);
  s = limited.MatchBytes(h, std::string(101, 'x')).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
}

TEST(VideoMatcherOptionsTest, ValidateRejectsOutOfRange) {
  EXPECT_TRUE(VideoMatcher::Validate(VideoMatcherOptions()).ok());
  VideoMatcherOptions o;
  o.query_match_percent = -1;
  EXPECT_EQ(VideoMatcher::Validate(o).code(),
            absl::StatusCode::kInvalidArgument);
  o = VideoMatcherOptions();
  o.default_frames_per_match = o.max_frames_per_match + 1;
  EXPECT_EQ(VideoMatcher::Validate(o).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace hashmatch
