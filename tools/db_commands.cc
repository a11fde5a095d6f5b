#include "tools/db_commands.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "index/store/hash_store.h"
#include "index/vetted/vetted_index.h"
#include "proto/hashmatch/v1/entry.pb.h"
#include "tools/commands.h"
#include "tools/flags.h"
#include "tools/output.h"

namespace hashmatch {
namespace cli {
namespace {

using hashmatch::v1::Entry;

constexpr int64_t kMaxDumpLimit = int64_t{1} << 40;
// Ids listed per line by `db verify`; the count is always complete.
constexpr size_t kMaxListedIds = 100;

std::string SignalName(int signal) {
  std::string name = hashmatch::v1::SignalType_Name(
      static_cast<hashmatch::v1::SignalType>(signal));
  if (name.empty()) return absl::StrCat("signal_", signal);
  return absl::AsciiStrToLower(name.substr(sizeof("SIGNAL_TYPE_") - 1));
}

std::string StateName(int state) {
  std::string name = hashmatch::v1::VettingState_Name(
      static_cast<hashmatch::v1::VettingState>(state));
  if (name.empty()) return absl::StrCat("state_", state);
  return absl::AsciiStrToLower(name.substr(sizeof("VETTING_STATE_") - 1));
}

int Fail(std::ostream& err, absl::string_view command,
         const absl::Status& status) {
  err << "hashmatch: db " << command << ": " << status << "\n";
  return kExitFailure;
}

int RunStats(HashStore& store, std::ostream& out, std::ostream& err) {
  absl::StatusOr<StoreStats> stats = store.Stats();
  if (!stats.ok()) return Fail(err, "stats", stats.status());
  out << "last_sequence\t" << stats->last_sequence << "\n";
  out << "next_id\t" << stats->next_id << "\n";
  out << "total_entries\t" << stats->total_entries << "\n";
  for (int s = 0; s < StoreStats::kNumSignalTypes; ++s) {
    for (int v = 0; v < StoreStats::kNumStates; ++v) {
      const uint64_t n = stats->counts[s][v];
      if (n == 0) continue;
      out << SignalName(s) << "\t" << StateName(v) << "\t" << n << "\n";
    }
  }
  return kExitOk;
}

int RunDigest(HashStore& store, std::ostream& out, std::ostream& err) {
  absl::StatusOr<StoreDigest> digest = store.Digest();
  if (!digest.ok()) return Fail(err, "digest", digest.status());
  out << "digest\t" << absl::BytesToHexString(digest->sha256) << "\n";
  out << "last_sequence\t" << digest->last_sequence << "\n";
  out << "entries\t" << digest->entries << "\n";
  return kExitOk;
}

// Prints the first kMaxListedIds of `ids` and how many more there are.
void PrintIds(std::ostream& out, absl::string_view what,
              const std::vector<uint64_t>& ids) {
  if (ids.empty()) return;
  const size_t shown = std::min(ids.size(), kMaxListedIds);
  out << "  " << what
      << " ids: " << absl::StrJoin(ids.begin(), ids.begin() + shown, ",");
  if (shown < ids.size()) out << " (and " << ids.size() - shown << " more)";
  out << "\n";
}

int RunVerify(HashStore& store, const std::string& snapshot_dir,
              std::ostream& out, std::ostream& err) {
  VettedIndexOptions options;
  options.snapshot_dir = snapshot_dir;
  absl::StatusOr<std::unique_ptr<VettedIndex>> index =
      VettedIndex::Open(&store, options);
  if (!index.ok()) return Fail(err, "verify", index.status());
  if (!snapshot_dir.empty()) {
    for (const SignalOpenInfo& info : (*index)->open_info()) {
      out << "snapshot " << SignalName(info.signal_type) << "\t";
      if (info.from_snapshot) {
        out << "loaded at sequence " << info.sequence << "\n";
      } else {
        out << "not used: " << info.snapshot_status << "\n";
      }
    }
  }
  absl::StatusOr<VerifyReport> report = (*index)->Verify();
  if (!report.ok()) return Fail(err, "verify", report.status());
  out << "applied_sequence\t" << report->applied_sequence << "\n";
  out << "store_sequence\t" << report->store_sequence << "\n";
  for (const SignalVerifyReport& s : report->signals) {
    out << SignalName(s.signal_type) << "\tstore_active=" << s.store_active
        << "\tindexed=" << s.indexed << "\tmissing=" << s.missing.size()
        << "\textra=" << s.extra.size() << "\n";
    PrintIds(out, "missing", s.missing);
    PrintIds(out, "extra", s.extra);
  }
  const bool ok = report->consistent();
  out << (ok ? "consistent" : "INCONSISTENT") << "\n";
  return ok ? kExitOk : kExitFailure;
}

std::string EntryJson(const Entry& e) {
  std::string line = absl::StrCat(
      "{\"id\":", e.id(),
      ",\"signal\":", JsonString(SignalName(e.signal_type())), ",\"hash\":\"",
      absl::BytesToHexString(e.hash()), "\",\"quality\":", e.quality(),
      ",\"agency\":", JsonString(e.source_agency()),
      ",\"external_id\":", JsonString(e.external_id()),
      ",\"classification\":", JsonString(e.classification()),
      ",\"state\":", JsonString(StateName(e.state())),
      ",\"created_at_micros\":", e.created_at_micros(),
      ",\"updated_at_micros\":", e.updated_at_micros(),
      ",\"note\":", JsonString(e.note()));
  if (e.has_retraction()) {
    const hashmatch::v1::Retraction& r = e.retraction();
    absl::StrAppend(
        &line, ",\"retraction\":{\"by\":", JsonString(r.retracted_by()),
        ",\"at_micros\":", r.retracted_at_micros(),
        ",\"reason\":", JsonString(r.reason()),
        ",\"previous_state\":", JsonString(StateName(r.previous_state())), "}");
  } else {
    absl::StrAppend(&line, ",\"retraction\":null");
  }
  absl::StrAppend(&line, "}\n");
  return line;
}

int RunDump(HashStore& store, int64_t limit, std::ostream& out,
            std::ostream& err) {
  absl::StatusOr<StoreStats> stats = store.Stats();
  if (!stats.ok()) return Fail(err, "dump", stats.status());
  // Ids are assigned 1, 2, ... and never reused or deleted.
  int64_t printed = 0;
  for (uint64_t id = 1; id < stats->next_id && printed < limit; ++id) {
    absl::StatusOr<Entry> entry = store.Get(id);
    if (absl::IsNotFound(entry.status())) continue;
    if (!entry.ok()) return Fail(err, "dump", entry.status());
    out << EntryJson(*entry);
    ++printed;
  }
  return kExitOk;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HashStore>> OpenStoreReadOnly(
    const std::string& dir) {
  StoreOptions options;
  options.create_if_missing = false;
  // These commands only read, and must work while a server holds the store.
  options.read_only = true;
  return HashStore::Open(options, dir);
}

int RunDb(const std::vector<std::string>& args, std::ostream& out,
          std::ostream& err) {
  if (args.empty()) {
    err << "hashmatch: db needs a subcommand: stats, verify, dump or "
           "digest\n";
    PrintUsage(err);
    return kExitUsage;
  }
  const std::string& sub = args[0];
  if (sub != "stats" && sub != "verify" && sub != "dump" && sub != "digest") {
    err << "hashmatch: unknown db subcommand '" << sub << "'\n";
    PrintUsage(err);
    return kExitUsage;
  }
  FlagParser parser;
  if (sub == "dump") parser.AddValue("limit");
  if (sub == "verify") parser.AddValue("snapshot_dir");
  absl::StatusOr<ParsedFlags> flags =
      parser.Parse(std::vector<std::string>(args.begin() + 1, args.end()));
  if (!flags.ok()) {
    err << "hashmatch: " << flags.status().message() << "\n";
    PrintUsage(err);
    return kExitUsage;
  }
  if (flags->positional().size() != 1) {
    err << "hashmatch: db " << sub << " takes exactly one DIR\n";
    PrintUsage(err);
    return kExitUsage;
  }
  int64_t limit = kMaxDumpLimit;
  if (sub == "dump") {
    absl::StatusOr<int64_t> parsed =
        flags->GetInt("limit", 0, kMaxDumpLimit, kMaxDumpLimit);
    if (!parsed.ok()) {
      err << "hashmatch: " << parsed.status().message() << "\n";
      PrintUsage(err);
      return kExitUsage;
    }
    limit = *parsed;
  }
  absl::StatusOr<std::unique_ptr<HashStore>> store =
      OpenStoreReadOnly(flags->positional()[0]);
  if (!store.ok()) return Fail(err, sub, store.status());
  if (sub == "stats") return RunStats(**store, out, err);
  if (sub == "digest") return RunDigest(**store, out, err);
  if (sub == "verify") {
    return RunVerify(**store, flags->Get("snapshot_dir").value_or(""), out,
                     err);
  }
  return RunDump(**store, limit, out, err);
}

}  // namespace cli
}  // namespace hashmatch
