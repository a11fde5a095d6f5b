// Helpers shared by the libFuzzer targets in fuzz/.
//
//   FUZZ_CHECK(h->width > 0) << "width " << h->width;
//   std::string dir = hashmatch::fuzz::ScratchDir("match_service");
//
// FUZZ_CHECK is always on (not tied to NDEBUG): a false condition prints the
// condition, its place and the streamed context to stderr and aborts, which
// libFuzzer records as a crash and saves the input under -artifact_prefix.
//
// Thread safety: ScratchDir is meant for LLVMFuzzerInitialize or a static
// initialiser (one thread).
#ifndef HASHMATCH_FUZZ_FUZZ_UTIL_H_
#define HASHMATCH_FUZZ_FUZZ_UTIL_H_

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace hashmatch {
namespace fuzz {

// Collects the context of a failed FUZZ_CHECK and aborts when destroyed.
class CheckFailure {
 public:
  CheckFailure(const char* condition, const char* file, int line) {
    stream_ << file << ":" << line << ": FUZZ_CHECK failed: " << condition
            << " ";
  }
  [[noreturn]] ~CheckFailure() {
    std::cerr << stream_.str() << std::endl;
    std::abort();
  }
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

// The input as a string_view.
inline absl::string_view AsView(const uint8_t* data, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(data), size);
}

// True when every byte of `s` is printable ASCII (0x20..0x7e) or a UTF-8
// sequence byte (>= 0x80): no control characters. Status messages end up in
// JSON logs and gRPC trailers; none should carry raw control bytes.
inline bool NoControlBytes(absl::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or code
// points above U+10FFFF): written here independently of the project's
// validators, so that the targets check them.
inline bool ValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    int n = 0;
    uint32_t cp = 0, min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i <= static_cast<size_t>(n)) return false;
    for (int k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

// A fresh empty directory for this process under $TMPDIR when set, else
// /dev/shm when it exists (RocksDB and file-based targets then never touch
// the disk), else /tmp. Removed at a normal exit (a crash leaves it; the
// caller's TMPDIR is then the place to clean). Aborts when it cannot be made.
inline std::string ScratchDir(absl::string_view name) {
  const char* tmp = std::getenv("TMPDIR");
  std::string base = tmp != nullptr && *tmp != '\0' ? tmp : "/dev/shm";
  if (!std::filesystem::is_directory(base)) base = "/tmp";
  std::string pattern =
      base + "/hashmatch_fuzz_" + std::string(name) + "_XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    std::cerr << "cannot create a scratch directory from " << pattern
              << std::endl;
    std::abort();
  }
  static auto* to_remove = new std::vector<std::string>();
  if (to_remove->empty()) {
    std::atexit([] {
      for (const std::string& dir : *to_remove) {
        std::error_code ignored;
        std::filesystem::remove_all(dir, ignored);
      }
    });
  }
  to_remove->push_back(pattern);
  return pattern;
}

}  // namespace fuzz
}  // namespace hashmatch

// The switch keeps `if (x) FUZZ_CHECK(y);` from taking a following else.
#define FUZZ_CHECK(condition) \
  switch (0)                  \
  case 0:                     \
  default:                    \
    if (condition) {          \
    } else                    \
      ::hashmatch::fuzz::CheckFailure(#condition, __FILE__, __LINE__).stream()

#endif  // HASHMATCH_FUZZ_FUZZ_UTIL_H_
