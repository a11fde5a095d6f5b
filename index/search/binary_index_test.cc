#include "index/search/binary_index.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <ostream>
#include <random>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "index/search/flat_scan.h"
#include "index/search/search_test_util.h"

namespace hashmatch {

void PrintTo(const Match& m, std::ostream* os) {
  *os << "{id " << m.id << ", d " << m.distance << "}";
}
void PrintTo(const DihedralMatch& m, std::ostream* os) {
  *os << "{id " << m.id << ", d " << m.distance << ", v " << m.variant << "}";
}

namespace {

using testing::Code;

std::unique_ptr<BinaryIndex> MakeIndex(BinaryIndexOptions options = {}) {
  auto index = BinaryIndex::Create(options);
  EXPECT_TRUE(index.ok()) << index.status();
  return std::move(index).value();
}

// The oracle: a map of live entries, scanned.
std::vector<Match> BruteRange(const std::map<uint64_t, Code>& live,
                              const Code& q, int radius) {
  std::vector<Match> out;
  for (const auto& [id, code] : live) {
    int d = testing::CodeDistance(code, q);
    if (d <= radius) out.push_back({id, d});
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<Match> BruteKnn(const std::map<uint64_t, Code>& live, const Code& q,
                            size_t k) {
  std::vector<Match> out = BruteRange(live, q, 1 << 20);
  if (out.size() > k) out.resize(k);
  return out;
}

TEST(BinaryIndexTest, CreateRejectsBadOptions) {
  BinaryIndexOptions o;
  o.code_bits = 128;
  EXPECT_EQ(BinaryIndex::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = {};
  o.max_radius = 64;
  EXPECT_EQ(BinaryIndex::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o = {};
  o.max_radius = 20;  // Below the default radius 31.
  EXPECT_EQ(BinaryIndex::Create(o).status().code(),
            absl::StatusCode::kInvalidArgument);
  o.default_radius = 20;
  EXPECT_TRUE(BinaryIndex::Create(o).ok());
}

TEST(BinaryIndexTest, RejectsBadCodesAndRadii) {
  BinaryIndexOptions o;
  o.max_radius = 40;
  auto index = MakeIndex(o);
  Code short_code(31);
  EXPECT_EQ(index->Add(1, short_code).code(),
            absl::StatusCode::kInvalidArgument);
  Code code(32);
  ASSERT_TRUE(index->Add(1, code).ok());
  EXPECT_EQ(index->Add(1, code).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(index->RangeSearch(code, 41).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index->RangeSearch(code, -1).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(index->RangeSearch(code, 40).ok());
  EXPECT_EQ(index->RangeSearch(short_code, 3).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index->Remove(2).code(), absl::StatusCode::kNotFound);
  const uint64_t ids[] = {5, 5};
  Code two(64);
  EXPECT_EQ(index->AddBatch(ids, two).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(index->size(), 1u);
}

// Codes at exactly r and r + 1 bits from the query, for every radius, in the
// base and in the delta.
TEST(BinaryIndexTest, BoundaryDistancesRAndRPlusOne) {
  for (int bits : {256, 64}) {
    std::mt19937_64 rng(bits);
    BinaryIndexOptions o;
    o.code_bits = bits;
    o.scan_fallback = false;
    for (bool in_delta : {false, true}) {
      auto index = MakeIndex(o);
      Code q = testing::RandomCode(rng, bits);
      if (in_delta) {
        ASSERT_TRUE(index->Add(999999, testing::RandomCode(rng, bits)).ok());
      }
      std::vector<uint64_t> ids;
      std::vector<uint8_t> codes;
      for (int d = 0; d <= 64; ++d) {
        Code c = testing::FlipBits(q, d, rng);
        ids.push_back(d);
        codes.insert(codes.end(), c.begin(), c.end());
      }
      ASSERT_TRUE(index->AddBatch(ids, codes).ok());
      EXPECT_EQ(index->stats().delta, in_delta ? 65u : 0u);
      for (int r = 0; r <= 63; ++r) {
        auto hits = index->RangeSearch(q, r);
        ASSERT_TRUE(hits.ok());
        std::vector<Match> want;
        for (int d = 0; d <= r; ++d) want.push_back({uint64_t(d), d});
        std::erase_if(*hits, [](const Match& m) { return m.id == 999999; });
        ASSERT_EQ(*hits, want) << "bits " << bits << " r " << r;
      }
    }
  }
}

struct Workload {
  bool clustered;
  int bits;
};

class BinaryIndexRecallTest : public ::testing::TestWithParam<Workload> {};

// Bulk load, then live adds, removes and re-adds through several merges; at
// every step range and k-NN equal brute force over the live entries.
TEST_P(BinaryIndexRecallTest, EqualsBruteForceThroughUpdates) {
  const Workload w = GetParam();
  std::mt19937_64 rng(w.bits + (w.clustered ? 1 : 0));
  BinaryIndexOptions o;
  o.code_bits = w.bits;
  o.merge_threshold = 300;
  o.scan_fallback = false;
  auto index = MakeIndex(o);
  const size_t n = 6000;
  std::vector<Code> codes =
      w.clustered ? testing::ClusteredCodes(rng, w.bits, 2 * n, 30, w.bits / 16)
                  : std::vector<Code>();
  for (size_t i = codes.size(); i < 2 * n; ++i) {
    codes.push_back(testing::RandomCode(rng, w.bits));
  }
  std::map<uint64_t, Code> live;
  std::vector<uint64_t> ids;
  std::vector<uint8_t> flat;
  for (size_t i = 0; i < n; ++i) {
    ids.push_back(i);
    flat.insert(flat.end(), codes[i].begin(), codes[i].end());
    live[i] = codes[i];
  }
  ASSERT_TRUE(index->AddBatch(ids, flat).ok());

  auto check = [&](int round) {
    ASSERT_EQ(index->size(), live.size());
    for (int t = 0; t < 8; ++t) {
      const Code& near = codes[rng() % codes.size()];
      Code q = testing::FlipBits(near, static_cast<int>(rng() % 24), rng);
      for (int r : {0, 8, 31, 32, 63}) {
        auto got = index->RangeSearch(q, r);
        ASSERT_TRUE(got.ok());
        ASSERT_EQ(*got, BruteRange(live, q, r))
            << "round " << round << " r " << r;
      }
      auto knn = index->Knn(q, 10);
      ASSERT_TRUE(knn.ok());
      ASSERT_EQ(*knn, BruteKnn(live, q, 10)) << "round " << round;
    }
    std::vector<uint64_t> listed;
    index->ForEachLiveId([&](uint64_t id) { listed.push_back(id); });
    std::sort(listed.begin(), listed.end());
    std::vector<uint64_t> want;
    for (const auto& [id, code] : live) want.push_back(id);
    ASSERT_EQ(listed, want) << "round " << round;
  };
  check(-1);
  size_t next_new = n;
  for (int round = 0; round < 12; ++round) {
    for (int op = 0; op < 120; ++op) {
      int kind = static_cast<int>(rng() % 4);
      if (kind == 0 && next_new < codes.size()) {
        ASSERT_TRUE(index->Add(next_new, codes[next_new]).ok());
        live[next_new] = codes[next_new];
        ++next_new;
      } else if (kind == 1 && !live.empty()) {
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        ASSERT_TRUE(index->Remove(it->first).ok());
        live.erase(it);
      } else if (kind == 2 && !live.empty()) {
        // Give a live id (in the base or the delta) a new code.
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        const Code& c = codes[rng() % codes.size()];
        ASSERT_TRUE(index->Replace(it->first, c).ok());
        it->second = c;
      } else {
        // Re-add a removed id with a new code (from the cluster pool).
        uint64_t id = rng() % next_new;
        if (live.contains(id)) continue;
        const Code& c = codes[rng() % codes.size()];
        ASSERT_TRUE(index->Add(id, c).ok());
        live[id] = c;
      }
    }
    check(round);
  }
  EXPECT_GT(index->stats().merges, 0u);
}

INSTANTIATE_TEST_SUITE_P(Codes, BinaryIndexRecallTest,
                         ::testing::Values(Workload{false, 256},
                                           Workload{true, 256},
                                           Workload{false, 64},
                                           Workload{true, 64}));

TEST(BinaryIndexTest, KnnTiesBrokenById) {
  auto index = MakeIndex();
  std::mt19937_64 rng(11);
  Code q = testing::RandomCode(rng, 256);
  std::map<uint64_t, Code> live;
  // Ids added in descending order; several share each distance.
  for (uint64_t id = 40; id > 0; --id) {
    Code c = testing::FlipBits(q, static_cast<int>(id % 4), rng);
    ASSERT_TRUE(index->Add(id, c).ok());
    live[id] = c;
  }
  auto knn = index->Knn(q, 15);
  ASSERT_TRUE(knn.ok());
  EXPECT_EQ(*knn, BruteKnn(live, q, 15));
  auto all = index->Knn(q, 100);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 40u);
}

TEST(BinaryIndexTest, RemovedIdNeverReturnedAndReAddWorks) {
  BinaryIndexOptions o;
  o.merge_threshold = 1000;
  auto index = MakeIndex(o);
  std::mt19937_64 rng(4);
  Code q = testing::RandomCode(rng, 256);
  std::vector<uint64_t> ids;
  std::vector<uint8_t> codes;
  for (uint64_t i = 0; i < 100; ++i) {
    Code c = testing::FlipBits(q, static_cast<int>(i % 20), rng);
    ids.push_back(i);
    codes.insert(codes.end(), c.begin(), c.end());
  }
  ASSERT_TRUE(index->AddBatch(ids, codes).ok());  // Base.
  ASSERT_TRUE(index->Add(500, q).ok());           // Delta.
  for (uint64_t id : {uint64_t{7}, uint64_t{500}}) {
    ASSERT_TRUE(index->Remove(id).ok());
    EXPECT_EQ(index->Remove(id).code(), absl::StatusCode::kNotFound);
    for (int r : {0, 31, 63}) {
      auto hits = index->RangeSearch(q, r);
      ASSERT_TRUE(hits.ok());
      for (const Match& m : *hits) EXPECT_NE(m.id, id);
    }
    auto knn = index->Knn(q, 200);
    ASSERT_TRUE(knn.ok());
    for (const Match& m : *knn) EXPECT_NE(m.id, id);
  }
  EXPECT_EQ(index->size(), 99u);
  // Re-add 7 with the query itself: found once, at distance 0.
  ASSERT_TRUE(index->Add(7, q).ok());
  auto hits = index->RangeSearch(q, 0);
  ASSERT_TRUE(hits.ok());
  // Ids 0, 20, 40, ... were planted at distance 0 too.
  EXPECT_EQ(*hits, (std::vector<Match>{
                       {0, 0}, {7, 0}, {20, 0}, {40, 0}, {60, 0}, {80, 0}}));
  auto all = index->RangeSearch(q, 63);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(std::count_if(all->begin(), all->end(),
                          [](const Match& m) { return m.id == 7; }),
            1);
  EXPECT_EQ(index->size(), 100u);
}

TEST(BinaryIndexTest, ReplaceKeepsOneEntryAndChecksArguments) {
  BinaryIndexOptions o;
  o.merge_threshold = 1000;
  auto index = MakeIndex(o);
  std::mt19937_64 rng(9);
  Code a = testing::RandomCode(rng, 256);
  Code b = testing::RandomCode(rng, 256);
  std::vector<uint64_t> ids = {1, 2};
  std::vector<uint8_t> codes(a.begin(), a.end());
  codes.insert(codes.end(), a.begin(), a.end());
  ASSERT_TRUE(index->AddBatch(ids, codes).ok());  // Both in the base.
  ASSERT_TRUE(index->Add(3, a).ok());             // In the delta.
  EXPECT_TRUE(index->Contains(1));
  EXPECT_TRUE(index->Contains(3));
  EXPECT_FALSE(index->Contains(4));
  for (uint64_t id : {uint64_t{1}, uint64_t{3}}) {
    ASSERT_TRUE(index->Replace(id, b).ok());
    ASSERT_TRUE(index->Replace(id, b).ok());  // Same code again: no-op.
  }
  EXPECT_EQ(index->size(), 3u);
  auto at_a = index->RangeSearch(a, 0);
  ASSERT_TRUE(at_a.ok());
  EXPECT_EQ(*at_a, (std::vector<Match>{{2, 0}}));
  auto at_b = index->RangeSearch(b, 0);
  ASSERT_TRUE(at_b.ok());
  EXPECT_EQ(*at_b, (std::vector<Match>{{1, 0}, {3, 0}}));
  EXPECT_EQ(index->Replace(4, b).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(index->Replace(1, Code(8, 0)).code(),
            absl::StatusCode::kInvalidArgument);
  // A removed id cannot be replaced, and re-adding it after a replace works.
  ASSERT_TRUE(index->Remove(1).ok());
  EXPECT_FALSE(index->Contains(1));
  EXPECT_EQ(index->Replace(1, a).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(index->Add(3, a).code(), absl::StatusCode::kAlreadyExists);
  ASSERT_TRUE(index->Add(1, a).ok());
  at_a = index->RangeSearch(a, 0);
  ASSERT_TRUE(at_a.ok());
  EXPECT_EQ(*at_a, (std::vector<Match>{{1, 0}, {2, 0}}));
  std::vector<uint64_t> listed;
  index->ForEachLiveId([&](uint64_t id) { listed.push_back(id); });
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, (std::vector<uint64_t>{1, 2, 3}));
}

TEST(BinaryIndexTest, LoadBuildsAnEmptyIndexAndChecksArguments) {
  auto index = MakeIndex();
  std::mt19937_64 rng(11);
  Code a = testing::RandomCode(rng, 256);
  Code b = testing::RandomCode(rng, 256);
  std::vector<uint64_t> words(8);
  std::memcpy(words.data(), a.data(), 32);
  std::memcpy(words.data() + 4, b.data(), 32);
  EXPECT_EQ(index->Load({1, 2}, std::vector<uint64_t>(7)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(index->Load({3, 3}, words).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(index->size(), 0u);
  ASSERT_TRUE(index->Load({9, 4}, words).ok());  // Unsorted ids are fine.
  EXPECT_EQ(index->size(), 2u);
  auto hits = index->RangeSearch(b, 0);
  ASSERT_TRUE(hits.ok());
  EXPECT_EQ(*hits, (std::vector<Match>{{4, 0}}));
  EXPECT_EQ(index->Load({5}, std::vector<uint64_t>(4)).code(),
            absl::StatusCode::kFailedPrecondition);
  // ForEach lists base and delta merged in id order.
  ASSERT_TRUE(index->Add(6, a).ok());
  ASSERT_TRUE(index->Add(1, a).ok());
  std::vector<uint64_t> listed;
  index->ForEachLiveId([&](uint64_t id) { listed.push_back(id); });
  EXPECT_EQ(listed, (std::vector<uint64_t>{1, 4, 6, 9}));
}

// A view taken before writes keeps listing the entries of its snapshot.
TEST(BinaryIndexTest, LiveViewIsFrozen) {
  auto index = MakeIndex();
  std::mt19937_64 rng(10);
  Code a = testing::RandomCode(rng, 256);
  ASSERT_TRUE(index->Add(5, a).ok());
  BinaryIndex::View view = index->LiveView();
  ASSERT_TRUE(index->Remove(5).ok());
  ASSERT_TRUE(index->Add(6, a).ok());
  std::vector<uint64_t> seen;
  view.ForEach([&](uint64_t id, const uint64_t*) { seen.push_back(id); });
  EXPECT_EQ(seen, std::vector<uint64_t>{5});
  EXPECT_EQ(view.size(), 1u);
  EXPECT_EQ(view.code_bits(), 256);
}

TEST(BinaryIndexTest, DihedralReportsClosestVariant) {
  auto index = MakeIndex();
  std::mt19937_64 rng(8);
  std::vector<Code> variants;
  for (int v = 0; v < 8; ++v) variants.push_back(testing::RandomCode(rng, 256));
  variants[2] = testing::FlipBits(variants[1], 4, rng);
  variants[5] = variants[4];  // A tie: the lower index wins.
  ASSERT_TRUE(index->Add(100, testing::FlipBits(variants[3], 5, rng)).ok());
  ASSERT_TRUE(index->Add(101, testing::FlipBits(variants[7], 31, rng)).ok());
  ASSERT_TRUE(index->Add(102, testing::FlipBits(variants[7], 32, rng)).ok());
  ASSERT_TRUE(index->Add(103, variants[5]).ok());
  // 104 is 1 bit from variant 2 and 5 bits from variant 1 (or 3, if the flip
  // undoes one of the four): variant 2 is closest either way.
  ASSERT_TRUE(index->Add(104, testing::FlipBits(variants[2], 1, rng)).ok());
  ASSERT_TRUE(index->Add(105, testing::RandomCode(rng, 256)).ok());
  std::vector<uint8_t> queries;
  for (const Code& v : variants)
    queries.insert(queries.end(), v.begin(), v.end());
  auto hits = index->SearchDihedral(queries, 31);
  ASSERT_TRUE(hits.ok()) << hits.status();
  std::vector<DihedralMatch> want = {
      {103, 0, 4}, {104, 1, 2}, {100, 5, 3}, {101, 31, 7}};
  EXPECT_EQ(*hits, want);
  EXPECT_EQ(index->SearchDihedral(absl::MakeConstSpan(queries.data(), 33), 31)
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// Readers search while one writer adds, removes and merges. A fixed set of
// planted entries is always found at its exact distance; toggled entries are
// either found at their exact distance or absent; results are sorted.
TEST(BinaryIndexTest, ConcurrentReadersAndOneWriter) {
  BinaryIndexOptions o;
  o.merge_threshold = 20;  // Toggles keep <= 64 in the delta: merge often.
  auto index = MakeIndex(o);
  std::mt19937_64 rng(21);
  Code q = testing::RandomCode(rng, 256);
  std::vector<uint64_t> ids;
  std::vector<uint8_t> codes;
  std::vector<int> planted_distance;
  for (uint64_t i = 0; i < 3000; ++i) {
    Code c = i < 32 ? testing::FlipBits(q, static_cast<int>(i), rng)
                    : testing::RandomCode(rng, 256);
    ids.push_back(i);
    codes.insert(codes.end(), c.begin(), c.end());
    if (i < 32) planted_distance.push_back(testing::CodeDistance(c, q));
  }
  ASSERT_TRUE(index->AddBatch(ids, codes).ok());
  // Toggled entries: ids 10000.. at distance (id % 32) from q.
  std::vector<Code> toggled;
  for (int i = 0; i < 64; ++i)
    toggled.push_back(testing::FlipBits(q, i % 32, rng));

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::atomic<long> searches{0};
  auto reader = [&] {
    while (!stop.load()) {
      auto hits = index->RangeSearch(q, 31);
      if (!hits.ok() || !std::is_sorted(hits->begin(), hits->end())) {
        failures++;
        continue;
      }
      int planted = 0;
      for (const Match& m : *hits) {
        if (m.id < 32) {
          planted += m.distance == planted_distance[m.id];
        } else if (m.id >= 10000) {
          if (m.distance != static_cast<int>((m.id - 10000) % 32)) failures++;
        } else {
          failures++;  // A random code within 31 bits: not in this corpus.
        }
      }
      if (planted != 32) failures++;
      searches++;
    }
  };
  std::vector<std::thread> readers;
  for (int i = 0; i < 2; ++i) readers.emplace_back(reader);
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  std::vector<bool> in(64, false);
  std::mt19937_64 wrng(5);
  long writes = 0;
  while (std::chrono::steady_clock::now() < end) {
    int i = static_cast<int>(wrng() % 64);
    if (in[i]) {
      ASSERT_TRUE(index->Remove(10000 + i).ok());
    } else {
      ASSERT_TRUE(index->Add(10000 + i, toggled[i]).ok());
    }
    in[i] = !in[i];
    ++writes;
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(searches.load(), 10);
  EXPECT_GT(writes, 100);
  EXPECT_GT(index->stats().merges, 0u);
  auto hits = index->RangeSearch(q, 31);
  ASSERT_TRUE(hits.ok());
  size_t live_toggled = std::count(in.begin(), in.end(), true);
  EXPECT_EQ(hits->size(), 32 + live_toggled);
}

}  // namespace
}  // namespace hashmatch
