// End-to-end tests of `hashmatch db stats|verify|dump`: builds a store through
// HashStore in a temporary directory and runs the binary (HASHMATCH_BINARY,
// set by tests/CMakeLists.txt) on it.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "index/store/hash_store.h"
#include "tests/run_binary.h"

namespace hashmatch {
namespace {

using hashmatch::v1::Entry;
using testing_util::RunResult;

RunResult RunHashmatch(const std::vector<std::string>& args) {
  return testing_util::RunBinary(HASHMATCH_BINARY, args);
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

Entry MakeEntry(hashmatch::v1::SignalType signal, const std::string& hash,
                const std::string& external_id) {
  Entry e;
  e.set_signal_type(signal);
  e.set_hash(hash);
  e.set_quality(90);
  e.set_source_agency("hotline-a");
  e.set_external_id(external_id);
  e.set_classification("A1");
  e.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
  return e;
}

class DbCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/db_cli_test_", getpid());
    std::filesystem::remove_all(dir_);
    StoreOptions options;
    options.sync = false;
    auto store = HashStore::Open(options, dir_);
    ASSERT_TRUE(store.ok()) << store.status();
    auto stored = (*store)->Put({MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ,
                                           std::string(32, '\x01'), "e1"),
                                 MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ,
                                           std::string(32, '\x02'), "e2"),
                                 MakeEntry(hashmatch::v1::SIGNAL_TYPE_DHASH,
                                           std::string(8, '\x03'), "e3"),
                                 MakeEntry(hashmatch::v1::SIGNAL_TYPE_MD5,
                                           std::string(16, '\x04'), "e4")});
    ASSERT_TRUE(stored.ok()) << stored.status();
    ASSERT_TRUE(
        (*store)->Retract((*stored)[1].id(), "hotline-a", "mistake").ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string dir_;
};

TEST_F(DbCliTest, StatsCountsPerSignalAndState) {
  RunResult r = RunHashmatch({"db", "stats", dir_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "last_sequence\t5\n"
            "next_id\t5\n"
            "total_entries\t4\n"
            "pdq\tactive\t1\n"
            "pdq\tretracted\t1\n"
            "dhash\tactive\t1\n"
            "md5\tactive\t1\n");
}

TEST_F(DbCliTest, DigestIsTheStoreDigest) {
  RunResult r = RunHashmatch({"db", "digest", dir_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  StoreOptions options;
  options.create_if_missing = false;
  options.read_only = true;
  auto store = HashStore::Open(options, dir_);
  ASSERT_TRUE(store.ok()) << store.status();
  auto digest = (*store)->Digest();
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(r.out,
            absl::StrCat("digest\t", absl::BytesToHexString(digest->sha256),
                         "\nlast_sequence\t5\nentries\t4\n"));
}

TEST_F(DbCliTest, VerifyIsConsistent) {
  RunResult r = RunHashmatch({"db", "verify", dir_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out,
            "applied_sequence\t5\n"
            "store_sequence\t5\n"
            "pdq\tstore_active=1\tindexed=1\tmissing=0\textra=0\n"
            "phash\tstore_active=0\tindexed=0\tmissing=0\textra=0\n"
            "dhash\tstore_active=1\tindexed=1\tmissing=0\textra=0\n"
            "vpdq\tstore_active=0\tindexed=0\tmissing=0\textra=0\n"
            "consistent\n");
}

TEST_F(DbCliTest, DumpPrintsOneJsonLinePerEntryIncludingTombstones) {
  RunResult r = RunHashmatch({"db", "dump", dir_});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const std::vector<std::string> lines =
      absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_TRUE(absl::StartsWith(
      lines[0], absl::StrCat("{\"id\":1,\"signal\":\"pdq\",\"hash\":\"",
                             Repeat("01", 32), "\",")))
      << lines[0];
  EXPECT_TRUE(absl::StrContains(
      lines[0],
      "\"quality\":90,\"agency\":\"hotline-a\",\"external_id\":\"e1\","
      "\"classification\":\"A1\",\"state\":\"active\""))
      << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[0], "\"retraction\":null}")) << lines[0];
  EXPECT_TRUE(absl::StrContains(lines[1], "\"state\":\"retracted\""))
      << lines[1];
  EXPECT_TRUE(absl::StrContains(
      lines[1], "\"retraction\":{\"by\":\"hotline-a\",\"at_micros\":"))
      << lines[1];
  EXPECT_TRUE(absl::StrContains(
      lines[1], "\"reason\":\"mistake\",\"previous_state\":\"active\"}}"))
      << lines[1];
  EXPECT_TRUE(absl::StrContains(
      lines[3],
      absl::StrCat("\"signal\":\"md5\",\"hash\":\"", Repeat("04", 16), "\",")))
      << lines[3];

  RunResult limited = RunHashmatch({"db", "dump", dir_, "--limit", "1"});
  EXPECT_EQ(limited.exit_code, 0) << limited.err;
  const std::vector<std::string> first =
      absl::StrSplit(limited.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(first.size(), 1u) << limited.out;
  EXPECT_EQ(first[0], lines[0]);
}

// A server holds the store open for writing (RocksDB's LOCK taken): the
// read-only db commands still work and see its committed writes.
TEST_F(DbCliTest, CommandsWorkWhileAWriterHoldsTheStore) {
  StoreOptions options;
  options.sync = false;
  options.create_if_missing = false;
  auto writer = HashStore::Open(options, dir_);
  ASSERT_TRUE(writer.ok()) << writer.status();
  ASSERT_TRUE((*writer)
                  ->Put({MakeEntry(hashmatch::v1::SIGNAL_TYPE_PDQ,
                                   std::string(32, '\x05'), "e5")})
                  .ok());
  RunResult stats = RunHashmatch({"db", "stats", dir_});
  EXPECT_EQ(stats.exit_code, 0) << stats.err;
  EXPECT_TRUE(absl::StrContains(stats.out, "last_sequence\t6\n")) << stats.out;
  EXPECT_TRUE(absl::StrContains(stats.out, "pdq\tactive\t2\n")) << stats.out;
  RunResult verify = RunHashmatch({"db", "verify", dir_});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  EXPECT_TRUE(absl::StrContains(
      verify.out, "pdq\tstore_active=2\tindexed=2\tmissing=0\textra=0\n"))
      << verify.out;
  RunResult dump = RunHashmatch({"db", "dump", dir_});
  EXPECT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_EQ(std::vector<std::string>(
                absl::StrSplit(dump.out, '\n', absl::SkipEmpty()))
                .size(),
            5u)
      << dump.out;
}

// CRC32C, bit by bit: an independent check of the snapshot file format.
uint32_t Crc32cBitwise(const std::string& data) {
  uint32_t crc = 0xffffffffu;
  for (unsigned char c : data) {
    crc ^= c;
    for (int k = 0; k < 8; ++k)
      crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1)));
  }
  return ~crc;
}

void AppendLe(std::string* s, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) s->push_back(static_cast<char>(v >> (8 * i)));
}

// A PDQ index snapshot file (format of index/vetted/index_snapshot.h) with
// `ids`, all with code 0x01...01, at store sequence `sequence`.
void WritePdqSnapshot(const std::string& dir, const std::vector<uint64_t>& ids,
                      uint64_t sequence) {
  std::string payload;
  for (uint64_t id : ids) {
    AppendLe(&payload, id, 8);
    payload += std::string(32, '\x01');
  }
  std::string header = "HMBINIDX";
  AppendLe(&header, 1, 4);    // version
  AppendLe(&header, 1, 4);    // SIGNAL_TYPE_PDQ
  AppendLe(&header, 256, 4);  // code bits
  AppendLe(&header, 0, 4);    // flags
  AppendLe(&header, ids.size(), 8);
  AppendLe(&header, sequence, 8);
  AppendLe(&header, Crc32cBitwise(payload), 4);
  AppendLe(&header, Crc32cBitwise(header), 4);
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/pdq.hmsnap", std::ios::binary) << header << payload;
}

// An index snapshot that does not match the store (ids the store has not
// got ACTIVE): verify loads it, lists the extra ids (at most 100, then a
// count) and exits 1.
TEST_F(DbCliTest, VerifyOfAStaleSnapshotListsEveryExtraId) {
  const std::string snap = dir_ + "_snap";
  std::vector<uint64_t> ids = {1};  // The store's ACTIVE PDQ entry.
  for (uint64_t id = 1000; id < 1150; ++id) ids.push_back(id);
  WritePdqSnapshot(snap, ids, 5);
  RunResult r = RunHashmatch({"db", "verify", "--snapshot_dir", snap, dir_});
  std::filesystem::remove_all(snap);
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_TRUE(absl::StrContains(r.out, "snapshot pdq\tloaded at sequence 5\n"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "snapshot dhash\tnot used: NOT_FOUND"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(
      r.out, "pdq\tstore_active=1\tindexed=151\tmissing=0\textra=150\n"))
      << r.out;
  std::vector<std::string> first(100);
  for (int i = 0; i < 100; ++i) first[i] = absl::StrCat(1000 + i);
  EXPECT_TRUE(absl::StrContains(
      r.out, absl::StrCat("  extra ids: ", absl::StrJoin(first, ","),
                          " (and 50 more)\n")))
      << r.out;
  EXPECT_TRUE(absl::EndsWith(r.out, "INCONSISTENT\n")) << r.out;
}

TEST_F(DbCliTest, VerifyWithAnIntactSnapshotIsConsistent) {
  const std::string snap = dir_ + "_snap";
  WritePdqSnapshot(snap, {}, 0);  // Empty at sequence 0: catch up from 0.
  RunResult r = RunHashmatch({"db", "verify", "--snapshot_dir", snap, dir_});
  std::filesystem::remove_all(snap);
  EXPECT_EQ(r.exit_code, 0) << r.err << r.out;
  EXPECT_TRUE(absl::StrContains(r.out, "snapshot pdq\tloaded at sequence 0\n"))
      << r.out;
  EXPECT_TRUE(absl::StrContains(
      r.out, "pdq\tstore_active=1\tindexed=1\tmissing=0\textra=0\n"))
      << r.out;
  EXPECT_TRUE(absl::EndsWith(r.out, "\nconsistent\n")) << r.out;
}

TEST(DbCliMissingTest, VerifyOfMissingDirIsNotFoundAndCreatesNothing) {
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/db_cli_test_missing_", getpid());
  std::filesystem::remove_all(dir);
  RunResult r = RunHashmatch({"db", "verify", dir});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(r.out, "");
  EXPECT_TRUE(absl::StrContains(r.err, "NOT_FOUND")) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir));
}

TEST(DbCliMissingTest, BadArgumentsAreUsageErrors) {
  EXPECT_EQ(RunHashmatch({"db"}).exit_code, 2);
  EXPECT_EQ(RunHashmatch({"db", "frobnicate", "/tmp"}).exit_code, 2);
  EXPECT_EQ(RunHashmatch({"db", "stats"}).exit_code, 2);
  EXPECT_EQ(RunHashmatch({"db", "dump", "/tmp", "--limit", "x"}).exit_code, 2);
}

}  // namespace
}  // namespace hashmatch
