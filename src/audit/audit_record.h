// Audit records: the canonical encoding that record_hash covers, and the
// chain verifier shared by AuditLog::Open, `hashmatch audit verify` (files
// or the AuditService stream) and the tests.
//
//   ChainVerifierOptions options;
//   options.public_keys = {pub};
//   ChainVerifier verifier(options);
//   for (const v1::AuditRecord& r : records) {
//     if (!verifier.Add(r)) break;              // verifier.error() says why
//   }
//   verifier.Finish();                          // anchor, unsigned tail
//   if (!verifier.ok()) Print(verifier.error());
//
// Canonical encoding (version 1). record_hash = SHA-256 of the
// concatenation, in this order, of
//
//   LP("hashmatch.audit.v1")      domain tag
//   U64(index)
//   U64(at_micros)                two's complement of the int64
//   LP(actor) LP(action) LP(target)
//   LP(digest_before) LP(digest_after)
//   U64(store_sequence)
//   LP(detail)
//   LP(prev_hash)
//   LP(key_id)                    empty except on checkpoints
//
// where U64(x) is x as 8 bytes big-endian and LP(s) is U32(len(s)) (4 bytes
// big-endian) followed by the bytes of s. record_hash and signature are not
// part of the encoding. Every field is length-prefixed, so no two different
// records share an encoding; the encoding does not depend on protobuf's
// serializer. prev_hash is the previous record's record_hash (32 zero bytes
// for index 1), so each record_hash commits to the whole log before it.
//
// Checkpoints. A checkpoint is a record with action "checkpoint", actor
// "system", target "chain", detail "periodic" or "close", no digests and
// store_sequence 0, whose key_id is the SHA-256 of the raw Ed25519 public
// key and whose signature is the Ed25519 signature of its 32-byte
// record_hash. Signing the checkpoint's hash signs its prev_hash, i.e. the
// head of the chain before it.
//
// Verification of one record, in this order (the first failing check is
// reported with the record's position in the log, 1-based):
//   kIndexGap       index != previous index + 1 (removed, inserted or
//                   reordered records);
//   kPrevHashBreak  prev_hash != previous record's record_hash (a record
//                   before it was altered and its hash recomputed, or the
//                   record does not belong here);
//   kHashMismatch   record_hash != SHA-256(canonical encoding) (the record
//                   itself was altered);
//   kBadSignature   a checkpoint whose signature does not verify, or whose
//                   key_id names none of the given public keys (when keys
//                   are given), or a signature on a non-checkpoint record;
//   kMalformed      a frame or record that cannot be read (from the file
//                   reader).
// Finish() adds kAnchorMismatch (the log lacks, or differs at, a trusted
// checkpoint the caller remembered) and kUnsignedTail (more records after
// the last verified checkpoint than allowed).
//
// Thread safety: functions are pure; a ChainVerifier is used by one thread.
#ifndef HASHMATCH_SRC_AUDIT_AUDIT_RECORD_H_
#define HASHMATCH_SRC_AUDIT_AUDIT_RECORD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "proto/hashmatch/v1/ingest.pb.h"
#include "src/audit/ed25519_key.h"

namespace hashmatch {
namespace audit {

inline constexpr absl::string_view kCheckpointAction = "checkpoint";
inline constexpr size_t kHashBytes = 32;

// The bytes record_hash covers (see above).
std::string CanonicalEncoding(const hashmatch::v1::AuditRecord& record);
// SHA-256 of CanonicalEncoding(record).
std::string ComputeRecordHash(const hashmatch::v1::AuditRecord& record);
bool IsCheckpoint(const hashmatch::v1::AuditRecord& record);

enum class VerifyFailure {
  kNone,
  kIndexGap,
  kPrevHashBreak,
  kHashMismatch,
  kBadSignature,
  kMalformed,
  kAnchorMismatch,
  kUnsignedTail,
};

// "ok", "index gap", "prev_hash break", "hash mismatch", "bad signature",
// "malformed", "anchor mismatch", "unsigned tail".
absl::string_view VerifyFailureName(VerifyFailure failure);

struct VerifyError {
  VerifyFailure failure = VerifyFailure::kNone;
  // Position in the log (1-based) of the first bad record; for
  // kUnsignedTail the first unsigned record; for kAnchorMismatch the
  // anchor's index.
  uint64_t index = 0;
  std::string message;
};

// A checkpoint the verifier must find unchanged (e.g. the last one a
// previous verification printed): detects truncation past it.
struct TrustedCheckpoint {
  uint64_t index = 0;
  std::string record_hash;  // 32 bytes
};

struct ChainVerifierOptions {
  // Keys whose checkpoints verify. Empty: signatures are not checked
  // (checkpoints are then counted as unverified), as AuditLog::Open does
  // without a signing key. Default: empty.
  std::vector<PublicKey> public_keys;
  // With keys given: true fails a checkpoint whose key_id is none of them;
  // false counts it as unverified (AuditLog::Open after a key rotation).
  // Default: true.
  bool require_known_key = true;
  // Finish() fails when more records than this follow the last verified
  // checkpoint. Default: -1, no limit.
  int64_t max_unsigned_tail = -1;
  // Default: none.
  std::optional<TrustedCheckpoint> anchor;
  // Resume after a checkpoint verified earlier (AuditLog::Open's
  // incremental verification): the records 1..start_after.index are
  // trusted without being seen, so the first record added must be
  // start_after.index + 1 with prev_hash start_after.record_hash. The
  // counters then include the trusted prefix (records_checked() and
  // last_index() are positions in the log; checkpoints_verified() counts
  // only checkpoints added), and start_after is the last verified
  // checkpoint until a later one verifies. An anchor at start_after.index
  // must have its hash; one before it cannot be checked and fails
  // (kAnchorMismatch). Default: none (verify from record 1).
  std::optional<TrustedCheckpoint> start_after;
};

class ChainVerifier {
 public:
  explicit ChainVerifier(ChainVerifierOptions options);

  // Checks the next record. False (and error() set) on the first failure;
  // later calls return false without checking.
  bool Add(const hashmatch::v1::AuditRecord& record);
  // Records a failure found outside the record checks (an unreadable frame
  // at the next position).
  void FailMalformed(std::string message);
  // The end-of-log checks (anchor, unsigned tail). Returns ok().
  bool Finish();

  bool ok() const { return error_.failure == VerifyFailure::kNone; }
  const VerifyError& error() const { return error_; }

  uint64_t records_checked() const { return records_checked_; }
  uint64_t checkpoints_verified() const { return checkpoints_verified_; }
  uint64_t checkpoints_unverified() const { return checkpoints_unverified_; }
  // Records after the last verified checkpoint (all records when none).
  uint64_t unsigned_tail() const { return records_checked_ - last_verified_; }
  uint64_t last_index() const { return records_checked_; }
  const std::string& head_hash() const { return head_hash_; }
  // The last checkpoint whose signature verified (index 0: none).
  const TrustedCheckpoint& last_verified_checkpoint() const {
    return last_checkpoint_;
  }

 private:
  void Fail(VerifyFailure failure, uint64_t index, std::string message);

  ChainVerifierOptions options_;
  VerifyError error_;
  uint64_t records_checked_ = 0;
  uint64_t checkpoints_verified_ = 0;
  uint64_t checkpoints_unverified_ = 0;
  uint64_t last_verified_ = 0;
  std::string head_hash_;
  TrustedCheckpoint last_checkpoint_;
  bool anchor_seen_ = false;
};

}  // namespace audit
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_AUDIT_AUDIT_RECORD_H_
