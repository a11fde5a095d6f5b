#include "index/store/hash_store.h"

#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "index/store/store_keys.h"
#include "rocksdb/db.h"

namespace hashmatch {
namespace {

using hashmatch::v1::Change;
using hashmatch::v1::Entry;
using ::testing::ElementsAre;
namespace keys = store_keys;

std::string Bytes(size_t n, uint64_t seed) {
  std::string out(n, '\0');
  std::mt19937_64 rng(seed);
  for (char& c : out) c = static_cast<char>(rng() & 0xff);
  return out;
}

Entry Pdq(uint64_t seed, const std::string& agency,
          const std::string& external_id) {
  Entry e;
  e.set_signal_type(v1::SIGNAL_TYPE_PDQ);
  e.set_hash(Bytes(32, seed));
  e.set_quality(100);
  e.set_source_agency(agency);
  e.set_external_id(external_id);
  e.set_classification("A1");
  e.set_state(v1::VETTING_STATE_ACTIVE);
  return e;
}

// Number of ACTIVE PDQ rows that ForEachActive visits.
uint64_t CountActivePdq(HashStore& store) {
  uint64_t active = 0;
  EXPECT_TRUE(store
                  .ForEachActive(v1::SIGNAL_TYPE_PDQ,
                                 [&](uint64_t, absl::string_view) {
                                   ++active;
                                   return absl::OkStatus();
                                 })
                  .ok());
  return active;
}

class HashStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const ::testing::TestInfo* info =
        ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = absl::StrCat(::testing::TempDir(), "/hash_store_test_", getpid(),
                         "_", info->name());
    std::filesystem::remove_all(path_);
    options_.now_micros = [this] { return now_; };
  }
  void TearDown() override { std::filesystem::remove_all(path_); }

  std::unique_ptr<HashStore> OpenOrDie() {
    absl::StatusOr<std::unique_ptr<HashStore>> store =
        HashStore::Open(options_, path_);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  // Writes `value` at meta `key` through raw RocksDB (the store is closed).
  void WriteRawMeta(const std::string& key, const std::string& value) {
    WriteRaw(kMetaCfIndex, key, value);
  }

  // Column family indexes in the order WriteRaw opens them.
  static constexpr int kEntriesCfIndex = 1;
  static constexpr int kMetaCfIndex = 5;

  // Writes `value` at `key` of one column family through raw RocksDB,
  // bypassing the store's checks (the store is closed).
  void WriteRaw(int cf_index, const std::string& key,
                const std::string& value) {
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const std::string& name :
         {rocksdb::kDefaultColumnFamilyName, std::string(keys::kEntriesCf),
          std::string(keys::kHashesCf), std::string(keys::kExternalCf),
          std::string(keys::kChangesCf), std::string(keys::kMetaCf)}) {
      cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* db = nullptr;
    ASSERT_TRUE(
        rocksdb::DB::Open(rocksdb::DBOptions(), path_, cfs, &handles, &db)
            .ok());
    EXPECT_TRUE(
        db->Put(rocksdb::WriteOptions(), handles[cf_index], key, value).ok());
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
    delete db;
  }

  std::string path_;
  StoreOptions options_;
  int64_t now_ = 1'700'000'000'000'000;
};

TEST_F(HashStoreTest, PutAssignsIdsTimesAndSequences) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LastSequence(), 0u);
  auto stored = store->Put({Pdq(1, "a", "x1"), Pdq(2, "a", "x2")});
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), 2u);
  EXPECT_EQ((*stored)[0].id(), 1u);
  EXPECT_EQ((*stored)[1].id(), 2u);
  EXPECT_EQ((*stored)[0].created_at_micros(), now_);
  EXPECT_EQ((*stored)[0].updated_at_micros(), now_);
  EXPECT_EQ(store->LastSequence(), 2u);
  auto got = store->Get(2);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->hash(), Bytes(32, 2));
  EXPECT_EQ(store->Get(3).status().code(), absl::StatusCode::kNotFound);
  auto ext = store->FindExternal("a", "x2");
  ASSERT_TRUE(ext.ok());
  EXPECT_EQ(*ext, 2u);
}

TEST_F(HashStoreTest, ReopenKeepsEntriesSequenceAndNextId) {
  {
    auto store = OpenOrDie();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Put({Pdq(1, "a", "x1"), Pdq(2, "a", "x2")}).ok());
    ASSERT_TRUE(store->Retract(1, "a", "wrong image").ok());
  }
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LastSequence(), 3u);
  auto e1 = store->Get(1);
  ASSERT_TRUE(e1.ok());
  EXPECT_EQ(e1->state(), v1::VETTING_STATE_RETRACTED);
  auto e2 = store->Get(2);
  ASSERT_TRUE(e2.ok());
  EXPECT_EQ(e2->external_id(), "x2");
  auto next = store->Put({Pdq(3, "a", "x3")});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ((*next)[0].id(), 3u);
  EXPECT_EQ(store->LastSequence(), 4u);
  auto stats = store->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->total_entries, 3u);
  EXPECT_EQ(stats->counts[v1::SIGNAL_TYPE_PDQ][v1::VETTING_STATE_ACTIVE], 2u);
  EXPECT_EQ(stats->counts[v1::SIGNAL_TYPE_PDQ][v1::VETTING_STATE_RETRACTED],
            1u);
  EXPECT_EQ(stats->next_id, 4u);
}

TEST_F(HashStoreTest, SameHashFromTwoAgenciesIsOneHashWithTwoIds) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put({Pdq(7, "hotline-a", "a-1")}).ok());
  ASSERT_TRUE(
      store->Put({Pdq(7, "police-b", "b-9"), Pdq(8, "b", "b-10")}).ok());

  auto found = store->LookupHash(v1::SIGNAL_TYPE_PDQ, Bytes(32, 7));
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->size(), 2u);
  EXPECT_EQ((*found)[0].source_agency(), "hotline-a");
  EXPECT_EQ((*found)[1].source_agency(), "police-b");

  std::vector<std::string> hashes;
  std::vector<uint64_t> ids;
  auto seq = store->ForEachActive(
      v1::SIGNAL_TYPE_PDQ, [&](uint64_t id, absl::string_view hash) {
        ids.push_back(id);
        if (hashes.empty() || hashes.back() != hash) {
          hashes.emplace_back(hash);
        }
        return absl::OkStatus();
      });
  ASSERT_TRUE(seq.ok());
  EXPECT_EQ(*seq, 3u);
  EXPECT_EQ(hashes.size(), 2u);  // one distinct hash per (signal, hash)
  EXPECT_EQ(ids.size(), 3u);
  auto none = store->LookupHash(v1::SIGNAL_TYPE_PDQ, Bytes(32, 99));
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_F(HashStoreTest, ResubmittingExternalIdUpdatesTheSameEntry) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put({Pdq(1, "a", "x1")}).ok());
  now_ += 10;
  Entry changed = Pdq(2, "a", "x1");
  changed.set_state(v1::VETTING_STATE_DISPUTED);
  auto stored = store->Put({changed});
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ((*stored)[0].id(), 1u);
  EXPECT_EQ((*stored)[0].created_at_micros(), now_ - 10);
  EXPECT_EQ((*stored)[0].updated_at_micros(), now_);
  // The old hash row is gone, the new one is there but not active.
  EXPECT_TRUE(store->LookupHash(v1::SIGNAL_TYPE_PDQ, Bytes(32, 1))->empty());
  EXPECT_EQ(store->LookupHash(v1::SIGNAL_TYPE_PDQ, Bytes(32, 2))->size(), 1u);
  EXPECT_EQ(CountActivePdq(*store), 0u);
  EXPECT_EQ(store->Put({Pdq(3, "a", "x1"), Pdq(4, "a", "x1")}).status().code(),
            absl::StatusCode::kInvalidArgument);
  Entry missing = Pdq(5, "a", "");
  missing.set_id(42);
  EXPECT_EQ(store->Put({missing}).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(HashStoreTest, RetractKeepsTombstoneWithProvenanceAndLogsIt) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Put({Pdq(1, "a", "x1"), Pdq(1, "b", "y1")}).ok());
  now_ += 5;
  auto tomb = store->Retract(1, "auditor-7", "false positive");
  ASSERT_TRUE(tomb.ok()) << tomb.status();
  EXPECT_EQ(tomb->state(), v1::VETTING_STATE_RETRACTED);

  auto got = store->Get(1);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->state(), v1::VETTING_STATE_RETRACTED);
  EXPECT_EQ(got->hash(), Bytes(32, 1));
  EXPECT_EQ(got->retraction().retracted_by(), "auditor-7");
  EXPECT_EQ(got->retraction().reason(), "false positive");
  EXPECT_EQ(got->retraction().retracted_at_micros(), now_);
  EXPECT_EQ(got->retraction().previous_state(), v1::VETTING_STATE_ACTIVE);
  EXPECT_EQ(got->updated_at_micros(), now_);

  // Only the other agency's record remains searchable.
  auto found = store->LookupHash(v1::SIGNAL_TYPE_PDQ, Bytes(32, 1));
  ASSERT_TRUE(found.ok());
  ASSERT_EQ(found->size(), 1u);
  EXPECT_EQ((*found)[0].id(), 2u);

  auto changes = store->ChangesSince(2, 10);
  ASSERT_TRUE(changes.ok());
  ASSERT_EQ(changes->size(), 1u);
  EXPECT_EQ((*changes)[0].sequence(), 3u);
  EXPECT_EQ((*changes)[0].kind(), Change::KIND_RETRACT);
  EXPECT_EQ((*changes)[0].entry().retraction().retracted_by(), "auditor-7");

  EXPECT_EQ(store->Retract(1, "x", "again").status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store->Retract(9, "x", "none").status().code(),
            absl::StatusCode::kNotFound);
  Entry update = Pdq(1, "a", "x1");
  update.set_id(1);
  EXPECT_EQ(store->Put({update}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  // Resubmitting the external id after retraction creates a new entry.
  auto readded = store->Put({Pdq(1, "a", "x1")});
  ASSERT_TRUE(readded.ok()) << readded.status();
  EXPECT_EQ((*readded)[0].id(), 3u);
  EXPECT_EQ(*store->FindExternal("a", "x1"), 3u);
  EXPECT_EQ(store->Get(1)->state(), v1::VETTING_STATE_RETRACTED);
}

TEST_F(HashStoreTest, ChangesSinceReturnsExactlyTheTailInOrder) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(
        store->Put({Pdq(2 * i, "a", ""), Pdq(2 * i + 1, "a", "")}).ok());
  }
  auto tail = store->ChangesSince(6, 100);
  ASSERT_TRUE(tail.ok());
  std::vector<uint64_t> seqs;
  for (const Change& c : *tail) {
    seqs.push_back(c.sequence());
    EXPECT_EQ(c.kind(), Change::KIND_UPSERT);
    EXPECT_EQ(c.entry().id(), c.sequence());
  }
  EXPECT_THAT(seqs, ElementsAre(7, 8, 9, 10));
  auto limited = store->ChangesSince(0, 3);
  ASSERT_TRUE(limited.ok());
  ASSERT_EQ(limited->size(), 3u);
  EXPECT_EQ((*limited)[2].sequence(), 3u);
  EXPECT_TRUE(store->ChangesSince(10, 100)->empty());
  EXPECT_TRUE(store->ChangesSince(0, 0)->empty());
}

TEST_F(HashStoreTest, ForEachEntryWalksIdsAfterTheGivenOneWithTombstones) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store->Put({Pdq(1, "a", "x"), Pdq(2, "a", "y"), Pdq(3, "b", "z")}).ok());
  ASSERT_TRUE(store->Retract(2, "a", "wrong").ok());
  std::vector<uint64_t> ids;
  std::vector<v1::VettingState> states;
  auto seq = store->ForEachEntry(1, [&](const Entry& e) {
    ids.push_back(e.id());
    states.push_back(e.state());
    return absl::OkStatus();
  });
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_EQ(*seq, 4u);
  EXPECT_THAT(ids, ElementsAre(2, 3));
  EXPECT_THAT(states, ElementsAre(v1::VETTING_STATE_RETRACTED,
                                  v1::VETTING_STATE_ACTIVE));
  // A callback error stops the scan and is returned.
  int calls = 0;
  auto stopped = store->ForEachEntry(0, [&](const Entry&) {
    ++calls;
    return absl::CancelledError("enough");
  });
  EXPECT_EQ(stopped.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 1);
  ids.clear();
  ASSERT_TRUE(store
                  ->ForEachEntry(UINT64_MAX,
                                 [&](const Entry& e) {
                                   ids.push_back(e.id());
                                   return absl::OkStatus();
                                 })
                  .ok());
  EXPECT_TRUE(ids.empty());
}

TEST_F(HashStoreTest, BadHashLengthIsInvalidArgument) {
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  Entry e = Pdq(1, "a", "");
  e.set_hash(Bytes(31, 1));
  auto s = store->Put({e}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("32 bytes"));
  e.set_signal_type(v1::SIGNAL_TYPE_MD5);
  e.set_hash(Bytes(16, 1));
  EXPECT_TRUE(store->Put({e}).ok());
  e.set_signal_type(v1::SIGNAL_TYPE_PHASH);
  EXPECT_EQ(store->Put({e}).status().code(),
            absl::StatusCode::kInvalidArgument);
  e.set_signal_type(v1::SIGNAL_TYPE_UNSPECIFIED);
  EXPECT_EQ(store->Put({e}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->LookupHash(v1::SIGNAL_TYPE_SHA256, "short").status().code(),
            absl::StatusCode::kInvalidArgument);
  Entry retracted = Pdq(1, "a", "");
  retracted.set_state(v1::VETTING_STATE_RETRACTED);
  EXPECT_EQ(store->Put({retracted}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store->LastSequence(), 1u);
}

TEST_F(HashStoreTest, BatchOverLimitIsResourceExhausted) {
  options_.max_batch_entries = 3;
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::vector<Entry> batch;
  for (int i = 0; i < 4; ++i) batch.push_back(Pdq(i, "a", ""));
  EXPECT_EQ(store->Put(batch).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(store->LastSequence(), 0u);
}

TEST_F(HashStoreTest, NewerSchemaIsFailedPrecondition) {
  { ASSERT_NE(OpenOrDie(), nullptr); }
  WriteRawMeta(keys::kMetaSchemaVersion,
               keys::EncodeId(kHashStoreSchemaVersion + 1));
  auto store = HashStore::Open(options_, path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(store.status().message()),
              ::testing::HasSubstr(absl::StrCat("schema version ",
                                                kHashStoreSchemaVersion + 1)));
  EXPECT_THAT(std::string(store.status().message()),
              ::testing::HasSubstr(
                  absl::StrCat("version ", kHashStoreSchemaVersion, " ")));
}

TEST_F(HashStoreTest, CorruptMetaIsDataLoss) {
  { ASSERT_NE(OpenOrDie(), nullptr); }
  WriteRawMeta(keys::kMetaSchemaVersion, "garbage");
  auto store = HashStore::Open(options_, path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(store.status().message()),
              ::testing::HasSubstr("corrupt hash store"));
}

TEST_F(HashStoreTest, MissingStoreWithoutCreateIsNotFound) {
  options_.create_if_missing = false;
  auto store = HashStore::Open(options_, path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kNotFound);
}

// A read-only handle opens while a writer holds the store (and its LOCK),
// sees the writer's committed entries as of its own open, and refuses
// writes.
TEST_F(HashStoreTest, ReadOnlyOpenWorksWhileAWriterHoldsTheStore) {
  std::unique_ptr<HashStore> writer = OpenOrDie();
  ASSERT_NE(writer, nullptr);
  auto stored = writer->Put({Pdq(21, "hotline-a", "r1")});
  ASSERT_TRUE(stored.ok()) << stored.status();

  StoreOptions ro = options_;
  ro.read_only = true;
  ro.create_if_missing = false;
  auto reader = HashStore::Open(ro, path_);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->LastSequence(), 1u);
  auto got = (*reader)->Get((*stored)[0].id());
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->hash(), Bytes(32, 21));
  EXPECT_EQ(CountActivePdq(**reader), 1u);
  auto stats = (*reader)->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  EXPECT_EQ(stats->total_entries, 1u);

  EXPECT_EQ((*reader)->Put({Pdq(22, "hotline-a", "r2")}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*reader)->Retract((*stored)[0].id(), "x", "y").status().code(),
            absl::StatusCode::kFailedPrecondition);
  // The writer keeps writing while the reader is open.
  EXPECT_TRUE(writer->Put({Pdq(23, "hotline-a", "r3")}).ok());
  reader->reset();
  writer.reset();

  ro.create_if_missing = true;
  EXPECT_EQ(HashStore::Open(ro, path_).status().code(),
            absl::StatusCode::kInvalidArgument);
  ro.create_if_missing = false;
  EXPECT_EQ(HashStore::Open(ro, path_ + "_absent").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(HashStoreTest, RocksDbCorruptionIsDataLoss) {
  {
    auto store = OpenOrDie();
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(store->Put({Pdq(1, "a", "")}).ok());
  }
  {
    std::ofstream current(path_ + "/CURRENT", std::ios::trunc);
    current << "garbage";  // no trailing newline: RocksDB says Corruption
  }
  auto store = HashStore::Open(options_, path_);
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.status().code(), absl::StatusCode::kDataLoss)
      << store.status();
  EXPECT_THAT(std::string(store.status().message()),
              ::testing::HasSubstr(path_));
}

TEST_F(HashStoreTest, UnparsableEntryIsDataLoss) {
  { ASSERT_TRUE(OpenOrDie()->Put({Pdq(1, "a", "")}).ok()); }
  WriteRaw(kEntriesCfIndex, keys::EncodeId(1), "\xff\xff\xff");
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->Get(1).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(
      store->LookupHash(v1::SIGNAL_TYPE_PDQ, Bytes(32, 1)).status().code(),
      absl::StatusCode::kDataLoss);
  EXPECT_EQ(store->Stats().status().code(), absl::StatusCode::kDataLoss);
}

// ForEachActive's returned sequence must describe exactly the snapshot it
// scanned, while a writer commits concurrently: every write here adds one
// ACTIVE entry, so the count seen equals the sequence returned.
TEST_F(HashStoreTest, ForEachActiveSequenceMatchesItsSnapshotUnderWrites) {
  options_.sync = false;
  auto store = OpenOrDie();
  ASSERT_NE(store, nullptr);
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 300; ++i) {
      EXPECT_TRUE(
          store->Put({Pdq(2 * i, "w", ""), Pdq(2 * i + 1, "w", "")}).ok());
    }
    done = true;
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      int scans = 0;
      while (!done || scans == 0) {
        uint64_t count = 0;
        auto seq = store->ForEachActive(v1::SIGNAL_TYPE_PDQ,
                                        [&](uint64_t, absl::string_view) {
                                          ++count;
                                          return absl::OkStatus();
                                        });
        ASSERT_TRUE(seq.ok());
        EXPECT_EQ(count, *seq);
        EXPECT_EQ(count % 2, 0u);
        auto found = store->LookupHash(v1::SIGNAL_TYPE_PDQ, Bytes(32, 0));
        ASSERT_TRUE(found.ok());
        EXPECT_LE(found->size(), 1u);
        ++scans;
      }
    });
  }
  writer.join();
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(store->LastSequence(), 600u);
}

// A child process writes batches of kBatch entries with sync=true and is
// killed with SIGKILL at a random moment; every batch must be all-or-nothing.
TEST_F(HashStoreTest, SigkillDuringBatchedWritesLeavesEachBatchAtomic) {
  constexpr int kBatch = 7;
  constexpr int kRounds = 6;
  std::mt19937 rng(12345);
  uint64_t seed = 0;
  for (int round = 0; round < kRounds; ++round) {
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    const uint64_t base_seed = seed;
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(ready[0]);
      StoreOptions child_options;
      child_options.sync = true;
      auto store = HashStore::Open(child_options, path_);
      if (!store.ok()) _exit(2);
      uint64_t s = base_seed;
      bool signalled = false;
      for (;;) {
        std::vector<Entry> batch;
        for (int i = 0; i < kBatch; ++i, ++s) {
          batch.push_back(Pdq(s, "crash", absl::StrCat("e", s)));
        }
        if (!(*store)->Put(batch).ok()) _exit(3);
        if (!signalled) {
          char c = 1;
          if (write(ready[1], &c, 1) != 1) _exit(4);
          signalled = true;
        }
      }
    }
    close(ready[1]);
    // Forked from a process whose RocksDB Env has threads; do not hang if
    // the child gets stuck.
    pollfd pfd = {ready[0], POLLIN, 0};
    if (poll(&pfd, 1, 20000) != 1) {
      kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      FAIL() << "child wrote no batch within 20 s";
    }
    char c;
    ASSERT_EQ(read(ready[0], &c, 1), 1) << "child failed before first batch";
    close(ready[0]);
    usleep(std::uniform_int_distribution<int>(1000, 200000)(rng));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int wstatus = 0;
    ASSERT_EQ(waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(wstatus)) << "child exited with " << wstatus;

    auto store = OpenOrDie();
    ASSERT_NE(store, nullptr);
    auto stats = store->Stats();
    ASSERT_TRUE(stats.ok()) << stats.status();
    const uint64_t n = stats->total_entries;
    EXPECT_GT(n, 0u);
    EXPECT_EQ(n % kBatch, 0u) << "round " << round << ": " << n << " entries";
    EXPECT_EQ(store->LastSequence(), n);
    EXPECT_EQ(stats->next_id, n + 1);
    auto changes = store->ChangesSince(0, n + 10);
    ASSERT_TRUE(changes.ok());
    ASSERT_EQ(changes->size(), n);
    for (size_t i = 0; i < changes->size(); ++i) {
      const Change& ch = (*changes)[i];
      ASSERT_EQ(ch.sequence(), i + 1);
      auto e = store->Get(ch.entry().id());
      ASSERT_TRUE(e.ok()) << "change " << ch.sequence() << " has no entry";
      EXPECT_EQ(e->hash(), ch.entry().hash());
    }
    EXPECT_EQ(CountActivePdq(*store), n);
    std::printf("crash round %d: %llu entries survived\n", round,
                static_cast<unsigned long long>(n));
    seed = n;  // seeds and external ids below n are committed
  }
}

}  // namespace
}  // namespace hashmatch
