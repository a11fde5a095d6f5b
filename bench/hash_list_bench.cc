// Parse and write speed of the hash list formats (src/hashlist), rows/s for
// N PDQ rows (default 1,000,000) held in memory, against an in-run baseline:
// a loop that only splits the CSV into lines and hex-decodes the 64-digit
// hash of each (the least any CSV reader must do). Each timing is the best
// of --reps runs (default 3); the machine is shared, so read the ratios.
//
//   hash_list_bench [--rows N] [--reps R]
//
// Exits 1 if a parse reports an error or a wrong count.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "src/hashlist/hash_list_format.h"

namespace {

namespace v1 = ::hashmatch::v1;
using hashmatch::HashListFormat;

double BestSeconds(int reps, const std::function<void()>& fn) {
  double best = 1e30;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const std::chrono::duration<double> d =
        std::chrono::steady_clock::now() - t0;
    best = std::min(best, d.count());
  }
  return best;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// Lines and the hex of field 2 (after the first comma), nothing else.
int64_t BaselineScan(const std::string& csv, uint64_t* checksum) {
  int64_t rows = 0;
  size_t pos = csv.find('\n') + 1;  // Skip the header.
  uint8_t bytes[32];
  while (pos < csv.size()) {
    size_t nl = csv.find('\n', pos);
    if (nl == std::string::npos) nl = csv.size();
    const size_t comma = csv.find(',', pos);
    const char* hex = csv.data() + comma + 1;
    for (int i = 0; i < 32; ++i) {
      bytes[i] = static_cast<uint8_t>((HexValue(hex[2 * i]) << 4) |
                                      HexValue(hex[2 * i + 1]));
    }
    *checksum += bytes[0] + bytes[31];
    ++rows;
    pos = nl + 1;
  }
  return rows;
}

long PeakRssKb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t rows = 1'000'000;
  int reps = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--rows") == 0) rows = std::atoll(argv[i + 1]);
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::atoi(argv[i + 1]);
  }
  std::mt19937_64 rng(42);
  std::vector<v1::Entry> entries(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    v1::Entry& e = entries[static_cast<size_t>(i)];
    std::string hash(32, '\0');
    for (int w = 0; w < 4; ++w) {
      const uint64_t r = rng();
      std::memcpy(hash.data() + 8 * w, &r, 8);
    }
    e.set_id(static_cast<uint64_t>(i + 1));
    e.set_signal_type(v1::SIGNAL_TYPE_PDQ);
    e.set_hash(hash);
    e.set_quality(static_cast<int32_t>(50 + i % 51));
    e.set_source_agency("hotline-a");
    e.set_external_id(absl::StrCat("case-", i));
    e.set_classification("A1");
    e.set_state(v1::VETTING_STATE_ACTIVE);
    e.set_created_at_micros(1764300000000000 + i);
    e.set_updated_at_micros(1764300000000000 + i);
  }
  std::printf("rows %lld, best of %d runs\n", static_cast<long long>(rows),
              reps);

  const HashListFormat formats[] = {
      HashListFormat::kCsv, HashListFormat::kJsonl, HashListFormat::kHashmatch};
  std::string files[3];
  double write_s[3];
  for (int f = 0; f < 3; ++f) {
    write_s[f] = BestSeconds(reps, [&] {
      std::ostringstream out;
      auto w = hashmatch::HashListWriter::New(formats[f], &out);
      for (const v1::Entry& e : entries) {
        if (!w->Write(e).ok()) std::exit(1);
      }
      if (!w->Finish().ok()) std::exit(1);
      files[f] = out.str();
    });
  }
  entries.clear();
  entries.shrink_to_fit();

  uint64_t checksum = 0;
  int64_t scanned = 0;
  const double base_s =
      BestSeconds(reps, [&] { scanned = BaselineScan(files[0], &checksum); });
  if (scanned != rows) return 1;
  std::printf("%-28s %8.3f s %12.0f rows/s  (checksum %llu)\n",
              "baseline (lines + hex)", base_s, rows / base_s,
              static_cast<unsigned long long>(checksum % 1000));
  for (int f = 0; f < 3; ++f) {
    // Timed without freeing the previous result.
    hashmatch::ParseResult result;
    double s = 1e30;
    for (int r = 0; r < reps; ++r) {
      result = hashmatch::ParseResult();
      const auto t0 = std::chrono::steady_clock::now();
      hashmatch::ParseResult fresh =
          hashmatch::ParseHashList(files[f], formats[f], {});
      const std::chrono::duration<double> d =
          std::chrono::steady_clock::now() - t0;
      s = std::min(s, d.count());
      result = std::move(fresh);
    }
    if (result.total_errors != 0 ||
        static_cast<int64_t>(result.entries.size()) != rows) {
      std::fprintf(
          stderr, "parse %s: %lld errors, %zu entries\n",
          std::string(hashmatch::HashListFormatName(formats[f])).c_str(),
          static_cast<long long>(result.total_errors), result.entries.size());
      return 1;
    }
    const std::string name =
        absl::StrCat("parse ", hashmatch::HashListFormatName(formats[f]));
    std::printf("%-28s %8.3f s %12.0f rows/s  %.1fx baseline  %6.1f MB file\n",
                name.c_str(), s, rows / s, s / base_s, files[f].size() / 1e6);
  }
  for (int f = 0; f < 3; ++f) {
    const std::string name =
        absl::StrCat("write ", hashmatch::HashListFormatName(formats[f]));
    std::printf("%-28s %8.3f s %12.0f rows/s\n", name.c_str(), write_s[f],
                rows / write_s[f]);
  }
  std::printf("peak RSS %.0f MB\n", PeakRssKb() / 1024.0);
  return 0;
}
