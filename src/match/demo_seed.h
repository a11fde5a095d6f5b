// The demo seed: vetted-looking entries made from benign photos that one
// Debian package ships (mate-backgrounds), so a fresh `match_server --db DIR
// --seed_demo` answers a real MATCH without any real abuse material.
//
//   ASSIGN_OR_RETURN(DemoSeedResult r, SeedDemo(store.get(), {}));
//   DemoPhotoPaths photos = DemoPhotos({});
//   // photos.seeded: transform it (resize, re-encode) and MatchImage: MATCH.
//   // photos.other:  not seeded, unrelated: MatchImage gives NO_MATCH.
//
// The seeded photos (kDemoSeedPhotos, in options.photo_dir, by default
// /usr/share/backgrounds/mate/nature from the mate-backgrounds package) each
// give three ACTIVE entries: PDQ (with its quality), MD5 and SHA-256 of the
// file bytes. Every entry has source_agency "demo", classification "demo" and
// external_id "demo:<file name>:<pdq|md5|sha256>" (one external id per
// entry, as the store keys a submission by (agency, external id)).
//
// Idempotent: an entry whose (agency, external id) already exists in the
// store (even retracted) is left alone, so re-running adds nothing. All new
// entries are written by one HashStore::Put (all or nothing).
//
// Errors: FAILED_PRECONDITION naming the file and the apt package when a
// photo is missing; the hasher's or store's error otherwise.
//
// Thread safety: SeedDemo writes to the store; run it before serving (a
// concurrent VettedIndex picks the entries up with CatchUp).
#ifndef HASHMATCH_SRC_MATCH_DEMO_SEED_H_
#define HASHMATCH_SRC_MATCH_DEMO_SEED_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "index/store/hash_store.h"

namespace hashmatch {

inline constexpr char kDemoPackage[] = "mate-backgrounds";
inline constexpr char kDemoPhotoDir[] = "/usr/share/backgrounds/mate/nature";
inline constexpr char kDemoAgency[] = "demo";
inline constexpr char kDemoClassification[] = "demo";
// The photos seeded (file names in kDemoPhotoDir). Their PDQ hashes are at
// least 90 bits apart from each other and from kDemoOtherPhoto.
inline constexpr const char* kDemoSeedPhotos[] = {
    "Aqua.jpg",        "Dune.jpg",     "FreshFlower.jpg",
    "GreenMeadow.jpg", "LadyBird.jpg", "YellowFlower.jpg"};
// A seeded photo for the demo's "transformed copy" (must be in the list).
inline constexpr char kDemoSeededPhoto[] = "LadyBird.jpg";
// A photo of the same package that is NOT seeded: the demo's NO_MATCH.
inline constexpr char kDemoOtherPhoto[] = "Storm.jpg";

struct DemoSeedOptions {
  // Where the photos are. Default: kDemoPhotoDir.
  std::string photo_dir = kDemoPhotoDir;
};

struct DemoSeedResult {
  // Photos hashed (all of kDemoSeedPhotos).
  int photos = 0;
  // Entries written by this call (0 when re-run).
  int entries_added = 0;
  // Entries that were already in the store and left alone.
  int entries_present = 0;
  // Ids of every demo entry (added or present), in photo order, PDQ, MD5,
  // SHA-256 for each.
  std::vector<uint64_t> entry_ids;
};

absl::StatusOr<DemoSeedResult> SeedDemo(HashStore* store,
                                        const DemoSeedOptions& options);

struct DemoPhotoPaths {
  std::string seeded;  // options.photo_dir + "/" + kDemoSeededPhoto.
  std::string other;   // options.photo_dir + "/" + kDemoOtherPhoto.
};
DemoPhotoPaths DemoPhotos(const DemoSeedOptions& options);

// The paths SeedDemo hashes, in order.
std::vector<std::string> DemoSeedPhotoPaths(const DemoSeedOptions& options);

}  // namespace hashmatch

#endif  // HASHMATCH_SRC_MATCH_DEMO_SEED_H_
