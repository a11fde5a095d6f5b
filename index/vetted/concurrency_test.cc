// Concurrency tests of BinaryIndex and VettedIndex: one writer, several
// readers, every search result checked. They are the tests of the
// ThreadSanitizer build (ctest label `tsan`, deploy/test.sh) and also run in
// the plain build.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "index/search/binary_index.h"
#include "index/store/hash_store.h"
#include "index/vetted/vetted_index.h"

namespace hashmatch {
namespace {

using hashmatch::v1::Entry;

constexpr auto kRunFor = std::chrono::milliseconds(2000);

// `base` with bits [from, from + n) flipped: at distance exactly n.
std::string FlipRange(std::string base, int from, int n) {
  for (int b = from; b < from + n; ++b) {
    base[b / 8] ^= static_cast<char>(1 << (b % 8));
  }
  return base;
}

std::string RandomCode(std::mt19937_64& rng, size_t bytes) {
  std::string s(bytes, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

absl::Span<const uint8_t> Bytes(const std::string& s) {
  return absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()),
                                   s.size());
}

bool SortedAndUnique(const std::vector<Match>& hits) {
  if (!std::is_sorted(hits.begin(), hits.end())) return false;
  absl::flat_hash_set<uint64_t> ids;
  for (const Match& m : hits) {
    if (!ids.insert(m.id).second) return false;
  }
  return true;
}

// Readers search while one writer adds, removes and replaces entries with
// frequent merges. Stable entries are always found at their distance;
// replaced entries are always found, at one of their two distances.
TEST(BinaryIndexConcurrencyTest, ReplacedEntriesAreNeverMissing) {
  BinaryIndexOptions o;
  o.merge_threshold = 16;
  auto created = BinaryIndex::Create(o);
  ASSERT_TRUE(created.ok());
  BinaryIndex& index = **created;
  std::mt19937_64 rng(1);
  const std::string q = RandomCode(rng, 32);
  std::vector<uint64_t> ids;
  std::vector<uint8_t> codes;
  auto append = [&](uint64_t id, const std::string& c) {
    ids.push_back(id);
    codes.insert(codes.end(), c.begin(), c.end());
  };
  for (uint64_t id = 0; id < 1000; ++id) append(id, RandomCode(rng, 32));
  // Stable: ids 1000..1015 at distance id - 1000.
  for (int i = 0; i < 16; ++i) append(1000 + i, FlipRange(q, 0, i));
  // Replaced: ids 2000..2011 switch between distance i + 1 and i + 18.
  for (int i = 0; i < 12; ++i) append(2000 + i, FlipRange(q, 0, i + 1));
  ASSERT_TRUE(index.AddBatch(ids, codes).ok());

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<long> searches{0};
  auto reader = [&] {
    while (!stop.load()) {
      auto hits = index.RangeSearch(Bytes(q), 31);
      if (!hits.ok() || !SortedAndUnique(*hits)) {
        failures++;
        continue;
      }
      int stable = 0, replaced = 0;
      for (const Match& m : *hits) {
        if (m.id >= 1000 && m.id < 1016) {
          stable += m.distance == static_cast<int>(m.id - 1000);
        } else if (m.id >= 2000 && m.id < 2012) {
          const int i = static_cast<int>(m.id - 2000);
          replaced += m.distance == i + 1 || m.distance == i + 18;
        } else if (m.id < 3000 || m.distance != static_cast<int>(m.id % 20)) {
          failures++;
        }
      }
      if (stable != 16 || replaced != 12) failures++;
      searches++;
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) readers.emplace_back(reader);
  std::mt19937_64 wrng(2);
  std::vector<bool> far(12, false);
  absl::flat_hash_set<uint64_t> churn;
  uint64_t next_churn = 3000;
  long writes = 0;
  const auto end = std::chrono::steady_clock::now() + kRunFor;
  while (std::chrono::steady_clock::now() < end) {
    const int op = static_cast<int>(wrng() % 3);
    if (op == 0) {
      const int i = static_cast<int>(wrng() % 12);
      far[i] = !far[i];
      ASSERT_TRUE(
          index
              .Replace(2000 + i, Bytes(far[i] ? FlipRange(q, 100, i + 18)
                                              : FlipRange(q, 0, i + 1)))
              .ok());
    } else if (op == 1 || churn.empty()) {
      const uint64_t id = next_churn++;
      ASSERT_TRUE(
          index.Add(id, Bytes(FlipRange(q, 200, static_cast<int>(id % 20))))
              .ok());
      churn.insert(id);
    } else {
      const uint64_t id = *churn.begin();
      ASSERT_TRUE(index.Remove(id).ok());
      churn.erase(id);
    }
    ++writes;
  }
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(searches.load(), 10);
  EXPECT_GT(writes, 50);
  EXPECT_GT(index.stats().merges, 0u);
  EXPECT_EQ(index.size(), 1000u + 16 + 12 + churn.size());
}

Entry Pdq(const std::string& hash, hashmatch::v1::VettingState state) {
  Entry e;
  e.set_signal_type(hashmatch::v1::SIGNAL_TYPE_PDQ);
  e.set_hash(hash);
  e.set_source_agency("agency-a");
  e.set_state(state);
  return e;
}

// CatchUp applies store puts, retractions, hash updates and state toggles
// while readers search. Every search is sorted and duplicate-free; an entry
// ACTIVE throughout is always found (at one of its hashes if the hash
// changes); nothing else within the radius appears but entries that were
// ACTIVE at some point.
TEST(VettedIndexConcurrencyTest, CatchUpWithConcurrentSearches) {
  const std::string path =
      absl::StrCat(::testing::TempDir(), "/vetted_concurrency_test_", getpid());
  std::filesystem::remove_all(path);
  StoreOptions so;
  so.sync = false;
  auto opened = HashStore::Open(so, path);
  ASSERT_TRUE(opened.ok()) << opened.status();
  std::unique_ptr<HashStore> store = std::move(*opened);

  std::mt19937_64 rng(3);
  const std::string q = RandomCode(rng, 32);
  std::vector<Entry> initial;
  for (int i = 0; i < 1000; ++i) {
    initial.push_back(
        Pdq(RandomCode(rng, 32), hashmatch::v1::VETTING_STATE_ACTIVE));
  }
  for (int i = 0; i < 16; ++i) {  // Stable, at distance i.
    initial.push_back(
        Pdq(FlipRange(q, 0, i), hashmatch::v1::VETTING_STATE_ACTIVE));
  }
  for (int i = 0; i < 12; ++i) {  // Re-hashed: distance i + 1 or i + 18.
    initial.push_back(
        Pdq(FlipRange(q, 0, i + 1), hashmatch::v1::VETTING_STATE_ACTIVE));
  }
  for (int i = 0; i < 8; ++i) {  // Toggled ACTIVE <-> DISPUTED, distance 5.
    initial.push_back(
        Pdq(FlipRange(q, 64 + 8 * i, 5), hashmatch::v1::VETTING_STATE_ACTIVE));
  }
  auto stored = store->Put(initial);
  ASSERT_TRUE(stored.ok()) << stored.status();
  const uint64_t stable0 = (*stored)[1000].id();
  const uint64_t rehash0 = (*stored)[1016].id();
  const uint64_t toggle0 = (*stored)[1028].id();
  const uint64_t last_initial = (*stored).back().id();

  VettedIndexOptions vo;
  vo.merge_threshold = 16;
  vo.catch_up_batch = 7;
  auto vopened = VettedIndex::Open(store.get(), vo);
  ASSERT_TRUE(vopened.ok()) << vopened.status();
  VettedIndex& index = **vopened;

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<long> searches{0};
  auto reader = [&] {
    while (!stop.load()) {
      auto hits = index.Search(hashmatch::v1::SIGNAL_TYPE_PDQ, Bytes(q), 31);
      if (!hits.ok() || !SortedAndUnique(*hits)) {
        failures++;
        continue;
      }
      int stable = 0, rehashed = 0;
      for (const Match& m : *hits) {
        if (m.id >= stable0 && m.id < stable0 + 16) {
          stable += m.distance == static_cast<int>(m.id - stable0);
        } else if (m.id >= rehash0 && m.id < rehash0 + 12) {
          const int i = static_cast<int>(m.id - rehash0);
          rehashed += m.distance == i + 1 || m.distance == i + 18;
        } else if (m.id >= toggle0 && m.id <= last_initial) {
          if (m.distance != 5) failures++;
        } else if (m.id <= last_initial || m.distance > 19) {
          failures++;  // Background codes are ~128 bits away.
        }
      }
      if (stable != 16 || rehashed != 12) failures++;
      searches++;
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 3; ++i) readers.emplace_back(reader);

  std::mt19937_64 wrng(4);
  std::vector<Entry> rehash((*stored).begin() + 1016, (*stored).begin() + 1028);
  std::vector<Entry> toggle((*stored).begin() + 1028, (*stored).end());
  std::vector<uint64_t> churn;
  long writes = 0;
  const auto end = std::chrono::steady_clock::now() + kRunFor;
  while (std::chrono::steady_clock::now() < end) {
    const int op = static_cast<int>(wrng() % 4);
    if (op == 0) {
      const int i = static_cast<int>(wrng() % 12);
      Entry& e = rehash[i];
      e.set_hash(e.hash() == FlipRange(q, 0, i + 1) ? FlipRange(q, 100, i + 18)
                                                    : FlipRange(q, 0, i + 1));
      ASSERT_TRUE(store->Put({e}).ok());
    } else if (op == 1) {
      Entry& e = toggle[wrng() % toggle.size()];
      e.set_state(e.state() == hashmatch::v1::VETTING_STATE_ACTIVE
                      ? hashmatch::v1::VETTING_STATE_DISPUTED
                      : hashmatch::v1::VETTING_STATE_ACTIVE);
      ASSERT_TRUE(store->Put({e}).ok());
    } else if (op == 2 || churn.empty()) {
      const int d = static_cast<int>(wrng() % 20);
      auto put = store->Put(
          {Pdq(FlipRange(q, 200, d), hashmatch::v1::VETTING_STATE_ACTIVE)});
      ASSERT_TRUE(put.ok());
      churn.push_back((*put)[0].id());
    } else {
      ASSERT_TRUE(store->Retract(churn.back(), "agency-a", "test").ok());
      churn.pop_back();
    }
    if (wrng() % 2 == 0) {
      ASSERT_TRUE(index.CatchUp().ok());
    }
    ++writes;
  }
  ASSERT_TRUE(index.CatchUp().ok());
  stop = true;
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(searches.load(), 10);
  EXPECT_GT(writes, 50);
  EXPECT_EQ(index.applied_sequence(), store->LastSequence());
  auto verify = index.Verify();
  ASSERT_TRUE(verify.ok()) << verify.status();
  EXPECT_TRUE(verify->consistent());
  store.reset();
  std::filesystem::remove_all(path);
}

}  // namespace
}  // namespace hashmatch
