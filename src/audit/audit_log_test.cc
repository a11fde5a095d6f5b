#include "src/audit/audit_log.h"

#include <signal.h>
#include <sys/resource.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "src/audit/audit_test_util.h"
#include "src/hashing/crypto_hash.h"
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
using testing_util::TempDir;

AuditEvent Event(int i, uint64_t sequence = 0) {
  AuditEvent e;
  e.actor = "hotline-a";
  e.action = "submit";
  e.target = absl::StrCat("entry:", i);
  e.state_after = absl::StrCat("state ", i);
  e.store_sequence = sequence;
  e.detail = "test";
  return e;
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    absl::StatusOr<SigningKey> key = SigningKey::Generate();
    ASSERT_TRUE(key.ok());
    key_.emplace(*key);
  }
  AuditLogOptions Options(int interval = 64) {
    AuditLogOptions o;
    o.signing_key = key_;
    o.checkpoint_interval = interval;
    o.now_micros = [this] { return ++clock_; };
    return o;
  }
  std::unique_ptr<AuditLog> OpenLog(int interval = 64) {
    absl::StatusOr<std::unique_ptr<AuditLog>> log =
        AuditLog::Open(Options(interval), dir_.path());
    EXPECT_TRUE(log.ok()) << log.status();
    return log.ok() ? std::move(*log) : nullptr;
  }
  VerifyLogResult Verify(int64_t max_tail = -1) {
    ChainVerifierOptions o;
    o.public_keys = {key_->public_key()};
    o.max_unsigned_tail = max_tail;
    absl::StatusOr<VerifyLogResult> r = VerifyAuditLogDir(dir_.path(), o);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : VerifyLogResult{};
  }

  TempDir dir_{"audit_log_test"};
  std::optional<SigningKey> key_;
  int64_t clock_ = 1000;
};

TEST_F(AuditLogTest, ThousandRecordsVerifyAndReopenContinues) {
  std::unique_ptr<AuditLog> log = OpenLog(64);
  ASSERT_NE(log, nullptr);
  EXPECT_TRUE(log->open_info().created);
  for (int i = 1; i <= 1000; ++i) {
    ASSERT_TRUE(log->Append({Event(i, i)}).ok());
  }
  // 1000 events: a checkpoint after every 64 (15 of them) so far.
  EXPECT_EQ(log->last_index(), 1015u);
  EXPECT_EQ(log->last_store_sequence(), 1000u);
  EXPECT_EQ(log->audited_through(), 1000u);
  ASSERT_TRUE(log->Close().ok());
  EXPECT_EQ(log->Append({Event(1)}).code(),
            absl::StatusCode::kFailedPrecondition);
  log.reset();

  VerifyLogResult r = Verify(0);
  EXPECT_EQ(r.error.failure, VerifyFailure::kNone) << r.error.message;
  EXPECT_EQ(r.records_checked, 1016u);  // + the close checkpoint
  EXPECT_EQ(r.checkpoints_verified, 16u);
  EXPECT_EQ(r.unsigned_tail, 0u);

  std::vector<AuditRecord> records = ReadLogRecords(LogPath(dir_.path()));
  ASSERT_EQ(records.size(), 1016u);
  EXPECT_EQ(records[0].target(), "entry:1");
  EXPECT_EQ(records[0].digest_after(), Sha256("state 1"));
  EXPECT_TRUE(records[0].digest_before().empty());
  EXPECT_EQ(records[0].prev_hash(), std::string(32, '\0'));
  EXPECT_EQ(records[64].action(), "checkpoint");
  EXPECT_EQ(records[64].detail(), "periodic");
  EXPECT_EQ(records[1015].detail(), "close");

  log = OpenLog(64);
  ASSERT_NE(log, nullptr);
  EXPECT_FALSE(log->open_info().created);
  EXPECT_EQ(log->open_info().records, 1016u);
  EXPECT_EQ(log->open_info().checkpoints, 16u);
  EXPECT_EQ(log->open_info().torn_bytes, 0u);
  EXPECT_EQ(log->last_store_sequence(), 1000u);
  ASSERT_TRUE(log->Append({Event(1001, 1001), Event(1002, 1002)}).ok());
  EXPECT_EQ(log->last_index(), 1018u);
  ASSERT_TRUE(log->Close().ok());
  r = Verify(0);
  EXPECT_EQ(r.error.failure, VerifyFailure::kNone) << r.error.message;
  EXPECT_EQ(r.records_checked, 1019u);
}

TEST_F(AuditLogTest, ReaderFromAnyIndex) {
  std::unique_ptr<AuditLog> log = OpenLog(1000);
  std::vector<AuditEvent> events;
  for (int i = 1; i <= 600; ++i) events.push_back(Event(i));
  ASSERT_TRUE(log->Append(events).ok());
  for (uint64_t from : {1u, 2u, 256u, 257u, 300u, 513u, 600u}) {
    absl::StatusOr<std::unique_ptr<AuditReader>> reader = log->NewReader(from);
    ASSERT_TRUE(reader.ok());
    AuditRecord r;
    uint64_t expected = from;
    while (true) {
      absl::StatusOr<bool> more = (*reader)->Next(&r);
      ASSERT_TRUE(more.ok()) << more.status();
      if (!*more) break;
      ASSERT_EQ(r.index(), expected);
      ASSERT_EQ(r.target(), absl::StrCat("entry:", expected));
      ++expected;
    }
    EXPECT_EQ(expected, 601u) << "from " << from;
  }
  absl::StatusOr<std::unique_ptr<AuditReader>> past = log->NewReader(601);
  ASSERT_TRUE(past.ok());
  AuditRecord r;
  EXPECT_FALSE(*(*past)->Next(&r));
  EXPECT_EQ(log->NewReader(0).status().code(),
            absl::StatusCode::kInvalidArgument);
  // A reader sees the head at its creation, not later appends.
  absl::StatusOr<std::unique_ptr<AuditReader>> reader = log->NewReader(600);
  ASSERT_TRUE(log->Append({Event(601)}).ok());
  EXPECT_TRUE(*(*reader)->Next(&r));
  EXPECT_FALSE(*(*reader)->Next(&r));
}

TEST_F(AuditLogTest, TornFinalFrameIsCutAndReported) {
  std::unique_ptr<AuditLog> log = OpenLog(1000);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(log->Append({Event(i, i)}).ok());
  log.reset();  // close checkpoint: record 6
  const std::string path = LogPath(dir_.path());
  const std::string good = ReadBytes(path);
  // A crash in the middle of writing record 7: a header and half a payload.
  AuditRecord partial;
  partial.set_index(7);
  partial.set_actor(std::string(100, 'x'));
  const std::string frame = testing::Frame(partial);
  for (size_t cut : {size_t{3}, size_t{8}, frame.size() - 1}) {
    WriteBytes(path, good + frame.substr(0, cut));
    log = OpenLog(1000);
    ASSERT_NE(log, nullptr) << "cut " << cut;
    EXPECT_EQ(log->open_info().torn_bytes, cut);
    EXPECT_EQ(log->last_index(), 6u);
    EXPECT_EQ(ReadBytes(path), good);
    log.reset();
    WriteBytes(path, good);
  }
  // Appends continue the chain after the cut.
  WriteBytes(path, good + frame.substr(0, 20));
  log = OpenLog(1000);
  ASSERT_TRUE(log->Append({Event(6, 6)}).ok());
  EXPECT_EQ(log->last_index(), 7u);
  log.reset();
  EXPECT_EQ(Verify(0).error.failure, VerifyFailure::kNone);
}

TEST_F(AuditLogTest, DamageElsewhereIsDataLossNamingTheRecord) {
  std::unique_ptr<AuditLog> log = OpenLog(1000);
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(log->Append({Event(i)}).ok());
  log.reset();
  const std::string path = LogPath(dir_.path());
  const std::string good = ReadBytes(path);
  std::vector<AuditRecord> records = ReadLogRecords(path);

  // A byte of record 4's actor changed.
  std::string bytes = good;
  const size_t at = bytes.find("hotline-a", 8);
  size_t fourth = at;
  for (int i = 0; i < 3; ++i) fourth = bytes.find("hotline-a", fourth + 1);
  bytes[fourth] = 'H';
  WriteBytes(path, bytes);
  absl::StatusOr<std::unique_ptr<AuditLog>> opened =
      AuditLog::Open(Options(1000), dir_.path());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(opened.status().message().find("record 4: hash mismatch"),
            std::string::npos)
      << opened.status();
  EXPECT_EQ(ReadBytes(path), bytes);  // not repaired

  // A damaged frame header in the middle (not the last frame).
  size_t offset = 8;
  for (int i = 0; i < 2; ++i) {
    offset += 8 + records[i].SerializeAsString().size();
  }
  bytes = good;
  bytes[offset + 1] ^= 0x40;
  WriteBytes(path, bytes);
  opened = AuditLog::Open(Options(1000), dir_.path());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(opened.status().message().find("record 3: malformed"),
            std::string::npos)
      << opened.status();
  EXPECT_EQ(ReadBytes(path), bytes);

  // Zeroed bytes at the end (a whole frame header of zeros) are damage,
  // not a torn write: only an incomplete frame is cut.
  WriteBytes(path, good + std::string(16, '\0'));
  opened = AuditLog::Open(Options(1000), dir_.path());
  EXPECT_EQ(opened.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(opened.status().message().find("record 12: malformed"),
            std::string::npos)
      << opened.status();

  WriteBytes(path, "HMAUDIT2");
  EXPECT_EQ(AuditLog::Open(Options(1000), dir_.path()).status().code(),
            absl::StatusCode::kDataLoss);
}

TEST_F(AuditLogTest, ConcurrentAppendsAreSerializedAndContiguous) {
  std::unique_ptr<AuditLog> log = OpenLog(16);
  constexpr int kThreads = 4;
  constexpr int kCalls = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int c = 0; c < kCalls; ++c) {
        std::vector<AuditEvent> events;
        for (int k = 0; k < 3; ++k) {
          AuditEvent e = Event(k);
          e.actor = absl::StrCat("t", t);
          e.detail = absl::StrCat("call ", c, " event ", k);
          events.push_back(e);
        }
        ASSERT_TRUE(log->Append(events).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  ASSERT_TRUE(log->Close().ok());
  std::vector<AuditRecord> records = ReadLogRecords(LogPath(dir_.path()));
  std::vector<AuditRecord> events;
  for (const AuditRecord& r : records) {
    if (r.action() != "checkpoint") events.push_back(r);
  }
  ASSERT_EQ(events.size(), size_t{kThreads * kCalls * 3});
  for (size_t i = 0; i < events.size(); i += 3) {
    for (size_t k = 0; k < 3; ++k) {
      EXPECT_EQ(events[i + k].actor(), events[i].actor());
      EXPECT_EQ(events[i + k].index(), events[i].index() + k);
      EXPECT_TRUE(
          absl::EndsWith(events[i + k].detail(), absl::StrCat("event ", k)));
    }
  }
  EXPECT_EQ(Verify(0).error.failure, VerifyFailure::kNone);
}

// A write that fails half-way (here: the file size limit, EFBIG) leaves the
// log as it was: the partial frame is cut back, the error returned, and the
// next Append continues the same chain.
TEST_F(AuditLogTest, FailedWriteIsUndone) {
  std::unique_ptr<AuditLog> log = OpenLog(1000);
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(log->Append({Event(i, i)}).ok());
  const std::string path = LogPath(dir_.path());
  const std::string before = ReadBytes(path);

  struct rlimit old_limit;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  void (*old_handler)(int) = ::signal(SIGXFSZ, SIG_IGN);
  struct rlimit limit = old_limit;
  limit.rlim_cur = before.size() + 100;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
  AuditEvent big = Event(4, 4);
  big.detail = std::string(1000, 'd');
  absl::Status failed = log->Append({big});
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  ::signal(SIGXFSZ, old_handler);

  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find(path), std::string::npos) << failed;
  EXPECT_EQ(ReadBytes(path), before);
  EXPECT_EQ(log->last_index(), 3u);
  EXPECT_FALSE(log->IsStoreSequenceAudited(4));
  ASSERT_TRUE(log->Append({big}).ok());
  EXPECT_EQ(log->last_index(), 4u);
  ASSERT_TRUE(log->Close().ok());
  VerifyLogResult r = Verify(0);
  EXPECT_EQ(r.error.failure, VerifyFailure::kNone) << r.error.message;
  EXPECT_EQ(r.records_checked, 5u);
}

TEST_F(AuditLogTest, StoreSequenceTracking) {
  std::unique_ptr<AuditLog> log = OpenLog();
  ASSERT_TRUE(log->Append({Event(1, 1), Event(2, 0), Event(3, 3)}).ok());
  EXPECT_EQ(log->last_store_sequence(), 3u);
  EXPECT_EQ(log->audited_through(), 1u);
  EXPECT_FALSE(log->IsStoreSequenceAudited(2));
  EXPECT_TRUE(log->IsStoreSequenceAudited(3));
  ASSERT_TRUE(log->Append({Event(4, 2)}).ok());
  EXPECT_EQ(log->audited_through(), 3u);
  log.reset();
  log = OpenLog();
  EXPECT_EQ(log->audited_through(), 3u);
  EXPECT_EQ(log->last_store_sequence(), 3u);
}

TEST_F(AuditLogTest, LimitsAndBadInput) {
  AuditLogOptions o = Options();
  o.max_events_per_append = 2;
  o.max_field_bytes = 8;
  absl::StatusOr<std::unique_ptr<AuditLog>> log =
      AuditLog::Open(o, dir_.path());
  ASSERT_TRUE(log.ok());
  AuditEvent small;
  small.actor = "a";
  small.action = "submit";
  EXPECT_EQ((*log)->Append({small, small, small}).code(),
            absl::StatusCode::kResourceExhausted);
  AuditEvent long_detail = small;
  long_detail.detail = "123456789";
  EXPECT_EQ((*log)->Append({long_detail}).code(),
            absl::StatusCode::kInvalidArgument);
  AuditEvent forged = small;
  forged.action = "checkpoint";
  EXPECT_EQ((*log)->Append({forged}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*log)->last_index(), 0u);

  // One writer per log.
  EXPECT_EQ(AuditLog::Open(Options(), dir_.path()).status().code(),
            absl::StatusCode::kFailedPrecondition);

  AuditLogOptions bad = Options();
  bad.checkpoint_interval = 0;
  EXPECT_EQ(AuditLog::Open(bad, dir_.path() + "/x").status().code(),
            absl::StatusCode::kInvalidArgument);
  AuditLogOptions no_create = Options();
  no_create.create_if_missing = false;
  EXPECT_EQ(AuditLog::Open(no_create, dir_.path() + "/y").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(AuditLogTest, WithoutKeyTheChainIsKeptButNothingIsSigned) {
  AuditLogOptions o;
  o.checkpoint_interval = 2;
  {
    absl::StatusOr<std::unique_ptr<AuditLog>> log =
        AuditLog::Open(o, dir_.path());
    ASSERT_TRUE(log.ok());
    for (int i = 0; i < 5; ++i) ASSERT_TRUE((*log)->Append({Event(i)}).ok());
  }
  VerifyLogResult r = Verify();
  EXPECT_EQ(r.error.failure, VerifyFailure::kNone);
  EXPECT_EQ(r.records_checked, 5u);
  EXPECT_EQ(r.checkpoints_verified, 0u);
  EXPECT_EQ(r.unsigned_tail, 5u);
  EXPECT_EQ(Verify(4).error.failure, VerifyFailure::kUnsignedTail);
}

}  // namespace
}  // namespace audit
}  // namespace hashmatch
