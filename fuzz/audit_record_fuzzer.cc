// Fuzzes the audit log's reader and chain verifier (src/audit/audit_record.h
// and VerifyAuditLogDir in audit_log.h: the frame reader, the AuditRecord
// parser, the canonical encoding, hash chain and Ed25519 checkpoint checks
// that `hashmatch audit verify` runs on a log file someone handed over).
//
// Each input is written as DIR/audit.log and verified with the fuzzing
// public key (make_corpus.py signs the seeds' checkpoints with its private
// half). Then, for odd-sized inputs, the records that parse are re-chained
// by the rules (indexes 1..n, prev_hash, record_hash, checkpoints re-signed
// with SigningKey) and verified again.
//
// Checks: CanonicalEncoding matches the layout audit_record.h documents
// (an encoder written here); a log the verifier passes really is a valid
// chain (every frame complete but a torn tail, indexes 1..n, each prev_hash
// the previous record_hash, each record_hash the SHA-256 of the encoding,
// each checkpoint signed by the key) and head_hash is the last record's
// hash; a failure names a record position and a reason; a re-chained log
// always passes.
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "fuzz/fuzz_util.h"
#include "google/protobuf/stubs/logging.h"
#include "src/audit/audit_log.h"
#include "src/audit/audit_record.h"
#include "src/audit/ed25519_key.h"
#include "src/hashing/crypto_hash.h"

namespace hashmatch {
namespace {

using hashmatch::v1::AuditRecord;

constexpr absl::string_view kMagic = "HMAUDIT1";
// The Ed25519 private key of the fuzzing corpus (32 bytes).
constexpr absl::string_view kKeySeed = "hashmatch audit fuzzing key seed";

audit::SigningKey FuzzingKey() {
  // PKCS#8 DER of an Ed25519 private key: a fixed prefix and the seed.
  const std::string der =
      absl::HexStringToBytes("302e020100300506032b657004220420") +
      std::string(kKeySeed);
  std::string pem = "-----BEGIN PRIVATE KEY-----\n";
  pem += absl::Base64Escape(der);
  pem += "\n-----END PRIVATE KEY-----\n";
  absl::StatusOr<audit::SigningKey> key = audit::SigningKey::FromPem(pem);
  FUZZ_CHECK(key.ok()) << key.status();
  return *std::move(key);
}

void PutU64(uint64_t v, std::string* out) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
}
void PutLp(absl::string_view s, std::string* out) {
  const auto n = static_cast<uint32_t>(s.size());
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>(n >> (8 * i)));
  out->append(s.data(), s.size());
}

// The encoding as audit_record.h describes it.
std::string DocumentedEncoding(const AuditRecord& r) {
  std::string out;
  PutLp("hashmatch.audit.v1", &out);
  PutU64(r.index(), &out);
  PutU64(static_cast<uint64_t>(r.at_micros()), &out);
  PutLp(r.actor(), &out);
  PutLp(r.action(), &out);
  PutLp(r.target(), &out);
  PutLp(r.digest_before(), &out);
  PutLp(r.digest_after(), &out);
  PutU64(r.store_sequence(), &out);
  PutLp(r.detail(), &out);
  PutLp(r.prev_hash(), &out);
  PutLp(r.key_id(), &out);
  return out;
}

uint32_t U32Le(absl::string_view s) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;
}

void AppendFrame(const AuditRecord& r, std::string* out) {
  const std::string payload = r.SerializeAsString();
  const auto n = static_cast<uint32_t>(payload.size());
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(n >> (8 * i)));
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>(~n >> (8 * i)));
  out->append(payload);
}

// The file's records as the documented framing reads them: complete frames
// that parse, up to the first that does not. *complete_bytes: where the
// last complete frame ends.
std::vector<AuditRecord> ReadFrames(absl::string_view file, bool* all_parse,
                                    size_t* complete_bytes) {
  std::vector<AuditRecord> out;
  *all_parse = true;
  size_t pos = kMagic.size();
  *complete_bytes = pos;
  while (file.size() - pos >= 8) {
    const uint32_t n = U32Le(file.substr(pos, 4));
    if (U32Le(file.substr(pos + 4, 4)) != ~n || n > audit::kMaxRecordBytes) {
      *all_parse = false;
      break;
    }
    if (file.size() - pos - 8 < n) break;  // Torn.
    AuditRecord r;
    if (!r.ParseFromArray(file.data() + pos + 8, static_cast<int>(n))) {
      *all_parse = false;
      break;
    }
    out.push_back(std::move(r));
    pos += 8 + n;
    *complete_bytes = pos;
  }
  return out;
}

class AuditTarget {
 public:
  AuditTarget() : key_(FuzzingKey()), dir_(fuzz::ScratchDir("audit")) {
    options_.public_keys = {key_.public_key()};
  }

  absl::StatusOr<audit::VerifyLogResult> Verify(absl::string_view file) {
    {
      std::ofstream out(absl::StrCat(dir_, "/", audit::kAuditFileName),
                        std::ios::binary | std::ios::trunc);
      out.write(file.data(), static_cast<std::streamsize>(file.size()));
      FUZZ_CHECK(out.good());
    }
    return audit::VerifyAuditLogDir(dir_, options_);
  }

  void Run(absl::string_view file) {
    absl::StatusOr<audit::VerifyLogResult> result = Verify(file);
    FUZZ_CHECK(result.ok()) << result.status();
    if (file.substr(0, kMagic.size()) != kMagic) {
      FUZZ_CHECK(result->error.failure == audit::VerifyFailure::kMalformed);
      return;
    }
    bool all_parse = false;
    size_t complete = 0;
    const std::vector<AuditRecord> records =
        ReadFrames(file, &all_parse, &complete);
    for (const AuditRecord& r : records) {
      FUZZ_CHECK(audit::CanonicalEncoding(r) == DocumentedEncoding(r));
    }
    const audit::VerifyError& e = result->error;
    if (e.failure == audit::VerifyFailure::kNone) {
      FUZZ_CHECK(all_parse) << "a damaged frame passed";
      FUZZ_CHECK(result->records_checked == records.size())
          << result->records_checked << " vs " << records.size();
      FUZZ_CHECK(result->torn_bytes == file.size() - complete)
          << result->torn_bytes;
      std::string head(32, '\0');
      for (size_t i = 0; i < records.size(); ++i) {
        const AuditRecord& r = records[i];
        FUZZ_CHECK(r.index() == i + 1) << r.index();
        FUZZ_CHECK(r.prev_hash() == head) << "record " << i + 1;
        FUZZ_CHECK(r.record_hash() == Sha256(DocumentedEncoding(r)))
            << "record " << i + 1;
        if (audit::IsCheckpoint(r)) {
          FUZZ_CHECK(r.key_id() == key_.public_key().key_id());
          FUZZ_CHECK(key_.public_key().Verify(r.record_hash(), r.signature()));
        } else {
          FUZZ_CHECK(r.signature().empty());
        }
        head = r.record_hash();
      }
      FUZZ_CHECK(result->head_hash == head);
    } else {
      FUZZ_CHECK(e.index >= 1 && e.index <= records.size() + 1)
          << e.index << " of " << records.size();
      FUZZ_CHECK(!e.message.empty());
      FUZZ_CHECK(result->records_checked < e.index ||
                 e.failure == audit::VerifyFailure::kUnsignedTail ||
                 e.failure == audit::VerifyFailure::kAnchorMismatch);
    }
    if (file.size() % 2 == 1 && !records.empty()) Rechain(records);
  }

  // The records re-chained by the rules must verify.
  void Rechain(std::vector<AuditRecord> records) {
    std::string file(kMagic);
    std::string head(32, '\0');
    for (size_t i = 0; i < records.size(); ++i) {
      AuditRecord& r = records[i];
      r.set_index(i + 1);
      r.set_prev_hash(head);
      r.clear_signature();
      if (audit::IsCheckpoint(r)) {
        r.set_key_id(key_.public_key().key_id());
      }
      r.set_record_hash(audit::ComputeRecordHash(r));
      if (audit::IsCheckpoint(r)) {
        absl::StatusOr<std::string> sig = key_.Sign(r.record_hash());
        FUZZ_CHECK(sig.ok()) << sig.status();
        r.set_signature(*sig);
      }
      head = r.record_hash();
      AppendFrame(r, &file);
    }
    absl::StatusOr<audit::VerifyLogResult> result = Verify(file);
    FUZZ_CHECK(result.ok()) << result.status();
    FUZZ_CHECK(result->error.failure == audit::VerifyFailure::kNone)
        << "a re-chained log fails: " << result->error.message;
    FUZZ_CHECK(result->records_checked == records.size());
    FUZZ_CHECK(result->head_hash == head);
  }

 private:
  audit::SigningKey key_;
  std::string dir_;
  audit::ChainVerifierOptions options_;
};

}  // namespace
}  // namespace hashmatch

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // Invalid UTF-8 in string fields makes protobuf log each failed parse.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto* target = new hashmatch::AuditTarget();
  target->Run(hashmatch::fuzz::AsView(data, size));
  return 0;
}
