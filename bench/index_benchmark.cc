// Search index benchmark: multi-index hashing (MihIndex, and BinaryIndex over
// it) against our flat scan and FAISS's IndexBinaryFlat, in the same run.
//
//   index_benchmark [--n=1000000] [--queries=200] [--radius=31]
//                   [--codes=random|clustered|realistic] [--faiss_queries=50]
//                   [--corpus=bench/data/wallpaper_pdq_hashes.tsv]
//                   [--chunk_bits=0]   (MihIndex alone; 0: chosen by size)
//                   [--json=FILE]
//
// Codes: "random" (uniform bits), "clustered" (20 per random centre, <= 16
// flips), "realistic" (bench/pdq_code_model.h fitted to the wallpaper corpus:
// clusters of 1-7 near-duplicates of model images, noise calibrated to real
// transforms). Half the queries are near-duplicates of stored codes (random,
// clustered: 0-31 flipped bits; realistic: a new perturbation of a stored
// code's image), half new codes from the same generator.
//
// Prints build time and RSS growth of MihIndex alone and of BinaryIndex, the
// MIH chunking, probes and candidates per query; single-query latency
// (mean, p50, p99) with MIH, FlatScan and FAISS interleaved (cold caches for
// MIH) and back to back (each alone, same queries); QPS at 1 and 2 threads;
// dihedral (8-query) latency; recall of MIH and BinaryIndex against the flat
// scan, and FAISS's counts; the ratios. Exits 2 on any mismatch. FAISS runs
// with one OpenMP thread (single-query comparison). --json=FILE also writes
// the numbers as one JSON object (bench/bench_json.h; keys as printed).
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

#include "bench/bench_json.h"
#include "bench/pdq_code_model.h"
#include "faiss/IndexBinaryFlat.h"
#include "faiss/impl/AuxIndexStructures.h"
#include "index/search/binary_index.h"
#include "index/search/flat_scan.h"
#include "index/search/mih_index.h"
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

std::string StringFlag(int argc, char** argv, const char* name,
                       const std::string& def) {
  std::string prefix = std::string("--") + name + "=";
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], prefix.c_str(), prefix.size()) == 0) {
      return argv[i] + prefix.size();
    }
  }
  return def;
}

// Realistic PDQ codes: clusters of 1-7 near-duplicates of images drawn from
// the fitted model. Cluster c's image is drawn from an rng seeded by c, so
// queries can make new near-duplicates of any stored cluster.
struct RealisticCodes {
  const hashmatch::PdqCodeModel* model;
  float sigma_max;  // Member noise is uniform in [0, sigma_max].

  void Image(uint64_t cluster, float* z) const {
    std::mt19937_64 rng(0x9E3779B97F4A7C15ull * (cluster + 1));
    model->SampleLatent(rng, z);
  }
  Code Member(const float* z, bool exact, std::mt19937_64& rng) const {
    float z2[256];
    const float sigma =
        exact ? 0.0f : std::uniform_real_distribution<float>(0, sigma_max)(rng);
    hashmatch::PdqCodeModel::Perturb(z, sigma, rng, z2);
    const hashmatch::Hash256 h = hashmatch::PdqCodeModel::Threshold(z2);
    return Code(h.bytes().begin(), h.bytes().end());
  }
  // Fills n codes (32 bytes each) with two threads; cluster_of[i] is the
  // cluster of code i.
  void Generate(size_t n, std::vector<uint8_t>* data,
                std::vector<uint32_t>* cluster_of) const {
    // Cluster sizes 1..7 from a fixed rng; the first member is the image.
    std::vector<uint32_t> first;
    std::mt19937_64 rng(99);
    for (size_t at = 0; at < n; at += 1 + rng() % 7) first.push_back(at);
    first.push_back(n);
    data->assign(n * 32, 0);
    cluster_of->assign(n, 0);
    auto work = [&](size_t part, size_t parts) {
      std::vector<float> z(256);
      for (size_t c = part; c + 1 < first.size(); c += parts) {
        Image(c, z.data());
        std::mt19937_64 member_rng(c * 7919 + 1);
        for (size_t i = first[c]; i < first[c + 1]; ++i) {
          Code code = Member(z.data(), i == first[c], member_rng);
          std::copy(code.begin(), code.end(), data->begin() + i * 32);
          (*cluster_of)[i] = static_cast<uint32_t>(c);
        }
      }
    };
    std::thread other(work, 1, 2);
    work(0, 2);
    other.join();
  }
};

}  // namespace

int main(int argc, char** argv) {
  const size_t n = Flag(argc, argv, "n", 1000000);
  const size_t nq = Flag(argc, argv, "queries", 200);
  const size_t faiss_nq = Flag(argc, argv, "faiss_queries", 50);
  const int radius = static_cast<int>(Flag(argc, argv, "radius", 31));
  const std::string kind = StringFlag(argc, argv, "codes", "random");
  const std::string corpus_path =
      StringFlag(argc, argv, "corpus", HASHMATCH_DEFAULT_CORPUS);
  if (kind != "random" && kind != "clustered" && kind != "realistic") {
    std::fprintf(stderr, "--codes must be random, clustered or realistic\n");
    return 1;
  }
  const std::string json_path = StringFlag(argc, argv, "json", "");
  hashmatch::bench::JsonObject js;
  omp_set_num_threads(1);

  std::mt19937_64 rng(1234);
  std::vector<uint8_t> data;
  std::vector<Code> queries;
  auto gen0 = Clock::now();
  if (kind == "realistic") {
    auto corpus = hashmatch::ReadPdqCorpus(corpus_path);
    if (!corpus.ok()) {
      std::fprintf(stderr, "%s\n", corpus.status().ToString().c_str());
      return 1;
    }
    auto model = hashmatch::PdqCodeModel::Fit(corpus->photos);
    if (!model.ok()) {
      std::fprintf(stderr, "%s\n", model.status().ToString().c_str());
      return 1;
    }
    std::vector<int> td = corpus->transform_distances;
    std::sort(td.begin(), td.end());
    const double median_td = td.empty() ? 10 : td[td.size() / 2];
    // Member sigma is uniform in [0, sigma_max]; its median is the sigma of
    // the measured median transform distance.
    const float sigma_max = 2 * model->CalibrateSigma(median_td, rng);
    double bit_err = 0, pair_err = 0;
    model->Compare(corpus->photos, 4000, rng, &bit_err, &pair_err);
    std::printf(
        "realistic model: %zu corpus hashes, shrinkage %.2f, mean |bit freq "
        "diff| %.3f, mean |pair phi diff| %.3f; transforms: %zu, distance "
        "median %.0f, p90 %d, max %d; member sigma uniform [0, %.3f]\n",
        corpus->photos.size(), model->shrinkage(), bit_err, pair_err, td.size(),
        median_td, td.empty() ? 0 : td[td.size() * 9 / 10],
        td.empty() ? 0 : td.back(), sigma_max);
    RealisticCodes gen{&*model, sigma_max};
    std::vector<uint32_t> cluster_of;
    gen.Generate(n, &data, &cluster_of);
    std::vector<float> z(256);
    for (size_t i = 0; i < nq; ++i) {
      if (i % 2 == 0) {
        gen.Image(cluster_of[rng() % n], z.data());
      } else {
        model->SampleLatent(rng, z.data());
      }
      queries.push_back(gen.Member(z.data(), i % 2 == 1, rng));
    }
  } else {
    data.reserve(n * 32);
    Code centre;
    for (size_t i = 0; i < n; ++i) {
      Code c;
      if (kind == "random") {
        c = hashmatch::testing::RandomCode(rng, 256);
      } else if (i % 20 == 0) {
        centre = c = hashmatch::testing::RandomCode(rng, 256);
      } else {
        c = hashmatch::testing::FlipBits(centre, int(rng() % 17), rng);
      }
      data.insert(data.end(), c.begin(), c.end());
    }
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
  }
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = i;
  js.Int("n", static_cast<int64_t>(n))
      .Str("codes", kind)
      .Int("radius", radius)
      .Int("queries", static_cast<int64_t>(nq))
      .Int("faiss_queries", static_cast<int64_t>(faiss_nq));
  std::printf(
      "n=%zu codes=%s radius=%d queries=%zu (faiss %zu), generated in "
      "%.1f s\n",
      n, kind.c_str(), radius, nq, faiss_nq, Seconds(gen0, Clock::now()));

  // MihIndex alone: the search structure whose RSS the target is about.
  long rss0 = RssKb();
  auto t0 = Clock::now();
  hashmatch::MihIndex mih(256);
  mih.set_chunk_bits(static_cast<int>(Flag(argc, argv, "chunk_bits", 0)));
  {
    std::vector<uint64_t> words(n * 4);
    std::memcpy(words.data(), data.data(), n * 32);
    mih.Build(ids, std::move(words));
  }
  auto t1 = Clock::now();
  long rss1 = RssKb();
  js.Num("mih_build_s", Seconds(t0, t1))
      .Num("mih_rss_mb", (rss1 - rss0) / 1024.0)
      .Int("mih_chunks", mih.num_chunks());
  std::printf(
      "MihIndex build: %.2f s, RSS +%.0f MB (MemoryBytes %.0f MB), "
      "%d chunks:",
      Seconds(t0, t1), (rss1 - rss0) / 1024.0, mih.MemoryBytes() / 1048576.0,
      mih.num_chunks());
  for (int j = 0; j < mih.num_chunks(); ++j) {
    std::printf(" %d", mih.chunk_bits(j));
  }
  std::printf("\n");

  t0 = Clock::now();
  auto index = hashmatch::BinaryIndex::Create({}).value();
  if (!index->AddBatch(ids, data).ok()) return 1;
  t1 = Clock::now();
  long rss2 = RssKb();
  std::printf("BinaryIndex build: %.2f s, RSS +%.0f MB\n", Seconds(t0, t1),
              (rss2 - rss1) / 1024.0);
  js.Num("binary_index_build_s", Seconds(t0, t1))
      .Num("binary_index_rss_mb", (rss2 - rss1) / 1024.0);

  t0 = Clock::now();
  hashmatch::FlatScan flat(256);
  for (size_t i = 0; i < n; ++i) flat.Add(i, data.data() + i * 32);
  t1 = Clock::now();
  long rss3 = RssKb();
  std::printf("FlatScan build: %.2f s, RSS +%.0f MB\n", Seconds(t0, t1),
              (rss3 - rss2) / 1024.0);

  faiss::IndexBinaryFlat fflat(256);
  t0 = Clock::now();
  fflat.add(n, data.data());
  t1 = Clock::now();
  std::printf("faiss::IndexBinaryFlat build: %.2f s, RSS +%.0f MB\n",
              Seconds(t0, t1), (RssKb() - rss3) / 1024.0);

  // Probes and candidates per query.
  {
    std::vector<double> cand, probes;
    size_t scanned = 0;
    for (const Code& q : queries) {
      auto st = mih.RangeProbeStats(q.data(), radius);
      scanned += st.scanned;
      cand.push_back(static_cast<double>(st.candidates));
      probes.push_back(static_cast<double>(st.probes));
    }
    std::sort(cand.begin(), cand.end());
    std::sort(probes.begin(), probes.end());
    double mean = 0;
    for (double c : cand) mean += c;
    js.Num("candidates_mean", mean / cand.size());
    std::printf(
        "per query at r=%d: %.0f probes; candidates mean %.0f p50 "
        "%.0f p99 %.0f max %.0f; scans %zu\n",
        radius, probes[probes.size() / 2], mean / cand.size(),
        cand[cand.size() / 2], cand[cand.size() * 99 / 100], cand.back(),
        scanned);
  }

  Latency mih_lat, flat_lat, faiss_lat, dihedral_lat;
  size_t missed = 0, extra = 0, found = 0, faiss_mismatch = 0,
         binary_mismatch = 0;
  std::vector<std::vector<hashmatch::Match>> truth(nq);
  for (size_t i = 0; i < nq; ++i) {
    std::vector<hashmatch::Match> got;
    auto a = Clock::now();
    mih.RangeSearchInclusive(queries[i].data(), radius, nullptr, &got);
    auto b = Clock::now();
    mih_lat.Add(a, b);
    std::vector<hashmatch::Match>& want = truth[i];
    a = Clock::now();
    flat.RangeSearch(queries[i].data(), radius, &want);
    b = Clock::now();
    flat_lat.Add(a, b);
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    found += want.size();
    size_t miss_here = 0;
    for (const auto& m : want) {
      miss_here += !std::binary_search(got.begin(), got.end(), m);
    }
    missed += miss_here;
    extra += got.size() - (want.size() - miss_here);
    auto via_binary = index->RangeSearch(queries[i], radius);
    if (!via_binary.ok()) return 1;
    std::vector<hashmatch::Match> vb = *via_binary;
    std::sort(vb.begin(), vb.end());
    binary_mismatch += vb != want;
    if (i < faiss_nq) {
      faiss::RangeSearchResult res(1);
      a = Clock::now();
      fflat.range_search(1, queries[i].data(), radius + 1, &res);
      b = Clock::now();
      faiss_lat.Add(a, b);
      faiss_mismatch += res.lims[1] != want.size();
    }
  }
  // Back to back: each method alone over the same queries.
  Latency mih_b2b, flat_b2b;
  for (size_t i = 0; i < nq; ++i) {
    std::vector<hashmatch::Match> got;
    auto a = Clock::now();
    mih.RangeSearchInclusive(queries[i].data(), radius, nullptr, &got);
    mih_b2b.Add(a, Clock::now());
  }
  for (size_t i = 0; i < std::min<size_t>(nq, 50); ++i) {
    std::vector<hashmatch::Match> got;
    auto a = Clock::now();
    flat.RangeSearch(queries[i].data(), radius, &got);
    flat_b2b.Add(a, Clock::now());
  }
  // Dihedral: 8 variants of a query (the query and 7 other codes from the
  // same generator stand in for the transformed hashes).
  for (size_t i = 0; i < std::min<size_t>(nq, 100); ++i) {
    std::vector<uint8_t> eight(queries[i].begin(), queries[i].end());
    for (int v = 1; v < 8; ++v) {
      const Code& r = queries[(i * 8 + v * 2 + 1) % nq];
      eight.insert(eight.end(), r.begin(), r.end());
    }
    auto a = Clock::now();
    auto got = index->SearchDihedral(eight, radius);
    dihedral_lat.Add(a, Clock::now());
    if (!got.ok()) return 1;
  }
  std::printf("range r=%d single query, one thread (us):\n", radius);
  auto row = [&js](const char* name, const char* key, Latency& l) {
    std::printf("  %-26s mean %9.1f p50 %9.1f p99 %9.1f -> %8.0f q/s\n", name,
                l.Mean(), l.Pct(0.5), l.Pct(0.99), 1e6 / l.Mean());
    js.Raw(key, hashmatch::bench::JsonObject()
                    .Num("mean_us", l.Mean())
                    .Num("p50_us", l.Pct(0.5))
                    .Num("p99_us", l.Pct(0.99))
                    .Done());
  };
  row("MIH (interleaved)", "mih_interleaved", mih_lat);
  row("FlatScan (interleaved)", "flat_interleaved", flat_lat);
  row("FAISS Flat (interleaved)", "faiss_interleaved", faiss_lat);
  row("MIH (back to back)", "mih_back_to_back", mih_b2b);
  row("FlatScan (back to back)", "flat_back_to_back", flat_b2b);
  row("BinaryIndex dihedral (8q)", "binary_index_dihedral", dihedral_lat);
  std::printf(
      "ratios, interleaved mean latency: FlatScan/MIH %.1fx, FAISSFlat/MIH "
      "%.1fx; back to back: FlatScan/MIH %.1fx, FAISSFlat/MIH %.1fx; "
      "FAISSFlat/FlatScan %.1fx\n",
      flat_lat.Mean() / mih_lat.Mean(), faiss_lat.Mean() / mih_lat.Mean(),
      flat_b2b.Mean() / mih_b2b.Mean(), faiss_lat.Mean() / mih_b2b.Mean(),
      faiss_lat.Mean() / flat_b2b.Mean());
  std::printf(
      "recall: %zu of %zu true matches found (%zu missed, %zu extra);"
      " BinaryIndex mismatching queries %zu; FAISS count mismatches %zu\n",
      found - missed, found, missed, extra, binary_mismatch, faiss_mismatch);
  js.Int("true_matches", static_cast<int64_t>(found))
      .Int("missed", static_cast<int64_t>(missed))
      .Int("extra", static_cast<int64_t>(extra))
      .Int("binary_index_mismatches", static_cast<int64_t>(binary_mismatch))
      .Int("faiss_mismatches", static_cast<int64_t>(faiss_mismatch));
  // Throughput: the same queries from 1 and 2 threads (wall clock), each
  // query once per pass, three passes.
  for (int which = 0; which < 2; ++which) {
    for (int threads : {1, 2}) {
      std::atomic<size_t> next{0};
      const size_t total = nq * 3;
      auto work = [&] {
        for (size_t i; (i = next.fetch_add(1)) < total;) {
          if (which == 0) {
            std::vector<hashmatch::Match> got;
            mih.RangeSearchInclusive(queries[i % nq].data(), radius, nullptr,
                                     &got);
          } else if (!index->RangeSearch(queries[i % nq], radius).ok()) {
            std::abort();
          }
        }
      };
      auto a = Clock::now();
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t) pool.emplace_back(work);
      for (auto& t : pool) t.join();
      const double qps = total / Seconds(a, Clock::now());
      std::printf("%s range QPS, %d thread(s): %.0f\n",
                  which == 0 ? "MihIndex" : "BinaryIndex", threads, qps);
      js.Num(std::string(which == 0 ? "mih" : "binary_index") + "_qps_" +
                 std::to_string(threads) + "t",
             qps);
    }
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
  js.Num("live_add_mean_us", add_lat.Mean()).Num("merge_s", Seconds(a, b));
  if (!json_path.empty() &&
      !hashmatch::bench::WriteJsonFile(json_path, js.Done())) {
    return 1;
  }
  return missed == 0 && extra == 0 && binary_mismatch == 0 &&
                 faiss_mismatch == 0
             ? 0
             : 2;
}
