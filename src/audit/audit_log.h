// AuditLog: the ingestion server's tamper-evident audit log, an append-only
// file of hash-chained records (src/audit/audit_record.h) with Ed25519-signed
// checkpoints. It implements ingest::AuditSink.
//
//   AuditLogOptions options;
//   ASSIGN_OR_RETURN(options.signing_key, LoadSigningKey("/etc/hm/audit.key"));
//   ASSIGN_OR_RETURN(std::unique_ptr<AuditLog> log,
//                    AuditLog::Open(options, data_dir + "/audit"));
//   if (log->open_info().torn_bytes > 0) ...   // a crash cut the last write
//   RETURN_IF_ERROR(log->Append({event}));     // durable when it returns
//   ASSIGN_OR_RETURN(std::unique_ptr<AuditReader> reader, log->NewReader(1));
//   v1::AuditRecord r;
//   while (true) { ASSIGN_OR_RETURN(bool more, reader->Next(&r)); ... }
//   RETURN_IF_ERROR(log->Close());              // signs the chain head
//
// Storage. DIR/audit.log: the 8 bytes "HMAUDIT1", then one frame per record:
// U32LE(n), U32LE(~n), n bytes of the hashmatch.v1.AuditRecord protobuf
// (n <= kMaxRecordBytes). The file is only ever appended to (and, at Open,
// cut back to the end of its last complete frame). The file is created
// atomically (written as audit.log.tmp, fsynced, renamed, directory
// fsynced).
//
// DIR/audit.state (with a signing key): the verified state, i.e. the last
// checkpoint signed by the configured key that an Open verified or an
// Append/Close wrote (its index, byte offset and record_hash) and what the
// log implies up to it (checkpoint count, audited store sequences, reader
// offsets), signed with the same key (Ed25519 over the domain tag
// "hashmatch.audit.state.v1" and the contents). Rewritten atomically
// (audit.state.tmp, fsync, rename, directory fsync) at the end of every Open
// and by Close, when the checkpoint moved on; never read by `hashmatch audit
// verify`.
//
// Verification at Open (AuditLogOptions::verification):
//   kFull         reads and verifies every record (index sequence,
//                 prev_hash, record_hash, and checkpoint signatures made by
//                 the configured key; checkpoints by other keys are
//                 counted, not failed). A valid audit.state is then an
//                 anchor: the verified chain must still reach its
//                 checkpoint, with the same record_hash.
//   kIncremental  with a valid audit.state: re-reads only its checkpoint K
//                 (the frame at the recorded offset must be record K, a
//                 checkpoint whose recomputed record_hash is the recorded
//                 one and whose signature verifies) and verifies the
//                 records after K as kFull does, resuming the chain at K.
//                 Records 1..K-1 are not read: a change to them that keeps
//                 K where it was is NOT detected here (`hashmatch audit
//                 verify`, or kFull, detects it: K's signature covers them
//                 through the chain). Without a key, without audit.state,
//                 or with one that does not verify (unreadable, damaged,
//                 another key's, another log's layout), Open verifies in
//                 full and says why in open_info().full_reason.
// With either, a log that no longer holds the checkpoint of a valid
// audit.state (shorter than it, or another record at its offset, or a
// different hash) is DATA_LOSS, as is a missing audit.log next to an
// audit.state (to start a new log on purpose, remove both).
//
// While reading, with either:
//   - if the file ends inside a frame (fewer bytes than its header or its
//     header's length promise), that last frame is a torn write from a crash
//     (it was never acknowledged: Append returns only after fsync): it is cut
//     off, the file fsynced, and the cut reported in open_info();
//   - any other damage (a bad frame header, a record that does not parse, a
//     chain or signature failure) is DATA_LOSS naming the record index and
//     the reason; nothing is repaired.
//
// Append turns each event into a record (digests are SHA-256 of the
// states, empty for an empty state), writes the call's records and, when the
// records since the last checkpoint reach checkpoint_interval (and a key is
// set), a checkpoint after them, in one write, then fsyncs before
// returning. Calls are serialized; a call's records are contiguous. On a
// write error the file is cut back to its previous end; if that fails too
// the log refuses further appends (FAILED_PRECONDITION) until reopened.
//
// Memory: one file offset per 256 records (for readers), and the store
// sequences audited above the contiguous prefix (normally none); audit.state
// holds the same (8 bytes per 256 records).
//
// Cost at Open (docs/performance.md, "Audit log at start"): kFull reads and
// hashes the whole file (about 0.5 M records/s); kIncremental reads
// audit.state and the records appended since the checkpoint it names.
//
// Thread safety: all methods may be called concurrently. Readers read the
// file through their own descriptor and see the records up to the head at
// NewReader.
#ifndef HASHMATCH_SRC_AUDIT_AUDIT_LOG_H_
#define HASHMATCH_SRC_AUDIT_AUDIT_LOG_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"
#include "proto/hashmatch/v1/ingest.pb.h"
#include "src/audit/audit_record.h"
#include "src/audit/ed25519_key.h"
#include "src/ingest/audit_sink.h"

namespace hashmatch {
namespace audit {

// Largest serialized record: 1 MiB (a frame header promising more is
// damage, not a torn write).
inline constexpr uint32_t kMaxRecordBytes = 1 << 20;
inline constexpr absl::string_view kAuditFileName = "audit.log";
inline constexpr absl::string_view kAuditStateFileName = "audit.state";

// How AuditLog::Open verifies the file (see the file comment).
enum class OpenVerification { kFull, kIncremental };

struct AuditLogOptions {
  // Key that signs checkpoints. Default: none; then no checkpoints are
  // written (the chain is still hashed and verified) and verification
  // reports every record as unsigned tail.
  std::optional<SigningKey> signing_key;
  // A checkpoint follows the Append that brings the records since the last
  // checkpoint to at least this many; Close writes one for any remainder.
  // Default: 64. Must be in [1, 1000000].
  int checkpoint_interval = 64;
  // Create DIR (and missing parents, 0700) and an empty log (0600) if
  // missing, whatever the umask. Default: true.
  bool create_if_missing = true;
  // fsync after each Append. Default: true. false only for benchmarks.
  bool sync = true;
  // Most events in one Append (RESOURCE_EXHAUSTED beyond). Default: 10000.
  size_t max_events_per_append = 10000;
  // Longest actor, action, target and detail (INVALID_ARGUMENT beyond).
  // Default: 4096 bytes each.
  size_t max_field_bytes = 4096;
  // Record times in microseconds since the epoch. Default: system clock.
  std::function<int64_t()> now_micros;
  // Default: kFull (ingest_server's --audit_verify default is incremental).
  OpenVerification verification = OpenVerification::kFull;
};

struct AuditOpenInfo {
  // Records found (checkpoints included).
  uint64_t records = 0;
  uint64_t checkpoints = 0;
  // Bytes of a torn final frame cut off at open (0: the file ended cleanly).
  uint64_t torn_bytes = 0;
  // Whether the file was created by this Open.
  bool created = false;
  // Verification resumed after the checkpoint of audit.state (kIncremental
  // with a valid state), at record verified_from; records_verified records
  // were read and verified (all of them for a full verification).
  bool incremental = false;
  uint64_t verified_from = 0;
  uint64_t records_verified = 0;
  // kIncremental that verified in full: why ("no verified state yet", or
  // what is wrong with audit.state). Empty otherwise.
  std::string full_reason;
};

// Reads records in order from some index up to the head at its creation.
// Used by one thread.
class AuditReader {
 public:
  virtual ~AuditReader() = default;
  // The next record into *record: true, or false at the end. DATA_LOSS if
  // the file no longer holds what Open verified.
  virtual absl::StatusOr<bool> Next(hashmatch::v1::AuditRecord* record) = 0;
};

namespace audit_internal {

// What audit.state records (for AuditLog; not part of the API).
struct VerifiedState {
  uint64_t index = 0;  // The checkpoint; 0: none.
  uint64_t offset = 0;
  uint64_t end_offset = 0;
  std::string record_hash;
  uint64_t checkpoints = 0;
  uint64_t last_store_sequence = 0;
  uint64_t audited_through = 0;
  std::vector<uint64_t> audited_above;
  // How many reader offsets (one per 256 records) belong to records
  // 1..index: (index - 1) / 256 + 1.
  uint64_t sparse_count = 0;
};

}  // namespace audit_internal

class AuditLog final : public ingest::AuditSink {
 public:
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(AuditLogOptions options,
                                                        const std::string& dir);

  // Closes as Close() does; errors are lost (call Close to see them).
  ~AuditLog() override;
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  absl::Status Append(absl::Span<const ingest::AuditEvent> events) override;

  // Writes a checkpoint if a key is set and records follow the last one,
  // fsyncs and closes the file. Later Appends: FAILED_PRECONDITION.
  absl::Status Close();

  const AuditOpenInfo& open_info() const { return open_info_; }
  // Index of the last record (0: empty log).
  uint64_t last_index() const;
  // record_hash of the last record (32 zero bytes: empty log).
  std::string head_hash() const;
  // Largest store_sequence audited (0: none).
  uint64_t last_store_sequence() const;
  // Largest S such that every store sequence 1..S has a record.
  uint64_t audited_through() const;
  bool IsStoreSequenceAudited(uint64_t sequence) const;

  // A reader of the records with index >= from_index (>= 1) up to the
  // current head. from_index past the head: a reader at its end.
  // INVALID_ARGUMENT for 0.
  absl::StatusOr<std::unique_ptr<AuditReader>> NewReader(
      uint64_t from_index) const;

 private:
  AuditLog(AuditLogOptions options, std::string dir, std::string path, int fd);
  absl::Status WriteLocked(std::string frames, uint64_t new_records,
                           const std::string& new_head,
                           const std::vector<uint64_t>& record_offsets)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void NoteStoreSequenceLocked(uint64_t sequence)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<hashmatch::v1::AuditRecord> CheckpointLocked(
      absl::string_view detail, uint64_t index, const std::string& prev_hash,
      int64_t now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status CloseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Records that the checkpoint `index`, whose frame is [offset, end) and
  // whose record_hash is `hash`, is signed by the configured key and
  // verified, with the log's current state as of it.
  void NoteOwnCheckpointLocked(uint64_t index, uint64_t offset, uint64_t end,
                               const std::string& hash)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes audit.state from trusted_ if it is newer than the file's.
  absl::Status SaveVerifiedStateLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const AuditLogOptions options_;
  const std::string dir_;
  const std::string path_;
  AuditOpenInfo open_info_;

  mutable absl::Mutex mu_;
  int fd_ ABSL_GUARDED_BY(mu_);
  // True until Open verified the file, and after an unrecoverable write error.
  bool broken_ ABSL_GUARDED_BY(mu_) = true;
  uint64_t end_offset_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t last_index_ ABSL_GUARDED_BY(mu_) = 0;
  std::string head_hash_ ABSL_GUARDED_BY(mu_);
  uint64_t since_checkpoint_ ABSL_GUARDED_BY(mu_) = 0;
  // sparse_offsets_[k]: file offset of record k * kSparseEvery + 1.
  std::vector<uint64_t> sparse_offsets_ ABSL_GUARDED_BY(mu_);
  uint64_t last_store_sequence_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t audited_through_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<uint64_t> audited_above_ ABSL_GUARDED_BY(mu_);
  // Checkpoints in the log, by any key.
  uint64_t checkpoints_ ABSL_GUARDED_BY(mu_) = 0;
  // The last checkpoint by the configured key (index 0: none), and the
  // checkpoint index audit.state holds (0: none).
  audit_internal::VerifiedState trusted_ ABSL_GUARDED_BY(mu_);
  uint64_t saved_state_index_ ABSL_GUARDED_BY(mu_) = 0;
};

// Offline verification of DIR/audit.log (`hashmatch audit verify`). The
// file is only read. A torn final frame is reported (torn_bytes), not
// failed: it is what a crash leaves and what the server cuts at its next
// open.
struct VerifyLogResult {
  uint64_t records_checked = 0;
  uint64_t checkpoints_verified = 0;
  uint64_t unsigned_tail = 0;
  uint64_t torn_bytes = 0;
  std::string head_hash;
  TrustedCheckpoint last_verified_checkpoint;
  VerifyError error;  // failure kNone: valid
};

// NOT_FOUND (no log), INTERNAL (I/O) as errors; tampering is in the result.
absl::StatusOr<VerifyLogResult> VerifyAuditLogDir(
    const std::string& dir, const ChainVerifierOptions& options);

}  // namespace audit
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_AUDIT_AUDIT_LOG_H_
