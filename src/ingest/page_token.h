// PageTokenCodec: opaque, tamper-evident page tokens for the ingest_server's
// paged List RPCs (IngestService.ListEntries, ReportService.ListReports).
//
//   PageTokenCodec codec("");  // random key: tokens die with the process
//   std::string token = codec.Encode(last_id, filter.SerializeAsString());
//   absl::StatusOr<uint64_t> after = codec.Decode(token, filter_bytes);
//
// A token holds the last id returned, a 16-byte fingerprint (SHA-256 prefix)
// of the request's filter bytes, and a 16-byte HMAC-SHA256 tag under the
// codec's key, web-safe base64. Decode: a garbled or forged token is
// INVALID_ARGUMENT "page_token is not a token this server issued ...", one
// issued for another filter INVALID_ARGUMENT "... different filter".
//
// Thread safety: immutable after construction; all methods are const.
#ifndef HASHMATCH_SRC_INGEST_PAGE_TOKEN_H_
#define HASHMATCH_SRC_INGEST_PAGE_TOKEN_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashmatch {
namespace ingest {

class PageTokenCodec {
 public:
  // `key` empty: 32 random bytes.
  explicit PageTokenCodec(std::string key);

  std::string Encode(uint64_t after_id, absl::string_view filter_bytes) const;
  absl::StatusOr<uint64_t> Decode(absl::string_view token,
                                  absl::string_view filter_bytes) const;

 private:
  std::string key_;
};

}  // namespace ingest
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_INGEST_PAGE_TOKEN_H_
