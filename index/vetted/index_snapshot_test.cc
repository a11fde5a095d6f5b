#include "index/vetted/index_snapshot.h"

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace hashmatch {
namespace {

using hashmatch::v1::SIGNAL_TYPE_DHASH;
using hashmatch::v1::SIGNAL_TYPE_PDQ;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

void PutU32(std::string* s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*s)[at + i] = static_cast<char>(v >> (8 * i));
}
void PutU64(std::string* s, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) (*s)[at + i] = static_cast<char>(v >> (8 * i));
}
// Recomputes the header checksum after a deliberate header edit.
void ResealHeader(std::string* s) { PutU32(s, 44, Crc32c(0, s->data(), 44)); }

class IndexSnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        ::testing::TempDir(), "/index_snapshot_test_", getpid(), "_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    path_ = dir_ + "/pdq.hmsnap";
    BinaryIndexOptions o;
    o.merge_threshold = 1000;
    auto index = BinaryIndex::Create(o);
    ASSERT_TRUE(index.ok());
    index_ = std::move(*index);
    std::mt19937_64 rng(3);
    std::vector<uint64_t> ids;
    std::vector<uint8_t> codes;
    for (uint64_t id = 1; id <= 50; ++id) {
      ids.push_back(id * 3);
      for (int b = 0; b < 32; ++b) codes.push_back(rng() & 0xff);
    }
    ASSERT_TRUE(index_->AddBatch(ids, codes).ok());  // Base.
    std::vector<uint8_t> extra(32, 0xab);
    ASSERT_TRUE(index_->Add(1000, extra).ok());  // Delta.
    ASSERT_TRUE(index_->Remove(9).ok());         // Tombstone.
    ASSERT_TRUE(
        WriteIndexSnapshot(path_, SIGNAL_TYPE_PDQ, 77, index_->LiveView())
            .ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  absl::StatusCode ReadCode() {
    return ReadIndexSnapshot(path_).status().code();
  }

  std::string dir_;
  std::string path_;
  std::unique_ptr<BinaryIndex> index_;
};

TEST(Crc32cTest, KnownVectors) {
  EXPECT_EQ(Crc32c(0, "123456789", 9), 0xE3069283u);
  EXPECT_EQ(Crc32c(0, "", 0), 0u);
  // Continuing over pieces equals one pass.
  EXPECT_EQ(Crc32c(Crc32c(0, "12345", 5), "6789", 4), 0xE3069283u);
}

TEST_F(IndexSnapshotTest, RoundTripsLiveEntriesAndHeader) {
  auto snap = ReadIndexSnapshot(path_);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->header.version, kIndexSnapshotVersion);
  EXPECT_EQ(snap->header.signal_type, SIGNAL_TYPE_PDQ);
  EXPECT_EQ(snap->header.code_bits, 256);
  EXPECT_EQ(snap->header.sequence, 77u);
  EXPECT_EQ(snap->header.count, 50u);
  EXPECT_EQ(std::filesystem::file_size(path_), 48u + 50u * 40u);
  EXPECT_FALSE(std::filesystem::exists(path_ + ".tmp"));
  // Loading the file into a fresh index gives the same search results.
  auto copy = BinaryIndex::Create(BinaryIndexOptions());
  ASSERT_TRUE(copy.ok());
  EXPECT_TRUE(std::is_sorted(snap->ids.begin(), snap->ids.end()));
  ASSERT_TRUE((*copy)->Load(snap->ids, snap->words).ok());
  std::vector<uint8_t> q(32, 0xab);
  auto want = index_->RangeSearch(q, 63);
  auto got = (*copy)->RangeSearch(q, 63);
  ASSERT_TRUE(want.ok() && got.ok());
  EXPECT_EQ(*got, *want);
  std::vector<uint64_t> ids = snap->ids;
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids.back(), 1000u);
  EXPECT_FALSE(std::binary_search(ids.begin(), ids.end(), 9));
}

TEST_F(IndexSnapshotTest, EmptyIndexRoundTrips) {
  auto empty = BinaryIndex::Create(BinaryIndexOptions{.code_bits = 64});
  ASSERT_TRUE(empty.ok());
  const std::string p = dir_ + "/dhash.hmsnap";
  ASSERT_TRUE(
      WriteIndexSnapshot(p, SIGNAL_TYPE_DHASH, 0, (*empty)->LiveView()).ok());
  auto snap = ReadIndexSnapshot(p);
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->header.count, 0u);
  EXPECT_EQ(snap->header.code_bits, 64);
  EXPECT_TRUE(snap->ids.empty());
}

TEST_F(IndexSnapshotTest, WrongSignalForTheIndexIsInvalidArgument) {
  EXPECT_EQ(
      WriteIndexSnapshot(dir_ + "/x", SIGNAL_TYPE_DHASH, 1, index_->LiveView())
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(WriteIndexSnapshot(dir_ + "/x", hashmatch::v1::SIGNAL_TYPE_MD5, 1,
                               index_->LiveView())
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(IndexSnapshotTest, UnwritableDirectoryIsAnErrorAndLeavesNoTempFile) {
  const std::string p = dir_ + "/absent/pdq.hmsnap";
  absl::Status s =
      WriteIndexSnapshot(p, SIGNAL_TYPE_PDQ, 1, index_->LiveView());
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound) << s;
  EXPECT_FALSE(std::filesystem::exists(p + ".tmp"));
  // Rename over a directory fails after the temp file was written.
  std::filesystem::create_directories(dir_ + "/is_a_dir");
  s = WriteIndexSnapshot(dir_ + "/is_a_dir", SIGNAL_TYPE_PDQ, 1,
                         index_->LiveView());
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/is_a_dir.tmp"));
}

TEST_F(IndexSnapshotTest, MissingFileIsNotFound) {
  std::filesystem::remove(path_);
  EXPECT_EQ(ReadCode(), absl::StatusCode::kNotFound);
}

TEST_F(IndexSnapshotTest, EmptyAndShortFilesAreDataLoss) {
  const std::string good = ReadFile(path_);
  WriteFile(path_, "");
  EXPECT_EQ(ReadCode(), absl::StatusCode::kDataLoss);
  WriteFile(path_, good.substr(0, 47));
  EXPECT_EQ(ReadCode(), absl::StatusCode::kDataLoss);
}

TEST_F(IndexSnapshotTest, TruncatedOrExtendedPayloadIsDataLoss) {
  const std::string good = ReadFile(path_);
  WriteFile(path_, good.substr(0, good.size() - 1));
  EXPECT_EQ(ReadCode(), absl::StatusCode::kDataLoss);
  WriteFile(path_, good.substr(0, good.size() - 40));  // One whole record.
  EXPECT_EQ(ReadCode(), absl::StatusCode::kDataLoss);
  WriteFile(path_, good + "x");
  EXPECT_EQ(ReadCode(), absl::StatusCode::kDataLoss);
}

TEST_F(IndexSnapshotTest, FlippedPayloadOrHeaderBitIsDataLoss) {
  const std::string good = ReadFile(path_);
  for (size_t at : {size_t{48}, size_t{100}, good.size() - 1}) {
    std::string bad = good;
    bad[at] ^= 0x10;
    WriteFile(path_, bad);
    EXPECT_EQ(ReadCode(), absl::StatusCode::kDataLoss) << "byte " << at;
  }
  for (size_t at : {size_t{12}, size_t{24}, size_t{32}, size_t{40}}) {
    std::string bad = good;
    bad[at] ^= 0x01;
    WriteFile(path_, bad);
    EXPECT_EQ(ReadCode(), absl::StatusCode::kDataLoss) << "byte " << at;
  }
  std::string bad_magic = good;
  bad_magic[0] = 'X';
  WriteFile(path_, bad_magic);
  EXPECT_EQ(ReadCode(), absl::StatusCode::kDataLoss);
}

TEST_F(IndexSnapshotTest, NewerVersionIsFailedPrecondition) {
  std::string newer = ReadFile(path_);
  PutU32(&newer, 8, kIndexSnapshotVersion + 1);
  ResealHeader(&newer);
  WriteFile(path_, newer);
  auto snap = ReadIndexSnapshot(path_);
  EXPECT_EQ(snap.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(snap.status().message().find("newer"), std::string::npos)
      << snap.status();
}

// Headers with a valid checksum but impossible contents: a huge count (must
// not allocate it), code bits that do not fit the signal, an unknown signal.
TEST_F(IndexSnapshotTest, SealedButInconsistentHeadersAreDataLoss) {
  const std::string good = ReadFile(path_);
  std::string huge = good;
  PutU64(&huge, 24, uint64_t{1} << 60);
  ResealHeader(&huge);
  WriteFile(path_, huge);
  EXPECT_EQ(ReadCode(), absl::StatusCode::kDataLoss);

  std::string bits = good;
  PutU32(&bits, 16, 64);
  ResealHeader(&bits);
  WriteFile(path_, bits);
  EXPECT_EQ(ReadCode(), absl::StatusCode::kDataLoss);

  std::string signal = good;
  PutU32(&signal, 12, 99);
  ResealHeader(&signal);
  WriteFile(path_, signal);
  EXPECT_EQ(ReadCode(), absl::StatusCode::kDataLoss);

  std::string version0 = good;
  PutU32(&version0, 8, 0);
  ResealHeader(&version0);
  WriteFile(path_, version0);
  EXPECT_EQ(ReadCode(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace hashmatch
