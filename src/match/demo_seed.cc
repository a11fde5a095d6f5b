#include "src/match/demo_seed.h"

#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "src/common/file_util.h"
#include "src/common/status_macros.h"
#include "src/hashing/bit_hash.h"
#include "src/hashing/image_hasher.h"

namespace hashmatch {

namespace {

std::string Join(const std::string& dir, absl::string_view name) {
  return absl::StrCat(dir, "/", name);
}

}  // namespace

std::vector<std::string> DemoSeedPhotoPaths(const DemoSeedOptions& options) {
  std::vector<std::string> paths;
  for (const char* name : kDemoSeedPhotos) {
    paths.push_back(Join(options.photo_dir, name));
  }
  return paths;
}

DemoPhotoPaths DemoPhotos(const DemoSeedOptions& options) {
  DemoPhotoPaths p;
  p.seeded = Join(options.photo_dir, kDemoSeededPhoto);
  p.other = Join(options.photo_dir, kDemoOtherPhoto);
  return p;
}

absl::StatusOr<DemoSeedResult> SeedDemo(HashStore* store,
                                        const DemoSeedOptions& options) {
  if (store == nullptr) return absl::InvalidArgumentError("no store");
  const std::vector<std::string> paths = DemoSeedPhotoPaths(options);
  for (const std::string& path : paths) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "demo photo ", path, " not found: install the Debian package ",
          kDemoPackage, " (apt-get install ", kDemoPackage, ")"));
    }
  }

  static constexpr Algorithm kAlgorithms[] = {Algorithm::kPdq, Algorithm::kMd5,
                                              Algorithm::kSha256};
  static constexpr hashmatch::v1::SignalType kSignals[] = {
      hashmatch::v1::SIGNAL_TYPE_PDQ, hashmatch::v1::SIGNAL_TYPE_MD5,
      hashmatch::v1::SIGNAL_TYPE_SHA256};
  static constexpr const char* kSuffixes[] = {"pdq", "md5", "sha256"};

  DemoSeedResult result;
  ImageHasher hasher;
  const HashOptions hash_options;
  std::vector<hashmatch::v1::Entry> to_add;
  // Position in result.entry_ids of each entry in to_add.
  std::vector<size_t> slots;
  for (size_t p = 0; p < paths.size(); ++p) {
    const std::string& path = paths[p];
    const std::string name = std::filesystem::path(path).filename().string();
    ++result.photos;
    // Hashed only when one of its entries is missing.
    std::optional<ImageHashes> hashes;
    for (int k = 0; k < 3; ++k) {
      const std::string external_id =
          absl::StrCat("demo:", name, ":", kSuffixes[k]);
      absl::StatusOr<uint64_t> existing =
          store->FindExternal(kDemoAgency, external_id);
      if (existing.ok()) {
        ++result.entries_present;
        result.entry_ids.push_back(*existing);
        continue;
      }
      if (!absl::IsNotFound(existing.status())) return existing.status();
      if (!hashes.has_value()) {
        ASSIGN_OR_RETURN(
            std::string bytes,
            ReadFileToString(path, hash_options.decode.max_encoded_bytes));
        absl::StatusOr<ImageHashes> h =
            hasher.HashBytes(bytes, kAlgorithms, hash_options);
        if (!h.ok()) {
          return absl::Status(
              h.status().code(),
              absl::StrCat("demo photo ", path, ": ", h.status().message()));
        }
        hashes = *std::move(h);
      }
      const HashResult& r = hashes->results[k];
      ASSIGN_OR_RETURN(std::string raw, HexToBytes(r.hex));
      hashmatch::v1::Entry e;
      e.set_signal_type(kSignals[k]);
      e.set_hash(raw);
      if (r.quality.has_value()) e.set_quality(*r.quality);
      e.set_source_agency(kDemoAgency);
      e.set_external_id(external_id);
      e.set_classification(kDemoClassification);
      e.set_state(hashmatch::v1::VETTING_STATE_ACTIVE);
      e.set_note(absl::StrCat("benign demo photo ", path,
                              " from Debian package ", kDemoPackage));
      to_add.push_back(std::move(e));
      slots.push_back(result.entry_ids.size());
      result.entry_ids.push_back(0);
    }
  }
  if (!to_add.empty()) {
    ASSIGN_OR_RETURN(std::vector<hashmatch::v1::Entry> stored,
                     store->Put(to_add));
    for (size_t i = 0; i < stored.size(); ++i) {
      result.entry_ids[slots[i]] = stored[i].id();
    }
    result.entries_added = static_cast<int>(stored.size());
  }
  return result;
}

}  // namespace hashmatch
