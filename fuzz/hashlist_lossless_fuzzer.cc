// Fuzzes ParseHashList and HashListWriter for the lossless "hashmatch-entries
// v1" format (protobuf JSON records, counted and SHA-256-checked end line): see
// hashlist_fuzz.h for what is checked on every input.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "fuzz/hashlist_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hashmatch::fuzz::CheckHashList(hashmatch::fuzz::AsView(data, size),
                                 hashmatch::HashListFormat::kHashmatch);
  return 0;
}
