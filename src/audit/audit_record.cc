#include "src/audit/audit_record.h"

#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "src/hashing/crypto_hash.h"

namespace hashmatch {
namespace audit {
namespace {

constexpr absl::string_view kDomainTag = "hashmatch.audit.v1";

void PutU64(uint64_t value, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

void PutLengthPrefixed(absl::string_view bytes, std::string* out) {
  const uint32_t len = static_cast<uint32_t>(bytes.size());
  for (int shift = 24; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((len >> shift) & 0xff));
  }
  out->append(bytes.data(), bytes.size());
}

std::string ShortHex(absl::string_view bytes) {
  std::string hex = absl::BytesToHexString(bytes);
  if (hex.size() > 16) hex = absl::StrCat(hex.substr(0, 16), "...");
  return hex.empty() ? "(empty)" : hex;
}

}  // namespace

std::string CanonicalEncoding(const hashmatch::v1::AuditRecord& r) {
  std::string out;
  out.reserve(160 + r.actor().size() + r.action().size() + r.target().size() +
              r.detail().size());
  PutLengthPrefixed(kDomainTag, &out);
  PutU64(r.index(), &out);
  PutU64(static_cast<uint64_t>(r.at_micros()), &out);
  PutLengthPrefixed(r.actor(), &out);
  PutLengthPrefixed(r.action(), &out);
  PutLengthPrefixed(r.target(), &out);
  PutLengthPrefixed(r.digest_before(), &out);
  PutLengthPrefixed(r.digest_after(), &out);
  PutU64(r.store_sequence(), &out);
  PutLengthPrefixed(r.detail(), &out);
  PutLengthPrefixed(r.prev_hash(), &out);
  PutLengthPrefixed(r.key_id(), &out);
  return out;
}

std::string ComputeRecordHash(const hashmatch::v1::AuditRecord& record) {
  return Sha256(CanonicalEncoding(record));
}

bool IsCheckpoint(const hashmatch::v1::AuditRecord& record) {
  return record.action() == kCheckpointAction;
}

absl::string_view VerifyFailureName(VerifyFailure failure) {
  switch (failure) {
    case VerifyFailure::kNone:
      return "ok";
    case VerifyFailure::kIndexGap:
      return "index gap";
    case VerifyFailure::kPrevHashBreak:
      return "prev_hash break";
    case VerifyFailure::kHashMismatch:
      return "hash mismatch";
    case VerifyFailure::kBadSignature:
      return "bad signature";
    case VerifyFailure::kMalformed:
      return "malformed";
    case VerifyFailure::kAnchorMismatch:
      return "anchor mismatch";
    case VerifyFailure::kUnsignedTail:
      return "unsigned tail";
  }
  return "unknown";
}

ChainVerifier::ChainVerifier(ChainVerifierOptions options)
    : options_(std::move(options)), head_hash_(kHashBytes, '\0') {
  if (!options_.start_after.has_value()) return;
  const TrustedCheckpoint& start = *options_.start_after;
  records_checked_ = start.index;
  last_verified_ = start.index;
  last_checkpoint_ = start;
  head_hash_ = start.record_hash;
  if (!options_.anchor.has_value() || options_.anchor->index > start.index) {
    return;
  }
  if (options_.anchor->index == start.index &&
      options_.anchor->record_hash == start.record_hash) {
    anchor_seen_ = true;
    return;
  }
  Fail(VerifyFailure::kAnchorMismatch, options_.anchor->index,
       options_.anchor->index == start.index
           ? absl::StrCat("record ", start.index, " has hash ",
                          ShortHex(start.record_hash),
                          ", not the trusted checkpoint's ",
                          ShortHex(options_.anchor->record_hash))
           : absl::StrCat("the trusted checkpoint at record ",
                          options_.anchor->index,
                          " lies in the prefix verification resumes after "
                          "(record ",
                          start.index, ") and cannot be checked"));
}

void ChainVerifier::Fail(VerifyFailure failure, uint64_t index,
                         std::string message) {
  if (!ok()) return;
  error_.failure = failure;
  error_.index = index;
  error_.message = std::move(message);
}

void ChainVerifier::FailMalformed(std::string message) {
  Fail(VerifyFailure::kMalformed, records_checked_ + 1, std::move(message));
}

bool ChainVerifier::Add(const hashmatch::v1::AuditRecord& record) {
  if (!ok()) return false;
  const uint64_t position = records_checked_ + 1;
  if (record.index() != position) {
    Fail(VerifyFailure::kIndexGap, position,
         absl::StrCat("expected record ", position, ", found index ",
                      record.index(),
                      " (a record was removed, inserted or reordered)"));
    return false;
  }
  if (record.prev_hash() != head_hash_) {
    Fail(VerifyFailure::kPrevHashBreak, position,
         absl::StrCat("prev_hash ", ShortHex(record.prev_hash()),
                      " is not the record_hash of record ", position - 1, " (",
                      ShortHex(head_hash_),
                      "): an earlier record was altered, or this one does "
                      "not belong here"));
    return false;
  }
  const std::string computed = ComputeRecordHash(record);
  if (record.record_hash() != computed) {
    Fail(VerifyFailure::kHashMismatch, position,
         absl::StrCat("record_hash ", ShortHex(record.record_hash()),
                      " but the record's contents hash to ", ShortHex(computed),
                      ": the record was altered"));
    return false;
  }
  if (IsCheckpoint(record)) {
    const PublicKey* key = nullptr;
    for (const PublicKey& candidate : options_.public_keys) {
      if (candidate.key_id() == record.key_id()) key = &candidate;
    }
    if (options_.public_keys.empty() ||
        (key == nullptr && !options_.require_known_key)) {
      ++checkpoints_unverified_;
    } else if (key == nullptr) {
      Fail(VerifyFailure::kBadSignature, position,
           absl::StrCat("checkpoint signed by key id ",
                        ShortHex(record.key_id()),
                        ", which is not one of the given public keys"));
      return false;
    } else if (!key->Verify(record.record_hash(), record.signature())) {
      Fail(VerifyFailure::kBadSignature, position,
           absl::StrCat("the checkpoint's Ed25519 signature does not verify "
                        "with key id ",
                        ShortHex(record.key_id())));
      return false;
    } else {
      ++checkpoints_verified_;
      last_verified_ = position;
      last_checkpoint_.index = position;
      last_checkpoint_.record_hash = record.record_hash();
    }
  } else if (!record.signature().empty()) {
    Fail(VerifyFailure::kBadSignature, position,
         "a signature on a record that is not a checkpoint");
    return false;
  }
  if (options_.anchor.has_value() && options_.anchor->index == position) {
    anchor_seen_ = true;
    if (record.record_hash() != options_.anchor->record_hash) {
      Fail(VerifyFailure::kAnchorMismatch, position,
           absl::StrCat("record ", position, " has hash ",
                        ShortHex(record.record_hash()),
                        ", not the trusted checkpoint's ",
                        ShortHex(options_.anchor->record_hash)));
      return false;
    }
  }
  head_hash_ = record.record_hash();
  records_checked_ = position;
  return true;
}

bool ChainVerifier::Finish() {
  if (!ok()) return false;
  if (options_.anchor.has_value() && !anchor_seen_) {
    Fail(VerifyFailure::kAnchorMismatch, options_.anchor->index,
         absl::StrCat("the log ends at record ", records_checked_,
                      ", before the trusted checkpoint at record ",
                      options_.anchor->index, ": it was truncated"));
    return false;
  }
  if (options_.max_unsigned_tail >= 0 &&
      unsigned_tail() > static_cast<uint64_t>(options_.max_unsigned_tail)) {
    Fail(VerifyFailure::kUnsignedTail, last_verified_ + 1,
         absl::StrCat(unsigned_tail(),
                      " records after the last verified checkpoint (record ",
                      last_verified_, "), more than the allowed ",
                      options_.max_unsigned_tail));
    return false;
  }
  return true;
}

}  // namespace audit
}  // namespace hashmatch
