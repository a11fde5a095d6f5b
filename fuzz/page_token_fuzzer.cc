// Fuzzes PageTokenCodec (src/ingest/page_token.h), which decodes the
// page_token of ListEntries and ListReports: client-controlled bytes.
//
// Input: a token and filter bytes, split at the first '\n' (no '\n': all
// token, empty filter). The codec's key is fixed, so seeds can hold tokens
// it issued.
//
// Checks: Decode never fails with a code other than INVALID_ARGUMENT; a
// token it accepts is an authentic one for that filter (its decoded bytes
// equal those of Encode(id, filter)); Encode/Decode round-trip any id with
// any filter, and a token never decodes under a different filter.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/escaping.h"
#include "fuzz/fuzz_util.h"
#include "src/ingest/page_token.h"

namespace hashmatch {
namespace {

// The fuzzing key; fuzz/make_corpus.py writes seed tokens with it.
constexpr char kKey[] = "hashmatch page token fuzzing key";

void Run(absl::string_view input) {
  static const ingest::PageTokenCodec codec{std::string(kKey)};
  const size_t nl = input.find('\n');
  const absl::string_view token = input.substr(0, nl);
  const absl::string_view filter = nl == absl::string_view::npos
                                       ? absl::string_view()
                                       : input.substr(nl + 1);

  absl::StatusOr<uint64_t> id = codec.Decode(token, filter);
  if (!id.ok()) {
    FUZZ_CHECK(id.status().code() == absl::StatusCode::kInvalidArgument)
        << id.status();
  } else {
    std::string got, want;
    FUZZ_CHECK(absl::WebSafeBase64Unescape(token, &got));
    FUZZ_CHECK(absl::WebSafeBase64Unescape(codec.Encode(*id, filter), &want));
    FUZZ_CHECK(got == want)
        << "accepted a token that is not Encode(" << *id << ", filter)";
  }

  // Round trip of an id taken from the input.
  uint64_t any_id = 0;
  for (size_t i = 0; i < 8 && i < input.size(); ++i) {
    any_id = (any_id << 8) | static_cast<uint8_t>(input[i]);
  }
  const std::string issued = codec.Encode(any_id, filter);
  absl::StatusOr<uint64_t> back = codec.Decode(issued, filter);
  FUZZ_CHECK(back.ok() && *back == any_id) << back.status();
  const std::string other_filter = std::string(filter) + "x";
  FUZZ_CHECK(!codec.Decode(issued, other_filter).ok());
  FUZZ_CHECK(!codec.Decode(token, other_filter).ok() || !id.ok() ||
             token != issued);
}

}  // namespace
}  // namespace hashmatch

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hashmatch::Run(hashmatch::fuzz::AsView(data, size));
  return 0;
}
