// The corpus manifest of the accuracy evaluation: which benign photos, by
// path, with their MD5 and size, so that every run hashes exactly the same
// bytes, and a run on another machine fails loudly when a file differs.
//
//   ASSIGN_OR_RETURN(std::vector<ManifestEntry> entries,
//                    BuildManifest({"/usr/share/backgrounds"}, {}));
//   RETURN_IF_ERROR(WriteManifestFile(entries, "corpus.tsv"));
//   ...
//   ASSIGN_OR_RETURN(entries, ReadManifestFile("corpus.tsv", {}));
//   ASSIGN_OR_RETURN(std::string bytes, ReadVerified(entries[0]));
//
// File format (text, one entry per line, tab-separated, '\n' line ends):
//   # hashmatch corpus manifest v1
//   MD5_HEX <TAB> SIZE_BYTES <TAB> GROUP <TAB> PACKAGE <TAB> PATH
// MD5_HEX is 32 lower-case hex digits; SIZE_BYTES a decimal integer; GROUP a
// name shared by files that show the same picture (resolutions and
// light/dark variants of one wallpaper), never empty; PACKAGE the Debian
// package that installs PATH ("-" when unknown); PATH absolute, without tab
// or newline. Lines starting with '#' after the first are comments.
//
// A file inside a Qt resource archive (rcc_archive.h) has the path
// "ARCHIVE.rcc:/INNER/PATH" (ArchiveMember); its MD5 and size are those of
// the extracted bytes.
//
// Groups: the evaluation splits the corpus into vetted and non-vetted halves
// by group, never counts two originals of one group as a non-matching pair,
// and counts a transformed copy as found when its nearest vetted entry is of
// its own group (see evaluation.h).
//
// Thread safety: pure functions.
#ifndef HASHMATCH_SRC_EVAL_MANIFEST_H_
#define HASHMATCH_SRC_EVAL_MANIFEST_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "src/eval/rcc_archive.h"

namespace hashmatch {
namespace eval {

inline constexpr char kManifestHeader[] = "# hashmatch corpus manifest v1";

struct ManifestEntry {
  std::string md5;  // 32 lower-case hex digits.
  int64_t size = 0;
  std::string group;
  std::string package;  // "-" when unknown.
  std::string path;
};

struct ManifestOptions {
  // Files larger than this are skipped by BuildManifest and refused by
  // ReadManifest (RESOURCE_EXHAUSTED). Default 32 MiB (the decoder's limit).
  int64_t max_file_bytes = int64_t{32} << 20;
  // BuildManifest skips images whose shorter side is below this (icons,
  // thumbnails). Default 128 pixels.
  int min_side = 128;
  // ReadManifest refuses manifests with more entries (RESOURCE_EXHAUSTED).
  // Default 100000.
  int64_t max_entries = 100000;
  // ReadManifestFile refuses a larger file (RESOURCE_EXHAUSTED). Default
  // 64 MiB.
  int64_t max_manifest_bytes = int64_t{64} << 20;
  // BuildManifest skips archive members (.rcc) with an alpha channel that is
  // not fully opaque: Qt resources mix photos with cut-outs, puzzle pieces
  // and clip art, which the decoder (dropping alpha as the PDQ reference
  // does) turns into shapes on flat black. Plain files are kept whatever
  // their alpha, as the corpus directories were chosen for their photos.
  // Default true.
  bool skip_transparent_members = true;
  // BuildManifest puts images whose PDQ hashes (at least one of quality
  // >= 50, so that two degenerate hashes of dark or flat images never join)
  // are at most this far apart in one group (the same photo at two sizes, in
  // two activities); -1 turns it off. Default 31 (match_server's threshold).
  int near_duplicate_distance = 31;
  // Limits for reading .rcc archives (rcc_archive.h defaults).
  RccOptions rcc;
};

// Splits "ARCHIVE.rcc:/INNER" into the archive's path and the inner path
// (which starts with '/'); false for any other path.
bool ArchiveMember(absl::string_view path, std::string* archive,
                   std::string* inner);

// The Debian package that installs files under `path`'s corpus directory
// (/usr/share/wallpapers -> plasma-workspace-wallpapers, ...), from the table
// of corpus packages in docs/accuracy.md; "-" when the path is not in it.
std::string PackageForPath(absl::string_view path);

// The group of a corpus file: "wallpapers/NAME" for a Plasma wallpaper
// (every resolution, light or dark); the path without the "-l"/"-d" suffix
// for a GNOME background; the path without a "_<W>x<H>" resolution suffix
// before the extension (mate's Elephants_3840x2160.jpg); a fixed name for a
// few known sets of one scene under several names (opencv-doc's consecutive
// video frames basketball1/2 and rubberwhale1/2, skimage's chessboard_* in
// several formats, mate's Ubuntu-Mate-*-no-logo colour variants); the path
// itself otherwise.
std::string GroupForPath(absl::string_view path);

// Scans `roots` (directories, recursively, or .rcc files) in sorted path
// order for .jpg, .jpeg, .png, .webp, .bmp and .tif(f) files and for .rcc
// archives, whose .jpg, .jpeg, .png and .webp members count as files
// ("ARCHIVE.rcc:/INNER"). Keeps images whose header parses, whose shorter
// side is at least options.min_side, that are opaque (archive members only:
// options.skip_transparent_members); the first file of each MD5; merges the
// groups (GroupForPath) of near duplicates (options.near_duplicate_distance)
// under the smallest group name; and of each group keeps only the file with the
// most pixels (the first in path order on a tie), so each picture is one
// original. Entries come back sorted by path. Errors: NOT_FOUND naming the
// missing directory or archive and, when known, the Debian package to install
// ("apt-get install PACKAGE"); an archive that does not open (rcc_archive.h
// errors, prefixed with its path); INVALID_ARGUMENT when no image at all was
// found.
absl::StatusOr<std::vector<ManifestEntry>> BuildManifest(
    const std::vector<std::string>& roots, const ManifestOptions& options);

std::string FormatManifest(const std::vector<ManifestEntry>& entries);
// Errors: INVALID_ARGUMENT "manifest line N: ..." for a missing header, a
// wrong column count, a bad MD5 or size, an empty group or path, a duplicate
// path; RESOURCE_EXHAUSTED over options.max_entries or max_file_bytes.
absl::StatusOr<std::vector<ManifestEntry>> ParseManifest(
    absl::string_view text, const ManifestOptions& options);

absl::Status WriteManifestFile(const std::vector<ManifestEntry>& entries,
                               const std::string& path);
absl::StatusOr<std::vector<ManifestEntry>> ReadManifestFile(
    const std::string& path, const ManifestOptions& options);

// Reads entry.path (at most entry.size bytes; an archive member is extracted
// from its archive, read whole within rcc.max_archive_bytes) and checks its
// size and MD5.
// Errors: NOT_FOUND "PATH is missing (install the Debian package P: apt-get
// install P)" for a missing file or archive, "ARCHIVE has no file INNER" for
// a missing member; DATA_LOSS "PATH: md5 mismatch: manifest X, file Y" or a
// size mismatch; the archive's own errors; other read errors as
// ReadFileToString.
absl::StatusOr<std::string> ReadVerified(const ManifestEntry& entry,
                                         const RccOptions& rcc = {});

}  // namespace eval
}  // namespace hashmatch

#endif  // HASHMATCH_SRC_EVAL_MANIFEST_H_
