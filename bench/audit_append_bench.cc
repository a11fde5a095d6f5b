// AuditLog::Append throughput against the raw cost of a durable append.
//
//   build/bench/audit_append_bench [--seconds 2] [--dir /tmp] [--threads 4]
//
// For each batch size (1, 10, 100, 1000 events per Append call), runs for
// `seconds` each, alternating call by call because the machine and its disk
// are shared (fdatasync latency here varies 10x from minute to minute):
//   raw    the baseline: pwrite of the same number of bytes the log writes
//          per call (about 190 bytes per record) + fdatasync, on a plain file;
//   audit  AuditLog::Append (SHA-256 of each state, the canonical encoding
//          and record hash, a checkpoint signed with Ed25519 every 64
//          records, one write, fdatasync).
// Then Append with sync off (CPU cost only), and `threads` threads appending
// one event per call at once (calls are serialized: one fsync each),
// against RawRate run just before.
// Prints records/s for each and the audit/raw ratio. Last, the records/s of
// AuditLog::Open (reads and verifies every record) on a 200k-record log.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/audit/audit_log.h"

namespace hashmatch {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

ingest::AuditEvent MakeEvent(uint64_t n) {
  ingest::AuditEvent e;
  e.actor = "hotline-a";
  e.action = "submit";
  e.target = absl::StrCat("entry:", n);
  // About the size of a serialized PDQ entry.
  e.state_after = std::string(150, static_cast<char>(n));
  e.store_sequence = n;
  return e;
}

std::unique_ptr<audit::AuditLog> OpenLog(const std::string& dir, bool sync,
                                         const audit::SigningKey& key) {
  std::filesystem::remove_all(dir);
  audit::AuditLogOptions o;
  o.signing_key = key;
  o.sync = sync;
  auto log = audit::AuditLog::Open(o, dir);
  if (!log.ok()) {
    std::fprintf(stderr, "open %s: %s\n", dir.c_str(),
                 std::string(log.status().message()).c_str());
    std::exit(1);
  }
  return std::move(*log);
}

// Records/s of AuditLog::Append with `batch` events per call, without
// fsync (sync = false), or, with `raw_rate` set, with fsync alternating call
// by call with the raw baseline (pwrite of the same bytes + fdatasync on a
// plain file), so both see the same disk weather; *raw_rate gets the
// baseline's records/s.
double AuditRate(const std::string& dir, size_t batch, bool sync,
                 double seconds, uint64_t* bytes_per_record,
                 double* raw_rate = nullptr) {
  std::unique_ptr<audit::AuditLog> log =
      OpenLog(dir, sync, *audit::SigningKey::Generate());
  std::vector<ingest::AuditEvent> events;
  for (size_t i = 0; i < batch; ++i) events.push_back(MakeEvent(i + 1));
  int fd = -1;
  std::string chunk;
  if (raw_rate != nullptr) {
    fd = ::open((dir + "/raw").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) std::exit(1);
    chunk.assign(batch * *bytes_per_record, 'x');
  }
  uint64_t records = 0, raw_offset = 0;
  double audit_seconds = 0, raw_seconds = 0;
  const Clock::time_point start = Clock::now();
  while (Seconds(start) < seconds) {
    Clock::time_point t = Clock::now();
    if (!log->Append(events).ok()) std::exit(1);
    audit_seconds += Seconds(t);
    records += batch;
    if (fd >= 0) {
      t = Clock::now();
      if (::pwrite(fd, chunk.data(), chunk.size(), raw_offset) !=
              static_cast<ssize_t>(chunk.size()) ||
          ::fdatasync(fd) != 0) {
        std::exit(1);
      }
      raw_seconds += Seconds(t);
      raw_offset += chunk.size();
    }
  }
  if (fd >= 0) {
    ::close(fd);
    *raw_rate = records / raw_seconds;
  }
  log.reset();
  if (bytes_per_record != nullptr && raw_rate == nullptr) {
    *bytes_per_record = std::filesystem::file_size(dir + "/audit.log") /
                        std::max<uint64_t>(1, records);
  }
  return records / audit_seconds;
}

// Records/s of writing `batch` * bytes_per_record bytes + fdatasync per call.
double RawRate(const std::string& dir, size_t batch, uint64_t bytes_per_record,
               double seconds) {
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/raw";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) std::exit(1);
  const std::string chunk(batch * bytes_per_record, 'x');
  uint64_t records = 0, offset = 0;
  const Clock::time_point start = Clock::now();
  while (Seconds(start) < seconds) {
    if (::pwrite(fd, chunk.data(), chunk.size(), offset) !=
            static_cast<ssize_t>(chunk.size()) ||
        ::fdatasync(fd) != 0) {
      std::exit(1);
    }
    offset += chunk.size();
    records += batch;
  }
  const double rate = records / Seconds(start);
  ::close(fd);
  return rate;
}

int Main(int argc, char** argv) {
  double seconds = 2;
  int threads = 4;
  std::string base = "/tmp";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--seconds") {
      (void)absl::SimpleAtod(argv[i + 1], &seconds);
    } else if (flag == "--threads") {
      (void)absl::SimpleAtoi(argv[i + 1], &threads);
    } else if (flag == "--dir") {
      base = argv[i + 1];
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  const std::string dir = absl::StrCat(base, "/audit_append_bench_", getpid());
  uint64_t bytes_per_record = 0;
  AuditRate(dir, 100, false, 0.2, &bytes_per_record);  // warm-up + size
  std::printf("bytes per record (incl. checkpoints): %llu\n",
              static_cast<unsigned long long>(bytes_per_record));
  std::printf("%-28s %12s %12s %8s\n", "config", "raw rec/s", "audit rec/s",
              "ratio");
  for (size_t batch : {1, 10, 100, 1000}) {
    double raw = 0;
    const double audited =
        AuditRate(dir, batch, true, seconds, &bytes_per_record, &raw);
    std::printf("%-28s %12.0f %12.0f %8.2f\n",
                absl::StrCat("fsync, batch ", batch).c_str(), raw, audited,
                audited / raw);
  }
  const double nosync = AuditRate(dir, 1, false, seconds, nullptr);
  std::printf("%-28s %12s %12.0f %8s\n", "no fsync, batch 1 (CPU)", "-", nosync,
              "-");
  {
    const double raw = RawRate(dir, 1, bytes_per_record, seconds);
    std::unique_ptr<audit::AuditLog> log =
        OpenLog(dir, true, *audit::SigningKey::Generate());
    std::atomic<uint64_t> records{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> workers;
    const Clock::time_point start = Clock::now();
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        const ingest::AuditEvent e = MakeEvent(t + 1);
        while (!stop.load()) {
          if (!log->Append({e}).ok()) std::exit(1);
          records.fetch_add(1);
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop.store(true);
    for (std::thread& w : workers) w.join();
    const double rate = records.load() / Seconds(start);
    std::printf("%-28s %12.0f %12.0f %8.2f\n",
                absl::StrCat("fsync, batch 1, ", threads, " threads").c_str(),
                raw, rate, rate / raw);
  }
  {
    // Open (which verifies every record and its checkpoints' signatures) and
    // offline verification of a 200k-record log.
    const audit::SigningKey key = *audit::SigningKey::Generate();
    std::unique_ptr<audit::AuditLog> log = OpenLog(dir, false, key);
    std::vector<ingest::AuditEvent> events;
    for (size_t i = 0; i < 1000; ++i) events.push_back(MakeEvent(i + 1));
    for (int i = 0; i < 200; ++i) {
      if (!log->Append(events).ok()) std::exit(1);
    }
    const uint64_t records = log->last_index();
    audit::AuditLogOptions o;
    o.signing_key = key;
    log.reset();
    Clock::time_point start = Clock::now();
    if (!audit::AuditLog::Open(o, dir).ok()) std::exit(1);
    const double open_rate = records / Seconds(start);
    start = Clock::now();
    audit::ChainVerifierOptions verify;
    verify.public_keys = {key.public_key()};
    absl::StatusOr<audit::VerifyLogResult> verified =
        audit::VerifyAuditLogDir(dir, verify);
    if (!verified.ok() || verified->checkpoints_verified == 0 ||
        verified->error.failure != audit::VerifyFailure::kNone) {
      std::exit(1);
    }
    const double verify_rate = records / Seconds(start);
    std::printf("%-28s %12s %12.0f %8s\n",
                absl::StrCat("Open, ", records, " records").c_str(), "-",
                open_rate, "-");
    std::printf("%-28s %12s %12.0f %8s\n", "offline verify", "-", verify_rate,
                "-");
  }
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace hashmatch

int main(int argc, char** argv) { return hashmatch::Main(argc, argv); }
