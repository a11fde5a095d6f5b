// Google Benchmark of the hashing library on photos and synthetic images.
//
//   build-bench/bench/hashing_benchmark [--benchmark_filter=PdqHash]
//
// (a) PdqHash/<impl>/<image>: PDQ from decoded pixels, the optimized
//     PdqHasher against BaselinePdq (bench/pdq_baseline.h). Each pair is
//     checked to give the same hash before timing; the optimized run carries
//     a "speedup" counter (baseline CPU time / optimized CPU time, both
//     measured in this process) and a summary table is printed at the end.
// (b) HashBytes/<mode>/<image>: decode + hash through ImageHasher, and
//     Decode/<full|fast256>/<image> for the decode share alone.
// (c) PHash, DHash and PdqDihedral from pixels.
// A photo that is not installed makes its benchmarks report an error.
#include <time.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/pdq_baseline.h"
#include "benchmark/benchmark.h"
#include "src/common/file_util.h"
#include "src/hashing/dct_hashes.h"
#include "src/hashing/image_decoder.h"
#include "src/hashing/image_hasher.h"
#include "src/hashing/pdq.h"

namespace hashmatch {
namespace bench {
namespace {

struct Photo {
  const char* name;
  const char* path;
};
constexpr Photo kPhotos[] = {
    {"small_512x512",
     "/usr/lib/python3/dist-packages/skimage/data/astronaut.png"},
    {"medium_1920x1080", "/usr/share/backgrounds/mate/abstract/Elephants.jpg"},
    {"large_5640x3172",
     "/usr/share/backgrounds/mate/abstract/Elephants_5640x3172.jpg"},
};

struct Synthetic {
  int width, height;
};
constexpr Synthetic kSynthetic[] = {
    {2048, 2048}, {2047, 2047}, {2049, 2049}, {4096, 1024}, {4095, 1024},
    {4097, 1024}, {2000, 2000}, {4000, 1024}, {1920, 1080}, {5640, 3172},
};

// Encoded bytes and decoded pixels of one input, loaded once.
struct Input {
  std::string error;  // Non-empty when the input is unavailable.
  std::string bytes;  // Empty for synthetic inputs.
  std::vector<uint8_t> storage;
  DecodedImage decoded;
  ImageView view;
};

// A random-ish colour texture: coarse blocks (about 90 px) plus fine
// per-pixel noise from an integer hash, so that the hash has structure to
// threshold and no two rows are equal.
uint32_t Mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

void MakeTexture(int w, int h, Input* in) {
  in->storage.resize(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const uint32_t coarse = Mix((x / 97) * 7919u + (y / 89) * 104729u);
      const uint32_t fine = Mix(static_cast<uint32_t>(y) * 65537u + x);
      uint8_t* px = &in->storage[(static_cast<size_t>(y) * w + x) * 3];
      for (int c = 0; c < 3; ++c) {
        px[c] = static_cast<uint8_t>(((coarse >> (8 * c)) & 0xbf) +
                                     ((fine >> (8 * c)) & 0x3f));
      }
    }
  }
  in->view.data = in->storage.data();
  in->view.width = w;
  in->view.height = h;
  in->view.channels = 3;
  in->view.row_stride = static_cast<size_t>(w) * 3;
}

const Input& GetInput(const std::string& name) {
  static auto* cache = new std::map<std::string, std::unique_ptr<Input>>();
  auto it = cache->find(name);
  if (it != cache->end()) return *it->second;
  auto in = std::make_unique<Input>();
  bool found = false;
  for (const Photo& p : kPhotos) {
    if (name != p.name) continue;
    found = true;
    absl::StatusOr<std::string> bytes = ReadFileToString(p.path, 64 << 20);
    if (!bytes.ok()) {
      in->error = absl::StrCat(p.path, ": ", bytes.status().ToString());
      break;
    }
    in->bytes = *std::move(bytes);
    absl::StatusOr<DecodedImage> d = DecodeImage(in->bytes, DecodeOptions());
    if (!d.ok()) {
      in->error = absl::StrCat(p.path, ": ", d.status().ToString());
      break;
    }
    in->decoded = *std::move(d);
    in->view = in->decoded.view();
  }
  if (!found) {
    for (const Synthetic& s : kSynthetic) {
      if (name == absl::StrCat("synthetic_", s.width, "x", s.height)) {
        MakeTexture(s.width, s.height, in.get());
        found = true;
      }
    }
  }
  if (!found) in->error = "unknown input " + name;
  return *cache->emplace(name, std::move(in)).first->second;
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

// Per-input CPU seconds per hash, filled by the PdqHash benchmarks (the last
// run of a benchmark, the one with the most iterations, wins).
std::map<std::string, double>& OptimizedSeconds() {
  static auto* m = new std::map<std::string, double>();
  return *m;
}
std::map<std::string, double>& BaselineSeconds() {
  static auto* m = new std::map<std::string, double>();
  return *m;
}
std::vector<std::string>& PdqInputOrder() {
  static auto* v = new std::vector<std::string>();
  return *v;
}

// Aborts unless both implementations agree on `name`; checked once.
void CheckSameHash(const std::string& name, const ImageView& view) {
  static auto* checked = new std::map<std::string, bool>();
  if ((*checked)[name]) return;
  PdqHasher optimized;
  BaselinePdq baseline;
  const PdqHash a = optimized.Hash(view), b = baseline.Hash(view);
  if (a.hash.ToHex() != b.hash.ToHex() || a.quality != b.quality) {
    std::fprintf(stderr,
                 "FATAL: %s: optimized %s q%d != baseline %s q%d; the speed "
                 "ratio would compare different work\n",
                 name.c_str(), a.hash.ToHex().c_str(), a.quality,
                 b.hash.ToHex().c_str(), b.quality);
    std::abort();
  }
  (*checked)[name] = true;
}

// Times the baseline outside Google Benchmark's loop when its own benchmark
// was filtered out: whole hashes until 0.5 s of CPU time, at least 2.
double MeasureBaseline(const ImageView& view) {
  BaselinePdq baseline;
  int n = 0;
  const double start = ThreadCpuSeconds();
  double elapsed = 0;
  do {
    benchmark::DoNotOptimize(baseline.Hash(view));
    ++n;
    elapsed = ThreadCpuSeconds() - start;
  } while (n < 2 || elapsed < 0.5);
  return elapsed / n;
}

void SetPixelCounters(benchmark::State& state, const ImageView& v) {
  state.SetItemsProcessed(state.iterations());
  state.counters["Mpx/s"] =
      benchmark::Counter(v.width * static_cast<double>(v.height) * 1e-6,
                         benchmark::Counter::kIsIterationInvariantRate);
}

void BM_PdqHashBaseline(benchmark::State& state, std::string name) {
  const Input& in = GetInput(name);
  if (!in.error.empty()) {
    state.SkipWithError(in.error.c_str());
    return;
  }
  CheckSameHash(name, in.view);
  BaselinePdq hasher;
  const double start = ThreadCpuSeconds();
  for (auto _ : state) benchmark::DoNotOptimize(hasher.Hash(in.view));
  BaselineSeconds()[name] = (ThreadCpuSeconds() - start) / state.iterations();
  SetPixelCounters(state, in.view);
}

void BM_PdqHashOptimized(benchmark::State& state, std::string name) {
  const Input& in = GetInput(name);
  if (!in.error.empty()) {
    state.SkipWithError(in.error.c_str());
    return;
  }
  CheckSameHash(name, in.view);
  if (!BaselineSeconds().count(name)) {
    BaselineSeconds()[name] = MeasureBaseline(in.view);
  }
  PdqHasher hasher;
  const double start = ThreadCpuSeconds();
  for (auto _ : state) benchmark::DoNotOptimize(hasher.Hash(in.view));
  const double per = (ThreadCpuSeconds() - start) / state.iterations();
  OptimizedSeconds()[name] = per;
  SetPixelCounters(state, in.view);
  state.counters["speedup"] = BaselineSeconds()[name] / per;
}

void BM_HashBytes(benchmark::State& state, std::string name, Algorithm algo) {
  const Input& in = GetInput(name);
  if (!in.error.empty()) {
    state.SkipWithError(in.error.c_str());
    return;
  }
  ImageHasher hasher;
  const Algorithm algos[] = {algo};
  for (auto _ : state) {
    absl::StatusOr<ImageHashes> h = hasher.HashBytes(in.bytes, algos, {});
    if (!h.ok()) {
      state.SkipWithError(h.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(h);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_Decode(benchmark::State& state, std::string name, int min_side) {
  const Input& in = GetInput(name);
  if (!in.error.empty()) {
    state.SkipWithError(in.error.c_str());
    return;
  }
  DecodeOptions options;
  options.reduce_min_side = min_side;
  for (auto _ : state) {
    absl::StatusOr<DecodedImage> d = DecodeImage(in.bytes, options);
    if (!d.ok()) {
      state.SkipWithError(d.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(d);
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename Fn>
void BM_FromPixels(benchmark::State& state, std::string name, Fn fn) {
  const Input& in = GetInput(name);
  if (!in.error.empty()) {
    state.SkipWithError(in.error.c_str());
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(fn(in.view));
  SetPixelCounters(state, in.view);
}

void RegisterAll() {
  std::vector<std::string> pdq_inputs;
  for (const Photo& p : kPhotos) pdq_inputs.push_back(p.name);
  for (const Synthetic& s : kSynthetic) {
    pdq_inputs.push_back(absl::StrCat("synthetic_", s.width, "x", s.height));
  }
  PdqInputOrder() = pdq_inputs;
  for (const std::string& name : pdq_inputs) {
    // Baseline first, so the optimized run can report the ratio.
    benchmark::RegisterBenchmark(("PdqHash/baseline/" + name).c_str(),
                                 BM_PdqHashBaseline, name)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("PdqHash/optimized/" + name).c_str(),
                                 BM_PdqHashOptimized, name)
        ->Unit(benchmark::kMillisecond);
  }
  const Algorithm modes[] = {Algorithm::kPdq,     Algorithm::kPdqCli512,
                             Algorithm::kPdqFast, Algorithm::kPhash,
                             Algorithm::kDhash,   Algorithm::kMd5,
                             Algorithm::kSha256};
  for (const Photo& p : kPhotos) {
    const std::string name = p.name;
    benchmark::RegisterBenchmark(("Decode/full/" + name).c_str(), BM_Decode,
                                 name, 0)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("Decode/fast256/" + name).c_str(), BM_Decode,
                                 name, kDefaultFastMinSide)
        ->Unit(benchmark::kMillisecond);
    for (Algorithm a : modes) {
      benchmark::RegisterBenchmark(
          absl::StrCat("HashBytes/", AlgorithmName(a), "/", name).c_str(),
          BM_HashBytes, name, a)
          ->Unit(benchmark::kMillisecond);
    }
  }
  for (const Photo& p : kPhotos) {
    const std::string name = p.name;
    benchmark::RegisterBenchmark(("PHash/" + name).c_str(),
                                 BM_FromPixels<Hash64 (*)(const ImageView&)>,
                                 name, &PHash)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("DHash/" + name).c_str(),
                                 BM_FromPixels<Hash64 (*)(const ImageView&)>,
                                 name, &DHash)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("PdqDihedral/" + name).c_str(),
                                 [](benchmark::State& state, std::string n) {
                                   PdqHasher hasher;
                                   BM_FromPixels(
                                       state, n, [&hasher](const ImageView& v) {
                                         return hasher.HashDihedral(v);
                                       });
                                 },
                                 name)
        ->Unit(benchmark::kMillisecond);
  }
}

void PrintSummary() {
  std::printf(
      "\nPDQ hash only, from decoded pixels (CPU time per hash, this run)\n");
  std::printf("%-26s %12s %12s %9s\n", "input", "baseline ms", "optimized ms",
              "speedup");
  for (const std::string& name : PdqInputOrder()) {
    const auto b = BaselineSeconds().find(name);
    const auto o = OptimizedSeconds().find(name);
    if (b == BaselineSeconds().end() || o == OptimizedSeconds().end()) continue;
    std::printf("%-26s %12.2f %12.2f %8.2fx\n", name.c_str(), b->second * 1e3,
                o->second * 1e3, b->second / o->second);
  }
}

}  // namespace
}  // namespace bench
}  // namespace hashmatch

int main(int argc, char** argv) {
  hashmatch::bench::RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  hashmatch::bench::PrintSummary();
  return 0;
}
