// Cold open of the vetted index at scale: VettedIndex::Open from a HashStore
// of N ACTIVE PDQ entries, and from its index snapshot files.
//
//   cold_open_bench --dir=/var/tmp/hm_cold_10m [--n=10000000] [--seed=1]
//                   [--mode=all|store|snapshot] [--drop_cache=true]
//
// The first run creates the store in --dir (N entries of uniformly random
// 256-bit codes, all ACTIVE, no external ids; batches of
// 10000, sync off) and writes <dir>/BENCH_N when done; later runs reuse it
// (a --dir without BENCH_N, or with another N, is refused). Snapshots go to
// <dir>/snapshot. Modes: `store` opens from the store and saves the
// snapshot; `snapshot` opens from the snapshot (refusing a fallback); `all`
// does both in one process (peak RSS reset in between via
// /proc/self/clear_refs). With --drop_cache the store's and the snapshot's
// files are dropped from the page cache first (posix_fadvise DONTNEED on each
// file; other files are untouched), so reads come from the disk.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "index/store/hash_store.h"
#include "index/vetted/vetted_index.h"

namespace hashmatch {
namespace {

struct Flags {
  std::string dir;
  uint64_t n = 10'000'000;
  uint64_t seed = 1;
  std::string mode = "all";
  bool drop_cache = true;
};

bool ParseFlags(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](absl::string_view name) -> const char* {
      const std::string prefix = absl::StrCat("--", name, "=");
      return absl::StartsWith(a, prefix) ? argv[i] + prefix.size() : nullptr;
    };
    if (const char* v = value("dir")) {
      f->dir = v;
    } else if (const char* v = value("n")) {
      if (!absl::SimpleAtoi(v, &f->n) || f->n == 0) return false;
    } else if (const char* v = value("seed")) {
      if (!absl::SimpleAtoi(v, &f->seed)) return false;
    } else if (const char* v = value("mode")) {
      f->mode = v;
      if (f->mode != "all" && f->mode != "store" && f->mode != "snapshot") {
        return false;
      }
    } else if (const char* v = value("drop_cache")) {
      if (!absl::SimpleAtob(v, &f->drop_cache)) return false;
    } else {
      return false;
    }
  }
  return !f->dir.empty();
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since)
      .count();
}

// VmRSS and VmHWM (peak) of this process, in MiB.
std::pair<double, double> RssMiB() {
  std::ifstream in("/proc/self/status");
  std::string line;
  double rss = 0, hwm = 0;
  while (std::getline(in, line)) {
    unsigned long long kb = 0;
    if (std::sscanf(line.c_str(), "VmRSS: %llu kB", &kb) == 1)
      rss = kb / 1024.0;
    if (std::sscanf(line.c_str(), "VmHWM: %llu kB", &kb) == 1)
      hwm = kb / 1024.0;
  }
  return {rss, hwm};
}

// User + system CPU seconds of this process (all threads).
double CpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + u.ru_stime.tv_sec +
         u.ru_stime.tv_usec / 1e6;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string one;
  in >> one;
  return one;
}

void ResetPeakRss() {
  std::ofstream out("/proc/self/clear_refs");
  out << "5";
}

void DropCache(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    int fd = ::open(e.path().c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    ::fdatasync(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    ::close(fd);
  }
}

int CreateStore(const Flags& f) {
  std::cout << "creating a store of " << f.n << " random ACTIVE PDQ entries in "
            << f.dir << "\n";
  StoreOptions options;
  options.sync = false;
  auto store = HashStore::Open(options, f.dir);
  if (!store.ok()) {
    std::cerr << store.status() << "\n";
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  std::mt19937_64 rng(f.seed);
  std::vector<hashmatch::v1::Entry> batch;
  for (uint64_t done = 0; done < f.n;) {
    batch.clear();
    const uint64_t m =
        std::min<uint64_t>(options.max_batch_entries, f.n - done);
    for (uint64_t i = 0; i < m; ++i) {
      hashmatch::v1::Entry e;
      e.set_signal_type(hashmatch::v1::SIGNAL_TYPE_PDQ);
      std::string hash(32, '\0');
      for (int w = 0; w < 4; ++w) {
        const uint64_t v = rng();
        std::memcpy(&hash[w * 8], &v, 8);
      }
      e.set_hash(std::move(hash));
      e.set_quality(100);
      e.set_source_agency("bench");
      e.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
      batch.push_back(std::move(e));
    }
    auto stored = (*store)->Put(batch);
    if (!stored.ok()) {
      std::cerr << stored.status() << "\n";
      return 1;
    }
    done += m;
    if (done % 1'000'000 == 0) {
      std::cout << "  " << done << " entries, " << Seconds(start) << " s\n"
                << std::flush;
    }
  }
  store->reset();  // Flushes the memtables.
  std::ofstream(f.dir + "/BENCH_N") << f.n << "\n";
  std::cout << "created in " << Seconds(start) << " s\n";
  return 0;
}

int OpenOnce(const Flags& f, bool from_snapshot) {
  if (f.drop_cache) DropCache(f.dir);
  ResetPeakRss();
  const double rss0 = RssMiB().first;
  const std::string load = LoadAverage();
  const double cpu0 = CpuSeconds();
  const auto start = std::chrono::steady_clock::now();
  StoreOptions options;
  options.create_if_missing = false;
  options.sync = false;
  auto store = HashStore::Open(options, f.dir);
  if (!store.ok()) {
    std::cerr << store.status() << "\n";
    return 1;
  }
  const double store_open = Seconds(start);
  VettedIndexOptions vopts;
  vopts.snapshot_dir = f.dir + "/snapshot";
  if (!from_snapshot) {
    std::error_code ec;
    std::filesystem::remove_all(vopts.snapshot_dir, ec);
  }
  const auto index_start = std::chrono::steady_clock::now();
  auto index = VettedIndex::Open(store->get(), vopts);
  if (!index.ok()) {
    std::cerr << index.status() << "\n";
    return 1;
  }
  const double index_open = Seconds(index_start);
  const double total = Seconds(start);
  const double cpu = CpuSeconds() - cpu0;
  const auto [rss1, hwm1] = RssMiB();
  const SignalOpenInfo& pdq = (*index)->open_info()[0];
  if (from_snapshot && !pdq.from_snapshot) {
    std::cerr << "snapshot not used: " << pdq.snapshot_status << "\n";
    return 1;
  }
  std::printf(
      "open from %-8s: %llu PDQ entries, HashStore::Open %.2f s, "
      "VettedIndex::Open %.2f s, total %.2f s (CPU %.2f s, load avg %s); "
      "RSS %.0f -> %.0f MiB (peak %.0f MiB)\n",
      from_snapshot ? "snapshot" : "store",
      static_cast<unsigned long long>(
          (*index)->size(hashmatch::v1::SIGNAL_TYPE_PDQ)),
      store_open, index_open, total, cpu, load.c_str(), rss0, rss1, hwm1);
  std::fflush(stdout);
  if (!from_snapshot) {
    const auto save_start = std::chrono::steady_clock::now();
    absl::Status saved = (*index)->SaveSnapshot();
    if (!saved.ok()) {
      std::cerr << saved << "\n";
      return 1;
    }
    const std::string path = VettedIndex::SnapshotPath(
        vopts.snapshot_dir, hashmatch::v1::SIGNAL_TYPE_PDQ);
    std::printf("SaveSnapshot %.2f s, %s %.0f MiB\n", Seconds(save_start),
                path.c_str(), std::filesystem::file_size(path) / 1048576.0);
  }
  return 0;
}

int Main(int argc, char** argv) {
  Flags f;
  if (!ParseFlags(argc, argv, &f)) {
    std::cerr << "usage: cold_open_bench --dir=DIR [--n=10000000] [--seed=1] "
                 "[--mode=all|store|snapshot] [--drop_cache=true|false]\n";
    return 2;
  }
  if (!std::filesystem::exists(f.dir)) {
    if (int rc = CreateStore(f); rc != 0) return rc;
  } else {
    uint64_t have = 0;
    std::ifstream in(f.dir + "/BENCH_N");
    if (!(in >> have) || have != f.n) {
      std::cerr << f.dir << " exists but is not a finished store of " << f.n
                << " entries (BENCH_N); remove it or pick another --dir\n";
      return 1;
    }
    std::cout << "reusing the store of " << f.n << " entries in " << f.dir
              << "\n";
  }
  if (f.mode == "all" || f.mode == "store") {
    if (int rc = OpenOnce(f, false); rc != 0) return rc;
  }
  if (f.mode == "all" || f.mode == "snapshot") {
    if (int rc = OpenOnce(f, true); rc != 0) return rc;
  }
  return 0;
}

}  // namespace
}  // namespace hashmatch

int main(int argc, char** argv) { return hashmatch::Main(argc, argv); }
