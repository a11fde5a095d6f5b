// UTF-8 encoding of one Unicode code point.
//
//   std::string s;
//   if (!AppendUtf8(0x1F600, &s)) ...  // s == "\xF0\x9F\x98\x80"
//
// Thread safety: a pure function.
#ifndef HASHMATCH_SRC_COMMON_UTF8_H_
#define HASHMATCH_SRC_COMMON_UTF8_H_

#include <cstdint>
#include <string>

namespace hashmatch {

// Appends the 1-4 byte UTF-8 encoding of `code_point` to `out`. Returns
// false, appending nothing, when it is not a Unicode scalar value (above
// 0x10FFFF, or a UTF-16 surrogate 0xD800..0xDFFF).
bool AppendUtf8(uint32_t code_point, std::string* out);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_COMMON_UTF8_H_
