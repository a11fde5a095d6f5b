// Search index benchmark: multi-index hashing (BinaryIndex over MihIndex)
// against our flat scan and FAISS's IndexBinaryFlat, in the same run.
//
//   index_benchmark [--n=1000000] [--queries=200] [--radius=31]
//                   [--clustered] [--faiss_queries=50]
//
// Prints build time, RSS growth, per-query latency p50/p99 (one thread),
// MIH range QPS at 1 and 2 threads, dihedral (8-query) latency, recall against
// the flat scan, and ratios. FAISS is run with one OpenMP thread per call
// (single-query comparison).
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "faiss/IndexBinaryFlat.h"
#include "faiss/impl/AuxIndexStructures.h"
#include "index/search/binary_index.h"
#include "index/search/flat_scan.h"
#include "index/search/search_test_util.h"

namespace {

using Clock = std::chrono::steady_clock;
using hashmatch::testing::Code;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

long RssKb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return 0;
}

struct Latency {
  std::vector<double> us;
  void Add(Clock::time_point a, Clock::time_point b) {
    us.push_back(Seconds(a, b) * 1e6);
  }
  double Pct(double p) {
    std::sort(us.begin(), us.end());
    return us.empty() ? 0 : us[std::min(us.size() - 1, size_t(p * us.size()))];
  }
  double Mean() const {
    double s = 0;
    for (double u : us) s += u;
    return us.empty() ? 0 : s / us.size();
  }
};

long Flag(int argc, char** argv, const char* name, long def) {
  std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      return std::atol(argv[i] + prefix.size());
    }
  }
  return def;
}

bool HasFlag(int argc, char** argv, const char* name) {
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == std::string("--") + name) return true;
  }
  return false;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t n = Flag(argc, argv, "n", 1000000);
  const size_t nq = Flag(argc, argv, "queries", 200);
  const size_t faiss_nq = Flag(argc, argv, "faiss_queries", 50);
  const int radius = static_cast<int>(Flag(argc, argv, "radius", 31));
  const bool clustered = HasFlag(argc, argv, "clustered");
  omp_set_num_threads(1);

  std::mt19937_64 rng(1234);
  std::vector<uint8_t> data;
  data.reserve(n * 32);
  {
    Code centre;
    for (size_t i = 0; i < n; ++i) {
      Code c;
      if (!clustered) {
        c = hashmatch::testing::RandomCode(rng, 256);
      } else if (i % 20 == 0) {
        centre = c = hashmatch::testing::RandomCode(rng, 256);
      } else {
        c = hashmatch::testing::FlipBits(centre, int(rng() % 17), rng);
      }
      data.insert(data.end(), c.begin(), c.end());
    }
  }
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = i;
  // Half the queries are near-duplicates (0..31 flipped bits), half random.
  std::vector<Code> queries;
  for (size_t i = 0; i < nq; ++i) {
    if (i % 2 == 0) {
      size_t at = rng() % n;
      Code base(data.begin() + at * 32, data.begin() + at * 32 + 32);
      queries.push_back(
          hashmatch::testing::FlipBits(base, int(rng() % 32), rng));
    } else {
      queries.push_back(hashmatch::testing::RandomCode(rng, 256));
    }
  }
  std::printf("n=%zu codes=%s radius=%d queries=%zu (faiss %zu)\n", n,
              clustered ? "clustered(20 per centre, <=16 flips)" : "random",
              radius, nq, faiss_nq);

  long rss0 = RssKb();
  auto t0 = Clock::now();
  auto index = hashmatch::BinaryIndex::Create({}).value();
  if (!index->AddBatch(ids, data).ok()) return 1;
  auto t1 = Clock::now();
  long rss1 = RssKb();
  std::printf("MIH build: %.2f s, RSS +%.0f MB\n", Seconds(t0, t1),
              (rss1 - rss0) / 1024.0);

  t0 = Clock::now();
  hashmatch::FlatScan flat(256);
  for (size_t i = 0; i < n; ++i) flat.Add(i, data.data() + i * 32);
  t1 = Clock::now();
  long rss2 = RssKb();
  std::printf("FlatScan build: %.2f s, RSS +%.0f MB\n", Seconds(t0, t1),
              (rss2 - rss1) / 1024.0);

  faiss::IndexBinaryFlat fflat(256);
  t0 = Clock::now();
  fflat.add(n, data.data());
  t1 = Clock::now();
  std::printf("faiss::IndexBinaryFlat build: %.2f s, RSS +%.0f MB\n",
              Seconds(t0, t1), (RssKb() - rss2) / 1024.0);

  Latency mih_lat, flat_lat, faiss_lat, dihedral_lat;
  size_t missed = 0, extra = 0, found = 0, faiss_mismatch = 0;
  for (size_t i = 0; i < nq; ++i) {
    auto a = Clock::now();
    auto got = index->RangeSearch(queries[i], radius);
    auto b = Clock::now();
    mih_lat.Add(a, b);
    std::vector<hashmatch::Match> want;
    a = Clock::now();
    flat.RangeSearch(queries[i].data(), radius, &want);
    b = Clock::now();
    flat_lat.Add(a, b);
    std::sort(want.begin(), want.end());
    found += want.size();
    for (const auto& m : want) {
      missed += !std::binary_search(got->begin(), got->end(), m);
    }
    extra += got->size() - (want.size() - missed);
    if (i < faiss_nq) {
      faiss::RangeSearchResult res(1);
      a = Clock::now();
      fflat.range_search(1, queries[i].data(), radius + 1, &res);
      b = Clock::now();
      faiss_lat.Add(a, b);
      faiss_mismatch += res.lims[1] != want.size();
    }
  }
  // Dihedral: 8 variants of a query (the query and 7 random codes stand in
  // for the transformed hashes).
  for (size_t i = 0; i < std::min<size_t>(nq, 100); ++i) {
    std::vector<uint8_t> eight(queries[i].begin(), queries[i].end());
    for (int v = 1; v < 8; ++v) {
      Code r = hashmatch::testing::RandomCode(rng, 256);
      eight.insert(eight.end(), r.begin(), r.end());
    }
    auto a = Clock::now();
    auto got = index->SearchDihedral(eight, radius);
    dihedral_lat.Add(a, Clock::now());
    if (!got.ok()) return 1;
  }
  std::printf("range r=%d single query, one thread (us):\n", radius);
  std::printf("  MIH        mean %9.1f p50 %9.1f p99 %9.1f  -> %8.0f q/s\n",
              mih_lat.Mean(), mih_lat.Pct(0.5), mih_lat.Pct(0.99),
              1e6 / mih_lat.Mean());
  std::printf("  FlatScan   mean %9.1f p50 %9.1f p99 %9.1f  -> %8.0f q/s\n",
              flat_lat.Mean(), flat_lat.Pct(0.5), flat_lat.Pct(0.99),
              1e6 / flat_lat.Mean());
  std::printf("  FAISS Flat mean %9.1f p50 %9.1f p99 %9.1f  -> %8.0f q/s\n",
              faiss_lat.Mean(), faiss_lat.Pct(0.5), faiss_lat.Pct(0.99),
              1e6 / faiss_lat.Mean());
  std::printf("  MIH dihedral (8 queries) mean %.1f p50 %.1f p99 %.1f\n",
              dihedral_lat.Mean(), dihedral_lat.Pct(0.5),
              dihedral_lat.Pct(0.99));
  std::printf(
      "ratios (mean latency): FlatScan/MIH %.1fx, FAISSFlat/MIH %.1fx,"
      " FAISSFlat/FlatScan %.1fx\n",
      flat_lat.Mean() / mih_lat.Mean(), faiss_lat.Mean() / mih_lat.Mean(),
      faiss_lat.Mean() / flat_lat.Mean());
  std::printf(
      "recall: %zu of %zu true matches found (%zu missed, %zu extra);"
      " FAISS count mismatches %zu\n",
      found - missed, found, missed, extra, faiss_mismatch);
  // Throughput: the same queries from 1 and 2 threads (wall clock).
  for (int threads : {1, 2}) {
    std::atomic<size_t> next{0};
    const size_t total = nq;  // Each query once: no warm-cache repeats.
    auto work = [&] {
      for (size_t i; (i = next.fetch_add(1)) < total;) {
        if (!index->RangeSearch(queries[i % nq], radius).ok()) std::abort();
      }
    };
    auto a = Clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) pool.emplace_back(work);
    for (auto& t : pool) t.join();
    std::printf("MIH range QPS, %d thread(s): %.0f\n", threads,
                total / Seconds(a, Clock::now()));
  }
  // Live updates: single adds into the delta, then a batch that passes the
  // merge threshold and rebuilds the base.
  Latency add_lat;
  uint64_t next_id = n;
  for (int i = 0; i < 1000; ++i) {
    Code c = hashmatch::testing::RandomCode(rng, 256);
    auto a = Clock::now();
    if (!index->Add(next_id++, c).ok()) return 1;
    add_lat.Add(a, Clock::now());
  }
  const size_t batch = index->options().merge_threshold;
  std::vector<uint64_t> more_ids;
  std::vector<uint8_t> more;
  for (size_t i = 0; i < batch; ++i) {
    Code c = hashmatch::testing::RandomCode(rng, 256);
    more_ids.push_back(next_id++);
    more.insert(more.end(), c.begin(), c.end());
  }
  auto a = Clock::now();
  if (!index->AddBatch(more_ids, more).ok()) return 1;
  auto b = Clock::now();
  std::printf(
      "live Add (delta <= 1000) mean %.1f us p99 %.1f us; AddBatch of"
      " %zu with merge into a new base: %.2f s (merges %zu)\n",
      add_lat.Mean(), add_lat.Pct(0.99), batch, Seconds(a, b),
      index->stats().merges);
  return missed == 0 && extra == 0 && faiss_mismatch == 0 ? 0 : 2;
}
