#include "src/match/demo_seed.h"

#include <unistd.h>

#include <filesystem>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "index/vetted/vetted_index.h"
#include "src/common/file_util.h"
#include "src/match/matcher.h"

namespace hashmatch {
namespace {

class DemoSeedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           absl::StrCat(
               "demo_seed_test_", ::getpid(), "_",
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    StoreOptions so;
    so.sync = false;
    absl::StatusOr<std::unique_ptr<HashStore>> store =
        HashStore::Open(so, (dir_ / "db").string());
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  std::filesystem::path dir_;
  std::unique_ptr<HashStore> store_;
};

constexpr int kPhotos = std::size(kDemoSeedPhotos);

TEST_F(DemoSeedTest, SeedsThreeEntriesPerPhotoOnce) {
  absl::StatusOr<DemoSeedResult> r = SeedDemo(store_.get(), {});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->photos, kPhotos);
  EXPECT_EQ(r->entries_added, 3 * kPhotos);
  EXPECT_EQ(r->entries_present, 0);
  ASSERT_EQ(r->entry_ids.size(), 3u * kPhotos);
  EXPECT_EQ(std::set<uint64_t>(r->entry_ids.begin(), r->entry_ids.end()).size(),
            3u * kPhotos);

  absl::StatusOr<StoreStats> stats = store_->Stats();
  ASSERT_TRUE(stats.ok());
  for (auto s : {hashmatch::v1::SIGNAL_TYPE_PDQ, hashmatch::v1::SIGNAL_TYPE_MD5,
                 hashmatch::v1::SIGNAL_TYPE_SHA256}) {
    EXPECT_EQ(stats->counts[s][hashmatch::v1::VETTING_STATE_ACTIVE],
              static_cast<uint64_t>(kPhotos));
  }
  const uint64_t sequence = store_->LastSequence();
  EXPECT_EQ(sequence, 3u * kPhotos);

  absl::StatusOr<uint64_t> id =
      store_->FindExternal("demo", "demo:LadyBird.jpg:pdq");
  ASSERT_TRUE(id.ok()) << id.status();
  absl::StatusOr<hashmatch::v1::Entry> e = store_->Get(*id);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->classification(), "demo");
  EXPECT_EQ(e->state(), hashmatch::v1::VETTING_STATE_ACTIVE);
  EXPECT_EQ(e->signal_type(), hashmatch::v1::SIGNAL_TYPE_PDQ);
  EXPECT_GE(e->quality(), 50);

  // Re-running adds nothing and writes nothing.
  absl::StatusOr<DemoSeedResult> again = SeedDemo(store_.get(), {});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->entries_added, 0);
  EXPECT_EQ(again->entries_present, 3 * kPhotos);
  EXPECT_EQ(again->entry_ids, r->entry_ids);
  EXPECT_EQ(store_->LastSequence(), sequence);
}

TEST_F(DemoSeedTest, MissingPhotosNameThePackage) {
  DemoSeedOptions o;
  o.photo_dir = (dir_ / "nowhere").string();
  absl::StatusOr<DemoSeedResult> r = SeedDemo(store_.get(), o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("apt-get install mate-backgrounds"),
            std::string::npos)
      << r.status();
  EXPECT_EQ(store_->LastSequence(), 0u);
}

TEST_F(DemoSeedTest, DemoPhotosMatchAsTheDemoShows) {
  ASSERT_TRUE(SeedDemo(store_.get(), {}).ok());
  absl::StatusOr<std::unique_ptr<VettedIndex>> index =
      VettedIndex::Open(store_.get(), VettedIndexOptions());
  ASSERT_TRUE(index.ok()) << index.status();
  absl::StatusOr<std::unique_ptr<Matcher>> matcher =
      Matcher::Create(store_.get(), index->get(), MatcherOptions());
  ASSERT_TRUE(matcher.ok()) << matcher.status();

  const DemoPhotoPaths photos = DemoPhotos({});
  EXPECT_EQ(photos.seeded, "/usr/share/backgrounds/mate/nature/LadyBird.jpg");
  absl::StatusOr<std::string> seeded = ReadFileToString(photos.seeded, 1 << 26);
  absl::StatusOr<std::string> other = ReadFileToString(photos.other, 1 << 26);
  ASSERT_TRUE(seeded.ok() && other.ok());

  // The seeded photo as shipped: exact match.
  hashmatch::v1::MatchImageRequest req;
  req.set_image(*seeded);
  absl::StatusOr<hashmatch::v1::MatchResponse> r = (*matcher)->MatchImage(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_MATCH);
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_EXACT_MD5);
  ASSERT_GE(r->matches_size(), 1);
  EXPECT_EQ(r->matches(0).source_agency(), "demo");
  EXPECT_EQ(r->matches(0).classification(), "demo");

  // A transformed copy (third size, JPEG quality 60): PDQ match.
  std::vector<uint8_t> buf(seeded->begin(), seeded->end());
  cv::Mat m = cv::imdecode(buf, cv::IMREAD_COLOR), small;
  ASSERT_FALSE(m.empty());
  cv::resize(m, small, cv::Size(m.cols / 3, m.rows / 3), 0, 0, cv::INTER_AREA);
  ASSERT_TRUE(cv::imencode(".jpg", small, buf, {cv::IMWRITE_JPEG_QUALITY, 60}));
  req.set_image(std::string(buf.begin(), buf.end()));
  r = (*matcher)->MatchImage(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_MATCH);
  EXPECT_EQ(r->rule(), hashmatch::v1::DECISION_RULE_PDQ_THRESHOLD);
  ASSERT_EQ(r->matches_size(), 1);
  absl::StatusOr<uint64_t> pdq_id =
      store_->FindExternal("demo", "demo:LadyBird.jpg:pdq");
  ASSERT_TRUE(pdq_id.ok());
  EXPECT_EQ(r->matches(0).entry_id(), *pdq_id);
  EXPECT_LE(r->matches(0).distance(), 20);

  // The other photo: not seeded, no match.
  req.set_image(*other);
  r = (*matcher)->MatchImage(req);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->verdict(), hashmatch::v1::VERDICT_NO_MATCH);
  EXPECT_EQ(r->matches_size(), 0);
}

}  // namespace
}  // namespace hashmatch
