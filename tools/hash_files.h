// Hashes a list of files on worker threads and hands the results back in
// input order, for the `hash` and `pairs` subcommands.
//
//   FileHashOptions options;
//   options.algorithms = {Algorithm::kPdq};
//   HashFiles(paths, options, [](size_t i, const absl::StatusOr<ImageHashes>&
//   r) {
//     ...  // Called for i = 0, 1, 2, ... on the calling thread.
//   });
//
// Each file is read with ReadFileToString limited to
// options.hash.decode.max_encoded_bytes (an over-limit file is never read),
// hashed by the worker's own ImageHasher, and its bytes are dropped; nothing
// is written anywhere.
//
// Thread safety: HashFiles may be called from any thread; `emit` runs only on
// the calling thread, one call at a time.
#ifndef HASHMATCH_TOOLS_HASH_FILES_H_
#define HASHMATCH_TOOLS_HASH_FILES_H_

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "src/hashing/image_hasher.h"

namespace hashmatch {
namespace cli {

struct FileHashOptions {
  // REQUIRES: not empty.
  std::vector<Algorithm> algorithms;
  // Decode limits (also the file-size limit) and dihedral variants.
  HashOptions hash;
  // Worker threads; at most one per file is started. REQUIRES: >= 1.
  int threads = 1;
};

// Calls emit(i, result) for every i in [0, paths.size()), in order, as soon
// as file i and all earlier files are done. Errors are the file reader's and
// ImageHasher::HashBytes's.
void HashFiles(
    const std::vector<std::string>& paths, const FileHashOptions& options,
    const std::function<void(size_t, const absl::StatusOr<ImageHashes>&)>&
        emit);

}  // namespace cli
}  // namespace hashmatch

#endif  // HASHMATCH_TOOLS_HASH_FILES_H_
