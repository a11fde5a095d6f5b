// Start-time cost of the audit log: AuditLog::Open with full verification
// (every record) against incremental verification (the records after the
// checkpoint recorded in audit.state), by log size, in the same run; then the
// same for a whole ingest_server start (spawn to port file) with
// --audit_verify full and incremental.
//
//   build/bench/audit_open_bench [--records 10000,100000] [--since 1000]
//       [--reps 5] [--dir /tmp] [--ingest_server build/src/ingest/...]
//
// Each log is written as ingest_server writes it (one event per Append, a
// signed checkpoint every 64 records, ~190 bytes per record, fsync off while
// writing) and closed: audit.state names the close checkpoint. Cases:
//   clean  a restart after a clean stop (SIGTERM): audit.state is at the
//          head, the incremental open verifies that checkpoint only;
//   crash  a restart after a SIGKILL that came `since` records after the
//          previous start: the incremental open verifies those records.
// For each, Open is timed `reps` times alternating full and incremental
// (the files restored before each one, so every run sees the same bytes,
// hot in the page cache; the fsyncs of writing audit.state are included);
// the medians and their ratio are printed. The ingest_server part times
// `reps` starts of each mode on the clean log of each size (ms to the port
// file, and the "seconds" of its "audit_verified" log line).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "src/audit/audit_log.h"
#include "src/audit/ed25519_key.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace {

using Clock = std::chrono::steady_clock;
using testing_util::ReadWholeFile;
using testing_util::WriteWholeFile;

double Ms(Clock::time_point since) {
  return std::chrono::duration<double, std::milli>(Clock::now() - since)
      .count();
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "audit_open_bench: %s\n", what.c_str());
  std::exit(1);
}

ingest::AuditEvent MakeEvent(uint64_t n) {
  ingest::AuditEvent e;
  e.actor = "hotline-a";
  e.action = "submit";
  e.target = absl::StrCat("entry:", n);
  // About the size of a serialized PDQ entry.
  e.state_after = std::string(150, static_cast<char>(n));
  return e;
}

audit::AuditLogOptions Options(const audit::SigningKey& key,
                               audit::OpenVerification verification) {
  audit::AuditLogOptions o;
  o.signing_key = key;
  o.sync = false;
  o.verification = verification;
  return o;
}

std::unique_ptr<audit::AuditLog> OpenOrDie(const audit::AuditLogOptions& o,
                                           const std::string& dir) {
  absl::StatusOr<std::unique_ptr<audit::AuditLog>> log =
      audit::AuditLog::Open(o, dir);
  if (!log.ok()) Die(absl::StrCat("open ", dir, ": ", log.status().message()));
  return *std::move(log);
}

void AppendOrDie(audit::AuditLog* log, uint64_t first, uint64_t count) {
  for (uint64_t i = first; i < first + count; ++i) {
    if (!log->Append({MakeEvent(i)}).ok()) Die("append");
  }
}

// The log and state files of `dir`, to restore between runs.
struct Files {
  std::string log;
  std::string state;
};

Files Save(const std::string& dir) {
  return {ReadWholeFile(absl::StrCat(dir, "/", audit::kAuditFileName)),
          ReadWholeFile(absl::StrCat(dir, "/", audit::kAuditStateFileName))};
}

void Restore(const std::string& dir, const Files& files) {
  if (!WriteWholeFile(absl::StrCat(dir, "/", audit::kAuditFileName),
                      files.log) ||
      !WriteWholeFile(absl::StrCat(dir, "/", audit::kAuditStateFileName),
                      files.state)) {
    Die("restoring the log files");
  }
}

// Writes a closed log of about `records` records into `dir` (created).
void MakeLog(const std::string& dir, const audit::SigningKey& key,
             uint64_t records) {
  std::filesystem::remove_all(dir);
  std::unique_ptr<audit::AuditLog> log =
      OpenOrDie(Options(key, audit::OpenVerification::kFull), dir);
  // One checkpoint per 64 events: 65 records per 64 events.
  AppendOrDie(log.get(), 1, records * 64 / 65);
  if (!log->Close().ok()) Die("close");
}

struct Timing {
  double full_ms = 0;
  double incremental_ms = 0;
  uint64_t records = 0;
  uint64_t verified_incremental = 0;
};

// Times Open of the files in `dir` as they are now, `reps` times per mode.
Timing TimeOpens(const std::string& dir, const audit::SigningKey& key,
                 int reps) {
  const Files files = Save(dir);
  std::vector<double> full, incremental;
  Timing t;
  for (int i = 0; i < reps; ++i) {
    for (audit::OpenVerification v : {audit::OpenVerification::kFull,
                                      audit::OpenVerification::kIncremental}) {
      Restore(dir, files);
      const Clock::time_point start = Clock::now();
      std::unique_ptr<audit::AuditLog> log = OpenOrDie(Options(key, v), dir);
      const double ms = Ms(start);
      const audit::AuditOpenInfo& info = log->open_info();
      if (v == audit::OpenVerification::kFull) {
        full.push_back(ms);
      } else {
        if (!info.incremental) Die("the incremental open verified in full");
        incremental.push_back(ms);
        t.verified_incremental = info.records_verified;
      }
      t.records = info.records;
    }
  }
  Restore(dir, files);
  t.full_ms = Median(full);
  t.incremental_ms = Median(incremental);
  return t;
}

void PrintTiming(const char* scenario, const Timing& t) {
  std::printf("%-7s %9llu %9llu %11.1f %11.2f %8.0fx\n", scenario,
              static_cast<unsigned long long>(t.records),
              static_cast<unsigned long long>(t.verified_incremental),
              t.full_ms, t.incremental_ms, t.full_ms / t.incremental_ms);
}

// The "seconds" field of the "audit_verified" line in `log`, in ms.
double AuditVerifiedMs(const std::string& log) {
  const size_t line = log.find("\"event\":\"audit_verified\"");
  if (line == std::string::npos) return -1;
  const std::string key = "\"seconds\":";
  const size_t at = log.find(key, line);
  double seconds = -1;
  const size_t end = log.find_first_of(",}", at + key.size());
  if (at == std::string::npos ||
      !absl::SimpleAtod(log.substr(at + key.size(), end - at - key.size()),
                        &seconds)) {
    return -1;
  }
  return seconds * 1e3;
}

// Starts and stops ingest_server on a DATA whose audit log is the clean log
// in `audit_dir`, `reps` times per mode; prints ms to the port file and the
// audit verification's own ms.
void TimeIngestServer(const std::string& binary, const std::string& base,
                      const std::string& audit_dir,
                      const audit::SigningKey& key, int reps) {
  const std::string data = base + "/data";
  std::filesystem::remove_all(data);
  std::filesystem::create_directories(data + "/audit");
  std::filesystem::copy(audit_dir, data + "/audit",
                        std::filesystem::copy_options::recursive |
                            std::filesystem::copy_options::overwrite_existing);
  const std::string key_prefix = base + "/signer";
  std::filesystem::remove(key_prefix + ".key");
  std::filesystem::remove(key_prefix + ".pub");
  if (!audit::WriteKeyPair(key, key_prefix).ok()) Die("writing the key");
  std::vector<double> to_port[2], verify_ms[2];
  uint64_t records = 0;
  for (int i = 0; i < reps; ++i) {
    for (int mode = 0; mode < 2; ++mode) {
      const std::string port_file = base + "/port";
      std::filesystem::remove(port_file);
      testing_util::ServerProcess server;
      const Clock::time_point start = Clock::now();
      absl::Status s = server.Start(
          binary,
          {"--data", data, "--listen", "127.0.0.1:0", "--port_file", port_file,
           "--metrics_listen", "", "--audit_key", key_prefix + ".key",
           "--audit_verify", mode == 0 ? "full" : "incremental"},
          base);
      if (!s.ok()) Die(std::string(s.message()));
      absl::StatusOr<int> port = server.WaitForPortFile(
          port_file, std::chrono::seconds(120), std::chrono::milliseconds(1));
      if (!port.ok()) Die(std::string(port.status().message()));
      to_port[mode].push_back(Ms(start));
      if (server.Stop(SIGTERM) != 0) Die("ingest_server did not stop cleanly");
      const std::string log = server.Stderr();
      verify_ms[mode].push_back(AuditVerifiedMs(log));
      const std::string key_records = "\"records\":";
      const size_t at = log.find(key_records, log.find("audit_verified"));
      if (at != std::string::npos) {
        records =
            std::strtoull(log.c_str() + at + key_records.size(), nullptr, 10);
      }
    }
  }
  std::printf("%9llu %13.1f %13.1f %13.2f %13.2f %8.1fx\n",
              static_cast<unsigned long long>(records), Median(to_port[0]),
              Median(to_port[1]), Median(verify_ms[0]), Median(verify_ms[1]),
              Median(verify_ms[0]) / Median(verify_ms[1]));
}

int Main(int argc, char** argv) {
  std::vector<uint64_t> sizes = {10000, 100000};
  uint64_t since = 1000;
  int reps = 5;
  std::string base_dir = "/tmp";
  std::string ingest_server = HASHMATCH_INGEST_SERVER;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--records") {
      sizes.clear();
      for (absl::string_view part : absl::StrSplit(value, ',')) {
        uint64_t n = 0;
        if (!absl::SimpleAtoi(part, &n) || n < 130) Die("bad --records");
        sizes.push_back(n);
      }
    } else if (flag == "--since") {
      if (!absl::SimpleAtoi(value, &since)) Die("bad --since");
    } else if (flag == "--reps") {
      if (!absl::SimpleAtoi(value, &reps) || reps < 1) Die("bad --reps");
    } else if (flag == "--dir") {
      base_dir = value;
    } else if (flag == "--ingest_server") {
      ingest_server = value;
    } else {
      Die(absl::StrCat("unknown flag ", flag));
    }
  }
  const std::string base =
      absl::StrCat(base_dir, "/audit_open_bench_", getpid());
  std::filesystem::create_directories(base);
  const audit::SigningKey key = *audit::SigningKey::Generate();

  std::printf("AuditLog::Open, median of %d (ms)\n", reps);
  std::printf("%-7s %9s %9s %11s %11s %9s\n", "case", "records", "verified",
              "full_ms", "incr_ms", "full/incr");
  for (uint64_t records : sizes) {
    const std::string dir = absl::StrCat(base, "/log_", records);
    MakeLog(dir, key, records);
    PrintTiming("clean", TimeOpens(dir, key, reps));
    // The crash case: a start (incremental: it saves audit.state at the
    // head), `since` more records, then no Close.
    const Files clean = Save(dir);
    {
      std::unique_ptr<audit::AuditLog> log =
          OpenOrDie(Options(key, audit::OpenVerification::kIncremental), dir);
      AppendOrDie(log.get(), 1, since);
      const Files crashed = Save(dir);
      log.reset();
      Restore(dir, crashed);
    }
    PrintTiming("crash", TimeOpens(dir, key, reps));
    Restore(dir, clean);
  }

  if (!ingest_server.empty() && std::filesystem::exists(ingest_server)) {
    std::printf(
        "\ningest_server start on a clean log, median of %d (ms): to the port "
        "file, and the audit verification itself\n",
        reps);
    std::printf("%9s %13s %13s %13s %13s %9s\n", "records", "start_full",
                "start_incr", "verify_full", "verify_incr", "full/incr");
    for (uint64_t records : sizes) {
      TimeIngestServer(ingest_server, base,
                       absl::StrCat(base, "/log_", records), key, reps);
    }
  }
  std::filesystem::remove_all(base);
  return 0;
}

}  // namespace
}  // namespace hashmatch

int main(int argc, char** argv) { return hashmatch::Main(argc, argv); }
