// What IngestCore::Submit costs on top of the store write it makes.
//
//   build/bench/ingest_core_bench [--requests 200] [--sync 1] [--dir /tmp]
//
// For each batch size (1, 10, 100, 1000 hashes per request), writes
// `requests` requests of fresh PDQ hashes into a fresh store twice: with
// HashStore::Put directly (the baseline: one WriteBatch per request) and
// with IngestCore::Submit (validation, external-id and same-hash lookups,
// endorsement, the Put, one audit event per entry into a sink that keeps
// nothing). Prints entries per second for both and their ratio; the
// baseline runs in the same process, interleaved, because the machine is
// shared.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "index/store/hash_store.h"
#include "src/ingest/ingest_core.h"

namespace hashmatch {
namespace {

class NullSink : public ingest::AuditSink {
 public:
  absl::Status Append(absl::Span<const ingest::AuditEvent> events) override {
    count += events.size();
    return absl::OkStatus();
  }
  size_t count = 0;
};

std::string Hash(uint64_t n) {
  std::string h(32, '\0');
  uint64_t x = n * 0x9e3779b97f4a7c15ull + 1;
  for (char& c : h) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x & 0xff);
  }
  return h;
}

std::unique_ptr<HashStore> OpenStore(const std::string& path, bool sync) {
  std::filesystem::remove_all(path);
  StoreOptions o;
  o.sync = sync;
  auto s = HashStore::Open(o, path);
  if (!s.ok()) {
    std::fprintf(stderr, "open %s: %s\n", path.c_str(),
                 std::string(s.status().message()).c_str());
    std::exit(1);
  }
  return *std::move(s);
}

double Seconds(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
      .count();
}

double RunStore(const std::string& path, bool sync, int requests, int batch) {
  auto store = OpenStore(path, sync);
  const auto start = std::chrono::steady_clock::now();
  uint64_t n = 0;
  for (int r = 0; r < requests; ++r) {
    std::vector<v1::Entry> entries(static_cast<size_t>(batch));
    for (v1::Entry& e : entries) {
      e.set_signal_type(v1::SIGNAL_TYPE_PDQ);
      e.set_hash(Hash(n));
      e.set_source_agency("hotline-a");
      e.set_external_id(absl::StrCat("x", n++));
      e.set_state(v1::VETTING_STATE_ACTIVE);
    }
    if (!store->Put(entries).ok()) std::exit(1);
  }
  return static_cast<double>(n) / Seconds(start);
}

double RunCore(const std::string& path, bool sync, int requests, int batch) {
  auto store = OpenStore(path, sync);
  NullSink sink;
  ingest::IngestCore core(ingest::IngestOptions(), store.get(), &sink);
  v1::Principal agency;
  agency.set_name("hotline-a");
  agency.add_roles(v1::ROLE_AGENCY);
  const auto start = std::chrono::steady_clock::now();
  uint64_t n = 0;
  for (int r = 0; r < requests; ++r) {
    v1::SubmitRequest req;
    for (int i = 0; i < batch; ++i) {
      v1::Submission* s = req.add_submissions();
      s->mutable_hash()->set_signal_type(v1::SIGNAL_TYPE_PDQ);
      s->mutable_hash()->set_raw(Hash(n));
      s->set_external_id(absl::StrCat("x", n++));
    }
    auto resp = core.Submit(agency, req);
    if (!resp.ok()) {
      std::fprintf(stderr, "submit: %s\n",
                   std::string(resp.status().message()).c_str());
      std::exit(1);
    }
  }
  return static_cast<double>(n) / Seconds(start);
}

int Main(int argc, char** argv) {
  int requests = 200;
  bool sync = true;
  std::string dir = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    int v = 0;
    if (flag == "--requests" && absl::SimpleAtoi(argv[i + 1], &v)) {
      requests = v;
    } else if (flag == "--sync" && absl::SimpleAtoi(argv[i + 1], &v)) {
      sync = v != 0;
    } else if (flag == "--dir") {
      dir = argv[i + 1];
    } else {
      std::fprintf(stderr,
                   "usage: ingest_core_bench [--requests N] [--sync 0|1] "
                   "[--dir DIR]\n");
      return 2;
    }
  }
  const std::string path = absl::StrCat(dir, "/ingest_core_bench_", getpid());
  std::printf("requests=%d sync=%d\n", requests, sync ? 1 : 0);
  std::printf("%6s %14s %14s %7s\n", "batch", "store entries/s",
              "core entries/s", "ratio");
  for (int batch : {1, 10, 100, 1000}) {
    const int reqs = batch >= 1000 ? std::max(1, requests / 10) : requests;
    // Interleaved: store, core, store, core; the best of each.
    double best_store = 0, best_core = 0;
    for (int round = 0; round < 2; ++round) {
      best_store = std::max(best_store, RunStore(path, sync, reqs, batch));
      best_core = std::max(best_core, RunCore(path, sync, reqs, batch));
    }
    std::printf("%6d %14.0f %14.0f %7.2f\n", batch, best_store, best_core,
                best_core / best_store);
  }
  std::filesystem::remove_all(path);
  return 0;
}

}  // namespace
}  // namespace hashmatch

int main(int argc, char** argv) { return hashmatch::Main(argc, argv); }
