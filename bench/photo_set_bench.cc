// Throughput and accuracy of the PDQ modes over the Debian-packaged photo set
// of tests/data/pdq_reference_hashes.tsv (see docs/performance.md).
//
//   build-bench/bench/photo_set_bench [path/to/pdq_reference_hashes.tsv]
//       [--no-baseline]
//
// All installed photos whose MD5 matches their row are read into memory once.
// The program then
//   1. checks the golden vectors: our pdq and pdq-cli512 hashes and qualities
//      against the reference's, row by row (exit status 1 on any mismatch);
//   2. times decode alone, the optimized PDQ hash alone and the baseline PDQ
//      (bench/pdq_baseline.h) on the same decoded pixels, one image at a time;
//   3. times decode + hash (ImageHasher::HashBytes) over the whole set for pdq,
//      pdq-cli512 and pdq-fast with 1 and 2 threads (one ImageHasher each);
//   4. for pdq-fast at fast_min_side 128, 256, 384 and 512: throughput and the
//      mean / max Hamming distance to the full-resolution pdq hash;
//   5. prints PASS / FAIL for the performance targets.
// Timings are wall-clock on whatever else the machine is running.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_split.h"
#include "bench/pdq_baseline.h"
#include "src/common/file_util.h"
#include "src/hashing/crypto_hash.h"
#include "src/hashing/image_decoder.h"
#include "src/hashing/image_hasher.h"
#include "src/hashing/pdq.h"

namespace hashmatch {
namespace bench {
namespace {

struct Row {
  std::string path;
  std::string format;
  std::string md5;
  std::string pdq_full;  // Empty where the reference could not decode.
  int quality_full = -1;
  std::string pdq_cli512;
  int quality_cli512 = -1;
  std::string bytes;
  bool is_jpeg() const { return format == "JPEG"; }
};

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

bool LoadRows(const std::string& tsv, std::vector<Row>* rows) {
  std::ifstream in(tsv);
  if (!in) {
    std::fprintf(stderr, "cannot open %s\n", tsv.c_str());
    return false;
  }
  std::string line;
  std::getline(in, line);  // Header.
  int missing = 0, changed = 0, total = 0;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    ++total;
    std::vector<std::string> f = absl::StrSplit(line, '\t');
    if (f.size() < 11) {
      std::fprintf(stderr, "short row: %s\n", line.c_str());
      return false;
    }
    Row r;
    r.path = f[0];
    r.format = f[2];
    r.md5 = f[6];
    r.pdq_full = f[7];
    r.quality_full = f[8].empty() ? -1 : std::stoi(f[8]);
    r.pdq_cli512 = f[9];
    r.quality_cli512 = f[10].empty() ? -1 : std::stoi(f[10]);
    absl::StatusOr<std::string> bytes = ReadFileToString(r.path, 64 << 20);
    if (!bytes.ok()) {
      ++missing;
      continue;
    }
    if (Md5Hex(*bytes) != r.md5) {
      ++changed;
      continue;
    }
    r.bytes = *std::move(bytes);
    rows->push_back(std::move(r));
  }
  std::printf("rows: %d in %s; %zu loaded, %d not installed, %d md5 differs\n",
              total, tsv.c_str(), rows->size(), missing, changed);
  return !rows->empty();
}

// Runs fn(worker, row_index) over all rows on `threads` threads; returns the
// wall-clock seconds.
double RunParallel(int threads, size_t n,
                   const std::function<void(int, size_t)>& fn) {
  std::atomic<size_t> next{0};
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (size_t i = next++; i < n; i = next++) fn(t, i);
    });
  }
  for (std::thread& th : pool) th.join();
  return SecondsSince(start);
}

struct ModeRun {
  double seconds = 0;
  int errors = 0;
  std::vector<Hash256> hashes;
};

ModeRun HashSet(const std::vector<Row>& rows, Algorithm mode, int threads,
                int fast_min_side) {
  ModeRun run;
  run.hashes.resize(rows.size());
  std::vector<ImageHasher> hashers(threads);
  std::atomic<int> errors{0};
  HashOptions options;
  options.fast_min_side = fast_min_side;
  const Algorithm algos[] = {mode};
  run.seconds = RunParallel(threads, rows.size(), [&](int t, size_t i) {
    absl::StatusOr<ImageHashes> h =
        hashers[t].HashBytes(rows[i].bytes, algos, options);
    if (!h.ok()) {
      ++errors;
      return;
    }
    run.hashes[i] = *Hash256::FromHex(h->results[0].hex);
  });
  run.errors = errors;
  return run;
}

struct FormatStats {
  int count = 0;
  double megapixels = 0, decode_s = 0, hash_s = 0, fast_decode_s = 0;
};

struct Distances {
  double mean_jpeg = 0, mean_all = 0;
  int max_jpeg = 0, max_all = 0;
};

Distances Compare(const std::vector<Row>& rows,
                  const std::vector<Hash256>& full,
                  const std::vector<Hash256>& fast) {
  Distances d;
  int n_jpeg = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const int dist = HammingDistance(full[i], fast[i]);
    d.mean_all += dist;
    d.max_all = std::max(d.max_all, dist);
    if (rows[i].is_jpeg()) {
      ++n_jpeg;
      d.mean_jpeg += dist;
      d.max_jpeg = std::max(d.max_jpeg, dist);
    }
  }
  d.mean_all /= rows.size();
  if (n_jpeg > 0) d.mean_jpeg /= n_jpeg;
  return d;
}

const char* Verdict(bool pass) { return pass ? "PASS" : "FAIL"; }

int Main(int argc, char** argv) {
  std::string tsv = HASHMATCH_DEFAULT_TSV;
  bool run_baseline = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--no-baseline") {
      run_baseline = false;
    } else if (!arg.empty() && arg[0] == '-') {
      std::fprintf(stderr, "usage: %s [tsv] [--no-baseline]\n", argv[0]);
      return 2;
    } else {
      tsv = arg;
    }
  }
  std::vector<Row> rows;
  if (!LoadRows(tsv, &rows)) return 1;
  const size_t n = rows.size();
  int n_jpeg = 0;
  for (const Row& r : rows) n_jpeg += r.is_jpeg();

  // Passes 1 and 2: one image at a time, golden check and split timings.
  PdqHasher optimized;
  BaselinePdq baseline;
  ImageHasher cli;
  std::vector<Hash256> full(n);
  double decode_s = 0, hash_s = 0, baseline_s = 0, cli_hash_s = 0;
  double megapixels = 0, max_mp = 0;
  std::map<std::string, FormatStats> by_format;
  int full_checked = 0, full_ok = 0, cli_ok = 0, baseline_ok = 0;
  for (size_t i = 0; i < n; ++i) {
    const Row& r = rows[i];
    Clock::time_point t = Clock::now();
    absl::StatusOr<DecodedImage> d = DecodeImage(r.bytes, DecodeOptions());
    const double one_decode_s = SecondsSince(t);
    decode_s += one_decode_s;
    if (!d.ok()) {
      std::printf("decode failed: %s: %s\n", r.path.c_str(),
                  d.status().ToString().c_str());
      continue;
    }
    const ImageView v = d->view();
    const double mp = v.width * static_cast<double>(v.height) * 1e-6;
    megapixels += mp;
    max_mp = std::max(max_mp, mp);
    t = Clock::now();
    const PdqHash h = optimized.Hash(v);
    const double one_hash_s = SecondsSince(t);
    hash_s += one_hash_s;
    FormatStats& fs = by_format[r.format];
    ++fs.count;
    fs.megapixels += mp;
    fs.decode_s += one_decode_s;
    fs.hash_s += one_hash_s;
    full[i] = h.hash;
    if (!r.pdq_full.empty()) {
      ++full_checked;
      if (h.hash.ToHex() == r.pdq_full && h.quality == r.quality_full) {
        ++full_ok;
      } else {
        std::printf("GOLDEN MISMATCH pdq: %s: %s q%d, reference %s q%d\n",
                    r.path.c_str(), h.hash.ToHex().c_str(), h.quality,
                    r.pdq_full.c_str(), r.quality_full);
      }
    }
    t = Clock::now();
    const PdqDihedralHashes c = cli.HashPdq(v, Algorithm::kPdqCli512, false);
    cli_hash_s += SecondsSince(t);
    if (c.hashes[0].ToHex() == r.pdq_cli512 && c.quality == r.quality_cli512) {
      ++cli_ok;
    } else {
      std::printf("GOLDEN MISMATCH pdq-cli512: %s: %s q%d, reference %s q%d\n",
                  r.path.c_str(), c.hashes[0].ToHex().c_str(), c.quality,
                  r.pdq_cli512.c_str(), r.quality_cli512);
    }
    if (run_baseline) {
      t = Clock::now();
      const PdqHash b = baseline.Hash(v);
      baseline_s += SecondsSince(t);
      if (b.hash == h.hash && b.quality == h.quality) {
        ++baseline_ok;
      } else {
        std::printf("BASELINE MISMATCH: %s\n", r.path.c_str());
      }
    }
  }
  const double mean_mp = megapixels / n;
  std::printf("\nset: %zu images (%d JPEG), mean %.2f MP, max %.2f MP\n", n,
              n_jpeg, mean_mp, max_mp);
  std::printf("golden: pdq %d/%d, pdq-cli512 %d/%zu", full_ok, full_checked,
              cli_ok, n);
  if (run_baseline)
    std::printf(", baseline == optimized %d/%zu", baseline_ok, n);
  std::printf("\n");

  std::printf("\nper image, one thread, one image at a time (mean ms)\n");
  std::printf("  decode (full size)           %8.1f\n", decode_s * 1e3 / n);
  std::printf("  pdq hash, optimized          %8.1f\n", hash_s * 1e3 / n);
  if (run_baseline) {
    std::printf("  pdq hash, baseline           %8.1f\n", baseline_s * 1e3 / n);
    std::printf("  speedup optimized/baseline   %8.2fx\n", baseline_s / hash_s);
  }
  std::printf("  cli512 squash + hash         %8.1f\n", cli_hash_s * 1e3 / n);
  std::printf("\nby format (mean per image; fast decode at min side %d)\n",
              kDefaultFastMinSide);
  std::printf("  %-6s %6s %8s %10s %14s %8s\n", "format", "images", "MP",
              "decode ms", "fast decode ms", "pdq ms");
  DecodeOptions fast_options;
  fast_options.reduce_min_side = kDefaultFastMinSide;
  for (const Row& r : rows) {
    const Clock::time_point t = Clock::now();
    absl::StatusOr<DecodedImage> d = DecodeImage(r.bytes, fast_options);
    by_format[r.format].fast_decode_s += SecondsSince(t);
  }
  for (const auto& [format, fs] : by_format) {
    std::printf("  %-6s %6d %8.2f %10.1f %14.1f %8.1f\n", format.c_str(),
                fs.count, fs.megapixels / fs.count,
                fs.decode_s * 1e3 / fs.count, fs.fast_decode_s * 1e3 / fs.count,
                fs.hash_s * 1e3 / fs.count);
  }

  // Pass 3: decode + hash throughput.
  std::printf("\ndecode + hash over the set (images/s, wall clock)\n");
  std::printf("  %-22s %10s %10s\n", "mode", "1 thread", "2 threads");
  double cli_1t = 0, fast_default_1t = 0;
  Distances fast_default_d;
  const Algorithm modes[] = {Algorithm::kPdq, Algorithm::kPdqCli512,
                             Algorithm::kPdqFast};
  for (Algorithm mode : modes) {
    double ips[2];
    for (int threads = 1; threads <= 2; ++threads) {
      ModeRun run = HashSet(rows, mode, threads, kDefaultFastMinSide);
      ips[threads - 1] = n / run.seconds;
      if (run.errors > 0) std::printf("  (%d errors)\n", run.errors);
      if (threads == 1 && mode == Algorithm::kPdqFast) {
        fast_default_d = Compare(rows, full, run.hashes);
      }
    }
    std::string label(AlgorithmName(mode));
    if (mode == Algorithm::kPdqFast) {
      label += " (min side " + std::to_string(kDefaultFastMinSide) + ")";
    }
    std::printf("  %-22s %10.1f %10.1f\n", label.c_str(), ips[0], ips[1]);
    if (mode == Algorithm::kPdqCli512) cli_1t = ips[0];
    if (mode == Algorithm::kPdqFast) fast_default_1t = ips[0];
  }

  std::vector<Row> jpeg_rows;
  for (const Row& r : rows) {
    if (r.is_jpeg()) jpeg_rows.push_back(r);
  }
  double fast_jpeg_1t = 0, pdq_jpeg_1t = 0;
  if (!jpeg_rows.empty()) {
    pdq_jpeg_1t =
        jpeg_rows.size() /
        HashSet(jpeg_rows, Algorithm::kPdq, 1, kDefaultFastMinSide).seconds;
    fast_jpeg_1t =
        jpeg_rows.size() /
        HashSet(jpeg_rows, Algorithm::kPdqFast, 1, kDefaultFastMinSide).seconds;
    std::printf("  JPEG rows only, 1 thread: pdq %.1f, pdq-fast %.1f\n",
                pdq_jpeg_1t, fast_jpeg_1t);
  }

  // Pass 4: the fast path's minimum side.
  std::printf(
      "\npdq-fast by fast_min_side: images/s (decode + hash), fast decode "
      "alone, distance to full-resolution pdq\n");
  std::printf("  %8s %9s %9s %10s %10s %8s %9s %9s %9s %8s\n", "min_side",
              "img/s 1T", "img/s 2T", "decode ms", "JPEG dec", "mean MP",
              "mean JPEG", "max JPEG", "mean all", "max all");
  for (int side : {128, 256, 384, 512}) {
    ModeRun one = HashSet(rows, Algorithm::kPdqFast, 1, side);
    ModeRun two = HashSet(rows, Algorithm::kPdqFast, 2, side);
    DecodeOptions options;
    options.reduce_min_side = side;
    double fast_decode_s = 0, fast_mp = 0, jpeg_decode_s = 0;
    for (const Row& r : rows) {
      const Clock::time_point t = Clock::now();
      absl::StatusOr<DecodedImage> d = DecodeImage(r.bytes, options);
      const double s = SecondsSince(t);
      fast_decode_s += s;
      if (r.is_jpeg()) jpeg_decode_s += s;
      if (d.ok()) fast_mp += d->pixels.total() * 1e-6;
    }
    const Distances d = Compare(rows, full, one.hashes);
    std::printf("  %8d %9.1f %9.1f %10.1f %10.1f %8.2f %9.2f %9d %9.2f %8d\n",
                side, n / one.seconds, n / two.seconds, fast_decode_s * 1e3 / n,
                jpeg_decode_s * 1e3 / std::max(n_jpeg, 1), fast_mp / n,
                d.mean_jpeg, d.max_jpeg, d.mean_all, d.max_all);
  }

  // Pass 5: targets.
  const double hash_ms = hash_s * 1e3 / n;
  std::printf("\ntargets\n");
  if (run_baseline) {
    std::printf("  %s full-res pdq hash only >= 2x baseline: %.2fx\n",
                Verdict(baseline_s / hash_s >= 2.0), baseline_s / hash_s);
  }
  std::printf(
      "  %s full-res pdq hash only <= 100 ms at mean %.2f MP: %.1f ms\n",
      Verdict(hash_ms <= 100.0), mean_mp, hash_ms);
  std::printf("  %s pdq-cli512 with decode >= 20 images/s (1 thread): %.1f\n",
              Verdict(cli_1t >= 20.0), cli_1t);
  std::printf("  %s pdq-fast (min side %d) >= 50 images/s (1 thread): %.1f\n",
              Verdict(fast_default_1t >= 50.0), kDefaultFastMinSide,
              fast_default_1t);
  std::printf(
      "  %s pdq-fast (min side %d) mean distance to pdq < 6 bits (JPEG rows): "
      "%.2f JPEG, "
      "%.2f all\n",
      Verdict(fast_default_d.mean_jpeg < 6.0), kDefaultFastMinSide,
      fast_default_d.mean_jpeg, fast_default_d.mean_all);
  const bool golden = full_ok == full_checked && cli_ok == static_cast<int>(n);
  return golden ? 0 : 1;
}

}  // namespace
}  // namespace bench
}  // namespace hashmatch

int main(int argc, char** argv) { return hashmatch::bench::Main(argc, argv); }
