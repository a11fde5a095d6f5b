// AuditLog::Open with OpenVerification::kIncremental: it resumes after the
// checkpoint recorded in audit.state, finds what the full verification finds
// in the records after it, catches truncation and changes to that
// checkpoint, falls back to a full verification when the state is not
// usable, and (the documented trade-off) does not read the records before
// it.
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/audit/audit_log.h"
#include "src/audit/audit_record.h"
#include "src/audit/audit_test_util.h"
#include "tests/server_process.h"

namespace hashmatch {
namespace audit {
namespace {

using hashmatch::v1::AuditRecord;
using ingest::AuditEvent;
using testing::LogPath;
using testing::ReadBytes;
using testing::ReadLogRecords;
using testing::WriteBytes;
using testing::WriteLogRecords;
using testing_util::TempDir;

constexpr int kInterval = 10;

AuditEvent Event(int i) {
  AuditEvent e;
  e.actor = "hotline-a";
  e.action = "submit";
  e.target = absl::StrCat("entry:", i);
  e.state_after = absl::StrCat("state ", i);
  e.store_sequence = static_cast<uint64_t>(i);
  return e;
}

std::string StatePath(const std::string& dir) {
  return absl::StrCat(dir, "/", kAuditStateFileName);
}

// What an open log says about itself, to compare full and incremental
// opens of the same bytes.
struct Summary {
  uint64_t records = 0;
  uint64_t checkpoints = 0;
  uint64_t last_index = 0;
  std::string head_hash;
  uint64_t last_store_sequence = 0;
  uint64_t audited_through = 0;
  std::vector<uint64_t> read_indexes;  // NewReader(1), then NewReader(260)

  bool operator==(const Summary& o) const {
    return records == o.records && checkpoints == o.checkpoints &&
           last_index == o.last_index && head_hash == o.head_hash &&
           last_store_sequence == o.last_store_sequence &&
           audited_through == o.audited_through &&
           read_indexes == o.read_indexes;
  }
};

Summary Summarize(const AuditLog& log) {
  Summary s;
  s.records = log.open_info().records;
  s.checkpoints = log.open_info().checkpoints;
  s.last_index = log.last_index();
  s.head_hash = log.head_hash();
  s.last_store_sequence = log.last_store_sequence();
  s.audited_through = log.audited_through();
  for (uint64_t from : {uint64_t{1}, uint64_t{260}}) {
    std::unique_ptr<AuditReader> reader = *log.NewReader(from);
    AuditRecord r;
    while (*reader->Next(&r)) s.read_indexes.push_back(r.index());
  }
  return s;
}

class AuditIncrementalTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    key_.emplace(*SigningKey::Generate());
  }

  AuditLogOptions Options(OpenVerification verification) {
    AuditLogOptions o;
    o.signing_key = key_;
    o.checkpoint_interval = kInterval;
    o.verification = verification;
    o.sync = false;  // Kill() reads the files through the page cache.
    return o;
  }
  absl::StatusOr<std::unique_ptr<AuditLog>> Open(
      OpenVerification verification = OpenVerification::kIncremental) {
    return AuditLog::Open(Options(verification), dir_.path());
  }

  // Appends events first..last, one per call.
  void Append(AuditLog* log, int first, int last) {
    for (int i = first; i <= last; ++i) {
      ASSERT_TRUE(log->Append({Event(i)}).ok());
    }
  }

  // The files as a SIGKILL after `last` events would leave them: a clean
  // first session (events 1..300, closed: audit.state at its close
  // checkpoint), then a second one whose events 301..`last` are appended
  // (fsynced) but which never closes. Returns the record index of the
  // first session's close checkpoint.
  uint64_t MakeCrashedLog(int last) {
    std::filesystem::remove_all(dir_.path());
    std::filesystem::create_directories(dir_.path());
    {
      std::unique_ptr<AuditLog> log = *Open();
      Append(log.get(), 1, 300);
    }
    std::unique_ptr<AuditLog> log = *Open();
    const uint64_t closed_at = log->open_info().verified_from;
    Append(log.get(), 301, last);
    Kill(std::move(log));
    return closed_at;
  }

  // Closes `log` but leaves its files as they were before (a SIGKILL now:
  // every Append was fsynced, Close never ran).
  void Kill(std::unique_ptr<AuditLog> log) {
    const std::string log_bytes = ReadBytes(LogPath(dir_.path()));
    const std::string state_bytes = ReadBytes(StatePath(dir_.path()));
    log.reset();  // Writes a close checkpoint and a newer state: undone.
    WriteBytes(LogPath(dir_.path()), log_bytes);
    WriteBytes(StatePath(dir_.path()), state_bytes);
  }

  TempDir dir_{"audit_incremental_test"};
  std::optional<SigningKey> key_;
};

TEST_F(AuditIncrementalTest, CleanRestartVerifiesNothingButTheCheckpoint) {
  {
    absl::StatusOr<std::unique_ptr<AuditLog>> log = Open();
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_FALSE((*log)->open_info().incremental);
    EXPECT_EQ((*log)->open_info().full_reason, "no verified state yet");
    Append(log->get(), 1, 300);
  }
  // 300 events, a checkpoint after every 10, then the close checkpoint: the
  // last record is a periodic checkpoint (330), so Close adds none.
  absl::StatusOr<std::unique_ptr<AuditLog>> log = Open();
  ASSERT_TRUE(log.ok()) << log.status();
  const AuditOpenInfo& info = (*log)->open_info();
  EXPECT_TRUE(info.incremental);
  EXPECT_EQ(info.full_reason, "");
  EXPECT_EQ(info.records, 330u);
  EXPECT_EQ(info.verified_from, 330u);
  EXPECT_EQ(info.records_verified, 0u);
  EXPECT_EQ(info.checkpoints, 30u);
  const Summary incremental = Summarize(**log);
  log->reset();

  log = Open(OpenVerification::kFull);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_FALSE((*log)->open_info().incremental);
  EXPECT_EQ((*log)->open_info().full_reason, "");
  EXPECT_EQ((*log)->open_info().records_verified, 330u);
  EXPECT_TRUE(Summarize(**log) == incremental);
  EXPECT_EQ(incremental.read_indexes.size(), 330u + 71u);
}

TEST_F(AuditIncrementalTest, AfterACrashOnlyTheNewRecordsAreVerified) {
  const uint64_t closed_at = MakeCrashedLog(345);
  EXPECT_EQ(closed_at, 330u);
  const std::string log_path = LogPath(dir_.path());
  const std::string crashed = ReadBytes(log_path);
  const std::string crashed_state = ReadBytes(StatePath(dir_.path()));
  // Records 331..379: events 301..345 and the checkpoints after 310, 320,
  // 330 and 340 (records 341, 352, 363, 374), 49 in all; 375..379 are an
  // unsigned tail.
  absl::StatusOr<std::unique_ptr<AuditLog>> log = Open();
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE((*log)->open_info().incremental);
  EXPECT_EQ((*log)->open_info().verified_from, 330u);
  EXPECT_EQ((*log)->open_info().records_verified, 49u);
  EXPECT_EQ((*log)->last_index(), 379u);
  EXPECT_EQ((*log)->audited_through(), 345u);
  const Summary incremental = Summarize(**log);
  // Killed again right away: this Open saved the state at checkpoint 374,
  // so the next one reads only the 5 records after it.
  Kill(std::move(*log));
  log = Open();
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->open_info().verified_from, 374u);
  EXPECT_EQ((*log)->open_info().records_verified, 5u);
  EXPECT_TRUE(Summarize(**log) == incremental);
  // Appends go on from the verified tail.
  Append(log->get(), 346, 346);
  log->reset();
  log = Open(OpenVerification::kFull);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->audited_through(), 346u);
  EXPECT_EQ((*log)->last_index(), 381u);  // + the close checkpoint.
  log->reset();

  // A full open of the crashed files agrees with the incremental one.
  WriteBytes(log_path, crashed);
  WriteBytes(StatePath(dir_.path()), crashed_state);
  log = Open(OpenVerification::kFull);
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_EQ((*log)->open_info().records_verified, 379u);
  EXPECT_TRUE(Summarize(**log) == incremental);
}

// Every change to the records after the verified checkpoint fails the
// incremental open as it fails the full one.
TEST_F(AuditIncrementalTest, TamperingWithTheTailFailsTheOpen) {
  MakeCrashedLog(345);
  const std::string path = LogPath(dir_.path());
  const std::string crashed = ReadBytes(path);
  const std::vector<AuditRecord> records = ReadLogRecords(path);
  ASSERT_EQ(records.size(), 379u);

  struct Case {
    const char* name;
    std::vector<AuditRecord> records;
    const char* expected;
  };
  std::vector<Case> cases;
  {
    std::vector<AuditRecord> rs = records;
    rs[339].set_actor("mallory");  // Record 340, in the tail.
    cases.push_back({"altered", rs, "record 340: hash mismatch"});
  }
  {
    std::vector<AuditRecord> rs = records;
    rs[339].set_actor("mallory");
    for (size_t i = 339; i < rs.size(); ++i) {
      rs[i].set_prev_hash(rs[i - 1].record_hash());
      rs[i].set_record_hash(ComputeRecordHash(rs[i]));
    }
    // The chain is re-linked, but checkpoint 341 cannot be re-signed.
    cases.push_back({"rechained", rs, "record 341: bad signature"});
  }
  {
    std::vector<AuditRecord> rs = records;
    rs.erase(rs.begin() + 350);
    cases.push_back({"removed", rs, "record 351: index gap"});
  }
  {
    std::vector<AuditRecord> rs = records;
    rs[331].set_prev_hash(std::string(32, 'x'));
    rs[331].set_record_hash(ComputeRecordHash(rs[331]));
    cases.push_back({"unlinked", rs, "record 332: prev_hash break"});
  }
  for (const Case& c : cases) {
    for (OpenVerification v :
         {OpenVerification::kIncremental, OpenVerification::kFull}) {
      WriteLogRecords(path, c.records);
      absl::StatusOr<std::unique_ptr<AuditLog>> log = Open(v);
      EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss) << c.name;
      EXPECT_TRUE(absl::StrContains(log.status().message(), c.expected))
          << c.name << ": " << log.status();
    }
  }
  WriteBytes(path, crashed);
  EXPECT_TRUE(Open().ok());
}

// The checkpoint the state names is re-read: altered, moved or cut off, the
// open fails (a full verification alone cannot see a log cut at a
// checkpoint).
TEST_F(AuditIncrementalTest, ChangesToTheVerifiedCheckpointFailTheOpen) {
  MakeCrashedLog(345);
  const std::string path = LogPath(dir_.path());
  const std::vector<AuditRecord> records = ReadLogRecords(path);

  // Cut right after checkpoint 319 (a valid, shorter log): the state names
  // 330.
  std::vector<AuditRecord> cut(records.begin(), records.begin() + 319);
  for (OpenVerification v :
       {OpenVerification::kIncremental, OpenVerification::kFull}) {
    WriteLogRecords(path, cut);
    absl::StatusOr<std::unique_ptr<AuditLog>> log = Open(v);
    EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_TRUE(
        absl::StrContains(log.status().message(), "no longer holds record 330"))
        << log.status();
    // Incremental: the file is too short for it; full: the chain ends
    // before it.
    EXPECT_TRUE(absl::StrContains(log.status().message(),
                                  v == OpenVerification::kFull
                                      ? "the log ends at record 319"
                                      : "cut off or shortened"))
        << log.status();
  }
  // What `hashmatch audit verify` sees in that log: nothing wrong.
  ChainVerifierOptions o;
  o.public_keys = {key_->public_key()};
  EXPECT_EQ(VerifyAuditLogDir(dir_.path(), o)->error.failure,
            VerifyFailure::kNone);

  // The checkpoint itself altered (same length); read in full, the chain
  // breaks there first.
  std::vector<AuditRecord> rs = records;
  rs[329].set_detail("periodiK");
  WriteLogRecords(path, rs);
  absl::StatusOr<std::unique_ptr<AuditLog>> log = Open();
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(log.status().message(), "it was altered"))
      << log.status();
  log = Open(OpenVerification::kFull);
  EXPECT_TRUE(
      absl::StrContains(log.status().message(), "record 330: hash mismatch"))
      << log.status();

  // A record before it grew: the checkpoint is no longer at its offset.
  rs = records;
  rs[10].set_detail("a longer detail");
  WriteLogRecords(path, rs);
  log = Open();
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(log.status().message(),
                                "another record or damage is at its byte"))
      << log.status();

  // The log deleted, the state kept.
  std::filesystem::remove(path);
  log = Open();
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(log.status().message(), "was deleted"))
      << log.status();
  // Both removed: a new log, on purpose.
  std::filesystem::remove(StatePath(dir_.path()));
  log = Open();
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE((*log)->open_info().created);
}

// The trade-off: a record before the verified checkpoint, changed in place
// (same length), is not read by the incremental open; the full one, and
// `hashmatch audit verify`, catch it.
TEST_F(AuditIncrementalTest, TheVerifiedPrefixIsOnlyCheckedInFull) {
  MakeCrashedLog(345);
  const std::string path = LogPath(dir_.path());
  std::vector<AuditRecord> rs = ReadLogRecords(path);
  rs[99].set_actor("hotline-b");  // Record 100, before checkpoint 330.
  WriteLogRecords(path, rs);

  absl::StatusOr<std::unique_ptr<AuditLog>> log = Open();
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE((*log)->open_info().incremental);
  log->reset();

  log = Open(OpenVerification::kFull);
  EXPECT_EQ(log.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(
      absl::StrContains(log.status().message(), "record 100: hash mismatch"))
      << log.status();
  ChainVerifierOptions o;
  o.public_keys = {key_->public_key()};
  absl::StatusOr<VerifyLogResult> verified = VerifyAuditLogDir(dir_.path(), o);
  ASSERT_TRUE(verified.ok());
  EXPECT_EQ(verified->error.failure, VerifyFailure::kHashMismatch);
  EXPECT_EQ(verified->error.index, 100u);
}

// A state that cannot be trusted only costs a full verification.
TEST_F(AuditIncrementalTest, UnusableStateMeansFullVerification) {
  MakeCrashedLog(345);
  const std::string state_path = StatePath(dir_.path());
  const std::string state = ReadBytes(state_path);

  struct Case {
    const char* name;
    std::string bytes;
    const char* reason;
  };
  std::string flipped = state;
  flipped[60] ^= 0x01;  // Inside the signed contents.
  std::vector<Case> cases = {
      {"flipped", flipped, "audit.state: its signature does not verify"},
      {"short", state.substr(0, 40),
       "audit.state: not a verified state (bad layout)"},
      {"empty", "", "audit.state: not a verified state (bad layout)"},
  };
  for (const Case& c : cases) {
    WriteBytes(state_path, c.bytes);
    absl::StatusOr<std::unique_ptr<AuditLog>> log = Open();
    ASSERT_TRUE(log.ok()) << c.name << ": " << log.status();
    EXPECT_FALSE((*log)->open_info().incremental) << c.name;
    EXPECT_EQ((*log)->open_info().full_reason, c.reason) << c.name;
    EXPECT_EQ((*log)->open_info().records_verified, 379u) << c.name;
    // The full verification replaced the state (then Close did, at its
    // checkpoint 380): the next open resumes there.
    log->reset();
    log = Open();
    ASSERT_TRUE(log.ok()) << log.status();
    EXPECT_TRUE((*log)->open_info().incremental) << c.name;
    EXPECT_EQ((*log)->open_info().verified_from, 380u) << c.name;
    log->reset();
    MakeCrashedLog(345);
  }

  // An older state (replayed): verification starts further back.
  std::filesystem::remove_all(dir_.path());
  std::filesystem::create_directories(dir_.path());
  {
    std::unique_ptr<AuditLog> log = *Open();
    Append(log.get(), 1, 50);
  }
  const std::string old_state = ReadBytes(state_path);
  {
    std::unique_ptr<AuditLog> log = *Open();
    Append(log.get(), 51, 100);
  }
  WriteBytes(state_path, old_state);
  absl::StatusOr<std::unique_ptr<AuditLog>> log = Open();
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_TRUE((*log)->open_info().incremental);
  EXPECT_EQ((*log)->open_info().verified_from, 55u);
  EXPECT_EQ((*log)->open_info().records_verified, 55u);
  log->reset();

  // Another key: its state is not trusted (its checkpoints are counted as
  // unverified, as before).
  std::optional<SigningKey> other(*SigningKey::Generate());
  std::swap(key_, other);
  log = Open();
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_FALSE((*log)->open_info().incremental);
  EXPECT_EQ((*log)->open_info().full_reason,
            "audit.state: signed by another key than the configured one");
  log->reset();
  std::swap(key_, other);

  // No key: nothing is signed, nothing to resume from.
  AuditLogOptions unsigned_options = Options(OpenVerification::kIncremental);
  unsigned_options.signing_key.reset();
  log = AuditLog::Open(unsigned_options, dir_.path());
  ASSERT_TRUE(log.ok()) << log.status();
  EXPECT_FALSE((*log)->open_info().incremental);
  EXPECT_EQ((*log)->open_info().full_reason,
            "no signing key (nothing is signed)");
}

}  // namespace
}  // namespace audit
}  // namespace hashmatch
