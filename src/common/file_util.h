// Reading whole files into memory with a size limit.
//
//   ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path, 32 << 20));
#ifndef HASHMATCH_SRC_COMMON_FILE_UTIL_H_
#define HASHMATCH_SRC_COMMON_FILE_UTIL_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashmatch {

// Returns the contents of the regular file at `path`.
// Errors: NOT_FOUND (no such file), INVALID_ARGUMENT (not a regular file),
// RESOURCE_EXHAUSTED (larger than `max_bytes`; nothing is read),
// PERMISSION_DENIED, INTERNAL for other I/O errors.
absl::StatusOr<std::string> ReadFileToString(absl::string_view path,
                                             size_t max_bytes);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_COMMON_FILE_UTIL_H_
