#include "index/search/mih_index.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "faiss/IndexBinaryFlat.h"
#include "faiss/impl/AuxIndexStructures.h"
#include "gtest/gtest.h"
#include "index/search/flat_scan.h"
#include "index/search/search_test_util.h"

namespace hashmatch {
namespace {

using testing::Code;

struct Corpus {
  std::vector<Code> codes;
  std::vector<Code> queries;
};

// Random codes, or near-duplicate clusters; queries are near some entries
// (a few flipped bits) and random.
Corpus MakeCorpus(bool clustered, int bits, size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Corpus c;
  if (clustered) {
    c.codes = testing::ClusteredCodes(rng, bits, n, 40, bits / 16);
  } else {
    for (size_t i = 0; i < n; ++i)
      c.codes.push_back(testing::RandomCode(rng, bits));
  }
  for (int i = 0; i < 30; ++i) {
    const Code& near = c.codes[rng() % n];
    c.queries.push_back(
        testing::FlipBits(near, static_cast<int>(rng() % 40), rng));
    c.queries.push_back(testing::RandomCode(rng, bits));
  }
  return c;
}

std::unique_ptr<MihIndex> BuildMih(const std::vector<Code>& codes, int bits,
                                   bool fallback, int chunk_bits = 0) {
  auto index = std::make_unique<MihIndex>(bits);
  index->set_scan_fallback(fallback);
  index->set_chunk_bits(chunk_bits);
  std::vector<uint8_t> flat;
  for (const Code& c : codes) flat.insert(flat.end(), c.begin(), c.end());
  std::vector<faiss::IndexBinary::idx_t> ids(codes.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = 1000 + 7 * i;
  index->add_with_ids(codes.size(), flat.data(), ids.data());
  return index;
}

FlatScan BuildFlat(const std::vector<Code>& codes, int bits) {
  FlatScan scan(bits);
  for (size_t i = 0; i < codes.size(); ++i)
    scan.Add(1000 + 7 * i, codes[i].data());
  return scan;
}

struct Param {
  int bits;
  bool clustered;
  bool fallback;
  int chunk_bits;  // 0: chosen from the size.
};

class MihRecallTest : public ::testing::TestWithParam<Param> {};

TEST_P(MihRecallTest, RangeAndKnnEqualBruteForce) {
  const Param p = GetParam();
  const size_t n = p.bits == 256 ? 20000 : 5000;
  Corpus c = MakeCorpus(p.clustered, p.bits, n, 17 + p.bits);
  auto mih = BuildMih(c.codes, p.bits, p.fallback, p.chunk_bits);
  FlatScan flat = BuildFlat(c.codes, p.bits);
  size_t total = 0;
  // With m chunks, r = s * m + a: radii around multiples of m switch which
  // tables probe level s and which level s - 1.
  const int m = mih->num_chunks();
  for (int radius :
       {0, 1, 8, m - 1, m, m + 1, 2 * m - 1, 2 * m, 30, 31, 32, 40, 63}) {
    for (const Code& q : c.queries) {
      std::vector<Match> got, want;
      mih->RangeSearchInclusive(q.data(), radius, nullptr, &got);
      flat.RangeSearch(q.data(), radius, &want);
      std::sort(got.begin(), got.end());
      std::sort(want.begin(), want.end());
      ASSERT_EQ(got, want) << "radius " << radius;
      total += got.size();
    }
  }
  EXPECT_GT(total, 0u);
  // 22-bit chunks on 20K codes without the scan fallback probe far for large
  // k; k = 100 is left to the smaller chunkings.
  for (size_t k : {size_t{1}, size_t{10}, size_t{100}}) {
    if (k == 100 && p.chunk_bits >= 20) continue;
    for (const Code& q : c.queries) {
      ASSERT_EQ(mih->Knn(q.data(), k, nullptr), flat.Knn(q.data(), k))
          << "k " << k;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Codes, MihRecallTest,
    ::testing::Values(Param{256, false, false, 0}, Param{256, true, false, 0},
                      Param{256, false, true, 0}, Param{256, true, true, 0},
                      Param{256, false, false, 22}, Param{256, true, false, 22},
                      Param{256, true, true, 22}, Param{256, true, false, 18},
                      Param{256, false, false, 16}, Param{64, false, false, 0},
                      Param{64, true, false, 0}, Param{64, true, true, 0},
                      Param{64, true, false, 12}));

TEST(MihIndexTest, ChunkingFollowsSizeAndCoversTheCode) {
  std::mt19937_64 rng(2);
  std::vector<Code> codes;
  for (int i = 0; i < 100; ++i) codes.push_back(testing::RandomCode(rng, 256));
  auto small = BuildMih(codes, 256, true);
  EXPECT_EQ(small->num_chunks(), 16);  // Chunks of 16 bits below 2^17 codes.
  auto fixed = BuildMih(codes, 256, true, 22);
  ASSERT_EQ(fixed->num_chunks(), 12);
  int total = 0;
  for (int j = 0; j < 12; ++j) {
    EXPECT_EQ(fixed->chunk_bits(j), j < 4 ? 22 : 21) << j;
    total += fixed->chunk_bits(j);
  }
  EXPECT_EQ(total, 256);
  auto phash = BuildMih(codes, 64, true);
  EXPECT_EQ(phash->num_chunks(), 4);
}

// Codes at exactly r and r + 1 bits from each query, for radii where tables
// probe different levels (12 chunks, 4 x 22 + 8 x 21 bits: r = 31 = 2 * 12 +
// 7 probes levels 0..2 in tables 0-7 and 0..1 in tables 8-11): the r ones are
// found, the r + 1 ones are not, and every other result equals a brute-force
// scan.
TEST(MihIndexTest, BoundaryRadiusAndOneMore) {
  std::mt19937_64 rng(23);
  for (int chunk_bits : {22, 16}) {
    for (int radius : {0, 5, 11, 12, 13, 23, 24, 31, 32, 47}) {
      std::vector<Code> codes;
      for (int i = 0; i < 3000; ++i)
        codes.push_back(testing::RandomCode(rng, 256));
      std::vector<Code> queries;
      for (int i = 0; i < 20; ++i) {
        queries.push_back(testing::RandomCode(rng, 256));
        codes.push_back(testing::FlipBits(queries.back(), radius, rng));
        codes.push_back(testing::FlipBits(queries.back(), radius + 1, rng));
      }
      auto mih = BuildMih(codes, 256, false, chunk_bits);
      FlatScan flat = BuildFlat(codes, 256);
      for (size_t i = 0; i < queries.size(); ++i) {
        std::vector<Match> got, want;
        mih->RangeSearchInclusive(queries[i].data(), radius, nullptr, &got);
        flat.RangeSearch(queries[i].data(), radius, &want);
        std::sort(got.begin(), got.end());
        std::sort(want.begin(), want.end());
        ASSERT_EQ(got, want) << "chunk bits " << chunk_bits << " radius "
                             << radius << " query " << i;
        const uint64_t at_r = 1000 + 7 * (3000 + 2 * i);
        const uint64_t at_r1 = at_r + 7;
        EXPECT_TRUE(std::count(got.begin(), got.end(), Match{at_r, radius}));
        for (const Match& m : got) EXPECT_NE(m.id, at_r1);
      }
    }
  }
}

// From 2^16 rows the tables are built on several threads.
TEST(MihIndexTest, LargeIndexBuiltInParallelEqualsBruteForce) {
  Corpus c = MakeCorpus(true, 256, 70000, 31);
  for (int chunk_bits : {0, 22}) {
    auto mih = BuildMih(c.codes, 256, false, chunk_bits);
    FlatScan flat = BuildFlat(c.codes, 256);
    for (int radius : {31, 32}) {
      for (const Code& q : c.queries) {
        std::vector<Match> got, want;
        mih->RangeSearchInclusive(q.data(), radius, nullptr, &got);
        flat.RangeSearch(q.data(), radius, &want);
        std::sort(got.begin(), got.end());
        std::sort(want.begin(), want.end());
        ASSERT_EQ(got, want) << "chunk bits " << chunk_bits;
      }
    }
  }
}

TEST(MihIndexTest, ExcludeHidesIdsFromRangeAndKnn) {
  Corpus c = MakeCorpus(true, 256, 4000, 5);
  auto mih = BuildMih(c.codes, 256, false);
  absl::flat_hash_set<uint64_t> exclude;
  for (size_t i = 0; i < c.codes.size(); i += 3) exclude.insert(1000 + 7 * i);
  FlatScan flat(256);
  for (size_t i = 0; i < c.codes.size(); ++i) {
    if (!exclude.contains(1000 + 7 * i))
      flat.Add(1000 + 7 * i, c.codes[i].data());
  }
  for (const Code& q : c.queries) {
    std::vector<Match> got, want;
    mih->RangeSearchInclusive(q.data(), 40, &exclude, &got);
    flat.RangeSearch(q.data(), 40, &want);
    std::sort(got.begin(), got.end());
    std::sort(want.begin(), want.end());
    ASSERT_EQ(got, want);
    ASSERT_EQ(mih->Knn(q.data(), 20, &exclude), flat.Knn(q.data(), 20));
  }
}

// FAISS's range_search is strict (distance < radius); ours follows it there,
// and agrees with faiss::IndexBinaryFlat on labels, distances and k-NN
// distances.
TEST(MihIndexTest, FaissApiMatchesIndexBinaryFlat) {
  Corpus c = MakeCorpus(true, 256, 3000, 9);
  auto mih = BuildMih(c.codes, 256, false);
  faiss::IndexBinaryFlat flat(256);
  std::vector<uint8_t> data, queries;
  for (const Code& code : c.codes)
    data.insert(data.end(), code.begin(), code.end());
  for (const Code& q : c.queries)
    queries.insert(queries.end(), q.begin(), q.end());
  flat.add(c.codes.size(), data.data());
  const size_t nq = c.queries.size();

  faiss::RangeSearchResult got(nq), want(nq);
  mih->range_search(nq, queries.data(), 32, &got);
  flat.range_search(nq, queries.data(), 32, &want);
  for (size_t i = 0; i < nq; ++i) {
    std::vector<std::pair<int, int64_t>> a, b;
    for (size_t j = got.lims[i]; j < got.lims[i + 1]; ++j) {
      EXPECT_LT(got.distances[j], 32);
      a.push_back({static_cast<int>(got.distances[j]), got.labels[j]});
    }
    for (size_t j = want.lims[i]; j < want.lims[i + 1]; ++j) {
      // Flat numbers codes 0..n-1; ours carry ids 1000 + 7 * i.
      b.push_back(
          {static_cast<int>(want.distances[j]), 1000 + 7 * want.labels[j]});
    }
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    ASSERT_EQ(a, b) << "query " << i;
  }

  const int k = 5;
  std::vector<int32_t> d1(nq * k), d2(nq * k);
  std::vector<faiss::IndexBinary::idx_t> l1(nq * k), l2(nq * k);
  mih->search(nq, queries.data(), k, d1.data(), l1.data());
  flat.search(nq, queries.data(), k, d2.data(), l2.data());
  EXPECT_EQ(d1, d2);
}

TEST(MihIndexTest, AddNumbersCodesAndResetEmpties) {
  std::mt19937_64 rng(3);
  std::vector<uint8_t> data;
  for (int i = 0; i < 10; ++i) {
    Code c = testing::RandomCode(rng, 64);
    data.insert(data.end(), c.begin(), c.end());
  }
  MihIndex index(64);
  index.set_scan_fallback(false);
  index.add(5, data.data());
  index.add(5, data.data() + 40);
  EXPECT_EQ(index.ntotal, 10);
  for (int i = 0; i < 10; ++i) {
    std::vector<Match> hits;
    index.RangeSearchInclusive(data.data() + 8 * i, 0, nullptr, &hits);
    ASSERT_FALSE(hits.empty());
    EXPECT_EQ(hits[0].id, static_cast<uint64_t>(i));
  }
  index.reset();
  EXPECT_EQ(index.ntotal, 0);
  std::vector<Match> hits;
  index.RangeSearchInclusive(data.data(), 63, nullptr, &hits);
  EXPECT_TRUE(hits.empty());
  // Re-adding after reset restarts the numbering (IndexBinaryMultiHash 1.7.3
  // kept stale maps here).
  index.add(1, data.data() + 8);
  index.RangeSearchInclusive(data.data() + 8, 0, nullptr, &hits);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, 0u);
}

TEST(MihIndexTest, BuildSortsRowsByIdAndFindLocatesThem) {
  std::mt19937_64 rng(11);
  const size_t n = 500;
  std::vector<uint64_t> ids(n), words;
  std::vector<Code> codes;
  for (size_t i = 0; i < n; ++i) {
    ids[i] = (i * 7919) % 1009 + 1;  // Distinct, shuffled, never 0.
    codes.push_back(testing::RandomCode(rng, 256));
    for (int w = 0; w < 4; ++w) {
      uint64_t v;
      std::memcpy(&v, codes.back().data() + 8 * w, 8);
      words.push_back(v);
    }
  }
  MihIndex index(256);
  index.Build(ids, words);
  ASSERT_EQ(index.size(), n);
  for (size_t i = 1; i < n; ++i) EXPECT_LT(index.id(i - 1), index.id(i));
  for (size_t i = 0; i < n; ++i) {
    std::optional<size_t> row = index.Find(ids[i]);
    ASSERT_TRUE(row.has_value()) << ids[i];
    EXPECT_EQ(index.id(*row), ids[i]);
    EXPECT_EQ(std::memcmp(index.words(*row), codes[i].data(), 32), 0);
  }
  EXPECT_FALSE(index.Find(0).has_value());
  EXPECT_FALSE(index.Find(5000).has_value());
  // Search results carry the ids given to Build, not row numbers.
  std::vector<Match> hits;
  index.RangeSearchInclusive(codes[3].data(), 0, nullptr, &hits);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].id, ids[3]);
}

}  // namespace
}  // namespace hashmatch
