// Google Benchmark of Matcher, in process (no gRPC): what one MatchService
// RPC costs the server after the transport.
//
//   HASHMATCH_BENCH_ENTRIES=100000 build/src/match/matcher_benchmark
//
// A temporary store gets N random ACTIVE PDQ entries (default 100000) plus
// one photo's PDQ/MD5/SHA-256; then
//   MatchHashes/no_match       one random PDQ (nothing within 31 bits);
//   MatchHashes/match          an entry's PDQ with 8 bits flipped (one
//                              match, its metadata read from the store);
//   MatchHashes/pdq_sha256     a PDQ and a SHA-256 (the exact lane reads
//                              RocksDB) with no match;
//   HashBytes/<photo>          ImageHasher alone (PDQ with dihedral, MD5,
//                              SHA-256), the in-process decode+hash rate;
//   MatchImage/<photo>         the same through Matcher (pool, lookups).
// Each runs at 1 and 2 threads.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "benchmark/benchmark.h"
#include "src/common/file_util.h"
#include "src/hashing/image_hasher.h"
#include "src/match/matcher.h"

namespace hashmatch {
namespace {

constexpr char kPhoto[] = "/usr/share/backgrounds/mate/nature/GreenMeadow.jpg";

std::string RandomHash(std::mt19937_64& gen, size_t bytes) {
  std::string h(bytes, '\0');
  for (char& c : h) c = static_cast<char>(gen() & 0xFF);
  return h;
}

struct World {
  std::string error;
  std::filesystem::path dir;
  std::unique_ptr<HashStore> store;
  std::unique_ptr<VettedIndex> index;
  std::unique_ptr<Matcher> matcher;
  std::vector<std::string> pdq;  // The random entries' hashes.
  std::string photo;

  ~World() {
    matcher.reset();
    index.reset();
    store.reset();
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
};

World* BuildWorld() {
  auto* w = new World;
  const char* env = std::getenv("HASHMATCH_BENCH_ENTRIES");
  const size_t n = env != nullptr ? std::strtoull(env, nullptr, 10) : 100000;
  w->dir = std::filesystem::temp_directory_path() /
           absl::StrCat("matcher_benchmark_", ::getpid());
  StoreOptions so;
  so.sync = false;
  absl::StatusOr<std::unique_ptr<HashStore>> store =
      HashStore::Open(so, w->dir.string());
  if (!store.ok()) {
    w->error = store.status().ToString();
    return w;
  }
  w->store = *std::move(store);
  std::mt19937_64 gen(42);
  std::vector<hashmatch::v1::Entry> batch;
  for (size_t i = 0; i < n; ++i) {
    hashmatch::v1::Entry e;
    e.set_signal_type(hashmatch::v1::SIGNAL_TYPE_PDQ);
    e.set_hash(RandomHash(gen, 32));
    e.set_source_agency("bench");
    e.set_external_id(absl::StrCat("r", i));
    e.set_classification("bench");
    e.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
    w->pdq.push_back(e.hash());
    batch.push_back(std::move(e));
    if (batch.size() == 10000 || i + 1 == n) {
      absl::StatusOr<std::vector<hashmatch::v1::Entry>> put =
          w->store->Put(batch);
      if (!put.ok()) {
        w->error = put.status().ToString();
        return w;
      }
      batch.clear();
    }
  }
  absl::StatusOr<std::string> photo = ReadFileToString(kPhoto, 64 << 20);
  if (!photo.ok()) {
    w->error = photo.status().ToString();
    return w;
  }
  w->photo = *photo;
  ImageHasher hasher;
  const Algorithm algos[] = {Algorithm::kPdq, Algorithm::kMd5,
                             Algorithm::kSha256};
  const hashmatch::v1::SignalType signals[] = {
      hashmatch::v1::SIGNAL_TYPE_PDQ, hashmatch::v1::SIGNAL_TYPE_MD5,
      hashmatch::v1::SIGNAL_TYPE_SHA256};
  absl::StatusOr<ImageHashes> h = hasher.HashBytes(w->photo, algos, {});
  if (!h.ok()) {
    w->error = h.status().ToString();
    return w;
  }
  for (int k = 0; k < 3; ++k) {
    hashmatch::v1::Entry e;
    e.set_signal_type(signals[k]);
    e.set_hash(*HexToBytes(h->results[k].hex));
    e.set_source_agency("bench");
    e.set_external_id(absl::StrCat("photo", k));
    e.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
    if (!w->store->Put({e}).ok()) w->error = "put failed";
  }
  absl::StatusOr<std::unique_ptr<VettedIndex>> index =
      VettedIndex::Open(w->store.get(), VettedIndexOptions());
  if (!index.ok()) {
    w->error = index.status().ToString();
    return w;
  }
  w->index = *std::move(index);
  absl::StatusOr<std::unique_ptr<Matcher>> matcher =
      Matcher::Create(w->store.get(), w->index.get(), MatcherOptions());
  if (!matcher.ok()) {
    w->error = matcher.status().ToString();
    return w;
  }
  w->matcher = *std::move(matcher);
  return w;
}

World& TheWorld() {
  static World* w = BuildWorld();
  return *w;
}

enum class Kind { kNoMatch, kMatch, kPdqSha256 };

void BM_MatchHashes(benchmark::State& state, Kind kind) {
  World& w = TheWorld();
  if (!w.error.empty()) {
    state.SkipWithError(w.error.c_str());
    return;
  }
  std::mt19937_64 gen(7 + state.thread_index());
  std::vector<hashmatch::v1::MatchHashesRequest> requests(256);
  for (auto& r : requests) {
    auto* h = r.add_hashes();
    h->set_signal_type(hashmatch::v1::SIGNAL_TYPE_PDQ);
    h->set_quality(100);
    std::string pdq = kind == Kind::kMatch ? w.pdq[gen() % w.pdq.size()]
                                           : RandomHash(gen, 32);
    if (kind == Kind::kMatch) {
      for (int b = 0; b < 8; ++b) pdq[b * 3] ^= 1;
    }
    h->set_raw(pdq);
    if (kind == Kind::kPdqSha256) {
      auto* s = r.add_hashes();
      s->set_signal_type(hashmatch::v1::SIGNAL_TYPE_SHA256);
      s->set_raw(RandomHash(gen, 32));
    }
  }
  const hashmatch::v1::Verdict want = kind == Kind::kMatch
                                          ? hashmatch::v1::VERDICT_MATCH
                                          : hashmatch::v1::VERDICT_NO_MATCH;
  size_t i = 0;
  for (auto _ : state) {
    absl::StatusOr<hashmatch::v1::MatchResponse> r =
        w.matcher->MatchHashes(requests[i++ % requests.size()]);
    if (!r.ok() || r->verdict() != want) {
      state.SkipWithError("unexpected MatchHashes result");
      return;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_HashBytes(benchmark::State& state) {
  World& w = TheWorld();
  if (!w.error.empty()) {
    state.SkipWithError(w.error.c_str());
    return;
  }
  ImageHasher hasher;
  const Algorithm algos[] = {Algorithm::kPdq, Algorithm::kMd5,
                             Algorithm::kSha256};
  HashOptions options;
  options.dihedral = true;
  for (auto _ : state) {
    absl::StatusOr<ImageHashes> h = hasher.HashBytes(w.photo, algos, options);
    if (!h.ok()) {
      state.SkipWithError(h.status().ToString().c_str());
      return;
    }
    benchmark::DoNotOptimize(h);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_MatchImage(benchmark::State& state) {
  World& w = TheWorld();
  if (!w.error.empty()) {
    state.SkipWithError(w.error.c_str());
    return;
  }
  hashmatch::v1::MatchImageRequest req;
  req.set_image(w.photo);
  for (auto _ : state) {
    absl::StatusOr<hashmatch::v1::MatchResponse> r = w.matcher->MatchImage(req);
    if (!r.ok() || r->verdict() != hashmatch::v1::VERDICT_MATCH) {
      state.SkipWithError("unexpected MatchImage result");
      return;
    }
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK_CAPTURE(BM_MatchHashes, no_match, Kind::kNoMatch)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_MatchHashes, match, Kind::kMatch)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_MatchHashes, pdq_sha256, Kind::kPdqSha256)
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_HashBytes)
    ->Name("HashBytes/GreenMeadow_1280x1024")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_MatchImage)
    ->Name("MatchImage/GreenMeadow_1280x1024")
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();

}  // namespace
}  // namespace hashmatch

BENCHMARK_MAIN();
