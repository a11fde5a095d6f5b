// Fuzzes ParseHashList and HashListWriter for JSON lines (one flat object per
// line): see hashlist_fuzz.h for what is checked on every input.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_util.h"
#include "fuzz/hashlist_fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hashmatch::fuzz::CheckHashList(hashmatch::fuzz::AsView(data, size),
                                 hashmatch::HashListFormat::kJsonl);
  return 0;
}
